"""The fuzz harnesses' seed corpus and crash reproducers, replayed on the
normal build: each harness in a fresh interpreter, so that a crash (a signal)
fails the test, not the run. A reproducer that the fuzzer found goes into
fuzz/regressions/HARNESS/ with the fix (docs/reliability.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FUZZ = ROOT / "fuzz"
HARNESSES = ("fuzz_peer_bytes", "fuzz_io_callbacks")


def _inputs(harness: str, kind: str) -> list:
    d = FUZZ / kind / harness
    return sorted(str(p) for p in d.iterdir() if p.is_file() and not p.name.startswith(".")) if d.is_dir() else []


def _replay(harness: str, files: list) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("S2N_PY_FUZZ_EXT", None)  # the normal build
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return subprocess.run([sys.executable, "-m", f"fuzz.{harness}", "--replay", *files],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("harness", HARNESSES)
@pytest.mark.parametrize("kind", ["corpus", "regressions"])
def test_replay(harness, kind):
    files = _inputs(harness, kind)
    if not files:
        pytest.skip(f"no fuzz/{kind}/{harness} inputs")
    proc = _replay(harness, files)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("OK"), (
        f"exit {proc.returncode}\nstdout: {proc.stdout[-2000:]}\nstderr: {proc.stderr[-4000:]}")


def test_seed_corpus_is_small():
    total = sum(p.stat().st_size for p in (FUZZ / "corpus").rglob("*") if p.is_file())
    assert 0 < total < 200 * 1024, total


@pytest.fixture
def build_script(monkeypatch):
    import importlib.util

    script = ROOT / "build_s2n.py"
    if not script.is_file():
        pytest.skip("build_s2n.py is not beside the tests")
    monkeypatch.delenv("S2N_PY_FUZZ", raising=False)
    spec = importlib.util.spec_from_file_location("build_s2n_fuzz_under_test", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_fuzz_build_has_its_own_native_cache(build_script, monkeypatch, tmp_path):
    monkeypatch.setenv("S2N_PY_BUILD_CACHE", str(tmp_path))
    normal = build_script.cache_dir()
    monkeypatch.setenv("S2N_PY_FUZZ", "1")
    try:
        fuzz = build_script.cache_dir()
    except build_script.BuildError as e:  # no clang on this machine
        assert "clang" in str(e)
        pytest.skip(str(e))
    assert fuzz != normal and fuzz.parent == normal.parent
    monkeypatch.setenv("S2N_PY_FUZZ", "yes")
    with pytest.raises(build_script.BuildError, match="S2N_PY_FUZZ"):
        build_script.cache_dir()


def test_unknown_protocol_version_from_the_peer_is_an_int(pki):
    """Found by fuzz_peer_bytes: a ClientHello whose legacy_version s2n-tls
    maps to no ProtocolVersion (0x03e7: 3 * 10 + 231, modulo 256, is 5) made
    get_client_protocol_version() raise ValueError in the client hello callback."""
    import s2n
    from conftest import client_config, server_config

    cli = s2n.Connection(s2n.Mode.CLIENT, client_config(pki))
    c_in, c_out = s2n.MemoryBIO(), s2n.MemoryBIO()
    cli.set_memory_io(c_in, c_out)
    with pytest.raises(s2n.BlockedError):
        cli.negotiate()
    hello = bytearray(c_out.read())
    assert hello[0] == 0x16 and hello[5] == 1  # handshake record, ClientHello
    hello[9:11] = b"\x03\xe7"  # legacy_version

    seen = []
    scfg = server_config(pki)
    scfg.set_client_hello_cb(lambda conn: seen.append(
        (conn.get_client_protocol_version(), conn.get_client_hello().get_legacy_protocol_version())))
    srv = s2n.Connection(s2n.Mode.SERVER, scfg)
    srv.set_blinding(s2n.Blinding.SELF_SERVICE)
    s_in, s_out = s2n.MemoryBIO(), s2n.MemoryBIO()
    srv.set_memory_io(s_in, s_out)
    s_in.write(bytes(hello))
    s_in.write_eof()
    try:
        srv.negotiate()
    except s2n.S2NError:
        pass  # the handshake may fail; the callback must not have raised
    assert seen == [(5, 5)], seen
    assert type(seen[0][0]) is int
    assert isinstance(srv.get_client_protocol_version(), int)
