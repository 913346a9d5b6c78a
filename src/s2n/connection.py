"""Connection: one s2n_connection, 1:1 with the C API.

The concurrency contract is written once, in Connection's docstring, and
enforced here: by `_gated` for most methods, inline on the hot paths
(negotiate, send, recv, recv_into, shutdown)."""

from __future__ import annotations

import functools
import inspect
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple, TypeVar, Union

from . import _callbacks, _client_hello, _keys, _psk, _resumption
from ._enums import Blinding, Blocked, ClientAuth, EarlyDataStatus, Mode, PeerKeyUpdate, ProtocolVersion, PskMode
from ._errors import IOError as S2NIOError
from ._errors import S2NError, UsageError, blocked_error, check, from_capture, last_error, out_of_range, usage
from ._lib import CData, ffi, lib
from ._enums import HashAlgorithm, SignatureAlgorithm  # issue 16
from ._errors import byte_string
from .config import Config, c_string

if TYPE_CHECKING:  # Python 3.9's typing has no ParamSpec: only the checkers need it
    from typing_extensions import Concatenate, ParamSpec

    _P = ParamSpec("_P")
    from _typeshed import FileDescriptorLike

    from .memory import MemoryBIO
_R = TypeVar("_R")

Buffer = Union[bytes, bytearray, memoryview]

_get_ident = threading.get_ident
_RECV_BUF = 16 * 1024 + 64  # one full TLS record of plaintext
_RECV_BUF_MAX = 256 * 1024
_raw_alloc = ffi.new_allocator(should_clear_after_alloc=False)
_ON_APP = int(Blocked.ON_APPLICATION_INPUT)


def _fileno(fd: Any) -> int:
    n = fd if isinstance(fd, int) else fd.fileno()
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"not a valid file descriptor: {fd!r}")
    return n


class _Lock:
    """A lock that knows its owner thread: a call made from inside a callback
    of the same connection is then recognised instead of deadlocking."""

    __slots__ = ("lock", "owner")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.owner = 0


def _reentrancy(what: str) -> UsageError:
    return usage(f"{what}() called from inside a callback of the same connection: "
                 "s2n-tls is not re-entrant (only getters may be called there)",
                 "S2N_PY_ERR_REENTRANCY")


