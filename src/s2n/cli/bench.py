"""`python -m s2n bench`: a short side-by-side run against Python's ssl.

In one process: bulk transfer over a socketpair (sender and receiver threads),
full handshakes through memory buffers (one thread, no sockets: the cost of the
handshake itself), and 64-byte round trips over a socketpair. Interleaved:
each figure is measured for s2n, then ssl, then again, and the better of two
rounds is kept. The full suite is in bench/ of the source tree.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import ssl
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple, Type, Union

import s2n
from s2n._pki import demo_pki

CHUNK = 256 * 1024


_Socket = Union[s2n.TLSSocket, ssl.SSLSocket]  # what Setup.pair gives


class Setup:
    def __init__(self) -> None:
        ca, cert, key = demo_pki()
        self.scfg: s2n.Config = s2n.Config()
        self.scfg.add_cert_chain_and_key(cert, key)
        self.ccfg: s2n.Config = s2n.Config()
        self.ccfg.add_pem_to_trust_store(ca)
        d = Path(tempfile.mkdtemp(prefix="s2n-bench-"))
        (d / "ca.pem").write_bytes(ca)
        (d / "cert.pem").write_bytes(cert)
        (d / "key.pem").write_bytes(key)
        self.sctx: ssl.SSLContext = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.sctx.load_cert_chain(d / "cert.pem", d / "key.pem")
        self.cctx: ssl.SSLContext = ssl.create_default_context(cafile=str(d / "ca.pem"))
        for f in d.iterdir():
            f.unlink()
        d.rmdir()

    def pair(self, kind: str) -> Tuple[_Socket, _Socket]:
        a, b = socket.socketpair()
        box: Dict[str, _Socket] = {}
        cli: _Socket
        if kind == "s2n":
            t = threading.Thread(target=lambda: box.setdefault(
                "s", s2n.wrap_socket(a, self.scfg, server_side=True)))
            t.start()
            cli = s2n.wrap_socket(b, self.ccfg, server_hostname="localhost")
        else:
            t = threading.Thread(target=lambda: box.setdefault(
                "s", self.sctx.wrap_socket(a, server_side=True)))
            t.start()
            cli = self.cctx.wrap_socket(b, server_hostname="localhost")
        t.join()
        return cli, box["s"]


def bulk(setup: Setup, kind: str, seconds: float) -> float:
    cli, srv = setup.pair(kind)
    data = os.urandom(CHUNK)
    stop = threading.Event()
    received = [0]

    def reader() -> None:
        buf = bytearray(CHUNK)
        while True:
            n = srv.recv_into(buf)
            if not n:
                return
            received[0] += n

    t = threading.Thread(target=reader)
    t.start()
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        cli.sendall(data)
    sent_at = time.perf_counter()
    cli.close()
    t.join(30)
    srv.close()
    stop.set()
    return received[0] / (sent_at - start) / 1e6


def pump(cli: Any, srv: Any, bios: Tuple[Any, ...], want_more: Type[BaseException],
         limit: int = 100) -> None:
    """Run a client/server handshake through memory buffers in one thread:
    call each side's handshake step until both finish, moving bytes between
    the (server in, server out, client in, client out) buffers. `want_more`
    is the exception a side raises while it waits for bytes. The same loop
    drives s2n (negotiate, BlockedError) and ssl (do_handshake,
    SSLWantReadError), so both pay for the same work."""
    si, so, ci, co = bios
    steps: List[Callable[[], object]] = [getattr(cli, "negotiate", None) or cli.do_handshake,
             getattr(srv, "negotiate", None) or srv.do_handshake]
    done = [False, False]
    for _ in range(limit):
        for i, step in enumerate(steps):
            if not done[i]:
                try:
                    step()
                    done[i] = True
                except want_more:
                    pass
        si.write(co.read())
        ci.write(so.read())
        if all(done):
            return
    raise RuntimeError("handshake made no progress")


def _s2n_handshake_once(setup: Setup) -> None:
    srv, cli = s2n.Connection(s2n.Mode.SERVER, setup.scfg), s2n.Connection(s2n.Mode.CLIENT, setup.ccfg)
    bios = si, so, ci, co = tuple(s2n.MemoryBIO() for _ in range(4))
    srv.set_memory_io(si, so)
    cli.set_memory_io(ci, co)
    cli.set_server_name("localhost")
    pump(cli, srv, bios, s2n.BlockedError)
    srv.free()
    cli.free()


def _ssl_handshake_once(setup: Setup) -> None:
    bios = si, so, ci, co = tuple(ssl.MemoryBIO() for _ in range(4))
    srv = setup.sctx.wrap_bio(si, so, server_side=True)
    cli = setup.cctx.wrap_bio(ci, co, server_hostname="localhost")
    pump(cli, srv, bios, ssl.SSLWantReadError)


def handshakes(setup: Setup, kind: str, seconds: float) -> float:
    once = _s2n_handshake_once if kind == "s2n" else _ssl_handshake_once
    n = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        once(setup)
        n += 1
    return n / (time.perf_counter() - start)


def round_trips(setup: Setup, kind: str, seconds: float) -> float:
    cli, srv = setup.pair(kind)
    msg = b"x" * 64
    n = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(100):
            cli.sendall(msg)
            got = srv.recv(64)
            srv.sendall(got)
            cli.recv(64)
        n += 100
    rate = n / (time.perf_counter() - start)
    cli.close()
    srv.close()
    return rate


FIGURES = [("bulk MB/s (256 KiB writes)", bulk), ("full handshakes/s", handshakes),
           ("64 B round trips/s", round_trips)]


def run(args: argparse.Namespace) -> int:
    setup = Setup()
    steps = len(FIGURES) * 2 * 2
    done = 0
    results = {}
    for label, fn in FIGURES:
        best = {"s2n": 0.0, "ssl": 0.0}
        for _ in range(2):
            for kind in ("s2n", "ssl"):
                done += 1
                bar = "#" * (done * 30 // steps)
                print(f"\r[{bar:<30}] {done}/{steps} {label} ({kind})".ljust(78),
                      end="", file=sys.stderr, flush=True)
                best[kind] = max(best[kind], fn(setup, kind, args.seconds))
        results[label] = {"s2n": best["s2n"], "ssl": best["ssl"], "ratio": best["s2n"] / best["ssl"]}
    print("\r".ljust(79) + "\r", end="", file=sys.stderr, flush=True)
    info = s2n.version_info()
    if args.json:
        print(json.dumps({"version_info": info, "openssl": ssl.OPENSSL_VERSION,
                          "results": results}, indent=2))
        return 0
    print(f"s2n-tls {info['s2n_tls']} ({info['libcrypto']}) vs Python ssl ({ssl.OPENSSL_VERSION}), "
          f"TLS 1.3, ECDSA P-256, one process")
    print(f"{'figure':<30}{'s2n':>12}{'ssl':>12}{'s2n/ssl':>10}")
    for label, r in results.items():
        print(f"{label:<30}{r['s2n']:>12.0f}{r['ssl']:>12.0f}{r['ratio']:>9.2f}x")
    return 0
