"""start_server and Server: listening sockets whose accepted connections
each get an S2NTransport (the protocol is made once the handshake succeeds)."""

from __future__ import annotations

import asyncio
import errno
import socket
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Iterable, List, Optional, Sequence, Set, Tuple, Union, cast

from .._enums import ClientHelloCbMode, Mode
from ..config import Config
from ..connection import Connection
from ._transport import (_DEFAULT_LIMIT, _HANDSHAKE_TIMEOUT, _SHUTDOWN_TIMEOUT, S2NTransport,
                         _new_connection, _set_nodelay, _timeouts, _TransportSocket, logger)

if TYPE_CHECKING:
    from asyncio.trsock import TransportSocket

# asyncio.start_server's client_connected_cb: a function or a coroutine function
ClientConnectedCallback = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Optional[Awaitable[None]]]


class Server(asyncio.AbstractServer):
    """What `start_server` returns: as `asyncio.Server`."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sockets: List[socket.socket],
                 protocol_factory: Callable[[], asyncio.BaseProtocol], config: Config, backlog: int,
                 handshake_timeout: Optional[float], shutdown_timeout: Optional[float],
                 client_hello_cb: Optional[Callable[[Connection], Awaitable[None]]] = None) -> None:
        self._loop = loop
        self._client_hello_cb = client_hello_cb
        self._sockets: Optional[List[socket.socket]] = sockets
        self._protocol_factory = protocol_factory
        self._config = config
        self._backlog = backlog
        self._handshake_timeout = handshake_timeout
        self._shutdown_timeout = shutdown_timeout
        self._serving = False
        self._serving_forever_fut: Optional["asyncio.Future[None]"] = None
        self._transports: Set[S2NTransport] = set()
        self._waiters: Optional[List["asyncio.Future[None]"]] = []

    def __repr__(self) -> str:
        return f"<{type(self).__name__} sockets={self.sockets!r}>"

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    @property
    def sockets(self) -> Tuple[Union[TransportSocket, socket.socket], ...]:
        if self._sockets is None:
            return ()
        if _TransportSocket is None:  # pragma: no cover
            return tuple(self._sockets)
        return tuple(_TransportSocket(s) for s in self._sockets)

    def _start_serving(self) -> None:
        if self._serving or self._sockets is None:
            return
        self._serving = True
        for sock in self._sockets:
            sock.listen(self._backlog)
            self._loop.add_reader(sock.fileno(), self._accept, sock)

    async def start_serving(self) -> None:
        self._start_serving()
        await asyncio.sleep(0)

    def _accept(self, lsock: socket.socket) -> None:
        for _ in range(self._backlog):
            try:
                sock, _addr = lsock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    # out of fds or memory: stop accepting for a moment, as asyncio does
                    logger.warning("accept() failed (%s); pausing for 1 s", exc)
                    self._loop.remove_reader(lsock.fileno())
                    self._loop.call_later(1.0, self._resume_accepting, lsock)
                    return
                raise
            try:
                sock.setblocking(False)
                _set_nodelay(sock)
                conn = _new_connection(Mode.SERVER, self._config, sock)
            except BaseException as exc:  # noqa: BLE001
                sock.close()
                logger.warning("cannot set up a TLS connection: %s", exc)
                continue
            S2NTransport(self._loop, sock, conn, self._protocol_factory, server=self,
                         handshake_timeout=self._handshake_timeout,
                         shutdown_timeout=self._shutdown_timeout,
                         client_hello_cb=self._client_hello_cb)

    def _resume_accepting(self, lsock: socket.socket) -> None:
        if self._serving and self._sockets is not None and lsock in self._sockets:
            self._loop.add_reader(lsock.fileno(), self._accept, lsock)

    def _attach(self, transport: S2NTransport) -> None:
        self._transports.add(transport)

    def _detach(self, transport: S2NTransport) -> None:
        self._transports.discard(transport)
        if not self._transports and self._sockets is None:
            self._wakeup()

    def _wakeup(self) -> None:
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def close(self) -> None:
        """Stop listening; connections stay open (see close_clients())."""
        sockets = self._sockets
        if sockets is None:
            return
        self._sockets = None
        for sock in sockets:
            if self._serving:
                self._loop.remove_reader(sock.fileno())
            sock.close()
        self._serving = False
        fut = self._serving_forever_fut
        if fut is not None and not fut.done():
            fut.cancel()
            self._serving_forever_fut = None
        if not self._transports:
            self._wakeup()

    def close_clients(self) -> None:
        for transport in list(self._transports):
            transport.close()

    def abort_clients(self) -> None:
        for transport in list(self._transports):
            transport.abort()

    async def wait_closed(self) -> None:
        """Once close() was called: until every connection has closed too."""
        if self._waiters is None:
            return
        waiter = self._loop.create_future()
        self._waiters.append(waiter)
        await waiter

    async def serve_forever(self) -> None:
        if self._serving_forever_fut is not None:
            raise RuntimeError(f"server {self!r} is already being awaited on serve_forever()")
        if self._sockets is None:
            raise RuntimeError(f"server {self!r} is closed")
        self._start_serving()
        self._serving_forever_fut = self._loop.create_future()
        try:
            await self._serving_forever_fut
        except asyncio.CancelledError:
            try:
                self.close()
                await self.wait_closed()
            finally:
                raise
        finally:
            self._serving_forever_fut = None


def _listening_sockets(infos: Iterable[Sequence[Any]], reuse_address: Optional[bool],
                       reuse_port: Optional[bool]) -> List[socket.socket]:
    sockets: List[socket.socket] = []
    try:
        for af, type_, proto, _, address in infos:
            try:
                sock = socket.socket(af, type_, proto)
            except OSError:
                continue  # e.g. IPv6 not supported
            sockets.append(sock)
            if reuse_address:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, True)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, True)
            if af == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, True)
            try:
                sock.bind(address)
            except OSError as err:
                raise OSError(err.errno, f"error while attempting to bind on address "
                                         f"{address!r}: {(err.strerror or str(err)).lower()}") from None
            sock.setblocking(False)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _decide_later(conn: Connection) -> None:
    """The synchronous half of an async client hello callback: it returns
    undecided, so s2n-tls reports BLOCKED on application input."""


def _async_client_hello(config: Config, cb: Optional[Callable[[Connection], Awaitable[None]]]) -> None:
    if cb is None:
        return
    if not callable(cb):
        raise TypeError(f"client_hello_cb must be an async function, not {type(cb).__name__}")
    mode = config.client_hello_cb_mode
    if mode is None:
        if config.frozen:
            raise ValueError("client_hello_cb needs a Config not yet in use, or one with a "
                             "ClientHelloCbMode.NONBLOCKING client hello callback")
        config.set_client_hello_cb(_decide_later, ClientHelloCbMode.NONBLOCKING)
    elif mode != ClientHelloCbMode.NONBLOCKING:
        raise ValueError("client_hello_cb: config has a BLOCKING client hello callback; "
                         "install it with mode=ClientHelloCbMode.NONBLOCKING (it runs first)")


async def start_server(client_connected_cb: ClientConnectedCallback,
                       host: Union[str, Sequence[str], None] = None, port: Union[int, str, None] = None, *,
                       config: Config,
                       limit: int = _DEFAULT_LIMIT, family: int = socket.AF_UNSPEC,
                       flags: int = socket.AI_PASSIVE, sock: Optional[socket.socket] = None,
                       backlog: int = 100, reuse_address: Optional[bool] = None,
                       reuse_port: Optional[bool] = None, start_serving: bool = True,
                       handshake_timeout: Optional[float] = _HANDSHAKE_TIMEOUT,
                       shutdown_timeout: Optional[float] = _SHUTDOWN_TIMEOUT,
                       client_hello_cb: Optional[Callable[[Connection], Awaitable[None]]] = None,
                       **kwargs: Any) -> Server:
    """Listen; for each connection whose TLS handshake succeeds, call
    `client_connected_cb(reader, writer)` (a coroutine function is run as a
    task). As `asyncio.start_server(..., ssl=...)`, with `config` in place
    of `ssl`. Failed handshakes are logged (logger "s2n.asyncio") and the
    server keeps serving.

    `client_hello_cb`: `async def cb(conn) -> None`, run as a task once the
    ClientHello arrives, while the loop serves everything else; it may await,
    read `conn.get_client_hello()`, call `conn.set_config(...)` and the
    per-connection overrides; raise to reject. It needs a non-blocking
    client hello callback on `config`: one is installed (a no-op) if
    `config` has none and is not in use yet."""
    if not isinstance(config, Config):
        raise TypeError(f"config must be an s2n.Config, not {type(config).__name__}")
    _async_client_hello(config, client_hello_cb)
    handshake_timeout, shutdown_timeout = _timeouts(kwargs, handshake_timeout, shutdown_timeout)
    loop = asyncio.get_running_loop()

    def factory() -> asyncio.StreamReaderProtocol:
        reader = asyncio.StreamReader(limit=limit, loop=loop)
        return asyncio.StreamReaderProtocol(reader, client_connected_cb, loop=loop)

    if host is not None or port is not None:
        if sock is not None:
            raise ValueError("host/port and sock can not be specified at the same time")
        if reuse_address is None:
            reuse_address = hasattr(socket, "SO_REUSEADDR")
        if reuse_port and not hasattr(socket, "SO_REUSEPORT"):
            raise ValueError("reuse_port not supported by socket module")
        hosts: List[Optional[str]]
        if host == "":
            hosts = [None]
        elif isinstance(host, str) or not hasattr(host, "__iter__"):
            hosts = [host]
        else:
            hosts = list(cast(Sequence[str], host))  # (None has no __iter__: not here)
        infos = []
        for h in hosts:
            got = await loop.getaddrinfo(h, port, family=family, type=socket.SOCK_STREAM,
                                         flags=flags)
            if not got:
                raise OSError(f"getaddrinfo({h!r}) returned empty list")
            infos.extend(got)
        seen = set()
        unique = []
        for info in infos:
            key = (info[0], info[4])
            if key not in seen:
                seen.add(key)
                unique.append(info)
        sockets = _listening_sockets(unique, reuse_address, reuse_port)
    else:
        if sock is None:
            raise ValueError("Neither host/port nor sock were specified")
        if sock.type != socket.SOCK_STREAM:
            raise ValueError(f"A Stream Socket was expected, got {sock!r}")
        sock.setblocking(False)
        sockets = [sock]
    server = Server(loop, sockets, factory, config, backlog, handshake_timeout, shutdown_timeout,
                    client_hello_cb)
    if start_serving:
        server._start_serving()
        await asyncio.sleep(0)
    return server
