"""The one retry state machine shared by every IO layer.

Each operation is a generator: it calls the Connection, and whenever s2n-tls
reports BLOCKED it yields what it waits for (`Blocked.ON_READ`/`ON_WRITE`) or
a `Sleep` (the blinding delay), then retries when resumed. Its return value
is the operation's result. The layers differ only in how they wait:

- `TLSSocket` waits with a selector and a deadline (`run_sync`);
- `s2n.asyncio` waits with loop.add_reader/add_writer and the loop's timers;
- the sans-IO `MemoryBIO` mode does not wait: the BlockedError reaches the
  caller, who moves bytes and calls again.

So the rules of s2n-tls's IO (a blocked send is retried with the remaining
bytes only, recv after negotiate may hold buffered data, the blinding delay is
honoured before close) are written once, here.
"""

from __future__ import annotations

from typing import Any, Callable, Generator, Optional, TypeVar, Union

from ._enums import Blocked
from ._errors import BlockedError, IOError, S2NError  # noqa: A004 - s2n.IOError
from .connection import Connection


class Sleep(float):
    """Seconds to wait before the next step (self-service blinding)."""


Step = Union[Blocked, Sleep]
_T = TypeVar("_T")
Steps = Generator[Step, None, _T]  # its return value: what the operation gives


# The layers wait on what s2n-tls reports without an exception per wait:
# Connection's `_negotiate`/`_send_data`/`_recv_data_into` with nb=True give
# the blocked direction as a number.
_B = {int(b): b for b in Blocked}


def handshake(conn: Connection) -> Steps[None]:
    while True:
        try:
            blocked = conn._negotiate(True)
        except IOError:
            # A TLS 1.3 server sends its session tickets once the handshake is
            # done: a client that closed at once makes that write fail. The
            # handshake stands (as with OpenSSL); the next read or write
            # reports the closed transport.
            if conn.handshake_complete():
                return None
            raise
        if not blocked:
            return None
        yield _B[blocked]


def early_data_then_handshake(conn: Connection, data: bytes) -> Steps[int]:
    """A client's handshake that first sends `data` as TLS 1.3 early data, as
    much as the session allows; returns the bytes sent early. The caller
    applies the retry rule: unless get_early_data_status() is END, all of
    `data` goes again as normal data (else `data[sent:]`)."""
    from ._lib import lib

    sent = 0
    while sent < len(data):
        moved, blocked = conn._early_data(lib.py_send_early_data, memoryview(data)[sent:],
                                          "send_early_data", nb=True)
        sent += moved
        if not blocked:
            break
        if not moved:
            yield _B[blocked]
    yield from handshake(conn)
    return sent


def early_data_received_then_handshake(conn: Connection) -> Steps[bytes]:
    """A server's handshake that first reads any TLS 1.3 early data (without
    that s2n-tls rejects it); returns the early bytes."""
    from ._lib import lib

    got = bytearray()
    buf = bytearray(16384)
    while True:
        moved, blocked = conn._early_data(lib.py_recv_early_data, buf, "recv_early_data", nb=True)
        got += buf[:moved]
        if not blocked:
            break
        if not moved:
            yield _B[blocked]
    yield from handshake(conn)
    return bytes(got)


def recv(conn: Connection, max_bytes: int, blocked: Optional[Blocked] = None) -> Steps[bytes]:
    """Until at least one byte (or EOF: b"") is received. `blocked`: what a
    first attempt the caller made already reported (wait before retrying)."""
    if blocked is not None:
        yield blocked
    while True:
        data = conn._recv_data(max_bytes, True)
        if not isinstance(data, int):
            return data
        yield _B[-data]


def recv_into(conn: Connection, buf: Union[bytearray, memoryview], nbytes: int = 0,
              blocked: Optional[Blocked] = None) -> Steps[int]:
    """Until at least one byte (or EOF: 0) is received."""
    if blocked is not None:
        yield blocked
    while True:
        n = conn._recv_data_into(buf, nbytes, True)
        if n >= 0:
            return n
        yield _B[-n]


def send(conn: Connection, data: Any, blocked: Optional[Blocked] = None) -> Steps[int]:
    """Until at least one byte is taken; returns the count."""
    if blocked is not None:
        yield blocked
    while True:
        n = conn._send_data(data, True)
        if n >= 0:
            return n
        yield _B[-n]


def sendall(conn: Connection, data: Any, blocked: Optional[Blocked] = None) -> Steps[int]:
    """Every byte, retrying with only what is left after each partial write."""
    if blocked is not None:
        yield blocked
    view = memoryview(data).cast("B") if not isinstance(data, bytes) else memoryview(data)
    sent = 0
    total = len(view)
    while sent < total:
        n = conn._send_data(view[sent:], True)
        if n >= 0:
            sent += n
        else:
            yield _B[-n]
    return total


def blinding_delay(conn: Connection) -> Steps[None]:
    """Wait out the self-service blinding delay left by an error, if any."""
    try:
        delay = conn.get_delay()
    except S2NError:
        return None
    if delay:
        yield Sleep(delay / 1e9)
    return None


def close_notify(conn: Connection, blind: bool = True) -> Steps[bool]:
    """Send close_notify (half-close), or the alert a failed handshake queued.
    `blind`: first wait out the blinding delay (servers). A client has
    nothing to blind: with a delay pending it sends nothing and returns at
    once (s2n-tls refuses to send before the delay). Returns True if it was
    sent; False if the connection can no longer send one."""
    if not blind:
        try:
            if conn.get_delay():
                return False
        except S2NError:
            return False
    yield from blinding_delay(conn)
    while True:
        try:
            conn.shutdown_send()
            return True
        except BlockedError as e:
            if e.blocked != Blocked.ON_WRITE:
                return True  # s2n-tls queued it; nothing more to write from here
            yield e.blocked
        except S2NError:
            return False


def unwrap(conn: Connection) -> Steps[None]:
    """Full TLS shutdown: close_notify both ways (for unwrap())."""
    yield from blinding_delay(conn)
    while True:
        try:
            conn.shutdown()
            return None
        except BlockedError as e:
            yield e.blocked


def run_sync(steps: Steps[_T], wait: Callable[[Step], object]) -> _T:
    """Drive a step generator, calling wait(step) for each step it yields."""
    try:
        step = next(steps)
        while True:
            wait(step)
            step = steps.send(None)
    except StopIteration as stop:
        result: _T = stop.value
        return result
    finally:
        steps.close()

