"""Issue 12: custom certificate validation, X.509 time/intent checks, chain depth."""

from __future__ import annotations

import struct
import subprocess
import threading

import pytest

import s2n
from conftest import client_config, run_isolated, server_config
from test_memory import Side, shuttle


def pair(scfg, ccfg, server_name="localhost"):
    srv = Side(s2n.Mode.SERVER, scfg)
    cli = Side(s2n.Mode.CLIENT, ccfg)
    if server_name:
        cli.conn.set_server_name(server_name)
    return cli, srv


def drive(cli: Side, srv: Side, limit: int = 50) -> dict:
    """Negotiate both sides until each finished (None), failed (the
    exception) or is blocked on something other than reading; a side still
    waiting for the peer's bytes is absent from the result."""
    out: dict = {}
    for _ in range(limit):
        for name, side in (("client", cli), ("server", srv)):
            if name in out:
                continue
            try:
                side.conn.negotiate()
                out[name] = None
            except s2n.BlockedError as e:
                if e.blocked != s2n.Blocked.ON_READ:
                    out[name] = e
            except Exception as e:  # noqa: BLE001 - the test looks at it
                out[name] = e
        moved = shuttle(cli, srv)
        if len(out) == 2 or (not moved and out):
            return out
    raise AssertionError(f"no progress: {out}")


def mtls_configs(pki):
    scfg = server_config(pki)
    scfg.add_pem_to_trust_store(pki.path("ca.pem"))
    scfg.set_client_auth_type(s2n.ClientAuth.REQUIRED)
    scfg.set_verify_host_callback(lambda name: True)
    ccfg = client_config(pki)
    ccfg.add_cert_chain_and_key(pki.path("client.pem"), pki.path("client.key"))
    return scfg, ccfg


def rejected(exc) -> bool:
    return isinstance(exc, s2n.S2NError) and exc.name == "S2N_ERR_CERT_REJECTED"


# synchronous decisions


def test_accepting_callback_sees_the_verified_chain(pki):
    seen = []

    def cb(conn, info):
        seen.append((conn, info, conn.get_peer_cert_chain(), info.pending))
        return True

    ccfg = client_config(pki)
    ccfg.set_cert_validation_cb(cb)
    cli, srv = pair(server_config(pki), ccfg)
    assert drive(cli, srv) == {"client": None, "server": None}
    (conn, info, chain, pending), = seen
    assert conn is cli.conn and isinstance(info, s2n.CertValidationInfo) and pending
    assert chain and chain[0] == cli.conn.get_peer_cert_chain()[0]
    assert not info.pending  # decided: the object is dead now
    with pytest.raises(s2n.UsageError, match="already decided"):
        info.accept()


def test_reject_fails_the_client_handshake(pki):
    ccfg = client_config(pki)
    ccfg.set_cert_validation_cb(lambda conn, info: False)
    cli, srv = pair(server_config(pki), ccfg)
    out = drive(cli, srv)
    assert rejected(out["client"]) and isinstance(out["client"], s2n.ProtocolError), out
    assert "reject" in str(out["client"]).lower(), str(out["client"])


def test_reject_fails_the_server_handshake_mtls(pki):
    scfg, ccfg = mtls_configs(pki)
    calls = []
    scfg.set_cert_validation_cb(lambda conn, info: calls.append("server") or False)
    ccfg.set_cert_validation_cb(lambda conn, info: calls.append("client") or True)
    cli, srv = pair(scfg, ccfg)
    out = drive(cli, srv)
    assert rejected(out["server"]), out
    assert calls == ["client", "server"]


def test_server_callback_accepts_client_certificate(pki):
    scfg, ccfg = mtls_configs(pki)
    names = []

    def cb(conn, info):
        names.append(len(conn.get_peer_cert_chain()))
        return True

    scfg.set_cert_validation_cb(cb)
    cli, srv = pair(scfg, ccfg)
    assert drive(cli, srv) == {"client": None, "server": None}
    assert names and names[0] >= 1 and srv.conn.client_cert_used()


class Boom(Exception):
    pass


@pytest.mark.parametrize("side", ["client", "server"])
def test_callback_exception_propagates_from_negotiate(pki, side):
    scfg, ccfg = mtls_configs(pki)

    def cb(conn, info):
        raise Boom(side)

    (ccfg if side == "client" else scfg).set_cert_validation_cb(cb)
    cli, srv = pair(scfg, ccfg)
    out = drive(cli, srv)
    assert isinstance(out[side], Boom) and out[side].args == (side,), out


