"""TLSSocket: a socket-like object over a Connection, as `ssl.SSLSocket` is.

s2n-tls reads and writes the socket's fd itself (the fast path). The fd is
always non-blocking underneath: blocking and timeouts are emulated by waiting
with poll() between attempts (the `_io` state machine says for what). That is
what lets a timeout, or Ctrl-C, interrupt even a handshake: a thread blocked
inside s2n-tls's own read() would not return to Python until data arrived.
"""

from __future__ import annotations

import _socket as _socket_c
import errno
import io
import select
import socket as _socket
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Literal, Optional, Tuple, TypeVar, Union, overload

from . import _hostname, _io
from ._enums import Blocked, EarlyDataStatus, Mode
from ._lib import lib
from ._errors import ClosedError, S2NError, WantReadError, WantWriteError
from .config import Config
from .connection import Connection

# socket.timeout is TimeoutError from 3.10 on; make 3.9's catchable as both.
if sys.version_info >= (3, 10):  # issubclass(_socket.timeout, TimeoutError)
    _Timeout = _socket.timeout
else:  # pragma: no cover - Python 3.9
    class _Timeout(_socket.timeout, TimeoutError):
        pass

_T = TypeVar("_T")
_BinaryMode = Literal["b", "rb", "br", "wb", "bw", "rwb", "rbw", "wrb", "wbr", "brw", "bwr"]

# The socket's own methods, unbound: a socket subclass (s2n.ssl.SSLSocket)
# hands itself over and overrides these with their TLS meanings.
_raw = _socket_c.socket

# A reader that waited this long (ms) for the peer is idle: it gives its IO
# buffers back while it waits on.
IDLE_MS = 1

# Other waits inside C (handshake flights, a full send buffer) last at most
# this long (ms) before the wait moves to Python, where it holds no lock.
C_WAIT_MS = 10

# close() waits at most this long for close_notify to go out on a socket
# without a timeout, so closing never hangs on a peer that stopped reading.
CLOSE_TIMEOUT = 5.0

_POLLIN = select.POLLIN | select.POLLPRI | select.POLLHUP | select.POLLERR
_POLLOUT = select.POLLOUT | select.POLLHUP | select.POLLERR


def wrap_socket(sock: _socket.socket, config: Config, *, server_side: bool = False,
                server_hostname: Optional[str] = None,
                do_handshake_on_connect: bool = True,
                suppress_ragged_eofs: bool = False,
                session: Optional[bytes] = None,
                early_data: Optional[bytes] = None) -> "TLSSocket":
    """Wrap a connected socket. The TLSSocket takes over the socket: close
    the TLSSocket, not the socket. Its timeout is the socket's at wrap time.
    `session`: resume it (bytes from an earlier `Connection.get_session()`
    or a session ticket callback). `early_data`: a client's first bytes, sent
    as TLS 1.3 early data (0-RTT) if the session allows it, else (or when the
    server rejects them) as normal data right after the handshake: either
    way they arrive once. Only for requests that are safe to replay."""
    return TLSSocket(sock, config, server_side=server_side, server_hostname=server_hostname,
                     do_handshake_on_connect=do_handshake_on_connect,
                     suppress_ragged_eofs=suppress_ragged_eofs, session=session,
                     early_data=early_data)


def _set_nodelay(sock: _socket.socket) -> None:
    """s2n-tls writes a handshake flight in several small writes: with Nagle
    and delayed ACKs each handshake would stall ~40 ms on real TCP."""
    if sock.family in (_socket.AF_INET, _socket.AF_INET6):
        try:
            sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        except OSError:
            pass


def _secret_bits(cipher: str) -> int:
    """Secret bits of a cipher suite named the IANA or the OpenSSL way."""
    name = cipher.upper().replace("_", "-")
    if "CHACHA20" in name or "AES256" in name or "AES-256" in name:
        return 256
    if "3DES" in name or "DES-CBC3" in name:
        return 112
    return 128


