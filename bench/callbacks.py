"""The custom-IO-callback path: Python callables as s2n-tls's send/recv.

    python bench/callbacks.py [--seconds 2] [--rounds 5]

Both peers in one thread over in-memory pipes, so the figure is the cost of
the callback path itself (the trampolines, the scratch copies that keep
s2n-tls's memory out of Python's reach, the exception scoping), not of a
socket. Prints MB/s for 16 KiB sends and handshakes/s; run it with two
installs to compare them.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import s2n  # noqa: E402
from _common import pki, s2n_configs  # noqa: E402


class Pipe:
    def __init__(self) -> None:
        self.buf = bytearray()

    def send(self, data) -> int:
        self.buf += data
        return len(data)

    def recv(self, out) -> int:
        if not self.buf:
            raise BlockingIOError
        n = min(len(out), len(self.buf))
        out[:n] = self.buf[:n]
        del self.buf[:n]
        return n


def pair(sc, cc):
    c2s, s2c = Pipe(), Pipe()
    srv = s2n.Connection(s2n.Mode.SERVER, sc)
    cli = s2n.Connection(s2n.Mode.CLIENT, cc)
    srv.set_recv_cb(c2s.recv)
    srv.set_send_cb(s2c.send)
    cli.set_recv_cb(s2c.recv)
    cli.set_send_cb(c2s.send)
    cli.set_server_name("localhost")
    done = set()
    for _ in range(50):
        for name, conn in (("c", cli), ("s", srv)):
            if name not in done:
                try:
                    conn.negotiate()
                    done.add(name)
                except s2n.BlockedError:
                    pass
        if len(done) == 2:
            return cli, srv
    raise RuntimeError("handshake made no progress")


def bulk(sc, cc, seconds: float) -> float:
    cli, srv = pair(sc, cc)
    data = b"x" * 16384
    buf = bytearray(65536)
    moved = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(50):
            cli.send(data)
            got = 0
            while got < len(data):
                got += srv.recv_into(buf)
            moved += len(data)
    return moved / (time.perf_counter() - start) / 1e6


def handshakes(sc, cc, seconds: float) -> float:
    n = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        cli, srv = pair(sc, cc)
        cli.free()
        srv.free()
        n += 1
    return n / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    sc, cc = s2n_configs(pki())
    mbs, hs = [], []
    for _ in range(args.rounds):
        mbs.append(bulk(sc, cc, args.seconds))
        hs.append(handshakes(sc, cc, args.seconds))
    print(f"callbacks bulk 16 KiB sends: {statistics.median(mbs):.0f} MB/s "
          f"(rounds {min(mbs):.0f}..{max(mbs):.0f})")
    print(f"callbacks full handshakes/s: {statistics.median(hs):.0f} "
          f"(rounds {min(hs):.0f}..{max(hs):.0f})")


if __name__ == "__main__":
    main()
