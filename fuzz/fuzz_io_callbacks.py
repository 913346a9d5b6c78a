"""Harness: the IO callback trampolines (set_recv_cb/set_send_cb) under
callbacks that misbehave as the fuzzer's bytes say.

A client whose transport is two Python callbacks talks to a real server on
MemoryBIOs. Each time s2n-tls calls a callback, the next input byte picks
what it does:

  0          behave: move the bytes (recv: up to what is there; 0 at EOF,
             BlockingIOError when nothing is there)
  1          behave, but move at most the next byte's count (short IO)
  2          return 0 (recv: EOF; send: nothing taken)
  3          return a negative number
  4          return more than the buffer (length + 1 .. huge)
  5          return a wrong type (None, float, str, bool, bytes, an int subclass)
  6          raise BlockingIOError
  7          raise an OSError with an errno (EPIPE, ECONNRESET, EAGAIN, EINTR, 0)
  8          raise something else (ValueError, RuntimeError, KeyboardInterrupt,
             SystemExit, MemoryError, an Exception subclass)
  9          call back into the connection (re-entrancy: negotiate, send,
             recv, free, wipe, shutdown, set_recv_cb, set_memory_io, ...) and
             return its result or raise
  10         keep the buffer view and write/read it after returning
  11         write junk: recv fills the buffer with the next bytes as "peer" data
  12         keep a view derived from the buffer (view[1:]), written after returning
  else       behave

The even bytes of the input pick the driving calls (negotiate, send, recv,
shutdown_send, shutdown, get_delay) and their sizes; the odd bytes are the
callbacks' choices above.

Invariant: a driving call returns or raises a documented exception: an
s2n.S2NError (an OSError from a callback becomes s2n.IOError with the
callback's exception as __cause__), the very exception the callback raised
(not an OSError), or TypeError/ValueError for a callback's bad return value.
Nothing else, no crash, no ASan report.
"""

from __future__ import annotations

import errno
import sys

from ._common import check_blinding, new_conn, replay_main, s2n, server_config, client_config

_configs: dict = {}


def _config(server: bool):
    if server not in _configs:
        _configs[server] = server_config() if server else client_config()
    return _configs[server]


class Bytes:
    """The fuzzer's input as a stream of choices (zeros when it runs out)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            return 0
        b = self.data[self.pos]
        self.pos += 1
        return b

    def take(self, n: int) -> bytes:
        out = self.data[self.pos:self.pos + n]
        self.pos += len(out)
        return out

    @property
    def done(self) -> bool:
        return self.pos >= len(self.data)


class MyInt(int):
    pass


class Custom(Exception):
    pass


_WRONG = (None, 1.5, "3", True, b"\x01", MyInt(1), [1], object())
_OSERRORS = (errno.EPIPE, errno.ECONNRESET, errno.EAGAIN, errno.EINTR, 0, None)
_OTHER = (ValueError, RuntimeError, KeyboardInterrupt, SystemExit, MemoryError, Custom,
          StopIteration, GeneratorExit)


class Transport:
    """The client's hostile callbacks; the server is a well-behaved peer on MemoryBIOs."""

    def __init__(self, src: Bytes, conn, s_in, s_out) -> None:
        self.src = src
        self.conn = conn
        self.s_in = s_in  # what the client sends goes here
        self.s_out = s_out  # what the server sent comes from here
        self.raised = []  # every exception a callback raised
        self.kept = []  # views kept past the call

    def _raise(self, exc: BaseException):
        self.raised.append(exc)
        raise exc

    def _hostile(self, choice: int, view, length: int, recv: bool):
        """Returns (handled, value)."""
        src = self.src
        if choice == 2:
            return True, 0
        if choice == 3:
            return True, -1 - src.byte()
        if choice == 4:
            return True, length + 1 + (src.byte() << (src.byte() % 64))
        if choice == 5:
            return True, _WRONG[src.byte() % len(_WRONG)]
        if choice == 6:
            self._raise(BlockingIOError(errno.EAGAIN, "would block"))
        if choice == 7:
            code = _OSERRORS[src.byte() % len(_OSERRORS)]
            self._raise(OSError(code, "hostile") if code is not None else OSError("hostile"))
        if choice == 8:
            self._raise(_OTHER[src.byte() % len(_OTHER)]("hostile"))
        if choice == 9:
            conn = self.conn
            calls = (conn.negotiate, lambda: conn.send(b"re"), lambda: conn.recv(10), conn.free,
                     conn.wipe, conn.shutdown, conn.handshake_complete, conn.get_delay,
                     conn.shutdown_send, lambda: conn.set_recv_cb(self.recv),
                     lambda: conn.set_send_cb(self.send),
                     lambda: conn.set_memory_io(self.s_out, self.s_in), conn.peek)
            call = calls[src.byte() % len(calls)]
            try:
                out = call()
            except BaseException as e:  # noqa: BLE001 - handed on as the callback's own
                self._raise(e)
            return True, out if type(out) is int and 0 <= out <= length else 0
        if choice == 10:
            self.kept.append(view)
            return True, 0 if recv else min(length, 1)
        if choice == 12 and length > 1:
            # a view derived from the buffer outlives the call (the trampoline
            # cannot release it): later writes must never reach s2n-tls's data
            self.kept.append(view[1:])
            return True, 0 if recv else 1
        if choice == 11 and recv:
            junk = src.take(min(length, 1 + src.byte()))
            view[:len(junk)] = junk
            return True, len(junk)
        return False, None

    def recv(self, view) -> int:
        length = len(view)
        choice = self.src.byte()
        limit = length
        if choice == 1:
            limit = max(1, min(length, self.src.byte()))
        else:
            handled, value = self._hostile(choice, view, length, True)
            if handled:
                return value
        n = self.s_out.readinto(view[:limit])
        if n == 0:
            if self.s_out.eof:
                return 0
            self._raise(BlockingIOError(errno.EAGAIN, "nothing yet"))
        return n

    def send(self, data) -> int:
        length = len(data)
        choice = self.src.byte()
        limit = length
        if choice == 1:
            limit = max(1, min(length, self.src.byte()))
        else:
            handled, value = self._hostile(choice, data, length, False)
            if handled:
                return value
        self.s_in.write(data[:limit])
        return limit


