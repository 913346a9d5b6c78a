"""Issue: build and packaging. The extension is the real s2n-tls + AWS-LC."""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import socket
import ssl
import subprocess
import sys
import threading

import pytest

import s2n
from conftest import HERE, client_config, server_config

BUILD_SCRIPT = HERE.parent / "build_s2n.py"


def test_version_info_names_aws_lc():
    info = s2n.version_info()
    assert info["libcrypto"].startswith("AWS-LC "), info
    assert info["s2n_tls"] not in ("", "unknown")
    assert s2n.__version__ == info["s2n"]


def test_extension_exports_only_pyinit():
    nm = shutil.which("nm")
    assert nm, "binutils' nm is needed to read the dynamic symbol table"
    so = sys.modules["s2n._s2n"].__file__
    if sys.platform == "darwin":
        # Mach-O has no dynamic symbol table (Apple's nm -D fails): list the
        # external (-g) defined (-U) symbols; C names carry a leading underscore.
        cmd, want = [nm, "-gU", so], ["_PyInit__s2n"]
    else:
        cmd, want = [nm, "-D", "--defined-only", so], ["PyInit__s2n"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    names = [line.split()[-1] for line in out.splitlines() if line.strip()]
    assert names == want, names


def _ssl_pair(pki):
    """A Python ssl handshake and echo over loopback (OpenSSL in this process)."""
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(pki.path("server.pem"), pki.path("server.key"))
    cctx = ssl.create_default_context(cafile=str(pki.path("ca.pem")))
    with socket.create_server(("127.0.0.1", 0)) as lsock:
        port = lsock.getsockname()[1]

        def serve():
            conn, _ = lsock.accept()
            with sctx.wrap_socket(conn, server_side=True) as t:
                t.sendall(t.recv(100)[::-1])

        th = threading.Thread(target=serve)
        th.start()
        with cctx.wrap_socket(socket.create_connection(("127.0.0.1", port)),
                              server_hostname="localhost") as c:
            c.sendall(b"abc")
            assert c.recv(100) == b"cba"
            version = c.version()
        th.join(10)
    return version


def test_ssl_and_s2n_in_one_process(pki, socketpair):
    assert _ssl_pair(pki) == "TLSv1.3"
    a, b = socketpair
    srv = s2n.Connection(s2n.Mode.SERVER, server_config(pki))
    srv.set_fd(a)
    cli = s2n.Connection(s2n.Mode.CLIENT, client_config(pki))
    cli.set_fd(b)
    cli.set_server_name("localhost")
    th = threading.Thread(target=srv.negotiate)
    th.start()
    cli.negotiate()
    th.join(10)
    cli.send(b"ping")
    assert srv.recv(10) == b"ping"
    assert cli.get_cipher().startswith("TLS_")
    # and ssl still works afterwards, with s2n's AWS-LC loaded beside OpenSSL
    assert _ssl_pair(pki) == "TLSv1.3"
    assert ssl.OPENSSL_VERSION.startswith("OpenSSL")


@pytest.fixture
def build_script():
    if not BUILD_SCRIPT.is_file():
        pytest.skip("build_s2n.py is not beside the tests (testing an installed wheel alone)")
    spec = importlib.util.spec_from_file_location("build_s2n_under_test", BUILD_SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_corrupted_download_is_a_clear_error(build_script, tmp_path):
    bad = tmp_path / "awscrt-0.38.0.tar.gz"
    bad.write_bytes(b"not the sdist")
    pin = build_script.load_pin()
    (tmp_path / "vendor").mkdir()
    with pytest.raises(build_script.BuildError) as e:
        build_script.verify_and_extract(bad, pin, root=tmp_path)
    msg = str(e.value)
    assert pin["sha256"] in msg and hashlib.sha256(b"not the sdist").hexdigest() in msg


def test_unreadable_archive_with_matching_hash_is_a_clear_error(build_script, tmp_path):
    bad = tmp_path / "x.tar.gz"
    bad.write_bytes(b"\x1f\x8b truncated gzip")
    pin = dict(build_script.load_pin(), sha256=hashlib.sha256(bad.read_bytes()).hexdigest())
    (tmp_path / "vendor").mkdir()
    with pytest.raises(build_script.BuildError, match="cannot read"):
        build_script.verify_and_extract(bad, pin, root=tmp_path)
    assert [p.name for p in (tmp_path / "vendor").iterdir()] == []  # staging cleaned up


def test_missing_download_is_a_clear_error(build_script, tmp_path, monkeypatch):
    with pytest.raises(build_script.BuildError, match="not found"):
        build_script.verify_and_extract(tmp_path / "nope.tar.gz", build_script.load_pin(),
                                        root=tmp_path)
    # pip cannot reach an index: the error names the pin and the way out
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    with pytest.raises(build_script.BuildError, match="could not download the pinned sources"):
        build_script.download_sdist(build_script.load_pin(), tmp_path)
