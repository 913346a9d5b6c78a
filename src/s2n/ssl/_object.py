"""SSLObject: TLS over two stdlib `ssl.MemoryBIO`s, as `wrap_bio` returns.

This is what asyncio's sslproto, anyio (httpx async) and uvloop drive. The
stdlib BIOs are not reachable from C, so the connection's IO callbacks are
Python: one `incoming.read` per record part s2n-tls asks for, one
`outgoing.write` per record it writes. Everything else runs in s2n-tls.
"""

from __future__ import annotations

import ssl as _ssl
import weakref
from typing import Any, Callable, Optional, Tuple, Union, overload

from .. import _hostname
from .._enums import Blinding, Mode
from .._errors import S2NError
from ..connection import Connection
from . import _errors
from ._info import ConnectionInfo, session_bytes


def _io_callbacks(incoming: _ssl.MemoryBIO, outgoing: _ssl.MemoryBIO
                  ) -> Tuple[Callable[[memoryview], int], Callable[[memoryview], int]]:
    read, write = incoming.read, outgoing.write

    def recv(view: memoryview) -> int:
        data = read(len(view))
        if not data:
            if incoming.eof:
                return 0  # write_eof(): the transport closed
            raise BlockingIOError
        n = len(data)
        view[:n] = data
        return n

    def send(view: memoryview) -> int:
        return write(view)

    return recv, send


class SSLObject(ConnectionInfo):
    """`ssl.SSLObject` on s2n-tls: do_handshake, read, write, unwrap, pending,
    and the connection information of `ssl.SSLObject`."""

    _done: bool
    _expected_ip: Optional[bytes]
    _conn: Optional[Connection]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(f"{type(self).__name__} does not have a public constructor. "
                        "Instances are returned by SSLContext.wrap_bio().")

    @classmethod
    def _create(cls, incoming: _ssl.MemoryBIO, outgoing: _ssl.MemoryBIO, server_side: bool = False,
                server_hostname: Optional[str] = None, session: Any = None,
                context: Any = None) -> "SSLObject":
        if server_side and server_hostname:
            raise ValueError("server_hostname can only be specified in client mode")
        if not server_side and context.check_hostname and not server_hostname:
            raise ValueError("check_hostname requires server_hostname")
        self = cls.__new__(cls)
        self._context = context
        self.server_side = server_side
        self.server_hostname = server_hostname
        self._done = False
        self._expected_ip = None
        try:
            conn = Connection(Mode.SERVER if server_side else Mode.CLIENT,
                              context.s2n_config(server_side))
        except S2NError as e:
            _errors.reraise(e)
        try:
            # An event loop must never sleep out a blinding delay in its thread.
            conn.set_blinding(Blinding.SELF_SERVICE)
            conn.prefer_throughput()
            # One incoming.read() per record instead of two (header, body):
            # read() drains what s2n-tls buffered before asking the BIO again.
            conn.set_recv_buffering(True)
            if server_hostname and not server_side:
                self._expected_ip = _hostname.expect(conn, server_hostname, context.check_hostname)
            data = session_bytes(session)
            if data:
                conn.set_session(data)
            recv, send = _io_callbacks(incoming, outgoing)
            conn.set_recv_cb(recv)
            conn.set_send_cb(send)
        except BaseException:
            conn.free()
            raise
        conn._ssl_owner = weakref.ref(self)
        self._conn = conn
        return self

    def _connection(self) -> Optional[Connection]:
        return self._conn

    def _handshake_done(self) -> bool:
        return self._done

    def _live(self) -> Connection:
        conn = self._conn
        if conn is None:
            raise ValueError("the SSL object has been shut down")
        return conn

    def do_handshake(self) -> None:
        conn = self._live()
        try:
            conn.negotiate()
            _hostname.confirm(conn, self._expected_ip)
            conn.free_handshake()  # handshake-only memory: dead weight from here on
        except S2NError as e:
            _errors.reraise(e, self.server_hostname)
        self._done = True

    @overload
    def read(self, len: int = 1024, buffer: None = None) -> bytes: ...
    @overload
    def read(self, len: int, buffer: Union[bytearray, memoryview]) -> int: ...
    @overload
    def read(self, len: int = 1024, *, buffer: Union[bytearray, memoryview]) -> int: ...

    def read(self, len: int = 1024, buffer: Optional[Union[bytearray, memoryview]] = None) -> Union[bytes, int]:
        """Up to `len` bytes (or into `buffer`); b""/0 once the peer's close_notify arrived."""
        conn = self._live()
        if not self._done:
            self.do_handshake()
        try:
            if buffer is not None:
                return conn.recv_into(buffer, len)
            return conn.recv(len)
        except S2NError as e:
            _errors.reraise(e, self.server_hostname)

    def write(self, data: Any) -> int:
        conn = self._live()
        if not self._done:
            self.do_handshake()
        try:
            return conn.send(data)
        except S2NError as e:
            _errors.reraise(e, self.server_hostname)

    def pending(self) -> int:
        """Bytes read() can return without more input. Unlike OpenSSL's, this
        counts records s2n-tls read ahead but has not decrypted yet (receive
        buffering): uvloop's ssl protocol reads only while the incoming BIO or
        pending() is non-zero, and would otherwise leave a request that came
        with the client's Finished unread. With part of a record read ahead,
        read() can still raise SSLWantReadError."""
        conn = self._conn
        return conn.pending() if conn is not None and self._done else 0

    def unwrap(self) -> None:
        """Send close_notify and wait (SSLWantReadError) for the peer's."""
        conn = self._live()
        try:
            conn.shutdown()
        except S2NError as e:
            _errors.reraise(e, self.server_hostname)

    def __repr__(self) -> str:
        return f"<s2n.ssl.SSLObject {'server' if self.server_side else 'client'}>"
