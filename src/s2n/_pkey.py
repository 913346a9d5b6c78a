"""Private-key offload (issue 14): s2n_config_set_async_pkey_callback and
the operation object it hands out.

s2n-tls calls the callback whenever the handshake needs the private key
(sign; decrypt for TLS 1.2 RSA key exchange) and gives the application the
operation to own. The application answers with `perform(cert_chain_and_key)`
(a key in this process) or `set_output(bytes)` (computed elsewhere: a signer
process, an HSM, a KMS), then `apply(conn)`. Until then the handshake reports
Blocked.ON_APPLICATION_INPUT. Answering may happen inside the callback or
later, from any thread, or (s2n.asyncio) in an awaitable the callback returns.

Safety. `AsyncPkeyOp` owns the C op: it is freed after apply(), on free(),
or when the object is collected, and every later use raises UsageError
instead of reaching freed memory. apply() checks, under the connection's
locks, that the connection is alive and still waiting on *this* op (after
wipe() a stale op must not answer the next handshake). A failed apply
(STRICT validation rejected the signature) fails the handshake: the next
negotiate() raises it instead of waiting on an answer that cannot come.
"""

from __future__ import annotations

import inspect
import threading
import weakref
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Optional, Type, TypeVar, Union

from . import _callbacks
from ._enums import AsyncPkeyOpType, AsyncPkeyValidationMode, HashAlgorithm, SignatureAlgorithm
from ._errors import S2NError, check, last_error, usage
from ._lib import CData, ffi, lib

if TYPE_CHECKING:
    from ._ocsp import CertChainAndKey
    from .config import Config
    from .connection import Connection

_PENDING, _ANSWERED, _APPLIED, _FAILED, _FREED = "pending", "answered", "applied", "failed", "freed"
_MAX_OUTPUT = 2**16  # larger than any signature or premaster secret
_E = TypeVar("_E", SignatureAlgorithm, HashAlgorithm)


def _used(what: str) -> Any:
    return usage(f"AsyncPkeyOp: {what}", "S2N_PY_ERR_PKEY_OP")


