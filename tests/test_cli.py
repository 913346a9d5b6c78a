"""`python -m s2n`: demo, client and server, against real TLS peers."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest

from conftest import free_port

PY = [sys.executable, "-m", "s2n"]
MIB = os.urandom(1 << 20)


@pytest.fixture(autouse=True)
def _neutral_cwd(tmp_path, monkeypatch):
    """`python -m` puts the working directory first on sys.path: from the
    repository root that would be the source folder, not the installed
    package (which alone has the compiled module)."""
    monkeypatch.chdir(tmp_path)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Server:
    """`python -m s2n server` in the background; stderr goes to a file."""

    def __init__(self, pki, *extra: str, cert: str = "server", tmp_path=None) -> None:
        self.log = tmp_path / f"server-{time.monotonic_ns()}.log"
        self._log = open(self.log, "wb")
        self.proc = subprocess.Popen(
            [*PY, "server", "--cert", str(pki.path(f"{cert}.pem")), "--key", str(pki.path(f"{cert}.key")),
             "--max-blinding-delay", "0", *extra, "127.0.0.1", "0"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._log)
        for _ in range(200):
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", self.log.read_text())
            if m:
                self.port = int(m.group(1))
                return
            if self.proc.poll() is not None:
                raise AssertionError(self.log.read_text())
            time.sleep(0.05)  # polling a log file for readiness, bounded
        raise AssertionError("server did not print 'listening'")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(10)
        self._log.close()

    def rss_kib(self) -> int:
        for line in open(f"/proc/{self.proc.pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return -1

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))


@pytest.fixture
def server(pki, tmp_path):
    started = []

    def start(*extra, cert="server"):
        s = Server(pki, *extra, cert=cert, tmp_path=tmp_path)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


def client(pki, port, *extra, data=MIB, host="localhost", ca="ca.pem", timeout=60):
    return subprocess.run([*PY, "client", "--ca-file", str(pki.path(ca)), *extra, host, str(port)],
                          input=data, capture_output=True, timeout=timeout)


def test_demo_runs_with_no_files():
    out = subprocess.run([*PY, "demo", "--mib", "8"], capture_output=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert b"matches" in out.stdout and b"TLSv1.3" in out.stdout and b"AWS-LC" in out.stdout


def test_client_and_server_echo_binary(pki, server):
    srv = server("--echo")
    out = client(pki, srv.port)
    assert out.returncode == 0, out.stderr
    assert sha(out.stdout) == sha(MIB)
    assert b"protocol=TLSv1.3" in out.stderr and b"cipher=TLS_" in out.stderr
    quiet = client(pki, srv.port, "-q", data=b"quiet")
    assert quiet.stdout == b"quiet" and quiet.stderr == b""


@pytest.mark.parametrize("ca, host, why", [
    ("otherca.pem", "localhost", b"untrusted issuer"),
    ("ca.pem", "wrong.example", b"wrong host name"),
])
def test_client_refuses_bad_certificates(pki, server, ca, host, why):
    srv = server("--echo")
    out = client(pki, srv.port, "--server-name", host, data=b"must not flow", host="127.0.0.1", ca=ca)
    assert out.returncode != 0
    assert why in out.stderr and out.stdout == b""
    assert len(out.stderr.strip().splitlines()) == 1  # one line saying why


def test_client_connection_refused(pki):
    out = client(pki, free_port(), data=b"")
    assert out.returncode != 0 and b"connection refused" in out.stderr


def test_client_without_certificate_gets_no_data(pki, server):
    """The server's handshake fails; s2n-tls answers with its generic
    close_notify (no specific alert: a side channel), which the server now
    flushes. Whatever the client saw, nothing was echoed, and a failure is
    reported in one line."""
    srv = server("--echo", "--mutualAuth", "--ca-file", str(pki.path("ca.pem")))
    out = client(pki, srv.port, data=b"x")  # no client certificate
    assert out.stdout == b""
    if out.returncode != 0:
        assert len(out.stderr.strip().splitlines()) <= 2, out.stderr


def test_mutual_auth(pki, server):
    srv = server("--echo", "--mutualAuth", "--ca-file", str(pki.path("ca.pem")))
    out = client(pki, srv.port, "--cert", str(pki.path("client.pem")),
                 "--key", str(pki.path("client.key")))
    assert out.returncode == 0, out.stderr
    assert sha(out.stdout) == sha(MIB)


def _drive(cmd, data: bytes, want: int, timeout=60):
    """Run a TLS tool, feed `data`, read `want` bytes of its stdout, stop it."""
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    threading.Thread(target=lambda: (proc.stdin.write(data), proc.stdin.flush()),
                     daemon=True).start()
    got = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while len(got) < want and time.monotonic() < deadline:
            chunk = proc.stdout.read1(65536)
            if not chunk:
                break
            got += chunk
    finally:
        proc.kill()
        proc.wait(10)
        err = proc.stderr.read()
        for f in (proc.stdin, proc.stdout, proc.stderr):
            try:
                f.close()
            except OSError:
                pass
    return bytes(got), err


@pytest.mark.parametrize("flags", [["-tls1_2"], ["-tls1_3", "-groups", "X25519"],
                                   ["-tls1_3", "-groups", "P-256"],
                                   ["-tls1_3", "-ciphersuites", "TLS_AES_256_GCM_SHA384"],
                                   ["-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"],
                                   ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384"]],
                         ids=["tls1.2", "tls1.3-x25519", "tls1.3-p256", "tls1.3-aes256gcm",
                              "tls1.3-chacha20", "tls1.2-aes256gcm"])
def test_openssl_s_client_to_s2n_server(pki, server, flags):
    srv = server("--echo")
    got, err = _drive(["openssl", "s_client", "-connect", f"127.0.0.1:{srv.port}", "-quiet",
                       "-servername", "localhost", "-CAfile", str(pki.path("ca.pem")),
                       "-verify_return_error", *flags], MIB, len(MIB))
    assert sha(got) == sha(MIB), err[-500:]


def test_openssl_s_client_to_s2n_server_rsa_certificate(pki, server):
    srv = server("--echo", cert="server-rsa")
    got, err = _drive(["openssl", "s_client", "-connect", f"127.0.0.1:{srv.port}", "-quiet",
                       "-servername", "localhost", "-CAfile", str(pki.path("ca.pem")),
                       "-verify_return_error"], MIB, len(MIB))
    assert sha(got) == sha(MIB), err[-500:]


def test_openssl_s_client_mutual_auth(pki, server):
    srv = server("--echo", "--mutualAuth", "--ca-file", str(pki.path("ca.pem")))
    common = ["openssl", "s_client", "-connect", f"127.0.0.1:{srv.port}", "-quiet",
              "-servername", "localhost", "-CAfile", str(pki.path("ca.pem")), "-verify_return_error"]
    got, err = _drive([*common, "-cert", str(pki.path("client.pem")), "-key", str(pki.path("client.key"))],
                      MIB, len(MIB))
    assert sha(got) == sha(MIB), err[-500:]
    # without a client certificate no application data comes back
    got, _ = _drive(common, b"must not flow\n", 14, timeout=10)
    assert got == b""


@pytest.mark.parametrize("flags, why", [
    (["-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305"],
     "s2n-tls's default policy offers no TLS 1.2 ChaCha20 suite for ECDSA"),
    (["-tls1_1"], "the default policy's minimum is TLS 1.2"),
], ids=["tls1.2-chacha20-ecdsa", "tls1.1"])
def test_expected_failures_by_policy(pki, server, flags, why):
    """Cases s2n-tls's default policy rejects by design: no data may flow."""
    srv = server("--echo")
    got, _ = _drive(["openssl", "s_client", "-connect", f"127.0.0.1:{srv.port}", "-quiet",
                     "-servername", "localhost", "-CAfile", str(pki.path("ca.pem")), *flags],
                    b"hello\n", 6, timeout=10)
    assert got == b"", why


