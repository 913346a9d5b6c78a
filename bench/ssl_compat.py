"""s2n.ssl against Python's ssl module, as programs use them (issue 10, "Measure").

    python bench/ssl_compat.py [--rounds 5] [--quick] [--json out.json]
                               [--only a,b,c,profile] [--mib 256] [--seconds 2]

Every figure runs s2n.ssl.SSLContext on BOTH ends against ssl.SSLContext on
both ends: same machine, same ECDSA P-256 certificate, two processes over
loopback TCP, TLS 1.3 with TLS_AES_128_GCM_SHA256 (every process reports what
it negotiated and the runner checks it).

(a) wrap_socket
    bulk: a sender process wrap_socket()s and sendall()s --mib MiB in 16 KiB or
      256 KiB writes; the receiver process recv_into()s it all and answers one
      byte; MB/s timed by the sender from the first write to that byte.
    handshakes/s: a client process loops connect + wrap_socket + close for
      --seconds against a server process looping accept + wrap_socket + close
      (one thread each, sequential). Rows: each stack's default key exchange
      (s2n-tls: X25519MLKEM768, OpenSSL 3.0: X25519), and both pinned to P-256.
(b) asyncio streams with ssl= (asyncio's sslproto drives an SSLObject over
    ssl.MemoryBIO): asyncio.start_server(ssl=) in one process,
    asyncio.open_connection(ssl=) in another.
    bulk: the client writes --mib/4 MiB one way in 256 KiB writes (drain() after
      each); the server reads it all and answers one byte.
    handshakes/s: 8 connections at a time, each open_connection + close +
      wait_closed (a graceful TLS close both ways), for --seconds.
(c) HTTPS requests/s, a new connection per request, against a
    ThreadingHTTPServer whose sockets the same stack wraps (a 6-byte body):
    requests.get(url, verify=cafile) with no Session (the s2n process calls
    s2n.ssl.inject_into_ssl() first), and httpx.get(url, verify=ctx). The same
    loops over plain HTTP give the ceiling: the most any TLS stack could reach.
    If inject_into_ssl() leaves urllib3's setters recursing (seen on this
    branch), the requests process applies a stated shim: see
    _work_around_inject_recursion() and the NOTE line it prints.
profile: in one process, both ends of an SSLObject pair over ssl.MemoryBIO
    moving data as sslproto does (write 256 KiB, move the bytes, read until
    SSLWantReadError): microseconds per 16 KiB record for ssl, s2n.ssl, and
    s2n's own C-side memory IO (what a C path over the BIOs could reach); then
    cProfile call counts per record in s2n.ssl's Python IO callbacks.

Method: rounds interleave s2n then ssl, with fresh processes for every
measurement; the table gives the median of each side, the median of the
per-round ratios s2n/ssl and their range. Python's ssl cannot choose TLS 1.3
suites, so its processes get an OPENSSL_CONF file with
`Ciphersuites = TLS_AES_128_GCM_SHA256`; s2n.ssl's default policy already
puts AES-128-GCM first. Each stack otherwise keeps its defaults (s2n.ssl sets
TCP_NODELAY on its sockets; both servers send two session tickets).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import queue
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import make_pki  # noqa: E402

SUITE = "TLS_AES_128_GCM_SHA256"
RECORD = 16 * 1024
STACKS = ("s2n", "ssl")
OPENSSL_CONF = ("openssl_conf = default_conf\n"
                "[default_conf]\nssl_conf = ssl_sect\n"
                "[ssl_sect]\nsystem_default = system_default_sect\n"
                f"[system_default_sect]\nCiphersuites = {SUITE}\n")


# --- in the child processes: contexts and what was negotiated ---------------------

def contexts(stack: str, d: Path, p256: bool = False):
    """(server context, client context) of one stack, ECDSA P-256 certificate."""
    if stack == "plain":  # no TLS: the ceiling of the HTTP figures
        return None, None
    if stack == "s2n":
        import s2n.ssl
        sctx = s2n.ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cctx = s2n.ssl.create_default_context(cafile=str(d / "ca.pem"))
        if p256:  # s2n-tls's TLS 1.3 policy with P-256 first and no ML-KEM
            for c in (sctx, cctx):
                c.set_security_policy("default_tls13")
    else:
        sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cctx = ssl.create_default_context(cafile=str(d / "ca.pem"))
        if p256:
            for c in (sctx, cctx):
                c.set_ecdh_curve("prime256v1")
    sctx.load_cert_chain(d / "server.pem", d / "server.key")
    return sctx, cctx


def _openssl_group(sslobj) -> str:
    """The key exchange group of a stdlib connection (ssl has no getter in 3.11):
    CPython's _ssl._SSLSocket keeps its SSL* after the header and a weakref."""
    import ctypes
    libssl, libcrypto = ctypes.CDLL("libssl.so.3"), ctypes.CDLL("libcrypto.so.3")
    libssl.SSL_ctrl.restype = ctypes.c_long
    libssl.SSL_ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
    libcrypto.OBJ_nid2sn.restype = ctypes.c_char_p
    ptr = ctypes.c_void_p.from_address(id(sslobj) + 3 * ctypes.sizeof(ctypes.c_void_p)).value
    nid = libssl.SSL_ctrl(ptr, 134, 0, None)  # SSL_CTRL_GET_NEGOTIATED_GROUP
    return (libcrypto.OBJ_nid2sn(nid) or b"?").decode()


