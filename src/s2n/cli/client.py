"""`python -m s2n client HOST PORT`: stdin to the peer, the peer's data to stdout."""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import sys
import threading
from typing import List, Literal, Union

import s2n

from ._common import describe, err, handshake_reason, reason, tune
from ._config import config_or_none


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def _sessions(cfg: s2n.Config, args: argparse.Namespace, saved: List[int]) -> Union[bytes, None, Literal[False]]:
    """--session-in/--session-out: tickets on, a ticket callback (appending
    each saved ticket's lifetime to `saved`); returns the session to resume,
    None, or False after telling the user why not."""
    if not (args.session_in or args.session_out):
        return None
    if args.no_session_ticket:
        err("s2n client: --session-in/--session-out need session tickets (drop -T)")
        return False
    session = None
    if args.session_in:
        from ._config import ConfigError
        from ._tickets import read_session

        try:
            session = read_session(args.session_in)
        except ConfigError as e:
            err(f"s2n client: {e}")
            return False
    cfg.set_session_tickets_onoff(True)
    if args.session_out:
        from ._tickets import write_session

        path = args.session_out

        def save(conn: s2n.Connection, ticket: bytes, lifetime: int) -> None:
            try:
                write_session(path, ticket)  # the newest ticket wins
                saved.append(lifetime)
            except OSError as e:  # a session we cannot save never breaks the connection
                err(f"s2n client: --session-out {path}: {reason(e)}")

        cfg.set_session_ticket_callback(save)
    return session


def run(args: argparse.Namespace) -> int:
    if args.max_blinding_delay is None:
        # Blinding protects a server from timing attacks; a command-line
        # client that failed has nothing to hide and should exit at once
        # (s2n-tls's own s2nc does the same).
        args.max_blinding_delay = 0
    cfg = config_or_none(args, server=False)
    if cfg is None:
        return 2
    saved: List[int] = []
    session = _sessions(cfg, args, saved)
    if session is False:
        return 2
    name = args.server_name or args.host
    try:
        sock = socket.create_connection((args.host, args.port), timeout=args.timeout)
    except OSError as e:
        err(f"s2n client: cannot connect to {args.host}:{args.port}: {reason(e)}")
        return 1
    # s2n-tls writes a flight in several writes: Nagle would hold the last
    # one for the peer's delayed ACK (40 ms).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    tls = s2n.TLSSocket(sock, cfg, do_handshake_on_connect=False)
    conn = tls.connection
    if _is_ip(name):
        # IP literals are not sent as SNI; the certificate must name the IP.
        want = str(ipaddress.ip_address(name))
        conn.set_verify_host_callback(lambda n: n == want)
    else:
        conn.set_server_name(name)
        tls.server_hostname = name
    if session:
        try:
            conn.set_session(session)
        except s2n.S2NError as e:
            err(f"s2n client: --session-in {args.session_in}: cannot resume it ({e.name}); "
                "full handshake")
    tune(conn, args)
    if args.corked_io:
        conn.use_corked_io()
    try:
        tls.do_handshake()
    except (s2n.S2NError, OSError) as e:
        err(f"s2n client: handshake with {args.host}:{args.port} failed: {handshake_reason(e, conn)}")
        tls.close()
        return 1
    if not args.quiet:
        resumed = "yes" if conn.is_session_resumed() else "no"
        err(f"s2n client: connected: {describe(conn)} resumed={resumed}")
    tls.settimeout(None)
    failure = []
    half_closed = threading.Event()

    def pump_stdin() -> None:
        try:
            # os.read, not sys.stdin.buffer: a daemon thread blocked inside the
            # buffered reader holds its lock, and the interpreter aborts at exit.
            fd = sys.stdin.fileno()
            while True:
                data = os.read(fd, 65536)
                if not data:
                    break
                tls.sendall(data)
            half_closed.set()  # before: the peer may react to it at once
            tls.shutdown_send()  # TLS half-close: keep reading what the server sends
        except (s2n.S2NError, OSError) as e:
            failure.append(e)

    writer = threading.Thread(target=pump_stdin, daemon=True)
    writer.start()
    out = sys.stdout.buffer
    buf = bytearray(65536)
    try:
        while True:
            n = tls.recv_into(buf)
            if n == 0:
                break
            out.write(buf[:n])
            out.flush()
    except s2n.ClosedError as e:
        # TLS 1.2 has no half-close: after our close_notify, a peer may close
        # the TCP connection without answering one. That is the end of the
        # data, not a truncation. In TLS 1.3 it still is an error.
        tls12 = conn.get_actual_protocol_version() < s2n.ProtocolVersion.TLS1_3
        if not (half_closed.is_set() and tls12):
            err(f"s2n client: the server closed the connection without close_notify ({e.name})")
            tls.close()
            return 1
    except (s2n.S2NError, OSError) as e:
        err(f"s2n client: {reason(e)}")
        tls.close()
        return 1
    tls.close()
    if args.session_out and not saved and not args.quiet:
        err("s2n client: --session-out: the server sent no session ticket")
    if failure:
        err(f"s2n client: sending failed: {reason(failure[0])}")
        return 1
    return 0
