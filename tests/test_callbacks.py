"""Chapter "Custom IO Callbacks": Python callables as s2n-tls's send/recv."""

from __future__ import annotations

import errno
import socket

import pytest

import s2n
from conftest import client_config, run_both, server_config


class Pipe:
    """One direction of an in-memory transport; empty means "would block"."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.closed = False

    def send(self, data: memoryview) -> int:
        self.buf += data
        return len(data)

    def recv(self, out: memoryview) -> int:
        if not self.buf:
            if self.closed:
                return 0
            raise BlockingIOError
        n = min(len(out), len(self.buf))
        out[:n] = self.buf[:n]
        del self.buf[:n]
        return n


def memory_pair(pki, scfg=None, ccfg=None):
    c2s, s2c = Pipe(), Pipe()
    srv = s2n.Connection(s2n.Mode.SERVER, scfg or server_config(pki))
    srv.set_recv_cb(c2s.recv)
    srv.set_send_cb(s2c.send)
    cli = s2n.Connection(s2n.Mode.CLIENT, ccfg or client_config(pki))
    cli.set_recv_cb(s2c.recv)
    cli.set_send_cb(c2s.send)
    cli.set_server_name("localhost")
    return cli, srv, c2s, s2c


def pump(*steps, limit=100):
    """Call each step until all return without BlockedError (one thread)."""
    done = [False] * len(steps)
    for _ in range(limit):
        for i, step in enumerate(steps):
            if not done[i]:
                try:
                    step()
                    done[i] = True
                except s2n.BlockedError as e:
                    assert e.blocked == s2n.Blocked.ON_READ
        if all(done):
            return
    raise AssertionError("no progress")


def test_handshake_and_data_through_callbacks(pki):
    cli, srv, _, _ = memory_pair(pki)
    with pytest.raises(s2n.BlockedError) as e:
        srv.negotiate()
    assert e.value.blocked == s2n.Blocked.ON_READ
    pump(cli.negotiate, srv.negotiate)
    assert cli.send(b"via callbacks") == 13
    assert srv.recv(100) == b"via callbacks"
    srv.send(b"x" * 50_000)
    got = b""
    while len(got) < 50_000:
        got += cli.recv(65536)
    assert got == b"x" * 50_000


def test_recv_callback_returning_zero_means_closed(pki):
    cli, srv, c2s, _ = memory_pair(pki)
    c2s.closed = True
    with pytest.raises(s2n.ClosedError):
        srv.negotiate()


def test_oserror_keeps_its_errno(pki):
    cli, srv, _, _ = memory_pair(pki)

    def broken(data):
        raise ConnectionResetError(errno.ECONNRESET, "reset by test")

    cli.set_send_cb(broken)
    with pytest.raises(s2n.IOError) as e:
        cli.negotiate()
    assert e.value.errno == errno.ECONNRESET
    assert isinstance(e.value.__cause__, ConnectionResetError)
    assert isinstance(e.value, OSError)


def test_other_exceptions_propagate_as_themselves(pki):
    cli, srv, _, _ = memory_pair(pki)

    class Boom(Exception):
        pass

    def boom(data):
        raise Boom("from send_cb")

    cli.set_send_cb(boom)
    with pytest.raises(Boom, match="from send_cb"):
        cli.negotiate()


def test_keyboard_interrupt_in_a_callback_propagates(pki):
    cli, srv, _, _ = memory_pair(pki)

    def interrupt(buf):
        raise KeyboardInterrupt

    cli.set_send_cb(lambda d: len(d))
    cli.set_recv_cb(interrupt)
    with pytest.raises(KeyboardInterrupt):
        cli.negotiate()


@pytest.mark.parametrize("bad, exc", [(None, TypeError), ("3", TypeError), (True, TypeError),
                                      (-5, ValueError), (10**9, ValueError)])
def test_wrong_return_values(pki, bad, exc):
    cli, srv, _, _ = memory_pair(pki)
    cli.set_send_cb(lambda data: bad)
    with pytest.raises(exc):
        cli.negotiate()


def test_callback_calling_its_own_connection_is_a_clear_error(pki):
    cli, srv, c2s, _ = memory_pair(pki)

    def reentrant(data):
        cli.send(b"from inside")
        return len(data)

    cli.set_send_cb(reentrant)
    with pytest.raises(s2n.UsageError) as e:
        cli.negotiate()
    assert e.value.name == "S2N_PY_ERR_REENTRANCY"


def test_callbacks_may_drive_another_connection(pki, socketpair):
    """TLS inside TLS: the inner connection's callbacks use the outer one."""
    a, b = socketpair
    outer_srv = s2n.Connection(s2n.Mode.SERVER, server_config(pki))
    outer_srv.set_fd(a)
    outer_cli = s2n.Connection(s2n.Mode.CLIENT, client_config(pki))
    outer_cli.set_fd(b)
    outer_cli.set_server_name("localhost")
    run_both(outer_srv.negotiate, outer_cli.negotiate)

    inner_srv = s2n.Connection(s2n.Mode.SERVER, server_config(pki))
    inner_srv.set_send_cb(lambda d: outer_srv.send(d))
    inner_srv.set_recv_cb(lambda buf: outer_srv.recv_into(buf))
    inner_cli = s2n.Connection(s2n.Mode.CLIENT, client_config(pki))
    inner_cli.set_send_cb(lambda d: outer_cli.send(d))
    inner_cli.set_recv_cb(lambda buf: outer_cli.recv_into(buf))
    inner_cli.set_server_name("localhost")
    run_both(inner_srv.negotiate, inner_cli.negotiate)
    inner_cli.send(b"nested")
    assert inner_srv.recv(10) == b"nested"


def test_callback_state_survives_many_calls(pki):
    """The memoryview handed to a callback is released after it returns."""
    kept = []
    cli, srv, c2s, s2c = memory_pair(pki)

    def keep(data):
        kept.append(data)
        return s2c.send(data)

    srv.set_send_cb(keep)
    pump(cli.negotiate, srv.negotiate)
    with pytest.raises(ValueError):
        kept[0].tobytes()  # released: no access to s2n-tls's memory after the call


def test_callback_must_be_callable(pki):
    conn = s2n.Connection(s2n.Mode.CLIENT)
    with pytest.raises(TypeError):
        conn.set_recv_cb(42)
    with pytest.raises(TypeError):
        s2n.Config().set_verify_host_callback("yes")


def test_socket_as_callbacks(pki):
    """Callbacks over a real socket (what a framework adapter would do)."""
    a, b = socket.socketpair()
    with a, b:
        srv = s2n.Connection(s2n.Mode.SERVER, server_config(pki))
        srv.set_recv_cb(a.recv_into)
        srv.set_send_cb(a.send)
        cli = s2n.Connection(s2n.Mode.CLIENT, client_config(pki))
        cli.set_fd(b)
        cli.set_server_name("localhost")
        run_both(srv.negotiate, cli.negotiate)
        cli.send(b"mixed io")
        assert srv.recv(100) == b"mixed io"