class AsyncPkeyOp:
    """One private-key operation the handshake waits for (from the
    Config's async pkey callback). Answer it once, with `perform()` or
    `set_output()`, then `apply(conn)`; from the callback itself or later,
    from any thread. Thread-safe: its methods run one at a time."""

    __slots__ = ("_ptr", "_lock", "_conn", "_type", "_sig", "_hash", "_state", "_in_callback",
                 "__weakref__")
    _ptr: Optional[CData]
    _lock: threading.Lock
    _conn: Any
    _type: AsyncPkeyOpType
    _sig: Union[SignatureAlgorithm, int, None]
    _hash: Union[HashAlgorithm, int, None]
    _state: str
    _in_callback: bool

    def __init__(self) -> None:
        raise TypeError("AsyncPkeyOp objects come from the async pkey callback")

    @classmethod
    def _adopt(cls, op_ptr: CData) -> "AsyncPkeyOp":
        self = object.__new__(cls)
        self._ptr = ffi.gc(op_ptr, lib.s2n_async_pkey_op_free)  # owned from here on
        self._lock = threading.Lock()
        self._conn = None
        self._type = AsyncPkeyOpType.SIGN
        self._sig = None
        self._hash = None
        self._state = _PENDING
        self._in_callback = False
        return self

    def _bind(self, conn: "Connection", conn_ptr: CData) -> None:
        """Inside the callback: what the op is, captured while it is safe to ask."""
        self._conn = weakref.ref(conn)
        t = ffi.new("s2n_async_pkey_op_type *")
        check(lib.s2n_async_pkey_op_get_op_type(self._ptr, t))
        self._type = AsyncPkeyOpType(t[0])
        if self._type == AsyncPkeyOpType.SIGN:
            sig, hsh = ffi.new("int *"), ffi.new("int *")
            check(lib.py_pkey_selected_algs(conn_ptr, sig, hsh))
            self._sig, self._hash = _enum(SignatureAlgorithm, sig[0]), _enum(HashAlgorithm, hsh[0])

    # what is asked

    def get_op_type(self) -> AsyncPkeyOpType:
        """SIGN or DECRYPT (s2n_async_pkey_op_get_op_type)."""
        return self._type

    def get_signature_algorithm(self) -> Union[SignatureAlgorithm, int, None]:
        """SIGN: the algorithm the signature must use (RSA means PKCS#1
        v1.5, RSA_PSS_* means PSS with the hash's length as salt); None for DECRYPT."""
        return self._sig

    def get_hash_algorithm(self) -> Union[HashAlgorithm, int, None]:
        """SIGN: the hash `get_input()` is a digest of; None for DECRYPT."""
        return self._hash

    def get_input(self) -> bytes:
        """SIGN: the digest to sign (already hashed: sign it as a prehashed
        digest). DECRYPT: the RSA-encrypted premaster secret.
        (s2n_async_pkey_op_get_input_size, s2n_async_pkey_op_get_input)"""
        with self._lock:
            ptr = self._live("get_input")
            size = ffi.new("uint32_t *")
            check(lib.s2n_async_pkey_op_get_input_size(ptr, size))
            buf = ffi.new("uint8_t[]", max(size[0], 1))
            check(lib.s2n_async_pkey_op_get_input(ptr, buf, size[0]))
            return ffi.unpack(ffi.cast("char *", buf), size[0])

    # answering

    def set_output(self, data: bytes) -> None:
        """The answer computed elsewhere: the signature (SIGN) or the
        decrypted premaster secret (DECRYPT). Once. (s2n_async_pkey_op_set_output)"""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"set_output() needs bytes, not {type(data).__name__}")
        out = bytes(data)
        if not 0 < len(out) <= _MAX_OUTPUT:
            raise ValueError(f"set_output(): expected 1..{_MAX_OUTPUT} bytes, not {len(out)}")
        with self._lock:
            ptr = self._unanswered("set_output")
            check(lib.s2n_async_pkey_op_set_output(ptr, ffi.from_buffer("uint8_t[]", out), len(out)))
            self._state = _ANSWERED

    def perform(self, cert_chain_and_key: "CertChainAndKey") -> None:
        """Compute the answer here with that object's private key (it must
        have one: not a public-only object). Once. (s2n_async_pkey_op_perform)"""
        from ._ocsp import CertChainAndKey

        if not isinstance(cert_chain_and_key, CertChainAndKey):
            raise TypeError(f"perform() needs an s2n.CertChainAndKey, not "
                            f"{type(cert_chain_and_key).__name__}")
        if not cert_chain_and_key.has_private_key:
            raise ValueError("perform(): this CertChainAndKey has no private key (loaded with key=None)")
        with self._lock:
            ptr = self._unanswered("perform")
            key = lib.s2n_cert_chain_and_key_get_private_key(cert_chain_and_key._ptr)
            if key == ffi.NULL:
                raise last_error()
            check(lib.s2n_async_pkey_op_perform(ptr, key))  # GIL released: other threads run
            self._state = _ANSWERED

    def apply(self, conn: "Connection") -> None:
        """Hand the answer to the connection that asked (once); its next
        negotiate() goes on with the handshake. In STRICT validation mode a
        signature that does not match the certificate raises here, and
        fails the handshake. (s2n_async_pkey_op_apply)"""
        mine = self._conn() if self._conn is not None else None
        if mine is None or conn is not mine:
            raise _used("apply() needs the connection this operation came from" if mine is not None
                        else "its connection no longer exists")
        if conn._send.owner == threading.get_ident() or conn._recv.owner == threading.get_ident():
            if not self._in_callback:
                raise usage("AsyncPkeyOp.apply() from inside another callback of the same "
                            "connection: s2n-tls is not re-entrant", "S2N_PY_ERR_REENTRANCY")
            self._apply(conn)  # the driving negotiate() holds the locks
            return
        conn._lock_both()
        try:
            self._apply(conn)
        finally:
            conn._unlock_both()

    def _apply(self, conn: "Connection") -> None:
        with self._lock:
            if self._state == _PENDING:
                raise _used("nothing to apply: call set_output() or perform() first")
            ptr = self._live("apply")
            if conn._ptr is None:
                self._free_locked()
                raise _used("its connection has been freed")
            current = conn._pkey_op
            if current is None or current() is not self:
                self._free_locked()
                raise _used("the handshake no longer waits for this operation (wiped, or a newer one)")
            try:
                check(lib.s2n_async_pkey_op_apply(ptr, conn._ptr))
            except S2NError as e:
                self._free_locked(_FAILED)
                conn._pkey_op = None
                conn._app_failure = e  # the next negotiate() raises it
                conn._app_wake()
                raise
            self._free_locked(_APPLIED)
            conn._pkey_op = None
        conn._app_wake()

    def fail(self, exc: Optional[BaseException] = None) -> None:
        """Give up (the signer is down, refused, timed out): the handshake
        fails at its next negotiate() with `exc` (default: UsageError), at
        once rather than at the layer's timeout. The op is freed."""
        if exc is not None and not isinstance(exc, BaseException):
            raise TypeError(f"fail() needs an exception, not {type(exc).__name__}")
        exc = exc if exc is not None else _used("the application failed this private-key operation")
        mine = self._conn() if self._conn is not None else None
        if mine is None:
            self.free()
            return
        inside = threading.get_ident() in (mine._send.owner, mine._recv.owner)
        if not inside:
            mine._lock_both()
        try:
            with self._lock:
                if self._state in (_APPLIED, _FAILED, _FREED):
                    raise _used(f"fail() after the operation was {self._state}")
                current = mine._pkey_op
                if mine._ptr is not None and current is not None and current() is self:
                    mine._app_failure = exc
                    mine._pkey_op = None
                    mine._app_wake()
                self._free_locked(_FAILED)
        finally:
            if not inside:
                mine._unlock_both()

    # lifetime

    def free(self) -> None:
        """Release the C operation now (idempotent; also done after apply()
        and on garbage collection). An unanswered op leaves its handshake
        waiting until the layer's timeout."""
        with self._lock:
            self._free_locked()

    def _free_locked(self, state: str = _FREED) -> None:
        if self._ptr is not None:
            ptr, self._ptr = self._ptr, None
            ffi.release(ptr)  # s2n_async_pkey_op_free, once
        if self._state not in (_APPLIED, _FAILED):
            self._state = state

    def _live(self, what: str) -> CData:
        if self._ptr is None:
            raise _used(f"{what}() after the operation was {self._state}")
        return self._ptr

    def _unanswered(self, what: str) -> CData:
        ptr = self._live(what)
        if self._state != _PENDING:
            raise _used(f"{what}(): already answered (set_output/perform run once per operation)")
        return ptr

    @property
    def state(self) -> str:
        """"pending", "answered", "applied", "failed" or "freed"."""
        return self._state

    def __repr__(self) -> str:
        return f"<s2n.AsyncPkeyOp {self._type.name} {self._state}>"


