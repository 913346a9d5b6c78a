"""The benchmark suite: this package against Python's ssl, same machine, one run.

    python bench/run.py [--rounds 5] [--quick] [--json results.json]
                        [--only handshake,resumed,bulk,rtt,ciphers,membio,rss,asyncio]
                        [--seconds S] [--mib N]

The TCP figures (handshake, resumed, bulk, rtt) run over loopback TCP in two
processes, a client and a server, for four contenders, each of them client
AND server of its own kind (ssl against ssl, s2n against s2n, raw C against
raw C):
    Python ssl;
    s2n TLSSocket (`s2n.wrap_socket`, its defaults);
    s2n Connection (fd IO on blocking sockets, tuned: reused with wipe(),
        prefer_throughput, receive buffering, multi-record receive, 256 KiB
        send buffer);
    raw C: bench/c/s2n_bench.c, tuned the same way, linked against the same
        libs2n.a and libcrypto.a (AWS-LC) as the package and built by the
        bench (bench/_cdriver.py) into build/bench/. Without a C compiler or
        the package's static libraries its column is left empty.
Figures: full and resumed (session ticket) handshakes/s, a connection each
(handshake, 1 byte back, close_notify both ways); bulk MB/s with 16 KiB and
256 KiB writes; 64-byte round trips/s. Rounds interleave the contenders and
rotate their order; the tables give medians, min-max and the medians of the
per-round ratios vs ssl and vs raw C. See bench/_tcp_run.py and
bench/_tcp_proto.py for the protocol.

The other figures compare s2n with ssl only: bulk over TCP in the other
ciphers (ciphers: s2n Connection, Connection tuned and TLSSocket against ssl,
sender and receiver in separate processes); bulk through memory buffers
(membio); RSS per idle connection, measured in a fresh interpreter per side
(rss); asyncio streams (asyncio, bench/asyncio_bench.py).

TLS 1.3 everywhere (ChaCha20 in TLS 1.2, see CIPHERS). Python's ssl cannot
choose TLS 1.3 suites, so its suite is set through libssl with ctypes
(`SSL_CTX_set_ciphersuites`) to match s2n's. Key exchange groups are each
library's default (s2n's default_tls13: secp256r1; OpenSSL: X25519); the TCP
tables show what was negotiated where the library tells.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing as mp
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _tcp_run  # noqa: E402
from _cdriver import driver  # noqa: E402
from _common import make_pki, rss_kib, ssl_set_suites  # noqa: E402

import s2n  # noqa: E402
from s2n.cli.bench import pump  # noqa: E402

CIPHERS = {  # name: (s2n security policy, OpenSSL suite, certificate)
    "AES-128-GCM": ("default_tls13", "TLS_AES_128_GCM_SHA256", "server"),
    "AES-256-GCM": ("20251113", "TLS_AES_256_GCM_SHA384", "server"),
    # No s2n-tls policy prefers ChaCha20 in TLS 1.3 (it is only chosen by
    # "boosting" for clients that ask for it first), so ChaCha20 is measured
    # in TLS 1.2, with an RSA certificate (policy 20190122 puts it first).
    "CHACHA20-POLY1305 (TLS 1.2)": ("20190122", "ECDHE-RSA-CHACHA20-POLY1305", "rsa"),
}


# --- configuration ------------------------------------------------------------

def s2n_cfgs(d: Path, cipher="AES-128-GCM", cert=None, tickets=False):
    cert = cert or CIPHERS[cipher][2]
    sc, cc = s2n.Config(), s2n.Config()
    sc.add_cert_chain_and_key(d / f"{cert}.pem", d / f"{cert}.key")
    cc.add_pem_to_trust_store(d / "ca.pem")
    for c in (sc, cc):
        c.set_cipher_preferences(CIPHERS[cipher][0])
    if tickets:
        sc.set_session_tickets_onoff(True)
        sc.add_ticket_crypto_key("bench", os.urandom(32))
        cc.set_session_tickets_onoff(True)
    return sc, cc


def ssl_ctxs(d: Path, cipher="AES-128-GCM", cert=None):
    cert = cert or CIPHERS[cipher][2]
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(d / f"{cert}.pem", d / f"{cert}.key")
    cctx = ssl.create_default_context(cafile=str(d / "ca.pem"))
    suite = CIPHERS[cipher][1]
    if suite.startswith("TLS_"):
        sctx.minimum_version = ssl.TLSVersion.TLSv1_3
        for c in (sctx, cctx):
            ssl_set_suites(c, suite)
    else:
        for c in (sctx, cctx):
            c.maximum_version = ssl.TLSVersion.TLSv1_2
            c.set_ciphers(suite)
    return sctx, cctx


def make_all(d: Path) -> None:
    make_pki(d)

    def run(*a):
        subprocess.run(["openssl", *a], cwd=d, check=True, capture_output=True)

    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "rsa.key", "-out", "rsa.csr",
        "-subj", "/CN=localhost")
    run("x509", "-req", "-in", "rsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "rsa.pem", "-days", "2", "-extfile", "ext")


# --- bulk -----------------------------------------------------------------------

def _bulk_receiver(kind, d, cipher, q, total, chunk):
    d = Path(d)
    with socket.create_server(("127.0.0.1", 0)) as lsock:
        q.put(lsock.getsockname()[1])
        sock, _ = lsock.accept()
        buf = bytearray(max(chunk, 65536))
        got = 0
        if kind == "ssl":
            sctx, _ = ssl_ctxs(d, cipher)
            tls = sctx.wrap_socket(sock, server_side=True)
            recv_into = tls.recv_into
        elif kind == "tlssocket":
            sc, _ = s2n_cfgs(d, cipher)
            tls = s2n.wrap_socket(sock, sc, server_side=True)
            recv_into = tls.recv_into
        else:  # the fd Connection, blocking, as the C API does it
            sc, _ = s2n_cfgs(d, cipher)
            tls = s2n.Connection(s2n.Mode.SERVER, sc)
            tls.set_fd(sock)
            if kind == "conn-tuned":
                tls.prefer_throughput()
                tls.set_recv_buffering(True)
            tls.negotiate()
            recv_into = tls.recv_into
        while got < total:
            n = recv_into(buf)
            if not n:
                break
            got += n
        if kind in ("conn", "conn-tuned"):
            tls.send(b"k")
        else:
            tls.sendall(b"k")
        q.put(got)
        sock.close()


def bulk_round(kind, d, cipher, total, chunk):
    q = mp.Queue()
    p = mp.Process(target=_bulk_receiver, args=(kind, str(d), cipher, q, total, chunk))
    p.start()
    port = q.get(timeout=60)
    sock = socket.create_connection(("127.0.0.1", port))
    if kind == "ssl":
        _, cctx = ssl_ctxs(d, cipher)
        tls = cctx.wrap_socket(sock, server_hostname="localhost")
        send_all, recv1, negotiated = tls.sendall, tls.recv, tls.cipher()[0]
    elif kind == "tlssocket":
        _, cc = s2n_cfgs(d, cipher)
        tls = s2n.wrap_socket(sock, cc, server_hostname="localhost")
        send_all, recv1, negotiated = tls.sendall, tls.recv, tls.cipher()[0]
    else:
        _, cc = s2n_cfgs(d, cipher)
        conn = s2n.Connection(s2n.Mode.CLIENT, cc)
        conn.set_fd(sock)
        conn.set_server_name("localhost")
        if kind == "conn-tuned":
            conn.prefer_throughput()
            conn.set_recv_buffering(True)
        conn.negotiate()

        def send_all(data, conn=conn):
            view = memoryview(data)
            while view:
                view = view[conn.send(view):]

        recv1, negotiated = conn.recv, conn.get_cipher()
    data = os.urandom(chunk)
    start = time.perf_counter()
    sent = 0
    while sent < total:
        send_all(data)
        sent += chunk
    assert recv1(1) == b"k"
    elapsed = time.perf_counter() - start
    got = q.get(timeout=60)
    p.join(30)
    sock.close()
    assert got >= total
    return total / elapsed / 1e6, negotiated


def bulk_membio_s2n(d, cipher, total, chunk):
    sc, cc = s2n_cfgs(d, cipher)
    srv, cli = s2n.Connection(s2n.Mode.SERVER, sc), s2n.Connection(s2n.Mode.CLIENT, cc)
    si, so, ci, co = (s2n.MemoryBIO() for _ in range(4))
    srv.set_memory_io(si, so)
    cli.set_memory_io(ci, co)
    cli.set_server_name("localhost")
    for conn in (srv, cli):
        conn.prefer_throughput()
    _pump_s2n(cli, srv, si, so, ci, co)
    data, buf = os.urandom(chunk), bytearray(chunk)
    start = time.perf_counter()
    moved = 0
    while moved < total:
        view = memoryview(data)
        while view:
            view = view[cli.send(view):]
        si.write(co.read())
        got = 0
        while got < chunk:
            got += srv.recv_into(buf)
        moved += chunk
    return total / (time.perf_counter() - start) / 1e6, cli.get_cipher()


def bulk_membio_ssl(d, cipher, total, chunk):
    sctx, cctx = ssl_ctxs(d, cipher)
    si, so, ci, co = (ssl.MemoryBIO() for _ in range(4))
    srv = sctx.wrap_bio(si, so, server_side=True)
    cli = cctx.wrap_bio(ci, co, server_hostname="localhost")
    _pump_ssl(cli, srv, si, so, ci, co)
    data, buf = os.urandom(chunk), bytearray(chunk)
    start = time.perf_counter()
    moved = 0
    while moved < total:
        view = memoryview(data)
        while view:
            view = view[cli.write(view):]
        si.write(co.read())
        got = 0
        while got < chunk:
            got += srv.read(chunk - got, memoryview(buf)[got:])
        moved += chunk
    return total / (time.perf_counter() - start) / 1e6, cli.cipher()[0]


# --- memory pumps -------------------------------------------------------------------

def _pump_s2n(cli, srv, si, so, ci, co):
    pump(cli, srv, (si, so, ci, co), s2n.BlockedError)


def _pump_ssl(cli, srv, si, so, ci, co):
    pump(cli, srv, (si, so, ci, co), ssl.SSLWantReadError)


# --- RSS per idle connection ------------------------------------------------------

def rss_child(kind: str, d: Path, n: int) -> float:
    """In a fresh interpreter: KiB of RSS per idle client+server pair."""
    keep = []
    if kind == "s2n":
        sc, cc = s2n_cfgs(d)
    else:
        sctx, cctx = ssl_ctxs(d)
    gc.collect()
    base = rss_kib()
    for _ in range(n):
        if kind == "s2n":
            srv, cli = s2n.Connection(s2n.Mode.SERVER, sc), s2n.Connection(s2n.Mode.CLIENT, cc)
            si, so, ci, co = (s2n.MemoryBIO() for _ in range(4))
            srv.set_memory_io(si, so)
            cli.set_memory_io(ci, co)
            cli.set_server_name("localhost")
            _pump_s2n(cli, srv, si, so, ci, co)
            # what an idle server (and client) does: drop handshake state and buffers
            for conn in (srv, cli):
                conn.free_handshake()
                conn.release_buffers()
            keep.append((srv, cli, si, so, ci, co))
        else:
            si, so, ci, co = (ssl.MemoryBIO() for _ in range(4))
            srv = sctx.wrap_bio(si, so, server_side=True)
            cli = cctx.wrap_bio(ci, co, server_hostname="localhost")
            _pump_ssl(cli, srv, si, so, ci, co)
            keep.append((srv, cli, si, so, ci, co))
    gc.collect()
    return (rss_kib() - base) / n


# --- runner ------------------------------------------------------------------------

def summarize(s_vals, o_vals):
    ratios = [a / b for a, b in zip(s_vals, o_vals)]
    return {"s2n": statistics.median(s_vals), "ssl": statistics.median(o_vals),
            "s2n_range": [min(s_vals), max(s_vals)], "ssl_range": [min(o_vals), max(o_vals)],
            "ratio": statistics.median(ratios), "ratio_range": [min(ratios), max(ratios)]}


SECTIONS = ("handshake", "resumed", "bulk", "rtt", "ciphers", "membio", "rss", "asyncio")
TCP = {"handshake": ["handshake"], "resumed": ["resumed"], "bulk": ["bulk16", "bulk256"],
       "rtt": ["rtt"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="smaller transfers, shorter runs")
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--only", default=",".join(SECTIONS),
                    help=f"comma-separated, of: {','.join(SECTIONS)}")
    ap.add_argument("--seconds", type=float, help="length of each timed run (default 1.5, --quick 0.5)")
    ap.add_argument("--mib", type=int, help="MiB per bulk transfer (default 256, --quick 64)")
    ap.add_argument("--rss-child", nargs=3, metavar=("KIND", "DIR", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_child:
        kind, d, n = args.rss_child
        print(rss_child(kind, Path(d), int(n)))
        return
    only = [name for name in args.only.split(",") if name]
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        ap.error(f"--only: unknown {', '.join(unknown)} (known: {', '.join(SECTIONS)})")
    d = Path(tempfile.mkdtemp(prefix="s2n-bench-"))
    make_all(d)
    (d / "server.pem").rename(d / "ecdsa.pem")
    (d / "server.key").rename(d / "ecdsa.key")
    for ext in ("pem", "key"):
        (d / f"server.{ext}").symlink_to(d / f"ecdsa.{ext}")
    total = (args.mib or (64 if args.quick else 256)) << 20
    secs = args.seconds or (0.5 if args.quick else 1.5)
    results = {}

    def record(name, s_vals, o_vals, unit, extra=""):
        r = summarize(s_vals, o_vals)
        r["unit"] = unit
        results[name] = r
        print(f"{name:<44}{r['s2n']:>10.0f}{r['ssl']:>10.0f}{r['ratio']:>8.2f}x "
              f"({r['ratio_range'][0]:.2f}-{r['ratio_range'][1]:.2f})  {unit} {extra}", flush=True)

    print(f"s2n {s2n.version_info()} vs {ssl.OPENSSL_VERSION}; {args.rounds} interleaved rounds",
          flush=True)
    tcp = [fig for name in only for fig in TCP.get(name, [])]
    if tcp:
        exe, why = driver(log=lambda m: print(m, file=sys.stderr, flush=True))
        if exe is None:
            print(f"raw C column left empty: {why}", flush=True)
        print(f"loopback TCP, client and server in separate processes, each contender against "
              f"itself; {secs:g} s per timed run, {total >> 20} MiB per bulk transfer", flush=True)
        results.update(_tcp_run.measure(d, tcp, args.rounds, secs, total, exe))
    if any(name in only for name in ("ciphers", "membio", "rss")):
        print(f"{'figure':<44}{'s2n':>10}{'ssl':>10}{'ratio':>9} (per-round range)", flush=True)
    if "ciphers" in only:
        for cipher in [c for c in CIPHERS if c != "AES-128-GCM"]:  # AES-128: the TCP tables
            for chunk in (16384, 262144):
                for kind in ("conn", "conn-tuned", "tlssocket"):
                    s_v, o_v, names = [], [], set()
                    for _ in range(args.rounds):
                        v, c = bulk_round(kind, d, cipher, total, chunk)
                        s_v.append(v)
                        names.add(c)
                        v, c = bulk_round("ssl", d, cipher, total, chunk)
                        o_v.append(v)
                        names.add(c)
                    record(f"bulk {kind} {cipher} {chunk // 1024}K", s_v, o_v, "MB/s", sorted(names))
    if "membio" in only:
        for cipher in CIPHERS:
            for chunk in (16384, 262144):
                s_v, o_v = [], []
                for _ in range(args.rounds):
                    s_v.append(bulk_membio_s2n(d, cipher, total // 4, chunk)[0])
                    o_v.append(bulk_membio_ssl(d, cipher, total // 4, chunk)[0])
                record(f"bulk MemoryBIO {cipher} {chunk // 1024}K", s_v, o_v, "MB/s")
    if "rss" in only:
        n = 300 if args.quick else 1000
        s_v, o_v = [], []
        for _ in range(max(1, args.rounds // 2)):
            for kind, vals in (("s2n", s_v), ("ssl", o_v)):
                out = subprocess.run([sys.executable, __file__, "--rss-child", kind, str(d), str(n)],
                                     capture_output=True, text=True, check=True)
                vals.append(float(out.stdout.strip()))
        record(f"RSS per idle connection pair ({n})", s_v, o_v, "KiB (lower is better)")
    if "asyncio" in only:
        # asyncio streams: its own script (it must configure OpenSSL before ssl is imported)
        cmd = [sys.executable, str(Path(__file__).with_name("asyncio_bench.py")),
               "--rounds", str(args.rounds)]
        if args.quick:
            cmd += ["--mib", "16", "--handshakes", "100"]
        out = subprocess.run(cmd, capture_output=True, text=True)
        print(out.stdout, end="", flush=True)
        results["asyncio"] = {"report": out.stdout}
    if args.json:
        Path(args.json).write_text(json.dumps({"version_info": s2n.version_info(),
                                               "openssl": ssl.OPENSSL_VERSION,
                                               "results": results}, indent=2))


if __name__ == "__main__":
    main()
