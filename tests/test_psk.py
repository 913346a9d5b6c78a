"""External pre-shared keys (TLS 1.3): s2n against s2n and against openssl."""

from __future__ import annotations

import os
import select
import shutil
import socket
import subprocess
import time

import pytest

import s2n
from conftest import free_port
from test_memory import Side, handshake, shuttle

SECRET = bytes(range(32))


def psk_config(**kw) -> s2n.Config:
    c = s2n.Config()  # no certificate: the handshake must use the PSK
    c.set_psk_mode(s2n.PskMode.EXTERNAL)
    c.set_max_blinding_delay(0)
    return c


def psk_pair(server_psks, client_psks, scfg=None, ccfg=None):
    srv = Side(s2n.Mode.SERVER, scfg or psk_config())
    cli = Side(s2n.Mode.CLIENT, ccfg or psk_config())
    for p in server_psks:
        srv.conn.append_psk(p)
    for p in client_psks:
        cli.conn.append_psk(p)
    return cli, srv


@pytest.mark.parametrize("hmac", [s2n.PskHmac.SHA256, s2n.PskHmac.SHA384])
def test_handshake_with_an_external_psk_and_no_certificate(hmac):
    psk = s2n.ExternalPsk(b"client-7", SECRET, hmac)
    cli, srv = psk_pair([psk], [psk])
    handshake(cli, srv)
    assert cli.conn.get_negotiated_psk_identity() == b"client-7"
    assert srv.conn.get_negotiated_psk_identity() == b"client-7"
    assert cli.conn.get_actual_protocol_version() == s2n.ProtocolVersion.TLS1_3
    assert cli.conn.get_peer_cert_chain() == []
    cli.conn.send(b"hello")
    shuttle(cli, srv)
    assert srv.conn.recv(10) == b"hello"


def test_the_wrong_secret_fails_the_handshake():
    cli, srv = psk_pair([s2n.ExternalPsk(b"id", SECRET)], [s2n.ExternalPsk(b"id", os.urandom(32))])
    with pytest.raises(s2n.S2NError):
        handshake(cli, srv)


def test_an_unknown_identity_fails_without_a_certificate():
    cli, srv = psk_pair([s2n.ExternalPsk(b"known", SECRET)], [s2n.ExternalPsk(b"other", SECRET)])
    with pytest.raises(s2n.S2NError):
        handshake(cli, srv)


def test_selection_callback_sees_the_offered_identities_and_picks_one():
    seen = []

    def select_psk(conn, identities):
        seen.append(list(identities))
        return identities.index(b"second")

    scfg = psk_config()
    scfg.set_psk_selection_callback(select_psk)
    first, second = s2n.ExternalPsk(b"first", SECRET), s2n.ExternalPsk(b"second", SECRET[::-1])
    cli, srv = psk_pair([first, second], [first, second], scfg=scfg)
    handshake(cli, srv)
    assert seen == [[b"first", b"second"]]
    assert cli.conn.get_negotiated_psk_identity() == b"second"


@pytest.mark.parametrize("answer, error", [(7, ValueError), ("0", ValueError), (RuntimeError("no"), RuntimeError)])
def test_selection_callback_errors_come_out_of_negotiate(answer, error):
    def select_psk(conn, identities):
        if isinstance(answer, BaseException):
            raise answer
        return answer

    scfg = psk_config()
    scfg.set_psk_selection_callback(select_psk)
    psk = s2n.ExternalPsk(b"id", SECRET)
    cli, srv = psk_pair([psk], [psk], scfg=scfg)
    with pytest.raises(error):
        handshake(cli, srv)


def test_selection_callback_may_refuse_every_psk():
    scfg = psk_config()
    scfg.set_psk_selection_callback(lambda conn, identities: None)
    psk = s2n.ExternalPsk(b"id", SECRET)
    cli, srv = psk_pair([psk], [psk], scfg=scfg)
    with pytest.raises(s2n.S2NError):  # no PSK and no certificate
        handshake(cli, srv)


