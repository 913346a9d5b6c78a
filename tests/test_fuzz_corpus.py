"""The fuzz harnesses' seed corpus and crash reproducers, replayed on the
normal build: each harness in a fresh interpreter, so that a crash (a signal)
fails the test, not the run. A reproducer that the fuzzer found goes into
fuzz/regressions/HARNESS/ with the fix (docs/reliability-fuzz.md)."""

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