@pytest.mark.parametrize("verdict, exc", [("yes", TypeError), (1, TypeError)])
def test_callback_returning_garbage_fails_clearly(pki, verdict, exc):
    ccfg = client_config(pki)
    ccfg.set_cert_validation_cb(lambda conn, info: verdict)
    cli, srv = pair(server_config(pki), ccfg)
    out = drive(cli, srv)
    assert isinstance(out["client"], exc) and "must return bool" in str(out["client"])


def test_decision_inside_callback_and_return_value(pki):
    def accept_then_none(conn, info):
        info.accept()
        assert not info.pending

    ccfg = client_config(pki)
    ccfg.set_cert_validation_cb(accept_then_none)
    cli, srv = pair(server_config(pki), ccfg)
    assert drive(cli, srv) == {"client": None, "server": None}

    def contradict(conn, info):
        info.accept()
        return False

    ccfg = client_config(pki)
    ccfg.set_cert_validation_cb(contradict)
    cli, srv = pair(server_config(pki), ccfg)
    out = drive(cli, srv)
    assert isinstance(out["client"], ValueError), out


def test_callback_calling_back_into_the_connection(pki):
    def cb(conn, info):
        conn.get_cipher()  # getters are fine
        conn.set_server_name("other")  # anything else is re-entrancy

    ccfg = client_config(pki)
    ccfg.set_cert_validation_cb(cb)
    cli, srv = pair(server_config(pki), ccfg)
    out = drive(cli, srv)
    assert isinstance(out["client"], s2n.UsageError) and out["client"].name == "S2N_PY_ERR_REENTRANCY"


def test_setter_checks(pki):
    cfg = s2n.Config()
    with pytest.raises(TypeError):
        cfg.set_cert_validation_cb(42)
    for bad in (0, -1, 65536):
        with pytest.raises(ValueError):
            cfg.set_max_cert_chain_depth(bad)
    with pytest.raises(TypeError):
        cfg.set_max_cert_chain_depth("3")
    ccfg = client_config(pki)
    cli, srv = pair(server_config(pki), ccfg)
    drive(cli, srv)
    for call in (lambda: ccfg.set_cert_validation_cb(lambda c, i: True),
                 ccfg.disable_x509_time_verification, ccfg.disable_x509_intent_verification,
                 lambda: ccfg.set_max_cert_chain_depth(3)):
        with pytest.raises(s2n.UsageError):
            call()


# asynchronous decisions


def _async_pair(pki, box):
    def cb(conn, info):
        box.append(info)  # decide later

    ccfg = client_config(pki)
    ccfg.set_cert_validation_cb(cb)
    cli, srv = pair(server_config(pki), ccfg)
    out = drive(cli, srv)
    assert isinstance(out["client"], s2n.BlockedError), out
    assert out["client"].blocked == s2n.Blocked.ON_APPLICATION_INPUT
    return cli, srv


def test_async_accept_resumes_the_handshake(pki):
    box = []
    cli, srv = _async_pair(pki, box)
    info, = box
    assert info.pending
    with pytest.raises(s2n.BlockedError) as e:  # still paused: nothing decided
        cli.conn.negotiate()
    assert e.value.blocked == s2n.Blocked.ON_APPLICATION_INPUT
    info.accept()
    assert not info.pending
    assert drive(cli, srv) == {"client": None, "server": None}
    assert len(box) == 1  # the callback ran once
    cli.conn.send(b"ping")
    shuttle(cli, srv)
    assert srv.conn.recv(10) == b"ping"
    with pytest.raises(s2n.UsageError):
        info.reject()


def test_async_reject_fails_the_handshake(pki):
    box = []
    cli, srv = _async_pair(pki, box)
    box[0].reject()
    assert rejected(drive(cli, srv)["client"])


def test_async_accept_from_another_thread(pki):
    box = []
    cli, srv = _async_pair(pki, box)
    errors = []

    def worker():
        try:
            box[0].accept()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    t = threading.Thread(target=worker)
    t.start()
    t.join(10)
    assert not t.is_alive() and not errors
    assert drive(cli, srv) == {"client": None, "server": None}


def test_worker_started_inside_the_callback(pki):
    """A decision made by another thread while the callback still runs waits
    for the driving call to return, then applies."""
    workers = []

    def cb(conn, info):
        t = threading.Thread(target=info.accept)
        t.start()
        workers.append(t)  # returns None: the decision comes from the worker

    ccfg = client_config(pki)
    ccfg.set_cert_validation_cb(cb)
    cli, srv = pair(server_config(pki), ccfg)
    out = drive(cli, srv)
    workers[0].join(10)
    assert not workers[0].is_alive()
    if out["client"] is not None:  # the worker came after negotiate returned
        assert out["client"].blocked == s2n.Blocked.ON_APPLICATION_INPUT
    assert drive(cli, srv) == {"client": None, "server": None}


