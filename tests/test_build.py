"""Issue: build and packaging. The extension is the real s2n-tls + AWS-LC."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import types
from pathlib import Path

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


def test_distribution_metadata():
    """The installed distribution carries our license (SPDX, and the file in
    its dist-info), the supported Pythons, and links that are the project's."""
    from importlib import metadata

    meta = metadata.metadata("s2n-tls")
    assert meta["License-Expression"] == "Apache-2.0"
    classifiers = set(meta.get_all("Classifier") or [])
    assert not [c for c in classifiers if c.startswith("License ::")]  # PEP 639: SPDX only
    assert {"Typing :: Typed", "Programming Language :: Python :: 3.9",
            "Programming Language :: Python :: 3.14"} <= classifiers
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL") or [])
    assert urls.get("Source") and "aws/s2n-tls" not in urls["Source"], urls
    licenses = [f for f in metadata.files("s2n-tls") or []
                if f.parent.name == "licenses" and f.parent.parent.name.endswith(".dist-info")]
    assert [f.name for f in licenses] == ["LICENSE"], licenses
    assert "Apache License" in licenses[0].read_text()


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


def _fake_tool(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True)
    exe = folder / name
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    return exe


def test_tool_finds_the_pypi_cmake_and_ninja(build_script, tmp_path, monkeypatch):
    # The cmake wheel's module names its folder CMAKE_BIN_DIR, ninja's BIN_DIR;
    # nothing on PATH, so only those attributes can find them.
    cmake = _fake_tool(tmp_path / "cmake-data" / "bin", "cmake")
    ninja = _fake_tool(tmp_path / "ninja-bin", "ninja")
    monkeypatch.setitem(sys.modules, "cmake",
                        types.SimpleNamespace(CMAKE_BIN_DIR=str(cmake.parent)))
    monkeypatch.setitem(sys.modules, "ninja", types.SimpleNamespace(BIN_DIR=str(ninja.parent)))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert build_script.tool("cmake") == str(cmake)
    assert build_script.tool("ninja") == str(ninja)
    monkeypatch.setitem(sys.modules, "cmake", types.SimpleNamespace())
    with pytest.raises(build_script.BuildError, match="cmake not found"):
        build_script.tool("cmake")


