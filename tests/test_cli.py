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

import s2n
from conftest import SANITIZED, client_config, free_port

PY = [sys.executable, "-m", "s2n"]
MIB = os.urandom(1 << 20)
SETRLIMIT_EXEC = ("import os, resource, sys; n = int(sys.argv[1]); "
                  "resource.setrlimit(resource.RLIMIT_NOFILE, (n, n)); "
                  "os.execv(sys.executable, [sys.executable, *sys.argv[2:]])")


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

    def __init__(self, pki, *extra: str, cert: str = "server", tmp_path=None,
                 host: str = "127.0.0.1", nofile: int = 0) -> None:
        self.log = tmp_path / f"server-{time.monotonic_ns()}.log"
        self._log = open(self.log, "wb")
        # nofile: run under that RLIMIT_NOFILE (set in a tiny wrapper that then
        # execs the server: no preexec_fn in a threaded test process).
        py = [sys.executable, "-c", SETRLIMIT_EXEC, str(nofile), "-m", "s2n"] if nofile else PY
        self.proc = subprocess.Popen(
            [*py, "server", "--cert", str(pki.path(f"{cert}.pem")), "--key", str(pki.path(f"{cert}.key")),
             "--max-blinding-delay", "0", *extra, host, "0"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._log)
        for _ in range(200):
            m = re.search(r"listening on (\S+):(\d+)", self.log.read_text())
            if m:
                self.host, self.port = m.group(1), int(m.group(2))
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

    def start(*extra, cert="server", **kw):
        s = Server(pki, *extra, cert=cert, tmp_path=tmp_path, **kw)
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
    def feed():
        try:
            proc.stdin.write(data)
            proc.stdin.flush()
        except OSError:
            pass  # the tool exited first (a refused handshake): nothing to feed

    threading.Thread(target=feed, daemon=True).start()
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
    if not SANITIZED:  # ASan's quarantine holds freed memory: RSS is no measure there
        assert srv.rss_kib() < rss_before + 20_000
    assert srv.proc.poll() is None


# --- hardening: HTTP-or-echo on bytes, ports, options, messages, fds, latency ---


def _tls(pki, port, host="127.0.0.1", policy=None, timeout=10):
    """An s2n client in this process; TCP_NODELAY on our side, so timings
    measure the server."""
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s2n.wrap_socket(sock, client_config(pki, policy=policy), server_hostname="localhost")


def _read_to_end(tls) -> bytes:
    got = bytearray()
    try:
        while True:
            chunk = tls.recv(65536)
            if not chunk:
                break
            got += chunk
    except s2n.ClosedError:
        pass  # TLS 1.2 peers may close without answering our close_notify
    return bytes(got)


def test_https_echo_decides_on_first_bytes_not_records(pki, server):
    srv = server("--https-server", "--echo", "-q")
    # the request in 1-byte TLS records (each send is one record)
    with _tls(pki, srv.port) as tls:
        for b in b"GET / HTTP/1.0\r\nHost: x\r\n\r\n":
            assert tls.send(bytes([b])) == 1
        assert _read_to_end(tls).startswith(b"HTTP/1.0 200 OK\r\n")
    # bare LF line endings end the header too
    with _tls(pki, srv.port) as tls:
        tls.sendall(b"HEAD / HTTP/1.0\nHost: x\n\n")
        reply = _read_to_end(tls)
        assert reply.startswith(b"HTTP/1.0 200 OK\r\n") and reply.endswith(b"\r\n\r\n")
    # bytes that stop being a method prefix are echoed, whatever the records
    with _tls(pki, srv.port) as tls:
        for b in b"GEX":
            tls.send(bytes([b]))
        got = b""
        while len(got) < 3:
            got += tls.recv(16)
        assert got == b"GEX"


def test_tls12_handshake_and_request_has_no_delayed_ack_stall(pki, server):
    """s2n-tls writes a flight in several small writes: without TCP_NODELAY
    Nagle holds the last one until the client's delayed ACK (40 ms). The
    client is Python's ssl (OpenSSL writes its flight in one write, as curl
    does, so only the server's Nagle can stall). 20 ms is 2x away."""
    import ssl
    import statistics

    srv = server("--https-server", "-q")
    ctx = ssl.create_default_context(cafile=str(pki.path("ca.pem")))
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    times = []
    for _ in range(11):
        start = time.perf_counter()
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with ctx.wrap_socket(sock, server_hostname="localhost") as tls:
            tls.sendall(b"GET / HTTP/1.0\r\n\r\n")
            reply = b""
            while True:
                chunk = tls.recv(65536)
                if not chunk:
                    break
                reply += chunk
            assert tls.version() == "TLSv1.2"
        times.append(time.perf_counter() - start)
        assert reply.startswith(b"HTTP/1.0 200")
    assert statistics.median(times) < 0.020, [f"{t * 1000:.1f} ms" for t in times]


def _cert_args(pki, name="server"):
    return ["--cert", str(pki.path(f"{name}.pem")), "--key", str(pki.path(f"{name}.key"))]


def _run(argv, timeout=30, **kw):
    return subprocess.run([*PY, *argv], capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL, **kw)


@pytest.mark.parametrize("cmd, port", [("client", "99999"), ("client", "-1"), ("client", "0"),
                                       ("server", "99999"), ("server", "-1"), ("server", "http")])
def test_invalid_port_is_a_usage_error(pki, cmd, port):
    args = _cert_args(pki) if cmd == "server" else ["--ca-file", str(pki.path("ca.pem"))]
    out = _run([cmd, *args, "127.0.0.1", port], timeout=20)
    assert out.returncode == 2, out.stderr
    assert b"invalid port" in out.stderr and port.encode() in out.stderr
    assert b"Traceback" not in out.stderr


@pytest.mark.parametrize("argv, option", [
    (["demo", "--mib", "-1"], "--mib"),
    (["demo", "--mib", "0"], "--mib"),
    (["bench", "--seconds", "0"], "--seconds"),
    (["bench", "--seconds", "nan"], "--seconds"),
    (["server", "--max-conns", "0"], "--max-conns"),
    (["server", "--handshake-timeout", "0"], "--handshake-timeout"),
    (["server", "--idle-timeout", "-1"], "--idle-timeout"),
    (["server", "--max-blinding-delay", "-1"], "--max-blinding-delay"),
    (["client", "--timeout", "0"], "--timeout"),
    (["client", "--timeout", "inf"], "--timeout"),
    (["client", "--max-blinding-delay", "-5"], "--max-blinding-delay"),
])
def test_numeric_options_are_validated(pki, argv, option):
    if argv[0] == "server":
        argv = [*argv, *_cert_args(pki), "127.0.0.1", "0"]
    elif argv[0] == "client":
        argv = [*argv, "127.0.0.1", "443"]
    out = _run(argv, timeout=20)
    assert out.returncode == 2, out.stderr
    assert option.encode() in out.stderr and b"Traceback" not in out.stderr


def test_version():
    out = _run(["--version"])
    assert out.returncode == 0, out.stderr
    info = s2n.version_info()
    for part in (s2n.__version__, info["s2n_tls"], info["libcrypto"]):
        assert part.encode() in out.stdout


def test_main_works_after_importing_its_submodules():
    """A function in s2n.cli once shared its name with a submodule: importing
    the submodule replaced the function."""
    code = ("import s2n.cli.server, s2n.cli.client, s2n.cli; "
            "assert s2n.cli.main(['demo', '--mib', '1']) == 0; s2n.cli.main(['--version'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert s2n.version_info()["s2n_tls"].encode() in out.stdout


@pytest.fixture
def bad_files(pki, tmp_path):
    (tmp_path / "garbage.pem").write_bytes(b"not a PEM file\n")
    (tmp_path / "cadir").mkdir()
    return tmp_path


@pytest.mark.parametrize("cmd, args, want", [
    pytest.param("server", ["--cert", "{d}/missing.pem", "--key", "{p}/server.key"],
                 "--cert {d}/missing.pem: no such file", id="missing-cert"),
    pytest.param("server", ["--cert", "{p}/server.pem", "--key", "{d}/missing.key"],
                 "--key {d}/missing.key: no such file", id="missing-key"),
    pytest.param("server", ["--cert", "{p}/server.key", "--key", "{p}/server.pem"],
                 "--key {p}/server.pem: no private key found (is it the certificate?", id="swapped"),
    pytest.param("server", ["--cert", "{d}/garbage.pem", "--key", "{p}/server.key"],
                 "--cert {d}/garbage.pem: no PEM certificate found", id="garbage-cert"),
    pytest.param("server", ["--cert", "{p}/server.pem", "--key", "{d}/garbage.pem"],
                 "--key {d}/garbage.pem: no PEM private key found", id="garbage-key"),
    pytest.param("server", ["--cert", "{p}/server.pem", "--key", "{p}/client.key"],
                 "--cert {p}/server.pem, --key {p}/client.key: the private key does not match the certificate",
                 id="key-mismatch"),
    pytest.param("server", ["--cert", "{d}/cadir", "--key", "{p}/server.key"],
                 "--cert {d}/cadir: is a directory", id="cert-is-dir"),
    pytest.param("server", ["--cert", "{p}/server.pem"], "give as many --key as --cert", id="no-key"),
    pytest.param("server", ["--cert", "{p}/server.pem", "--key", "{p}/server.key", "--mutualAuth",
                            "--ca-file", "{d}/missing.pem"],
                 "--ca-file {d}/missing.pem: no such file", id="server-missing-ca-file"),
    pytest.param("client", ["--ca-file", "{d}/missing.pem"], "--ca-file {d}/missing.pem: no such file",
                 id="missing-ca-file"),
    pytest.param("client", ["--ca-file", "{d}/garbage.pem"], "--ca-file {d}/garbage.pem: no PEM certificate found",
                 id="garbage-ca-file"),
    pytest.param("client", ["--ca-file", "{p}/ca.key"], "--ca-file {p}/ca.key: no PEM certificate found",
                 id="ca-file-is-a-key"),
    pytest.param("client", ["--ca-file", "{d}/cadir"], "--ca-file {d}/cadir: is a directory", id="ca-file-is-dir"),
    pytest.param("client", ["--ca-dir", "{d}/missing"], "--ca-dir {d}/missing: no such directory",
                 id="missing-ca-dir"),
    pytest.param("client", ["--ca-dir", "{d}/garbage.pem"], "--ca-dir {d}/garbage.pem: not a directory",
                 id="ca-dir-is-file"),
    pytest.param("client", ["--cert", "{p}/client.pem", "--key", "{d}/missing.key"],
                 "--key {d}/missing.key: no such file", id="client-missing-key"),
    pytest.param("client", ["--ciphers", "no-such-policy"], "--ciphers no-such-policy: unknown security policy",
                 id="bad-policy"),
])
def test_configuration_errors_name_the_option_and_the_file(pki, bad_files, cmd, args, want):
    fill = dict(p=pki.dir, d=bad_files)
    argv = [cmd, *(a.format(**fill) for a in args), "127.0.0.1", "0" if cmd == "server" else "443"]
    out = _run(argv, timeout=20)
    assert out.returncode == 2, out.stderr
    line = f"s2n {cmd}: {want.format(**fill)}".encode()
    assert line in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_policies_are_listed_and_each_is_accepted():
    out = _run(["policies"])
    assert out.returncode == 0, out.stderr
    names = [line.split()[0] for line in out.stdout.decode().splitlines() if line.strip()]
    assert {"default", "default_tls13", "default_fips", "default_pq", "20170210"} <= set(names)
    for name in names:
        s2n.Config().set_cipher_preferences(name)  # raises for a name s2n-tls does not know
    bad = _run(["client", "--ciphers", "nope", "127.0.0.1", "443"])
    assert b"--ciphers nope" in bad.stderr and b"python -m s2n policies" in bad.stderr


def _read_client_hello(s: socket.socket) -> None:
    """Read exactly one TLS record, so that closing leaves no unread data (no RST)."""
    head = b""
    while len(head) < 5:
        chunk = s.recv(5 - len(head))
        if not chunk:
            return
        head += chunk
    left = struct.unpack("!H", head[3:5])[0]
    while left:
        chunk = s.recv(left)
        if not chunk:
            return
        left -= len(chunk)


@pytest.mark.parametrize("behaviour, want", [
    ("close", b"the server closed the connection during the handshake (is it a TLS port?)"),
    ("http", b"the server did not answer with TLS (is it a TLS port?)"),
    ("echo", b"the server did not answer with TLS (is it a TLS port?)"),
    # a greeting that never completes a record: found out at the timeout
    ("banner", b"the server did not answer with TLS (is it a TLS port?)"),
], ids=["close", "http", "echo", "banner"])
def test_client_to_a_port_that_is_not_tls(pki, behaviour, want):
    lsock = socket.create_server(("127.0.0.1", 0))

    def serve():
        try:
            s, _ = lsock.accept()
            with s:
                talk(s)
        except OSError:
            pass  # the client may reset the connection: what it says is the test

    def talk(s):
        if behaviour == "banner":
            s.sendall(b"220 mail.example ESMTP\r\n")
        if behaviour in ("echo", "banner"):
            while True:  # until the client gives up
                data = s.recv(65536)
                if not data:
                    break
                if behaviour == "echo":
                    s.sendall(data)  # the ClientHello comes back
            return
        _read_client_hello(s)
        if behaviour == "http":
            s.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        wait = "1" if behaviour == "banner" else "10"
        out = client(pki, lsock.getsockname()[1], "--timeout", wait, data=b"x", timeout=30)
    finally:
        lsock.close()
        t.join(10)
    assert out.returncode == 1
    assert want in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback")
def test_server_and_client_on_ipv6_loopback(pki, server):
    srv = server("--echo", host="::1")
    assert srv.host == "[::1]"
    out = client(pki, srv.port, "--server-name", "localhost", data=b"over IPv6", host="::1")
    assert out.returncode == 0, out.stderr
    assert out.stdout == b"over IPv6"


def test_server_listens_on_a_host_name(pki, server):
    srv = server("--echo", host="localhost")
    out = client(pki, srv.port, data=b"by name")
    assert out.returncode == 0 and out.stdout == b"by name", out.stderr


def test_server_backs_off_when_out_of_file_descriptors(pki, server):
    """accept() failing with EMFILE must neither spin nor flood the log, and
    the server serves again once descriptors free up."""
    limit = 40
    srv = server("--echo", "-q", nofile=limit)
    held = []
    try:
        deadline = time.monotonic() + 20
        while "accept" not in srv.log.read_text():  # exhaust the server's descriptors
            assert time.monotonic() < deadline, "the server never ran out of descriptors"
            held.append(socket.create_connection(("127.0.0.1", srv.port), timeout=10))
            if len(held) > 2 * limit:
                time.sleep(0.01)  # bounded: the deadline above
        before = len(srv.log.read_text().splitlines())
        cpu_before = _cpu_seconds(srv.proc.pid)
        start = time.monotonic()
        time.sleep(1.0)  # the measurement window, not a synchronisation
        elapsed = time.monotonic() - start
        lines = len(srv.log.read_text().splitlines()) - before
        cpu = _cpu_seconds(srv.proc.pid) - cpu_before
        assert lines <= 2, srv.log.read_text()[-2000:]
        assert cpu < 0.5 * elapsed, f"{cpu:.2f} s of CPU in {elapsed:.2f} s"
    finally:
        for s in held:
            s.close()
    out = client(pki, srv.port, "-q", data=b"served again", timeout=30)
    assert out.returncode == 0 and out.stdout == b"served again", out.stderr
    assert srv.proc.poll() is None


def _cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