def _gated(reader: bool, client_hello: bool = False) -> Callable[
        [Callable[Concatenate[Connection, CData, _P], _R]], Callable[Concatenate[Connection, _P], _R]]:
    """Decorator: run `fn(self, ptr, ...)` under the concurrency contract (see
    Connection). `reader` methods only read, so they may also run from inside
    a callback of this connection (whose driving call holds the locks).
    `client_hello` methods are the setters s2n-tls allows from inside the
    client hello callback (set_config, per-connection overrides): there, and
    only there, they may run too."""

    def decorate(fn: Callable[Concatenate[Connection, CData, _P], _R]) -> Callable[Concatenate[Connection, _P], _R]:
        name = fn.__name__

        @functools.wraps(fn)
        def method(self: Connection, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
            me = _get_ident()
            s, r = self._send, self._recv
            if s.owner == me or r.owner == me:
                if not (reader or (client_hello and self._in_client_hello)):
                    raise _reentrancy(name)
                try:
                    return fn(self, self._conn(), *args, **kwargs)
                except OverflowError as e:  # an int that does not fit the C parameter
                    raise out_of_range(e) from e
            self._lock_both()
            try:
                return fn(self, self._conn(), *args, **kwargs)
            except OverflowError as e:
                raise out_of_range(e) from e
            finally:
                self._unlock_both()

        sig = inspect.signature(fn)
        method.__signature__ = sig.replace(  # type: ignore[attr-defined]
            parameters=[p for p in sig.parameters.values() if p.name != "ptr"])
        return method

    return decorate


_exclusive = _gated(reader=False)
_reader = _gated(reader=True)
_client_hello_ok = _gated(reader=False, client_hello=True)  # also inside the client hello callback


def _free_conn(ptr: CData, refs: Dict[str, Any],
               _free: Callable[[CData], int] = lib.s2n_connection_free) -> None:
    """ffi.gc destructor: free the C connection first, and only then let go of
    what it points at (config, BIOs, callback handles), held in `refs`."""
    _free(ptr)
    refs.clear()


class Connection:
    """An s2n_connection. See the usage guide's "Sending and Receiving".

    Concurrency contract (enforced here, for every method that touches C):

    - s2n-tls allows one thread in s2n_send and one in s2n_recv at the same
      time, and nothing more. So the *send side* (`send`, `sendv_with_offset`,
      `shutdown_send`) takes the send lock, the *receive side* (`recv`,
      `recv_into`) the receive lock: a sender and a receiver run in parallel;
      two senders (or two receivers) run one after the other.
    - Every other method (negotiate, shutdown, setters, getters, wipe,
      free_handshake, IO setup, ...) takes both: it waits until the calls
      running in other threads return, and runs alone.
    - `free()` never waits: while another thread is inside a call it raises
      UsageError (S2N_PY_ERR_IN_USE); the object is then still usable.
    - Callbacks (IO, verify host, session ticket) run inside the call that
      drove them, on its thread, while it holds its locks. From there the
      getters may be called; any other method of the same connection raises
      UsageError (S2N_PY_ERR_REENTRANCY): s2n-tls is not re-entrant. The
      one exception: the client hello callback may also call what s2n-tls
      allows there (set_config, the per-connection overrides,
      client_hello_cb_done), the methods gated `_client_hello_ok`.
    - What a callback raises belongs to the call that drove it: that call
      raises it, and fails (later callbacks of the same call refuse).
    - cffi releases the GIL around each C call: a call blocked in C does not
      stop other Python threads.
    """

    def __init__(self, mode: Mode, config: Optional[Config] = None) -> None:
        mode = Mode(mode)
        handle = ffi.new_handle(weakref.ref(self))
        ptr = lib.s2n_connection_new(mode)
        if ptr == ffi.NULL:
            raise last_error()
        lib.s2n_connection_set_ctx(ptr, handle)
        self._adopt(ptr, mode, handle, None)
        if config is not None:
            self.set_config(config)

    @classmethod
    def _for_fd(cls, mode: Mode, config: Config, fd: Any, server_name: Optional[str] = None) -> "Connection":
        """For the IO layers, in one C call: a connection with `config`, SNI,
        the fd (kept referenced), self-service blinding, prefer_throughput()
        and recv buffering."""
        self = cls.__new__(cls)
        handle = ffi.new_handle(weakref.ref(self))
        name = ffi.NULL if server_name is None else c_string(server_name, "server name")
        with config._lock:
            ptr = lib.py_layer_connection(mode, config._ptr, name, _fileno(fd), handle)
            if ptr == ffi.NULL:
                raise from_capture(lib.py_last_error())  # the glue captured it
            config._frozen = True
        self._adopt(ptr, mode, handle, config)
        self._refs["read"] = self._refs["write"] = fd
        return self

    def _adopt(self, ptr: CData, mode: Mode, handle: CData, config: Optional[Config]) -> None:
        # Everything C points at lives in `_refs` until the C connection is freed.
        self._refs: Dict[str, Any] = {"self": handle}
        if config is not None:
            self._refs["config"] = config  # s2n-tls keeps a raw pointer
        self._ptr: Optional[CData] = ffi.gc(ptr, functools.partial(_free_conn, refs=self._refs))
        self._mode = mode
        self._config: Optional[Config] = config
        self._send = _Lock()
        self._recv = _Lock()
        self._rbuf: Optional[CData] = None
        self._negotiated = False
        # Python callbacks may run: scope their exceptions
        self._pycb = config is not None and config._has_callbacks
        self._in_client_hello = False

    # the gate

    def _lock_both(self) -> None:
        s, r = self._send, self._recv
        s.lock.acquire()
        try:
            r.lock.acquire()
        except BaseException:
            s.lock.release()
            raise
        s.owner = r.owner = _get_ident()

    def _unlock_both(self) -> None:
        s, r = self._send, self._recv
        s.owner = r.owner = 0
        r.lock.release()
        s.lock.release()

    def _enter(self, side: _Lock, what: str) -> CData:
        """Take one direction's lock; returns the C pointer.

        Re-entry (a callback calling back into this connection) is only
        possible when Python callbacks are installed (`_pycb`, which changes
        only under both locks, so it is read after taking ours): without
        them the fast path skips the owner bookkeeping."""
        lock = side.lock
        if not lock.acquire(False):
            me = _get_ident()
            if side.owner == me:
                raise _reentrancy(what)
            lock.acquire()
        if self._pycb:
            me = _get_ident()
            other = self._recv if side is self._send else self._send
            if other.owner == me:
                lock.release()
                raise _reentrancy(what)
            side.owner = me
        ptr = self._ptr
        if ptr is None:
            side.owner = 0
            lock.release()
            raise _freed()
        return ptr

    @staticmethod
    def _leave(side: _Lock) -> None:
        side.owner = 0
        side.lock.release()

    def _conn(self) -> CData:
        ptr = self._ptr
        if ptr is None:
            raise _freed()
        return ptr

    # lifetime

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.free()

    def free(self) -> None:
        """Free the C connection (idempotent). Any later call raises UsageError.
        Raises UsageError, and frees nothing, while another call is running."""
        if self._ptr is None:
            return
        me = _get_ident()
        s, r = self._send, self._recv
        if s.owner == me or r.owner == me:
            raise _reentrancy("free")
        if not s.lock.acquire(False):
            raise usage("free() while another call is using this connection", "S2N_PY_ERR_IN_USE")
        try:
            if not r.lock.acquire(False):
                raise usage("free() while another call is using this connection", "S2N_PY_ERR_IN_USE")
            try:
                ptr, self._ptr = self._ptr, None
                if ptr is not None:
                    ffi.release(ptr)  # runs _free_conn now
                self._config = None
                self._rbuf = None
            finally:
                r.lock.release()
        finally:
            s.lock.release()

    @property
    def mode(self) -> Mode:
        return self._mode

    @property
    def config(self) -> Optional[Config]:
        return self._config

    @_exclusive
    def wipe(self, ptr: CData) -> None:
        """Reset for reuse. Keeps mode and config; IO, server name, blinding
        and callbacks are cleared, as in C, and must be set again."""
        check(lib.s2n_connection_wipe(ptr))
        self._wiped(ptr, ("read", "write", "verify_host"))

    def _wiped(self, ptr: CData, dropped: Sequence[str]) -> None:
        """After s2n_connection_wipe or s2n_renegotiate_wipe: both clear the
        connection's context, which callbacks use to find this object."""
        lib.s2n_connection_set_ctx(ptr, self._refs["self"])
        for key in dropped:
            self._refs.pop(key, None)
        self._negotiated = False
        self._hello = None
        self._app_failure = self._pkey_op = self._app_awaitable = None
        for slot in ("_cert_validation_info", "_early_data_offer"):
            info = getattr(self, slot, None)
            if info is not None:  # a pending decision belongs to the old handshake
                info._invalidate()
                setattr(self, slot, None)

    # configuration

    @_client_hello_ok
    def set_config(self, ptr: CData, config: Config) -> None:
        """Use this Config (it is frozen from now on). Also allowed from
        inside a client hello callback of this connection, as s2n-tls allows
        (in NONBLOCKING mode it takes effect at client_hello_cb_done())."""
        if not isinstance(config, Config):
            raise TypeError(f"expected s2n.Config, not {type(config).__name__}")
        _client_hello.set_config(self, ptr, config)

    def _apply_config(self, ptr: CData, config: Config) -> None:
        with config._lock:
            check(lib.s2n_connection_set_config(ptr, config._ptr))
            config._frozen = True
        old = self._refs.get("config")
        if old is not None and old is not config:
            # The handshake may still point into the old Config: the
            # certificate it selected (get_selected_cert), its callbacks.
            # Keep every Config this connection used until it is freed.
            kept = self._refs.setdefault("old_configs", [])
            if not any(c is old for c in kept):
                kept.append(old)
        self._config = config
        self._refs["config"] = config  # s2n-tls keeps a raw pointer
        self._pycb = self._pycb or config._has_callbacks

    @_exclusive
    def set_server_name(self, ptr: CData, name: str) -> None:
        """SNI for a client; also the name the server's certificate must match."""
        check(lib.s2n_set_server_name(ptr, c_string(name, "server name")))

    @_exclusive
    def set_blinding(self, ptr: CData, blinding: Blinding) -> None:
        """BUILT_IN (the default) sleeps 10-30 s inside the failing call;
        SELF_SERVICE returns at once and leaves waiting `get_delay()` to you."""
        check(lib.s2n_connection_set_blinding(ptr, Blinding(blinding)))

    @_reader
    def get_delay(self, ptr: CData) -> int:
        """Nanoseconds to wait before closing after an error (self-service blinding)."""
        delay = lib.s2n_connection_get_delay(ptr)
        if delay == 2**64 - 1:
            raise last_error()
        return delay

    @_exclusive
    def prefer_throughput(self, ptr: CData) -> None:
        check(lib.s2n_connection_prefer_throughput(ptr))

    @_exclusive
    def prefer_low_latency(self, ptr: CData) -> None:
        check(lib.s2n_connection_prefer_low_latency(ptr))

    @_exclusive
    def set_recv_buffering(self, ptr: CData, enabled: bool) -> None:
        """Read as much as the transport has into one buffer (fewer reads);
        then `pending()` tells what is buffered before waiting on the fd."""
        check(lib.s2n_connection_set_recv_buffering(ptr, bool(enabled)))

    @_exclusive
    def set_dynamic_record_threshold(self, ptr: CData, resize_threshold: int, timeout_threshold: int) -> None:
        check(lib.s2n_connection_set_dynamic_record_threshold(ptr, resize_threshold, timeout_threshold))

    @_exclusive
    def set_verify_host_callback(self, ptr: CData, fn: Callable[[str], bool]) -> None:
        """Per-connection `fn(name) -> bool` for certificate names (overrides the Config's)."""
        cb = _callbacks.Handle(fn, "verify-host callback")
        check(lib.s2n_connection_set_verify_host_callback(ptr, lib.py_verify_host_trampoline, cb.handle))
        self._refs["verify_host"] = cb
        self._pycb = True

    @_exclusive
    def set_session(self, ptr: CData, session: bytes) -> None:
        """Client: resume the session saved from an earlier connection."""
        data = byte_string(session, "session")
        check(lib.s2n_connection_set_session(ptr, ffi.from_buffer("uint8_t[]", data), len(data)))

    @_reader
    def get_session(self, ptr: CData) -> bytes:
        """The session state to resume later (TLS 1.2; for TLS 1.3 prefer
        Config.set_session_ticket_callback: tickets arrive after the handshake)."""
        n = check(lib.s2n_connection_get_session_length(ptr))
        if n == 0:
            return b""
        buf = ffi.new("uint8_t[]", n)
        got = check(lib.s2n_connection_get_session(ptr, buf, n))
        return ffi.unpack(ffi.cast("char *", buf), got)

    @_exclusive
    def free_handshake(self, ptr: CData) -> None:
        """Release memory only the handshake needed (after negotiate).
        Before the handshake is complete it raises UsageError and frees
        nothing: s2n-tls would free the transcript hashes and key schedule
        the handshake still needs, and every later negotiate() would fail
        with S2N_ERR_NULL."""
        if not lib.s2n_connection_handshake_complete(ptr):
            raise usage("free_handshake() before the handshake is complete: it would break it")
        check(lib.s2n_connection_free_handshake(ptr))

    @_exclusive
    def release_buffers(self, ptr: CData) -> None:
        """Release the IO buffers while idle (fails if a partial record is buffered)."""
        check(lib.s2n_connection_release_buffers(ptr))

    def release_buffers_if_idle(self) -> bool:
        """Release the IO buffers if no call is running in another thread and
        no partial record is buffered; never raises, never waits. For layers
        about to wait for the transport. Returns True if released."""
        s, r = self._send, self._recv
        if not s.lock.acquire(False):
            return False
        try:
            if not r.lock.acquire(False):
                return False
            try:
                ptr = self._ptr
                if ptr is None:
                    return False
                if lib.s2n_connection_release_buffers(ptr) < 0:
                    lib.py_capture_now()  # consume the error: refusing is normal here
                    return False
                self._rbuf = None
                return True
            finally:
                r.lock.release()
        finally:
            s.lock.release()

    # IO setup

    @_exclusive
    def set_fd(self, ptr: CData, fd: FileDescriptorLike) -> None:
        """Read and write this fd (an int, or anything with fileno(), kept referenced)."""
        check(lib.s2n_connection_set_fd(ptr, _fileno(fd)))
        self._refs["read"] = self._refs["write"] = fd

    @_exclusive
    def set_read_fd(self, ptr: CData, fd: FileDescriptorLike) -> None:
        check(lib.s2n_connection_set_read_fd(ptr, _fileno(fd)))
        self._refs["read"] = fd

    @_exclusive
    def set_write_fd(self, ptr: CData, fd: FileDescriptorLike) -> None:
        check(lib.s2n_connection_set_write_fd(ptr, _fileno(fd)))
        self._refs["write"] = fd

    @_exclusive
    def use_corked_io(self, ptr: CData) -> None:
        """TCP_CORK during the handshake (fd IO only)."""
        check(lib.s2n_connection_use_corked_io(ptr))

    @_exclusive
    def set_recv_cb(self, ptr: CData, fn: Callable[[memoryview], int]) -> None:
        """`fn(buf) -> int`: fill buf, return the count; 0 = peer closed;
        raise BlockingIOError for "would block", OSError for an IO error.
        `buf` is valid only during the call."""
        cb = _callbacks.IOCallback(fn)
        check(lib.s2n_connection_set_recv_cb(ptr, lib.py_recv_trampoline))
        check(lib.s2n_connection_set_recv_ctx(ptr, cb.handle))
        self._refs["read"] = cb
        self._pycb = True

    @_exclusive
    def set_send_cb(self, ptr: CData, fn: Callable[[memoryview], int]) -> None:
        """`fn(data) -> int`: send some of data, return the count (at least
        1: raise BlockingIOError when nothing can be sent now; returning 0
        makes the driving call raise ValueError); errors as for recv."""
        cb = _callbacks.IOCallback(fn)
        check(lib.s2n_connection_set_send_cb(ptr, lib.py_send_trampoline))
        check(lib.s2n_connection_set_send_ctx(ptr, cb.handle))
        self._refs["write"] = cb
        self._pycb = True

    @_exclusive
    def set_memory_io(self, ptr: CData, incoming: MemoryBIO, outgoing: MemoryBIO) -> None:
        """Sans-IO: read the peer's bytes from `incoming` and put this side's
        bytes into `outgoing` (two `s2n.MemoryBIO`s). Both stay in C: no
        Python runs per record. An empty `incoming` makes calls raise
        BlockedError (ON_READ); after `incoming.write_eof()` the transport is
        closed."""
        for bio in (incoming, outgoing):
            if getattr(bio, "_bio", None) is None:
                raise TypeError(f"expected s2n.MemoryBIO, not {type(bio).__name__}")
        if lib.py_connection_set_memory_io(ptr, incoming._bio, outgoing._bio) < 0:
            raise from_capture(lib.py_last_error())
        self._refs["read"], self._refs["write"] = incoming, outgoing

    # driving s2n-tls

    def _fail(self, ptr: CData) -> S2NError:
        """The exception for a failed IO call."""
        capture = lib.py_last_error()
        if capture.blocked:
            # The common case in non-blocking IO: keep it cheap.
            blocked = blocked_error(capture.s2n_errno, capture.blocked)
            if blocked is not None:
                return blocked
        if "read" not in self._refs or "write" not in self._refs:
            return usage("no transport: call set_fd, set_recv_cb/set_send_cb or "
                         "set_memory_io first", "S2N_PY_ERR_NO_IO")
        return from_capture(capture, ptr)

    def _callback_error(self, exc: BaseException, ptr: CData, rc: int) -> BaseException:
        """A callback's exception, raised by the call that drove it."""
        if isinstance(exc, OSError) and not isinstance(exc, S2NError):
            name = debug = ""
            if rc < 0:
                err = from_capture(lib.py_last_error(), ptr)
                name, debug = err.name, err.debug
            io = S2NIOError(f"IO callback failed: {exc}", errno=exc.errno, name=name or "S2N_ERR_IO",
                            debug=debug)
            io.__cause__ = exc
            return io
        return exc

    def _drive(self, call: Callable[..., int], ptr: CData, *args: Any, nb: bool = False) -> int:
        """One C call that may run Python callbacks: their exception wins.
        `nb`: a BLOCKED failure comes back as -(Blocked direction)."""
        outer = _callbacks.begin()
        try:
            rc = call(ptr, *args)
        finally:
            exc = _callbacks.end(outer)
        if exc is not None:
            raise self._callback_error(exc, ptr, rc)
        if rc < 0:
            return self._failed_io(ptr, nb)
        return rc

    def _failed_io(self, ptr: CData, nb: bool) -> int:
        """After a failed IO call: -(Blocked direction) for the layers (`nb`)
        when it only would block; otherwise the exception is raised."""
        if nb:
            blocked = lib.py_last_blocked()
            if blocked:
                return -blocked
        raise self._fail(ptr)

    def negotiate(self) -> None:
        """Run the handshake. Returns when it is complete; raises BlockedError
        (with `.blocked`) while it needs IO on a non-blocking transport."""
        if self._negotiate(False):
            raise self._fail(self._conn())

    def _negotiate(self, nb: bool, fd: int = -1, wait_ms: int = 0) -> int:
        """For the layers (`nb=True`): 0 when the handshake is complete, or
        the Blocked direction as an int, without building an exception.
        `fd`, `wait_ms`: while blocked, wait in C for the fd (poll) and try
        again, up to wait_ms (-1: no limit); a blocked result then means the
        wait ended (time up or a signal)."""
        if self._send.owner == _get_ident() or self._recv.owner == _get_ident():
            raise _reentrancy("negotiate")
        self._lock_both()
        try:
            ptr = self._conn()
            if self._pycb:
                outer = _callbacks.begin()
                try:
                    rc = lib.py_negotiate(ptr, fd, wait_ms)
                finally:
                    exc = _callbacks.end(outer)
                if exc is not None:
                    raise self._callback_error(exc, ptr, rc)
            else:
                rc = lib.py_negotiate(ptr, fd, wait_ms)
            if rc < 0:
                blocked = lib.py_last_blocked()
                if not blocked:
                    raise self._fail(ptr)
                if blocked == _ON_APP and self._app_failure is not None:
                    raise self._app_failure  # what it waited for failed (issue 14: pkey)
                if nb:
                    return blocked
                return -1  # negotiate() raises BlockedError from the capture
            self._negotiated = True
            return 0
        finally:
            self._unlock_both()

    def _not_negotiated(self, what: str) -> UsageError:
        return usage(f"{what}() before the handshake: call negotiate() until it returns first",
                     "S2N_PY_ERR_NOT_NEGOTIATED")

    def send(self, data: Buffer) -> int:
        """Encrypt and send; returns the bytes taken (a partial write is
        possible). Retry with only the rest: `data[n:]`. Any buffer works, without a copy."""
        return self._send_data(data, False)

    def _send_data(self, data: Buffer, nb: bool, fd: int = -1, wait_ms: int = 0) -> int:
        """send(); with `nb` (the layers) a would-block returns -(Blocked)
        instead of raising BlockedError. `fd`, `wait_ms`: as `_negotiate`."""
        side = self._send
        ptr = self._enter(side, "send")
        try:
            if not self._negotiated:
                raise self._not_negotiated("send")
            if type(data) is bytes:
                if self._pycb:
                    return self._drive(lib.py_send, ptr, data, len(data), fd, wait_ms, nb=nb)
                rc = lib.py_send(ptr, data, len(data), fd, wait_ms)
            else:
                buf = _readable(data, "send")
                try:
                    if self._pycb:
                        return self._drive(lib.py_send, ptr, buf, len(buf), fd, wait_ms, nb=nb)
                    rc = lib.py_send(ptr, buf, len(buf), fd, wait_ms)
                finally:
                    ffi.release(buf)
            if rc < 0:
                return self._failed_io(ptr, nb)
            return rc
        finally:
            side.owner = 0
            side.lock.release()

    def sendv_with_offset(self, buffers: Sequence[Buffer], offset: int) -> int:
        """Send the concatenation of `buffers` from byte `offset` on; returns
        the bytes taken. The next call passes the same buffers, offset + result."""
        if offset < 0:
            raise ValueError("offset must be >= 0")
        side = self._send
        ptr = self._enter(side, "sendv_with_offset")
        try:
            if not self._negotiated:
                raise self._not_negotiated("sendv_with_offset")
            views = []
            try:
                for b in buffers:
                    views.append(_readable(b, "sendv_with_offset"))
                iov = ffi.new("struct iovec[]", len(views))
                for i, v in enumerate(views):
                    iov[i].iov_base = v
                    iov[i].iov_len = len(v)
                return self._drive(lib.py_sendv_with_offset, ptr, iov, len(views), offset)
            finally:
                for v in views:
                    ffi.release(v)
        finally:
            self._leave(side)

    def recv(self, max_bytes: int = _RECV_BUF - 64) -> bytes:
        """Up to `max_bytes` of application data (one record unless
        recv_multi_record is on); b"" once the peer's close_notify arrived.
        A transport closed without close_notify raises ClosedError."""
        return self._recv_data(max_bytes, False)  # type: ignore[return-value]

    def _recv_data(self, max_bytes: int, nb: bool, fd: int = -1, wait_ms: int = 0) -> Union[bytes, int]:
        """recv(); with `nb` (the layers) a would-block returns -(Blocked),
        an int, instead of raising BlockedError. `fd`, `wait_ms`: as `_negotiate`."""
        if max_bytes < 0:
            raise ValueError("max_bytes must be >= 0")
        if max_bytes > _RECV_BUF_MAX:
            buf = bytearray(max_bytes)
            n = self._recv_data_into(buf, 0, nb, fd, wait_ms)
            return n if n < 0 else bytes(memoryview(buf)[:n])
        side = self._recv
        ptr = self._enter(side, "recv")
        try:
            if not self._negotiated:
                raise self._not_negotiated("recv")
            rbuf = self._rbuf
            if rbuf is None or len(rbuf) < max_bytes:
                rbuf = self._rbuf = _raw_alloc("char[]", max(max_bytes, 64))
            if self._pycb:
                rc = self._drive(lib.py_recv, ptr, rbuf, max_bytes, fd, wait_ms, nb=nb)
                if rc < 0:
                    return rc
            else:
                rc = lib.py_recv(ptr, rbuf, max_bytes, fd, wait_ms)
                if rc < 0:
                    return self._failed_io(ptr, nb)
            return ffi.unpack(rbuf, rc)
        finally:
            side.owner = 0
            side.lock.release()

    def recv_into(self, buffer: Union[bytearray, memoryview], nbytes: int = 0) -> int:
        """Decrypt straight into `buffer` (up to `nbytes`, default all of it);
        returns the count, 0 once the peer's close_notify arrived."""
        return self._recv_data_into(buffer, nbytes, False)

    def _recv_data_into(self, buffer: Union[bytearray, memoryview], nbytes: int, nb: bool,
                        fd: int = -1, wait_ms: int = 0) -> int:
        """recv_into(); with `nb` (the layers) a would-block returns
        -(Blocked) instead of raising BlockedError. `fd`, `wait_ms`: as `_negotiate`."""
        side = self._recv
        ptr = self._enter(side, "recv_into")
        try:
            if not self._negotiated:
                raise self._not_negotiated("recv_into")
            try:
                buf = ffi.from_buffer(buffer, require_writable=True)
            except (BufferError, TypeError):
                raise TypeError("recv_into() needs a writable buffer, not "
                                f"{type(buffer).__name__}") from None
            try:
                n = len(buf) if nbytes <= 0 else min(nbytes, len(buf))
                if self._pycb:
                    return self._drive(lib.py_recv, ptr, buf, n, fd, wait_ms, nb=nb)
                rc = lib.py_recv(ptr, buf, n, fd, wait_ms)
            finally:
                ffi.release(buf)
            if rc < 0:
                return self._failed_io(ptr, nb)
            return rc
        finally:
            side.owner = 0
            side.lock.release()

    @_reader
    def peek(self, ptr: CData) -> int:
        """Bytes of decrypted application data already buffered: recv() returns
        them without reading the transport (check before waiting on the fd)."""
        return lib.s2n_peek(ptr)

    @_reader
    def peek_buffered(self, ptr: CData) -> int:
        """Bytes of not yet decrypted records buffered (with recv buffering)."""
        return lib.s2n_peek_buffered(ptr)

    @_reader
    def pending(self, ptr: CData) -> int:
        """Non-zero when recv() may return data without the transport being readable."""
        return lib.s2n_peek(ptr) + lib.s2n_peek_buffered(ptr)

    def shutdown(self) -> None:
        """Graceful close both ways: send close_notify, wait for the peer's
        (discarding application data still arriving). Does not close the fd."""
        if self._send.owner == _get_ident() or self._recv.owner == _get_ident():
            raise _reentrancy("shutdown")
        self._lock_both()
        try:
            self._drive(lib.py_shutdown, self._conn())
        finally:
            self._unlock_both()

    def shutdown_send(self) -> None:
        """Half-close (TLS 1.3): send close_notify, keep receiving until recv()
        gives b"". After a failed handshake it sends the alert s2n-tls queued."""
        side = self._send
        ptr = self._enter(side, "shutdown_send")
        try:
            self._drive(lib.py_shutdown_send, ptr)
        finally:
            self._leave(side)

    @_reader
    def get_alert(self, ptr: CData) -> Optional[int]:
        """The TLS alert code the peer sent, or None."""
        code = lib.s2n_connection_get_alert(ptr)
        if code < 0:
            lib.py_capture_now()  # consume the "no alert" error
            return None
        return code

    # information

    @staticmethod
    def _str(cptr: CData) -> Optional[str]:
        return None if cptr == ffi.NULL else ffi.string(cptr).decode("utf-8", errors="replace")

    @_reader
    def get_actual_protocol_version(self, ptr: CData) -> Union[ProtocolVersion, int]:
        """The negotiated version (see get_client_protocol_version for values)."""
        return _version(check(lib.s2n_connection_get_actual_protocol_version(ptr)))

    @_reader
    def get_client_protocol_version(self, ptr: CData) -> Union[ProtocolVersion, int]:
        """The version the client offered: a ProtocolVersion, or the plain
        int s2n-tls made of a version it does not know (the peer's bytes:
        major * 10 + minor, modulo 256), as ClientHello.get_legacy_protocol_version."""
        return _version(check(lib.s2n_connection_get_client_protocol_version(ptr)))

    @_reader
    def get_server_protocol_version(self, ptr: CData) -> Union[ProtocolVersion, int]:
        """The server's version (see get_client_protocol_version for values)."""
        return _version(check(lib.s2n_connection_get_server_protocol_version(ptr)))

    @_reader
    def get_cipher(self, ptr: CData) -> str:
        """The cipher suite as s2n-tls names it: IANA-style for TLS 1.3
        ("TLS_AES_128_GCM_SHA256"), OpenSSL-style for TLS 1.2 and older
        ("ECDHE-ECDSA-AES256-GCM-SHA384"). `get_cipher_iana_value()` gives
        the two-byte IANA code point."""
        name = self._str(lib.s2n_connection_get_cipher(ptr))
        if name is None:
            raise last_error()
        return name

    @_reader
    def get_cipher_iana_value(self, ptr: CData) -> int:
        """The cipher suite's IANA code point, e.g. 0x1301 for TLS_AES_128_GCM_SHA256."""
        first = ffi.new("uint8_t *")
        second = ffi.new("uint8_t *")
        check(lib.s2n_connection_get_cipher_iana_value(ptr, first, second))
        return int(first[0] << 8 | second[0])

    @_reader
    def get_application_protocol(self, ptr: CData) -> Optional[str]:
        return self._str(lib.s2n_get_application_protocol(ptr))

    @_reader
    def get_server_name(self, ptr: CData) -> Optional[str]:
        return self._str(lib.s2n_get_server_name(ptr))

    @_reader
    def get_handshake_type_name(self, ptr: CData) -> str:
        return self._str(lib.s2n_connection_get_handshake_type_name(ptr)) or ""

    @_reader
    def get_curve(self, ptr: CData) -> str:
        return self._str(lib.s2n_connection_get_curve(ptr)) or "NONE"

    @_reader
    def get_kem_group_name(self, ptr: CData) -> str:
        return self._str(lib.s2n_connection_get_kem_group_name(ptr)) or "NONE"

    @_reader
    def handshake_complete(self, ptr: CData) -> bool:
        """True once the handshake itself is done (even if sending the
        post-handshake messages, e.g. TLS 1.3 session tickets, then failed)."""
        return bool(lib.s2n_connection_handshake_complete(ptr))

    @_reader
    def is_session_resumed(self, ptr: CData) -> bool:
        return check(lib.s2n_connection_is_session_resumed(ptr)) == 1

    @_reader
    def client_cert_used(self, ptr: CData) -> bool:
        return check(lib.s2n_connection_client_cert_used(ptr)) == 1

    @_reader
    def get_wire_bytes_in(self, ptr: CData) -> int:
        return lib.s2n_connection_get_wire_bytes_in(ptr)

    @_reader
    def get_wire_bytes_out(self, ptr: CData) -> int:
        return lib.s2n_connection_get_wire_bytes_out(ptr)

    @_reader
    def get_peer_cert_chain(self, ptr: CData) -> List[bytes]:
        """The peer's validated chain, leaf first, as DER bytes ([] if none)."""
        chain = lib.s2n_cert_chain_and_key_new()
        if chain == ffi.NULL:
            raise last_error()
        try:
            if lib.s2n_connection_get_peer_cert_chain(ptr, chain) < 0:
                err = last_error()
                if err.name in ("S2N_ERR_NO_CERT_FOUND", "S2N_ERR_CERT_NOT_VALIDATED"):
                    return []
                raise err
            length = ffi.new("uint32_t *")
            check(lib.s2n_cert_chain_get_length(chain, length))
            out = []
            cert = ffi.new("struct s2n_cert **")
            der = ffi.new("const uint8_t **")
            der_len = ffi.new("uint32_t *")
            for i in range(length[0]):
                check(lib.s2n_cert_chain_get_cert(chain, cert, i))
                check(lib.s2n_cert_get_der(cert[0], der, der_len))
                out.append(ffi.unpack(ffi.cast("char *", der[0]), der_len[0]))
            return out
        finally:
            lib.s2n_cert_chain_and_key_free(chain)

    # --- legacy peers and moving connections (issue 12) ---

    @_exclusive
    def serialize(self, ptr: CData) -> bytes:
        """The established connection as bytes, to go on in another process
        (`deserialize`). Needs Config.set_serialization_version before the
        handshake, and no buffered data (not with recv buffering). INSECURE
        unless you encrypt and MAC the bytes: they hold the session keys."""
        length = ffi.new("uint32_t *")
        check(lib.s2n_connection_serialization_length(ptr, length))
        buf = ffi.new("uint8_t[]", length[0])
        check(lib.s2n_connection_serialize(ptr, buf, length[0]))
        return ffi.unpack(ffi.cast("char *", buf), length[0])

    @_exclusive
    def deserialize(self, ptr: CData, data: bytes) -> None:
        """Continue a serialized connection in this new one (same mode; its
        Config set; no handshake). Getters say little afterwards: only the
        keys travel. s2n-tls does not authenticate `data`."""
        data = byte_string(data, "serialized connection")
        check(lib.s2n_connection_deserialize(ptr, ffi.from_buffer("uint8_t[]", data), len(data)))
        self._negotiated = True

    @_exclusive
    def renegotiate_wipe(self, ptr: CData) -> None:
        """Client, TLS 1.2: prepare a renegotiation the Config's renegotiate
        request callback accepted. The receive that met the request must be
        over and no data buffered. Connection settings other than IO (e.g.
        blinding, server name) must be set again, as after wipe().

        Raises UsageError (S2N_PY_ERR_USAGE), and changes nothing, on a
        connection whose handshake is not complete or is TLS 1.3: s2n-tls
        would fail too, but only after taking the connection's crypto state
        away (a later send, recv or shutdown then crashed the process)."""
        if (not lib.s2n_connection_handshake_complete(ptr)
                or lib.s2n_connection_get_actual_protocol_version(ptr) >= ProtocolVersion.TLS1_3):
            raise usage("renegotiate_wipe() needs a complete TLS 1.2 handshake (renegotiation "
                        "does not exist in TLS 1.3)")
        check(lib.s2n_renegotiate_wipe(ptr))
        self._wiped(ptr, ("verify_host",))  # IO is kept

    def renegotiate(self, max_app_data: int = _RECV_BUF - 64) -> Optional[bytes]:
        """Run the new handshake after renegotiate_wipe(), like negotiate():
        None once it is complete; BlockedError while it needs IO; bytes when
        application data arrived in between (handle it, then call again)."""
        if self._send.owner == _get_ident() or self._recv.owner == _get_ident():
            raise _reentrancy("renegotiate")
        self._lock_both()
        try:
            ptr = self._conn()
            buf = ffi.new("uint8_t[]", max(1, max_app_data))
            got = ffi.new("ssize_t *")
            rc = self._drive(lib.py_renegotiate, ptr, buf, max(1, max_app_data), got, nb=True)
            if rc >= 0:
                self._negotiated = True
                return None
            if rc == -Blocked.ON_EARLY_DATA:  # S2N_BLOCKED_ON_APPLICATION_DATA
                return ffi.unpack(ffi.cast("char *", buf), got[0])
            raise self._fail(ptr)
        finally:
            self._unlock_both()

    def __repr__(self) -> str:
        state = "freed" if self._ptr is None else self._mode.name.lower()
        return f"<s2n.Connection {state}>"

    # --- client_hello (issue 12) ---
    # The client hello methods below may also be called from inside the
    # client hello callback (`_client_hello_ok`); see s2n/_client_hello.py.

    _hello: Optional[_client_hello.HelloState] = None  # set by the client hello callback

    @_client_hello_ok
    def client_hello_cb_done(self, ptr: CData) -> None:
        """NONBLOCKING client hello callback: the decision is made; the next
        negotiate() continues the handshake (s2n_client_hello_cb_done)."""
        _client_hello.cb_done(self, ptr)

    @_reader
    def get_client_hello(self, ptr: CData) -> _client_hello.ClientHello:
        """Server: a copy of the ClientHello received (s2n_connection_get_client_hello).
        Raises UsageError when there is none to read."""
        return _client_hello.snapshot(ptr)

    @_client_hello_ok
    def server_name_extension_used(self, ptr: CData) -> None:
        """Tell s2n-tls the connection was configured from the server name
        (needed for TLS 1.2 resumption; call before the callback is done)."""
        check(lib.py_hello_server_name_used(ptr))

    @_client_hello_ok
    def set_client_auth_type(self, ptr: CData, auth: ClientAuth) -> None:
        """Per-connection client authentication (overrides the Config's)."""
        check(lib.py_hello_set_client_auth_type(ptr, int(ClientAuth(auth))))

    @_reader
    def get_client_auth_type(self, ptr: CData) -> ClientAuth:
        return ClientAuth(check(lib.py_hello_get_client_auth_type(ptr)))

    @_client_hello_ok
    def set_cipher_preferences(self, ptr: CData, policy: str) -> None:
        """Per-connection security policy by name (overrides the Config's)."""
        check(lib.py_hello_set_cipher_preferences(ptr, c_string(policy, "policy")))

    @_client_hello_ok
    def set_protocol_preferences(self, ptr: CData, protocols: Sequence[Union[str, bytes]]) -> None:
        """Per-connection ALPN list, most preferred first (overrides the Config's)."""
        keep, array = _client_hello.protocol_list(protocols)
        check(lib.py_hello_set_protocol_preferences(ptr, array, len(keep)))

    @_reader
    def get_selected_cert(self, ptr: CData) -> List[bytes]:
        """The chain (DER, leaf first) of the certificate this side sent:
        a server's choice, or a client's certificate; [] if none (yet)."""
        return _client_hello.selected_cert(ptr)
    # --- ocsp (issue 12) ---

    @_reader
    def get_ocsp_response(self, ptr: CData) -> Optional[bytes]:
        """Client: the DER OCSP response the server stapled, or None."""
        from . import _ocsp
        return _ocsp.get_ocsp_response(ptr)

    @_reader
    def is_ocsp_stapled(self, ptr: CData) -> bool:
        """Server: an OCSP response was sent; client: one was received."""
        from . import _ocsp
        return _ocsp.is_ocsp_stapled(ptr)

    @_reader
    def get_sct_list(self, ptr: CData) -> Optional[bytes]:
        """Client: the SignedCertificateTimestampList the server sent
        (Config.set_ct_support_level(REQUEST)), unvalidated, or None."""
        from . import _ocsp
        return _ocsp.get_sct_list(ptr)
    # --- keys (issue 12) ---

    @_exclusive
    def request_key_update(self, ptr: CData, peer_request: PeerKeyUpdate = PeerKeyUpdate.NOT_REQUESTED) -> None:
        """TLS 1.3: update our sending key; the KeyUpdate message goes out
        with the next send(). s2n-tls answers a peer's request itself (on
        its next send) but cannot make one: REQUESTED raises UsageError.
        (s2n_connection_request_key_update)"""
        _keys.request_key_update(ptr, peer_request)

    @_reader
    def get_key_update_counts(self, ptr: CData) -> "_keys.KeyUpdateCounts":
        """(send, recv): how often each direction's key was updated, up to
        255. (s2n_connection_get_key_update_counts)"""
        return _keys.key_update_counts(ptr)

    @_reader
    def tls_exporter(self, ptr: CData, label: bytes, context: bytes, length: int) -> bytes:
        """RFC 8446 7.5 keying material, equal on both ends: TLS 1.3 only,
        after the handshake. An empty `context` is what TLS 1.3 peers use
        when they give none. (s2n_connection_tls_exporter)"""
        return _keys.tls_exporter(ptr, label, context, length)

    @_reader
    def get_key_exchange_group(self, ptr: CData) -> str:
        """The negotiated group, e.g. "x25519", "secp256r1" or a hybrid
        "X25519MLKEM768"; "NONE" when there is none (yet, or TLS 1.2 RSA key
        exchange). (s2n_connection_get_key_exchange_group)"""
        return _keys.key_exchange_group(ptr)

    # --- resumption (issue 12) ---

    @_exclusive
    def add_new_tickets_to_send(self, ptr: CData, count: int) -> None:
        """Server, TLS 1.3: send `count` more session tickets (with the next
        send()). (s2n_connection_add_new_tickets_to_send)"""
        _resumption.add_new_tickets_to_send(ptr, count)

    @_reader
    def get_tickets_sent(self, ptr: CData) -> int:
        """Server: session tickets issued on this connection. (s2n_connection_get_tickets_sent)"""
        return _resumption.tickets_sent(ptr)

    @_exclusive
    def set_server_keying_material_lifetime(self, ptr: CData, seconds: int) -> None:
        """Server, TLS 1.3: how long tickets issued here may chain resumptions
        from this handshake's keys (default a week).
        (s2n_connection_set_server_keying_material_lifetime)"""
        _resumption.set_server_keying_material_lifetime(ptr, seconds)

    @_reader
    def get_session_ticket_lifetime_hint(self, ptr: CData) -> Optional[int]:
        """Client: the lifetime (seconds) the server gave the last ticket it
        sent, None if none arrived. With TLS 1.3 prefer the session ticket
        callback's `lifetime` (one per ticket).
        (s2n_connection_get_session_ticket_lifetime_hint)"""
        return _resumption.ticket_lifetime_hint(ptr)


    # --- external PSKs (issue 14) ---

    @_exclusive
    def append_psk(self, ptr: CData, psk: "_psk.ExternalPsk") -> None:
        """Offer (client) or accept (server) this PSK; s2n-tls keeps a copy
        (s2n_connection_append_psk). A client offers its PSKs in order."""
        _psk.append(ptr, psk)

    @_exclusive
    def set_psk_mode(self, ptr: CData, mode: PskMode) -> None:
        """Per-connection PSK mode (overrides the Config's)."""
        check(lib.s2n_connection_set_psk_mode(ptr, PskMode(mode)))

    @_reader
    def get_negotiated_psk_identity(self, ptr: CData) -> Optional[bytes]:
        """The identity of the PSK the handshake used, or None."""
        return _psk.negotiated_identity(ptr)

    # --- early data (issue 14) ---

    @_exclusive
    def set_server_max_early_data_size(self, ptr: CData, size: int) -> None:
        """Per-connection maximum of accepted early data (overrides the Config's)."""
        if not 0 <= int(size) < 1 << 32:
            raise ValueError("size must be in 0..2**32-1")
        check(lib.s2n_connection_set_server_max_early_data_size(ptr, int(size)))

    @_exclusive
    def set_server_early_data_context(self, ptr: CData, context: bytes) -> None:
        """Server: bytes saved in the tickets this connection issues; the
        early data callback of a later connection sees them (e.g. what the
        early data may be used for)."""
        data = bytes(context)
        check(lib.s2n_connection_set_server_early_data_context(ptr, data, len(data)))

    @_reader
    def get_early_data_status(self, ptr: CData) -> EarlyDataStatus:
        status = ffi.new("s2n_early_data_status_t *")
        check(lib.s2n_connection_get_early_data_status(ptr, status))
        return EarlyDataStatus(status[0])

    @_reader
    def get_remaining_early_data_size(self, ptr: CData) -> int:
        size = ffi.new("uint32_t *")
        check(lib.s2n_connection_get_remaining_early_data_size(ptr, size))
        return int(size[0])

    @_reader
    def get_max_early_data_size(self, ptr: CData) -> int:
        size = ffi.new("uint32_t *")
        check(lib.s2n_connection_get_max_early_data_size(ptr, size))
        return int(size[0])

    def send_early_data(self, data: Buffer) -> int:
        """Client: start the handshake sending `data` as early data (resuming
        a session whose ticket allows it). Returns the bytes sent, also when
        the handshake then waits for the peer; BlockedError only when nothing
        moved. Then negotiate() as usual; if get_early_data_status() says
        REJECTED, send the data again as normal data."""
        return self._early_data(lib.py_send_early_data, data, "send_early_data")[0]

    def recv_early_data(self, max_bytes: int = _RECV_BUF - 64) -> bytes:
        """Server: start the handshake receiving early data. Returns what
        arrived, b"" once there is no (more) early data; BlockedError only
        when nothing arrived. Then negotiate() as usual."""
        buf = bytearray(max(1, int(max_bytes)))
        n = self._early_data(lib.py_recv_early_data, buf, "recv_early_data")[0]
        return bytes(buf[:n])

    def _early_data(self, call: Callable[..., int], data: Any, what: str, nb: bool = False) -> Tuple[int, int]:
        """(bytes moved, 0 once the early data phase is over, else the
        Blocked direction); raises BlockedError when nothing moved, unless `nb`."""
        if self._send.owner == _get_ident() or self._recv.owner == _get_ident():
            raise _reentrancy(what)
        self._lock_both()
        try:
            ptr = self._conn()
            view = ffi.from_buffer(data, require_writable=call is lib.py_recv_early_data)
            moved = ffi.new("ssize_t *")
            try:
                rc = self._drive(call, ptr, view, len(view), moved, nb=True)
            finally:
                ffi.release(view)
            if rc >= 0:
                if self.handshake_complete():
                    self._negotiated = True
                return moved[0], 0
            if moved[0] > 0 or nb:
                return moved[0], -rc
            raise self._fail(ptr)
        finally:
            self._unlock_both()

    # --- pkey offload (issue 14) ---
    # Set by the async pkey callback (s2n/_pkey.py); wipe() clears them.
    _pkey_op: Optional[Any] = None  # weakref to the AsyncPkeyOp the handshake waits on
    _app_failure: Optional[BaseException] = None  # a failed apply(): negotiate() raises it
    _app_awaitable: Optional[Any] = None  # (awaitable, finish) for s2n.asyncio to await
    _asyncio = False  # driven by s2n.asyncio (which awaits what a callback returns)

    _app_event: Optional[threading.Event] = None  # set when an application decision lands
    # set by s2n.ssl on its connections (declared for the type checkers only)
    _ssl_owner: Any
    _ssl_session: Optional[bytes]

    def _app_wait(self, seconds: float) -> None:
        """For TLSSocket: sleep up to `seconds` while the handshake waits on
        the application; a pkey op's apply() or fail() wakes it at once."""
        event = self._app_event
        if event is None:
            time.sleep(seconds)
            return
        event.wait(seconds)
        event.clear()  # a wake-up lost here only costs one pause: s2n-tls holds the state

    def _app_wake(self) -> None:
        event = self._app_event
        if event is not None:
            event.set()

    def _take_app_awaitable(self) -> Optional[Any]:
        """For s2n.asyncio: what a callback returned for the loop to await
        before the handshake goes on, as (awaitable, finish); once."""
        pending, self._app_awaitable = self._app_awaitable, None
        return pending

    # --- s2ntools (issue 16) ---

    @_reader
    def get_selected_signature_algorithm(self, ptr: CData) -> Tuple["SignatureAlgorithm", "HashAlgorithm"]:
        """(signature, hash) of the server's handshake signature; (ANONYMOUS,
        NONE) without one (PSK, resumption). s2n_connection_get_selected_signature_algorithm
        and s2n_connection_get_selected_digest_algorithm."""
        from . import _s2ntools
        return _s2ntools.server_signature(ptr)

    @_reader
    def get_selected_client_cert_signature_algorithm(self, ptr: CData) -> Tuple["SignatureAlgorithm", "HashAlgorithm"]:
        """(signature, hash) of the client certificate's signature; (ANONYMOUS,
        NONE) without client authentication. s2n_connection_get_selected_client_cert_signature_algorithm
        and s2n_connection_get_selected_client_cert_digest_algorithm."""
        from . import _s2ntools
        return _s2ntools.client_signature(ptr)

    @_reader
    def get_client_hello_version(self, ptr: CData) -> int:
        """The version the ClientHello claimed (legacy_version: TLS 1.2 at
        most; 20 for an SSLv2 ClientHello). s2n_connection_get_client_hello_version."""
        from . import _s2ntools
        return _s2ntools.client_hello_version(ptr)

    @_reader
    def get_session_id_length(self, ptr: CData) -> int:
        """Length of the session ID (0: none). s2n_connection_get_session_id_length."""
        from . import _s2ntools
        return _s2ntools.session_id_length(ptr)


Connection.__module__ = "s2n"


def _version(value: int) -> Union[ProtocolVersion, int]:
    # A version from the peer's bytes may be none of the enum's: found by
    # fuzz_peer_bytes (a ClientHello with legacy_version 0x03e7 made the
    # getter raise ValueError inside a client hello callback).
    try:
        return ProtocolVersion(value)
    except ValueError:
        return value


def _freed() -> UsageError:
    return usage("the connection has been freed", "S2N_PY_ERR_FREED")


def _readable(data: Any, what: str) -> CData:
    """A cffi view of any bytes-like object (released by the caller)."""
    try:
        return ffi.from_buffer(data)
    except TypeError:
        raise TypeError(f"{what}() needs a bytes-like object (bytes, bytearray, memoryview), "
                        f"not {type(data).__name__}") from None