def describe(obj) -> dict:
    """Protocol, suite, group and implementing class of an SSLSocket/SSLObject."""
    info = {"impl": f"{type(obj).__module__}.{type(obj).__qualname__}",
            "version": obj.version(), "cipher": obj.cipher()[0]}
    conn = getattr(getattr(obj, "_tls", None), "connection", None) or getattr(obj, "_conn", None)
    if conn is not None:  # s2n.ssl
        group = conn.get_kem_group_name()
        info["group"] = conn.get_curve() if group == "NONE" else group
    else:
        try:
            info["group"] = _openssl_group(obj._sslobj)
        except (OSError, AttributeError, ValueError) as e:
            info["group"] = f"? ({e})"
    return info


_emit_lock = threading.Lock()


def emit(tag: str, obj) -> None:
    """One line to the runner: TAG {json}."""
    with _emit_lock:
        print(f"{tag} {json.dumps(obj)}", flush=True)


def listen() -> socket.socket:
    lsock = socket.create_server(("127.0.0.1", 0), backlog=256)
    emit("PORT", lsock.getsockname()[1])
    return lsock


def serve_until_sigterm(stats: dict) -> None:
    """On SIGTERM: report the counters and exit at once."""
    def done(*_):
        emit("RESULT", stats)
        os._exit(0)
    signal.signal(signal.SIGTERM, done)


# --- (a) wrap_socket ---------------------------------------------------------------

def bulk_server(p, sctx, _):
    lsock = listen()
    sock, _ = lsock.accept()
    tls = sctx.wrap_socket(sock, server_side=True)
    emit("INFO", describe(tls))
    buf = bytearray(max(p["chunk"], 65536))
    got = 0
    while got < p["total"]:
        n = tls.recv_into(buf)
        if not n:
            break
        got += n
    tls.sendall(b"k")
    emit("RESULT", {"got": got})
    tls.close()


def bulk_client(p, _, cctx):
    sock = socket.create_connection(("127.0.0.1", p["port"]))
    tls = cctx.wrap_socket(sock, server_hostname="localhost")
    emit("INFO", describe(tls))
    data, chunk, total = os.urandom(p["chunk"]), p["chunk"], p["total"]
    start = time.perf_counter()
    for _ in range(total // chunk):
        tls.sendall(data)
    if tls.recv(1) != b"k":
        raise RuntimeError("no ack from the receiver")
    elapsed = time.perf_counter() - start
    tls.close()
    emit("RESULT", {"value": total / elapsed / 1e6})


def hs_server(p, sctx, _):
    lsock = listen()
    stats = {"accepted": 0, "errors": 0, "last_error": None}
    serve_until_sigterm(stats)
    while True:
        sock, _ = lsock.accept()
        try:
            tls = sctx.wrap_socket(sock, server_side=True)
            if not stats["accepted"]:
                emit("INFO", describe(tls))
            stats["accepted"] += 1
            tls.close()
        except (OSError, ssl.SSLError) as e:  # e.g. the client closed first
            stats["errors"] += 1
            stats["last_error"] = repr(e)[:200]
            sock.close()


def hs_client(p, _, cctx):
    addr = ("127.0.0.1", p["port"])

    def once():
        return cctx.wrap_socket(socket.create_connection(addr), server_hostname="localhost")

    tls = once()
    emit("INFO", describe(tls))
    tls.close()
    for _ in range(20):
        once().close()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < p["seconds"]:
        once().close()
        n += 1
    emit("RESULT", {"value": n / (time.perf_counter() - start)})


# --- (b) asyncio streams with ssl= --------------------------------------------------

async def _aio_server(sctx):
    stats = {"connections": 0, "errors": 0, "last_error": None}
    serve_until_sigterm(stats)

    async def handle(reader, writer):
        try:
            if not stats["connections"]:
                emit("INFO", describe(writer.get_extra_info("ssl_object")))
            stats["connections"] += 1
            total = int.from_bytes(await reader.readexactly(8), "big")
            got, cpu = 0, time.process_time()
            while got < total:
                data = await reader.read(1 << 18)
                if not data:
                    break
                got += len(data)
            writer.write(b"k")
            await writer.drain()
            emit("BULK", {"got": got, "cpu_s": time.process_time() - cpu})
            await reader.read()
        except asyncio.IncompleteReadError:
            pass  # a handshake-only connection closed
        except (OSError, ssl.SSLError) as e:
            stats["errors"] += 1
            stats["last_error"] = repr(e)[:200]
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=sctx, backlog=256)
    emit("PORT", server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


def aio_server(p, sctx, _):
    asyncio.run(_aio_server(sctx))


async def _close(writer) -> None:
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), 10)
    except (OSError, ssl.SSLError, asyncio.TimeoutError):
        pass


