"""bench/run.py runs from a fresh clone: its C driver builds, and one tiny
round of every TCP figure (handshakes, resumed handshakes, bulk, round
trips) completes for every contender. It proves the bench runs; the figures
themselves mean nothing at this length."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"

pytestmark = [pytest.mark.bench, pytest.mark.timeout(120)]


def _driver():
    sys.path.insert(0, str(BENCH))
    try:
        from _cdriver import driver
    finally:
        sys.path.remove(str(BENCH))
    return driver(log=lambda msg: None)


def test_c_driver_builds():
    exe, why = _driver()
    if exe is None:
        pytest.skip(f"no raw-C column here: {why}")
    assert os.access(exe, os.X_OK)
    assert _driver()[0] == exe  # built once, then reused


def test_tcp_figures_one_tiny_round(tmp_path):
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "--rounds", "1", "--seconds", "0.3", "--mib", "4",
         "--only", "handshake,resumed,bulk,rtt", "--json", str(out)],
        capture_output=True, text=True, timeout=100)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    exe, why = _driver()
    kinds = {"ssl", "tlssocket", "conn"} | ({"c"} if exe else set())
    if not exe:
        assert "raw C column left empty" in proc.stdout
    results = json.loads(out.read_text())["results"]
    figures = {"tcp handshake", "tcp resumed", "tcp bulk16", "tcp bulk256", "tcp rtt"}
    assert set(results) == figures
    for name in figures:
        contenders = results[name]["contenders"]
        assert set(contenders) == kinds, name
        for kind, r in contenders.items():
            assert len(r["values"]) == 1 and r["median"] > 0, (name, kind)
            assert all("TLS_AES_128_GCM_SHA256" in n for n in r["negotiated"]), (name, kind, r)
