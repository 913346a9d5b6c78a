"""The benchmark protocol over loopback TCP, for the Python contenders.

One process per side (bench/_tcp_run.py starts them):

    python bench/_tcp_proto.py server KIND CERTDIR
        listens on 127.0.0.1, prints "ready PORT", serves one connection at a
        time until its stdin reaches end of file
    python bench/_tcp_proto.py client KIND CERTDIR PORT FIGURE [--seconds S] [--bytes N] [--chunk N]
        runs one figure (full, resumed, bulk, rtt) and prints one JSON line

KIND: ssl (bench/_tcp_ssl.py), tlssocket or conn (bench/_tcp_s2n.py).
The raw-C driver (bench/c/s2n_bench.c) speaks the same protocol: after the
handshake the client sends one mode byte,
    b"h"  the server answers 1 byte (handshake figures; in TLS 1.3 the
          session ticket arrives before it);
    b"b"  then an 8-byte big-endian length: the server reads that many
          bytes, then answers 1 byte (bulk);
    b"e"  the server echoes 64-byte messages until the client closes (rtt);
and both sides close with a full TLS shutdown (close_notify both ways).

A contender module has `Server(certdir)` with `accept(sock) -> stream` and
`reset()`, and `Client(certdir)` with `connect(sock, session) -> stream`.
A stream has `sendall`, `recv_into(buf, n)` (0 at the end of data),
`close()` (full TLS shutdown; the caller then closes its socket), `resumed`,
`session()` (the latest session ticket, clients) and `negotiated()`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import select
import socket
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

KINDS = {"ssl": "_tcp_ssl", "tlssocket": "_tcp_s2n", "conn": "_tcp_s2n"}
RTT_MSG = 64
RTT_BATCH = 200
SINK = 256 * 1024
MAX_CONNS = 100_000_000  # bounds the accept loop
MAX_COUNT = 1_000_000_000  # bounds the timed loops


def contender(kind: str):
    mod = importlib.import_module(KINDS[kind])
    return mod.SERVERS[kind], mod.CLIENTS[kind]


def nodelay(sock: socket.socket) -> socket.socket:
    """s2n-tls writes a handshake flight in several writes: no Nagle anywhere."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def recv_exact(recv_into, buf: bytearray, n: int) -> bool:
    """Exactly n bytes into buf[:n]; False at a clean end of data before any."""
    got = recv_into(buf, n)
    if got == n:
        return True
    view = memoryview(buf)
    while got < n:
        if got == 0:
            return False
        r = recv_into(view[got:n], n - got)
        if not r:
            raise ConnectionError("the peer closed in the middle of a message")
        got += r
    return True


# --- server ----------------------------------------------------------------------

def serve_stream(stream, buf: bytearray) -> None:
    recv_into, sendall = stream.recv_into, stream.sendall
    if not recv_exact(recv_into, buf, 1):
        raise ConnectionError("no mode byte")
    mode = buf[0:1]
    if mode == b"h":
        sendall(b"k")
    elif mode == b"b":
        if not recv_exact(recv_into, buf, 8):
            raise ConnectionError("no bulk length")
        left = int.from_bytes(buf[:8], "big")
        while left:
            r = recv_into(buf, min(left, SINK))
            if not r:
                raise ConnectionError("bulk data ended early")
            left -= r
        sendall(b"k")
    elif mode == b"e":
        msg = memoryview(buf)[:RTT_MSG]
        for _ in range(MAX_COUNT):
            if not recv_exact(recv_into, buf, RTT_MSG):
                break
            sendall(msg)
    else:
        raise ConnectionError(f"unknown mode byte {mode!r}")
    stream.close()


def serve(kind: str, certdir: Path) -> None:
    server = contender(kind)[0](certdir)
    buf = bytearray(SINK)
    with socket.create_server(("127.0.0.1", 0)) as lsock:
        print(f"ready {lsock.getsockname()[1]}", flush=True)
        poll = select.poll()
        poll.register(lsock, select.POLLIN)
        poll.register(sys.stdin.fileno(), select.POLLIN)
        for _ in range(MAX_CONNS):
            ready = dict(poll.poll())
            if sys.stdin.fileno() in ready and not os.read(sys.stdin.fileno(), 64):
                return  # the runner closed our stdin: done
            if lsock.fileno() not in ready:
                continue
            sock, _ = lsock.accept()
            try:
                serve_stream(server.accept(nodelay(sock)), buf)
            except Exception:  # report, and keep serving the next connection
                print(f"_tcp_proto server {kind}: {traceback.format_exc(limit=3)}", file=sys.stderr)
                server.reset()
            finally:
                sock.close()


