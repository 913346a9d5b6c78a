"""bench/run.py's TCP figures: four contenders, two processes each, loopback.

Contenders (each is client AND server of its own kind: ssl against ssl, s2n
against s2n, raw C against raw C):
    ssl        Python's ssl (bench/_tcp_ssl.py)
    tlssocket  s2n.wrap_socket -> TLSSocket, defaults (bench/_tcp_s2n.py)
    conn       s2n.Connection, fd IO, tuned (bench/_tcp_s2n.py)
    c          bench/c/s2n_bench.c on the package's libs2n.a/libcrypto.a, tuned

One server process per contender lives for the whole section (it prints
"ready PORT", serves one connection at a time, and ends when its stdin is
closed); each measurement is one client process, which times itself and
prints one JSON line. Rounds interleave the contenders and rotate their
order each round.
"""

from __future__ import annotations

import json
import select
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROTO = HERE / "_tcp_proto.py"
C_SEND_BUFFER = 256 * 1024  # as _tcp_s2n.SEND_BUFFER

LABELS = {"ssl": "Python ssl", "tlssocket": "s2n TLSSocket (defaults)",
          "conn": "s2n Connection (tuned)", "c": "raw C s2n_bench (tuned)"}
ORDER = ("ssl", "tlssocket", "conn", "c")
# name: (title, client figure, chunk, unit)
FIGURES = {
    "handshake": ("full handshakes/s", "full", None, "/s"),
    "resumed": ("resumed handshakes/s (session ticket)", "resumed", None, "/s"),
    "bulk16": ("bulk MB/s, 16 KiB writes", "bulk", 16384, "MB/s"),
    "bulk256": ("bulk MB/s, 256 KiB writes", "bulk", 262144, "MB/s"),
    "rtt": ("64 B round trips/s", "rtt", None, "/s"),
}
READY_TIMEOUT = 60.0


class Server:
    """One contender's server process; `port` once it printed its ready line."""

    def __init__(self, argv: list) -> None:
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], READY_TIMEOUT)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith("ready "):
            self.stop()
            raise RuntimeError(f"server {argv[:3]} did not start (said {line!r})")
        self.port = int(line.split()[1])

    def stop(self) -> None:
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()  # the server's signal to finish
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def server_argv(kind: str, d: Path, exe) -> list:
    if kind == "c":
        return [str(exe), "server", "--cert", str(d / "server.pem"), "--key",
                str(d / "server.key"), "--send-buffer", str(C_SEND_BUFFER)]
    return [sys.executable, str(PROTO), "server", kind, str(d)]


def client_argv(kind: str, d: Path, exe, port: int, figure: str, seconds: float,
                total: int, chunk) -> list:
    opts = ["--seconds", str(seconds), "--bytes", str(total), "--chunk", str(chunk or 16384)]
    if kind == "c":
        return [str(exe), "client", "--ca", str(d / "ca.pem"), "--port", str(port),
                "--figure", figure, "--send-buffer", str(C_SEND_BUFFER), *opts]
    return [sys.executable, str(PROTO), "client", kind, str(d), str(port), figure, *opts]


def run_client(argv: list, timeout: float) -> dict:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"client {argv[:5]} failed (exit {proc.returncode}):\n"
                           f"{proc.stderr.strip()[-2000:]}")
    return json.loads(lines[-1])


def _ratios(vals: dict, kind: str, ref: str):
    if ref not in vals or ref == kind:
        return None
    rs = [a / b for a, b in zip(vals[kind], vals[ref]) if b]
    return {"median": statistics.median(rs), "range": [min(rs), max(rs)]} if rs else None


def summarize(vals: dict, negotiated: dict, unit: str) -> dict:
    out = {"unit": unit, "contenders": {}}
    for kind, vs in vals.items():
        out["contenders"][kind] = {
            "label": LABELS[kind], "values": vs, "median": statistics.median(vs),
            "range": [min(vs), max(vs)], "vs_ssl": _ratios(vals, kind, "ssl"),
            "vs_c": _ratios(vals, kind, "c"), "negotiated": sorted(negotiated[kind])}
    return out


def _ratio_text(r) -> str:
    if r is None:
        return ""
    return f"{r['median']:.2f}x ({r['range'][0]:.2f}-{r['range'][1]:.2f})"


def print_figure(title: str, summary: dict) -> None:
    print(f"{title:<34}{'median':>10}{'min-max':>17}  {'vs ssl':<19}{'vs raw C':<19}negotiated",
          flush=True)
    for kind in ORDER:
        r = summary["contenders"].get(kind)
        if r is None:
            continue
        span = f"{r['range'][0]:.0f}-{r['range'][1]:.0f}"
        print(f"  {r['label']:<32}{r['median']:>10.0f}{span:>17}  {_ratio_text(r['vs_ssl']):<19}"
              f"{_ratio_text(r['vs_c']):<19}{', '.join(r['negotiated'])}", flush=True)


def measure(d: Path, figures: list, rounds: int, seconds: float, total: int,
            exe=None, log=print) -> dict:
    """Every figure in `figures` (keys of FIGURES), `rounds` interleaved rounds."""
    kinds = [k for k in ORDER if k != "c" or exe]
    servers = {}
    results = {}
    try:
        for kind in kinds:
            servers[kind] = Server(server_argv(kind, d, exe))
        for name in figures:
            title, figure, chunk, unit = FIGURES[name]
            vals = {k: [] for k in kinds}
            negotiated = {k: set() for k in kinds}
            timeout = 120 + 10 * seconds
            for rnd in range(rounds):
                order = kinds[rnd % len(kinds):] + kinds[:rnd % len(kinds)]
                for kind in order:
                    res = run_client(client_argv(kind, d, exe, servers[kind].port, figure,
                                                 seconds, total, chunk), timeout)
                    vals[kind].append(res["value"])
                    negotiated[kind].add(f"{res.get('cipher', '-')}/{res.get('group', '-')}")
            results[f"tcp {name}"] = summarize(vals, negotiated, unit)
            print_figure(title, results[f"tcp {name}"])
    finally:
        for srv in servers.values():
            srv.stop()
    return results


if __name__ == "__main__":
    # A quick look without bench/run.py: python bench/_tcp_run.py CERTDIR
    sys.path.insert(0, str(HERE))
    from _cdriver import driver

    exe, why = driver()
    if exe is None:
        print(f"raw C column left empty: {why}")
    start = time.perf_counter()
    measure(Path(sys.argv[1]), list(FIGURES), 1, 0.3, 16 << 20, exe)
    print(f"{time.perf_counter() - start:.1f} s")