AsyncPkeyOp.__module__ = "s2n"


def _enum(cls: Type[_E], value: int) -> Union[_E, int]:
    try:
        return cls(value)
    except ValueError:
        return value


class PkeyCallback:
    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[Connection, AsyncPkeyOp], Optional[Awaitable[object]]]) -> None:
        self.fn = _callbacks._checked(fn, "async pkey callback")


# Config

def set_callback(config: "Config",
                 fn: Callable[[Connection, AsyncPkeyOp], Optional[Awaitable[object]]]) -> None:
    cb = PkeyCallback(fn)
    with config._lock:
        check(lib.s2n_config_set_async_pkey_callback(config._mutable(), lib.py_async_pkey_trampoline))
        config._pkey_cb = cb
        config._has_callbacks = True


def set_validation_mode(config: "Config", mode: AsyncPkeyValidationMode) -> None:
    mode = AsyncPkeyValidationMode(mode)
    with config._lock:
        check(lib.s2n_config_set_async_pkey_validation_mode(config._mutable(), mode))


# the trampoline (no ctx in this C callback: the connection's Config holds fn)

@ffi.def_extern(error=-1)
def py_async_pkey_trampoline(conn_ptr: CData, op_ptr: CData) -> int:
    try:
        op = AsyncPkeyOp._adopt(op_ptr)  # ours to free from here on, whatever happens
    except BaseException as e:  # noqa: BLE001 - re-raised by the driving call
        lib.s2n_async_pkey_op_free(op_ptr)
        _callbacks._stash(e)
        return -1
    if _callbacks._raised():
        op.free()
        return -1
    try:
        conn = _callbacks.connection_of(conn_ptr)
        cb = getattr(conn._config, "_pkey_cb", None)
        if cb is None:
            raise RuntimeError("async pkey callback without a Config callback")
        op._bind(conn, conn_ptr)
        conn._pkey_op = weakref.ref(op)
        conn._app_failure = None
        if conn._app_event is None:
            conn._app_event = threading.Event()  # apply() from a thread wakes a waiting TLSSocket
        op._in_callback = True
        try:
            result = cb.fn(conn, op)
        finally:
            op._in_callback = False
        if result is not None:
            if not inspect.isawaitable(result):
                raise TypeError(f"async pkey callback must return None or an awaitable, "
                                f"not {type(result).__name__}")
            settled = op.state in (_APPLIED, _FAILED, _FREED)
            if settled or not getattr(conn, "_asyncio", False):
                close = getattr(result, "close", None)
                if close is not None:
                    close()  # a coroutine that will never run: no "never awaited" warning
                if settled:
                    return 0  # applied (or given up) already: nothing to await
                raise TypeError("async pkey callback returned an awaitable, but only s2n.asyncio "
                                "awaits it: answer the op from a thread or inside the callback")
            conn._app_awaitable = (result, lambda: _finish_awaited(conn, op))
        return 0
    except BaseException as e:  # noqa: BLE001 - re-raised by the driving call
        op.free()
        _callbacks._stash(e)
        return -1


def _finish_awaited(conn: "Connection", op: AsyncPkeyOp) -> None:
    """After the awaitable a callback returned: apply the answer, unless it did."""
    if op.state == _ANSWERED:
        op.apply(conn)
    elif op.state == _PENDING:
        op.free()
        raise _used("the async pkey callback's awaitable finished without answering "
                    "(set_output() or perform())")
