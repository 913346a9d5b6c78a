"""RSS after N handshakes-and-frees in one process (goal: flat from 1,000 to 10,000).

    python bench/handshake_rss.py [--total 10000] [--checkpoints 1000,5000,10000]

Each iteration: a socketpair, an s2n server and client Connection, a full
TLS 1.3 handshake and a 1-byte exchange, then free() and close. Configs are
shared (as a server would), connections are not.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fds, pki, rss_kib, s2n_configs, s2n_pair  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--total", type=int, default=10_000)
    ap.add_argument("--checkpoints", default="1000,5000,10000")
    args = ap.parse_args()
    checkpoints = {int(x) for x in args.checkpoints.split(",")}
    d = pki()
    configs = s2n_configs(d)
    print(f"start: RSS {rss_kib()} KiB, fds {fds()}")
    t0 = time.perf_counter()
    for i in range(1, args.total + 1):
        cli, srv, (a, b) = s2n_pair(d, configs)
        cli.send(b"x")
        srv.recv(1)
        cli.free()
        srv.free()
        a.close()
        b.close()
        if i in checkpoints:
            gc.collect()
            print(f"after {i:>6} handshakes: RSS {rss_kib()} KiB, fds {fds()}, "
                  f"{i / (time.perf_counter() - t0):.0f} handshakes/s (threaded pair)")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
