"""The documentation cannot rot: every code block runs, and the Sphinx build
is warning-free.

The convention for code blocks (what runs, what is only shown, how to skip)
is written in tests/docs_blocks.py, which also runs them.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import docs_blocks

ROOT = docs_blocks.ROOT
PAGES = docs_blocks.pages()
RUNNABLE = ("python", "shell", "console")


def _runs(page: Path) -> bool:
    return any(b.kind in RUNNABLE for b in docs_blocks.blocks(page))


@pytest.fixture(scope="module")
def pki_files(pki) -> list:
    return [p for p in pki.dir.iterdir() if p.suffix in (".pem", ".key")]


def test_every_fence_names_its_lexer_and_every_skip_its_reason():
    bad = [f"{b.page}:{b.line}" for p in PAGES for b in docs_blocks.blocks(p)
           if b.kind == "untagged" or (b.skip is not None and not b.skip)]
    assert not bad, f"untagged fences or skips without a reason: {bad}"


def test_there_are_blocks_to_run():
    kinds = [b.kind for p in PAGES for b in docs_blocks.blocks(p)]
    assert kinds.count("python") >= 40, kinds


@pytest.mark.timeout(300)
@pytest.mark.parametrize("page", [p for p in PAGES if _runs(p)],
                         ids=lambda p: p.relative_to(ROOT).as_posix())
def test_code_blocks_run(page: Path, pki_files, tmp_path):
    shells = [b for b in docs_blocks.blocks(page) if b.kind in ("shell", "console")]
    if shells and shutil.which("bash") is None:
        pytest.skip("the page's shell blocks need bash")
    for f in pki_files:
        shutil.copy(f, tmp_path / f.name)
    proc = subprocess.run([sys.executable, str(Path(docs_blocks.__file__)), "run", str(page)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, (
        f"exit {proc.returncode}\nstdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-6000:]}")
    skipped = [f"{b.page}:{b.line} ({b.skip})" for b in docs_blocks.blocks(page) if b.kind == "skipped"]
    if skipped:
        print("not run:", *skipped, sep="\n  ")


def _sphinx_missing() -> bool:
    return any(importlib.util.find_spec(m) is None for m in ("sphinx", "myst_parser"))


def _docs_conf():
    spec = importlib.util.spec_from_file_location("_s2n_docs_conf", ROOT / "docs" / "conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    return conf


@pytest.mark.timeout(300)
@pytest.mark.skipif(_sphinx_missing(), reason="sphinx and myst-parser are in the 'test' extra")
@pytest.mark.parametrize("inventory", ["as found", "none"])
def test_sphinx_build_has_no_warnings(tmp_path, inventory):
    """sphinx-build -W, with Python's objects.inv where this machine has one
    and as on a machine without it (docs/conf.py): no warning either way."""
    env = dict(os.environ)
    if inventory == "none":
        env["S2N_PY_DOCS_PYTHON_INV"] = "none"
    out = tmp_path / "html"
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-E",
                           "-b", "html", "-d", str(tmp_path / "doctrees"),
                           str(ROOT / "docs"), str(out)],
                          capture_output=True, text=True, timeout=280, cwd=ROOT, env=env)
    assert proc.returncode == 0, f"sphinx-build -W failed:\n{proc.stderr[-8000:]}"
    assert (out / "index.html").is_file()
    assert "Connection.negotiate" in (out / "reference" / "connection.html").read_text(encoding="utf-8")
    # Links to Python's docs come from a local inventory: when there is one,
    # they must be links.
    html = (out / "reference" / "ssl.html").read_text(encoding="utf-8")
    linked = "https://docs.python.org/3/library/ssl.html" in html
    assert linked == (inventory == "as found" and _docs_conf().PYTHON_INVENTORY is not None)


def test_python_inventory_for_intersphinx():
    """CI (.ci/run) installs Debian's python3-doc and sets
    S2N_PY_DOCS_REQUIRE_INTERSPHINX=1; elsewhere a missing inventory only
    means plain text where links to Python's docs would be."""
    if _docs_conf().PYTHON_INVENTORY:
        return
    if os.environ.get("S2N_PY_DOCS_REQUIRE_INTERSPHINX") == "1":
        pytest.fail("no objects.inv for Python's docs: apt-get install python3-doc")
    pytest.skip("Python's objects.inv not found (apt-get install python3-doc): "
                "the docs build without links to Python's docs")


def test_every_public_name_of_s2n_has_a_reference_entry():
    import re

    import s2n

    text = "\n".join(p.read_text() for p in (ROOT / "docs" / "reference").glob("*.md"))
    missing = [name for name in s2n.__all__
               if not name.startswith("__") and not re.search(rf"\bs2n\.{name}\b", text)]
    assert not missing, f"s2n names with no entry in docs/reference/: {missing}"
