"""Chapter "Basic IO setup" and "Blocking or Non-Blocking?": fd IO."""

from __future__ import annotations

import errno
import os
import selectors
import socket
import threading

import pytest

import s2n
from conftest import client_config, connected_pair, run_both, server_config


def test_set_fd_socket_objects_and_ints(pki, socketpair):
    a, b = socketpair
    srv = s2n.Connection(s2n.Mode.SERVER, server_config(pki))
    srv.set_fd(a.fileno())  # an int
    cli = s2n.Connection(s2n.Mode.CLIENT, client_config(pki))
    cli.set_fd(b)  # an object with fileno()
    cli.set_server_name("localhost")
    run_both(srv.negotiate, cli.negotiate)
    assert cli.send(b"up") == 2 and srv.recv(10) == b"up"
    assert srv.send(b"down") == 4 and cli.recv(10) == b"down"


def test_set_fd_rejects_non_fds(pki):
    conn = s2n.Connection(s2n.Mode.CLIENT)
    with pytest.raises(ValueError):
        conn.set_fd(-1)
    with pytest.raises(AttributeError):
        conn.set_fd("not a socket")


def test_separate_read_and_write_fds_over_two_pipes(pki):
    c2s_r, c2s_w = os.pipe()
    s2c_r, s2c_w = os.pipe()
    try:
        srv = s2n.Connection(s2n.Mode.SERVER, server_config(pki))
        srv.set_read_fd(c2s_r)
        srv.set_write_fd(s2c_w)
        cli = s2n.Connection(s2n.Mode.CLIENT, client_config(pki))
        cli.set_read_fd(s2c_r)
        cli.set_write_fd(c2s_w)
        cli.set_server_name("localhost")
        run_both(srv.negotiate, cli.negotiate)
        cli.send(b"through pipe one")
        assert srv.recv(100) == b"through pipe one"
        srv.send(b"and pipe two")
        assert cli.recv(100) == b"and pipe two"
    finally:
        for fd in (c2s_r, c2s_w, s2c_r, s2c_w):
            os.close(fd)


def test_corked_io_on_tcp(pki):
    with socket.create_server(("127.0.0.1", 0)) as lsock:
        csock = socket.create_connection(lsock.getsockname())
        ssock, _ = lsock.accept()
        with csock, ssock:
            srv = s2n.Connection(s2n.Mode.SERVER, server_config(pki))
            srv.set_fd(ssock)
            srv.use_corked_io()
            cli = s2n.Connection(s2n.Mode.CLIENT, client_config(pki))
            cli.set_fd(csock)
            cli.use_corked_io()
            cli.set_server_name("localhost")
            run_both(srv.negotiate, cli.negotiate)
            cli.send(b"corked")
            assert srv.recv(10) == b"corked"
            # cork is only for the handshake: data must not be held back after it
            assert csock.getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK) == 0


def test_write_after_peer_closed_raises_not_kills(pki, socketpair):
    a, b = socketpair
    cli, srv = connected_pair(pki, a, b)
    a.close()  # the server's end of the transport is gone
    with pytest.raises((s2n.IOError, s2n.ClosedError)) as e:
        for _ in range(100):  # the first writes may still fit in the kernel buffer
            cli.send(b"x" * 16384)
    if isinstance(e.value, s2n.IOError):
        assert e.value.errno in (errno.EPIPE, errno.ECONNRESET)
        assert isinstance(e.value, OSError)


def _drive_nonblocking(conns_and_socks, step, limit=10_000):
    """Call step(conn) for each until all return truthy, waiting on .blocked."""
    sel = selectors.DefaultSelector()
    seen = set()
    done = {id(c): False for c, _ in conns_and_socks}
    try:
        for _ in range(limit):
            for conn, sock in conns_and_socks:
                if done[id(conn)]:
                    continue
                try:
                    done[id(conn)] = step(conn) or True
                except s2n.BlockedError as e:
                    seen.add(e.blocked)
                    assert e.blocked in (s2n.Blocked.ON_READ, s2n.Blocked.ON_WRITE)
            if all(done.values()):
                return seen
            for conn, sock in conns_and_socks:
                if not done[id(conn)]:
                    sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
            sel.select(timeout=1)
            for key in list(sel.get_map().values()):
                sel.unregister(key.fileobj)
        raise AssertionError("non-blocking loop did not finish")
    finally:
        sel.close()


def test_nonblocking_handshake_and_data(pki, socketpair):
    a, b = socketpair
    a.setblocking(False)
    b.setblocking(False)
    srv = s2n.Connection(s2n.Mode.SERVER, server_config(pki))
    srv.set_fd(a)
    cli = s2n.Connection(s2n.Mode.CLIENT, client_config(pki))
    cli.set_fd(b)
    cli.set_server_name("localhost")
    # one thread drives both: only possible because nothing blocks
    with pytest.raises(s2n.BlockedError) as e:
        srv.negotiate()  # nothing from the client yet
    assert e.value.blocked == s2n.Blocked.ON_READ
    assert e.value.type == s2n.ErrorType.BLOCKED and e.value.name == "S2N_ERR_IO_BLOCKED"
    seen = _drive_nonblocking([(srv, a), (cli, b)], lambda c: c.negotiate())
    assert s2n.Blocked.ON_READ in seen
    with pytest.raises(s2n.BlockedError) as e:
        srv.recv(10)
    assert e.value.blocked == s2n.Blocked.ON_READ
    assert cli.send(b"non-blocking") == 12
    assert srv.recv(100) == b"non-blocking"


def test_blocking_calls_release_the_gil(pki, socketpair):
    """The server blocks in C (negotiate, then recv) waiting for the client
    that only this thread can run: without the GIL released this deadlocks."""
    a, b = socketpair
    srv = s2n.Connection(s2n.Mode.SERVER, server_config(pki))
    srv.set_fd(a)
    entered = threading.Event()
    got = {}

    def serve():
        entered.set()
        srv.negotiate()
        got["data"] = srv.recv(100)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    assert entered.wait(10)
    # Python keeps running here while the server thread waits inside C.
    total = sum(range(100_000))
    cli = s2n.Connection(s2n.Mode.CLIENT, client_config(pki))
    cli.set_fd(b)
    cli.set_server_name("localhost")
    cli.negotiate()
    cli.send(b"gil")
    t.join(10)
    assert not t.is_alive() and got["data"] == b"gil" and total == 4999950000