class TLSSocket:
    """A TLS connection over a socket, with the methods of `ssl.SSLSocket`.

    Defaults chosen for speed and memory that change no behaviour you asked
    for: TCP_NODELAY, full-size records (`prefer_throughput`), receive
    buffering, handshake memory freed once the handshake is done, and
    self-service blinding (a failing call raises at once; a *server*'s
    `close()` then waits out the blinding delay, bounded by the timeout; a
    client has nothing to blind and closes at once).

    `suppress_ragged_eofs=False` (unlike `ssl`'s default): a peer that closes
    the TCP connection without TLS close_notify makes `recv` raise
    `s2n.ClosedError` rather than look like a clean end of data.

    Threads: one thread may send while another receives. Two senders (or
    two receivers) take turns, each call whole (two `sendall`s never
    interleave their bytes); waiting for the turn counts against the
    timeout. `close()` from another thread wakes the threads waiting on the
    socket (they raise `OSError(EBADF)`) and the socket is closed only once
    no call uses it.
    """

    def __init__(self, sock: _socket.socket, config: Config, *, server_side: bool = False,
                 server_hostname: Optional[str] = None, do_handshake_on_connect: bool = True,
                 suppress_ragged_eofs: bool = False, check_hostname: bool = True,
                 session: Optional[bytes] = None, early_data: Optional[bytes] = None) -> None:
        if sock.type != _socket.SOCK_STREAM:
            raise ValueError("TLS needs a SOCK_STREAM socket")
        if server_side and server_hostname:
            raise ValueError("server_hostname is for clients")
        if early_data is not None and server_side:
            raise ValueError("early_data is for clients")
        self._early_data = None if early_data is None else bytes(early_data)
        self._early_in = b""  # a server's early data, for the first recv()s
        self._sock = sock
        self._fd = _raw.fileno(sock)
        self.settimeout(_raw.gettimeout(sock))
        self.server_side = server_side
        self.server_hostname = server_hostname
        self.suppress_ragged_eofs = suppress_ragged_eofs
        conn = Connection._for_fd(Mode.SERVER if server_side else Mode.CLIENT, config, sock,
                                  _hostname.sni(server_hostname))
        try:
            self._expected_ip = (_hostname.expect(conn, server_hostname, check_hostname, set_sni=False)
                                 if server_hostname else None)
            if session:
                conn.set_session(session)
            _raw.setblocking(sock, False)
            _set_nodelay(sock)
        except BaseException:
            conn.free()
            raise
        self.connection = conn
        # One lock and one poll object per direction: a reader thread and a
        # writer thread may wait at the same time (s2n-tls allows one of each).
        self._rlock = threading.Lock()
        self._wlock = threading.Lock()
        self._release_lock = threading.Lock()
        # Held by the thread doing the handshake (taken before the other
        # two): threads that come to do_handshake() wait on it, not on the
        # direction locks, which a reader or writer may hold for long once
        # the handshake is done.
        self._hs_lock = threading.Lock()
        self._polls: Dict[int, "select.poll"] = {}
        self._handshake_done = False
        self._handshake_started = False
        self._closed = False
        self._released = False
        if do_handshake_on_connect:
            try:
                self._connected_or_not()
            except BaseException:
                self.close()
                raise

    def _connected_or_not(self) -> None:
        try:
            self._sock.getpeername()
        except OSError:
            return  # not connected yet: the handshake happens on first use (as ssl does)
        self.do_handshake()

    # waiting

    def _runner(self, closing: bool = False) -> Callable[[_io.Step], None]:
        """A wait function for `_io.run_sync` with one deadline for the whole call."""
        timeout = self._timeout
        deadline = None if timeout is None else time.monotonic() + timeout

        def wait(step: _io.Step) -> None:
            if isinstance(step, _io.Sleep):
                delay = float(step)
                if deadline is not None:
                    delay = min(delay, max(0.0, deadline - time.monotonic()))
                time.sleep(delay)
                return
            if timeout == 0.0:
                raise WantReadError() if step == Blocked.ON_READ else WantWriteError()
            poll = self._polls.get(step)
            if poll is None:
                poll = self._polls[step] = select.poll()
                poll.register(self._sock, _POLLIN if step == Blocked.ON_READ else _POLLOUT)
            if step == Blocked.ON_READ and not poll.poll(IDLE_MS):
                # No data within IDLE_MS: the connection is idle and need not
                # keep its IO buffers (about 35 KiB) while it waits. A busy
                # one (data within a millisecond) keeps them: releasing and
                # re-allocating them on every wait taxes bulk and round trips.
                self.connection.release_buffers_if_idle()
            if deadline is None:
                poll.poll()
            else:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not poll.poll(remaining * 1000):
                    raise _Timeout("the TLS operation timed out")
            if self._closed and not closing:
                raise _closed_error("closed by another thread")

        return wait

    def _run(self, steps: _io.Steps[_T], closing: bool = False) -> _T:
        return _io.run_sync(steps, self._runner(closing))

    def _take(self, lock: threading.Lock) -> bool:
        """Wait for this direction's turn (another thread's call), within the timeout."""
        if lock.acquire(False):
            return True
        if self._timeout == 0.0:
            raise WantReadError() if lock is self._rlock else WantWriteError()
        if not lock.acquire(timeout=-1 if self._timeout is None else self._timeout):
            raise _Timeout("the TLS operation timed out waiting for another thread's call")
        return True

    def _give(self, lock: threading.Lock) -> None:
        lock.release()
        if self._closed:
            self._release_if_unused()

    def _ready(self) -> Connection:
        """The connection, handshake done (doing it first if need be)."""
        if self._closed:
            raise _closed_error()
        if not self._handshake_done:
            self.do_handshake()
        return self.connection

    # the socket API

    # Waiting. A call first waits inside C (Connection's `fd`/`wait_ms`):
    # s2n-tls blocks, the glue polls the fd and calls again, so a busy
    # connection costs one C call per operation, as with ssl. That wait holds
    # the Connection's locks (getters from other threads wait for it), so it
    # is short: IDLE_MS for a reader, C_WAIT_MS otherwise. Past it, the call
    # waits in Python with poll(), holding no Connection lock, then tries
    # again. Signals run their handlers at either wait (PEP 475); close()
    # from another thread wakes both.

    def _wait_ms(self, deadline: Optional[float], blocked: int) -> int:
        """Time left in ms (-1: no limit); raises once it is up, or if closed."""
        if self._closed:
            raise _closed_error("closed by another thread")
        if deadline is None:
            return -1
        left = deadline - time.monotonic()
        if left <= 0:
            if self._timeout == 0.0:
                raise WantReadError() if blocked == Blocked.ON_READ else WantWriteError()
            raise _Timeout("the TLS operation timed out")
        return int(left * 1000) + 1

    def _deadline(self) -> Optional[float]:
        timeout = self._timeout
        return None if timeout is None else time.monotonic() + timeout


    def _retry(self, call: Callable[..., Any], args: Tuple[Any, ...], blocked: int,
               deadline: Optional[float], reading: bool = False) -> Any:
        """Call `call(*args, nb=True, fd, wait_ms)` until it gives a result:
        an int >= 0 or bytes. `blocked`: what the first attempt reported;
        `deadline`: taken before it.
        A reader that waited IDLE_MS in vain is idle: it gives its IO buffers
        (about 35 KiB) back while it waits on (they are taken again when data
        comes); a busy one keeps them, since re-allocating them on every wait
        taxes bulk and round trips."""
        if reading:
            self.connection.release_buffers_if_idle()
        fd = self._fd
        c_wait = self._rwait if reading else self._wwait
        try:
            pause = 0.001
            while True:
                if blocked != Blocked.ON_READ and blocked != Blocked.ON_WRITE:
                    # The application decides (a client hello or certificate
                    # validation callback in non-blocking mode, from another
                    # thread): no fd to wait on, so back off until it has.
                    left = self._wait_ms(deadline, blocked)  # raises once time is up
                    # (a pkey op's apply()/fail() cuts the wait short)
                    self.connection._app_wait(pause if left < 0 else min(pause, left / 1000))
                    pause = min(pause * 2, 0.05)
                    result = call(*args, True, fd, 0)
                    if type(result) is not int or result >= 0:
                        return result
                    blocked = -result
                    continue
                poll = self._polls.get(blocked)
                if poll is None:
                    poll = self._polls[blocked] = select.poll()
                    poll.register(self._sock, _POLLIN if blocked == Blocked.ON_READ else _POLLOUT)
                while not poll.poll(self._wait_ms(deadline, blocked)):
                    pass  # time left: _wait_ms raises once it is up
                result = call(*args, True, fd, c_wait)
                if type(result) is not int or result >= 0:
                    return result
                blocked = -result
        except S2NError:
            if self._closed:  # shut down under this call by close() in another thread
                raise _closed_error("closed by another thread") from None
            raise

    def do_handshake(self) -> None:
        if self._closed:
            raise _closed_error()
        if self._handshake_done:
            return
        self._take(self._hs_lock)
        try:
            # Another thread may have finished the handshake while we
            # waited: then return without touching the direction locks. (A
            # send or recv that found the handshake not done comes here; it
            # must not wait for the receive lock held by a reader waiting for
            # data, which may only come after this thread's send: deadlock.)
            if self._closed:
                raise _closed_error()
            if self._handshake_done:
                return
            self._handshake_locked()
        finally:
            self._hs_lock.release()

    def _handshake_locked(self) -> None:
        conn = self.connection
        self._take(self._wlock)
        try:
            self._take(self._rlock)
            try:
                if self._closed:
                    raise _closed_error()
                if self._handshake_done:
                    return
                self._handshake_started = True
                try:
                    deadline = self._deadline()
                    early = self._send_early_data(deadline) if self._early_data else 0
                    max_early: int = getattr(conn.config, "_max_early_data", 0)
                    if self.server_side and max_early:
                        self._early_in = self._recv_early_data(deadline)
                    blocked = conn._negotiate(True, self._fd, self._wwait)
                    if blocked:
                        self._retry(self._negotiate_step, (), blocked, deadline)
                    if self._early_data:
                        self._finish_early_data(early, deadline)
                except IOError:
                    # A TLS 1.3 server sends its session tickets once the
                    # handshake is done: a client that closed at once makes
                    # that write fail. The handshake stands (as with OpenSSL).
                    if not conn.handshake_complete():
                        raise
                _hostname.confirm(conn, self._expected_ip)
                self._handshake_done = True
                # Handshake-only memory (transcript hashes, key shares...) is
                # dead weight from here on: most of an idle connection's size.
                conn.free_handshake()
                if not self.server_side:
                    # A client often sends first, then waits: its buffers
                    # are taken again on demand. (A server's reader thread
                    # would re-allocate them from its own malloc arena.)
                    conn.release_buffers_if_idle()
            finally:
                self._rlock.release()
        finally:
            self._give(self._wlock)

    def _send_early_data(self, deadline: Optional[float]) -> int:
        """Send what early data the session allows; returns the bytes sent."""
        conn, data, sent = self.connection, self._early_data, 0
        assert data is not None  # called only with early data to send
        while True:
            moved, blocked = conn._early_data(lib.py_send_early_data, memoryview(data)[sent:],
                                              "send_early_data", nb=True)
            sent += moved
            if not blocked or sent >= len(data):
                return sent
            poll = select.poll()
            poll.register(self._sock, _POLLIN if blocked == Blocked.ON_READ else _POLLOUT)
            while not poll.poll(self._wait_ms(deadline, blocked)):
                pass

    def _recv_early_data(self, deadline: Optional[float]) -> bytes:
        """A server whose Config takes early data reads it before the rest
        of the handshake (otherwise s2n-tls rejects it)."""
        conn, got = self.connection, bytearray()
        buf = bytearray(16384)
        while True:
            moved, blocked = conn._early_data(lib.py_recv_early_data, buf, "recv_early_data", nb=True)
            got += buf[:moved]
            if not blocked:
                return bytes(got)
            if moved:
                continue
            if blocked != Blocked.ON_READ and blocked != Blocked.ON_WRITE:
                left = self._wait_ms(deadline, blocked)  # the early data callback decides later
                time.sleep(0.001 if left < 0 else min(0.001, left / 1000))
                continue
            poll = select.poll()
            poll.register(self._sock, _POLLIN if blocked == Blocked.ON_READ else _POLLOUT)
            while not poll.poll(self._wait_ms(deadline, blocked)):
                pass

    def _take_early(self, n: int) -> bytes:
        data, self._early_in = self._early_in[:n], self._early_in[n:]
        return data

    def _finish_early_data(self, sent: int, deadline: Optional[float]) -> None:
        """The retry rule: early data the server did not take goes again as
        normal data, so the application's first bytes arrive exactly once."""
        data, self._early_data = self._early_data, None
        assert data is not None  # called only after early data was sent
        if self.connection.get_early_data_status() != EarlyDataStatus.END:
            sent = 0  # rejected or never offered: none of it was received
        rest = memoryview(data)[sent:]
        while rest:
            n = self.connection._send_data(rest, True, self._fd, self._wwait)
            if n < 0:
                n = self._retry(self.connection._send_data, (rest,), -n, deadline)
            rest = rest[n:]

    def _negotiate_step(self, nb: bool, fd: int, wait_ms: int) -> int:
        return -self.connection._negotiate(nb, fd, wait_ms)

    def send(self, data: Union[bytes, bytearray, memoryview]) -> int:
        conn = self.connection if self._handshake_done and not self._closed else self._ready()
        lock = self._wlock
        lock.acquire(False) or self._take(lock)
        try:
            if self._closed:  # closed (and maybe freed) while this call waited for its turn
                raise _closed_error("closed by another thread")
            timeout = self._timeout
            deadline = None if timeout is None else time.monotonic() + timeout
            n = conn._send_data(data, True, self._fd, self._wwait)
            if n >= 0:
                return n
            taken: int = self._retry(conn._send_data, (data,), -n, deadline)
            return taken
        finally:
            lock.release()
            if self._closed:
                self._release_if_unused()

    def sendall(self, data: Union[bytes, bytearray, memoryview]) -> None:
        """Every byte, or an exception (then how much went out is unknown).
        s2n-tls retries a blocked send itself with the rest of the data."""
        conn = self.connection if self._handshake_done and not self._closed else self._ready()
        if type(data) is bytes:
            view: Any = data
        else:
            view = memoryview(data)
            if view.ndim != 1 or view.itemsize != 1:
                view = view.cast("B")
        lock = self._wlock
        lock.acquire(False) or self._take(lock)
        try:
            if self._closed:  # closed (and maybe freed) while this call waited for its turn
                raise _closed_error("closed by another thread")
            timeout = self._timeout
            deadline = None if timeout is None else time.monotonic() + timeout
            fd = self._fd
            n = conn._send_data(view, True, fd, self._wwait)
            while True:
                if n < 0:
                    n = self._retry(conn._send_data, (view,), -n, deadline)
                if n >= len(view):
                    return
                view = memoryview(view)[n:]  # s2n-tls took a part, then blocked
                self._wait_ms(deadline, Blocked.ON_WRITE)  # time left?
                n = conn._send_data(view, True, fd, self._wwait)
        finally:
            lock.release()
            if self._closed:
                self._release_if_unused()

    def recv(self, bufsize: int = 16384) -> bytes:
        conn = self.connection if self._handshake_done and not self._closed else self._ready()
        if self._early_in:
            return self._take_early(bufsize)
        lock = self._rlock
        lock.acquire(False) or self._take(lock)
        try:
            if self._closed:  # closed (and maybe freed) while this call waited for its turn
                raise _closed_error("closed by another thread")
            timeout = self._timeout
            deadline = None if timeout is None else time.monotonic() + timeout
            data = conn._recv_data(bufsize, True, self._fd, self._rwait)
            if not isinstance(data, int):
                return data
            got: bytes = self._retry(conn._recv_data, (bufsize,), -data, deadline, reading=True)
            return got
        except ClosedError:
            if self._closed:  # shut down under this call by close() in another thread
                raise _closed_error("closed by another thread") from None
            if self.suppress_ragged_eofs:
                return b""
            raise
        finally:
            self._give(lock)

    def recv_into(self, buffer: Union[bytearray, memoryview], nbytes: int = 0) -> int:
        conn = self.connection if self._handshake_done and not self._closed else self._ready()
        if self._early_in:
            view = memoryview(buffer).cast("B")
            data = self._take_early(nbytes or len(view))
            view[:len(data)] = data
            return len(data)
        lock = self._rlock
        lock.acquire(False) or self._take(lock)
        try:
            if self._closed:  # closed (and maybe freed) while this call waited for its turn
                raise _closed_error("closed by another thread")
            timeout = self._timeout
            deadline = None if timeout is None else time.monotonic() + timeout
            n = conn._recv_data_into(buffer, nbytes, True, self._fd, self._rwait)
            if n >= 0:
                return n
            got: int = self._retry(conn._recv_data_into, (buffer, nbytes), -n, deadline, reading=True)
            return got
        except ClosedError:
            if self._closed:
                raise _closed_error("closed by another thread") from None
            if self.suppress_ragged_eofs:
                return 0
            raise
        finally:
            self._give(lock)

    def pending(self) -> int:
        """Bytes recv() can return without the socket being readable."""
        try:
            return 0 if self._closed else len(self._early_in) + self.connection.pending()
        except S2NError:
            return 0  # freed by a concurrent close()

    @overload
    def makefile(self, mode: _BinaryMode, buffering: Literal[0], *, encoding: Optional[str] = None,
                 errors: Optional[str] = None, newline: Optional[str] = None) -> io.RawIOBase: ...
    @overload
    def makefile(self, mode: Literal["rwb", "rbw", "wrb", "wbr", "brw", "bwr"],
                 buffering: Optional[Literal[-1, 1]] = None, *, encoding: Optional[str] = None,
                 errors: Optional[str] = None, newline: Optional[str] = None) -> io.BufferedRWPair: ...
    @overload
    def makefile(self, mode: Literal["rb", "br"], buffering: Optional[Literal[-1, 1]] = None,
                 *, encoding: Optional[str] = None,
                 errors: Optional[str] = None, newline: Optional[str] = None) -> io.BufferedReader: ...
    @overload
    def makefile(self, mode: Literal["wb", "bw"], buffering: Optional[Literal[-1, 1]] = None,
                 *, encoding: Optional[str] = None,
                 errors: Optional[str] = None, newline: Optional[str] = None) -> io.BufferedWriter: ...
    @overload
    def makefile(self, mode: Literal["r", "w", "rw", "wr"] = "r", buffering: Optional[int] = None,
                 *, encoding: Optional[str] = None,
                 errors: Optional[str] = None, newline: Optional[str] = None) -> io.TextIOWrapper: ...
    @overload
    def makefile(self, mode: _BinaryMode, buffering: int,
                 *, encoding: Optional[str] = None,
                 errors: Optional[str] = None, newline: Optional[str] = None) -> Union[io.RawIOBase, io.BufferedIOBase]: ...
    @overload
    def makefile(self, mode: str, buffering: Optional[int] = None,
                 *, encoding: Optional[str] = None,
                 errors: Optional[str] = None, newline: Optional[str] = None) -> Union[io.RawIOBase, io.BufferedIOBase, io.TextIOWrapper]: ...

    def makefile(self, mode: str = "r", buffering: Optional[int] = None, *,
                 encoding: Optional[str] = None, errors: Optional[str] = None,
                 newline: Optional[str] = None) -> Union[io.RawIOBase, io.BufferedIOBase, io.TextIOWrapper]:
        """A file object over the TLS stream, as socket.makefile()."""
        if not set(mode) <= {"r", "w", "b"}:
            raise ValueError(f"invalid mode {mode!r} (only r, w, b)")
        reading, writing, binary = "r" in mode, "w" in mode, "b" in mode
        if not (reading or writing):
            raise ValueError("mode must include r or w")
        raw = _TLSIO(self, reading, writing)
        if buffering is None:
            buffering = -1
        if buffering < 0:
            buffering = io.DEFAULT_BUFFER_SIZE
        if buffering == 0:
            if not binary:
                raise ValueError("unbuffered streams must be binary")
            return raw
        if reading and writing:
            buffered: Union[io.BufferedRWPair, io.BufferedReader, io.BufferedWriter] = \
                io.BufferedRWPair(raw, raw, buffering)
        elif reading:
            buffered = io.BufferedReader(raw, buffering)
        else:
            buffered = io.BufferedWriter(raw, buffering)
        if binary:
            return buffered
        # (typeshed wants a .name on the buffer, which BufferedRWPair lacks: socket.makefile does this too)
        text: io.TextIOWrapper = io.TextIOWrapper(buffered, encoding, errors, newline)  # type: ignore[arg-type]
        text.mode = mode  # type: ignore[misc]  # read-only in typeshed, settable (as socket.makefile does)
        return text

    def settimeout(self, value: Optional[float]) -> None:
        if value is not None and value < 0:
            raise ValueError("timeout must be >= 0 or None")
        self._timeout = timeout = None if value is None else float(value)
        # How long an attempt may wait in C, reading and otherwise.
        self._rwait = IDLE_MS if timeout is None else min(IDLE_MS, int(timeout * 1000))
        self._wwait = C_WAIT_MS if timeout is None else min(C_WAIT_MS, int(timeout * 1000))

    def gettimeout(self) -> Optional[float]:
        return self._timeout

    def setblocking(self, flag: bool) -> None:
        self.settimeout(None if flag else 0.0)

    def getblocking(self) -> bool:
        return self._timeout != 0.0

    def fileno(self) -> int:
        return self._sock.fileno()

    def getpeername(self) -> Any:
        return self._sock.getpeername()

    def getsockname(self) -> Any:
        return self._sock.getsockname()

    def shutdown_send(self) -> None:
        """TLS half-close: send close_notify, keep receiving until recv() gives b""."""
        conn = self._ready()
        self._take(self._wlock)
        try:
            if self._closed:
                raise _closed_error("closed by another thread")
            self._run(_io.close_notify(conn, blind=self.server_side))
        finally:
            self._give(self._wlock)

    def unwrap(self) -> _socket.socket:
        """Full TLS shutdown (close_notify both ways), then the plain socket,
        with the timeout this TLSSocket had."""
        conn = self._ready()
        self._take(self._wlock)
        try:
            self._take(self._rlock)
            try:
                if self._closed:
                    raise _closed_error("closed by another thread")
                self._run(_io.unwrap(conn))
                sock = self._sock
                self._closed = self._released = True
                conn.free()
            finally:
                self._rlock.release()
        finally:
            self._wlock.release()
        _raw.settimeout(sock, self._timeout)
        return sock

    def close(self) -> None:
        """Send close_notify when possible, free the connection and close the
        socket. After a failed handshake this sends the alert s2n-tls queued.
        A server first waits out a blinding delay; a client never does.
        Never waits longer than the timeout (or CLOSE_TIMEOUT without one).
        From another thread: threads waiting on the socket are woken (they
        raise OSError) and the socket is closed once the last call returns."""
        if self._closed:
            return
        self._closed = True
        saved = self._timeout
        self._timeout = CLOSE_TIMEOUT if saved is None else saved
        try:
            if self._handshake_started and self._wlock.acquire(timeout=self._timeout):
                try:
                    self._run(_io.close_notify(self.connection, blind=self.server_side),
                              closing=True)
                except (S2NError, OSError, TimeoutError):
                    pass  # the peer is gone or too slow: closing is all that is left
                finally:
                    self._wlock.release()
        finally:
            self._timeout = saved
            if self._rlock.locked() or self._wlock.locked():
                try:  # wake the threads waiting in poll()
                    _raw.shutdown(self._sock, _socket.SHUT_RDWR)
                except OSError:
                    pass
            self._release_if_unused()

    def _release_if_unused(self) -> None:
        """Free the connection and close the fd, unless a call still uses them
        (that call does it when it returns): no fd is closed under a call."""
        with self._release_lock:
            if self._released or not self._rlock.acquire(False):
                return
            try:
                if not self._wlock.acquire(False):
                    return
                try:
                    self._released = True
                    try:
                        self.connection.free()
                    except S2NError:
                        pass
                    _raw.close(self._sock)
                finally:
                    self._wlock.release()
            finally:
                self._rlock.release()

    def __enter__(self) -> "TLSSocket":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # connection information, named as in ssl.SSLSocket

    def _info(self, fn: Callable[[Connection], _T]) -> Optional[_T]:
        if not self._handshake_done or self._closed:
            return None
        try:
            return fn(self.connection)
        except S2NError:
            if self._closed:
                return None  # freed by a concurrent close()
            raise

    def version(self) -> Optional[str]:
        return self._info(lambda c: str(c.get_actual_protocol_version()))

    def cipher(self) -> Optional[Tuple[str, str, int]]:
        """(cipher name as s2n-tls gives it, protocol version, secret bits), like
        ssl's cipher(). TLS 1.3 names are IANA's ("TLS_AES_256_GCM_SHA384"),
        TLS 1.2 names OpenSSL's ("ECDHE-ECDSA-AES256-GCM-SHA384")."""
        def get(c: Connection) -> Tuple[str, str, int]:
            name = c.get_cipher()
            return name, str(c.get_actual_protocol_version()), _secret_bits(name)
        return self._info(get)

    def selected_alpn_protocol(self) -> Optional[str]:
        return self._info(lambda c: c.get_application_protocol())

    def getpeercert(self, binary_form: bool = True) -> Optional[bytes]:
        """The peer's certificate as DER (s2n-tls exposes no parsed form)."""
        if not binary_form:
            raise ValueError("only binary_form=True is supported: s2n-tls gives DER")
        chain = self._info(lambda c: c.get_peer_cert_chain())
        return chain[0] if chain else None

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("server" if self.server_side else "client")
        return f"<s2n.TLSSocket {state} fd={-1 if self._closed else self.fileno()}>"


TLSSocket.__module__ = "s2n"


def _closed_error(why: str = "the TLSSocket is closed") -> OSError:
    return OSError(errno.EBADF, f"Bad file descriptor: {why}")


class _TLSIO(io.RawIOBase):
    """The raw stream under makefile()."""

    def __init__(self, tls: TLSSocket, reading: bool, writing: bool) -> None:
        super().__init__()
        self._tls = tls
        self._reading = reading
        self._writing = writing

    def readable(self) -> bool:
        return self._reading

    def writable(self) -> bool:
        return self._writing

    def readinto(self, b: Any) -> int:
        return self._tls.recv_into(b)

    def write(self, b: Any) -> int:
        return self._tls.send(b)