async def _aio_bulk(p, cctx):
    reader, writer = await asyncio.open_connection("127.0.0.1", p["port"], ssl=cctx,
                                                   server_hostname="localhost")
    emit("INFO", describe(writer.get_extra_info("ssl_object")))
    data, chunk, total = os.urandom(p["chunk"]), p["chunk"], p["total"]
    writer.write(total.to_bytes(8, "big"))
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(total // chunk):
        writer.write(data)
        await writer.drain()
    if await reader.readexactly(1) != b"k":
        raise RuntimeError("no ack from the receiver")
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    await _close(writer)
    emit("RESULT", {"value": total / elapsed / 1e6, "cpu_s": cpu})


async def _aio_handshakes(p, cctx):
    async def once():
        reader, writer = await asyncio.open_connection("127.0.0.1", p["port"], ssl=cctx,
                                                       server_hostname="localhost")
        return writer

    writer = await once()
    emit("INFO", describe(writer.get_extra_info("ssl_object")))
    await _close(writer)
    count, deadline = [0], time.perf_counter() + p["seconds"]

    async def worker():
        while time.perf_counter() < deadline:
            await _close(await once())
            count[0] += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(p["concurrency"])))
    emit("RESULT", {"value": count[0] / (time.perf_counter() - start)})


def aio_client(p, _, cctx):
    asyncio.run(_aio_bulk(p, cctx) if p["mode"] == "bulk" else _aio_handshakes(p, cctx))


# --- (c) requests and httpx -----------------------------------------------------------

BODY = b"hello\n"
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n"
            b"Connection: close\r\n\r\n" + BODY)


def http_server(p, sctx, _):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    stats = {"requests": 0, "errors": 0, "last_error": None}
    serve_until_sigterm(stats)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.wfile.write(RESPONSE)  # one write: no Nagle stall for either stack
            stats["requests"] += 1

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def finish_request(self, request, client_address):
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            tls = sctx.wrap_socket(request, server_side=True) if sctx else request
            try:
                if not stats["requests"] and sctx:
                    emit("INFO", describe(tls))
                Handler(tls, client_address, self)
            finally:
                tls.close()

        def handle_error(self, request, client_address):
            stats["errors"] += 1
            stats["last_error"] = repr(sys.exc_info()[1])[:200]

    server = Server(("127.0.0.1", 0), Handler)
    emit("PORT", server.server_address[1])
    server.serve_forever()


def _inject_breaks_setters() -> bool:
    """True if, after inject_into_ssl(), an s2n.ssl context's minimum_version
    setter recurses: ssl.py's setters call super(SSLContext, SSLContext), which
    then names s2n.ssl's subclass (urllib3 sets minimum_version on every context)."""
    import s2n.ssl
    try:
        s2n.ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).minimum_version = ssl.TLSVersion.TLSv1_2
        return False
    except RecursionError:
        return True


