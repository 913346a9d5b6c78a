"""Time to first response byte on a resumed TLS 1.3 connection, with and
without 0-RTT early data, over loopback with added delay.

    python bench/early_data_ttfb.py [--rtt-ms 20] [--rounds 20]

A server process (TLSSocket, early data accepted with s2n.ReplayGuard)
answers each request with one line. Between client and server runs a
delaying proxy of our own (this process, asyncio): every chunk waits
rtt/2 in each direction, in order. The client (TLSSocket) resumes with a
fresh ticket each time and sends a 20-byte request either as early data
(`wrap_socket(early_data=...)`) or after the handshake; the clock runs from
connect() to the first byte of the answer. Interleaved rounds; medians.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import pki  # noqa: E402

import s2n  # noqa: E402

REQUEST = b"GET /ttfb HTTP/1.1\r\n"
TICKET_KEY = bytes(range(32))


def server(d: Path) -> None:
    cfg = s2n.Config()
    cfg.add_cert_chain_and_key(d / "server.pem", d / "server.key")
    cfg.set_session_tickets_onoff(True)
    cfg.add_ticket_crypto_key(b"bench", TICKET_KEY)
    cfg.set_server_max_early_data_size(4096)
    cfg.set_early_data_cb(s2n.ReplayGuard())
    lsock = socket.create_server(("127.0.0.1", 0))
    print(lsock.getsockname()[1], flush=True)
    while True:
        sock, _ = lsock.accept()
        try:
            with s2n.wrap_socket(sock, cfg, server_side=True) as tls:
                data = b""
                while not data.endswith(b"\r\n"):
                    chunk = tls.recv(100)
                    if not chunk:
                        break
                    data += chunk
                if data == b"quit\r\n":
                    return
                tls.sendall(b"200 ok\r\n")
        except (s2n.S2NError, OSError):
            pass


async def _pipe(reader, writer, delay: float) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()

    async def sender():
        while True:
            due, data = await queue.get()
            await asyncio.sleep(max(0.0, due - loop.time()))
            if not data:
                writer.close()
                return
            writer.write(data)
            await writer.drain()

    task = asyncio.ensure_future(sender())
    while True:
        data = await reader.read(65536)
        queue.put_nowait((loop.time() + delay, data))
        if not data:
            break
    await task


def start_proxy(target: int, delay: float) -> int:
    """A delaying TCP proxy on loopback in a thread; returns its port."""
    ready: "list" = []

    async def handle(cr, cw):
        sr, sw = await asyncio.open_connection("127.0.0.1", target)
        await asyncio.gather(_pipe(cr, sw, delay), _pipe(sr, cw, delay), return_exceptions=True)

    async def main():
        srv = await asyncio.start_server(handle, "127.0.0.1", 0)
        ready.append(srv.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    threading.Thread(target=lambda: asyncio.run(main()), daemon=True).start()
    for _ in range(1000):
        if ready:
            return ready[0]
        time.sleep(0.005)  # the proxy thread starting: bounded
    raise RuntimeError("proxy did not start")


def one(port: int, cfg: s2n.Config, tickets: list, early: bool) -> float:
    start = time.perf_counter()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    tls = s2n.wrap_socket(sock, cfg, server_hostname="localhost", session=tickets[-1],
                          early_data=REQUEST if early else None)
    if not early:
        tls.sendall(REQUEST)
    first = tls.recv(1)
    elapsed = time.perf_counter() - start
    assert first == b"2", first
    tls.recv(100)
    status = tls.connection.get_early_data_status()
    if early and status != s2n.EarlyDataStatus.END:
        raise RuntimeError(f"early data not accepted: {status!r}")
    tls.close()
    return elapsed


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--server":
        server(Path(sys.argv[2]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rtt-ms", type=float, default=20.0)
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    d = pki()
    proc = subprocess.Popen([sys.executable, __file__, "--server", str(d)], stdout=subprocess.PIPE, text=True)
    try:
        port = start_proxy(int(proc.stdout.readline()), args.rtt_ms / 2000)
        cfg = s2n.Config()
        cfg.add_pem_to_trust_store(d / "ca.pem")
        cfg.set_session_tickets_onoff(True)
        tickets: list = []
        cfg.set_session_ticket_callback(lambda conn, ticket, lifetime: tickets.append(ticket))
        with s2n.wrap_socket(socket.create_connection(("127.0.0.1", port)), cfg,
                             server_hostname="localhost") as tls:
            tls.sendall(REQUEST)
            tls.recv(100)
        times = {False: [], True: []}
        for r in range(args.rounds):
            for early in ((False, True) if r % 2 == 0 else (True, False)):
                times[early].append(one(port, cfg, tickets, early))
        med = {k: statistics.median(v) * 1000 for k, v in times.items()}
        print(f"resumed TLS 1.3, {args.rtt_ms:.0f} ms added RTT, {args.rounds} interleaved rounds, medians:")
        print(f"  request after the handshake  {med[False]:7.1f} ms to the first response byte")
        print(f"  request as 0-RTT early data  {med[True]:7.1f} ms")
        print(f"  saved: {med[False] - med[True]:.1f} ms")
        with socket.create_connection(("127.0.0.1", port)) as sock:
            with s2n.wrap_socket(sock, cfg, server_hostname="localhost") as tls:
                tls.sendall(b"quit\r\n")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


if __name__ == "__main__":
    main()
