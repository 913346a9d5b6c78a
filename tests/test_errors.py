"""Chapter "Errors and Alerts", blinding, and the exception mapping."""

from __future__ import annotations

import socket
import ssl
import time

import pytest

import s2n
from conftest import client_config, connected_pair, run_both, server_config

TRUNCATED_CLIENT_HELLO = b"\x16\x03\x01\x00\x08\x01\x00\x00\x04\x03\x03\x00\x00"


def _fail_handshake(pki, a, b, ccfg, server_name="localhost", blinding=s2n.Blinding.SELF_SERVICE):
    srv = s2n.Connection(s2n.Mode.SERVER, server_config(pki))
    srv.set_fd(a)
    srv.set_blinding(blinding)
    cli = s2n.Connection(s2n.Mode.CLIENT, ccfg)
    cli.set_fd(b)
    cli.set_blinding(blinding)
    if server_name:
        cli.set_server_name(server_name)

    def server():
        try:
            srv.negotiate()
        except s2n.S2NError as e:
            return e

    def client():
        try:
            cli.negotiate()
        except s2n.S2NError as e:
            b.close()  # let the server see the end
            return e

    serr, cerr = run_both(server, client)
    return cli, srv, cerr, serr


def test_untrusted_certificate(pki, socketpair):
    a, b = socketpair
    ccfg = s2n.Config()
    ccfg.add_pem_to_trust_store(pki.path("otherca.pem"))
    cli, _, cerr, _ = _fail_handshake(pki, a, b, ccfg)
    assert isinstance(cerr, s2n.ProtocolError)
    assert cerr.type == s2n.ErrorType.PROTO
    assert cerr.name == "S2N_ERR_CERT_UNTRUSTED"
    assert cerr.message and cerr.debug and cerr.name in str(cerr)


def test_wrong_host_name(pki, socketpair):
    a, b = socketpair
    _, _, cerr, _ = _fail_handshake(pki, a, b, client_config(pki), server_name="example.org")
    assert isinstance(cerr, s2n.ProtocolError)
    assert cerr.name == "S2N_ERR_CERT_UNTRUSTED" or "HOST" in cerr.name


def test_no_server_name_rejects_by_default(pki, socketpair):
    a, b = socketpair
    _, _, cerr, _ = _fail_handshake(pki, a, b, client_config(pki), server_name=None)
    assert isinstance(cerr, s2n.ProtocolError)


def test_verify_host_callback_decides(pki, socketpair):
    a, b = socketpair
    names = []
    ccfg = client_config(pki)
    ccfg.set_verify_host_callback(lambda n: names.append(n) or n == "localhost")
    cli, srv = connected_pair(pki, a, b, ccfg=ccfg, server_name=None)
    assert "localhost" in names


def test_exception_in_verify_host_callback_propagates(pki, socketpair):
    a, b = socketpair
    ccfg = client_config(pki)

    def boom(name):
        raise LookupError("from the callback")

    ccfg.set_verify_host_callback(boom)
    srv = s2n.Connection(s2n.Mode.SERVER, server_config(pki))
    srv.set_fd(a)
    srv.set_blinding(s2n.Blinding.SELF_SERVICE)
    cli = s2n.Connection(s2n.Mode.CLIENT, ccfg)
    cli.set_fd(b)
    cli.set_blinding(s2n.Blinding.SELF_SERVICE)

    def server():
        try:
            srv.negotiate()
        except s2n.S2NError:
            pass

    def client():
        try:
            with pytest.raises(LookupError, match="from the callback"):
                cli.negotiate()
        finally:
            b.close()

    run_both(server, client)


def test_alert_from_peer(pki):
    """Python's ssl client rejects the server's certificate and sends an
    alert: the s2n server's next read raises AlertError with its code."""
    scfg = server_config(pki, cert="rogue")
    cctx = ssl.create_default_context(cafile=str(pki.path("ca.pem")))
    with socket.create_server(("127.0.0.1", 0)) as lsock:
        def client():
            with socket.create_connection(lsock.getsockname()) as raw:
                with pytest.raises(ssl.SSLError):
                    cctx.wrap_socket(raw, server_hostname="localhost")

        def server():
            sock, _ = lsock.accept()
            with sock:
                conn = s2n.Connection(s2n.Mode.SERVER, scfg)
                conn.set_fd(sock)
                conn.set_blinding(s2n.Blinding.SELF_SERVICE)
                with pytest.raises(s2n.AlertError) as e:
                    conn.negotiate()
                return e.value, conn.get_alert()

        (err, alert), _ = run_both(server, client)
    assert err.type == s2n.ErrorType.ALERT
    assert err.alert == alert == 48  # unknown_ca


def test_get_alert_none_without_alert(pki, socketpair):
    cli, srv = connected_pair(pki, *socketpair)
    assert cli.get_alert() is None and srv.get_alert() is None


def test_alert_behavior_setter(pki):
    cfg = s2n.Config()
    cfg.set_alert_behavior(s2n.AlertBehavior.IGNORE_WARNINGS)
    cfg.set_alert_behavior(s2n.AlertBehavior.FAIL_ON_WARNINGS)
    with pytest.raises(ValueError):
        cfg.set_alert_behavior(7)


