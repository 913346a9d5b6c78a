"""S2NTransport: an asyncio.Transport over an s2n-tls Connection on a
non-blocking socket (see the package docstring for how it works)."""

from __future__ import annotations

import array
import asyncio
import collections
import enum
import ipaddress
import logging
import socket
import sys
import threading
import warnings
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Deque, Dict, Iterable, List, Optional, Tuple, Type, Union

from .. import _hostname, _io
from .._enums import Blocked, Mode, ProtocolVersion
from .._errors import ClosedError, S2NError
from ..config import Config
from ..connection import Connection

if TYPE_CHECKING:  # pragma: no cover
    from asyncio.trsock import TransportSocket

    from ._server import Server

_ioctl: Optional[Callable[..., Any]]
_FIONREAD: Optional[int]
try:
    from fcntl import ioctl as _ioctl
    from termios import FIONREAD as _FIONREAD
except ImportError:  # pragma: no cover - not POSIX
    _ioctl = _FIONREAD = None

_TransportSocket: Optional[Type[TransportSocket]]
try:  # asyncio wraps the sockets it hands out, so that they are not misused
    from asyncio.trsock import TransportSocket as _TransportSocket
except ImportError:  # pragma: no cover
    _TransportSocket = None


logger = logging.getLogger("s2n.asyncio")

_DEFAULT_LIMIT = 2 ** 16  # asyncio.streams' default
_HANDSHAKE_TIMEOUT = 60.0
_SHUTDOWN_TIMEOUT = 30.0
_HIGH_WATER = 64 * 1024
_READ_BUFFER = 256 * 1024  # records are batched into one delivery up to this size
_MAX_PLAINTEXT = 16 * 1024  # one TLS record's worth
_JOIN_LIMIT = 256 * 1024  # queued small writes are joined up to this size per send
_LOG_THRESHOLD = 5  # writes after connection loss, as asyncio's constants

_R = Blocked.ON_READ
_W = Blocked.ON_WRITE
_A = Blocked.ON_APPLICATION_INPUT  # a callback (client hello, pkey, validation) has not decided yet
_Sleep = _io.Sleep

if sys.version_info >= (3, 11):  # asyncio.TimeoutError is TimeoutError
    _TimeoutBase = TimeoutError
else:  # pragma: no cover - 3.9, 3.10
    class _TimeoutBase(TimeoutError, asyncio.TimeoutError):
        pass


class HandshakeTimeout(_TimeoutBase):
    """The TLS handshake did not finish within `handshake_timeout` (a TimeoutError)."""


_local = threading.local()


def _read_buffer() -> bytearray:
    """One receive buffer per thread: data is copied out of it before any
    other transport can run, so connections need not own one each."""
    buf = getattr(_local, "buf", None)
    if buf is None:
        buf = _local.buf = bytearray(_READ_BUFFER)
    return buf


_StreamReaderProtocol = asyncio.StreamReaderProtocol


def _readable_bytes(fd: int, arg: "array.array[int]") -> int:
    """Bytes the kernel holds for fd (FIONREAD into arg, an array("i") of one
    owned by the caller's thread); 1 when unknown, so that the caller tries recv.
    Asking costs far less than a recv that ends in BlockedError."""
    if _ioctl is None:  # pragma: no cover
        return 1
    try:
        _ioctl(fd, _FIONREAD, arg, True)
    except OSError:
        return 1
    return int(arg[0])


def _set_nodelay(sock: socket.socket) -> None:
    """As asyncio does for TCP: the handshake's small records must not wait (Nagle)."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass  # not TCP (a Unix socket)


class _Op:
    """One running step generator and what it waits for."""

    __slots__ = ("gen", "on_done", "wait", "timer", "cancelled", "polls")

    def __init__(self, gen: _io.Steps[Any], on_done: Callable[[Any], None]) -> None:
        self.polls = 0  # checks for an application decision made elsewhere
        self.gen = gen
        self.on_done = on_done
        self.wait: Any = None  # None, Blocked.ON_READ/ON_WRITE, or a TimerHandle
        self.timer: Union[asyncio.TimerHandle, "asyncio.Future[Any]", None] = None
        self.cancelled = False


class State(enum.Enum):
    """The transport's one state (S2NTransport._state)."""

    HANDSHAKING = "handshaking"  # the handshake runs; no protocol yet
    OPEN = "open"  # the protocol is connected; data flows both ways
    CLOSING = "closing"  # close(): flushing the write queue, then close_notify
    BROKEN = "broken"  # a fatal error: the protocol was told; waiting out the blinding delay
    CLOSED = "closed"  # socket closed, Connection freed: nothing more happens


