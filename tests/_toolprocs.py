"""Shared by the s2nc/s2nd tests: the tools and openssl peers as
subprocesses whose output a test can wait for (bounded)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from typing import List, Optional

import pytest

TOOL = [sys.executable, "-m", "s2n"]
TIMEOUT = 20.0
PSK_HEX = "0123456789abcdef0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """A subprocess whose stdout and stderr are collected as they arrive,
    so a test can wait (bounded) for a marker and write to its stdin."""

    def __init__(self, argv: List[str], cwd: Optional[str] = None) -> None:
        self.argv = argv
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, cwd=cwd)
        self.out = bytearray()
        self.err = bytearray()
        self._cv = threading.Condition()
        self._threads = [threading.Thread(target=self._pump, args=(f, buf), daemon=True)
                         for f, buf in ((self.p.stdout, self.out), (self.p.stderr, self.err))]
        for t in self._threads:
            t.start()

    def _pump(self, f, buf: bytearray) -> None:
        for chunk in iter(lambda: f.read1(65536), b""):
            with self._cv:
                buf += chunk
                self._cv.notify_all()
        with self._cv:
            self._cv.notify_all()

    def wait_for(self, marker: bytes, count: int = 1, timeout: float = TIMEOUT) -> None:
        end = time.monotonic() + timeout
        with self._cv:
            while (self.out + self.err).count(marker) < count:
                left = end - time.monotonic()
                if left <= 0 or (self.p.poll() is not None and not self._alive()):
                    raise AssertionError(f"{marker!r} not seen from {self.argv}:\n{self.text()}")
                self._cv.wait(min(left, 0.2))

    def _alive(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def send(self, data: bytes) -> None:
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def close_stdin(self) -> None:
        try:
            self.p.stdin.close()
        except OSError:
            pass

    def finish(self, timeout: float = TIMEOUT) -> int:
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.argv} did not exit:\n{self.text()}")
        for t in self._threads:
            t.join(timeout)
        return rc

    def kill(self) -> None:
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait(TIMEOUT)
        for t in self._threads:
            t.join(TIMEOUT)

    def text(self) -> str:
        return (f"--- stdout\n{self.out.decode(errors='replace')}"
                f"--- stderr\n{self.err.decode(errors='replace')}")

    @property
    def stdout(self) -> str:
        return self.out.decode(errors="replace")


@pytest.fixture
def procs():
    started: List[Proc] = []

    def start(argv: List[str], **kw) -> Proc:
        p = Proc(argv, **kw)
        started.append(p)
        return p

    yield start
    for p in started:
        p.close_stdin()
        p.kill()


def s2nd(start, pki, port: int, *extra: str, cert: str = "server") -> Proc:
    p = start(TOOL + ["s2nd", "-X", "--self-service-blinding", "--non-blocking",
                      "--cert", str(pki.path(f"{cert}.pem")), "--key", str(pki.path(f"{cert}.key")),
                      *extra, "127.0.0.1", str(port)])
    p.wait_for(b"Listening on")
    return p


def s2nc(start, pki, port: int, *extra: str, host: str = "localhost") -> Proc:
    return start(TOOL + ["s2nc", "--non-blocking", "-f", str(pki.path("ca.pem")), *extra, host, str(port)])


def s_server(start, pki, port: int, *extra: str, cert: str = "server") -> Proc:
    p = start(["openssl", "s_server", "-accept", str(port), "-cert", str(pki.path(f"{cert}.pem")),
               "-key", str(pki.path(f"{cert}.key")), *extra])
    p.wait_for(b"ACCEPT")
    return p


def s_client(start, pki, port: int, *extra: str) -> Proc:
    return start(["openssl", "s_client", "-connect", f"127.0.0.1:{port}",
                  "-CAfile", str(pki.path("ca.pem")), *extra])
