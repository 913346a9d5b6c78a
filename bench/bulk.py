"""Bulk transfer: TLSSocket against ssl.SSLSocket (loopback TCP, sender and
receiver in separate processes), and MemoryBIO against ssl.MemoryBIO +
SSLObject (two connections in one process).

    python bench/bulk.py [--mib 256] [--bio-mib 64] [--rounds 5]

TLS 1.3 on both. The cipher each side negotiated is printed: Python's ssl
cannot choose TLS 1.3 suites, and OpenSSL prefers AES-256-GCM between two
OpenSSL peers, while s2n-tls's default policy prefers AES-128-GCM.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import socket
import ssl
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import pki, s2n_configs, ssl_contexts  # noqa: E402

import s2n  # noqa: E402

CHUNK = 256 * 1024


def _receiver(kind: str, d: str, port_q, total: int) -> None:
    d = Path(d)
    with socket.create_server(("127.0.0.1", 0)) as lsock:
        port_q.put(lsock.getsockname()[1])
        sock, _ = lsock.accept()
        if kind == "s2n":
            sc, _ = s2n_configs(d)
            tls = s2n.wrap_socket(sock, sc, server_side=True)
        else:
            sctx, _ = ssl_contexts(d)
            tls = sctx.wrap_socket(sock, server_side=True)
        buf = bytearray(CHUNK)
        got = 0
        while got < total:
            n = tls.recv_into(buf)
            if not n:
                break
            got += n
        tls.sendall(b"k")
        tls.close()


def tcp_round(kind: str, d: Path, total: int):
    q = mp.Queue()
    p = mp.Process(target=_receiver, args=(kind, str(d), q, total))
    p.start()
    port = q.get(timeout=30)
    sock = socket.create_connection(("127.0.0.1", port))
    if kind == "s2n":
        _, cc = s2n_configs(d)
        tls = s2n.wrap_socket(sock, cc, server_hostname="localhost")
        cipher = tls.cipher()[0]
    else:
        _, cctx = ssl_contexts(d)
        tls = cctx.wrap_socket(sock, server_hostname="localhost")
        cipher = tls.cipher()[0]
    data = os.urandom(CHUNK)
    start = time.perf_counter()
    sent = 0
    while sent < total:
        tls.sendall(data)
        sent += CHUNK
    assert tls.recv(1) == b"k"
    elapsed = time.perf_counter() - start
    tls.close()
    p.join(30)
    return total / elapsed / 1e6, cipher


def bio_round_s2n(d: Path, total: int) -> float:
    sc, cc = s2n_configs(d)
    srv, cli = s2n.Connection(s2n.Mode.SERVER, sc), s2n.Connection(s2n.Mode.CLIENT, cc)
    s_in, s_out, c_in, c_out = (s2n.MemoryBIO() for _ in range(4))
    srv.set_memory_io(s_in, s_out)
    cli.set_memory_io(c_in, c_out)
    cli.set_server_name("localhost")
    for conn in (srv, cli):
        conn.prefer_throughput()
    done = [False, False]
    while not all(done):
        for i, conn in enumerate((cli, srv)):
            if not done[i]:
                try:
                    conn.negotiate()
                    done[i] = True
                except s2n.BlockedError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
    data = os.urandom(CHUNK)
    buf = bytearray(CHUNK)
    start = time.perf_counter()
    moved = 0
    while moved < total:
        view = memoryview(data)
        while view:
            view = view[cli.send(view):]
        s_in.write(c_out.read())
        got = 0
        while got < CHUNK:
            got += srv.recv_into(buf)
        moved += CHUNK
    return total / (time.perf_counter() - start) / 1e6


def bio_round_ssl(d: Path, total: int) -> float:
    sctx, cctx = ssl_contexts(d)
    s_in, s_out, c_in, c_out = (ssl.MemoryBIO() for _ in range(4))
    srv = sctx.wrap_bio(s_in, s_out, server_side=True)
    cli = cctx.wrap_bio(c_in, c_out, server_hostname="localhost")
    done = [False, False]
    while not all(done):
        for i, obj in enumerate((cli, srv)):
            if not done[i]:
                try:
                    obj.do_handshake()
                    done[i] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
    data = os.urandom(CHUNK)
    buf = bytearray(CHUNK)
    start = time.perf_counter()
    moved = 0
    while moved < total:
        view = memoryview(data)
        while view:
            view = view[cli.write(view):]
        s_in.write(c_out.read())
        got = 0
        while got < CHUNK:
            got += srv.read(CHUNK - got, buf)
        moved += CHUNK
    return total / (time.perf_counter() - start) / 1e6


def summary(name, s, o, extra=""):
    sm, om = statistics.median(s), statistics.median(o)
    ratios = [a / b for a, b in zip(s, o)]
    print(f"{name:<28}{sm:>9.0f}{om:>9.0f}{sm / om:>8.2f}x   per-round s2n/ssl "
          f"{min(ratios):.2f}-{max(ratios):.2f}  {extra}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--bio-mib", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    d = pki()
    print(f"{'MB/s (median)':<28}{'s2n':>9}{'ssl':>9}{'s2n/ssl':>9}")
    s_r, o_r = [], []
    ciphers = set()
    for _ in range(args.rounds):
        v, c = tcp_round("s2n", d, args.mib << 20)
        s_r.append(v)
        ciphers.add(("s2n", c))
        v, c = tcp_round("ssl", d, args.mib << 20)
        o_r.append(v)
        ciphers.add(("ssl", c))
    summary(f"TLSSocket {args.mib} MiB, 256K", s_r, o_r, str(sorted(ciphers)))
    s_r, o_r = [], []
    for _ in range(args.rounds):
        s_r.append(bio_round_s2n(d, args.bio_mib << 20))
        o_r.append(bio_round_ssl(d, args.bio_mib << 20))
    summary(f"MemoryBIO {args.bio_mib} MiB", s_r, o_r)


if __name__ == "__main__":
    main()