def test_openssl_alpn(pki, server):
    srv = server("--echo", "--alpn", "h2,http/1.1")
    out = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{srv.port}", "-alpn", "http/1.1",
                          "-servername", "localhost", "-CAfile", str(pki.path("ca.pem"))],
                         input=b"", capture_output=True, timeout=30)
    assert b"ALPN protocol: http/1.1" in out.stdout


@pytest.mark.skipif(not shutil.which("gnutls-cli"), reason="gnutls-bin not installed")
def test_gnutls_cli_to_s2n_server(pki, server):
    srv = server("--echo")
    # stdbuf: gnutls-cli's stdout is block-buffered into a pipe; --logfile keeps
    # its handshake report out of the data.
    got, err = _drive(["stdbuf", "-o0", "gnutls-cli", "--logfile=/dev/null",
                       "--x509cafile", str(pki.path("ca.pem")), "-p", str(srv.port), "localhost"],
                      MIB, len(MIB))
    assert sha(got) == sha(MIB), err[-500:]


@pytest.mark.skipif(not shutil.which("curl"), reason="curl not installed")
def test_curl_to_https_server(pki, server):
    srv = server("--https-server", "--echo")
    out = subprocess.run(["curl", "-sS", "--cacert", str(pki.path("ca.pem")),
                          f"https://localhost:{srv.port}/"], capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert b"s2n-tls for Python" in out.stdout
    # non-HTTP bytes on the same server are echoed
    echoed = client(pki, srv.port, data=b"\x00\x01 not http")
    assert echoed.stdout == b"\x00\x01 not http"


def test_python_ssl_to_s2n_server(pki, server):
    import ssl

    srv = server("--echo")
    ctx = ssl.create_default_context(cafile=str(pki.path("ca.pem")))
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", srv.port)),
                         server_hostname="localhost") as tls:
        tls.sendall(MIB)
        back = bytearray()
        while len(back) < len(MIB):
            back += tls.recv(65536)
    assert sha(bytes(back)) == sha(MIB)


