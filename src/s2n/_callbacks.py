"""C -> Python trampolines for s2n-tls callbacks.

An exception must never cross C: cffi would only print it and s2n-tls would see
a generic failure. Each trampoline catches BaseException (Ctrl-C included),
stashes it, and returns failure. A callback always runs on the thread that
called negotiate/send/recv, so the stash is thread-local, and the driving call
takes it out and re-raises it once s2n-tls has returned.
"""

from __future__ import annotations

import errno as _errno
import threading
from typing import Callable, Optional

from ._lib import ffi

_pending = threading.local()

# errno values s2n-tls treats specially: EAGAIN means "blocked", EINTR is
# retried in a loop. A real failure must be reported with neither.
_SPECIAL = {_errno.EAGAIN, _errno.EWOULDBLOCK, _errno.EINTR, 0, None}


def stash(exc: BaseException) -> None:
    _pending.exc = exc


def pending() -> bool:
    return getattr(_pending, "exc", None) is not None


def take() -> Optional[BaseException]:
    exc = getattr(_pending, "exc", None)
    if exc is not None:
        _pending.exc = None
    return exc


class IOCallback:
    """What a connection's recv/send ctx points at (through ffi.new_handle)."""

    __slots__ = ("fn", "handle")

    def __init__(self, fn: Callable) -> None:
        if not callable(fn):
            raise TypeError(f"callback must be callable, not {type(fn).__name__}")
        self.fn = fn
        self.handle = ffi.new_handle(self)


def _run_io(ctx, view: memoryview, length: int) -> int:
    try:
        n = ffi.from_handle(ctx).fn(view)
        if type(n) is not int:  # bool and None are mistakes too
            raise TypeError(f"IO callback must return int, not {type(n).__name__}")
        if not 0 <= n <= length:
            raise ValueError(f"IO callback returned {n}, outside 0..{length}")
        return n
    except BlockingIOError:
        ffi.errno = _errno.EAGAIN
        return -1
    except OSError as e:
        stash(e)
        ffi.errno = e.errno if e.errno not in _SPECIAL else _errno.EIO
        return -1
    except BaseException as e:  # noqa: BLE001 - re-raised by the driving call
        stash(e)
        ffi.errno = _errno.EIO
        return -1
    finally:
        # The memory belongs to s2n-tls and is only valid during this call.
        try:
            view.release()
        except BufferError:
            pass


@ffi.def_extern(error=-1)
def py_recv_trampoline(ctx, buf, length):
    return _run_io(ctx, memoryview(ffi.buffer(buf, length)), length)


@ffi.def_extern(error=-1)
def py_send_trampoline(ctx, buf, length):
    return _run_io(ctx, memoryview(ffi.buffer(buf, length)).toreadonly(), length)


class VerifyHostCallback:
    """`fn(host_name: str) -> bool` decides whether a certificate name is acceptable."""

    __slots__ = ("fn", "handle")

    def __init__(self, fn: Callable[[str], bool]) -> None:
        if not callable(fn):
            raise TypeError(f"callback must be callable, not {type(fn).__name__}")
        self.fn = fn
        self.handle = ffi.new_handle(self)


@ffi.def_extern(error=0)
def py_verify_host_trampoline(host, length, data):
    try:
        name = ffi.unpack(host, length).decode("utf-8", errors="replace")
        return 1 if ffi.from_handle(data).fn(name) else 0
    except BaseException as e:  # noqa: BLE001 - re-raised by the driving call
        stash(e)
        return 0


class SessionTicketCallback:
    """`fn(ticket: bytes, lifetime: int)` receives each session ticket (clients)."""

    __slots__ = ("fn", "handle")

    def __init__(self, fn: Callable[[bytes, int], None]) -> None:
        if not callable(fn):
            raise TypeError(f"callback must be callable, not {type(fn).__name__}")
        self.fn = fn
        self.handle = ffi.new_handle(self)


@ffi.def_extern(error=-1)
def py_session_ticket_trampoline(conn, ctx, ticket):
    from ._lib import lib

    try:
        size = ffi.new("size_t *")
        lifetime = ffi.new("uint32_t *")
        if (lib.s2n_session_ticket_get_data_len(ticket, size) < 0
                or lib.s2n_session_ticket_get_lifetime(ticket, lifetime) < 0):
            return -1
        data = ffi.new("uint8_t[]", size[0])
        if lib.s2n_session_ticket_get_data(ticket, size[0], data) < 0:
            return -1
        # The ticket object lives only during this call: hand over a copy.
        ffi.from_handle(ctx).fn(ffi.unpack(ffi.cast("char *", data), size[0]), lifetime[0])
        return 0
    except BaseException as e:  # noqa: BLE001 - re-raised by the driving call
        stash(e)
        return -1
