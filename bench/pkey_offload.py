"""Private-key offload: handshakes/s of a TLSSocket server whose key is
(a) in the process (add_cert_chain_and_key), (b) offloaded but performed
in-thread inside the callback (op.perform), (c) in a signer process asked
over a pipe (examples/kms_signer.py, the shape of a KMS/HSM client).

    python bench/pkey_offload.py [--seconds 2] [--rounds 5] [--keys ec,rsa]

Server and client are separate processes on loopback TCP; the server runs
one handshake at a time (accept, handshake, close), the client connects
back to back. Rounds interleave the modes, so drift on a busy machine hits
all of them alike; the median of the rounds is printed.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "examples"))
import s2n  # noqa: E402

MODES = ("in-process", "perform-in-callback", "signer-process")


def _make_pki(d: Path) -> None:
    from _common import make_pki

    make_pki(d)  # CA + ECDSA P-256 server.pem/server.key

    def run(*a):
        subprocess.run(["openssl", *a], cwd=d, check=True, capture_output=True)

    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "rsa.key", "-out", "rsa.csr",
        "-subj", "/CN=localhost")
    run("x509", "-req", "-in", "rsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "rsa.pem", "-days", "2", "-extfile", "ext")


def _server_config(mode: str, cert: Path, key: Path):
    config = s2n.Config()
    signer = None
    if mode == "in-process":
        config.add_cert_chain_and_key(cert, key)
    else:
        config.add_cert_chain_and_key_to_store(s2n.CertChainAndKey(cert))
        if mode == "perform-in-callback":
            full = s2n.CertChainAndKey(cert, key)

            def cb(conn, op):
                op.perform(full)
                op.apply(conn)
            config.set_async_pkey_callback(cb)
        else:
            import kms_signer

            signer = kms_signer.SignerProcess(key)
            config.set_async_pkey_callback(signer.callback)
        config.set_async_pkey_validation_mode(s2n.AsyncPkeyValidationMode.STRICT)
    return config, signer


def serve(mode: str, cert: Path, key: Path) -> None:
    config, signer = _server_config(mode, cert, key)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        print(listener.getsockname()[1], flush=True)
        listener.settimeout(120)  # the parent closes our stdin when done; no accept forever
        while True:
            try:
                sock, _ = listener.accept()
            except (TimeoutError, socket.timeout):
                break
            sock.settimeout(10)
            try:
                tls = s2n.wrap_socket(sock, config, server_side=True)
                tls.close()
            except (s2n.S2NError, OSError) as e:
                print(f"handshake failed: {e}", file=sys.stderr, flush=True)
                sock.close()
    if signer is not None:
        signer.close()


def client(port: int, ca: Path, seconds: float) -> None:
    config = s2n.Config()
    config.add_pem_to_trust_store(ca)
    n = 0
    end = time.perf_counter() + seconds
    start = time.perf_counter()
    while time.perf_counter() < end:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        tls = s2n.wrap_socket(sock, config, server_hostname="localhost")
        tls.close()
        n += 1
    print(json.dumps({"handshakes": n, "seconds": time.perf_counter() - start}), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--keys", default="ec,rsa", help="comma-separated: ec (P-256), rsa (2048)")
    p.add_argument("--json", help="write the results here too")
    p.add_argument("--serve", nargs=3, metavar=("MODE", "CERT", "KEY"), help=argparse.SUPPRESS)
    p.add_argument("--client", nargs=2, metavar=("PORT", "CA"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        serve(args.serve[0], Path(args.serve[1]), Path(args.serve[2]))
        return
    if args.client:
        client(int(args.client[0]), Path(args.client[1]), args.seconds)
        return

    import tempfile

    d = Path(tempfile.mkdtemp(prefix="s2n-pkey-bench-"))
    _make_pki(d)
    files = {"ec": ("server.pem", "server.key"), "rsa": ("rsa.pem", "rsa.key")}
    keys = [k for k in args.keys.split(",") if k]
    servers = {}
    try:
        for k in keys:
            for mode in MODES:
                cert, key = files[k]
                proc = subprocess.Popen([sys.executable, __file__, "--serve", mode, str(d / cert), str(d / key)],
                                        stdout=subprocess.PIPE, text=True)
                servers[k, mode] = (proc, int(proc.stdout.readline()))
        rates: dict = {kv: [] for kv in servers}
        for r in range(args.rounds):
            for kv, (_, port) in servers.items():
                out = subprocess.run([sys.executable, __file__, "--seconds", str(args.seconds),
                                      "--client", str(port), str(d / "ca.pem")],
                                     capture_output=True, text=True, timeout=args.seconds + 60)
                if out.returncode != 0:
                    raise SystemExit(f"client failed ({kv}): {out.stderr[-2000:]}")
                res = json.loads(out.stdout)
                rates[kv].append(res["handshakes"] / res["seconds"])
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(10)
            proc.stdout.close()
    results = {}
    print(f"{'key':<5} {'mode':<22} {'handshakes/s (median)':>22} {'vs in-process':>14}   rounds")
    for k in keys:
        base = statistics.median(rates[k, "in-process"])
        for mode in MODES:
            vals = rates[k, mode]
            med = statistics.median(vals)
            results[f"{k} {mode}"] = {"median": med, "values": vals}
            print(f"{k:<5} {mode:<22} {med:>22.0f} {med / base:>13.0%}   "
                  + " ".join(f"{v:.0f}" for v in vals))
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results}, indent=1))


if __name__ == "__main__":
    main()
