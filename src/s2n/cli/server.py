"""`python -m s2n server HOST PORT`: concurrent TLS server (echo, HTTP, or print)."""

from __future__ import annotations

import argparse
import errno
import re
import socket
import sys
import threading
from typing import Any, Tuple

import s2n

from ._common import describe, err, reason, tune
from ._config import config_or_none

HTTP_METHODS = tuple(m + b" " for m in (b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS",
                                        b"PATCH", b"CONNECT", b"TRACE"))
HEADER_END = re.compile(rb"\r?\n\r?\n")
MAX_HEADER = 64 * 1024
# accept() errors that concern one pending connection (accept(2) on Linux):
# retry at once. Any other (EMFILE, ENFILE, ENOBUFS, ENOMEM...) lasts until
# something frees up, and retrying at once would spin: the pending connection
# keeps the listening socket readable.
PER_CONNECTION = {getattr(errno, n) for n in (
    "ECONNABORTED", "EPROTO", "EPERM", "ENETDOWN", "ENOPROTOOPT", "EHOSTDOWN", "ENONET",
    "EHOSTUNREACH", "EOPNOTSUPP", "ENETUNREACH", "ETIMEDOUT", "ECONNRESET") if hasattr(errno, n)}


def http_reply(conn: s2n.Connection, head: bytes) -> bytes:
    body = (f"s2n-tls for Python\nprotocol: {conn.get_actual_protocol_version()}\n"
            f"cipher: {conn.get_cipher()}\n").encode()
    payload = b"" if head.startswith(b"HEAD ") else body
    return (b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)) + payload


def sniff_http(tls: s2n.TLSSocket) -> Tuple[bool, bytes, bool]:
    """(is HTTP, bytes read, peer done): reads until the first bytes start
    with a method or can no longer be one, whatever the TLS records."""
    data = b""
    while True:
        if data.startswith(HTTP_METHODS):
            return True, data, False
        if not any(m.startswith(data) for m in HTTP_METHODS):
            return False, data, False
        more = tls.recv(65536)
        if not more:
            return False, data, True
        data += more


def answer_http(tls: s2n.TLSSocket, head: bytes) -> None:
    while not HEADER_END.search(head) and len(head) < MAX_HEADER:
        more = tls.recv(65536)
        if not more:
            break
        head += more
    tls.sendall(http_reply(tls.connection, head))


def serve_one(tls: s2n.TLSSocket, args: argparse.Namespace, lock: threading.Lock) -> None:
    data, done = b"", False
    if args.https_server:
        is_http, data, done = sniff_http(tls) if args.echo else (True, b"", False)
        if is_http:
            answer_http(tls, data)
            return
    while True:
        if data:
            if args.echo:
                tls.sendall(data)
            else:
                with lock:
                    sys.stdout.buffer.write(data)
                    sys.stdout.flush()
        if done:
            return
        data = tls.recv(65536)
        done = not data


def _addr(sockaddr: Tuple[Any, ...]) -> str:
    host, port = sockaddr[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def listen(host: str, port: int) -> socket.socket:
    """Listen on an IPv4 or IPv6 address or a host name (its first address that binds)."""
    failure: OSError = OSError(f"no address for {host}")
    for family, _, _, _, addr in socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                                    flags=socket.AI_PASSIVE):
        try:
            return socket.create_server(addr, family=family, backlog=512)
        except OSError as e:
            failure = e
    raise failure


def run(args: argparse.Namespace) -> int:
    if not args.cert:
        err("s2n server: give --cert and --key")
        return 2
    cfg = config_or_none(args, server=True)
    if cfg is None:
        return 2
    try:
        lsock = listen(args.host, args.port)
    except OSError as e:
        err(f"s2n server: cannot listen on {args.host}:{args.port}: {reason(e)}")
        return 1
    slots = threading.BoundedSemaphore(args.max_conns)
    out_lock = threading.Lock()
    closed = threading.Event()  # a connection ended: a descriptor is free

    def handle(sock: socket.socket, peer: Tuple[Any, ...]) -> None:
        tls = None
        try:
            # s2n-tls writes a flight in several writes: Nagle would hold the
            # last one for the client's delayed ACK (40 ms per handshake).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(args.handshake_timeout)
            tls = s2n.TLSSocket(sock, cfg, server_side=True, do_handshake_on_connect=False)
            tune(tls.connection, args)
            if args.corked_io:
                tls.connection.use_corked_io()
            tls.do_handshake()
            if not args.quiet:
                err(f"s2n server: {_addr(peer)} {describe(tls.connection)}")
            tls.settimeout(args.idle_timeout)
            serve_one(tls, args, out_lock)
        except (s2n.S2NError, OSError, ValueError) as e:
            if not args.quiet:
                err(f"s2n server: {_addr(peer)} {reason(e)}")
        except Exception as e:  # noqa: BLE001 - one connection never stops the server
            err(f"s2n server: {_addr(peer)} internal error: {e!r}")
        finally:
            try:
                if tls is not None:
                    tls.close()
                else:
                    sock.close()
            finally:
                slots.release()
                closed.set()

    err(f"s2n server: listening on {_addr(lsock.getsockname())}")
    starved = False
    with lsock:
        while True:
            closed.clear()  # before accept: a close after a failed accept still wakes us
            try:
                sock, peer = lsock.accept()
            except OSError as e:
                if e.errno in PER_CONNECTION:
                    if not args.quiet:
                        err(f"s2n server: accept: {reason(e)}")
                    continue
                if not starved:  # once per episode, not once per retry
                    err(f"s2n server: accept: {reason(e)}; waiting for connections to close")
                    starved = True
                # Descriptors may also free up elsewhere: retry after 0.1 s at most.
                closed.wait(0.1)
                continue
            if starved:
                err("s2n server: accepting connections again")
                starved = False
            if not slots.acquire(blocking=False):
                sock.close()  # full: refuse rather than queue without bound
                continue
            try:
                threading.Thread(target=handle, args=(sock, peer), daemon=True).start()
            except RuntimeError:
                sock.close()
                slots.release()
