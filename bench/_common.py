"""Shared bits of the benchmark scripts (not tests: they time things)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import socket
import ssl
import subprocess
import tempfile
import threading
from pathlib import Path

import s2n


def make_pki(d: Path) -> Path:
    """A throwaway CA and an ECDSA P-256 certificate for localhost (openssl CLI)."""
    def run(*a):
        subprocess.run(["openssl", *a], cwd=d, check=True, capture_output=True)

    ec = ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    run("req", "-x509", "-newkey", *ec, "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=bench CA")
    run("req", "-newkey", *ec, "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=localhost")
    (d / "ext").write_text("subjectAltName=DNS:localhost\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext")
    return d


def _libssl():
    for name in ("libssl.so.3", ctypes.util.find_library("ssl")):
        if name:
            try:
                return ctypes.CDLL(name)
            except OSError:
                pass
    return None


def ssl_set_suites(ctx: ssl.SSLContext, suite: str) -> None:
    """Pin the TLS 1.3 suite (Python's ssl cannot) through libssl with ctypes.
    CPython keeps the SSL_CTX pointer right after the object header."""
    lib = _libssl()
    if lib is None:
        raise RuntimeError("libssl not found: cannot pin the TLS 1.3 suite")
    ptr = ctypes.c_void_p.from_address(id(ctx) + 2 * ctypes.sizeof(ctypes.c_void_p)).value
    if lib.SSL_CTX_set_ciphersuites(ctypes.c_void_p(ptr), suite.encode()) != 1:
        raise RuntimeError(f"SSL_CTX_set_ciphersuites({suite}) failed")


def pki() -> Path:
    return make_pki(Path(tempfile.mkdtemp(prefix="s2n-bench-")))


def s2n_configs(d: Path):
    sc = s2n.Config()
    sc.add_cert_chain_and_key(d / "server.pem", d / "server.key")
    cc = s2n.Config()
    cc.add_pem_to_trust_store(d / "ca.pem")
    return sc, cc


def ssl_contexts(d: Path):
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(d / "server.pem", d / "server.key")
    cctx = ssl.create_default_context(cafile=str(d / "ca.pem"))
    return sctx, cctx


def s2n_pair(d: Path, configs=None):
    sc, cc = configs or s2n_configs(d)
    a, b = socket.socketpair()
    srv = s2n.Connection(s2n.Mode.SERVER, sc)
    srv.set_fd(a)
    cli = s2n.Connection(s2n.Mode.CLIENT, cc)
    cli.set_fd(b)
    cli.set_server_name("localhost")
    t = threading.Thread(target=srv.negotiate)
    t.start()
    cli.negotiate()
    t.join()
    return cli, srv, (a, b)


def ssl_pair(d: Path, contexts=None):
    sctx, cctx = contexts or ssl_contexts(d)
    a, b = socket.socketpair()
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("s", sctx.wrap_socket(a, server_side=True)))
    t.start()
    cli = cctx.wrap_socket(b, server_hostname="localhost")
    t.join()
    return cli, box["s"], (a, b)


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))
