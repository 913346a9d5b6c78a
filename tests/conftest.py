"""Shared fixtures: a throwaway PKI made with the openssl command line."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

import s2n
from _toolprocs import procs  # noqa: F401 - the s2nc/s2nd tests' fixture

HERE = Path(__file__).resolve().parent
# Running under scripts/ci_sanitize.sh (the ASan runtime preloaded): memory
# figures mean nothing there (ASan keeps freed memory in quarantine).
SANITIZED = "libasan" in os.environ.get("LD_PRELOAD", "")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _issue(d: Path, name: str, keyopt: list, san: str, ca: str = "ca", eku: str = "serverAuth") -> None:
    _openssl("req", "-newkey", *keyopt, "-nodes", "-keyout", f"{name}.key",
             "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
    (d / f"{name}.ext").write_text(f"subjectAltName={san}\nextendedKeyUsage={eku}\n")
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-out", f"{name}.pem", "-days", "30",
             "-extfile", f"{name}.ext", cwd=d)


class PKI:
    """Paths of a test CA, server/client certificates and an untrusted CA."""

    def __init__(self, d: Path) -> None:
        self.dir = d
        ec = ["ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-pkeyopt", "ec_param_enc:named_curve"]
        rsa = ["rsa:2048"]
        # CAs with keyUsage (Python 3.13's strict verification wants it), made
        # with an extension file rather than -addext, which OpenSSL 1.0 lacks.
        (d / "ca.ext").write_text("basicConstraints=critical,CA:TRUE\n"
                                  "keyUsage=critical,keyCertSign,cRLSign\n"
                                  "subjectKeyIdentifier=hash\n")
        for ca in ("ca", "otherca"):
            _openssl("req", "-new", "-newkey", *ec, "-nodes", "-keyout", f"{ca}.key",
                     "-out", f"{ca}.csr", "-subj", f"/CN=Test {ca}", cwd=d)
            _openssl("x509", "-req", "-in", f"{ca}.csr", "-signkey", f"{ca}.key", "-days", "30",
                     "-extfile", "ca.ext", "-out", f"{ca}.pem", cwd=d)
        _issue(d, "server", ec, "DNS:localhost,IP:127.0.0.1")
        _issue(d, "server-rsa", rsa, "DNS:localhost,IP:127.0.0.1")
        _issue(d, "client", ec, "DNS:client.test", eku="clientAuth")
        _issue(d, "rogue", ec, "DNS:localhost", ca="otherca")
        # an IP written as a DNS name: not an identity for the IP (RFC 6125)
        _issue(d, "dns-ip", ec, "DNS:127.0.0.1")

    def path(self, name: str) -> Path:
        return self.dir / name

    @classmethod
    def existing(cls, d: Path) -> "PKI":
        pki = cls.__new__(cls)
        pki.dir = d
        return pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> PKI:
    return PKI(tmp_path_factory.mktemp("pki"))


def server_config(pki: PKI, cert: str = "server", **kw) -> s2n.Config:
    c = s2n.Config()
    c.add_cert_chain_and_key(pki.path(f"{cert}.pem"), pki.path(f"{cert}.key"))
    policy = kw.get("policy")
    if policy:
        c.set_cipher_preferences(policy)
    # Tests see failures at once instead of after s2n-tls's 10-30 s blinding.
    c.set_max_blinding_delay(0)
    return c


def client_config(pki: PKI, **kw) -> s2n.Config:
    c = s2n.Config()
    c.add_pem_to_trust_store(pki.path("ca.pem"))
    policy = kw.get("policy")
    if policy:
        c.set_cipher_preferences(policy)
    c.set_max_blinding_delay(0)
    return c


@pytest.fixture
def socketpair():
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_isolated(code: str, pki: PKI, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter, so that a crash (a signal) fails
    the test, not the run. `pki`, the conftest helpers and s2n are in scope;
    it passes if the code prints "OK" and exits 0."""
    import sys
    import textwrap

    pre = ("import sys, socket, threading, gc\n"
           f"sys.path.insert(0, {str(HERE)!r})\n"
           "from pathlib import Path\n"
           "import s2n\n"
           "from conftest import PKI, server_config, client_config, connected_pair, run_both\n"
           "pki = PKI.existing(Path(sys.argv[1]))\n")
    proc = subprocess.run([sys.executable, "-c", pre + textwrap.dedent(code), str(pki.dir)],
                          capture_output=True, text=True, timeout=timeout, cwd=pki.dir)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("OK"), (
        f"exit {proc.returncode}\nstdout: {proc.stdout[-2000:]}\nstderr: {proc.stderr[-3000:]}")
    return proc


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def run_both(f, g, timeout: float = 20):
    """Run f in a thread and g here; re-raise either's exception; bounded."""
    import threading

    box = {}

    def target():
        try:
            box["r"] = f()
        except BaseException as e:  # noqa: BLE001
            box["e"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    try:
        out = g()
    finally:
        t.join(timeout)
    assert not t.is_alive(), "the other side did not finish in time"
    if "e" in box:
        raise box["e"]
    return box.get("r"), out


def connected_pair(pki, a, b, scfg=None, ccfg=None, server_name="localhost", session=None):
    """An s2n server on fd a and an s2n client on fd b (offering `session`
    to resume, if given), handshake done."""
    srv = s2n.Connection(s2n.Mode.SERVER, scfg or server_config(pki))
    srv.set_fd(a)
    cli = s2n.Connection(s2n.Mode.CLIENT, ccfg or client_config(pki))
    cli.set_fd(b)
    if server_name:
        cli.set_server_name(server_name)
    if session is not None:
        cli.set_session(session)
    run_both(_closing_on_error(srv.negotiate, a), _closing_on_error(cli.negotiate, b))
    return cli, srv


def _closing_on_error(fn, sock):
    """A side that fails shuts its transport, so the other side sees EOF
    instead of waiting forever in a blocking read."""
    def run():
        try:
            return fn()
        except BaseException:
            import socket as _socket

            if isinstance(sock, _socket.socket):
                try:
                    sock.shutdown(_socket.SHUT_RDWR)
                except OSError:
                    pass
            raise
    return run


# The interop matrix: every case against a real peer, printed as a table at the end.
_MATRIX: list = []
_MATRIX_FILES = ("test_cli.py", "test_interop.py", "test_socket.py", "test_asyncio.py",
                 "test_ssl_libs.py")


def pytest_runtest_logreport(report):
    if report.when == "call" and report.nodeid.split("::")[0].endswith(_MATRIX_FILES):
        file, _, case = report.nodeid.partition("::")
        _MATRIX.append((file.rsplit("/", 1)[-1], case, report.outcome))


def pytest_terminal_summary(terminalreporter):
    if not _MATRIX:
        return
    terminalreporter.write_sep("-", "interop matrix (real peers on loopback)")
    terminalreporter.write_line(f"{'file':<18} {'case':<86} result")
    for file, case, outcome in _MATRIX:
        terminalreporter.write_line(f"{file:<18} {case:<86} {outcome}")
    terminalreporter.write_line(
        "expected failures (by design of s2n-tls's default policy), asserted as 'no data flows': "
        "TLS 1.2 ECDHE-ECDSA-CHACHA20-POLY1305 (not offered), TLS 1.1 (minimum is TLS 1.2)")