def test_async_decision_on_the_server_mtls(pki):
    scfg, ccfg = mtls_configs(pki)
    box = []
    scfg.set_cert_validation_cb(lambda conn, info: box.append(info))
    cli, srv = pair(scfg, ccfg)
    out = drive(cli, srv)
    assert out["server"].blocked == s2n.Blocked.ON_APPLICATION_INPUT, out
    box[0].accept()
    assert drive(cli, srv) == {"client": None, "server": None}
    assert srv.conn.client_cert_used()
    cli.conn.send(b"after async")
    shuttle(cli, srv)
    assert srv.conn.recv(20) == b"after async"


def test_openssl_s_server_peer(pki):
    """Interop: the callback sees the chain openssl s_server sends, and rejecting it
    fails the handshake (s2n client over TCP)."""
    import socket
    from conftest import free_port

    port = free_port()
    with subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-rev",
                           "-cert", str(pki.path("server.pem")), "-key", str(pki.path("server.key"))],
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL) as proc:
        try:
            for line in iter(proc.stdout.readline, b""):
                if b"ACCEPT" in line:
                    break
            der = subprocess.run(["openssl", "x509", "-in", str(pki.path("server.pem")), "-outform", "DER"],
                                 capture_output=True, check=True).stdout
            for verdict in (True, False):
                seen = []
                ccfg = client_config(pki)
                ccfg.set_cert_validation_cb(lambda conn, info: seen.append(conn.get_peer_cert_chain()) or verdict)
                with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                    sock.settimeout(None)  # blocking fd for s2n-tls; reads bounded by SO_RCVTIMEO
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 10, 0))
                    conn = s2n.Connection(s2n.Mode.CLIENT, ccfg)
                    conn.set_fd(sock)
                    conn.set_server_name("localhost")
                    if verdict:
                        conn.negotiate()
                    else:
                        with pytest.raises(s2n.ProtocolError) as e:
                            conn.negotiate()
                        assert e.value.name == "S2N_ERR_CERT_REJECTED"
                    conn.free()
                assert seen and seen[0][0] == der
        finally:
            proc.kill()
            proc.wait(10)


def test_stale_info_never_reaches_c(pki):
    """After free, wipe or garbage collection a pending info refuses: no
    dangling pointer is ever used (in a subprocess: a crash fails the test)."""
    run_isolated("""
        from test_validation import _async_pair
        box = []
        cli, srv = _async_pair(pki, box)
        cli.conn.wipe()
        try:
            box[0].accept()
            raise SystemExit("accept after wipe succeeded")
        except s2n.UsageError as e:
            assert e.name == "S2N_PY_ERR_VALIDATION_STALE", e.name
        box.clear()
        cli, srv = _async_pair(pki, box)
        cli.conn.free()
        try:
            box[0].reject()
            raise SystemExit("reject after free succeeded")
        except s2n.UsageError:
            pass
        box.clear()
        cli, srv = _async_pair(pki, box)
        del cli, srv
        gc.collect()
        try:
            box[0].accept()
            raise SystemExit("accept after collection succeeded")
        except s2n.UsageError:
            pass
        print("OK")
    """, pki)


def test_second_validation_invalidates_the_first(pki):
    """A connection wiped and negotiated again gets a new info; the old one is stale."""
    box = []
    cli, srv = _async_pair(pki, box)
    cli.conn.wipe()
    cli.conn.set_memory_io(cli.incoming, cli.outgoing)
    cli.conn.set_blinding(s2n.Blinding.SELF_SERVICE)
    cli.conn.set_server_name("localhost")
    srv2 = Side(s2n.Mode.SERVER, server_config(pki))
    cli.incoming.read()
    out = drive(cli, srv2)
    assert out["client"].blocked == s2n.Blocked.ON_APPLICATION_INPUT
    old, new = box
    with pytest.raises(s2n.UsageError):
        old.accept()
    new.accept()
    assert drive(cli, srv2) == {"client": None, "server": None}


