"""TLSSocket: a socket-like object over a Connection, as `ssl.SSLSocket` is.

s2n-tls reads and writes the socket's fd itself (the fast path). The fd is
always non-blocking underneath: blocking and timeouts are emulated by waiting
with poll() between attempts (the `_io` state machine says for what). That is
what lets a timeout, or Ctrl-C, interrupt even a handshake: a thread blocked
inside s2n-tls's own read() would not return to Python until data arrived.
"""

from __future__ import annotations

import io
import select
import socket as _socket
import time
from typing import Any, Optional, Tuple, Union

from . import _io
from ._enums import Blinding, Blocked, Mode
from ._errors import BlockedError, ClosedError, S2NError, WantReadError, WantWriteError
from .config import Config
from .connection import Connection

# socket.timeout is TimeoutError from 3.10 on; make 3.9's catchable as both.
if issubclass(_socket.timeout, TimeoutError):
    _Timeout = _socket.timeout
else:  # pragma: no cover - Python 3.9
    class _Timeout(_socket.timeout, TimeoutError):  # type: ignore[no-redef]
        pass

# close() waits at most this long for close_notify to go out on a socket
# without a timeout, so closing never hangs on a peer that stopped reading.
CLOSE_TIMEOUT = 5.0

_POLLIN = select.POLLIN | select.POLLPRI | select.POLLHUP | select.POLLERR
_POLLOUT = select.POLLOUT | select.POLLHUP | select.POLLERR


def wrap_socket(sock: _socket.socket, config: Config, *, server_side: bool = False,
                server_hostname: Optional[str] = None,
                do_handshake_on_connect: bool = True,
                suppress_ragged_eofs: bool = False) -> "TLSSocket":
    """Wrap a connected socket. The TLSSocket takes over the socket: close
    the TLSSocket, not the socket. Its timeout is the socket's at wrap time."""
    return TLSSocket(sock, config, server_side=server_side, server_hostname=server_hostname,
                     do_handshake_on_connect=do_handshake_on_connect,
                     suppress_ragged_eofs=suppress_ragged_eofs)


