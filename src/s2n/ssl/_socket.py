"""SSLSocket: `ssl.SSLSocket` on s2n-tls, on the fd fast path.

Like the stdlib's, it is a `socket.socket` that took over the wrapped
socket's fd. s2n-tls reads and writes that fd itself; the waiting, timeouts,
threads and close are `s2n.TLSSocket`'s, which this object drives and whose
s2n exceptions it turns into the stdlib's.
"""

from __future__ import annotations

import _socket as _socket_c
import socket as _socket
import ssl as _ssl
import weakref
from typing import Any, Callable, NoReturn, Optional, TypeVar

from .._errors import S2NError
from ..connection import Connection
from ..socket import TLSSocket
from . import _errors
from ._info import ConnectionInfo, session_bytes

_raw = _socket_c.socket
_T = TypeVar("_T")


class SSLSocket(ConnectionInfo, _ssl.SSLSocket):  # type: ignore[misc]  # .session: s2n.ssl's SSLSession
    """A TLS socket with the methods and semantics of `ssl.SSLSocket` (and an
    instance of it, for code that checks: every method is this class's)."""

    _tls: TLSSocket
    _closed: bool  # socket.socket's
    do_handshake_on_connect: bool
    suppress_ragged_eofs: bool

    @property
    def _sslobj(self) -> Any:
        # What code reaching into an ssl.SSLSocket finds (httpcore's
        # "ssl_object"): this object answers version(), cipher(), ...
        return None if self._tls._closed else self

    @_sslobj.setter
    def _sslobj(self, value: Any) -> None:
        pass  # the stdlib's own methods clear it; ours never need to

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(f"{type(self).__name__} does not have a public constructor. "
                        "Instances are returned by SSLContext.wrap_socket().")

    @classmethod
    def _create(cls, sock: _socket.socket, server_side: bool = False,
                do_handshake_on_connect: bool = True, suppress_ragged_eofs: bool = True,
                server_hostname: Optional[str] = None, context: Any = None,
                session: Any = None) -> "SSLSocket":
        if sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_TYPE) != _socket.SOCK_STREAM:
            raise NotImplementedError("only stream sockets are supported")
        if server_side and server_hostname:
            raise ValueError("server_hostname can only be specified in client mode")
        if not server_side and context.check_hostname and not server_hostname:
            raise ValueError("check_hostname requires server_hostname")
        if isinstance(server_hostname, bytes):
            server_hostname = server_hostname.decode("ascii")
        config = context.s2n_config(server_side)
        kwargs = dict(family=sock.family, type=sock.type, proto=sock.proto, fileno=sock.fileno())
        self = cls.__new__(cls, **kwargs)
        _socket.socket.__init__(self, **kwargs)
        timeout = sock.gettimeout()
        sock.detach()
        self._context = context
        self.server_side = server_side
        self.server_hostname = server_hostname
        self.do_handshake_on_connect = do_handshake_on_connect
        self.suppress_ragged_eofs = suppress_ragged_eofs
        _raw.settimeout(self, timeout)  # TLSSocket takes its timeout from here
        try:
            self._tls = TLSSocket(self, config, server_side=server_side,
                                  server_hostname=server_hostname,
                                  do_handshake_on_connect=False,
                                  suppress_ragged_eofs=suppress_ragged_eofs,
                                  check_hostname=context.check_hostname,
                                  session=session_bytes(session))
        except S2NError as e:
            _raw.close(self)
            _errors.reraise(e, server_hostname)
        except BaseException:
            _raw.close(self)
            raise
        self._tls.connection._ssl_owner = weakref.ref(self)
        if do_handshake_on_connect and self._connected():
            try:
                self.do_handshake()
            except BaseException:
                self.close()
                raise
        return self

    def _connected(self) -> bool:
        try:
            self.getpeername()
            return True
        except OSError:
            return False

    # ConnectionInfo

    def _connection(self) -> Optional[Connection]:
        tls = self._tls
        return None if tls._closed else tls.connection

    def _handshake_done(self) -> bool:
        return self._tls._handshake_done

    def _call(self, fn: Callable[..., _T], *args: Any) -> _T:
        try:
            return fn(*args)
        except S2NError as e:
            _errors.reraise(e, self.server_hostname)

    # the TLS stream

    def do_handshake(self, block: bool = False) -> None:
        self._call(self._tls.do_handshake)

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        if flags:
            raise ValueError("non-zero flags not allowed in calls to recv() on SSLSocket")
        try:
            return self._tls.recv(buflen)
        except S2NError as e:
            _errors.reraise(e, self.server_hostname)

    def recv_into(self, buffer: Any, nbytes: Optional[int] = None, flags: int = 0) -> int:
        if flags:
            raise ValueError("non-zero flags not allowed in calls to recv_into() on SSLSocket")
        try:
            return self._tls.recv_into(buffer, nbytes or 0)
        except S2NError as e:
            _errors.reraise(e, self.server_hostname)

    def read(self, len: int = 1024, buffer: Any = None) -> Any:
        if buffer is not None:
            return self._call(self._tls.recv_into, buffer, len)
        return self._call(self._tls.recv, len)

    def send(self, data: Any, flags: int = 0) -> int:
        if flags:
            raise ValueError("non-zero flags not allowed in calls to send() on SSLSocket")
        try:
            return self._tls.send(data)
        except S2NError as e:
            _errors.reraise(e, self.server_hostname)

    def sendall(self, data: Any, flags: int = 0) -> None:
        if flags:
            raise ValueError("non-zero flags not allowed in calls to sendall() on SSLSocket")
        try:
            self._tls.sendall(data)
        except S2NError as e:
            _errors.reraise(e, self.server_hostname)

    def write(self, data: Any, flags: int = 0) -> int:  # as send()
        return self.send(data, flags)

    def sendfile(self, file: Any, offset: int = 0, count: Optional[int] = None) -> int:
        sent: int = self._sendfile_use_send(file, offset, count)  # type: ignore[attr-defined]  # (socket.socket's)
        return sent  # never around TLS

    def recvfrom(self, *args: Any) -> Any:
        raise ValueError("recvfrom not allowed on instances of SSLSocket")

    def recvfrom_into(self, *args: Any) -> Any:
        raise ValueError("recvfrom_into not allowed on instances of SSLSocket")

    def sendto(self, *args: Any) -> Any:
        raise ValueError("sendto not allowed on instances of SSLSocket")

    def recvmsg(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise NotImplementedError("recvmsg not allowed on instances of SSLSocket")

    def sendmsg(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise NotImplementedError("sendmsg not allowed on instances of SSLSocket")

    def recvmsg_into(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise NotImplementedError("recvmsg_into not allowed on instances of SSLSocket")

    def pending(self) -> int:
        return self._tls.pending()

    def shutdown(self, how: int) -> None:
        _raw.shutdown(self, how)

    def dup(self) -> Any:
        raise NotImplementedError(f"Can't dup() {type(self).__name__} instances")

    # blocking and timeouts: the fd stays non-blocking, TLSSocket waits

    def settimeout(self, value: Optional[float]) -> None:
        self._tls.settimeout(value)

    def gettimeout(self) -> Optional[float]:
        return self._tls.gettimeout()

    def setblocking(self, flag: bool) -> None:
        self._tls.setblocking(flag)

    def getblocking(self) -> bool:
        return self._tls.getblocking()

    def _with_timeout(self, fn: Callable[..., _T], *args: Any) -> _T:
        _raw.settimeout(self, self._tls.gettimeout())
        try:
            return fn(self, *args)
        finally:
            _raw.setblocking(self, False)

    def connect(self, addr: Any) -> None:
        self._with_timeout(_raw.connect, addr)
        if self.do_handshake_on_connect:
            self.do_handshake()

    def connect_ex(self, addr: Any) -> int:
        rc = self._with_timeout(_raw.connect_ex, addr)
        if rc == 0 and self.do_handshake_on_connect:
            self.do_handshake()
        return rc

    def accept(self) -> Any:
        fd, addr = self._with_timeout(_raw._accept)  # type: ignore[attr-defined]  # (_socket.socket's)
        sock = _socket.socket(self.family, self.type, self.proto, fileno=fd)
        return self._context.wrap_socket(sock, server_side=True,
                                         do_handshake_on_connect=self.do_handshake_on_connect,
                                         suppress_ragged_eofs=self.suppress_ragged_eofs), addr

    # closing

    def unwrap(self) -> _socket.socket:
        """TLS shutdown both ways, then the plain socket."""
        self._call(self._tls.unwrap)
        return _socket.socket(self.family, self.type, self.proto, fileno=_raw.detach(self))

    def _real_close(self) -> None:
        tls = getattr(self, "_tls", None)
        if tls is not None:
            tls.close()  # close_notify when it can, then the fd
        _socket.socket._real_close(self)  # type: ignore[attr-defined]  # (socket.socket's)

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("server" if self.server_side else "client")
        return f"<s2n.ssl.SSLSocket {state} fd={self.fileno()}>"