# --- client ------------------------------------------------------------------------

def _connect(client, port: int, session=None):
    sock = nodelay(socket.create_connection(("127.0.0.1", port)))
    try:
        return sock, client.connect(sock, session)
    except BaseException:
        sock.close()
        raise


def _handshake(client, port: int, buf: bytearray, session=None, details=False):
    """One connection of the handshake figures: (resumed, new session ticket,
    what was negotiated), the last two only with `details`."""
    sock, stream = _connect(client, port, session)
    try:
        stream.sendall(b"h")
        if not recv_exact(stream.recv_into, buf, 1) or buf[0:1] != b"k":
            raise ConnectionError("no answer from the server")
        info = (stream.session(), stream.negotiated()) if details else (None, None)
        stream.close()
    finally:
        sock.close()
    return (stream.resumed, *info)


def handshakes(client, port: int, seconds: float, resumed: bool) -> dict:
    buf = bytearray(16)
    session = _handshake(client, port, buf, details=True)[1] if resumed else None
    if resumed and not session:
        raise RuntimeError("the server sent no session ticket")
    n, start, elapsed = 0, time.perf_counter(), 0.0
    info = {}
    while elapsed < seconds and n < MAX_COUNT:
        was_resumed, _, details = _handshake(client, port, buf, session, details=not n)
        if was_resumed != resumed:
            raise RuntimeError(f"handshake {n}: resumed is {was_resumed}, expected {resumed}")
        info = details or info
        n += 1
        elapsed = time.perf_counter() - start
    return {"value": n / elapsed, "count": n, "seconds": elapsed, "resumed": resumed, **info}


def bulk(client, port: int, total: int, chunk: int) -> dict:
    sock, stream = _connect(client, port)
    try:
        data, buf = os.urandom(chunk), bytearray(16)
        sendall = stream.sendall
        sendall(b"b" + total.to_bytes(8, "big"))
        start = time.perf_counter()
        sent = 0
        while sent < total:
            n = min(chunk, total - sent)
            sendall(data if n == chunk else data[:n])
            sent += n
        if not recv_exact(stream.recv_into, buf, 1) or buf[0:1] != b"k":
            raise ConnectionError("no answer from the server")
        elapsed = time.perf_counter() - start
        result = {"value": total / elapsed / 1e6, "count": total, "seconds": elapsed,
                  **stream.negotiated()}
        stream.close()
    finally:
        sock.close()
    return result


def rtt(client, port: int, seconds: float) -> dict:
    sock, stream = _connect(client, port)
    try:
        sendall, recv_into = stream.sendall, stream.recv_into
        msg, buf = b"p" * RTT_MSG, bytearray(RTT_MSG)
        sendall(b"e")
        n, start, elapsed = 0, time.perf_counter(), 0.0
        while elapsed < seconds and n < MAX_COUNT:
            for _ in range(RTT_BATCH):
                sendall(msg)
                if not recv_exact(recv_into, buf, RTT_MSG):
                    raise ConnectionError("the server closed")
            n += RTT_BATCH
            elapsed = time.perf_counter() - start
        result = {"value": n / elapsed, "count": n, "seconds": elapsed, **stream.negotiated()}
        stream.close()
    finally:
        sock.close()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("role", choices=("server", "client"))
    ap.add_argument("kind", choices=sorted(KINDS))
    ap.add_argument("certdir", type=Path)
    ap.add_argument("port", type=int, nargs="?")
    ap.add_argument("figure", nargs="?", choices=("full", "resumed", "bulk", "rtt"))
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--bytes", type=int, default=64 << 20)
    ap.add_argument("--chunk", type=int, default=16384)
    args = ap.parse_args()
    if args.role == "server":
        serve(args.kind, args.certdir)
        return
    if args.port is None or args.figure is None:
        ap.error("client needs PORT and FIGURE")
    client = contender(args.kind)[1](args.certdir)
    if args.figure in ("full", "resumed"):
        result = handshakes(client, args.port, args.seconds, args.figure == "resumed")
    elif args.figure == "bulk":
        result = bulk(client, args.port, args.bytes, args.chunk)
    else:
        result = rtt(client, args.port, args.seconds)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
