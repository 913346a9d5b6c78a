"""TLSSocket: wrap_socket, timeouts, non-blocking use, makefile, close, unwrap."""

from __future__ import annotations

import hashlib
import os
import select
import signal
import socket
import ssl

import pytest

import s2n
from conftest import client_config, run_both, server_config


def ssl_server_ctx(pki):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.path("server.pem"), pki.path("server.key"))
    return ctx


def ssl_client_ctx(pki):
    return ssl.create_default_context(cafile=str(pki.path("ca.pem")))


def recv_exact(sock, n):
    h, got = hashlib.sha256(), 0
    while got < n:
        data = sock.recv(65536)
        assert data, f"EOF after {got} of {n} bytes"
        h.update(data)
        got += len(data)
    return h.hexdigest()


@pytest.mark.parametrize("size", [0, 1, 16384, 8 * 1024 * 1024])
@pytest.mark.parametrize("peer", ["ssl", "s2n"])
def test_client_transfer_integrity(pki, size, peer):
    payload = os.urandom(size)
    with socket.create_server(("127.0.0.1", 0)) as lsock:
        def server():
            sock, _ = lsock.accept()
            if peer == "ssl":
                tls = ssl_server_ctx(pki).wrap_socket(sock, server_side=True)
            else:
                tls = s2n.wrap_socket(sock, server_config(pki), server_side=True)
            with tls:
                digest = recv_exact(tls, size)
                tls.sendall(payload)  # and back the other way
                return digest

        def client():
            sock = socket.create_connection(lsock.getsockname())
            with s2n.wrap_socket(sock, client_config(pki), server_hostname="localhost") as tls:
                tls.sendall(payload)
                return recv_exact(tls, size), tls.version()

        digest, (back, version) = run_both(server, client, timeout=60)
    want = hashlib.sha256(payload).hexdigest()
    assert digest == want and back == want and version == "TLSv1.3"


def test_s2n_server_with_ssl_client(pki):
    with socket.create_server(("127.0.0.1", 0)) as lsock:
        def server():
            sock, _ = lsock.accept()
            with s2n.wrap_socket(sock, server_config(pki), server_side=True) as tls:
                f = tls.makefile("rwb")
                line = f.readline()
                f.write(line.upper())
                f.flush()
                return line, tls.cipher(), tls.getpeercert()

        def client():
            with ssl_client_ctx(pki).wrap_socket(socket.create_connection(lsock.getsockname()),
                                                 server_hostname="localhost") as c:
                c.sendall(b"a line of text\nand more")
                return c.recv(100)

        (line, cipher, peercert), reply = run_both(server, client)
    assert line == b"a line of text\n" and reply == b"A LINE OF TEXT\n"
    assert cipher == ("TLS_AES_128_GCM_SHA256", "TLSv1.3", 128)
    assert peercert is None  # no client certificate


def test_info_methods(pki):
    a, b = socket.socketpair()
    scfg = server_config(pki)
    scfg.set_protocol_preferences(["h2"])
    ccfg = client_config(pki)
    ccfg.set_protocol_preferences(["h2", "http/1.1"])
    srv, cli = run_both(lambda: s2n.wrap_socket(a, scfg, server_side=True),
                        lambda: s2n.wrap_socket(b, ccfg, server_hostname="localhost"))
    with srv, cli:
        assert cli.selected_alpn_protocol() == "h2" == srv.selected_alpn_protocol()
        assert cli.getpeercert() == ssl.PEM_cert_to_DER_cert(pki.path("server.pem").read_text())
        assert isinstance(cli.connection, s2n.Connection)
        assert cli.fileno() == b.fileno()
        with pytest.raises(ValueError):
            cli.getpeercert(binary_form=False)


def test_handshake_timeout(pki):
    """A server that accepts and never answers: the handshake times out."""
    with socket.create_server(("127.0.0.1", 0)) as lsock:
        sock = socket.create_connection(lsock.getsockname())
        peer, _ = lsock.accept()
        with peer:
            sock.settimeout(0.5)
            with pytest.raises(TimeoutError):
                s2n.wrap_socket(sock, client_config(pki), server_hostname="localhost")
            assert sock.fileno() == -1  # closed by the failed wrap


def test_recv_timeout_then_data(pki):
    a, b = socket.socketpair()
    srv, cli = run_both(lambda: s2n.wrap_socket(a, server_config(pki), server_side=True),
                        lambda: s2n.wrap_socket(b, client_config(pki), server_hostname="localhost"))
    with srv, cli:
        cli.settimeout(0.2)
        assert cli.gettimeout() == 0.2
        with pytest.raises(TimeoutError):
            cli.recv(10)
        srv.sendall(b"late")
        assert cli.recv(10) == b"late"


def test_nonblocking_use_with_a_selector(pki):
    a, b = socket.socketpair()
    srv, cli = run_both(lambda: s2n.wrap_socket(a, server_config(pki), server_side=True),
                        lambda: s2n.wrap_socket(b, client_config(pki), server_hostname="localhost"))
    with srv, cli:
        cli.setblocking(False)
        assert not cli.getblocking()
        with pytest.raises(BlockingIOError) as e:
            cli.recv(10)
        assert isinstance(e.value, s2n.WantReadError) and e.value.blocked == s2n.Blocked.ON_READ
        srv.sendall(b"ready")
        r, _, _ = select.select([cli], [], [], 5)
        assert r == [cli]
        assert cli.recv(10) == b"ready"


