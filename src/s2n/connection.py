"""Connection: one s2n_connection, 1:1 with the C API.

Threads: s2n-tls allows one thread in s2n_send and another in s2n_recv at the
same time, nothing more. cffi releases the GIL around every C call, so Python
threads really do enter C together. Each direction has a lock: two senders (or
two receivers) are serialized, one sender and one receiver run in parallel, and
calls that touch both directions (negotiate, shutdown, wipe) take both locks.
A callback that calls back into its own connection would deadlock on a lock its
own thread holds: that is detected and raised as `UsageError`.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, List, Optional, Sequence, Union

from . import _callbacks
from ._enums import Blinding, Mode, ProtocolVersion
from ._errors import S2NError, blocked_error, check, from_capture, last_error, usage
from ._lib import ffi, lib
from .config import Config, c_string

Buffer = Union[bytes, bytearray, memoryview]

_get_ident = threading.get_ident
_RECV_BUF = 16 * 1024 + 64  # one full TLS record of plaintext
_RECV_BUF_MAX = 256 * 1024
_raw_alloc = ffi.new_allocator(should_clear_after_alloc=False)


def _fileno(fd: Any) -> int:
    n = fd if isinstance(fd, int) else fd.fileno()
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"not a valid file descriptor: {fd!r}")
    return n


class _Direction:
    """A lock that knows its owner, so re-entry from a callback is an error,
    not a deadlock."""

    __slots__ = ("lock", "owner")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.owner = 0

    def acquire(self, what: str) -> None:
        if not self.lock.acquire(False):
            if self.owner == _get_ident():
                raise usage(f"{what}() called from inside a callback of the same connection",
                            "S2N_PY_ERR_REENTRANCY")
            self.lock.acquire()
        self.owner = _get_ident()

    def release(self) -> None:
        self.owner = 0
        self.lock.release()


class Connection:
    """An s2n_connection. See the usage guide's "Sending and Receiving"."""

    def __init__(self, mode: Mode, config: Optional[Config] = None) -> None:
        mode = Mode(mode)
        ptr = lib.s2n_connection_new(mode)
        if ptr == ffi.NULL:
            raise last_error()
        self._ptr = ptr
        self._mode = mode
        self._config: Optional[Config] = None
        self._send = _Direction()
        self._recv = _Direction()
        self._rbuf = None
        self._io_refs: dict = {}  # objects s2n-tls uses through raw pointers/fds
        if config is not None:
            self.set_config(config)

    # lifetime

    def __del__(self, _free=lib.s2n_connection_free) -> None:
        ptr = getattr(self, "_ptr", None)
        if ptr is not None:
            self._ptr = None
            _free(ptr)

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.free()

    def free(self) -> None:
        """Free the C connection (idempotent). Any later call raises UsageError."""
        if self._ptr is None:
            return
        if not self._send.lock.acquire(False):
            raise usage("free() while another call is using this connection", "S2N_PY_ERR_IN_USE")
        try:
            if not self._recv.lock.acquire(False):
                raise usage("free() while another call is using this connection", "S2N_PY_ERR_IN_USE")
            try:
                ptr, self._ptr = self._ptr, None
                lib.s2n_connection_free(ptr)
                self._io_refs.clear()
                self._config = None
                self._rbuf = None
            finally:
                self._recv.lock.release()
        finally:
            self._send.lock.release()

    def _conn(self):
        ptr = self._ptr
        if ptr is None:
            raise usage("the connection has been freed", "S2N_PY_ERR_FREED")
        return ptr

    @property
    def mode(self) -> Mode:
        return self._mode

    @property
    def config(self) -> Optional[Config]:
        return self._config

    def wipe(self) -> None:
        """Reset for reuse. Keeps mode and config; IO, server name, blinding
        and callbacks are cleared, as in C, and must be set again."""
        self._both(lambda p: check(lib.s2n_connection_wipe(p)), "wipe")
        self._io_refs.clear()

    # configuration

    def set_config(self, config: Config) -> None:
        if not isinstance(config, Config):
            raise TypeError(f"expected s2n.Config, not {type(config).__name__}")
        check(lib.s2n_connection_set_config(self._conn(), config._ptr))
        config._frozen = True
        self._config = config  # s2n-tls keeps a raw pointer: keep the object alive

    def set_server_name(self, name: str) -> None:
        """SNI for a client; also the name the server's certificate must match."""
        check(lib.s2n_set_server_name(self._conn(), c_string(name, "server name")))

    def set_blinding(self, blinding: Blinding) -> None:
        """BUILT_IN (the default) sleeps 10-30 s inside the failing call;
        SELF_SERVICE returns at once and leaves waiting `get_delay()` to you."""
        check(lib.s2n_connection_set_blinding(self._conn(), Blinding(blinding)))

    def get_delay(self) -> int:
        """Nanoseconds to wait before closing after an error (self-service blinding)."""
        delay = lib.s2n_connection_get_delay(self._conn())
        if delay == 2**64 - 1:
            raise last_error()
        return delay

    def prefer_throughput(self) -> None:
        check(lib.s2n_connection_prefer_throughput(self._conn()))

    def prefer_low_latency(self) -> None:
        check(lib.s2n_connection_prefer_low_latency(self._conn()))

    def set_recv_buffering(self, enabled: bool) -> None:
        """Read as much as the transport has into one buffer (fewer reads);
        then `pending()` tells what is buffered before waiting on the fd."""
        check(lib.s2n_connection_set_recv_buffering(self._conn(), bool(enabled)))

    def set_dynamic_record_threshold(self, resize_threshold: int, timeout_threshold: int) -> None:
        check(lib.s2n_connection_set_dynamic_record_threshold(
            self._conn(), resize_threshold, timeout_threshold))

    def set_verify_host_callback(self, fn: Callable[[str], bool]) -> None:
        """Per-connection `fn(name) -> bool` for certificate names (overrides the Config's)."""
        cb = _callbacks.VerifyHostCallback(fn)
        check(lib.s2n_connection_set_verify_host_callback(
            self._conn(), lib.py_verify_host_trampoline, cb.handle))
        self._io_refs["verify_host"] = cb

    def set_session(self, session: bytes) -> None:
        """Client: resume the session saved from an earlier connection."""
        data = bytes(session)
        check(lib.s2n_connection_set_session(self._conn(), ffi.from_buffer("uint8_t[]", data), len(data)))

    def get_session(self) -> bytes:
        """The session state to resume later (TLS 1.2; for TLS 1.3 prefer
        Config.set_session_ticket_callback: tickets arrive after the handshake)."""
        ptr = self._conn()
        n = check(lib.s2n_connection_get_session_length(ptr))
        if n == 0:
            return b""
        buf = ffi.new("uint8_t[]", n)
        got = check(lib.s2n_connection_get_session(ptr, buf, n))
        return ffi.unpack(ffi.cast("char *", buf), got)

    def free_handshake(self) -> None:
        """Release memory only the handshake needed (after negotiate)."""
        self._both(lambda p: check(lib.s2n_connection_free_handshake(p)), "free_handshake")

    def release_buffers(self) -> None:
        """Release the IO buffers while idle (fails if a partial record is buffered)."""
        self._both(lambda p: check(lib.s2n_connection_release_buffers(p)), "release_buffers")

    def release_buffers_if_idle(self) -> bool:
        """Release the IO buffers if no call is running in another thread and
        no partial record is buffered; never raises, never waits. For layers
        about to wait for the transport. Returns True if released."""
        ptr = self._ptr
        if ptr is None or not self._send.lock.acquire(False):
            return False
        try:
            if not self._recv.lock.acquire(False):
                return False
            try:
                if lib.s2n_connection_release_buffers(ptr) < 0:
                    lib.py_capture_now()  # consume the error: refusing is normal here
                    return False
                return True
            finally:
                self._recv.lock.release()
        finally:
            self._send.lock.release()

    # IO setup

    def set_fd(self, fd: Any) -> None:
        """Read and write this fd (an int, or anything with fileno(), kept referenced)."""
        check(lib.s2n_connection_set_fd(self._conn(), _fileno(fd)))
        self._io_refs["read"] = self._io_refs["write"] = fd

    def set_read_fd(self, fd: Any) -> None:
        check(lib.s2n_connection_set_read_fd(self._conn(), _fileno(fd)))
        self._io_refs["read"] = fd

    def set_write_fd(self, fd: Any) -> None:
        check(lib.s2n_connection_set_write_fd(self._conn(), _fileno(fd)))
        self._io_refs["write"] = fd

    def use_corked_io(self) -> None:
        """TCP_CORK during the handshake (fd IO only)."""
        check(lib.s2n_connection_use_corked_io(self._conn()))

    def set_recv_cb(self, fn: Callable[[memoryview], int]) -> None:
        """`fn(buf) -> int`: fill buf, return the count; 0 = peer closed;
        raise BlockingIOError for "would block", OSError for an IO error."""
        cb = _callbacks.IOCallback(fn)
        ptr = self._conn()
        check(lib.s2n_connection_set_recv_cb(ptr, lib.py_recv_trampoline))
        check(lib.s2n_connection_set_recv_ctx(ptr, cb.handle))
        self._io_refs["read"] = cb

    def set_send_cb(self, fn: Callable[[memoryview], int]) -> None:
        """`fn(data) -> int`: send some of data, return the count; errors as for recv."""
        cb = _callbacks.IOCallback(fn)
        ptr = self._conn()
        check(lib.s2n_connection_set_send_cb(ptr, lib.py_send_trampoline))
        check(lib.s2n_connection_set_send_ctx(ptr, cb.handle))
        self._io_refs["write"] = cb

    def set_memory_io(self, incoming: Any, outgoing: Any) -> None:
        """Sans-IO: read the peer's bytes from `incoming` and put this side's
        bytes into `outgoing` (two `s2n.MemoryBIO`s). Both stay in C: no
        Python runs per record. An empty `incoming` makes calls raise
        BlockedError (ON_READ); after `incoming.write_eof()` the transport is
        closed."""
        for bio in (incoming, outgoing):
            if getattr(bio, "_bio", None) is None:
                raise TypeError(f"expected s2n.MemoryBIO, not {type(bio).__name__}")
        if lib.py_connection_set_memory_io(self._conn(), incoming._bio, outgoing._bio) < 0:
            raise from_capture(lib.py_last_error())
        self._io_refs["read"], self._io_refs["write"] = incoming, outgoing

    # driving s2n-tls

    def _fail(self, ptr) -> S2NError:
        """The exception for a failed IO call; a callback's own exception wins."""
        capture = lib.py_last_error()
        if capture.blocked and not _callbacks.pending():
            # The common case in non-blocking IO: keep it cheap.
            blocked = blocked_error(capture.s2n_errno, capture.blocked)
            if blocked is not None:
                return blocked
        err = from_capture(capture, ptr)
        cb_exc = _callbacks.take()
        if cb_exc is None:
            return err
        if isinstance(cb_exc, OSError) and not isinstance(cb_exc, S2NError):
            from ._errors import IOError as S2NIOError

            io = S2NIOError(f"IO callback failed: {cb_exc}", errno=cb_exc.errno,
                            name=err.name, debug=err.debug)
            io.__cause__ = cb_exc
            return io
        return cb_exc  # type: ignore[return-value]

    def _both(self, fn: Callable, what: str):
        self._send.acquire(what)
        try:
            self._recv.acquire(what)
            try:
                return fn(self._conn())
            finally:
                self._recv.release()
        finally:
            self._send.release()

    def negotiate(self) -> None:
        """Run the handshake. Returns when it is complete; raises BlockedError
        (with `.blocked`) while it needs IO on a non-blocking transport."""
        send, recv = self._send, self._recv
        send.acquire("negotiate")
        try:
            recv.acquire("negotiate")
            try:
                ptr = self._conn()
                if lib.py_negotiate(ptr) < 0:
                    raise self._fail(ptr)
            finally:
                recv.release()
        finally:
            send.release()

    def send(self, data: Buffer) -> int:
        """Encrypt and send; returns the bytes taken (a partial write is
        possible). Retry with only the rest: `data[n:]`. Any buffer works, without a copy."""
        d = self._send
        d.acquire("send")
        try:
            ptr = self._conn()
            if type(data) is bytes:
                rc = lib.py_send(ptr, data, len(data))
            else:
                buf = ffi.from_buffer(data)
                try:
                    rc = lib.py_send(ptr, buf, len(buf))
                finally:
                    ffi.release(buf)
            if rc < 0:
                raise self._fail(ptr)
            return rc
        finally:
            d.release()

    def sendv_with_offset(self, buffers: Sequence[Buffer], offset: int) -> int:
        """Send the concatenation of `buffers` from byte `offset` on; returns
        the bytes taken. The next call passes the same buffers, offset + result."""
        if offset < 0:
            raise ValueError("offset must be >= 0")
        d = self._send
        d.acquire("sendv_with_offset")
        try:
            ptr = self._conn()
            views = [ffi.from_buffer(b) for b in buffers]
            try:
                iov = ffi.new("struct iovec[]", len(views))
                for i, v in enumerate(views):
                    iov[i].iov_base = v
                    iov[i].iov_len = len(v)
                rc = lib.py_sendv_with_offset(ptr, iov, len(views), offset)
            finally:
                for v in views:
                    ffi.release(v)
            if rc < 0:
                raise self._fail(ptr)
            return rc
        finally:
            d.release()

    def recv(self, max_bytes: int = _RECV_BUF - 64) -> bytes:
        """Up to `max_bytes` of application data (one record unless
        recv_multi_record is on); b"" once the peer's close_notify arrived.
        A transport closed without close_notify raises ClosedError."""
        if max_bytes < 0:
            raise ValueError("max_bytes must be >= 0")
        if max_bytes > _RECV_BUF_MAX:
            buf = bytearray(max_bytes)
            n = self.recv_into(buf)
            return bytes(memoryview(buf)[:n])
        d = self._recv
        d.acquire("recv")
        try:
            ptr = self._conn()
            rbuf = self._rbuf
            if rbuf is None or len(rbuf) < max_bytes:
                rbuf = self._rbuf = _raw_alloc("char[]", max(max_bytes, _RECV_BUF))
            rc = lib.py_recv(ptr, rbuf, max_bytes)
            if rc < 0:
                raise self._fail(ptr)
            return ffi.unpack(rbuf, rc)
        finally:
            d.release()

    def recv_into(self, buffer: Union[bytearray, memoryview], nbytes: int = 0) -> int:
        """Decrypt straight into `buffer` (up to `nbytes`, default all of it);
        returns the count, 0 once the peer's close_notify arrived."""
        d = self._recv
        d.acquire("recv_into")
        try:
            ptr = self._conn()
            try:
                buf = ffi.from_buffer(buffer, require_writable=True)
            except BufferError:
                raise TypeError("recv_into() needs a writable buffer") from None
            try:
                n = len(buf) if nbytes <= 0 else min(nbytes, len(buf))
                rc = lib.py_recv(ptr, buf, n)
            finally:
                ffi.release(buf)
            if rc < 0:
                raise self._fail(ptr)
            return rc
        finally:
            d.release()

    def peek(self) -> int:
        """Bytes of decrypted application data already buffered: recv() returns
        them without reading the transport (check before waiting on the fd)."""
        return lib.s2n_peek(self._conn())

    def peek_buffered(self) -> int:
        """Bytes of not yet decrypted records buffered (with recv buffering)."""
        return lib.s2n_peek_buffered(self._conn())

    def pending(self) -> int:
        """Non-zero when recv() may return data without the transport being readable."""
        ptr = self._conn()
        return lib.s2n_peek(ptr) + lib.s2n_peek_buffered(ptr)

    def shutdown(self) -> None:
        """Graceful close both ways: send close_notify, wait for the peer's
        (discarding application data still arriving). Does not close the fd."""
        def run(ptr):
            if lib.py_shutdown(ptr) < 0:
                raise self._fail(ptr)
        self._both(run, "shutdown")

    def shutdown_send(self) -> None:
        """Half-close (TLS 1.3): send close_notify, keep receiving until recv() gives b""."""
        d = self._send
        d.acquire("shutdown_send")
        try:
            ptr = self._conn()
            if lib.py_shutdown_send(ptr) < 0:
                raise self._fail(ptr)
        finally:
            d.release()

    def get_alert(self) -> Optional[int]:
        """The TLS alert code the peer sent, or None."""
        code = lib.s2n_connection_get_alert(self._conn())
        if code < 0:
            lib.py_capture_now()  # consume the "no alert" error
            return None
        return code

    # information

    def _str(self, cptr) -> Optional[str]:
        return None if cptr == ffi.NULL else ffi.string(cptr).decode("utf-8", errors="replace")

    def get_actual_protocol_version(self) -> ProtocolVersion:
        return ProtocolVersion(check(lib.s2n_connection_get_actual_protocol_version(self._conn())))

    def get_client_protocol_version(self) -> ProtocolVersion:
        return ProtocolVersion(check(lib.s2n_connection_get_client_protocol_version(self._conn())))

    def get_server_protocol_version(self) -> ProtocolVersion:
        return ProtocolVersion(check(lib.s2n_connection_get_server_protocol_version(self._conn())))

    def get_cipher(self) -> str:
        """The cipher suite's IANA name, e.g. "TLS_AES_128_GCM_SHA256"."""
        name = self._str(lib.s2n_connection_get_cipher(self._conn()))
        if name is None:
            raise last_error()
        return name

    def get_application_protocol(self) -> Optional[str]:
        return self._str(lib.s2n_get_application_protocol(self._conn()))

    def get_server_name(self) -> Optional[str]:
        return self._str(lib.s2n_get_server_name(self._conn()))

    def get_handshake_type_name(self) -> str:
        return self._str(lib.s2n_connection_get_handshake_type_name(self._conn())) or ""

    def get_curve(self) -> str:
        return self._str(lib.s2n_connection_get_curve(self._conn())) or "NONE"

    def get_kem_group_name(self) -> str:
        return self._str(lib.s2n_connection_get_kem_group_name(self._conn())) or "NONE"

    def is_session_resumed(self) -> bool:
        return check(lib.s2n_connection_is_session_resumed(self._conn())) == 1

    def client_cert_used(self) -> bool:
        return check(lib.s2n_connection_client_cert_used(self._conn())) == 1

    def get_wire_bytes_in(self) -> int:
        return lib.s2n_connection_get_wire_bytes_in(self._conn())

    def get_wire_bytes_out(self) -> int:
        return lib.s2n_connection_get_wire_bytes_out(self._conn())

    def get_peer_cert_chain(self) -> List[bytes]:
        """The peer's validated chain, leaf first, as DER bytes ([] if none)."""
        ptr = self._conn()
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

    def __repr__(self) -> str:
        state = "freed" if self._ptr is None else self._mode.name.lower()
        return f"<s2n.Connection {state}>"

