"""`python -m s2n demo`: a complete loopback handshake and transfer, no files needed."""

from __future__ import annotations

import argparse
import hashlib
import os
import socket
import threading
import time

import s2n
from s2n._pki import demo_pki

from ._common import describe

CHUNK = 256 * 1024


def run(args: argparse.Namespace) -> int:
    info = s2n.version_info()
    print(f"s2n-tls {info['s2n_tls']} with {info['libcrypto']} (package {info['s2n']})")
    ca, cert, key = demo_pki()
    print("made a throwaway ECDSA P-256 CA and a certificate for localhost, in memory")
    scfg = s2n.Config()
    scfg.add_cert_chain_and_key(cert, key)
    ccfg = s2n.Config()
    ccfg.add_pem_to_trust_store(ca)
    total = args.mib * 1024 * 1024
    result = {}

    with socket.create_server(("127.0.0.1", 0)) as lsock:
        def server() -> None:
            sock, _ = lsock.accept()
            with s2n.wrap_socket(sock, scfg, server_side=True) as tls:
                h = hashlib.sha256()
                buf = bytearray(CHUNK)
                got = 0
                while True:
                    n = tls.recv_into(buf)
                    if not n:
                        break
                    h.update(memoryview(buf)[:n])
                    got += n
                tls.sendall(b"%d %s" % (got, h.hexdigest().encode()))
                result["server"] = describe(tls.connection)

        t = threading.Thread(target=server, daemon=True)
        t.start()
        sock = socket.create_connection(lsock.getsockname(), timeout=30)
        start = time.perf_counter()
        with s2n.wrap_socket(sock, ccfg, server_hostname="localhost") as tls:
            handshake_ms = (time.perf_counter() - start) * 1000
            print(f"handshake in {handshake_ms:.1f} ms: {describe(tls.connection)}")
            data = os.urandom(CHUNK)
            want = hashlib.sha256()
            start = time.perf_counter()
            sent = 0
            while sent < total:
                tls.sendall(data)
                want.update(data)
                sent += CHUNK
            tls.shutdown_send()
            reply = b""
            while True:
                chunk = tls.recv(1024)
                if not chunk:
                    break
                reply += chunk
            elapsed = time.perf_counter() - start
        t.join(30)
    got, digest = reply.split()
    ok = int(got) == total and digest.decode() == want.hexdigest()
    print(f"sent {args.mib} MiB in {elapsed:.2f} s: {total / elapsed / 1e6:.0f} MB/s; "
          f"the server's sha256 {'matches' if ok else 'DOES NOT match'}")
    return 0 if ok else 1