def test_peer_vanishes_mid_handshake(pki):
    with socket.create_server(("127.0.0.1", 0)) as lsock:
        sock = socket.create_connection(lsock.getsockname())
        peer, _ = lsock.accept()
        sock.settimeout(10)
        tls = s2n.wrap_socket(sock, client_config(pki), server_hostname="localhost",
                              do_handshake_on_connect=False)

        def handshake():
            with pytest.raises(s2n.S2NError) as e:
                tls.do_handshake()
            return e.value

        def vanish():
            assert peer.recv(100)  # part of the ClientHello, then gone
            peer.close()

        err, _ = run_both(handshake, vanish)
        # EOF, or RST when the peer closed with part of the ClientHello unread
        assert isinstance(err, (s2n.ClosedError, s2n.IOError))
        tls.close()


def test_garbage_from_the_server(pki):
    with socket.create_server(("127.0.0.1", 0)) as lsock:
        sock = socket.create_connection(lsock.getsockname())
        peer, _ = lsock.accept()
        with peer:
            peer.sendall(os.urandom(2048))
            peer.shutdown(socket.SHUT_WR)  # random bytes may announce a longer record
            sock.settimeout(5)
            with pytest.raises(s2n.S2NError) as e:
                s2n.wrap_socket(sock, client_config(pki), server_hostname="localhost")
            assert not isinstance(e.value, s2n.BlockedError)


def test_close_sends_close_notify(pki):
    with socket.create_server(("127.0.0.1", 0)) as lsock:
        def server():
            sock, _ = lsock.accept()
            tls = s2n.wrap_socket(sock, server_config(pki), server_side=True)
            tls.sendall(b"goodbye")
            tls.close()
            tls.close()  # idempotent

        def client():
            with ssl_client_ctx(pki).wrap_socket(socket.create_connection(lsock.getsockname()),
                                                 server_hostname="localhost",
                                                 suppress_ragged_eofs=False) as c:
                data = b""
                while True:
                    chunk = c.recv(100)  # SSLEOFError if no close_notify came
                    if not chunk:
                        return data
                    data += chunk

        _, data = run_both(server, client)
    assert data == b"goodbye"


def test_ragged_eof_is_an_error_unless_suppressed(pki):
    a, b = socket.socketpair()
    srv, cli = run_both(lambda: s2n.wrap_socket(a, server_config(pki), server_side=True),
                        lambda: s2n.wrap_socket(b, client_config(pki), server_hostname="localhost"))
    a.shutdown(socket.SHUT_RDWR)  # TCP goes away, no close_notify
    with pytest.raises(s2n.ClosedError):
        cli.recv(10)
    cli.suppress_ragged_eofs = True
    assert cli.recv(10) == b""
    srv.close()
    cli.close()


def test_unwrap_returns_the_plain_socket(pki):
    a, b = socket.socketpair()
    srv, cli = run_both(lambda: s2n.wrap_socket(a, server_config(pki), server_side=True),
                        lambda: s2n.wrap_socket(b, client_config(pki), server_hostname="localhost"))
    cli.sendall(b"secret")
    assert srv.recv(10) == b"secret"
    plain_srv, plain_cli = run_both(srv.unwrap, cli.unwrap)
    with plain_srv, plain_cli:
        plain_cli.sendall(b"in the clear")
        assert plain_srv.recv(100) == b"in the clear"
    with pytest.raises(OSError):
        cli.recv(1)


def test_makefile_text_readline(pki):
    a, b = socket.socketpair()
    srv, cli = run_both(lambda: s2n.wrap_socket(a, server_config(pki), server_side=True),
                        lambda: s2n.wrap_socket(b, client_config(pki), server_hostname="localhost"))
    with srv, cli:
        srv.sendall(b"first line\nsecond line\n")
        f = cli.makefile("r", encoding="utf-8")
        assert f.readline() == "first line\n"
        assert f.readline() == "second line\n"
        w = srv.makefile("w")
        w.write("via text file\n")
        w.flush()
        assert f.readline() == "via text file\n"


def test_signal_interrupts_a_blocking_handshake(pki):
    """Ctrl-C (here: SIGALRM raising) reaches Python while the handshake
    waits for a silent peer with no timeout."""
    class Interrupted(Exception):
        pass

    def handler(signum, frame):
        raise Interrupted

    old = signal.signal(signal.SIGALRM, handler)
    try:
        with socket.create_server(("127.0.0.1", 0)) as lsock:
            sock = socket.create_connection(lsock.getsockname())
            peer, _ = lsock.accept()
            with peer:
                signal.setitimer(signal.ITIMER_REAL, 0.3)
                with pytest.raises(Interrupted):
                    s2n.wrap_socket(sock, client_config(pki), server_hostname="localhost")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_sendall_partial_writes_with_small_buffers(pki):
    a, b = socket.socketpair()
    for s in (a, b):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    srv, cli = run_both(lambda: s2n.wrap_socket(a, server_config(pki), server_side=True),
                        lambda: s2n.wrap_socket(b, client_config(pki), server_hostname="localhost"))
    payload = os.urandom(2 * 1024 * 1024 + 7)
    with srv, cli:
        digest, _ = run_both(lambda: recv_exact(srv, len(payload)), lambda: cli.sendall(payload))
    assert digest == hashlib.sha256(payload).hexdigest()