_HANDSHAKING, _OPEN, _CLOSING, _BROKEN, _CLOSED = (
    State.HANDSHAKING, State.OPEN, State.CLOSING, State.BROKEN, State.CLOSED)

# Every transition, in one place (S2NTransport._set_state checks each one).
# A broken stream stays broken: BROKEN only goes to CLOSED.
_TRANSITIONS = {
    _HANDSHAKING: frozenset({_OPEN,  # handshake done: connection_made()
                             _BROKEN,  # handshake failed, timed out, or close()
                             _CLOSED}),  # abort()
    _OPEN: frozenset({_CLOSING,  # close()
                      _BROKEN,  # an s2n-tls/socket error, or a protocol callback raised
                      _CLOSED}),  # abort()
    _CLOSING: frozenset({_BROKEN,  # the flush or close_notify failed
                         _CLOSED}),  # close_notify sent; abort(); shutdown_timeout
    _BROKEN: frozenset({_CLOSED}),  # the blinding delay is over; abort()
    _CLOSED: frozenset(),
}

# The transitions that end the protocol's connection: connection_made() is
# called on HANDSHAKING -> OPEN, so connection_lost() is due exactly when
# leaving OPEN/CLOSING for BROKEN/CLOSED, which happens at most once (no
# transition leads back).
_LOSES_PROTOCOL = frozenset({(_OPEN, _BROKEN), (_OPEN, _CLOSED),
                             (_CLOSING, _BROKEN), (_CLOSING, _CLOSED)})


