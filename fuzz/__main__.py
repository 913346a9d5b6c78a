"""Run a harness under libFuzzer (atheris), on the instrumented build.

    python -m fuzz HARNESS [SECONDS] [-- libFuzzer flags...]
    python -m fuzz all SECONDS            # each harness in turn (what CI runs)

HARNESS: fuzz_peer_bytes or fuzz_io_callbacks (the `fuzz_` may be left out).
SECONDS: 0 runs until stopped (Ctrl-C). The fuzz build (S2N_PY_FUZZ=1) is made
first when missing or stale. New inputs go to build/fuzz/corpus/HARNESS (the
seeds in fuzz/corpus/HARNESS are read, never written); a crash, an ASan report
or a timeout (10 s per input) leaves its input in build/fuzz/artifacts/HARNESS/
and fails the run. At the end: executions, execs/s and coverage (edges).
Several runs of one harness at once share build/fuzz/corpus/HARNESS
(libFuzzer reloads it), e.g. one per core for a long session; libFuzzer's
own -jobs does not work under atheris (it re-executes the harness file).
Replay an input without the fuzzer: python -m fuzz.HARNESS --replay FILE.
"""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from .build import ROOT, build

HARNESSES = ("fuzz_peer_bytes", "fuzz_io_callbacks")
HERE = Path(__file__).resolve().parent


def fuzz_env(ext: Path) -> dict:
    import atheris

    runtime = Path(atheris.path()) / "asan_with_fuzzer.so"
    env = dict(os.environ)
    env["LD_PRELOAD"] = str(runtime)
    env["S2N_PY_FUZZ_EXT"] = str(ext)
    # Python's own allocations through malloc, so ASan sees them too; CPython
    # frees little at exit by design: no leak report.
    env["PYTHONMALLOC"] = "malloc"
    env.setdefault("ASAN_OPTIONS", "detect_leaks=0:allocator_may_return_null=1:"
                                   "detect_stack_use_after_return=0")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def run(harness: str, seconds: int, ext: Path, extra: list = ()) -> dict:
    work = ROOT / "build" / "fuzz" / "corpus" / harness
    artifacts = ROOT / "build" / "fuzz" / "artifacts" / harness
    work.mkdir(parents=True, exist_ok=True)
    artifacts.mkdir(parents=True, exist_ok=True)
    log = ROOT / "build" / "fuzz" / f"{harness}.log"
    lock = open(ROOT / "build" / "fuzz" / f".{harness}.lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # another run of this harness writes that log
        log = log.with_name(f"{harness}-{os.getpid()}.log")
    cmd = [sys.executable, "-m", f"fuzz.{harness}",
           f"-max_total_time={seconds}", "-timeout=10", "-rss_limit_mb=4096",
           "-print_final_stats=1", f"-artifact_prefix={artifacts}/",
           *extra, str(work), str(HERE / "corpus" / harness)]
    print(f"[fuzz] {harness}: {seconds or 'unlimited'} s, log {log.relative_to(ROOT)}", flush=True)
    start = time.monotonic()
    env = fuzz_env(ext)
    # Python coverage (atheris instruments s2n's modules) is what the IO
    # callback harness is about; for the peer bytes it is s2n-tls's C, and
    # the Python counters would cut its speed several times over.
    env.setdefault("S2N_PY_FUZZ_PYTHON", "1" if harness == "fuzz_io_callbacks" else "0")
    with open(log, "w") as out:
        proc = subprocess.run(cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    text = log.read_text(errors="replace")
    stats = {"harness": harness, "rc": proc.returncode, "seconds": round(time.monotonic() - start)}
    status = [ln for ln in text.splitlines() if re.match(r"#\d+\s", ln) and "cov:" in ln]
    if status:
        last = status[-1]
        for key in ("cov", "ft", "corp", "exec/s"):
            m = re.search(rf"{re.escape(key)}: (\S+)", last)
            if m:
                stats[key] = m.group(1)
        inited = [ln for ln in status if "INITED" in ln]
        if inited:
            m = re.search(r"cov: (\d+)", inited[0])
            stats["cov_at_start"] = m.group(1) if m else "?"
    for key in ("number_of_executed_units", "average_exec_per_sec"):
        m = re.search(rf"stat::{key}:\s+(\d+)", text)
        if m:
            stats[key] = int(m.group(1))
    found = [ln for ln in text.splitlines()
             if "ERROR: AddressSanitizer" in ln or "Uncaught Python exception" in ln
             or "ERROR: libFuzzer" in ln or "SUMMARY:" in ln]
    stats["findings"] = found[:5]
    print(f"[fuzz] {harness}: rc={proc.returncode} execs={stats.get('number_of_executed_units')} "
          f"execs/s={stats.get('average_exec_per_sec')} edges(cov)={stats.get('cov')} "
          f"(at start {stats.get('cov_at_start')}) features={stats.get('ft')} "
          f"corpus={stats.get('corp')} in {stats['seconds']} s", flush=True)
    for ln in found[:5]:
        print(f"[fuzz]   {ln}", flush=True)
    if proc.returncode != 0:
        print(f"[fuzz] {harness} FAILED: inputs in {artifacts.relative_to(ROOT)}; "
              f"tail of the log:\n" + "\n".join(text.splitlines()[-40:]), flush=True)
    lock.close()
    return stats


def main(argv: list) -> int:
    extra: list = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 2
    name = argv[0]
    seconds = int(argv[1]) if len(argv) > 1 else 0
    names = HARNESSES if name == "all" else (name if name.startswith("fuzz_") else f"fuzz_{name}",)
    for n in names:
        if n not in HARNESSES:
            print(f"unknown harness {n}; one of {', '.join(HARNESSES)} or all", file=sys.stderr)
            return 2
    (ROOT / "build" / "fuzz").mkdir(parents=True, exist_ok=True)
    with open(ROOT / "build" / "fuzz" / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # runs started together build one at a time
        ext = build()
    failed = [n for n in names if run(n, seconds, ext, extra)["rc"] != 0]
    if failed:
        print(f"[fuzz] FAILED: {', '.join(failed)}")
    print(f"fuzz: {len(names) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
