"""Custom certificate validation (s2n_config_set_cert_validation_cb) and X.509 knobs.

The C `info` lives inside the s2n_connection. A Python `CertValidationInfo`
may decide only while that validation is still waiting for a decision: inside
the callback, or later for an asynchronous decision while the handshake is
paused on it. Every decision re-checks, under the connection's locks, that
the connection still exists, that this info is its latest one and undecided,
and that the handshake has not moved (same message, same bytes read, same
Config): after free(), wipe(), set_config() or the next validation the
object refuses instead of touching s2n-tls.
"""

from __future__ import annotations

import operator
import threading
import weakref
from typing import TYPE_CHECKING, Any, Callable, Optional, Tuple, Type

if TYPE_CHECKING:
    from .connection import Connection

from . import _callbacks
from ._errors import UsageError, check, usage
from ._lib import CData, ffi, lib

_PENDING, _ACCEPTED, _REJECTED, _STALE = "pending", "accepted", "rejected", "stale"


class CertValidationInfo:
    """What a cert validation callback receives: `accept()` or `reject()`
    the peer's certificate chain (already verified by s2n-tls; this adds
    your own checks). Deciding later is allowed: return None from the
    callback, `negotiate()` then raises BlockedError with
    `Blocked.ON_APPLICATION_INPUT` until `accept()`/`reject()` is called
    (from any thread); then call `negotiate()` again."""

    __slots__ = ("_conn", "_ptr", "_state", "_step", "_in_callback", "__weakref__")

    # What differs between the decisions that share this logic (see _early_data):
    _slot = "_cert_validation_info"  # the connection's attribute holding the latest one
    _c_accept, _c_reject = "s2n_cert_validation_accept", "s2n_cert_validation_reject"
    _stale_name = "S2N_PY_ERR_VALIDATION_STALE"

    def __init__(self, conn: Any, ptr: Any, step: Tuple[bytes, int, int]) -> None:
        self._conn = weakref.ref(conn)
        self._ptr = ptr
        self._state = _PENDING
        self._step = step
        self._in_callback = False

    @property
    def pending(self) -> bool:
        """True while no decision was made and the object is still usable
        (it may yet turn out stale when deciding: the connection is checked then)."""
        return self._state == _PENDING and self._ptr is not None

    def accept(self) -> None:
        """The certificate chain passed the application's checks."""
        self._decide(True)

    def reject(self) -> None:
        """The certificate chain failed the application's checks: the
        handshake fails (s2n-tls: S2N_ERR_CERT_REJECTED)."""
        self._decide(False)

    def _decide(self, accept: bool) -> None:
        conn = self._conn()
        if conn is None:
            raise self._stale("its connection no longer exists")
        me = threading.get_ident()
        if conn._send.owner == me or conn._recv.owner == me:
            if not self._in_callback:
                raise usage(f"{type(self).__name__} decided from inside another callback of the same "
                            "connection: s2n-tls is not re-entrant", "S2N_PY_ERR_REENTRANCY")
            self._apply(accept)  # the driving call holds the connection's locks
            return
        conn._lock_both()
        try:
            if conn._ptr is None:
                self._invalidate()
                raise self._stale("its connection has been freed")
            if getattr(conn, self._slot, None) is not self:
                self._invalidate()
            elif self._state == _PENDING and _step(conn) != self._step:
                self._invalidate()  # wiped, reconfigured: that handshake is gone
            self._apply(accept)
        finally:
            conn._unlock_both()

    def _apply(self, accept: bool) -> None:
        if self._state != _PENDING or self._ptr is None:
            what = "already decided" if self._state in (_ACCEPTED, _REJECTED) else "no longer valid"
            raise self._stale(f"this decision is {what}")
        ptr, self._state = self._ptr, (_ACCEPTED if accept else _REJECTED)
        self._ptr = None  # one decision per callback
        check(getattr(lib, self._c_accept if accept else self._c_reject)(ptr))

    def _invalidate(self) -> None:
        if self._state == _PENDING:
            self._state = _STALE
        self._ptr = None  # never reached again

    @classmethod
    def _stale(cls, why: str) -> UsageError:
        return usage(f"{cls.__name__}: {why}", cls._stale_name)

    def __repr__(self) -> str:
        return f"<s2n.{type(self).__name__} {self._state}>"