def test_native_cache_key_follows_the_s2n_tls_source_tree(build_script, tmp_path, monkeypatch):
    tree = tmp_path / "s2n-tls"
    (tree / "api").mkdir(parents=True)
    (tree / "api" / "s2n.h").write_text("/* api */\n")
    (tree / "tls").mkdir()
    (tree / "tls" / "s2n_tls.c").write_text("int x;\n")
    monkeypatch.setenv("S2N_TLS_SOURCE", str(tree))
    monkeypatch.setenv("S2N_PY_BUILD_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("S2N_PY_LIBCRYPTO", raising=False)
    keys = [build_script.cache_dir()]
    assert build_script.cache_dir() == keys[0]  # stable
    (tree / "tls" / "s2n_tls.c").write_text("int xy;\n")  # edited
    keys.append(build_script.cache_dir())
    src = tree / "tls" / "s2n_tls.c"  # same size, newer mtime
    st = src.stat()
    src.write_text("int yx;\n")
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    keys.append(build_script.cache_dir())
    (tree / "tls" / "s2n_new.c").write_text("")  # added
    keys.append(build_script.cache_dir())
    assert len(set(keys)) == len(keys), keys
    (tree / ".git").mkdir()  # what the C build does not read leaves the key alone
    (tree / ".git" / "index").write_text("x")
    assert build_script.cache_dir() == keys[-1]


def test_sanitizer_build_has_its_own_cache_key(build_script, tmp_path, monkeypatch):
    """S2N_PY_SANITIZE goes into the native cache key (normalized: order, case,
    spaces and repeats do not matter); unset or empty leaves the normal key."""
    monkeypatch.setenv("S2N_PY_BUILD_CACHE", str(tmp_path / "cache"))
    for var in ("S2N_TLS_SOURCE", "S2N_PY_LIBCRYPTO", "S2N_PY_SANITIZE"):
        monkeypatch.delenv(var, raising=False)
    normal = build_script.cache_dir()
    assert build_script.sanitize_flags() == []
    monkeypatch.setenv("S2N_PY_SANITIZE", "")
    assert build_script.cache_dir() == normal
    monkeypatch.setenv("S2N_PY_SANITIZE", "address,undefined")
    both = build_script.cache_dir()
    assert both != normal and both.parent == normal.parent
    flags = build_script.sanitize_flags()
    assert "-fsanitize=address,undefined" in flags and "-fno-omit-frame-pointer" in flags
    monkeypatch.setenv("S2N_PY_SANITIZE", " Undefined, address,address ")
    assert build_script.cache_dir() == both
    monkeypatch.setenv("S2N_PY_SANITIZE", "address")
    assert build_script.cache_dir() not in (normal, both)
    # the extension is compiled and linked with the same flags, and still hides
    # every symbol but PyInit__s2n
    link = build_script._link_settings()
    assert "-fsanitize=address" in link["extra_compile_args"]
    assert "-fsanitize=address" in link["extra_link_args"]
    if sys.platform.startswith("linux"):
        assert "-Wl,--exclude-libs,ALL" in link["extra_link_args"]
        assert any(a.startswith("-Wl,--version-script=") for a in link["extra_link_args"])
    monkeypatch.setenv("S2N_PY_SANITIZE", "address,thread")
    with pytest.raises(build_script.BuildError, match="unknown sanitizer.*thread"):
        build_script.cache_dir()


def _has_openssl3_headers() -> bool:
    for inc in ("/usr/include", "/usr/local/include"):
        v = Path(inc, "openssl", "opensslv.h")
        if v.is_file() and re.search(r"#\s*define\s+OPENSSL_VERSION_MAJOR\s+[3-9]\b",
                                     v.read_text(errors="replace")):
            return True
    return False


@pytest.mark.build
@pytest.mark.timeout(600)
@pytest.mark.skipif(not _has_openssl3_headers(), reason="no OpenSSL 3 headers (libssl-dev)")
def test_system_libcrypto_build_imports_and_handshakes(build_script, tmp_path):
    """S2N_PY_LIBCRYPTO=system builds an extension that imports and talks TLS
    (it once failed to import: undefined symbol BIO_mem_contents)."""
    root = BUILD_SCRIPT.parent
    src = _mkdir(tmp_path / "src")  # a copy: the repository's build/ folder is left alone
    for name in ("setup.py", "build_s2n.py", "pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(root / name, src / name)
    shutil.copytree(root / "src", src / "src", ignore=shutil.ignore_patterns(
        "__pycache__", "*.so", "*.o", "_s2n.c", "licenses", "*.egg-info"))
    (src / "vendor").mkdir()
    shutil.copy2(root / "vendor" / "pin.json", src / "vendor" / "pin.json")
    for tree in ("s2n-tls", "aws-lc"):  # the extracted pinned trees, if any: no download
        if (root / "vendor" / tree / "CMakeLists.txt").is_file():
            (src / "vendor" / tree).symlink_to(root / "vendor" / tree)
    env = dict(os.environ, S2N_PY_LIBCRYPTO="system")
    env.pop("S2N_TLS_SOURCE", None)
    # Share the native cache with the repository's own builds: a rerun compiles no C.
    env.setdefault("S2N_PY_BUILD_CACHE", str(root / "build" / "native"))
    target = tmp_path / "target"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q",
                          "--target", str(target), str(src)],
                         env=env, capture_output=True, text=True, timeout=540)
    assert pip.returncode == 0, pip.stdout[-3000:] + pip.stderr[-3000:]
    # Run from a neutral folder, the fresh build first on the path.
    run_env = dict(os.environ, PYTHONPATH=str(target))
    neutral = _mkdir(tmp_path / "neutral")
    code = "import s2n; print(s2n.__file__); print(s2n.version_info()['libcrypto'])"
    out = subprocess.run([sys.executable, "-c", code], cwd=neutral, env=run_env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    where, libcrypto = out.stdout.splitlines()
    assert Path(where).resolve().is_relative_to(target.resolve()), where
    assert libcrypto.startswith("OpenSSL "), libcrypto
    demo = subprocess.run([sys.executable, "-m", "s2n", "demo", "--mib", "1"], cwd=neutral,
                          env=run_env, capture_output=True, text=True, timeout=60)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "OpenSSL" in demo.stdout and "sha256 matches" in demo.stdout, demo.stdout


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_readme_commands_work_from_the_repository_root():
    """`pip install . && python -m s2n demo` from the root of a clone: the
    src layout keeps the source folder (which has no compiled module) off
    sys.path, so the installed package is the one imported."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    assert not (root / "s2n").exists(), "a top-level s2n/ would shadow the installed package"
    out = subprocess.run([sys.executable, "-m", "s2n", "demo", "--mib", "1"], cwd=root,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "matches" in out.stdout, out.stderr[-1000:]
