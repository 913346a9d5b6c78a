"""s2n.ssl: the stdlib's ssl interface with s2n-tls underneath, checked
against the stdlib itself (same dicts, same exception classes) on loopback."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import threading

import pytest

import s2n
import s2n.ssl


def server_ctx(pki, cert="server"):
    ctx = s2n.ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.path(f"{cert}.pem"), pki.path(f"{cert}.key"))
    return ctx


def client_ctx(pki, ca="ca.pem"):
    return s2n.ssl.create_default_context(cafile=str(pki.path(ca)))


class OneShot:
    """A server thread: accept once, wrap with `ctx`, run `handler(tls)`."""

    def __init__(self, ctx, handler=lambda tls: tls.sendall(tls.recv(1024))):
        self.lsock = socket.create_server(("127.0.0.1", 0))
        self.addr = self.lsock.getsockname()
        self.result = {}

        def run():
            sock, _ = self.lsock.accept()
            try:
                with ctx.wrap_socket(sock, server_side=True) as tls:
                    self.result["r"] = handler(tls)
            except BaseException as e:  # noqa: BLE001
                self.result["e"] = e

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def close(self):
        self.thread.join(10)
        self.lsock.close()
        assert not self.thread.is_alive()


def test_types_and_reexports():
    ctx = s2n.ssl.SSLContext()
    assert isinstance(ctx, ssl.SSLContext)
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname  # PROTOCOL_TLS_CLIENT
    for name in ("SSLError", "SSLZeroReturnError", "SSLWantReadError", "SSLWantWriteError",
                 "SSLSyscallError", "SSLEOFError", "SSLCertVerificationError", "CertificateError",
                 "Purpose", "TLSVersion", "VerifyMode", "CERT_REQUIRED", "PROTOCOL_TLS_CLIENT",
                 "OP_NO_TICKET", "MemoryBIO"):
        assert getattr(s2n.ssl, name) is getattr(ssl, name), name


def test_round_trip_alpn_and_the_same_peercert_dict_as_stdlib(pki):
    sctx = server_ctx(pki)
    sctx.set_alpn_protocols(["http/1.1"])
    group = {}

    def handler(tls):
        group["server"] = tls._tls.connection.get_kem_group_name()
        tls.sendall(tls.recv(100).upper())

    srv = OneShot(sctx, handler)
    cctx = client_ctx(pki)
    cctx.set_alpn_protocols(["h2", "http/1.1"])
    with cctx.wrap_socket(socket.create_connection(srv.addr), server_hostname="localhost") as tls:
        assert isinstance(tls, socket.socket) and isinstance(tls, s2n.ssl.SSLSocket)
        tls.sendall(b"hello")
        assert tls.recv(100) == b"HELLO"
        ours = tls.getpeercert()
        der = tls.getpeercert(binary_form=True)
        assert tls.version() == "TLSv1.3" and tls.selected_alpn_protocol() == "http/1.1"
        assert tls.cipher() == ("TLS_AES_128_GCM_SHA256", "TLSv1.3", 128)
    srv.close()
    assert "e" not in srv.result, srv.result
    assert group["server"] == "X25519MLKEM768"  # s2n-tls on both ends
    # the stdlib, against the same server, gives the same dict
    srv = OneShot(sctx)
    std = ssl.create_default_context(cafile=str(pki.path("ca.pem")))
    with std.wrap_socket(socket.create_connection(srv.addr), server_hostname="localhost") as tls:
        theirs = tls.getpeercert()
        assert tls.getpeercert(binary_form=True) == der
        tls.sendall(b"x")
        tls.recv(10)
    srv.close()
    assert ours == theirs and ours["subjectAltName"] == (("DNS", "localhost"), ("IP Address", "127.0.0.1"))


@pytest.mark.parametrize("ca, host, code", [
    ("otherca.pem", "localhost", 20),       # untrusted issuer
    ("ca.pem", "wrong.example", 62),        # host name mismatch
])
def test_verification_failures_are_the_stdlib_classes(pki, ca, host, code):
    srv = OneShot(server_ctx(pki))
    with pytest.raises(ssl.SSLCertVerificationError) as e:
        client_ctx(pki, ca).wrap_socket(socket.create_connection(srv.addr), server_hostname=host)
    srv.close()
    assert e.value.verify_code == code
    assert "CERTIFICATE_VERIFY_FAILED" in str(e.value) and e.value.reason == "CERTIFICATE_VERIFY_FAILED"
    assert isinstance(e.value, ssl.CertificateError) and isinstance(e.value.__cause__, s2n.S2NError)


def test_ip_identity_needs_an_ip_san(pki):
    srv = OneShot(server_ctx(pki, "dns-ip"))
    with pytest.raises(ssl.SSLCertVerificationError) as e:
        client_ctx(pki).wrap_socket(socket.create_connection(srv.addr), server_hostname="127.0.0.1")
    srv.close()
    assert e.value.verify_code == 64


def test_check_hostname_off_and_cert_none(pki):
    ctx = client_ctx(pki)
    ctx.check_hostname = False
    srv = OneShot(server_ctx(pki))
    with ctx.wrap_socket(socket.create_connection(srv.addr), server_hostname="wrong.example") as tls:
        tls.sendall(b"ok")
        assert tls.recv(10) == b"ok"
    srv.close()
    insecure = s2n.ssl.SSLContext()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    srv = OneShot(server_ctx(pki, "rogue"))
    with insecure.wrap_socket(socket.create_connection(srv.addr)) as tls:
        # s2n-tls keeps no unverified chain: {} as ssl says, and no DER
        assert tls.getpeercert() == {} and tls.getpeercert(True) is None
        tls.sendall(b"ok")
        assert tls.recv(10) == b"ok"
    srv.close()


def test_mutual_tls(pki):
    sctx = server_ctx(pki)
    sctx.verify_mode = ssl.CERT_REQUIRED
    sctx.load_verify_locations(cafile=pki.path("ca.pem"))
    srv = OneShot(sctx, lambda tls: (tls.getpeercert()["subjectAltName"], tls.sendall(b"hi")))
    cctx = client_ctx(pki)
    cctx.load_cert_chain(pki.path("client.pem"), pki.path("client.key"))
    with cctx.wrap_socket(socket.create_connection(srv.addr), server_hostname="localhost") as tls:
        assert tls.recv(10) == b"hi"
    srv.close()
    assert srv.result["r"][0] == (("DNS", "client.test"),)


def test_versions_and_cipher_strings(pki):
    for lo, hi, want in ((ssl.TLSVersion.TLSv1_3, None, "TLSv1.3"),
                         (None, ssl.TLSVersion.TLSv1_2, "TLSv1.2")):
        cctx = client_ctx(pki)
        if lo:
            cctx.minimum_version = lo
        if hi:
            cctx.maximum_version = hi
        srv = OneShot(server_ctx(pki))
        with cctx.wrap_socket(socket.create_connection(srv.addr), server_hostname="localhost") as tls:
            assert tls.version() == want
            tls.sendall(b"v")
            tls.recv(1)
        srv.close()
    ctx = s2n.ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    for ok in ("TLSv1", "DEFAULT", "HIGH:!aNULL:!eNULL", "ECDHE+AESGCM", "TLSv1.2:!MD5"):
        ctx.set_ciphers(ok)  # uvicorn's default is "TLSv1"
    for narrow in ("ECDHE-ECDSA-AES256-GCM-SHA384", "HIGH:!AES128"):
        with pytest.raises(ssl.SSLError, match="set_security_policy"):
            ctx.set_ciphers(narrow)
    with pytest.raises(ssl.SSLError):
        ctx.set_ciphers("no-such-cipher")
    with pytest.raises(NotImplementedError, match="set_ecdh_curve"):
        ctx.set_ecdh_curve("prime256v1")


def test_encrypted_key_and_cadata(pki, tmp_path):
    enc = tmp_path / "enc.key"
    subprocess.run(["openssl", "pkey", "-in", str(pki.path("server.key")), "-aes256",
                    "-passout", "pass:secret", "-out", str(enc)], check=True, capture_output=True)
    sctx = s2n.ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with pytest.raises(ssl.SSLError):
        sctx.load_cert_chain(pki.path("server.pem"), enc, password="wrong")
    sctx.load_cert_chain(pki.path("server.pem"), enc, password=lambda: b"secret")
    pem = pki.path("ca.pem").read_text()
    for cadata in (pem, ssl.PEM_cert_to_DER_cert(pem)):
        cctx = s2n.ssl.create_default_context(cadata=cadata)
        srv = OneShot(sctx)
        with cctx.wrap_socket(socket.create_connection(srv.addr), server_hostname="localhost") as tls:
            tls.sendall(b"k")
            assert tls.recv(1) == b"k"
        srv.close()


def test_keylog_file(pki, tmp_path, monkeypatch):
    log = tmp_path / "keys.log"
    monkeypatch.setenv("SSLKEYLOGFILE", str(log))
    cctx = client_ctx(pki)
    assert cctx.keylog_filename == str(log)
    srv = OneShot(server_ctx(pki))
    with cctx.wrap_socket(socket.create_connection(srv.addr), server_hostname="localhost") as tls:
        tls.sendall(b"k")
        tls.recv(1)
    srv.close()
    labels = {line.split()[0] for line in log.read_text().splitlines()}
    assert {"CLIENT_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0"} <= labels


def test_sni_callback_switches_the_certificate(pki):
    default = server_ctx(pki, "rogue")   # signed by otherca: clients would refuse it
    good = server_ctx(pki)
    seen = []

    def pick(sslobj, name, ctx):
        seen.append(name)
        if name == "localhost":
            sslobj.context = good

    default.sni_callback = pick
    srv = OneShot(default)
    with client_ctx(pki).wrap_socket(socket.create_connection(srv.addr),
                                     server_hostname="localhost") as tls:
        tls.sendall(b"s")
        assert tls.recv(1) == b"s"
    srv.close()
    assert seen == ["localhost"]


def _pump(a, b, a_out, b_in, b_out, a_in, steps):
    """Drive two SSLObjects until each step returns (one thread)."""
    done = [False] * len(steps)
    for _ in range(50):
        for i, step in enumerate(steps):
            if not done[i]:
                try:
                    step()
                    done[i] = True
                except ssl.SSLWantReadError:
                    pass
            b_in.write(a_out.read())
            a_in.write(b_out.read())
        if all(done):
            return
    raise AssertionError("no progress")


@pytest.mark.parametrize("peer", ["s2n", "stdlib"])
def test_wrap_bio_against_s2n_and_stdlib(pki, peer):
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    cli = client_ctx(pki).wrap_bio(c_in, c_out, server_hostname="localhost")
    assert isinstance(cli, s2n.ssl.SSLObject)
    if peer == "s2n":
        srv = server_ctx(pki).wrap_bio(s_in, s_out, server_side=True)
    else:
        std = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        std.load_cert_chain(pki.path("server.pem"), pki.path("server.key"))
        srv = std.wrap_bio(s_in, s_out, server_side=True)
    with pytest.raises(ssl.SSLWantReadError):
        cli.read(10)  # nothing from the server yet
    _pump(cli, srv, c_out, s_in, s_out, c_in, [cli.do_handshake, srv.do_handshake])
    assert cli.version() == "TLSv1.3" and cli.getpeercert()["subject"]
    assert cli.write(b"ping") == 4
    s_in.write(c_out.read())
    assert srv.read(100) == b"ping"
    srv.write(b"pong" * 10000)
    c_in.write(s_out.read())
    got = b""
    while len(got) < 40000:
        got += cli.read(65536)
    assert got == b"pong" * 10000
    # close_notify: the other side's read gives b"", as in the stdlib
    with pytest.raises(ssl.SSLWantReadError):
        cli.unwrap()
    s_in.write(c_out.read())
    assert srv.read(10) == b""


def test_inject_into_ssl_and_back():
    original = ssl.SSLContext
    s2n.ssl.inject_into_ssl()
    try:
        assert ssl.SSLContext is s2n.ssl.SSLContext
        assert isinstance(ssl.create_default_context(), s2n.ssl.SSLContext)
    finally:
        s2n.ssl.extract_from_ssl()
    assert ssl.SSLContext is original and not isinstance(ssl.create_default_context(),
                                                          s2n.ssl.SSLContext)


def test_asyncio_streams_with_ssl_contexts(pki):
    import asyncio

    async def main():
        async def handle(reader, writer):
            writer.write((await reader.readline()).upper())
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ctx(pki))
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=client_ctx(pki),
                                    server_hostname="localhost"), 10)
        sslobj = writer.get_extra_info("ssl_object")
        assert isinstance(sslobj, s2n.ssl.SSLObject)
        writer.write(b"hello\n")
        line = await asyncio.wait_for(reader.readline(), 10)
        peercert = writer.get_extra_info("peercert")
        writer.close()
        server.close()
        await server.wait_closed()
        return line, peercert

    line, peercert = asyncio.run(main())
    assert line == b"HELLO\n" and peercert["subjectAltName"][0] == ("DNS", "localhost")


def test_no_fd_leak_over_many_connections(pki):
    def fds():
        return len(os.listdir("/proc/self/fd"))

    sctx, cctx = server_ctx(pki), client_ctx(pki)
    before = fds()
    for _ in range(20):
        srv = OneShot(sctx)
        with cctx.wrap_socket(socket.create_connection(srv.addr), server_hostname="localhost") as tls:
            tls.sendall(b"x")
            tls.recv(1)
        srv.close()
    assert fds() <= before + 2


def test_session_resumption(pki):
    sctx, cctx = server_ctx(pki), client_ctx(pki)

    def connect(session=None):
        srv = OneShot(sctx, lambda tls: tls.sendall(b"data"))
        with cctx.wrap_socket(socket.create_connection(srv.addr), server_hostname="localhost",
                              session=session) as tls:
            assert tls.recv(10) == b"data"  # the TLS 1.3 ticket arrives with it
            got = tls.session, tls.session_reused
        srv.close()
        return got

    session, reused = connect()
    assert session is not None and session.has_ticket and not reused
    _, reused = connect(session)
    assert reused


def test_nonblocking_makefile_and_unwrap(pki):
    go = threading.Event()

    def handler(tls):
        go.wait(10)
        tls.sendall(b"line one\nline two\n")
        assert tls.recv(10) == b"bye"
        return tls.unwrap()  # plain socket after close_notify both ways

    srv = OneShot(server_ctx(pki), handler)
    tls = client_ctx(pki).wrap_socket(socket.create_connection(srv.addr), server_hostname="localhost")
    tls.setblocking(False)
    with pytest.raises(ssl.SSLWantReadError):
        tls.recv(10)
    assert tls.gettimeout() == 0.0 and not tls.getblocking()
    tls.settimeout(5)
    go.set()
    f = tls.makefile("rb")
    assert f.readline() == b"line one\n" and f.readline() == b"line two\n"
    f.close()
    tls.sendall(b"bye")
    plain = tls.unwrap()
    assert type(plain) is socket.socket
    plain.close()
    srv.close()
    assert "e" not in srv.result, srv.result
    srv.result["r"].close()


@pytest.mark.parametrize("flag, version", [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")])
def test_openssl_peers(pki, flag, version):
    """openssl s_server with an s2n.ssl client, and openssl s_client with an s2n.ssl server."""
    from conftest import free_port
    from test_interop import _wait_for_line

    port = free_port()
    proc = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}",
                             "-cert", str(pki.path("server.pem")), "-key", str(pki.path("server.key")),
                             flag, "-rev"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for_line(proc, b"ACCEPT")
        with client_ctx(pki).wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                                         server_hostname="localhost") as tls:
            assert tls.version() == version
            tls.sendall(b"hello from s2n.ssl\n")
            got = b""
            while not got.endswith(b"\n"):
                got += tls.recv(100)
        assert got == b"lss.n2s morf olleh\n"
    finally:
        proc.kill()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()
    srv = OneShot(server_ctx(pki))
    out = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{srv.addr[1]}", "-quiet",
                          "-servername", "localhost", "-CAfile", str(pki.path("ca.pem")),
                          "-verify_return_error", flag],
                         input=b"echo me\n", capture_output=True, timeout=30)
    srv.close()
    assert out.stdout == b"echo me\n", out.stderr[-500:]


def test_contexts_per_connection_share_their_config(pki, tmp_path):
    """urllib3 makes a context (and loads the same CA file) per connection:
    the s2n Config is built once; the stdlib view stays complete; a changed
    file is read again."""
    import shutil
    import time

    ca = tmp_path / "ca.pem"
    shutil.copy(pki.path("ca.pem"), ca)
    a = s2n.ssl.create_default_context(cafile=str(ca))
    b = s2n.ssl.create_default_context(cafile=str(ca))
    assert a.s2n_config(False) is b.s2n_config(False)
    assert b.get_ca_certs() == a.get_ca_certs() and len(b.get_ca_certs()) == 1
    assert b.cert_store_stats()["x509_ca"] == 1
    b.check_hostname = False  # a different setting: its own Config
    assert b.s2n_config(False) is not a.s2n_config(False)
    ca.write_text("not a certificate\n")
    os.utime(ca, ns=(time.time_ns() + 10**9,) * 2)
    with pytest.raises(ssl.SSLError):
        s2n.ssl.create_default_context(cafile=str(ca))


def test_pending_counts_a_request_that_came_with_the_finished(pki):
    """uvloop's ssl protocol reads only while the incoming BIO or pending()
    is non-zero. A client's Finished and its first request often arrive
    together; s2n-tls reads both during the handshake (receive buffering),
    so pending() must count the request or the server never reads it."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    cli = client_ctx(pki).wrap_bio(c_in, c_out, server_hostname="localhost")
    srv = server_ctx(pki).wrap_bio(s_in, s_out, server_side=True)
    for step in (cli.do_handshake, srv.do_handshake):  # ClientHello, server flight
        with pytest.raises(ssl.SSLWantReadError):
            step()
        s_in.write(c_out.read())
        c_in.write(s_out.read())
    cli.do_handshake()  # Finished
    cli.write(b"GET / HTTP/1.1\r\n\r\n")
    s_in.write(c_out.read())  # Finished and request in one delivery
    srv.do_handshake()
    assert s_in.pending + srv.pending() > 0
    assert srv.read(100) == b"GET / HTTP/1.1\r\n\r\n"
    assert srv.pending() == 0