class TLSSocket:
    """A TLS connection over a socket, with the methods of `ssl.SSLSocket`.

    Defaults chosen for speed and memory that change no behaviour you asked
    for: full-size records (`prefer_throughput`), receive buffering, handshake
    memory freed once the handshake is done, and self-service blinding (a failing call raises at once; `close()` then
    waits out the blinding delay, bounded by the timeout).

    `suppress_ragged_eofs=False` (unlike `ssl`'s default): a peer that closes
    the TCP connection without TLS close_notify makes `recv` raise
    `s2n.ClosedError` rather than look like a clean end of data.
    """

    def __init__(self, sock: _socket.socket, config: Config, *, server_side: bool = False,
                 server_hostname: Optional[str] = None, do_handshake_on_connect: bool = True,
                 suppress_ragged_eofs: bool = False) -> None:
        if sock.type != _socket.SOCK_STREAM:
            raise ValueError("TLS needs a SOCK_STREAM socket")
        if server_side and server_hostname:
            raise ValueError("server_hostname is for clients")
        self._sock = sock
        self._timeout: Optional[float] = sock.gettimeout()
        self.server_side = server_side
        self.server_hostname = server_hostname
        self.suppress_ragged_eofs = suppress_ragged_eofs
        conn = Connection(Mode.SERVER if server_side else Mode.CLIENT, config)
        try:
            if server_hostname:
                conn.set_server_name(server_hostname)
            conn.set_blinding(Blinding.SELF_SERVICE)
            conn.prefer_throughput()
            conn.set_recv_buffering(True)
            sock.setblocking(False)
            conn.set_fd(sock)
        except BaseException:
            conn.free()
            raise
        self.connection = conn
        # One poll object per direction: a reader thread and a writer thread
        # may wait at the same time (s2n-tls allows one of each).
        self._polls = {}
        self._handshake_done = False
        self._closed = False
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

    def _runner(self):
        """A wait function for `_io.run_sync` with one deadline for the whole call."""
        timeout = self._timeout
        deadline = None if timeout is None else time.monotonic() + timeout

        def wait(step) -> None:
            if isinstance(step, _io.Sleep):
                delay = float(step)
                if deadline is not None:
                    delay = min(delay, max(0.0, deadline - time.monotonic()))
                time.sleep(delay)
                return
            if timeout == 0.0:
                raise WantReadError() if step == Blocked.ON_READ else WantWriteError()
            if step == Blocked.ON_READ:
                # About to wait for the peer: an idle connection need not
                # keep its IO buffers (about 35 KiB) meanwhile.
                self.connection.release_buffers_if_idle()
            poll = self._polls.get(step)
            if poll is None:
                poll = self._polls[step] = select.poll()
                poll.register(self._sock, _POLLIN if step == Blocked.ON_READ else _POLLOUT)
            if deadline is None:
                poll.poll()
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not poll.poll(remaining * 1000):
                raise _Timeout("the TLS operation timed out")

        return wait

    def _run(self, steps):
        return _io.run_sync(steps, self._runner())

    def _check(self) -> Connection:
        if not self._handshake_done:
            if self._closed:
                raise OSError(9, "Bad file descriptor: the TLSSocket is closed")
            self.do_handshake()
        elif self._closed:
            raise OSError(9, "Bad file descriptor: the TLSSocket is closed")
        return self.connection

    # the socket API

    def do_handshake(self) -> None:
        if self._closed:
            raise OSError(9, "Bad file descriptor: the TLSSocket is closed")
        if not self._handshake_done:
            self._run(_io.handshake(self.connection))
            self._handshake_done = True
            # Handshake-only memory (transcript hashes, key shares...) is
            # dead weight from here on: most of an idle connection's size.
            self.connection.free_handshake()

    # Each call first tries s2n-tls once, directly: the common case costs one
    # C call. Only when it reports BLOCKED does the `_io` state machine take
    # over, with its waiting and retries.

    def send(self, data: Union[bytes, bytearray, memoryview]) -> int:
        conn = self._check()
        try:
            return conn.send(data)
        except BlockedError:
            return self._run(_io.send(conn, data))  # type: ignore[return-value]

    def sendall(self, data: Union[bytes, bytearray, memoryview]) -> None:
        conn = self._check()
        view = memoryview(data)
        if view.ndim != 1 or view.itemsize != 1:
            view = view.cast("B")
        try:
            sent = conn.send(view)
        except BlockedError:
            sent = 0
        if sent < len(view):
            self._run(_io.sendall(conn, view[sent:]))

    def recv(self, bufsize: int = 16384) -> bytes:
        conn = self._check()
        try:
            try:
                return conn.recv(bufsize)
            except BlockedError:
                return self._run(_io.recv(conn, bufsize))  # type: ignore[return-value]
        except ClosedError:
            if self.suppress_ragged_eofs:
                return b""
            raise

    def recv_into(self, buffer: Union[bytearray, memoryview], nbytes: int = 0) -> int:
        conn = self._check()
        try:
            try:
                return conn.recv_into(buffer, nbytes)
            except BlockedError:
                return self._run(_io.recv_into(conn, buffer, nbytes))  # type: ignore[return-value]
        except ClosedError:
            if self.suppress_ragged_eofs:
                return 0
            raise

    def pending(self) -> int:
        """Bytes recv() can return without the socket being readable."""
        return 0 if self._closed else self.connection.pending()

    def makefile(self, mode: str = "r", buffering: Optional[int] = None, *,
                 encoding: Optional[str] = None, errors: Optional[str] = None,
                 newline: Optional[str] = None) -> Any:
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
            buffered: Any = io.BufferedRWPair(raw, raw, buffering)
        elif reading:
            buffered = io.BufferedReader(raw, buffering)
        else:
            buffered = io.BufferedWriter(raw, buffering)
        if binary:
            return buffered
        text = io.TextIOWrapper(buffered, encoding, errors, newline)
        text.mode = mode
        return text

    def settimeout(self, value: Optional[float]) -> None:
        if value is not None and value < 0:
            raise ValueError("timeout must be >= 0 or None")
        self._timeout = None if value is None else float(value)

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
        self._run(_io.close_notify(self._check()))

    def unwrap(self) -> _socket.socket:
        """Full TLS shutdown (close_notify both ways), then the plain socket,
        with the timeout this TLSSocket had."""
        conn = self._check()
        self._run(_io.unwrap(conn))
        sock = self._sock
        self._closed = True
        conn.free()
        sock.settimeout(self._timeout)
        return sock

    def close(self) -> None:
        """Send close_notify when possible (waiting out a blinding delay
        first), free the connection and close the socket. Never waits longer
        than the timeout (or CLOSE_TIMEOUT without one)."""
        if self._closed:
            return
        self._closed = True
        saved = self._timeout
        try:
            if self._handshake_done or self.connection.get_delay():
                self._timeout = CLOSE_TIMEOUT if saved is None else saved
                self._run(_io.close_notify(self.connection))
        except (S2NError, OSError, TimeoutError):
            pass  # the peer is gone or too slow: closing is all that is left
        finally:
            self._timeout = saved
            try:
                self.connection.free()
            except S2NError:
                pass
            self._sock.close()

    def __enter__(self) -> "TLSSocket":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # connection information, named as in ssl.SSLSocket

    def version(self) -> Optional[str]:
        if not self._handshake_done or self._closed:
            return None
        return str(self.connection.get_actual_protocol_version())

    def cipher(self) -> Optional[Tuple[str, str, int]]:
        """(IANA cipher name, protocol version, secret bits), like ssl's cipher()."""
        if not self._handshake_done or self._closed:
            return None
        name = self.connection.get_cipher()
        bits = 256 if ("_256_" in name or "CHACHA20" in name) else 128
        return name, str(self.connection.get_actual_protocol_version()), bits

    def selected_alpn_protocol(self) -> Optional[str]:
        if not self._handshake_done or self._closed:
            return None
        return self.connection.get_application_protocol()

    def getpeercert(self, binary_form: bool = True) -> Optional[bytes]:
        """The peer's certificate as DER (s2n-tls exposes no parsed form)."""
        if not binary_form:
            raise ValueError("only binary_form=True is supported: s2n-tls gives DER")
        if not self._handshake_done or self._closed:
            return None
        chain = self.connection.get_peer_cert_chain()
        return chain[0] if chain else None

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("server" if self.server_side else "client")
        return f"<s2n.TLSSocket {state} fd={-1 if self._closed else self.fileno()}>"


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

    def readinto(self, b) -> int:
        return self._tls.recv_into(b)

    def write(self, b) -> int:
        return self._tls.send(b)

