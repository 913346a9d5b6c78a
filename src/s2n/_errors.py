"""s2n_errno -> exceptions. One base class, one subclass per s2n_error_type."""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple, Type

from ._enums import Blocked, ErrorType
from ._lib import CData, ffi, lib

if TYPE_CHECKING:
    from ._s2n import _struct_py_error


class S2NError(Exception):
    """An s2n-tls failure: `.type`, `.name` (e.g. "S2N_ERR_CERT_UNTRUSTED"),
    `.message` (s2n_strerror) and `.debug` (where in s2n-tls it was raised)."""

    type: ErrorType = ErrorType.INTERNAL

    def __init__(self, message: str, *, name: str = "", debug: str = "",
                 type: Optional[ErrorType] = None) -> None:
        text = f"{name}: {message}" if name else message
        if debug:
            text = f"{text} [{debug}]"
        super().__init__(text)
        self._text = text
        self.message = message
        self.name = name
        self.debug = debug
        if type is not None:
            self.type = type

    def __str__(self) -> str:
        # Ours, not OSError's "[Errno 104] ...", which would drop the s2n name.
        return self._text


class IOError(S2NError, OSError):  # noqa: A001 - the API's name; kept out of __all__
    """S2N_ERR_T_IO: the transport failed; `.errno` is the system errno."""

    type = ErrorType.IO
    errno: Optional[int]
    strerror: Optional[str]

    def __init__(self, message: str, *, errno: Optional[int] = None, **kw: Any) -> None:
        if errno:
            message = f"{message} (errno {errno}: {os.strerror(errno)})"
        kw.setdefault("name", "S2N_ERR_IO")
        super().__init__(message, **kw)
        self.errno = errno or None
        self.strerror = os.strerror(errno) if errno else None

    def __str__(self) -> str:  # S2NError's, not OSError's
        return self._text


class ClosedError(S2NError):
    """S2N_ERR_T_CLOSED: the transport closed (without close_notify, on recv)."""

    type = ErrorType.CLOSED


class BlockedError(S2NError):
    """S2N_ERR_T_BLOCKED: retry once `.blocked` (ON_READ/ON_WRITE/...) allows."""

    type = ErrorType.BLOCKED

    def __init__(self, message: str, *, blocked: Blocked = Blocked.ON_READ, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.blocked = blocked


class WantReadError(BlockedError, BlockingIOError):
    """A non-blocking TLSSocket must wait until its fd is readable (like ssl.SSLWantReadError)."""

    def __init__(self, message: str = "the TLS connection needs to read", **kw: Any) -> None:
        super().__init__(message, blocked=Blocked.ON_READ, **kw)


class WantWriteError(BlockedError, BlockingIOError):
    """A non-blocking TLSSocket must wait until its fd is writable."""

    def __init__(self, message: str = "the TLS connection needs to write", **kw: Any) -> None:
        super().__init__(message, blocked=Blocked.ON_WRITE, **kw)


class AlertError(S2NError):
    """S2N_ERR_T_ALERT: the peer sent an alert; `.alert` is its TLS code."""

    type = ErrorType.ALERT

    def __init__(self, message: str, *, alert: Optional[int] = None, **kw: Any) -> None:
        if alert is not None:
            message = f"{message} (alert {alert})"
        super().__init__(message, **kw)
        self.alert = alert


class ProtocolError(S2NError):
    """S2N_ERR_T_PROTO: the peer broke the protocol, or verification failed."""

    type = ErrorType.PROTO


class InternalError(S2NError):
    """S2N_ERR_T_INTERNAL."""

    type = ErrorType.INTERNAL


class UsageError(S2NError):
    """S2N_ERR_T_USAGE, and misuse this package detects itself."""

    type = ErrorType.USAGE


for _cls in (S2NError, IOError, ClosedError, BlockedError, WantReadError, WantWriteError,
             AlertError, ProtocolError, InternalError, UsageError):
    _cls.__module__ = "s2n"  # as users import them

_CLASSES: Dict[ErrorType, Type[S2NError]] = {
    ErrorType.IO: IOError, ErrorType.CLOSED: ClosedError, ErrorType.BLOCKED: BlockedError,
    ErrorType.ALERT: AlertError, ErrorType.PROTO: ProtocolError,
    ErrorType.INTERNAL: InternalError, ErrorType.USAGE: UsageError,
}


@functools.lru_cache(maxsize=512)
def describe(code: int) -> Tuple[ErrorType, str, str]:
    """(type, name, message) of an s2n error code; cached: blocked errors are hot."""
    etype = ErrorType(lib.s2n_error_get_type(code))
    name = ffi.string(lib.s2n_strerror_name(code)).decode(errors="replace")
    message = ffi.string(lib.s2n_strerror(code, b"EN")).decode(errors="replace")
    return etype, name, message


def from_capture(err: _struct_py_error, conn_ptr: Optional[CData] = None) -> S2NError:
    """Build the exception for a failure captured by the C glue (`py_error`)."""
    etype, name, message = describe(err.s2n_errno)
    debug = ffi.string(err.debug).decode(errors="replace") if err.debug != ffi.NULL else ""
    kw: Dict[str, Any] = {"name": name, "debug": debug}
    if etype == ErrorType.BLOCKED:
        return BlockedError(message, blocked=Blocked(err.blocked), **kw)
    if etype == ErrorType.IO:
        return IOError(message, errno=err.sys_errno, **kw)
    if etype == ErrorType.ALERT:
        alert = None
        if conn_ptr is not None:
            code = lib.s2n_connection_get_alert(conn_ptr)
            alert = code if code >= 0 else None
        return AlertError(message, alert=alert, **kw)
    cls = _CLASSES.get(etype, InternalError)
    return cls(message, **kw)


def blocked_error(code: int, blocked: int) -> Optional[BlockedError]:
    """A BlockedError without the debug string: raised on every would-block,
    so it is built from cached parts. None if the error is not of the BLOCKED
    type (s2n_recv sets a blocked status even then)."""
    etype, name, message = describe(code)
    if etype != ErrorType.BLOCKED:
        return None
    return BlockedError(message, blocked=_BLOCKED[blocked], name=name)


_BLOCKED = {int(b): b for b in Blocked}


def last_error() -> S2NError:
    """For calls the glue does not wrap: capture s2n_errno right after the failure."""
    return from_capture(lib.py_capture_now())


def check(rc: int) -> int:
    if rc < 0:
        raise last_error()
    return rc


class ArgumentRangeError(ValueError, OverflowError):
    """An int argument outside what the C parameter holds (e.g. a negative
    size). A ValueError, as every bad argument is; also an OverflowError,
    which cffi raised here before."""


def out_of_range(e: OverflowError) -> BaseException:
    """What the public methods raise for cffi's OverflowError."""
    if isinstance(e, ValueError):
        return e
    return ArgumentRangeError(f"argument out of range: {e}")


def byte_string(value: Any, what: str) -> bytes:
    """A copy of a bytes-like argument. Not `bytes(value)`: for an int that
    makes `value` zero bytes (a terabyte for 2**40)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        raise TypeError(f"{what} must be bytes, not str (encode it)")
    try:
        return bytes(memoryview(value))
    except TypeError:
        raise TypeError(f"{what} must be bytes-like, not {type(value).__name__}") from None


def usage(message: str, name: str = "S2N_PY_ERR_USAGE") -> UsageError:
    return UsageError(message, name=name)
