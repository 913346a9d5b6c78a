"""open_connection: resolve, connect, then the TLS handshake on an S2NTransport."""

from __future__ import annotations

import asyncio
import socket
from typing import Any, List, Optional, Sequence, Tuple, Union

from .. import _hostname
from .._enums import Mode
from ..config import Config
from ._transport import (_DEFAULT_LIMIT, _HANDSHAKE_TIMEOUT, _SHUTDOWN_TIMEOUT, S2NTransport,
                         _new_connection, _set_nodelay, _timeouts)


# getaddrinfo's entries: (family, type, proto, canonname, sockaddr)
_AddrInfo = Tuple[int, int, int, str, Tuple[Any, ...]]


def _numeric_address(host: Any, port: Any, family: int, proto: int) -> Optional[Sequence[_AddrInfo]]:
    """getaddrinfo's answer for an IP literal and a numeric port, without the
    executor thread loop.getaddrinfo uses (as asyncio's own _ipaddr_info)."""
    if not isinstance(host, str) or not isinstance(port, int) or proto not in (0, socket.IPPROTO_TCP):
        return None
    for af in (socket.AF_INET, socket.AF_INET6):
        if family not in (0, af):
            continue
        try:
            socket.inet_pton(af, host.partition("%")[0] if af == socket.AF_INET6 else host)
        except (OSError, ValueError):
            continue
        if af == socket.AF_INET6 and "%" in host:
            return None  # scoped address: let getaddrinfo resolve the scope id
        address: Tuple[Any, ...] = (host, port) if af == socket.AF_INET else (host, port, 0, 0)
        return [(af, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", address)]
    return None


async def _resolve(loop: asyncio.AbstractEventLoop, host: Any, port: Any, *, family: int, proto: int,
                   flags: int) -> Sequence[_AddrInfo]:
    infos: Optional[Sequence[_AddrInfo]] = _numeric_address(host, port, family, proto)
    if infos is None:
        infos = await loop.getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM,
                                       proto=proto, flags=flags)
    if not infos:
        raise OSError("getaddrinfo() returned empty list")
    return infos


async def _connect(loop: asyncio.AbstractEventLoop, host: Any, port: Any, *, family: int, proto: int,
                   flags: int, local_addr: Optional[Tuple[str, int]]) -> socket.socket:
    infos = await _resolve(loop, host, port, family=family, proto=proto, flags=flags)
    local_infos = None
    if local_addr is not None:
        local_infos = await _resolve(loop, *local_addr, family=family, proto=proto, flags=flags)
    errors: List[OSError] = []
    for fam, type_, proto_, _, address in infos:
        sock = socket.socket(fam, type_, proto_)
        try:
            sock.setblocking(False)
            if local_infos is not None:
                for lfam, _, _, _, laddr in local_infos:
                    if lfam != fam:
                        continue
                    try:
                        sock.bind(laddr)
                        break
                    except OSError as exc:
                        errors.append(OSError(exc.errno, f"error while attempting to bind on "
                                                         f"address {laddr!r}: {(exc.strerror or str(exc)).lower()}"))
                else:
                    sock.close()
                    continue
            await loop.sock_connect(sock, address)
            return sock
        except OSError as exc:
            errors.append(exc)
            sock.close()
        except BaseException:
            sock.close()
            raise
    if len(errors) == 1:
        raise errors[0]
    if errors and all(str(e) == str(errors[0]) for e in errors):
        raise errors[0]
    raise OSError(f"Multiple exceptions: {', '.join(str(e) for e in errors)}")


async def open_connection(host: Optional[str] = None, port: Union[int, str, None] = None, *,
                          config: Config, server_hostname: Optional[str] = None,
                          limit: int = _DEFAULT_LIMIT, family: int = 0, proto: int = 0,
                          flags: int = 0, sock: Optional[socket.socket] = None,
                          local_addr: Optional[Tuple[str, int]] = None,
                          handshake_timeout: Optional[float] = _HANDSHAKE_TIMEOUT,
                          shutdown_timeout: Optional[float] = _SHUTDOWN_TIMEOUT,
                          session: Optional[bytes] = None, early_data: Optional[bytes] = None,
                          **kwargs: Any) -> Tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect, run the TLS handshake, return (StreamReader, StreamWriter).

    As `asyncio.open_connection(host, port, ssl=...)`, with `config` (an
    `s2n.Config`) in place of `ssl`. `server_hostname` (SNI and the name the
    certificate must match) defaults to `host`; "" sends none. Handshake
    errors are raised here (an `s2n.S2NError`, or `TimeoutError` after
    `handshake_timeout` seconds). `session`: resume it (bytes from a session
    ticket callback or `Connection.get_session()`); check
    `writer.get_extra_info("s2n_connection").is_session_resumed()`.
    `early_data`: the first bytes to send, as TLS 1.3 early data (0-RTT)
    when the session allows and the server accepts, else right after the
    handshake: they arrive once either way. Only for requests safe to replay."""
    if not isinstance(config, Config):
        raise TypeError(f"config must be an s2n.Config, not {type(config).__name__}")
    handshake_timeout, shutdown_timeout = _timeouts(kwargs, handshake_timeout, shutdown_timeout)
    loop = asyncio.get_running_loop()
    if server_hostname is None:
        if not host:
            raise ValueError("You must set server_hostname when using TLS without a host")
        server_hostname = host
    if sock is not None:
        if host is not None or port is not None:
            raise ValueError("host/port and sock can not be specified at the same time")
        if sock.type != socket.SOCK_STREAM:
            raise ValueError(f"A Stream Socket was expected, got {sock!r}")
        sock.setblocking(False)
    else:
        if host is None and port is None:
            raise ValueError("host and port was not specified and no sock specified")
        sock = await _connect(loop, host, port, family=family, proto=proto, flags=flags,
                              local_addr=local_addr)
    transport = None
    try:
        _set_nodelay(sock)
        conn = _new_connection(Mode.CLIENT, config, sock, server_hostname)
        if session:
            try:
                conn.set_session(session)
            except BaseException:
                conn.free()
                raise
        reader = asyncio.StreamReader(limit=limit, loop=loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
        waiter = loop.create_future()
        transport = S2NTransport(loop, sock, conn, lambda: protocol, waiter=waiter,
                                 handshake_timeout=handshake_timeout,
                                 shutdown_timeout=shutdown_timeout,
                                 expected_ip=_hostname.ip_literal(server_hostname or ""),
                                 early_data=None if early_data is None else bytes(early_data))
        await waiter
    except BaseException:
        if transport is None:
            sock.close()
        elif not transport.is_closing():  # cancelled: a failed handshake closes itself,
            transport.abort()             # after the blinding delay
        raise
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    return reader, writer
