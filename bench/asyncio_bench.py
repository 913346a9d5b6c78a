"""s2n.asyncio against asyncio streams with Python's ssl, client and server in separate processes.

    python bench/asyncio_bench.py [--quick] [--rounds 7] [--clients 1,10,100,1000]

Run it from the repository root after `pip install -e .` (it stops with an
error if the package cannot be imported or its extension is not built).

Contenders (both ends of a connection are always of the same kind):

    ssl          asyncio streams with ssl= (OpenSSL), default event loop
    ssl-uvloop   the same on uvloop
    s2n          s2n.asyncio streams, default event loop
    s2n-uvloop   s2n.asyncio on uvloop

uvloop is optional: without it (pip install uvloop) its two columns are
skipped and a line says so.

Each contender has one server process (two listening sockets on 127.0.0.1);
each measurement runs in a fresh client process that opens N concurrent
clients (N in --clients) over loopback TCP:

(a) full handshakes/s: every client, in a loop, connects, runs a full
    handshake (ECDSA P-256 certificate chain and host name "localhost"
    verified; no session resumption), writes 1 byte, reads the 1-byte echo,
    closes (close_notify) and waits for the close. --handshakes in total
    (at least 2 per client), timed from the first connect to the last close.
(b) bulk MB/s: N connections are opened first; then, timed, every client
    sends --mib MiB / N (at least 256 KiB) in 256 KiB writes (awaiting
    drain()); the server SINKS the data (reads and counts it) and sends a
    1-byte ack when it has it all. MB/s = all payload bytes / time until the
    last ack.

TLS 1.3 with TLS_AES_128_GCM_SHA256 on all (checked on the first connection
of each measurement; Python's ssl cannot choose TLS 1.3 suites through its
API, so this script sets them with an OPENSSL_CONF file). The key exchange
group is each library's default and is printed.

Rounds rotate the order of the contenders; the table gives each contender's
median and the median of the per-round ratios against asyncio+ssl and
against uvloop+ssl.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHUNK = 256 * 1024
CIPHER = "TLS_AES_128_GCM_SHA256"
POLICY = "default_tls13"
BACKLOG = 4096
KINDS = ("ssl", "ssl-uvloop", "s2n", "s2n-uvloop")
HERE = Path(__file__).resolve()


def openssl_conf(d: Path) -> None:
    """Before anything imports ssl (children inherit it): OpenSSL picks
    TLS_AES_128_GCM_SHA256 as s2n-tls does."""
    (d / "openssl.cnf").write_text(
        "openssl_conf = default_conf\n"
        "[default_conf]\nssl_conf = ssl_sect\n"
        "[ssl_sect]\nsystem_default = system_default_sect\n"
        "[system_default_sect]\nCiphersuites = TLS_AES_128_GCM_SHA256\n")
    os.environ["OPENSSL_CONF"] = str(d / "openssl.cnf")


def import_s2n():
    """The package, built; or a loud exit."""
    try:
        import s2n
        import s2n.asyncio  # noqa: F401
        s2n.version_info()
    except Exception as exc:  # noqa: BLE001
        sys.exit(f"asyncio_bench: cannot use the s2n package ({type(exc).__name__}: {exc}).\n"
                 "Build and install it first, from the repository root: pip install -e .")
    return s2n


def have_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def raise_nofile(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        want = need if hard == resource.RLIM_INFINITY else min(need, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        if want < need:
            print(f"asyncio_bench: only {want} file descriptors allowed (hard limit); "
                  f"{need} wanted", file=sys.stderr)


def run_loop(kind: str, coro):
    if kind.endswith("uvloop"):
        import uvloop
        if hasattr(uvloop, "run"):
            return uvloop.run(coro)
        uvloop.install()
    return asyncio.run(coro)


# one TLS stack


class Impl:
    def __init__(self, kind: str, d: Path) -> None:
        self.kind = kind
        self.is_s2n = kind.startswith("s2n")
        if self.is_s2n:
            s2n = import_s2n()
            self.errors = (ConnectionError, s2n.S2NError)
            self.sc = s2n.Config()
            self.sc.add_cert_chain_and_key(d / "server.pem", d / "server.key")
            self.cc = s2n.Config()
            self.cc.add_pem_to_trust_store(d / "ca.pem")
            for c in (self.sc, self.cc):
                c.set_cipher_preferences(POLICY)
        else:
            import ssl
            self.errors = (ConnectionError, ssl.SSLError)
            self.sc = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.sc.load_cert_chain(d / "server.pem", d / "server.key")
            self.sc.minimum_version = ssl.TLSVersion.TLSv1_3
            self.cc = ssl.create_default_context(cafile=str(d / "ca.pem"))  # verifies the name
            self.cc.minimum_version = ssl.TLSVersion.TLSv1_3

    async def start_server(self, handler):
        if self.is_s2n:
            import s2n.asyncio
            return await s2n.asyncio.start_server(handler, "127.0.0.1", 0, config=self.sc,
                                                  backlog=BACKLOG)
        return await asyncio.start_server(handler, "127.0.0.1", 0, ssl=self.sc, backlog=BACKLOG)

    async def connect(self, port: int):
        if self.is_s2n:
            import s2n.asyncio
            return await s2n.asyncio.open_connection("127.0.0.1", port, config=self.cc,
                                                     server_hostname="localhost")
        return await asyncio.open_connection("127.0.0.1", port, ssl=self.cc,
                                             server_hostname="localhost")

    def describe(self, writer) -> str:
        if self.is_s2n:
            conn = writer.get_extra_info("s2n_connection")
            group = conn.get_kem_group_name()
            if group in ("NONE", None):
                group = conn.get_curve()
            return f"{writer.get_extra_info('version')} {writer.get_extra_info('cipher')} {group}"
        obj = writer.get_extra_info("ssl_object")
        group = obj.group() if hasattr(obj, "group") else "(default group)"
        return f"{obj.version()} {obj.cipher()[0]} {group}"

    def cipher(self, writer) -> str:
        if self.is_s2n:
            return writer.get_extra_info("cipher")
        return writer.get_extra_info("ssl_object").cipher()[0]

    async def close(self, writer) -> None:
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), 30)
        except self.errors:
            pass


# server process


async def serve(impl: Impl) -> None:
    errors = impl.errors + (asyncio.IncompleteReadError,)

    async def handshake_handler(reader, writer):
        try:
            writer.write(await reader.readexactly(1))
            await writer.drain()
            await reader.read()  # until the client closes
        except errors:
            pass
        finally:
            writer.close()

    async def bulk_handler(reader, writer):
        try:
            total = int.from_bytes(await reader.readexactly(8), "big")
            got = 0
            while got < total:
                data = await reader.read(1 << 20)
                if not data:
                    raise ConnectionError("EOF before all the data")
                got += len(data)
            writer.write(b"k")
            await writer.drain()
            await reader.read()
        except errors:
            pass
        finally:
            writer.close()

    hs = await impl.start_server(handshake_handler)
    bulk = await impl.start_server(bulk_handler)
    print(json.dumps({"hs": hs.sockets[0].getsockname()[1],
                      "bulk": bulk.sockets[0].getsockname()[1]}), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes our stdin
    hs.close()
    bulk.close()


# client process


async def client_handshakes(impl: Impl, port: int, clients: int, total: int) -> dict:
    reader, writer = await impl.connect(port)  # what was negotiated (not timed)
    info = impl.describe(writer)
    if impl.cipher(writer) != CIPHER:
        raise RuntimeError(f"{impl.kind}: negotiated {info}, not {CIPHER}")
    writer.write(b"x")
    await reader.readexactly(1)
    await impl.close(writer)
    left = total

    async def worker():
        nonlocal left
        while left > 0:
            left -= 1
            reader, writer = await impl.connect(port)
            writer.write(b"x")
            if await reader.readexactly(1) != b"x":
                raise RuntimeError("bad echo")
            await impl.close(writer)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return {"value": total / (time.perf_counter() - start), "info": info}


async def client_bulk(impl: Impl, port: int, clients: int, per_client: int) -> dict:
    pairs = await asyncio.gather(*(impl.connect(port) for _ in range(clients)))
    info = impl.describe(pairs[0][1])
    if impl.cipher(pairs[0][1]) != CIPHER:
        raise RuntimeError(f"{impl.kind}: negotiated {info}, not {CIPHER}")
    chunk = os.urandom(CHUNK)
    header = per_client.to_bytes(8, "big")

    async def send(reader, writer):
        writer.write(header)
        for _ in range(per_client // CHUNK):
            writer.write(chunk)
            await writer.drain()
        if await reader.readexactly(1) != b"k":
            raise RuntimeError("bad ack")

    start = time.perf_counter()
    await asyncio.gather(*(send(r, w) for r, w in pairs))
    elapsed = time.perf_counter() - start
    await asyncio.gather(*(impl.close(w) for _, w in pairs))
    return {"value": clients * per_client / elapsed / 1e6, "info": info}


def child(args) -> None:
    raise_nofile(args.nofile)
    impl = Impl(args.kind, Path(args.pki))
    if args.role == "serve":
        run_loop(args.kind, serve(impl))
        return
    if args.mode == "hs":
        coro = client_handshakes(impl, args.port, int(args.clients), args.amount)
    else:
        coro = client_bulk(impl, args.port, int(args.clients), args.amount)
    print(json.dumps(run_loop(args.kind, coro)), flush=True)


# the parent: servers, interleaved rounds, the table


def start_server(kind: str, d: Path, nofile: int):
    proc = subprocess.Popen([sys.executable, str(HERE), "--child", "serve", "--kind", kind,
                             "--pki", str(d), "--nofile", str(nofile)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line:
        proc.wait(10)
        sys.exit(f"asyncio_bench: the {kind} server did not start (exit code {proc.returncode})")
    return proc, json.loads(line)


def measure(kind: str, mode: str, port: int, clients: int, amount: int, d: Path, nofile: int) -> dict:
    out = subprocess.run([sys.executable, str(HERE), "--child", "client", "--kind", kind,
                          "--mode", mode, "--port", str(port), "--clients", str(clients),
                          "--amount", str(amount), "--pki", str(d), "--nofile", str(nofile)],
                         stdout=subprocess.PIPE, text=True, timeout=600)
    if out.returncode != 0 or not out.stdout.strip():
        sys.exit(f"asyncio_bench: {kind} {mode} with {clients} clients failed "
                 f"(exit code {out.returncode})")
    return json.loads(out.stdout.strip().splitlines()[-1])


def parent(args) -> None:
    s2n = import_s2n()
    import ssl
    clients = [int(c) for c in args.clients.split(",")]
    nofile = 2 * max(clients) + 256
    raise_nofile(nofile)
    kinds = [k for k in KINDS if k in args.kinds.split(",")]
    if not have_uvloop():
        kinds = [k for k in kinds if not k.endswith("uvloop")]
        print("uvloop is not installed: the ssl-uvloop and s2n-uvloop columns are skipped "
              "(pip install uvloop)")
    work = Path(tempfile.mkdtemp(prefix="s2n-asyncio-bench-"))
    procs = []
    try:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _common import make_pki  # here: OPENSSL_CONF is set before ssl is imported

        make_pki(work)
        servers = {}
        for kind in kinds:
            proc, ports = start_server(kind, work, nofile)
            procs.append(proc)
            servers[kind] = ports
        uv = ""
        if have_uvloop():
            import uvloop
            uv = f", uvloop {uvloop.__version__}"
        print(f"Python {platform.python_version()}, {ssl.OPENSSL_VERSION}, "
              f"s2n-tls {s2n.version_info()['s2n_tls']} with {s2n.version_info()['libcrypto']}"
              f"{uv}, {os.cpu_count()} CPUs; client and server in separate processes, loopback TCP")

        def amount(mode: str, n: int) -> int:
            if mode == "hs":
                return max(args.handshakes, 2 * n)
            per = max(CHUNK, (args.mib << 20) // n)
            return per - per % CHUNK

        for kind in kinds:  # warm up; show what each negotiates
            got = measure(kind, "hs", servers[kind]["hs"], 4, 20, work, nofile)
            print(f"  {kind:<11} {got['info']}")
        modes = [m for m in ("hs", "bulk") if m in args.modes.split(",")]
        results = {(m, n, k): [] for m in modes for n in clients for k in kinds}
        for rnd in range(args.rounds):
            order = kinds[rnd % len(kinds):] + kinds[:rnd % len(kinds)]
            for mode in modes:
                for n in clients:
                    for kind in order:
                        got = measure(kind, mode, servers[kind][mode], n, amount(mode, n), work, nofile)
                        results[(mode, n, kind)].append(got["value"])
            print(f"round {rnd + 1}/{args.rounds} done", flush=True)
    finally:
        for proc in procs:
            proc.stdin.close()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)

    def ratio(mode, n, kind, base):
        a, b = results[(mode, n, kind)], results[(mode, n, base)]
        return statistics.median(x / y for x, y in zip(a, b))

    print(f"\nmedians of {args.rounds} rounds; ratios are medians of per-round ratios")
    for mode in modes:
        unit = "hs/s" if mode == "hs" else "MB/s"
        what = ("full handshakes/s (connect, verified handshake, 1-byte echo, close)" if mode == "hs"
                else f"bulk MB/s ({args.mib} MiB in total per run, 256 KiB writes, server sinks)")
        print(f"\n{what}")
        head = f"{'clients':>7} " + " ".join(f"{k:>11}" for k in kinds)
        vs = [(k, b) for k in kinds if k.startswith("s2n") for b in kinds if b.startswith("ssl")]
        if not vs:
            vs = [(k, kinds[0]) for k in kinds[1:]]
        head += "  " + " ".join(f"{k + '/' + b:>21}" for k, b in vs)
        print(head)
        for n in clients:
            row = f"{n:>7} " + " ".join(
                f"{statistics.median(results[(mode, n, k)]):>11.0f}" for k in kinds)
            row += "  " + " ".join(f"{ratio(mode, n, k, b):>20.2f}x" for k, b in vs)
            print(row)
        print(f"({unit})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="3 rounds, 300 handshakes, 64 MiB: a first look in a few minutes")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--clients", default="1,10,100,1000", help="comma-separated client counts")
    ap.add_argument("--handshakes", type=int, default=1000, help="handshakes per run (>= 2 per client)")
    ap.add_argument("--mib", type=int, default=256, help="bulk payload per run, all clients together")
    ap.add_argument("--modes", default="hs,bulk", help="hs, bulk or both")
    ap.add_argument("--kinds", default=",".join(KINDS), help="contenders, comma-separated")
    # internal: the child processes
    ap.add_argument("--child", choices=("serve", "client"), dest="role", help=argparse.SUPPRESS)
    ap.add_argument("--kind", choices=KINDS, help=argparse.SUPPRESS)
    ap.add_argument("--pki", help=argparse.SUPPRESS)
    ap.add_argument("--mode", choices=("hs", "bulk"), help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--amount", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--nofile", type=int, default=4096, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.role:
        child(args)
        return
    if args.quick:
        args.rounds, args.handshakes, args.mib = 3, 300, 64
    conf = Path(tempfile.mkdtemp(prefix="s2n-bench-conf-"))
    try:
        openssl_conf(conf)
        parent(args)
    finally:
        shutil.rmtree(conf, ignore_errors=True)


if __name__ == "__main__":
    main()