CertValidationInfo.__module__ = "s2n"


def _step(conn: Any) -> Tuple[bytes, int, int]:
    """Where conn's handshake is (call with its locks held)."""
    wire_in = ffi.new("uint64_t *")
    name = lib.py_validation_step(conn._ptr, wire_in)
    return (ffi.string(name) if name != ffi.NULL else b"", wire_in[0], id(conn._config))


@ffi.def_extern(error=-1)
def py_cert_validation_trampoline(conn_ptr: CData, info_ptr: CData, ctx: CData) -> int:
    return run_decision_callback(CertValidationInfo, conn_ptr, info_ptr,
                                 lambda conn: ffi.from_handle(ctx).fn, "cert validation callback")


def run_decision_callback(cls: Type[CertValidationInfo], conn_ptr: CData, c_ptr: CData,
                          find_fn: Callable[[Connection], Callable[..., object]], what: str) -> int:
    """The body of a trampoline whose callback decides (now or later) with a
    `cls` object: the previous one of this connection goes stale."""
    if _callbacks._raised():
        return -1
    info = None
    try:
        conn = _callbacks.connection_of(conn_ptr)
        old = getattr(conn, cls._slot, None)
        if old is not None:
            old._invalidate()
        info = cls(conn, c_ptr, _step(conn))
        setattr(conn, cls._slot, info)
        info._in_callback = True
        try:
            verdict = find_fn(conn)(conn, info)
        finally:
            info._in_callback = False
        _settle(info, verdict, what)
        return 0
    except BaseException as e:  # noqa: BLE001 - re-raised by the driving call
        if info is not None:
            info._invalidate()
        _callbacks._stash(e)
        return -1


def _settle(info: CertValidationInfo, verdict: object, what: str) -> None:
    """Apply the callback's return value: True/False decide; None leaves the
    decision to a later accept()/reject() (the handshake pauses)."""
    if verdict is None:
        if info._state == _PENDING:
            return  # asynchronous: the info stays valid while the handshake is paused
    elif type(verdict) is not bool:
        raise TypeError(f"{what} must return bool (or None to decide later), "
                        f"not {type(verdict).__name__}")
    elif info._state == _PENDING:
        info._apply(verdict)
    elif (info._state == _ACCEPTED) != verdict:
        raise ValueError(f"{what} returned {verdict} after calling "
                         f"info.{'accept' if info._state == _ACCEPTED else 'reject'}()")
    info._ptr = None  # decided: nothing more to do with the C object


def set_cert_validation_cb(config: Any, fn: Callable[[Connection, CertValidationInfo], Optional[bool]]) -> None:
    with config._lock:
        ptr = config._mutable()
        cb = _callbacks.Handle(fn, "cert validation callback")
        check(lib.s2n_config_set_cert_validation_cb(ptr, lib.py_cert_validation_trampoline, cb.handle))
        config._cert_validation_cb = cb
        config._has_callbacks = True


def disable_x509_time_verification(config: Any) -> None:
    with config._lock:
        check(lib.s2n_config_disable_x509_time_verification(config._mutable()))


def disable_x509_intent_verification(config: Any) -> None:
    with config._lock:
        check(lib.s2n_config_disable_x509_intent_verification(config._mutable()))


def set_max_cert_chain_depth(config: Any, depth: int) -> None:
    if isinstance(depth, bool):
        raise TypeError("depth must be an int, not bool")
    depth = operator.index(depth)  # TypeError for str, float...
    if not 1 <= depth <= 0xFFFF:
        raise ValueError(f"max cert chain depth must be in 1..65535, not {depth}")
    with config._lock:
        check(lib.s2n_config_set_max_cert_chain_depth(config._mutable(), depth))
