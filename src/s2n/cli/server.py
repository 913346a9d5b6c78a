"""`python -m s2n server HOST PORT`: concurrent TLS server (echo, HTTP, or print)."""

from __future__ import annotations

import socket
import sys
import threading

import s2n

from ._common import describe, err, reason, tune
from ._config import ConfigError, build_config

HTTP_METHODS = (b"GET ", b"HEAD ", b"POST ", b"PUT ", b"DELETE ", b"OPTIONS ", b"PATCH ")
MAX_HEADER = 64 * 1024


def http_reply(conn: s2n.Connection, head: bytes) -> bytes:
    body = (f"s2n-tls for Python\nprotocol: {conn.get_actual_protocol_version()}\n"
            f"cipher: {conn.get_cipher()}\n").encode()
    if head.startswith(b"HEAD "):
        payload = b""
    else:
        payload = body
    return (b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)) + payload


def serve_one(tls: s2n.TLSSocket, args, lock: threading.Lock) -> None:
    first = tls.recv(65536)
    if args.https_server and (first.startswith(HTTP_METHODS) or not args.echo):
        head = first
        while b"\r\n\r\n" not in head and len(head) < MAX_HEADER:
            more = tls.recv(65536)
            if not more:
                break
            head += more
        tls.sendall(http_reply(tls.connection, head))
        return
    data = first
    while data:
        if args.echo:
            tls.sendall(data)
        else:
            with lock:
                sys.stdout.buffer.write(data)
                sys.stdout.flush()
        data = tls.recv(65536)


def run(args) -> int:
    if not args.cert:
        err("s2n server: give --cert and --key")
        return 2
    try:
        cfg = build_config(args, server=True)
    except ConfigError as e:
        err(f"s2n server: {e}")
        return 2
    except (s2n.S2NError, OSError, ValueError) as e:
        err(f"s2n server: configuration: {reason(e)}")
        return 2
    try:
        lsock = socket.create_server((args.host, args.port), backlog=512)
    except OSError as e:
        err(f"s2n server: cannot listen on {args.host}:{args.port}: {reason(e)}")
        return 1
    slots = threading.BoundedSemaphore(args.max_conns)
    out_lock = threading.Lock()

    def handle(sock: socket.socket, peer) -> None:
        tls = None
        try:
            sock.settimeout(args.handshake_timeout)
            tls = s2n.TLSSocket(sock, cfg, server_side=True, do_handshake_on_connect=False)
            tune(tls.connection, args)
            if args.corked_io:
                tls.connection.use_corked_io()
            tls.do_handshake()
            if not args.quiet:
                err(f"s2n server: {peer[0]}:{peer[1]} {describe(tls.connection)}")
            tls.settimeout(args.idle_timeout)
            serve_one(tls, args, out_lock)
        except (s2n.S2NError, OSError, ValueError) as e:
            if not args.quiet:
                err(f"s2n server: {peer[0]}:{peer[1]} {reason(e)}")
        except Exception as e:  # noqa: BLE001 - one connection never stops the server
            err(f"s2n server: {peer[0]}:{peer[1]} internal error: {e!r}")
        finally:
            try:
                if tls is not None:
                    tls.close()
                else:
                    sock.close()
            finally:
                slots.release()

    host, port = lsock.getsockname()[:2]
    err(f"s2n server: listening on {host}:{port}")
    with lsock:
        while True:
            try:
                sock, peer = lsock.accept()
            except OSError as e:
                err(f"s2n server: accept: {reason(e)}")
                continue
            if not slots.acquire(blocking=False):
                sock.close()  # full: refuse rather than queue without bound
                continue
            try:
                threading.Thread(target=handle, args=(sock, peer), daemon=True).start()
            except RuntimeError:
                sock.close()
                slots.release()
