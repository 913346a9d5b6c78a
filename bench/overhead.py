"""Per-call cost of send+recv (1 B and 16 KiB) over a socketpair, in one
thread: this package against Python's ssl doing the same loop.

    python bench/overhead.py [--seconds 2] [--rounds 5]

Both sides live in one process and one thread, so the figure is the whole
cost of one send plus one recv (Python call overhead + TLS record work +
two syscalls), not a throughput figure.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import pki, s2n_pair, ssl_pair  # noqa: E402


def loop(cli, srv, size, seconds):
    """send+recv in a loop; the same code drives s2n and ssl objects."""
    data = b"x" * size
    n = 0
    deadline = time.perf_counter() + seconds
    start = time.perf_counter()
    while True:
        for _ in range(200):
            cli.send(data)
            got = 0
            while got < size:
                got += len(srv.recv(size - got))
        n += 200
        if time.perf_counter() > deadline:
            break
    return (time.perf_counter() - start) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    d = pki()
    s_cli, s_srv, _ = s2n_pair(d)
    t_cli, t_srv, _ = s2n_pair(d)
    for conn in (t_cli, t_srv):  # the tuning the IO layers apply (see docs/performance)
        conn.prefer_throughput()
        conn.set_recv_buffering(True)
    o_cli, o_srv, _ = ssl_pair(d)
    variants = [("defaults", s_cli, s_srv), ("tuned", t_cli, t_srv)]
    print(f"{'case':<24}{'s2n us/op':>12}{'ssl us/op':>12}{'ssl/s2n':>9}   (median of {args.rounds}, min-max)")
    for size in (1, 16384):
        for label, cli, srv in variants:
            s_t, o_t = [], []
            for _ in range(args.rounds):  # interleaved rounds
                s_t.append(loop(cli, srv, size, args.seconds) * 1e6)
                o_t.append(loop(o_cli, o_srv, size, args.seconds) * 1e6)
            sm, om = statistics.median(s_t), statistics.median(o_t)
            print(f"{str(size) + ' B, s2n ' + label:<24}{sm:>12.2f}{om:>12.2f}{om / sm:>8.2f}x   "
                  f"s2n {min(s_t):.2f}-{max(s_t):.2f}, ssl {min(o_t):.2f}-{max(o_t):.2f}")


if __name__ == "__main__":
    main()
