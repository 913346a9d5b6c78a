"""The code blocks of the documentation, found and run (tests/test_docs.py).

The convention, for every fenced block in README.md and docs/**/*.md:

- ``python``: run. The blocks of one page run in order in one fresh
  interpreter and share one namespace, so a page reads like one program.
- ``sh`` (also ``bash``, ``shell``): run with ``bash -e``; ``console``: the
  lines starting with ``$ `` are run the same way (the rest is the output
  they printed on some machine, shown, not compared). A command may end in
  ``&`` to leave a server running: every process a page started is killed
  when the page ends. ``python`` is the interpreter running the tests, and
  its scripts (``s2nc``, ``s2nd``) are on PATH.
- ``text`` (and any other lexer): shown, never run: output, transcripts,
  tables, file formats.
- A fence without a lexer is an error: each block says what it is.
- ``<!-- docs-test: skip REASON -->`` on the line before a fence shows the
  block but does not run it; the reason is mandatory (the network, minutes of
  CPU, a tool the suite does not install). Every skip is listed by the test.

Every page runs in its own empty temporary folder holding the test PKI
(``ca.pem``; ``server.pem``/``server.key`` for ``localhost`` and
``127.0.0.1``; ``client.pem``/``client.key``; ``otherca.pem``), so the pages can
name those files as a reader's own would be named. Peers listen on 127.0.0.1.

``python tests/docs_blocks.py list`` prints every block and what happens to it;
``python tests/docs_blocks.py run PAGE`` runs one page here (in the current
folder: run it where the certificate files are).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

PYTHON = {"python", "py", "python3"}
SHELL = {"sh", "bash", "shell"}
CONSOLE = {"console"}
SHOWN = {"text", "none", "ini", "toml", "json", "c", "diff", "yaml"}

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
_SKIP = re.compile(r"^\s*<!--\s*docs-test:\s*skip\b\s*(?P<reason>.*?)\s*-->\s*$")


@dataclass
class Block:
    page: str          # path relative to the repository root
    line: int          # 1-based line of the first line of code
    lang: str          # the lexer ("" when the fence names none)
    code: str
    skip: Optional[str] = None  # the reason, when marked

    @property
    def kind(self) -> str:
        if self.lang.startswith("{"):
            return "directive"
        if self.skip is not None:
            return "skipped"
        if self.lang in PYTHON:
            return "python"
        if self.lang in SHELL:
            return "shell"
        if self.lang in CONSOLE:
            return "console"
        if not self.lang:
            return "untagged"
        return "shown"


def pages() -> List[Path]:
    out = [ROOT / "README.md"]
    out += sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts)
    return out


def blocks(page: Path) -> List[Block]:
    """The fenced blocks of a Markdown page (CommonMark fences, indented in
    lists too; MyST directives such as ``{toctree}`` are kind "directive")."""
    lines = page.read_text(encoding="utf-8").split("\n")
    rel = page.relative_to(ROOT).as_posix()
    out: List[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence = m.group("indent"), m.group("fence")
        info = m.group("info").strip()
        lang = info.split()[0] if info else ""
        if lang.startswith("{"):
            lang = info  # e.g. "{eval-rst}"
        skip = None
        if i > 0:
            sm = _SKIP.match(lines[i - 1])
            if sm:
                skip = sm.group("reason") or ""
        j = i + 1
        close = re.compile(r"^[ \t]*" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}\s*$")
        while j < len(lines) and not close.match(lines[j]):
            j += 1
        body = []
        for ln in lines[i + 1:j]:
            body.append(ln[len(indent):] if ln.startswith(indent) else ln.lstrip())
        out.append(Block(rel, i + 2, lang, "\n".join(body) + "\n", skip))
        i = j + 1
    return out


def console_commands(code: str) -> str:
    """The commands of a console transcript (``$ `` lines, with their
    backslash continuations)."""
    cmds: List[str] = []
    cont = False
    for ln in code.split("\n"):
        if cont:
            cmds.append(ln)
            cont = ln.rstrip().endswith("\\")
        elif ln.startswith("$ "):
            cmds.append(ln[2:])
            cont = ln.rstrip().endswith("\\")
    return "\n".join(cmds) + "\n"


# --- running one page (in a fresh interpreter: python tests/docs_blocks.py run PAGE)

def _shell_env() -> Tuple[Dict[str, str], Path]:
    env = dict(os.environ)
    shim = Path(tempfile.mkdtemp(prefix="s2n-docs-bin-"))
    for name in ("python", "python3"):
        # a script, not a symlink: a venv's python finds its venv by its own path
        script = shim / name
        script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
        script.chmod(0o755)
    env["PATH"] = os.pathsep.join([str(shim), str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env, shim


def run_page(page: Path, timeout: float = 60.0) -> None:
    groups: List[int] = []
    ns: Dict[str, object] = {"__name__": "__main__"}
    env, shim = _shell_env()
    try:
        for b in blocks(page):
            where = f"{b.page}:{b.line}"
            if b.kind == "untagged":
                raise SystemExit(f"{where}: a fence without a lexer (python, sh, console, text, ...)")
            if b.kind not in ("python", "shell", "console"):
                continue
            print(f"--- {where} [{b.lang}]", flush=True)
            t0 = time.monotonic()
            if b.kind == "python":
                # Padded so that tracebacks name the page's own line numbers.
                code = compile("\n" * (b.line - 1) + b.code, b.page, "exec")
                exec(code, ns)  # noqa: S102 - the documentation's own examples
            else:
                script = b.code if b.kind == "shell" else console_commands(b.code)
                p = subprocess.Popen(["bash", "-e", "-c", script], env=env, start_new_session=True)
                groups.append(p.pid)
                try:
                    rc = p.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    raise SystemExit(f"{where}: still running after {timeout:.0f} s")
                if rc != 0:
                    raise SystemExit(f"{where}: exit status {rc}")
            print(f"    ok in {time.monotonic() - t0:.2f} s", flush=True)
    finally:
        for pgid in groups:
            try:
                os.killpg(pgid, signal.SIGTERM)
            except OSError:
                pass
        shutil.rmtree(shim, ignore_errors=True)


def main(argv: List[str]) -> int:
    if argv[:1] == ["list"]:
        for page in pages():
            for b in blocks(page):
                print(json.dumps({k: v for k, v in asdict(b).items() if k != "code"} | {"kind": b.kind}))
        return 0
    if argv[:1] == ["run"] and len(argv) == 2:
        run_page(Path(argv[1]).resolve())
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