def test_external_psk_checks_its_arguments_and_hides_its_secret():
    with pytest.raises(ValueError):
        s2n.ExternalPsk(b"", SECRET)
    with pytest.raises(ValueError):
        s2n.ExternalPsk(b"id", b"short")
    with pytest.raises(ValueError):
        s2n.ExternalPsk(b"id", SECRET, 9)
    psk = s2n.ExternalPsk(b"id", SECRET)
    with pytest.raises(AttributeError):
        psk.secret = b"x" * 16
    assert SECRET.hex() not in repr(psk) and "SECRET" not in repr(psk)
    with pytest.raises(TypeError):
        s2n.Connection(s2n.Mode.CLIENT).append_psk((b"id", SECRET))
    conn = s2n.Connection(s2n.Mode.CLIENT)
    conn.append_psk(psk)
    with pytest.raises(s2n.S2NError):
        conn.append_psk(psk)  # the same identity twice


def _read_until(proc, what: bytes, timeout: float = 10) -> bytes:
    out, deadline = b"", time.monotonic() + timeout
    while what not in out:
        left = deadline - time.monotonic()
        assert left > 0, f"openssl never said {what!r}: {out!r}"
        if select.select([proc.stdout], [], [], left)[0]:
            chunk = proc.stdout.read1(4096)
            assert chunk, f"openssl ended: {out!r}"
            out += chunk
    return out


def _drive(conn, sock, step, want=None):
    for _ in range(200):
        try:
            return step()
        except s2n.BlockedError as e:
            r, w = ([sock], []) if e.blocked == s2n.Blocked.ON_READ else ([], [sock])
            assert select.select(r, w, [], 10)[:2] != ([], []), "the peer went silent"
    raise AssertionError("no progress")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_client_against_openssl_s_server_psk():
    port = free_port()
    proc = subprocess.Popen(["openssl", "s_server", "-tls1_3", "-nocert", "-accept", str(port),
                             "-psk", SECRET.hex(), "-psk_identity", "py-client"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _read_until(proc, b"ACCEPT")
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setblocking(False)
        conn = s2n.Connection(s2n.Mode.CLIENT, psk_config())
        conn.set_fd(sock)
        conn.append_psk(s2n.ExternalPsk(b"py-client", SECRET))
        _drive(conn, sock, conn.negotiate)
        assert conn.get_negotiated_psk_identity() == b"py-client"
        _drive(conn, sock, lambda: conn.send(b"over psk\n"))
        _read_until(proc, b"over psk")
        conn.free()
        sock.close()
    finally:
        proc.kill()
        proc.wait(10)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_openssl_s_client_psk_against_our_server():
    with socket.create_server(("127.0.0.1", 0)) as lsock:
        port = lsock.getsockname()[1]
        proc = subprocess.Popen(["openssl", "s_client", "-tls1_3", "-connect", f"127.0.0.1:{port}",
                                 "-psk", SECRET.hex(), "-psk_identity", "ossl-client"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            lsock.settimeout(10)
            sock, _ = lsock.accept()
            sock.setblocking(False)
            conn = s2n.Connection(s2n.Mode.SERVER, psk_config())
            conn.set_fd(sock)
            conn.append_psk(s2n.ExternalPsk(b"ossl-client", SECRET))
            _drive(conn, sock, conn.negotiate)
            assert conn.get_negotiated_psk_identity() == b"ossl-client"
            proc.stdin.write(b"from openssl\n")
            proc.stdin.flush()
            got = _drive(conn, sock, lambda: conn.recv(100))
            assert got == b"from openssl\n"
            conn.free()
            sock.close()
        finally:
            proc.kill()
            proc.wait(10)


def test_append_psk_errors_name_the_s2n_error():
    conn = s2n.Connection(s2n.Mode.CLIENT)
    conn.append_psk(s2n.ExternalPsk(b"id", SECRET))
    with pytest.raises(s2n.S2NError) as e:
        conn.append_psk(s2n.ExternalPsk(b"id", SECRET))
    assert e.value.name == "S2N_ERR_DUPLICATE_PSK_IDENTITIES", e.value.name


def test_layer_connection_errors_name_the_s2n_error(pki):
    import socket

    a, b = socket.socketpair()
    with a, b:
        with pytest.raises(s2n.S2NError) as e:  # an invalid server name (too long)
            s2n.wrap_socket(a, s2n.Config(), server_hostname="x" * 300, do_handshake_on_connect=False)
    assert e.value.name != "S2N_ERR_OK", e.value
