"""RSS of idle TLS connections over TCP: TLSSocket against Python's ssl.

    python bench/idle_rss.py [--pairs 500] [--stack s2n|ssl|both]

A server process accepts N connections over loopback TCP and gives each a
thread blocked in recv() (an idle connection, as a threaded server holds
it); a client process makes the N connections, completes each handshake and
keeps it open without sending. Each process reports its RSS growth per
connection once all N are idle (a fresh interpreter per stack and side, so
one stack's allocations do not hide in the other's).
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import pki, rss_kib  # noqa: E402

IDLE_SECONDS = 1.0  # let every reader reach its idle wait (TLSSocket: after 1 ms)


def contexts(stack: str, d: Path):
    if stack == "s2n":
        import s2n

        sc, cc = s2n.Config(), s2n.Config()
        sc.add_cert_chain_and_key(d / "server.pem", d / "server.key")
        cc.add_pem_to_trust_store(d / "ca.pem")
        return (lambda s: s2n.wrap_socket(s, sc, server_side=True),
                lambda s: s2n.wrap_socket(s, cc, server_hostname="localhost"))
    import ssl

    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(d / "server.pem", d / "server.key")
    cctx = ssl.create_default_context(cafile=str(d / "ca.pem"))
    return (lambda s: sctx.wrap_socket(s, server_side=True),
            lambda s: cctx.wrap_socket(s, server_hostname="localhost"))


def server(stack: str, d: Path, n: int) -> None:
    wrap, _ = contexts(stack, d)
    lsock = socket.create_server(("127.0.0.1", 0), backlog=n)
    print(lsock.getsockname()[1], flush=True)
    base = rss_kib()
    ready = threading.Semaphore(0)
    keep = []

    def idle(tls):
        ready.release()
        try:
            tls.recv(1)  # blocks until the client leaves
        except Exception:  # noqa: BLE001 - the client went away: s2n or ssl says so its way
            pass

    for _ in range(n):
        sock, _ = lsock.accept()
        tls = wrap(sock)
        keep.append(tls)
        threading.Thread(target=idle, args=(tls,), daemon=True).start()
    for _ in range(n):
        ready.acquire(timeout=30)
    time.sleep(IDLE_SECONDS)  # a benchmark settling time, not a synchronisation
    print(json.dumps({"server_kib_per_conn": (rss_kib() - base) / n}), flush=True)
    sys.stdin.readline()  # until the parent is done


def client(stack: str, d: Path, n: int, port: int) -> None:
    _, wrap = contexts(stack, d)
    base = rss_kib()
    keep = [wrap(socket.create_connection(("127.0.0.1", port))) for _ in range(n)]
    time.sleep(IDLE_SECONDS)
    print(json.dumps({"client_kib_per_conn": (rss_kib() - base) / n}), flush=True)
    sys.stdin.readline()
    del keep


def measure(stack: str, d: Path, n: int) -> dict:
    me = [sys.executable, __file__, "--child", stack, str(d), str(n)]
    srv = subprocess.Popen(me + ["server"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        port = int(srv.stdout.readline())
        cli = subprocess.Popen(me + ["client", str(port)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
        try:
            result = json.loads(cli.stdout.readline())
            result.update(json.loads(srv.stdout.readline()))
        finally:
            cli.communicate("\n", timeout=60)
    finally:
        srv.communicate("\n", timeout=60)
    return result


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        stack, d, n, role = sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
        if role == "server":
            server(stack, d, n)
        else:
            client(stack, d, n, int(sys.argv[6]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=500)
    ap.add_argument("--stack", default="both", choices=["s2n", "ssl", "both"])
    args = ap.parse_args()
    d = pki()
    results = {}
    for stack in (["s2n", "ssl"] if args.stack == "both" else [args.stack]):
        results[stack] = measure(stack, d, args.pairs)
        r = results[stack]
        print(f"{stack:>4}: server {r['server_kib_per_conn']:.1f} KiB, client "
              f"{r['client_kib_per_conn']:.1f} KiB per idle connection ({args.pairs} over TCP)")
    if len(results) == 2:
        s, o = results["s2n"], results["ssl"]
        pair_s = s["server_kib_per_conn"] + s["client_kib_per_conn"]
        pair_o = o["server_kib_per_conn"] + o["client_kib_per_conn"]
        print(f"pair: s2n {pair_s:.1f} KiB, ssl {pair_o:.1f} KiB, ratio {pair_s / pair_o:.2f}x")


if __name__ == "__main__":
    main()