def _work_around_inject_recursion() -> None:
    """Benchmark-only shim (the fix truststore uses): the five setters of ssl.py
    that recurse go straight to the C descriptors of _ssl._SSLContext."""
    import _ssl

    import s2n.ssl
    kinds = {"minimum_version": ssl.TLSVersion, "maximum_version": ssl.TLSVersion,
             "options": ssl.Options, "verify_flags": ssl.VerifyFlags, "verify_mode": ssl.VerifyMode}
    for name, kind in kinds.items():
        c_attr = _ssl._SSLContext.__dict__[name]
        setattr(s2n.ssl.SSLContext, name, property(
            lambda self, c=c_attr, k=kind: k(c.__get__(self)),
            lambda self, value, c=c_attr: c.__set__(self, value)))


def http_client(p, _, cctx):
    url = f"{'http' if p['stack'] == 'plain' else 'https'}://localhost:{p['port']}/"
    cafile = str(Path(p["dir"]) / "ca.pem")
    if p["lib"] == "requests":
        import requests
        if p["stack"] == "s2n":
            import s2n.ssl
            s2n.ssl.inject_into_ssl()  # after importing requests: it patches urllib3 too
            if _inject_breaks_setters():
                _work_around_inject_recursion()
                emit("NOTE", "s2n.ssl bug: after inject_into_ssl(), setting minimum_version "
                             "(or options, verify_mode, ...) recursed; benchmark shim applied")

        def get():
            return requests.get(url, verify=cafile)

        wrapped = []  # the probe request's socket, to report what it negotiated
        cls = ssl.SSLContext  # s2n.ssl's class once injected
        own = cls.__dict__.get("wrap_socket")
        cls.wrap_socket = lambda self, *a, _orig=cls.wrap_socket, **k: \
            wrapped.append(_orig(self, *a, **k)) or wrapped[-1]
        try:
            with requests.get(url, verify=cafile, stream=True):
                emit("INFO", describe(wrapped[0]) if wrapped else {})
        finally:
            if own is None:
                del cls.wrap_socket
            else:
                cls.wrap_socket = own
    else:
        import httpx

        def get():
            return httpx.get(url, verify=cctx or False)

        with httpx.stream("GET", url, verify=cctx or False) as r:
            sock = r.extensions["network_stream"].get_extra_info("socket")
            emit("INFO", describe(sock) if cctx else {})
    for _ in range(10):
        get()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < p["seconds"]:
        r = get()
        if r.status_code != 200 or r.content != BODY:
            raise RuntimeError(f"bad response {r.status_code} {r.content[:50]!r}")
        n += 1
    emit("RESULT", {"value": n / (time.perf_counter() - start)})


ROLES = {f.__name__: f for f in (bulk_server, bulk_client, hs_server, hs_client, aio_server,
                                 aio_client, http_server, http_client)}


def child_main(p: dict) -> None:
    if p["role"] == "profile":
        profile_main(p)
        return
    sctx, cctx = contexts(p["stack"], Path(p["dir"]), p.get("p256", False))
    ROLES[p["role"]](p, sctx, cctx)


# --- profile: per-record cost of the SSLObject path ------------------------------------

class _Native:
    """An s2n Connection under SSLObject's method names (the same driving loop)."""

    def __init__(self, conn):
        self.conn = conn
        self.do_handshake, self.write, self.read = conn.negotiate, conn.send, conn.recv


def _mem_pair(kind: str, d: Path):
    """Client and server over memory BIOs; returns (cli, srv, bios, want_read)."""
    if kind == "s2n-native":
        import s2n
        sc, cc = s2n.Config(), s2n.Config()
        sc.add_cert_chain_and_key(d / "server.pem", d / "server.key")
        cc.add_pem_to_trust_store(d / "ca.pem")
        bios = si, so, ci, co = [s2n.MemoryBIO() for _ in range(4)]
        srv, cli = s2n.Connection(s2n.Mode.SERVER, sc), s2n.Connection(s2n.Mode.CLIENT, cc)
        srv.set_memory_io(si, so)
        cli.set_memory_io(ci, co)
        cli.set_server_name("localhost")
        for c in (srv, cli):
            c.prefer_throughput()
        return _Native(cli), _Native(srv), bios, s2n.BlockedError
    sctx, cctx = contexts("s2n" if kind.startswith("s2n") else "ssl", d)
    bios = si, so, ci, co = [ssl.MemoryBIO() for _ in range(4)]
    srv = sctx.wrap_bio(si, so, server_side=True)
    cli = cctx.wrap_bio(ci, co, server_hostname="localhost")
    return cli, srv, bios, ssl.SSLWantReadError