class S2NTransport(asyncio.Transport):
    """An asyncio transport over an s2n-tls Connection on a non-blocking socket.

    One state (`State`, in `_state`), changed only by `_set_state()`, which
    checks each transition against `_TRANSITIONS`. The other fields are facts
    about one direction (reading paused, EOF received, write queue, write_eof
    asked or sent), about the fd's registration, or captured information.
    """

    _extra: Dict[str, Any]  # asyncio.BaseTransport's, from __init__(extra)

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, conn: Connection,
                 protocol_factory: Callable[[], asyncio.BaseProtocol], *,
                 waiter: Optional["asyncio.Future[None]"] = None, server: Optional["Server"] = None,
                 handshake_timeout: Optional[float] = _HANDSHAKE_TIMEOUT,
                 shutdown_timeout: Optional[float] = _SHUTDOWN_TIMEOUT,
                 extra: Optional[Dict[str, Any]] = None, expected_ip: Optional[bytes] = None,
                 client_hello_cb: Optional[Callable[[Connection], Awaitable[None]]] = None,
                 early_data: Optional[bytes] = None) -> None:
        super().__init__(extra)
        self._client_hello_cb = client_hello_cb
        conn._asyncio = True  # callbacks may hand the loop an awaitable (async pkey)
        self._expected_ip = expected_ip
        self._loop = loop
        self._sock: Optional[socket.socket] = sock
        self._fd = sock.fileno()
        self._ioctl_arg = array.array("i", [0])
        self._conn = conn
        self._protocol_factory = protocol_factory
        self._protocol: Optional[asyncio.BaseProtocol] = None
        self._waiter = waiter
        self._server = server
        self._shutdown_timeout = shutdown_timeout
        self._state = _HANDSHAKING
        self._conn_lost = 0  # writes after the loss (asyncio logs some)
        # operations
        self._rop: Optional[_Op] = None  # the handshake, then the read loop
        self._wop: Optional[_Op] = None  # the write loop, then close_notify
        self._running: Optional[_Op] = None
        # what the fd is registered for with the loop (a cache, to skip
        # add/remove calls that change nothing)
        self._fd_read = False
        self._fd_write = False
        # reading (the read direction's facts: they hold in any state)
        self._paused = False  # pause_reading(): the protocol asked for no data
        self._eof = False  # the peer's close_notify (or ragged EOF) arrived
        # writing
        self._wq: Deque[Union[bytes, bytearray, memoryview]] = collections.deque()
        self._wsize = 0
        self._high = _HIGH_WATER
        self._low = _HIGH_WATER // 4
        self._protocol_paused = False  # pause_writing() called, resume_writing() not yet
        # the write direction's own end (TLS 1.3 half-close) while the transport
        # stays OPEN for reading: write() refuses after write_eof(), and
        # close_notify goes out once, whether asked by write_eof() or close()
        self._eof_requested = False  # write_eof()
        self._eof_sent = False  # close_notify went out (or can no longer)
        self._tls13 = False  # negotiated TLS 1.3 (captured after the handshake)
        # timers
        self._handshake_timer: Optional[asyncio.TimerHandle] = None
        self._shutdown_timer: Optional[asyncio.TimerHandle] = None

        extra = self._extra
        extra["socket"] = _TransportSocket(sock) if _TransportSocket else sock
        extra["s2n_connection"] = conn
        extra["ragged_eof"] = False
        for key, get in (("sockname", sock.getsockname), ("peername", sock.getpeername)):
            try:
                extra[key] = get()
            except OSError:
                extra[key] = None

        if server is not None:
            server._attach(self)
        if handshake_timeout is not None:
            self._handshake_timer = loop.call_later(handshake_timeout, self._on_handshake_timeout,
                                                    handshake_timeout)
        # a client's first bytes, sent as 0-RTT early data when the session allows
        self._early_data = early_data
        steps: _io.Steps[Any]
        if early_data:
            steps = _io.early_data_then_handshake(conn, early_data)
        elif conn.mode == Mode.SERVER and _max_early_data(conn.config):
            steps = _io.early_data_received_then_handshake(conn)
        else:
            steps = _io.handshake(conn)
        self._rop = op = _Op(steps, self._on_handshake_done)
        if conn.mode == Mode.SERVER:
            op.wait = _R  # nothing to do before the ClientHello arrives
            self._sync_fd()
        else:
            self._run(op)  # send the ClientHello now

    def __repr__(self) -> str:
        state = self._state.value
        return f"<S2NTransport fd={self._fd} {state}>"

    def _set_state(self, new: State) -> bool:
        """The one place the state changes; the transition must be in
        _TRANSITIONS. Returns True if it ends the protocol's connection
        (the caller then schedules connection_lost())."""
        old = self._state
        if new not in _TRANSITIONS[old]:
            raise RuntimeError(f"{self!r}: invalid state transition {old.name} -> {new.name}")
        self._state = new
        return (old, new) in _LOSES_PROTOCOL

    # driving the step generators

    def _run(self, op: _Op) -> None:
        """Advance op until it waits or ends; then (un)register the fd."""
        if op.cancelled:
            return
        outer = self._running
        self._running = op
        try:
            step = op.gen.send(None)
        except StopIteration as stop:
            self._running = outer
            if not op.cancelled:
                self._forget(op)
                op.on_done(stop.value)
        except (SystemExit, KeyboardInterrupt):
            self._running = outer
            raise
        except BaseException as exc:  # noqa: BLE001 - becomes the connection's error
            self._running = outer
            if not op.cancelled:
                self._forget(op)
                self._error(exc)
        else:
            self._running = outer
            if op.cancelled:
                op.gen.close()
            elif type(step) is _Sleep:
                op.wait = op.timer = self._loop.call_later(step, self._wake, op)
            elif step is _R or step is _W:
                op.wait = step
            elif step is _A and op is self._rop:
                self._await_application(op)
            else:
                self._forget(op)
                op.gen.close()
                self._error(S2NError(f"unexpected blocked status {step!r}"))
        self._sync_fd()

    def _wake(self, op: _Op) -> None:
        op.wait = op.timer = None
        self._run(op)

    def _forget(self, op: _Op) -> None:
        if self._rop is op:
            self._rop = None
        elif self._wop is op:
            self._wop = None

    def _cancel(self, op: Optional[_Op]) -> None:
        if op is None:
            return
        self._forget(op)
        op.cancelled = True
        if op.timer is not None:
            op.timer.cancel()
        op.wait = op.timer = None
        if op is not self._running:
            op.gen.close()
        # a running generator is closed by _run once it yields

    def _sync_fd(self) -> None:
        want_r = want_w = False
        for op in (self._rop, self._wop):
            if op is not None:
                w = op.wait
                if w is _R:
                    want_r = True
                elif w is _W:
                    want_w = True
        if self._sock is None:
            return
        if want_r != self._fd_read:
            self._fd_read = want_r
            if want_r:
                self._loop.add_reader(self._fd, self._on_readable)
            else:
                self._loop.remove_reader(self._fd)
        if want_w != self._fd_write:
            self._fd_write = want_w
            if want_w:
                self._loop.add_writer(self._fd, self._on_writable)
            else:
                self._loop.remove_writer(self._fd)

    def _on_readable(self) -> None:
        self._on_ready(_R)

    def _on_writable(self) -> None:
        self._on_ready(_W)

    def _on_ready(self, what: Blocked) -> None:
        rop, wop = self._rop, self._wop
        if rop is not None and rop.wait is what:
            rop.wait = None
            self._run(rop)
        if wop is not None and wop is self._wop and wop.wait is what:
            wop.wait = None
            self._run(wop)
        self._sync_fd()

    # handshake

    def _await_application(self, op: _Op) -> None:
        """s2n-tls waits for the application: an awaitable a callback
        returned (an async pkey callback), or the NONBLOCKING client hello
        callback (`client_hello_cb`). Otherwise the decision comes from
        elsewhere (a thread): check again on a timer, backing off, until
        handshake_timeout."""
        conn = self._conn
        pending = conn._take_app_awaitable()
        hello_cb = self._client_hello_cb
        if pending is not None:
            awaitable, finish = pending
            self._start_app_task(op, lambda: awaitable, finish, "async pkey callback")
        elif hello_cb is not None and conn._hello is not None and conn._hello.waiting:
            self._start_app_task(op, lambda: hello_cb(conn), conn.client_hello_cb_done,
                                 "client hello callback")
        else:
            pause = min(0.05, 0.001 * 2 ** min(op.polls, 6))
            op.polls += 1
            op.wait = op.timer = self._loop.call_later(pause, self._wake, op)

    def _start_app_task(self, op: _Op, make: Callable[[], Any], finish: Callable[[], None],
                        what: str) -> None:
        """Run the awaitable `make()` as a task. The handshake waits on the
        task, not on the fd (no busy loop; `_cancel` cancels the task), and
        resumes once it returns and `finish()` (client_hello_cb_done, the
        pkey op's apply) succeeded."""
        try:
            task = asyncio.ensure_future(make(), loop=self._loop)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:  # noqa: BLE001 - not a coroutine, or it raised at once
            self._forget(op)
            op.gen.close()
            self._error(exc)
            return
        op.wait = op.timer = task
        task.add_done_callback(lambda t: self._on_app_task_done(op, t, finish, what))

    def _on_app_task_done(self, op: _Op, task: "asyncio.Future[None]", finish: Callable[[], None],
                          what: str) -> None:
        if op.cancelled or op.timer is not task:
            return  # the transport closed meanwhile (the task was cancelled)
        op.wait = op.timer = None
        exc = ConnectionAbortedError(f"{what} cancelled") if task.cancelled() \
            else task.exception()
        if exc is None:
            try:
                finish()
            except BaseException as e:  # noqa: BLE001
                exc = e
        if exc is not None:
            self._forget(op)
            op.gen.close()
            self._error(exc)
            self._sync_fd()
            return
        self._run(op)

    def _server_hostname(self, conn: Connection) -> Optional[str]:
        if self._expected_ip is not None:
            return str(ipaddress.ip_address(self._expected_ip))  # not sent as SNI
        return conn.get_server_name()

    def _on_handshake_timeout(self, timeout: float) -> None:
        self._handshake_timer = None
        if self._state is _HANDSHAKING:
            self._error(HandshakeTimeout(f"TLS handshake did not finish within {timeout} s"))

    def _on_handshake_done(self, early_sent: Any) -> None:
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
            self._handshake_timer = None
        conn = self._conn
        extra = self._extra
        try:
            _hostname.confirm(conn, self._expected_ip)
            if conn.mode == Mode.SERVER and not conn.client_cert_used():
                chain = []  # (asking s2n-tls would fail, and failing costs an exception)
            else:
                chain = conn.get_peer_cert_chain()
            extra["peercert_chain"] = chain
            extra["peercert"] = chain[0] if chain else None
            extra["cipher"] = conn.get_cipher()
            version = conn.get_actual_protocol_version()
            extra["version"] = str(version)
            extra["alpn_protocol"] = conn.get_application_protocol()
            extra["server_hostname"] = self._server_hostname(conn)
            self._tls13 = version >= ProtocolVersion.TLS1_3
            # Handshake-only memory is dead weight from here on (and most of
            # an idle connection's size).
            conn.free_handshake()
        except BaseException as exc:  # noqa: BLE001
            self._error(exc)
            return
        self._set_state(_OPEN)
        try:
            self._protocol = self._protocol_factory()
            self._protocol.connection_made(self)
        except BaseException as exc:  # noqa: BLE001
            self._error(exc)
            return
        if type(early_sent) is bytes and early_sent:  # a server's early data
            self._deliver(memoryview(early_sent), len(early_sent))
        data, self._early_data = self._early_data, None
        if data:
            # The retry rule: what the server did not take early goes again
            # now, before anything the application writes.
            from .._enums import EarlyDataStatus
            if conn.get_early_data_status() != EarlyDataStatus.END:
                early_sent = 0
            if early_sent < len(data):
                self.write(data[early_sent:])
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.cancelled():
                waiter.set_result(None)
        if self._state is not _OPEN:  # connection_made() closed it
            return
        # s2n-tls may already hold application data (read with the handshake):
        # then no fd event would announce it
        if not self._paused:
            if conn.pending():
                self._start_reading()
            else:
                self._start_reading_on_fd()
        if self._wq or self._eof_requested:
            self._start_writing()

    # reading

    def _start_reading(self) -> None:
        if self._rop is not None or self._eof or self._state is not _OPEN:
            return
        self._rop = op = _Op(self._reading(), self._on_reading_done)
        self._run(op)

    def _reading(self) -> _io.Steps[bool]:
        """The read loop, a step generator: recv until s2n-tls reports
        BLOCKED (a negative number from the nb path: no exception, and with
        recv buffering no syscall until its buffer is empty), batching the
        records into one data_received() call; stop when paused, at EOF or
        on close. Returns True at EOF."""
        conn = self._conn
        recv = conn._recv_data_into
        sock = self._sock
        assert sock is not None  # reading runs only while OPEN
        fd = sock.fileno()
        blocked_as = _io._B
        buf = _read_buffer()  # shared: everything in it is delivered before any yield
        view = memoryview(buf)
        batch_limit = len(buf) - _MAX_PLAINTEXT
        while True:
            off = 0
            eof = False
            step = None
            while True:
                try:
                    n = recv(view[off:] if off else buf, 0, True, fd, 0)  # fd: and the records buffered
                except ClosedError:
                    self._extra["ragged_eof"] = True
                    eof = True
                    break
                if n > 0:
                    off += n
                    if off > batch_limit:
                        break  # deliver this batch, then go on at once
                elif n == 0:
                    eof = True  # close_notify
                    break
                else:
                    step = blocked_as[-n]
                    break
            if off:
                self._deliver(view, off)
            if eof:
                return True
            if self._paused or self._state is not _OPEN:
                return False
            if step is not None:
                if step is _R:
                    # idle until the peer writes: the IO buffers (~35 KiB) need not wait too
                    conn.release_buffers_if_idle()
                yield step

    def _deliver(self, view: memoryview, n: int) -> None:
        protocol = self._protocol
        if type(protocol) is _StreamReaderProtocol:
            # it copies into its StreamReader's buffer at once: no bytes object needed
            protocol.data_received(view[:n])  # type: ignore[arg-type]  # typeshed says bytes; any buffer does
        else:
            protocol.data_received(bytes(view[:n]))  # type: ignore[union-attr]

    def _on_reading_done(self, eof: bool) -> None:
        if not eof or self._state is not _OPEN:
            return
        self._eof = True
        try:
            keep_open = self._protocol.eof_received()  # type: ignore[union-attr]
        except BaseException as exc:  # noqa: BLE001
            self._error(exc)
            return
        if not keep_open or self._eof_sent:
            self.close()

    def is_reading(self) -> bool:
        return not self._paused and not self._eof and self._state in (_HANDSHAKING, _OPEN)

    def pause_reading(self) -> None:
        if self._paused or self.is_closing():
            return
        self._paused = True
        op = self._rop
        if op is not None and self._state is _OPEN and op is not self._running:
            self._cancel(op)  # waiting on the fd; s2n-tls keeps what it buffered
            self._sync_fd()
        # a running read loop stops by itself after data_received returns

    def resume_reading(self) -> None:
        if not self._paused or self.is_closing():
            return
        self._paused = False
        if self._state is not _OPEN or self._rop is not None:
            return
        if self._conn.pending():
            self._loop.call_soon(self._start_reading)  # buffered: no fd event will come
        else:
            self._start_reading_on_fd()

    def _start_reading_on_fd(self) -> None:
        if self._rop is not None or self._eof or self._paused or self._state is not _OPEN:
            return
        op = self._rop = _Op(self._reading(), self._on_reading_done)
        op.wait = _R  # the generator starts with a recv once the fd is readable
        self._sync_fd()

    # writing

    def write(self, data: Union[bytes, bytearray, memoryview]) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data argument must be a bytes-like object, not {type(data).__name__!r}")
        if self._eof_requested:
            raise RuntimeError("Cannot call write() after write_eof()")
        if self._state is not _OPEN and self._state is not _HANDSHAKING:
            if self._conn_lost >= _LOG_THRESHOLD:
                logger.warning("socket.send() raised exception.")
            self._conn_lost += 1
            return
        if not data:
            return
        if self._wop is None and self._state is _OPEN and not self._wq:
            if type(data) is memoryview and (data.ndim != 1 or data.itemsize != 1):
                data = bytes(data)  # counts below are in bytes
            # Nothing queued (the write loop runs while anything is): send
            # at once, without a step generator. Most writes end here.
            try:
                n = self._conn._send_data(data, True)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:  # noqa: BLE001 - becomes the connection's error
                self._error(exc)
                return
            size = len(data)
            if n >= size:
                return
            # The rest waits in the queue (a copy: the caller may reuse its
            # buffer once write() returns). After BLOCKED, s2n-tls wants the
            # same bytes again: the write loop retries them first, unjoined.
            if n > 0:
                rest = bytes(memoryview(data)[n:])
                blocked = None
            else:
                rest = data if type(data) is bytes else bytes(data)
                blocked = _io._B[-n]
            self._wq.append(rest)
            self._wsize += len(rest)
            self._wop = op = _Op(self._writing(blocked), self._on_writing_done)
            self._run(op)
            self._maybe_pause_protocol()
            return
        if type(data) is not bytes:
            data = bytes(data)  # the caller may reuse its buffer once write() returns
        self._wq.append(data)
        self._wsize += len(data)
        if self._wop is None and self._state is _OPEN:
            self._start_writing()
        self._maybe_pause_protocol()

    def writelines(self, list_of_data: Iterable[Union[bytes, bytearray, memoryview]]) -> None:
        self.write(b"".join(list_of_data))

    def _start_writing(self) -> None:
        self._wop = op = _Op(self._writing(), self._on_writing_done)
        self._run(op)

    def _writing(self, blocked: Optional[Blocked] = None) -> _io.Steps[None]:
        """The write loop, a step generator: send the queue (after a partial
        send, only the rest: `_io.send`), then close_notify if asked.
        `blocked`: what the first send, made by write(), reported; q[0] is
        then retried as it is (s2n-tls wants the same bytes after BLOCKED)."""
        conn = self._conn
        q = self._wq
        send = _io.send
        while q:
            data = q[0]
            if blocked is not None:
                n = yield from send(conn, data, blocked)
                blocked = None
            else:
                if len(q) > 1 and len(data) < _JOIN_LIMIT:
                    data = self._join_queued()
                n = yield from send(conn, data)
            self._wsize -= n
            if n >= len(data):
                q.popleft()
            else:
                q[0] = memoryview(data)[n:]
            if self._protocol_paused and self._wsize <= self._low:
                self._resume_protocol()
        if (self._eof_requested or self._state is not _OPEN) and not self._eof_sent:
            self._eof_sent = True
            yield from _io.close_notify(conn)
        return None

    def _join_queued(self) -> bytes:
        q = self._wq
        parts: List[Union[bytes, bytearray, memoryview]] = []
        size = 0
        while q and (not parts or size + len(q[0]) <= _JOIN_LIMIT):
            part = q.popleft()
            parts.append(part)
            size += len(part)
        data = b"".join(parts)
        q.appendleft(data)
        return data

    def _on_writing_done(self, _: Any) -> None:
        state = self._state
        if state is _CLOSING:  # flushed, close_notify sent: done
            self._release(None, graceful=True)
        elif state is not _OPEN:
            return  # (BROKEN and CLOSED cancel the write loop: not reached)
        elif self._wq:  # written from a protocol callback after the loop ended
            self._start_writing()
        elif self._eof_sent and self._eof:
            self.close()

    def _maybe_pause_protocol(self) -> None:
        if self._wsize > self._high and not self._protocol_paused:
            self._protocol_paused = True
            try:
                self._protocol.pause_writing()  # type: ignore[union-attr]
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:  # noqa: BLE001
                self._loop.call_exception_handler({
                    "message": "protocol.pause_writing() failed", "exception": exc,
                    "transport": self, "protocol": self._protocol})

    def _resume_protocol(self) -> None:
        self._protocol_paused = False
        try:
            self._protocol.resume_writing()  # type: ignore[union-attr]
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:  # noqa: BLE001
            self._loop.call_exception_handler({
                "message": "protocol.resume_writing() failed", "exception": exc,
                "transport": self, "protocol": self._protocol})

    def get_write_buffer_size(self) -> int:
        return self._wsize

    def get_write_buffer_limits(self) -> Tuple[int, int]:
        return (self._low, self._high)

    def set_write_buffer_limits(self, high: Optional[int] = None, low: Optional[int] = None) -> None:
        if high is None:
            high = _HIGH_WATER if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high, self._low = high, low
        if self._protocol is not None:
            self._maybe_pause_protocol()

    def can_write_eof(self) -> bool:
        """TLS 1.3 has half-close (close_notify, then keep reading); TLS 1.2 has not."""
        return self._state is _OPEN and self._tls13

    def write_eof(self) -> None:
        if self._eof_requested or self.is_closing():
            return
        if not self.can_write_eof():
            raise NotImplementedError("half-close needs TLS 1.3")
        self._eof_requested = True
        if self._wop is None:
            self._start_writing()

    # closing

    def is_closing(self) -> bool:
        return self._state is not _OPEN and self._state is not _HANDSHAKING

    def close(self) -> None:
        """Flush, send close_notify, close the socket (bounded by shutdown_timeout)."""
        state = self._state
        if state is _HANDSHAKING:
            self._error(ConnectionAbortedError("transport closed during the TLS handshake"))
            return
        if state is not _OPEN:  # closing, broken or closed already
            return
        self._set_state(_CLOSING)
        self._cancel(self._rop)
        if self._wop is None:
            self._start_writing()  # the write loop ends with close_notify
        else:
            self._sync_fd()
        # Most closes finish right here (nothing queued, close_notify taken
        # by the socket at once): only one that has to wait gets a timer.
        if self._state is _CLOSING and self._shutdown_timeout is not None:
            self._shutdown_timer = self._loop.call_later(self._shutdown_timeout, self._on_shutdown_timeout)

    def _on_shutdown_timeout(self) -> None:
        self._shutdown_timer = None
        if self._state is _CLOSING:
            logger.info("%r: close did not finish within %s s; aborting", self, self._shutdown_timeout)
            self._release(None, graceful=False)

    def abort(self) -> None:
        """Close the socket now: no flush, no close_notify."""
        if self._state is _CLOSED:
            return
        if self._state is _HANDSHAKING:
            self._fail_handshake(ConnectionAbortedError("transport aborted during the TLS handshake"))
        self._release(None, graceful=False)

    def _error(self, exc: BaseException) -> None:
        """A fatal error: tell the protocol (or the waiter) now; close the
        socket after the blinding delay s2n-tls asks for."""
        if self._state is _BROKEN or self._state is _CLOSED:
            return  # a broken stream stays broken: the first error is the one reported
        handshaking = self._state is _HANDSHAKING or self._waiter is not None
        lost = self._set_state(_BROKEN)
        self._cancel(self._rop)
        self._cancel(self._wop)
        if self._shutdown_timer is not None:
            self._shutdown_timer.cancel()
            self._shutdown_timer = None
        self._wq.clear()
        self._wsize = 0
        if handshaking:
            self._fail_handshake(exc)
        else:
            self._log_error(exc, "fatal error")
        if lost:
            self._loop.call_soon(self._call_connection_lost, exc)
        self._wop = op = _Op(_io.blinding_delay(self._conn), lambda _: self._release(exc, graceful=False))
        self._run(op)

    def _fail_handshake(self, exc: BaseException) -> None:
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
            self._handshake_timer = None
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.cancelled():
                waiter.set_exception(exc)
        elif self._server is not None:
            self._log_error(exc, "TLS handshake failed")

    def _log_error(self, exc: BaseException, what: str) -> None:
        if isinstance(exc, (S2NError, OSError, TimeoutError)):
            logger.info("%s with %s: %s", what, self._extra.get("peername"), exc)
        else:
            self._loop.call_exception_handler({
                "message": f"s2n.asyncio: {what}", "exception": exc,
                "transport": self, "protocol": self._protocol})

    def _call_connection_lost(self, exc: Optional[BaseException]) -> None:
        try:
            # (a BaseException too, as asyncio's own transports pass: typeshed says Exception)
            self._protocol.connection_lost(exc)  # type: ignore[union-attr,arg-type]
        finally:
            self._protocol = None
            self._protocol_factory = None  # type: ignore[assignment]

    def _release(self, exc: Optional[BaseException], graceful: bool) -> None:
        """Close the socket, free the s2n Connection, then connection_lost."""
        if self._state is _CLOSED:
            return
        lost = self._set_state(_CLOSED)
        self._cancel(self._rop)
        self._cancel(self._wop)
        for timer in (self._handshake_timer, self._shutdown_timer):
            if timer is not None:
                timer.cancel()
        self._handshake_timer = self._shutdown_timer = None
        self._wq.clear()
        self._wsize = 0
        sock, self._sock = self._sock, None
        if self._fd_read:
            self._loop.remove_reader(self._fd)
        if self._fd_write:
            self._loop.remove_writer(self._fd)
        self._fd_read = self._fd_write = False
        try:
            self._conn.free()
        except S2NError:  # pragma: no cover - only if a call is in progress elsewhere
            pass
        if sock is not None:
            if graceful:
                _discard_input(sock, self._ioctl_arg)
            sock.close()
        if self._server is not None:
            self._server._detach(self)
            self._server = None
        if lost:
            self._loop.call_soon(self._call_connection_lost, exc)

    def __del__(self, _warn: Callable[..., None] = warnings.warn) -> None:
        sock = getattr(self, "_sock", None)
        if sock is not None:
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            sock.close()

    # the rest of the Transport interface

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol  # type: ignore[return-value]

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol


