"""Interop on loopback with the openssl command line and Python's ssl."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import threading

import pytest

import s2n
from conftest import client_config, free_port, run_both, server_config

VERSIONS = [("-tls1_2", s2n.ProtocolVersion.TLS1_2), ("-tls1_3", s2n.ProtocolVersion.TLS1_3)]


def _wait_for_line(proc, marker: bytes, limit: int = 200) -> None:
    for _ in range(limit):
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"openssl exited before {marker!r}: {proc.stderr.read()!r}")
        if marker in line:
            return
    raise AssertionError(f"no {marker!r} from openssl")


@pytest.mark.parametrize("flag, version", VERSIONS)
def test_s2n_client_against_openssl_s_server(pki, flag, version):
    port = free_port()
    proc = subprocess.Popen(
        ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(pki.path("server.pem")),
         "-key", str(pki.path("server.key")), flag, "-rev"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for_line(proc, b"ACCEPT")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.settimeout(None)
            conn = s2n.Connection(s2n.Mode.CLIENT, client_config(pki))
            conn.set_fd(sock)
            conn.set_server_name("localhost")
            conn.negotiate()
            assert conn.get_actual_protocol_version() == version
            assert conn.send(b"hello from s2n\n") == 15
            got = b""
            while not got.endswith(b"\n"):
                got += conn.recv(100)
            assert got == b"n2s morf olleh\n"  # the server reversed what it received
    finally:
        proc.kill()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()


def _s2n_server_once(pki, lsock, handler, scfg=None):
    sock, _ = lsock.accept()
    with sock:
        conn = s2n.Connection(s2n.Mode.SERVER, scfg or server_config(pki))
        conn.set_fd(sock)
        conn.set_blinding(s2n.Blinding.SELF_SERVICE)
        conn.negotiate()
        return handler(conn)


@pytest.mark.parametrize("flag, version", VERSIONS)
def test_openssl_s_client_against_s2n_server(pki, flag, version):
    with socket.create_server(("127.0.0.1", 0)) as lsock:
        port = lsock.getsockname()[1]

        def handler(conn):
            got = b""
            while not got.endswith(b"\n"):
                got += conn.recv(100)
            conn.send(got.upper())
            conn.shutdown_send()
            return got, conn.get_actual_protocol_version()

        def client():
            return subprocess.run(
                ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost",
                 "-CAfile", str(pki.path("ca.pem")), "-verify_return_error", flag, "-quiet"],
                input=b"ping from openssl\n", capture_output=True, timeout=30)

        (got, negotiated), proc = run_both(lambda: _s2n_server_once(pki, lsock, handler), client)
    assert got == b"ping from openssl\n"
    assert negotiated == version
    assert b"PING FROM OPENSSL" in proc.stdout


@pytest.mark.parametrize("maximum", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_python_ssl_client_against_s2n_server(pki, maximum):
    cctx = ssl.create_default_context(cafile=str(pki.path("ca.pem")))
    cctx.maximum_version = maximum
    payload = os.urandom(1 << 20)
    with socket.create_server(("127.0.0.1", 0)) as lsock:
        def handler(conn):
            got = bytearray()
            while len(got) < len(payload):
                got += conn.recv(65536)
            view = memoryview(bytes(got))
            while view:
                view = view[conn.send(view):]
            return bytes(got)

        def client():
            with cctx.wrap_socket(socket.create_connection(lsock.getsockname()),
                                  server_hostname="localhost") as c:
                c.sendall(payload)
                back = bytearray()
                while len(back) < len(payload):
                    back += c.recv(65536)
                return bytes(back), c.version()

        got, (back, version) = run_both(lambda: _s2n_server_once(pki, lsock, handler), client)
    assert got == payload and back == payload
    assert version == ("TLSv1.3" if maximum == ssl.TLSVersion.TLSv1_3 else "TLSv1.2")


def test_s2n_client_against_python_ssl_server(pki):
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(pki.path("server-rsa.pem"), pki.path("server-rsa.key"))
    with socket.create_server(("127.0.0.1", 0)) as lsock:
        def server():
            sock, _ = lsock.accept()
            with sctx.wrap_socket(sock, server_side=True) as t:
                data = t.recv(100)
                t.sendall(data[::-1])

        def client():
            with socket.create_connection(lsock.getsockname()) as sock:
                conn = s2n.Connection(s2n.Mode.CLIENT, client_config(pki))
                conn.set_fd(sock)
                conn.set_server_name("localhost")
                conn.negotiate()
                conn.send(b"abcdef")
                return conn.recv(100), conn.get_cipher()

        _, (data, cipher) = run_both(server, client)
    assert data == b"fedcba" and cipher.startswith("TLS_")


BAD_INPUTS = {
    "garbage": os.urandom(1024),
    "truncated_client_hello": b"\x16\x03\x01\x00\x08\x01\x00\x00\x04\x03\x03\x00\x00",
    "http_request": b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
}


def test_bad_input_raises_promptly_and_the_server_keeps_serving(pki):
    """A small accept loop (as a user would write it): each bad client makes
    negotiate() raise an S2NError at once (self-service blinding), and the
    next good client is served."""
    scfg = server_config(pki)
    results = []
    with socket.create_server(("127.0.0.1", 0)) as lsock:
        addr = lsock.getsockname()

        def serve(n):
            for _ in range(n):
                sock, _ = lsock.accept()
                with sock:
                    conn = s2n.Connection(s2n.Mode.SERVER, scfg)
                    conn.set_fd(sock)
                    conn.set_blinding(s2n.Blinding.SELF_SERVICE)
                    try:
                        conn.negotiate()
                        conn.send(conn.recv(100))
                        conn.shutdown_send()
                        results.append("ok")
                    except s2n.S2NError as e:
                        results.append(type(e).__name__)
                    finally:
                        conn.free()

        t = threading.Thread(target=serve, args=(len(BAD_INPUTS) + 1,), daemon=True)
        t.start()
        for data in BAD_INPUTS.values():
            with socket.create_connection(addr) as raw:
                raw.sendall(data)
                raw.shutdown(socket.SHUT_WR)  # the peer then sees the end of it
                raw.settimeout(10)
                try:
                    while raw.recv(4096):
                        pass
                except ConnectionResetError:
                    pass  # the server closed with our bytes unread: a reset, not a FIN
        with socket.create_connection(addr) as sock:
            conn = s2n.Connection(s2n.Mode.CLIENT, client_config(pki))
            conn.set_fd(sock)
            conn.set_server_name("localhost")
            conn.negotiate()
            conn.send(b"still serving")
            assert conn.recv(100) == b"still serving"
        t.join(10)
        assert not t.is_alive()
    assert results[-1] == "ok"
    assert len(results) == 4 and all(r != "ok" for r in results[:3]), results