def _documented(exc: BaseException, transport: Transport) -> bool:
    if isinstance(exc, s2n.S2NError):
        if isinstance(exc, s2n.IOError) and exc.__cause__ is not None:
            return any(exc.__cause__ is r for r in transport.raised)
        return True
    if any(exc is r for r in transport.raised):
        return not isinstance(exc, OSError) or isinstance(exc, BlockingIOError)
    if type(exc) in (TypeError, ValueError) and str(exc).startswith("IO callback"):
        return True
    return False


def _drive(call, transport: Transport):
    try:
        return call()
    except BaseException as exc:  # noqa: BLE001 - checked here
        if not _documented(exc, transport):
            raise AssertionError(f"undocumented exception from {call}: {exc!r}") from exc
        return exc


def _write_kept(t: Transport) -> None:
    """Kept views: revoked, read-only or detached, never s2n-tls's memory."""
    for v in t.kept:
        try:
            v[0:1] = b"k"
        except (ValueError, TypeError, IndexError):
            pass


def one_input(data: bytes) -> None:
    # Two streams, so that a mutation of one choice leaves the others in place:
    # even bytes pick the driving calls (and their sizes), odd bytes what
    # each callback does.
    src = Bytes(data[0::2])
    srv, s_in, s_out = new_conn(s2n.Mode.SERVER, _config(True))
    cli = s2n.Connection(s2n.Mode.CLIENT, _config(False))
    cli.set_blinding(s2n.Blinding.SELF_SERVICE)
    cli.set_server_name("localhost")
    t = Transport(Bytes(data[1::2]), cli, s_in, s_out)
    cli.set_recv_cb(t.recv)
    cli.set_send_cb(t.send)
    server_done = False
    for _ in range(40):
        op = src.byte() % 8
        if op in (0, 1, 2):
            _drive(cli.negotiate, t)
        elif op == 3:
            _drive(lambda: cli.send(b"d" * (1 + src.byte() * 8)), t)
        elif op == 4:
            _drive(lambda: cli.recv(1 + src.byte() * 64), t)
        elif op == 5:
            _drive(cli.shutdown_send, t)
        elif op == 6:
            _drive(cli.shutdown, t)
        elif op == 7:
            _drive(cli.get_delay, t)
            check_blinding(cli)
        _write_kept(t)
        # The server: a correct peer, driven after each client step.
        try:
            if not server_done:
                srv.negotiate()
                server_done = True
            else:
                got = srv.recv(4096)
                if got:
                    srv.send(got)
        except s2n.S2NError:
            pass
        if src.done:
            break
    _write_kept(t)
    _drive(cli.free, t)
    srv.free()


def _interleave(ops: list, callbacks: list) -> bytes:
    n = max(len(ops), len(callbacks))
    ops = ops + [0] * (n - len(ops))
    callbacks = callbacks + [0] * (n - len(callbacks))
    return bytes(b for pair in zip(ops, callbacks) for b in pair)


# negotiate x4, then send/recv (with a size byte each), get_delay, more
# sends and receives, half-close, recv, shutdown, get_delay
_SCRIPT = [0, 0, 0, 0, 3, 20, 4, 10, 3, 200, 4, 1, 3, 2, 4, 100, 7, 3, 5, 4, 50, 3, 255, 4, 255,
           5, 4, 50, 6, 7]


def seed_inputs() -> list:
    """Seeds: a well-behaved handshake and exchange, then the same with one
    hostile callback choice early (handshake) or late (exchange)."""
    seeds = [_interleave(_SCRIPT, []), _interleave(_SCRIPT, [1, 5, 1, 3, 1, 7])]
    for choice in range(2, 13):
        seeds.append(_interleave(_SCRIPT, [0, 0, choice, 1, 2]))
        seeds.append(_interleave(_SCRIPT, [0] * 12 + [choice, 3, 5]))
    return seeds


def main() -> None:
    if replay_main(one_input):
        return
    import atheris

    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
