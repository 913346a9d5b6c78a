"""Soak: many handshakes with data, RSS and fds sampled as they go.

    python scripts/soak.py --mode cli    --count 100000 --sample 10000
    python scripts/soak.py --mode memory --count 100000 --sample 10000

`cli`: a `python -m s2n server --echo` subprocess on 127.0.0.1; clients are
in-process TLSSocket clients (--threads of them at a time). Each connection:
TCP connect, full verified handshake, 64 bytes echoed back, close. The RSS
and fds sampled are the *server process*'s.

`memory`: in-process client/server Connection pairs over MemoryBIOs (shared
Configs, as a server has): full handshake, 64 bytes each way, free. The RSS
and fds sampled are this process's.

Every --sample connections the clients pause (so no connection is in flight)
and one row is printed. Verdict: RSS growth from the warm-up sample (the
second row after the start, --warmup) to the last < 1 MiB, fds flat (every
row after the start equal), no connection failed. Exit status 0 when it
holds. Not a test: it runs for minutes.
"""

from __future__ import annotations

import argparse
import gc
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import List, Optional, Tuple

import s2n
from s2n._pki import demo_pki

PAYLOAD = bytes(range(64))


def rss_kib(pid: Optional[int] = None) -> int:
    with open(f"/proc/{pid or 'self'}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def fds(pid: Optional[int] = None) -> int:
    return len(os.listdir(f"/proc/{pid or 'self'}/fd"))


def client_config(ca: bytes) -> s2n.Config:
    c = s2n.Config()
    c.add_pem_to_trust_store(ca)
    return c


def server_config(cert: bytes, key: bytes) -> s2n.Config:
    c = s2n.Config()
    c.add_cert_chain_and_key(cert, key)
    return c


# memory mode


def _move(src: s2n.MemoryBIO, dst: s2n.MemoryBIO) -> None:
    if src.pending:
        dst.write(src.read())


def memory_one(ccfg: s2n.Config, scfg: s2n.Config) -> None:
    c_in, c_out, s_in, s_out = s2n.MemoryBIO(), s2n.MemoryBIO(), s2n.MemoryBIO(), s2n.MemoryBIO()
    cli = s2n.Connection(s2n.Mode.CLIENT, ccfg)
    srv = s2n.Connection(s2n.Mode.SERVER, scfg)
    try:
        cli.set_server_name("localhost")
        cli.set_memory_io(c_in, c_out)
        srv.set_memory_io(s_in, s_out)
        c_done = s_done = False
        for _ in range(20):  # a TLS 1.3 handshake takes 2 rounds
            if not c_done:
                try:
                    cli.negotiate()
                    c_done = True
                except s2n.BlockedError:
                    pass
            _move(c_out, s_in)
            if not s_done:
                try:
                    srv.negotiate()
                    s_done = True
                except s2n.BlockedError:
                    pass
            _move(s_out, c_in)
            if c_done and s_done:
                break
        else:
            raise RuntimeError("handshake did not finish in 20 rounds")
        cli.send(PAYLOAD)
        _move(c_out, s_in)
        got = srv.recv(len(PAYLOAD))
        srv.send(got)
        _move(s_out, c_in)
        back = b""
        while len(back) < len(PAYLOAD):
            back += cli.recv(len(PAYLOAD) - len(back))
        if back != PAYLOAD:
            raise RuntimeError("echo mismatch")
    finally:
        cli.free()
        srv.free()


# cli mode


def start_server(cert: bytes, key: bytes, d: Path) -> Tuple[subprocess.Popen, int]:
    (d / "cert.pem").write_bytes(cert)
    (d / "key.pem").write_bytes(key)
    proc = subprocess.Popen(
        [sys.executable, "-m", "s2n", "server", "--cert", str(d / "cert.pem"),
         "--key", str(d / "key.pem"), "--echo", "-q", "--max-conns", "256",
         "--handshake-timeout", "10", "--idle-timeout", "10", "127.0.0.1", "0"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()  # "s2n server: listening on 127.0.0.1:PORT"
    if "listening on" not in line:
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r}")
    threading.Thread(target=proc.stderr.read, daemon=True).start()  # drain
    return proc, int(line.rsplit(":", 1)[1])


def cli_one(ccfg: s2n.Config, port: int) -> None:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        tls = s2n.wrap_socket(sock, ccfg, server_hostname="localhost")
    except BaseException:
        sock.close()
        raise
    with tls:
        tls.sendall(PAYLOAD)
        back = b""
        while len(back) < len(PAYLOAD):
            more = tls.recv(len(PAYLOAD) - len(back))
            if not more:
                raise RuntimeError("server closed early")
            back += more
        if back != PAYLOAD:
            raise RuntimeError("echo mismatch")


def wait_settled(pid: int, target: int, timeout: float = 5.0) -> int:
    """The server's fd count once its connection threads have closed (bounded)."""
    deadline = time.monotonic() + timeout
    n = fds(pid)
    while n > target and time.monotonic() < deadline:
        time.sleep(0.01)
        n = fds(pid)
    return n


def run_batch(work, n: int, threads: int, errors: List[str]) -> None:
    """`n` calls of work() spread over `threads` threads; failures counted."""
    counter = iter(range(n))
    lock = threading.Lock()

    def loop() -> None:
        while True:
            with lock:
                if next(counter, None) is None:
                    return
            try:
                work()
            except Exception as e:  # noqa: BLE001 - counted and reported
                with lock:
                    errors.append(repr(e))

    if threads == 1:
        loop()
        return
    ts = [threading.Thread(target=loop, daemon=True) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=("cli", "memory"), required=True)
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--sample", type=int, default=10_000)
    ap.add_argument("--threads", type=int, default=None,
                    help="client threads (default: 2 for cli, 1 for memory)")
    ap.add_argument("--warmup", type=int, default=2,
                    help="growth is measured from this sample on (default 2: after 2 x --sample)")
    ap.add_argument("--limit-kib", type=int, default=1024, help="allowed RSS growth (default 1 MiB)")
    args = ap.parse_args()
    threads = args.threads or (2 if args.mode == "cli" else 1)

    ca, cert, key = demo_pki()
    ccfg = client_config(ca)
    proc = None
    tmp = tempfile.TemporaryDirectory()
    if args.mode == "cli":
        proc, port = start_server(cert, key, Path(tmp.name))
        pid = proc.pid

        def work() -> None:
            cli_one(ccfg, port)
        base_fds = fds(pid)
    else:
        pid = os.getpid()
        scfg = server_config(cert, key)

        def work() -> None:
            memory_one(ccfg, scfg)
        base_fds = fds()

    print(f"s2n soak: mode={args.mode} count={args.count} sample={args.sample} threads={threads} "
          f"pid={pid} python={sys.version.split()[0]}", flush=True)
    header = f"{'connections':>11} {'RSS KiB':>9} {'vs warm-up':>10} {'fds':>4} {'failed':>6} {'elapsed s':>9} {'conn/s':>7}"
    print(header)
    print("-" * len(header), flush=True)
    rows = []
    errors: List[str] = []
    t0 = time.monotonic()
    done = 0
    last_t = t0

    def sample() -> None:
        nonlocal last_t
        gc.collect()
        n_fds = wait_settled(pid, base_fds) if proc else fds()
        rss = rss_kib(pid)
        now = time.monotonic()
        rows.append((done, rss, n_fds, len(errors), now - t0))
        warm = rows[args.warmup][1] if len(rows) > args.warmup else None
        rate = (args.sample / (now - last_t)) if done else 0.0
        last_t = now
        print(f"{done:>11,} {rss:>9,} {('' if warm is None else f'{rss - warm:+,}'):>10} {n_fds:>4} "
              f"{len(errors):>6} {now - t0:>9.1f} {rate:>7.0f}", flush=True)

    try:
        sample()
        while done < args.count:
            n = min(args.sample, args.count - done)
            run_batch(work, n, threads, errors)
            done += n
            sample()
            if proc is not None and proc.poll() is not None:
                errors.append(f"server exited with {proc.returncode}")
                break
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        tmp.cleanup()

    total = time.monotonic() - t0
    ok = True
    print()
    print(f"duration: {total:.1f} s ({done / total:.0f} connections/s)")
    if len(rows) > args.warmup + 1:
        growth = rows[-1][1] - rows[args.warmup][1]
        print(f"RSS growth after warm-up (connection {rows[args.warmup][0]:,} -> {rows[-1][0]:,}): "
              f"{growth:+,} KiB (limit {args.limit_kib:,} KiB)")
        ok &= growth < args.limit_kib
    else:
        print("RSS growth: too few samples for a verdict")
        ok = False
    fd_counts = {r[2] for r in rows[1:]}
    print(f"fds after the start: {sorted(fd_counts)} (at start {rows[0][2]})")
    ok &= len(fd_counts) == 1
    print(f"failed connections: {len(errors)}")
    for e in sorted(set(errors))[:10]:
        print(f"  {errors.count(e)} x {e}")
    ok &= not errors
    print(f"verdict: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