def _handshake(cli, srv, bios, want_read) -> None:
    from s2n.cli.bench import pump  # the package's own loop: same work for both stacks

    pump(cli, srv, bios, want_read, limit=20)


def _transfer(cli, srv, bios, want_read, total: int, chunk: int = 256 * 1024) -> float:
    """What sslproto does per write: SSLObject.write, outgoing.read, (the
    transport), incoming.write, SSLObject.read(256 KiB) until SSLWantReadError."""
    si, so, ci, co = bios
    data, got = os.urandom(chunk), 0
    start = time.perf_counter()
    for _ in range(total // chunk):
        view = memoryview(data)
        while view:
            view = view[cli.write(view):]
        si.write(co.read())
        try:
            while True:
                got += len(srv.read(chunk))
        except want_read:
            pass
    elapsed = time.perf_counter() - start
    if got != total:
        raise RuntimeError(f"moved {got} of {total} bytes")
    return elapsed


def _profile_callbacks(d: Path, total: int) -> dict:
    """cProfile of the s2n.ssl SSLObject transfer: calls and time per record."""
    import cProfile
    import pstats

    pair = _mem_pair("s2n.ssl", d)
    _handshake(*pair)
    prof = cProfile.Profile()
    prof.enable()
    _transfer(*pair, total)
    prof.disable()
    records = total / RECORD
    stats = pstats.Stats(prof).stats
    all_tt = sum(v[2] for v in stats.values())
    out = {"records": records, "total_profiled_us": all_tt / records * 1e6, "functions": {}}
    for (path, line, name), (cc, nc, tt, ct, _) in stats.items():
        if name in ("py_recv_trampoline", "py_send_trampoline", "recv", "send", "read", "write",
                    "recv_into", "_drive", "_call_io", "buffer") and "s2n" in path \
                or "MemoryBIO" in name:
            key = f"{Path(path).parent.name}/{Path(path).name}:{name}" if line else name
            out["functions"][key] = {"calls_per_record": nc / records,
                                     "tottime_us": tt / records * 1e6,
                                     "cumtime_us": ct / records * 1e6}
    return out


def profile_main(p: dict) -> None:
    d, total = Path(p["dir"]), p["total"]
    kinds = ("ssl", "s2n.ssl", "s2n.ssl+recvbuf", "s2n-native")
    times = {k: [] for k in kinds}
    for k in kinds:
        cli, srv, bios, want = pair = _mem_pair(k, d)
        _handshake(*pair)
        if k == "s2n-native":  # s2n.Config()'s default policy: also AES-128-GCM first
            if cli.conn.get_cipher() != SUITE:
                raise RuntimeError(f"s2n-native negotiated {cli.conn.get_cipher()}")
        else:
            emit("INFO", {"kind": k, **describe(cli)})
    for _ in range(p["rounds"]):
        for k in kinds:
            pair = _mem_pair(k, d)
            _handshake(*pair)
            if k == "s2n.ssl+recvbuf":  # diagnostic only: not what s2n.ssl ships
                for obj in pair[:2]:
                    obj._conn.set_recv_buffering(True)
            times[k].append(_transfer(*pair, total) / (total / RECORD) * 1e6)
    emit("RESULT", {"us_per_record": {k: statistics.median(v) for k, v in times.items()},
                    "ranges": {k: [min(v), max(v)] for k, v in times.items()},
                    "cprofile": _profile_callbacks(d, total // 4)})


# --- the runner ------------------------------------------------------------------------

class Child:
    """One benchmark process: its lines (TAG {json}) arrive on a queue."""

    live: "set[Child]" = set()
    notes: "set[str]" = set()  # NOTE lines: workarounds a child applied

    def __init__(self, params: dict, conf: Path):
        env = dict(os.environ)
        for k in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSLKEYLOGFILE", "OPENSSL_CONF"):
            env.pop(k, None)
        if params["stack"] in ("ssl", "both"):
            env["OPENSSL_CONF"] = str(conf)
        self.role = params["role"]
        self.proc = subprocess.Popen([sys.executable, __file__, "--child", json.dumps(params)],
                                     stdout=subprocess.PIPE, text=True, env=env,
                                     start_new_session=True)
        self.lines: queue.Queue = queue.Queue()
        self.seen: dict = {}  # lines passed over by expect(), by tag
        threading.Thread(target=self._read, daemon=True).start()
        Child.live.add(self)

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, tag: str, timeout: float = 60):
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"{self.role}: no {tag} within {timeout} s") from None
            if line is None:
                raise RuntimeError(f"{self.role} exited ({self.proc.wait()}) before {tag}")
            t, _, rest = line.partition(" ")
            if t == tag:
                return json.loads(rest)
            if t == "NOTE":
                Child.notes.add(json.loads(rest))
            elif t not in ("INFO", "BULK", "PORT", "RESULT"):
                print(f"  [{self.role}] {line}", file=sys.stderr)
            else:
                self.seen.setdefault(t, []).append(json.loads(rest))

    def stop(self, graceful: bool = True) -> dict | None:
        """SIGTERM (a server then reports its counters), then kill the group."""
        out = None
        if self.proc.poll() is None and graceful:
            self.proc.send_signal(signal.SIGTERM)
            try:
                out = self.expect("RESULT", 5)
            except (TimeoutError, RuntimeError):
                pass
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        Child.live.discard(self)
        return out

    @classmethod
    def kill_all(cls):
        for c in list(cls.live):
            c.stop(graceful=False)


def check(info: dict, stack: str, where: str) -> str:
    """The negotiated parameters, checked: TLS 1.3, the pinned suite, the right stack."""
    impl_ok = info["impl"].startswith("s2n.ssl") if stack == "s2n" else info["impl"].startswith("ssl.")
    if info["version"] != "TLSv1.3" or info["cipher"] != SUITE or not impl_ok:
        raise RuntimeError(f"{stack} {where} negotiated {info}")
    return f"{info['version']} {info['cipher']} {info['group']}"


def one_round(stack: str, server: dict, client: dict, conf: Path, timeout: float) -> dict:
    """Start a server and a client process of one stack; the client's RESULT,
    the negotiated parameters of both ends and the server's counters."""
    base = {"stack": stack}
    srv = Child({**base, **server}, conf)
    cli = None
    try:
        port = srv.expect("PORT", 30)
        cli = Child({**base, **client, "port": port}, conf)
        c_info = cli.expect("INFO", 30)
        result = cli.expect("RESULT", timeout)
        s_info = srv.seen.get("INFO", [None])[0] or srv.expect("INFO", 10)
        if server["role"] == "bulk_server":
            srv_result = srv.expect("RESULT", 30)
        else:
            srv_result = None
        if server["role"] == "aio_server" and client.get("mode") == "bulk":
            result["server_cpu_s"] = (srv.seen.get("BULK") or [srv.expect("BULK", 10)])[-1]["cpu_s"]
        counters = srv.stop()
        return {"result": result, "server": srv_result or counters,
                "negotiated": {check(c_info, stack, "client"), check(s_info, stack, "server")}}
    finally:
        if cli is not None:
            cli.stop(graceful=False)
        srv.stop(graceful=False)


def summarize(s_vals, o_vals) -> dict:
    ratios = [a / b for a, b in zip(s_vals, o_vals)]
    return {"s2n": statistics.median(s_vals), "ssl": statistics.median(o_vals),
            "s2n_values": s_vals, "ssl_values": o_vals,
            "ratio": statistics.median(ratios), "ratio_range": [min(ratios), max(ratios)]}


class Runner:
    def __init__(self, args, d: Path, conf: Path):
        self.args, self.d, self.conf = args, d, conf
        self.results: dict = {}

    def figure(self, name: str, unit: str, server: dict, client: dict, goal: str = "",
               timeout: float = 120) -> None:
        """Interleaved rounds (s2n, ssl, s2n, ssl, ...) of one figure; one table line."""
        vals = {s: [] for s in STACKS}
        negotiated = {s: set() for s in STACKS}
        notes = {s: [] for s in STACKS}
        try:
            for _ in range(self.args.rounds):
                for stack in STACKS:
                    params = {"dir": str(self.d)}
                    r = one_round(stack, {**params, **server}, {**params, **client},
                                  self.conf, timeout)
                    vals[stack].append(r["result"]["value"])
                    negotiated[stack] |= r["negotiated"]
                    notes[stack].append({k: v for k, v in r["result"].items() if k != "value"}
                                        | {"server": r["server"]})
        except Exception as e:  # noqa: BLE001 - report it and go on with the next figure
            Child.kill_all()
            print(f"{name:<52} FAILED: {e!r}", flush=True)
            self.results[name] = {"error": repr(e)}
            return
        r = summarize(vals["s2n"], vals["ssl"])
        r.update(unit=unit, goal=goal, negotiated={s: sorted(v) for s, v in negotiated.items()},
                 details=notes)
        self.results[name] = r
        print(f"{name:<52}{r['s2n']:>9.0f}{r['ssl']:>9.0f}{r['ratio']:>7.2f}x "
              f"({r['ratio_range'][0]:.2f}-{r['ratio_range'][1]:.2f})  {unit:<5} {goal}", flush=True)
        self.print_details(notes, client.get("total"))

    @staticmethod
    def print_details(notes: dict, total) -> None:
        """Server-side errors, and CPU per record where the processes measured it."""
        for stack, rounds in notes.items():
            errors = sum((n["server"] or {}).get("errors", 0) for n in rounds)
            if errors:
                last = [n["server"]["last_error"] for n in rounds if n["server"].get("last_error")]
                print(f"    {stack} server: {errors} failed connections over {len(rounds)} rounds, "
                      f"e.g. {last[-1]}")
        if total and all("cpu_s" in n for rounds in notes.values() for n in rounds):
            records = total / RECORD
            cpu = {s: [statistics.median(n[k] for n in rounds) / records * 1e6
                       for k in ("cpu_s", "server_cpu_s")] for s, rounds in notes.items()}
            print("    CPU µs per 16 KiB record (medians): " + "; ".join(
                f"{s} sender {c[0]:.1f}, receiver {c[1]:.1f}" for s, c in cpu.items()))

    def section_a(self):
        for chunk in (16384, 262144):
            self.figure(f"(a) wrap_socket bulk, {chunk // 1024} KiB writes", "MB/s",
                        {"role": "bulk_server", "chunk": chunk, "total": self.total},
                        {"role": "bulk_client", "chunk": chunk, "total": self.total},
                        ">= 1.3x")
        for p256, label in ((False, "default groups"), (True, "P-256 both")):
            self.figure(f"(a) wrap_socket full handshakes/s, {label}", "hs/s",
                        {"role": "hs_server", "p256": p256},
                        {"role": "hs_client", "p256": p256, "seconds": self.secs},
                        ">= 1.8x" if not p256 else "")

    def section_b(self):
        total = self.total // 4
        self.figure(f"(b) asyncio ssl= bulk, {total >> 20} MiB in 256 KiB writes", "MB/s",
                    {"role": "aio_server"},
                    {"role": "aio_client", "mode": "bulk", "chunk": 262144, "total": total},
                    ">= 1.0x")
        self.figure("(b) asyncio ssl= full handshakes/s, 8 at a time", "hs/s",
                    {"role": "aio_server"},
                    {"role": "aio_client", "mode": "handshakes", "seconds": self.secs,
                     "concurrency": 8}, ">= 1.0x")

    def section_c(self):
        for lib in ("requests", "httpx"):
            name = f"(c) {lib} GET, new connection per request"
            client = {"role": "http_client", "lib": lib, "seconds": self.secs}
            self.figure(name, "req/s", {"role": "http_server"}, client, ">= 1.5x")
            self.http_ceiling(name, client)

    def http_ceiling(self, name: str, client: dict) -> None:
        """The same loop over plain HTTP: no TLS stack can make the library faster than this."""
        r = self.results.get(name, {})
        if "ssl" not in r:
            return
        vals = []
        for _ in range(max(1, self.args.rounds // 2)):
            params = {"dir": str(self.d), "stack": "plain"}
            srv = Child({**params, "role": "http_server"}, self.conf)
            cli = None
            try:
                cli = Child({**params, **client, "port": srv.expect("PORT", 30)}, self.conf)
                vals.append(cli.expect("RESULT", 120)["value"])
            finally:
                for c in (cli, srv):
                    if c is not None:
                        c.stop(graceful=False)
        plain = statistics.median(vals)
        r["plain_http"] = {"median": plain, "values": vals}
        print(f"    same loop over plain HTTP (no TLS): {plain:.0f} req/s, so at most "
              f"{plain / r['ssl']:.2f}x over ssl; TLS costs s2n {1e3 / r['s2n'] - 1e3 / plain:.2f} ms, "
              f"ssl {1e3 / r['ssl'] - 1e3 / plain:.2f} ms per request", flush=True)

    def section_profile(self):
        c = Child({"role": "profile", "stack": "both", "dir": str(self.d),
                   "total": self.total // 4, "rounds": self.args.rounds}, self.conf)
        try:
            r = c.expect("RESULT", 600)
        finally:
            c.stop(graceful=False)
        for info in c.seen.get("INFO", []):
            check(info, "s2n" if info["kind"].startswith("s2n") else "ssl", info["kind"])
        self.results["profile"] = r
        print_profile(r)

    def run(self):
        self.total = (64 if self.args.quick else self.args.mib) << 20
        self.secs = 0.5 if self.args.quick else self.args.seconds
        print(f"{'figure':<52}{'s2n':>9}{'ssl':>9}{'ratio':>8} (per-round range)  unit  goal")
        for part in self.args.only.split(","):
            getattr(self, f"section_{part}")()


def print_profile(r: dict) -> None:
    us = r["us_per_record"]
    print("\nprofile: one process, both ends of an SSLObject pair over memory BIOs, "
          "as sslproto drives them; µs per 16 KiB record (client encrypt + server decrypt)")
    labels = {"ssl": "ssl.SSLObject (OpenSSL)",
              "s2n.ssl": "s2n.ssl SSLObject (Python IO callbacks, as shipped)",
              "s2n.ssl+recvbuf": "  same + recv buffering (diagnostic, not shipped)",
              "s2n-native": "s2n Connection over s2n.MemoryBIO (C-side IO)"}
    for k, v in us.items():
        lo, hi = r["ranges"][k]
        print(f"  {labels[k]:<56}{v:7.2f} µs  ({lo:.2f}-{hi:.2f})  {us['ssl'] / v:5.2f}x ssl's speed")
    gap = us["s2n.ssl"] - us["s2n-native"]
    print(f"  => the Python IO path costs {gap:.2f} µs per record "
          f"({gap / us['s2n.ssl']:.0%} of s2n.ssl's time); a C-side path would be "
          f"{us['ssl'] / us['s2n-native']:.2f}x ssl here, against {us['ssl'] / us['s2n.ssl']:.2f}x today")
    cp = r["cprofile"]
    print(f"  cProfile of s2n.ssl ({cp['records']:.0f} records; profiled time is inflated, "
          f"total {cp['total_profiled_us']:.1f} µs/record): calls per record, cumulative µs/record")
    for name, f in sorted(cp["functions"].items(), key=lambda kv: -kv[1]["cumtime_us"]):
        print(f"    {name:<60}{f['calls_per_record']:6.2f} calls {f['cumtime_us']:7.2f} µs")
    tramp = [f for n, f in cp["functions"].items() if n.endswith("_trampoline")]
    calls, cum = sum(f["calls_per_record"] for f in tramp), sum(f["cumtime_us"] for f in tramp)
    print(f"  => {calls:.2f} Python IO callbacks per record, {cum:.1f} of "
          f"{cp['total_profiled_us']:.1f} profiled µs ({cum / cp['total_profiled_us']:.0%})")


def machine() -> dict:
    import s2n
    return {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "nproc": os.cpu_count(),
            "python": platform.python_version(), "openssl": ssl.OPENSSL_VERSION,
            "s2n": s2n.version_info(), "platform": platform.platform(),
            "loadavg": os.getloadavg()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="64 MiB bulk, 0.5 s handshake loops")
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--only", default="a,b,c,profile", help="sections: a,b,c,profile")
    ap.add_argument("--mib", type=int, default=256, help="bulk MiB per round in (a); (b) a quarter")
    ap.add_argument("--seconds", type=float, default=2.0, help="handshake and request loops")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child_main(json.loads(args.child))
        return
    d = make_pki(Path(tempfile.mkdtemp(prefix="s2n-sslbench-")))
    conf = d / "openssl.cnf"
    conf.write_text(OPENSSL_CONF)
    m = machine()
    print(f"{m['date']}; {m['nproc']} CPUs; Python {m['python']}; {m['openssl']}; "
          f"s2n-tls {m['s2n']['s2n_tls']} with {m['s2n']['libcrypto']}; {args.rounds} rounds, "
          f"load {m['loadavg'][0]:.2f}")
    runner = Runner(args, d, conf)
    try:
        runner.run()
    finally:
        Child.kill_all()
    for note in sorted(Child.notes):
        print(f"\nNOTE: {note}")
    print("\nnegotiated (every process checked):")
    for name, r in runner.results.items():
        if "negotiated" in r:
            print(f"  {name}: s2n {r['negotiated']['s2n']}; ssl {r['negotiated']['ssl']}")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": m, "args": vars(args), "notes": sorted(Child.notes),
                                               "results": runner.results}, indent=2, default=list))


if __name__ == "__main__":
    main()