def test_self_service_blinding_returns_at_once_with_a_delay(pki, socketpair):
    """With self-service blinding the failing call returns at once and
    get_delay() says how long to wait; built-in blinding would have slept
    10-30 s inside negotiate()."""
    a, b = socketpair
    srv = s2n.Connection(s2n.Mode.SERVER, s2n.Config())  # default max delay (30 s)
    cfg = s2n.Config()
    cfg.add_cert_chain_and_key(pki.path("server.pem"), pki.path("server.key"))
    srv.set_config(cfg)
    srv.set_fd(a)
    srv.set_blinding(s2n.Blinding.SELF_SERVICE)
    assert srv.get_delay() == 0
    # a ClientHello whose body is cut short: its handler fails, which s2n-tls blinds
    b.sendall(TRUNCATED_CLIENT_HELLO)
    start = time.monotonic()
    with pytest.raises(s2n.S2NError) as e:
        srv.negotiate()
    elapsed = time.monotonic() - start
    assert not isinstance(e.value, s2n.BlockedError)
    assert elapsed < 5  # built-in blinding sleeps at least 10 s
    assert 10e9 <= srv.get_delay() <= 30e9


def test_max_blinding_delay_bounds_the_delay(pki, socketpair):
    a, b = socketpair
    cfg = s2n.Config()
    cfg.add_cert_chain_and_key(pki.path("server.pem"), pki.path("server.key"))
    cfg.set_max_blinding_delay(3)
    srv = s2n.Connection(s2n.Mode.SERVER, cfg)
    srv.set_fd(a)
    srv.set_blinding(s2n.Blinding.SELF_SERVICE)
    b.sendall(TRUNCATED_CLIENT_HELLO)
    with pytest.raises(s2n.S2NError):
        srv.negotiate()
    assert 1e9 <= srv.get_delay() <= 3e9


def test_closed_transport_during_handshake(pki, socketpair):
    a, b = socketpair
    srv = s2n.Connection(s2n.Mode.SERVER, server_config(pki))
    srv.set_fd(a)
    b.close()
    with pytest.raises(s2n.ClosedError) as e:
        srv.negotiate()
    assert e.value.type == s2n.ErrorType.CLOSED


def test_usage_errors(pki):
    cfg = s2n.Config()
    with pytest.raises(s2n.S2NError) as e:
        cfg.set_cipher_preferences("no-such-policy")
    assert e.value.name == "S2N_ERR_INVALID_SECURITY_POLICY"
    with pytest.raises(s2n.S2NError):
        cfg.add_cert_chain_and_key(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                                   pki.path("server.key"))
    with pytest.raises(ValueError, match="pathlib.Path"):
        cfg.add_pem_to_trust_store(str(pki.path("ca.pem")))
    with pytest.raises(ValueError, match="NUL"):
        cfg.set_cipher_preferences("default\0x")
    with pytest.raises(FileNotFoundError):
        cfg.set_verification_ca_location(cafile="/nonexistent/ca.pem")
    with pytest.raises(TypeError):
        cfg.add_pem_to_trust_store(42)
    with pytest.raises(ValueError):
        cfg.set_protocol_preferences(["x" * 300])


def test_exception_hierarchy():
    assert issubclass(s2n.IOError, OSError) and issubclass(s2n.IOError, s2n.S2NError)
    for cls in (s2n.ClosedError, s2n.BlockedError, s2n.AlertError, s2n.ProtocolError,
                s2n.InternalError, s2n.UsageError):
        assert issubclass(cls, s2n.S2NError)
    assert "IOError" not in s2n.__all__
    ns = {}
    exec("from s2n import *", ns)
    assert "IOError" not in ns


def test_error_text_names_the_s2n_error(pki, socketpair):
    """str() of every error says which s2n error and what happened; never
    OSError's bare "[Errno 104] Connection reset by peer" or "[Errno None] None"."""
    import errno as _errno
    import traceback

    io = s2n.IOError("underlying I/O operation failed", errno=_errno.ECONNRESET,
                     name="S2N_ERR_IO", debug="Error encountered in s2n-tls/utils/s2n_io.c:28")
    text = str(io)
    assert text.startswith("S2N_ERR_IO: underlying I/O operation failed")
    assert "errno 104" in text and "Connection reset by peer" in text and "s2n_io.c" in text
    assert io.errno == _errno.ECONNRESET
    assert str(s2n.IOError("x")) == "S2N_ERR_IO: x"
    # a real reset from the peer
    a, b = socketpair
    conn = s2n.Connection(s2n.Mode.CLIENT, client_config(pki))
    conn.set_fd(b)
    conn.set_server_name("localhost")
    a.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    a.close()
    with pytest.raises(s2n.S2NError) as e:
        conn.negotiate()
    assert str(e.value).startswith("S2N_ERR_"), str(e.value)
    # no transport at all
    bare = s2n.Connection(s2n.Mode.CLIENT, client_config(pki))
    with pytest.raises(s2n.UsageError) as e:
        bare.negotiate()
    assert e.value.name == "S2N_PY_ERR_NO_IO" and "set_fd" in str(e.value)
    # public classes show as s2n.X in tracebacks
    line = traceback.format_exception_only(type(e.value), e.value)[-1]
    assert line.startswith("s2n.UsageError: S2N_PY_ERR_NO_IO"), line
    for cls in (s2n.S2NError, s2n.IOError, s2n.ProtocolError, s2n.Config, s2n.Connection,
                s2n.MemoryBIO, s2n.TLSSocket, s2n.Mode, s2n.Blocked):
        assert cls.__module__ == "s2n", cls