def _wait_port(port: int) -> None:
    for _ in range(200):  # bounded: about 10 s
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


@pytest.mark.parametrize("flag", ["-tls1_2", "-tls1_3"])
def test_s2n_client_to_openssl_s_server(pki, flag):
    port = free_port()
    with subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", flag,
                           "-cert", str(pki.path("server.pem")), "-key", str(pki.path("server.key")),
                           "-rev"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL) as srv:
        try:
            for line in iter(srv.stdout.readline, b""):  # s_server prints ACCEPT when ready
                if b"ACCEPT" in line:
                    break
            # stdin stays open until the reply came: under TLS 1.2 our
            # close_notify would make s_server drop the reply (no half-close).
            got, err = _drive([*PY, "client", "--ca-file", str(pki.path("ca.pem")), "localhost",
                               str(port)], b"line one\n", 9, timeout=30)
        finally:
            srv.kill()
    assert got == b"eno enil\n", err
    assert (b"TLSv1.2" if flag == "-tls1_2" else b"TLSv1.3") in err


def _gnutls_serv(pki, port, *extra):
    return subprocess.Popen(["gnutls-serv", "--echo", "-p", str(port),
                             "--x509certfile", str(pki.path("server.pem")),
                             "--x509keyfile", str(pki.path("server.key")), *extra],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


@pytest.mark.skipif(not shutil.which("gnutls-serv"), reason="gnutls-bin not installed")
@pytest.mark.parametrize("priority, marker", [
    (None, b"FULL_HANDSHAKE"),
    # the server accepts only P-384: s2n's first key share is refused -> HelloRetryRequest
    ("NORMAL:-GROUP-ALL:+GROUP-SECP384R1", b"HELLO_RETRY_REQUEST"),
])
def test_s2n_client_to_gnutls_serv(pki, priority, marker):
    port = free_port()
    extra = ["--priority", priority] if priority else []
    srv = _gnutls_serv(pki, port, *extra)
    # gnutls-serv --echo answers line by line: the 1 MiB goes as base64 lines
    text = base64.encodebytes(MIB)
    try:
        _wait_port(port)
        got, err = _drive([*PY, "client", "--ca-file", str(pki.path("ca.pem")), "localhost", str(port)],
                          text, len(text))
    finally:
        srv.kill()
        srv.wait(10)
    assert sha(base64.decodebytes(got)) == sha(MIB), err[-500:]
    assert marker in err
    if priority:
        assert b"group=secp384r1" in err


def test_server_survives_hostile_clients(pki, server):
    """Bad connections of every kind; after each, a normal client still gets
    its echo, and the server's memory and fds stay bounded."""
    srv = server("--echo", "-q", "--handshake-timeout", "5")
    addr = ("127.0.0.1", srv.port)

    def normal():
        out = client(pki, srv.port, "-q", data=b"still here", timeout=30)
        assert out.returncode == 0 and out.stdout == b"still here", out.stderr

    sslv2_hello = bytes.fromhex("802e0103010015000000100300800100800700c0060040020080040080"
                                "00003900003800003500003300003200002f") + os.urandom(16)
    attacks = {
        "random": os.urandom(4096),
        "truncated_client_hello": b"\x16\x03\x01\x00\x08\x01\x00\x00\x04\x03\x03\x00\x00",
        "sslv2_hello": sslv2_hello,
        "http": b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    }
    for name, payload in attacks.items():
        with socket.create_connection(addr, timeout=10) as s:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            try:
                while s.recv(4096):
                    pass
            except OSError:
                pass
        normal()
    # RST in the middle of a handshake
    with socket.create_connection(addr, timeout=10) as s:
        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(50))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    normal()
    # 100 half-open connections held while a normal client is served
    held = [socket.create_connection(addr, timeout=10) for _ in range(100)]
    try:
        for s in held[::2]:
            s.sendall(b"\x16\x03\x01")  # a record header, then silence
        normal()
    finally:
        for s in held:
            s.close()
    normal()
    rss_before, fds_before = srv.rss_kib(), srv.fds()
    for _ in range(2000):
        socket.create_connection(addr, timeout=10).close()
    normal()
    for _ in range(100):  # the last closes are processed asynchronously: bounded wait
        if srv.fds() <= fds_before + 5:
            break
        time.sleep(0.05)
    assert srv.fds() <= fds_before + 5
    assert srv.rss_kib() < rss_before + 20_000
    assert srv.proc.poll() is None
