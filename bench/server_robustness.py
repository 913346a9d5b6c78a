"""Server resources under abuse: RSS and open fds of `python -m s2n server`
before and after N connect-and-close, hostile and half-open clients.

    python bench/server_robustness.py [--n 10000]
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import pki  # noqa: E402


def status(pid: int):
    rss = next(int(line.split()[1]) for line in open(f"/proc/{pid}/status") if line.startswith("VmRSS:"))
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    args = ap.parse_args()
    d = pki()
    log = Path(tempfile.mkstemp(suffix=".log")[1])
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "s2n", "server", "-q", "--echo",
                                 "--max-blinding-delay", "0", "--cert", str(d / "server.pem"),
                                 "--key", str(d / "server.key"), "127.0.0.1", "0"], stderr=out)
    try:
        for _ in range(200):
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", log.read_text())
            if m:
                break
            time.sleep(0.05)
        addr = ("127.0.0.1", int(m.group(1)))

        def client_ok() -> bool:
            r = subprocess.run([sys.executable, "-m", "s2n", "client", "-q", "--ca-file",
                                str(d / "ca.pem"), "localhost", str(addr[1])],
                               input=b"ping", capture_output=True, timeout=30)
            return r.returncode == 0 and r.stdout == b"ping"

        assert client_ok()
        print(f"after one good client:        RSS {status(proc.pid)[0]:>7} KiB, fds {status(proc.pid)[1]}")
        t = time.perf_counter()
        for _ in range(args.n):
            socket.create_connection(addr).close()
        print(f"{args.n} connect-and-close in {time.perf_counter() - t:.1f} s")
        for _ in range(10):
            with socket.create_connection(addr) as s:
                s.sendall(os.urandom(4096))
                s.shutdown(socket.SHUT_WR)
                s.settimeout(10)
                try:
                    while s.recv(4096):
                        pass
                except OSError:
                    pass
        held = [socket.create_connection(addr) for _ in range(100)]
        ok = client_ok()
        print(f"with 100 half-open held:      RSS {status(proc.pid)[0]:>7} KiB, fds {status(proc.pid)[1]}, "
              f"normal client ok: {ok}")
        for s in held:
            s.close()
        time.sleep(1)  # let the server's threads see the closes (a measurement, not a test)
        assert client_ok()
        rss, fds = status(proc.pid)
        print(f"after all, one more client:   RSS {rss:>7} KiB, fds {fds}")
    finally:
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    main()