def _discard_input(sock: socket.socket, arg: "array.array[int]", limit: int = 1 << 20) -> None:
    """Read what the peer sent that nobody will read: closing a TCP socket
    with unread input sends RST instead of FIN, and RST can destroy our own
    last bytes (the close_notify) before the peer reads them."""
    try:
        while limit > 0 and _readable_bytes(sock.fileno(), arg):
            data = sock.recv(65536)
            if not data:
                return
            limit -= len(data)
    except OSError:
        pass


def _max_early_data(config: Optional[Config]) -> int:
    """What a server's Config lets a client send early (0: none)."""
    size: int = getattr(config, "_max_early_data", 0)
    return size


def _new_connection(mode: Mode, config: Config, sock: socket.socket,
                    server_hostname: Optional[str] = None) -> Connection:
    conn = Connection._for_fd(mode, config, sock, _hostname.sni(server_hostname))
    try:
        if server_hostname:
            _hostname.expect(conn, server_hostname, set_sni=False)
    except BaseException:
        conn.free()
        raise
    return conn


def _timeouts(kwargs: Dict[str, Any], handshake_timeout: Optional[float],
              shutdown_timeout: Optional[float]) -> Tuple[Optional[float], Optional[float]]:
    """Accept asyncio's ssl_* names too."""
    if "ssl_handshake_timeout" in kwargs:
        handshake_timeout = kwargs.pop("ssl_handshake_timeout")
    if "ssl_shutdown_timeout" in kwargs:
        shutdown_timeout = kwargs.pop("ssl_shutdown_timeout")
    if kwargs:
        raise TypeError(f"unexpected keyword arguments: {', '.join(sorted(kwargs))}")
    for name, value in (("handshake_timeout", handshake_timeout), ("shutdown_timeout", shutdown_timeout)):
        if value is not None and value <= 0:
            raise ValueError(f"{name} should be a positive number, got {value}")
    return handshake_timeout, shutdown_timeout