# X.509 checks: validity period, intent, chain depth


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.fixture(scope="module")
def extra_pki(pki, tmp_path_factory):
    """An expired server certificate (openssl ca with past dates) and a
    chain root -> intermediate -> leaf, both under the test CA."""
    d = tmp_path_factory.mktemp("validation")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    (d / "ca.cnf").write_text(
        "[ca]\ndefault_ca = test\n[test]\ndatabase = index.txt\nnew_certs_dir = .\n"
        "serial = serial\ndefault_md = sha256\npolicy = anything\nx509_extensions = leaf\n"
        "[anything]\ncommonName = supplied\n"
        "[leaf]\nsubjectAltName = DNS:localhost\nextendedKeyUsage = serverAuth\n")
    (d / "index.txt").write_text("")
    (d / "serial").write_text("01\n")
    _openssl("req", "-new", *ec, "-keyout", "expired.key", "-out", "expired.csr",
             "-subj", "/CN=localhost", cwd=d)
    _openssl("ca", "-batch", "-config", "ca.cnf", "-cert", str(pki.path("ca.pem")),
             "-keyfile", str(pki.path("ca.key")), "-in", "expired.csr", "-out", "expired.pem",
             "-notext", "-startdate", "20200101000000Z", "-enddate", "20200201000000Z", cwd=d)
    # intermediate CA, then a leaf it issues; the server sends leaf + intermediate
    (d / "inter.ext").write_text("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n")
    (d / "leaf.ext").write_text("subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n")
    _openssl("req", "-new", *ec, "-keyout", "inter.key", "-out", "inter.csr", "-subj", "/CN=Inter", cwd=d)
    _openssl("x509", "-req", "-in", "inter.csr", "-CA", str(pki.path("ca.pem")),
             "-CAkey", str(pki.path("ca.key")), "-CAcreateserial", "-days", "30",
             "-extfile", "inter.ext", "-out", "inter.pem", cwd=d)
    _openssl("req", "-new", *ec, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=localhost", cwd=d)
    _openssl("x509", "-req", "-in", "leaf.csr", "-CA", "inter.pem", "-CAkey", "inter.key",
             "-CAcreateserial", "-days", "30", "-extfile", "leaf.ext", "-out", "leaf.pem", cwd=d)
    (d / "chain.pem").write_bytes((d / "leaf.pem").read_bytes() + (d / "inter.pem").read_bytes())
    return d


def _serving(pki, chain, key):
    cfg = s2n.Config()
    cfg.add_cert_chain_and_key(chain, key)
    cfg.set_max_blinding_delay(0)
    return cfg


def test_expired_certificate_fails_by_default(pki, extra_pki):
    scfg = _serving(pki, extra_pki / "expired.pem", extra_pki / "expired.key")
    cli, srv = pair(scfg, client_config(pki))
    out = drive(cli, srv)
    assert isinstance(out["client"], s2n.S2NError) and out["client"].name == "S2N_ERR_CERT_EXPIRED", out


def test_expired_certificate_passes_without_time_verification(pki, extra_pki):
    scfg = _serving(pki, extra_pki / "expired.pem", extra_pki / "expired.key")
    ccfg = client_config(pki)
    ccfg.disable_x509_time_verification()
    cli, srv = pair(scfg, ccfg)
    assert drive(cli, srv) == {"client": None, "server": None}


def test_intent_verification(pki):
    """A clientAuth-only certificate served by a server: refused unless intent checks are off."""
    scfg = _serving(pki, pki.path("client.pem"), pki.path("client.key"))
    cli, srv = pair(scfg, client_config(pki), server_name="client.test")
    out = drive(cli, srv)
    assert isinstance(out["client"], s2n.S2NError) and out["client"].name == "S2N_ERR_CERT_INTENT_INVALID", out
    ccfg = client_config(pki)
    ccfg.disable_x509_intent_verification()
    scfg = _serving(pki, pki.path("client.pem"), pki.path("client.key"))
    cli, srv = pair(scfg, ccfg, server_name="client.test")
    assert drive(cli, srv) == {"client": None, "server": None}


@pytest.mark.parametrize("depth, ok", [(None, True), (3, True), (2, True), (1, False)])
def test_max_cert_chain_depth(pki, extra_pki, depth, ok):
    scfg = _serving(pki, extra_pki / "chain.pem", extra_pki / "leaf.key")
    ccfg = client_config(pki)
    if depth is not None:
        ccfg.set_max_cert_chain_depth(depth)
    cli, srv = pair(scfg, ccfg)
    out = drive(cli, srv)
    if ok:
        assert out == {"client": None, "server": None}
    else:
        assert isinstance(out["client"], s2n.S2NError), out
        assert out["client"].name == "S2N_ERR_CERT_MAX_CHAIN_DEPTH_EXCEEDED", out
