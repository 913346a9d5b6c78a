"""s2n.asyncio against asyncio streams with Python's ssl (OpenSSL), same machine, one run.

    python bench/asyncio_bench.py [--rounds 9] [--mib 64] [--handshakes 300] [--concurrency 8]

Both sides of every connection (client and server) live in one process and
one event loop thread, so each figure is the whole cost of both ends.

1. Echo throughput: the client writes --mib MiB in 256 KiB writes (awaiting
   drain()), the server echoes every chunk, the client reads it all back.
   MB/s = payload bytes / seconds (one direction's bytes). TLS 1.3 with
   TLS_AES_128_GCM_SHA256 on both (checked); ECDSA P-256 certificate.
2. Full handshakes per second: --handshakes connections, --concurrency at a
   time: open_connection (certificate and host name verified), one byte
   echoed, close both ends. No session resumption on either side.

A third contender, "s2n+cfg", is s2n.asyncio with two Config settings for
bulk data that Python's ssl has no counterpart for: recv_multi_record (one
recv returns many records) and a 256 KiB send buffer (many records per
write(2)). The ratios that count for the goal are "s2n" against "ssl".

Rounds rotate the order of the contenders; medians printed.
Python's ssl cannot choose TLS 1.3 cipher suites through its API, so this
script sets them with an OPENSSL_CONF file before `ssl` is imported.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

# Before anything imports ssl: make OpenSSL pick TLS_AES_128_GCM_SHA256 like s2n does.
_conf_dir = Path(tempfile.mkdtemp(prefix="s2n-bench-conf-"))
(_conf_dir / "openssl.cnf").write_text(
    "openssl_conf = default_conf\n"
    "[default_conf]\nssl_conf = ssl_sect\n"
    "[ssl_sect]\nsystem_default = system_default_sect\n"
    "[system_default_sect]\nCiphersuites = TLS_AES_128_GCM_SHA256\n")
os.environ["OPENSSL_CONF"] = str(_conf_dir / "openssl.cnf")
atexit.register(shutil.rmtree, _conf_dir, True)

import argparse  # noqa: E402
import asyncio  # noqa: E402
import platform  # noqa: E402
import ssl  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import s2n  # noqa: E402
import s2n.asyncio as s2n_asyncio  # noqa: E402
from _common import pki  # noqa: E402

CHUNK = 256 * 1024
CIPHER = "TLS_AES_128_GCM_SHA256"
POLICY = "default_tls13"


def s2n_configs(d: Path, bulk: bool = False):
    sc = s2n.Config()
    sc.add_cert_chain_and_key(d / "server.pem", d / "server.key")
    cc = s2n.Config()
    cc.add_pem_to_trust_store(d / "ca.pem")
    for c in (sc, cc):
        c.set_cipher_preferences(POLICY)
        if bulk:
            c.set_recv_multi_record(True)
            c.set_send_buffer_size(256 * 1024)
    return sc, cc


def ssl_contexts(d: Path):
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(d / "server.pem", d / "server.key")
    sctx.minimum_version = ssl.TLSVersion.TLSv1_3
    cctx = ssl.create_default_context(cafile=str(d / "ca.pem"))
    cctx.minimum_version = ssl.TLSVersion.TLSv1_3
    return sctx, cctx


async def echo(reader, writer):
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, s2n.S2NError):
        pass
    finally:
        writer.close()


class Impl:
    """One TLS stack: how to start a server and open a connection."""

    def __init__(self, name, d: Path):
        self.name = name
        self.s2n = name.startswith("s2n")
        if self.s2n:
            self.sc, self.cc = s2n_configs(d, bulk=name == "s2n+cfg")
        else:
            self.sc, self.cc = ssl_contexts(d)

    async def start_server(self, handler):
        if self.s2n:
            return await s2n_asyncio.start_server(handler, "127.0.0.1", 0, config=self.sc)
        return await asyncio.start_server(handler, "127.0.0.1", 0, ssl=self.sc)

    async def connect(self, port):
        if self.s2n:
            return await s2n_asyncio.open_connection("127.0.0.1", port, config=self.cc,
                                                     server_hostname="localhost")
        return await asyncio.open_connection("127.0.0.1", port, ssl=self.cc,
                                             server_hostname="localhost")

    def describe(self, writer) -> str:
        if self.s2n:
            conn = writer.get_extra_info("s2n_connection")
            group = conn.get_kem_group_name()
            if group == "NONE":
                group = conn.get_curve()
            return f"{writer.get_extra_info('version')} {writer.get_extra_info('cipher')} {group}"
        obj = writer.get_extra_info("ssl_object")
        return f"{obj.version()} {obj.cipher()[0]}"

    def cipher(self, writer) -> str:
        if self.s2n:
            return writer.get_extra_info("cipher")
        return writer.get_extra_info("ssl_object").cipher()[0]


async def close(writer):
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), 30)
    except (ConnectionError, s2n.S2NError, ssl.SSLError):
        pass


async def throughput(impl: Impl, port: int, payload: bytes) -> float:
    reader, writer = await impl.connect(port)
    assert impl.cipher(writer) == CIPHER, impl.describe(writer)

    async def send():
        view = memoryview(payload)
        for i in range(0, len(view), CHUNK):
            writer.write(view[i:i + CHUNK])
            await writer.drain()

    start = time.perf_counter()
    sender = asyncio.ensure_future(send())
    got = 0
    chunks = []
    while got < len(payload):
        data = await reader.read(1 << 20)
        if not data:
            raise RuntimeError("EOF before the echo was complete")
        got += len(data)
        chunks.append(data)
    await sender
    elapsed = time.perf_counter() - start
    await close(writer)
    if b"".join(chunks) != payload:  # checked outside the timed part
        raise RuntimeError(f"{impl.name}: echoed data differs")
    return len(payload) / elapsed / 1e6


async def handshakes(impl: Impl, port: int, count: int, concurrency: int) -> float:
    sem = asyncio.Semaphore(concurrency)

    async def one():
        async with sem:
            reader, writer = await impl.connect(port)
            writer.write(b"x")
            if await reader.readexactly(1) != b"x":
                raise RuntimeError("bad echo")
            await close(writer)

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count)))
    return count / (time.perf_counter() - start)


async def main(args) -> None:
    d = pki()
    payload = os.urandom(args.mib * 1024 * 1024)
    impls = [Impl("s2n", d), Impl("ssl", d), Impl("s2n+cfg", d)]
    servers = {}
    for impl in impls:
        servers[impl.name] = await impl.start_server(echo)
    ports = {name: srv.sockets[0].getsockname()[1] for name, srv in servers.items()}

    print(f"Python {platform.python_version()}, {ssl.OPENSSL_VERSION}, "
          f"s2n-tls {s2n.version_info()['s2n_tls']} with {s2n.version_info()['libcrypto']}, "
          f"{os.cpu_count()} CPUs, loop {type(asyncio.get_running_loop()).__name__}")
    for impl in impls:  # warm up, and show what was negotiated
        reader, writer = await impl.connect(ports[impl.name])
        print(f"  {impl.name}: {impl.describe(writer)}")
        await close(writer)
        await throughput(impl, ports[impl.name], payload[: 4 << 20])
        await handshakes(impl, ports[impl.name], 20, args.concurrency)

    tput = {i.name: [] for i in impls}
    hs = {i.name: [] for i in impls}
    for rnd in range(args.rounds):
        k = rnd % len(impls)
        order = impls[k:] + impls[:k]
        for impl in order:
            tput[impl.name].append(await throughput(impl, ports[impl.name], payload))
        for impl in order:
            hs[impl.name].append(await handshakes(impl, ports[impl.name], args.handshakes,
                                                  args.concurrency))
        print(f"round {rnd + 1}: " + ", ".join(
            f"{i.name} {tput[i.name][-1]:.0f} MB/s {hs[i.name][-1]:.0f} hs/s" for i in impls), flush=True)

    for srv in servers.values():
        srv.close()

    def line(what, unit, data, name="s2n"):
        s, o = statistics.median(data[name]), statistics.median(data["ssl"])
        label = "s2n.asyncio" + ("+cfg" if name != "s2n" else "")
        print(f"{what:<34} {label:<15} {s:8.1f} {unit:<5} asyncio+ssl {o:8.1f} {unit:<5} "
              f"ratio {s / o:5.2f}x  (min/max {name} {min(data[name]):.0f}/{max(data[name]):.0f}, "
              f"ssl {min(data['ssl']):.0f}/{max(data['ssl']):.0f})")

    print(f"\nmedians of {args.rounds} rounds")
    line(f"echo {args.mib} MiB, 256 KiB writes", "MB/s", tput)
    line(f"full handshakes, {args.concurrency} at a time", "hs/s", hs)
    line(f"echo {args.mib} MiB, 256 KiB writes", "MB/s", tput, "s2n+cfg")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--mib", type=int, default=64, help="echo payload per round (MiB)")
    ap.add_argument("--handshakes", type=int, default=300, help="handshakes per round")
    ap.add_argument("--concurrency", type=int, default=8)
    asyncio.run(main(ap.parse_args()))
