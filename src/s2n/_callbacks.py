"""C -> Python trampolines for s2n-tls callbacks.

An exception must never cross C: cffi would only print it and s2n-tls would
see a generic failure. Each trampoline catches BaseException (Ctrl-C
included), stashes it and returns failure. The exception belongs to the call
that drove the callback (negotiate/send/recv...), which runs on the same
thread: that call opens a frame with `begin()`, and `end()` hands it what its
callbacks raised, even when s2n-tls then reported success (a verify-host
callback that raised for one name and accepted the next). Frames nest, so a
callback that drives another connection (TLS in TLS) keeps each exception
with its own call. Once a callback raised in a frame, later callbacks of that
frame refuse at once, so the C call fails too.

No Python reference to s2n-owned memory outlives a call: IO callbacks get a
view of a Python-owned scratch buffer, copied to or from s2n-tls's buffer.
"""

from __future__ import annotations

import errno as _errno
import sys
import threading
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar

from ._lib import CData, ffi

if TYPE_CHECKING:
    from .connection import Connection

_F = TypeVar("_F", bound=Callable[..., Any])

_tls = threading.local()

# errno values s2n-tls treats specially: EAGAIN means "blocked", EINTR is
# retried in a loop. A real failure must be reported with neither.
_SPECIAL = {_errno.EAGAIN, _errno.EWOULDBLOCK, _errno.EINTR, 0, None}


def begin() -> object:
    """Open a frame for one driving call; returns the outer frame's state."""
    outer = getattr(_tls, "exc", None)
    _tls.exc = None
    return outer


def end(outer: object) -> Optional[BaseException]:
    """Close the frame: what its callbacks raised (the first), or None."""
    exc: Optional[BaseException] = _tls.exc
    _tls.exc = outer
    return exc


def _stash(exc: BaseException) -> None:
    if getattr(_tls, "exc", None) is None:
        _tls.exc = exc


def _raised() -> bool:
    return getattr(_tls, "exc", None) is not None


def _checked(fn: _F, what: str) -> _F:
    if not callable(fn):
        raise TypeError(f"{what} must be callable, not {type(fn).__name__}")
    return fn


class IOCallback:
    """What a connection's recv/send ctx points at (through ffi.new_handle)."""

    __slots__ = ("fn", "handle", "scratch")

    def __init__(self, fn: Callable[[memoryview], int]) -> None:
        self.fn = _checked(fn, "IO callback")
        self.handle = ffi.new_handle(self)
        self.scratch = bytearray()

    def buffer(self, length: int) -> bytearray:
        scratch = self.scratch
        # Referenced only here, by the caller and by getrefcount's argument:
        # a view a callback kept would otherwise see the next call's bytes.
        if len(scratch) < length or sys.getrefcount(scratch) > 3:
            scratch = self.scratch = bytearray(max(length, 4096))
        return scratch


def _call_io(fn: Callable[[memoryview], int], view: memoryview, length: int, sending: bool = False) -> int:
    n = fn(view)
    if type(n) is not int:  # bool and None are mistakes too
        raise TypeError(f"IO callback must return int, not {type(n).__name__}")
    if not 0 <= n <= length:
        raise ValueError(f"IO callback returned {n}, outside 0..{length}")
    if sending and n == 0 and length:
        # s2n-tls takes 0 as "wrote nothing, try again" and calls back at
        # once, forever (s2n_flush loops while its buffer is not empty).
        raise ValueError(f"IO callback (send) returned 0 for {length} bytes: return how many "
                         "were sent (at least 1), or raise BlockingIOError when none can be now")
    return n


def _io_failed(e: BaseException) -> int:
    if isinstance(e, BlockingIOError):
        ffi.errno = _errno.EAGAIN
        return -1
    _stash(e)
    errno = e.errno if isinstance(e, OSError) else None
    ffi.errno = errno if errno is not None and errno not in _SPECIAL else _errno.EIO
    return -1


@ffi.def_extern(error=-1)
def py_recv_trampoline(ctx: CData, buf: CData, length: int) -> int:
    if _raised():
        ffi.errno = _errno.EIO
        return -1
    cb: IOCallback = ffi.from_handle(ctx)
    scratch = cb.buffer(length)
    whole = memoryview(scratch)
    view = whole[:length]
    try:
        n = _call_io(cb.fn, view, length)
        if n:
            ffi.memmove(buf, scratch, n)
        return n
    except BaseException as e:  # noqa: BLE001 - re-raised by the driving call
        return _io_failed(e)
    finally:
        view.release()
        whole.release()


@ffi.def_extern(error=-1)
def py_send_trampoline(ctx: CData, buf: CData, length: int) -> int:
    if _raised():
        ffi.errno = _errno.EIO
        return -1
    # A copy: immutable and Python's own, so nothing to revoke afterwards.
    view = memoryview(ffi.unpack(ffi.cast("char *", buf), length))
    try:
        cb: IOCallback = ffi.from_handle(ctx)
        return _call_io(cb.fn, view, length, sending=True)
    except BaseException as e:  # noqa: BLE001 - re-raised by the driving call
        return _io_failed(e)
    finally:
        view.release()


class Handle:
    """A Python callable that C holds through `handle` (kept by its owner)."""

    __slots__ = ("fn", "handle")

    def __init__(self, fn: Callable[..., Any], what: str) -> None:
        self.fn = _checked(fn, what)
        self.handle = ffi.new_handle(self)


@ffi.def_extern(error=0)
def py_verify_host_trampoline(host: CData, length: int, data: CData) -> int:
    if _raised():
        return 0
    try:
        name = ffi.unpack(host, length).decode("utf-8", errors="replace")
        return 1 if ffi.from_handle(data).fn(name) else 0
    except BaseException as e:  # noqa: BLE001 - re-raised by the driving call
        _stash(e)
        return 0


def connection_of(conn_ptr: CData) -> Connection:
    """The Python Connection of an s2n_connection (its ctx holds a weak reference)."""
    from ._lib import lib

    ctx = lib.s2n_connection_get_ctx(conn_ptr)
    conn: Optional[Connection] = ffi.from_handle(ctx)() if ctx != ffi.NULL else None
    if conn is None:
        raise RuntimeError("callback for a connection that no longer exists")
    return conn


@ffi.def_extern(error=-1)
def py_session_ticket_trampoline(conn: CData, ctx: CData, ticket: CData) -> int:
    from ._lib import lib

    if _raised():
        return -1
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
        ffi.from_handle(ctx).fn(connection_of(conn),
                                ffi.unpack(ffi.cast("char *", data), size[0]), lifetime[0])
        return 0
    except BaseException as e:  # noqa: BLE001 - re-raised by the driving call
        _stash(e)
        return -1


@ffi.def_extern(error=-1)
def py_key_log_trampoline(ctx: CData, conn: CData, logline: CData, length: int) -> int:
    if _raised():
        return -1
    try:
        ffi.from_handle(ctx).fn(connection_of(conn), ffi.unpack(ffi.cast("char *", logline), length))
        return 0
    except BaseException as e:  # noqa: BLE001 - re-raised by the driving call
        _stash(e)
        return -1
