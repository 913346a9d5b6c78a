"""Build bench/c/s2n_bench.c against the package's own static libraries.

The libraries are the ones `build_s2n.py` made for the package (its
`cache_dir()`, which honours S2N_PY_BUILD_CACHE and the other build
variables): libs2n.a and AWS-LC's libcrypto.a. The driver is compiled with
`cc -O2` into build/bench/<key>/ (outside git), where the key covers the
source, the libraries and the command: it is rebuilt only when one changes.
The package build never compiles it.

`driver()` returns (path, None) or (None, reason): a missing compiler or
missing libraries leave the raw-C column empty, they do not stop the bench.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
SOURCE = Path(__file__).resolve().parent / "c" / "s2n_bench.c"
OUT = ROOT / "build" / "bench"


def native_prefix() -> Tuple[Optional[Path], str]:
    """The install prefix of the package's native build, or (None, why)."""
    sys.path.insert(0, str(ROOT))
    try:
        import build_s2n
    except Exception as e:  # noqa: BLE001 - any failure means "no libraries"
        return None, f"cannot import build_s2n.py ({e})"
    finally:
        sys.path.remove(str(ROOT))
    try:
        prefix = build_s2n.cache_dir() / "install"
    except Exception as e:  # noqa: BLE001
        return None, f"build_s2n.cache_dir() failed ({e})"
    if not (prefix / "lib" / "libs2n.a").is_file() or not (prefix / "include" / "s2n.h").is_file():
        return None, (f"no libs2n.a under {prefix} (build the package first, or set "
                      f"S2N_PY_BUILD_CACHE to where its native build is)")
    return prefix, ""


def _key(parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, Path):
            st = p.stat()
            h.update(f"{p}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        else:
            h.update(f"{p}\n".encode())
    h.update(SOURCE.read_bytes())
    return h.hexdigest()[:16]


def driver(log=print) -> Tuple[Optional[Path], Optional[str]]:
    cc = os.environ.get("CC") or "cc"
    if not shutil.which(cc.split()[0]):
        return None, f"no C compiler ({cc}) on PATH"
    prefix, why = native_prefix()
    if prefix is None:
        return None, why
    lib = prefix / "lib"
    libs = [lib / "libs2n.a"]
    extra = []
    if (lib / "libcrypto.a").is_file():
        libs.append(lib / "libcrypto.a")
    else:  # S2N_PY_LIBCRYPTO=system: the package links the system libcrypto
        extra.append("-lcrypto")
    if sys.platform.startswith("linux"):
        extra += ["-lpthread", "-ldl", "-lrt", "-lm"]
    cmd = [*cc.split(), "-O2", "-std=gnu11", "-o", "{out}", str(SOURCE), f"-I{prefix / 'include'}",
           *map(str, libs), *extra]
    out_dir = OUT / _key([*libs, " ".join(cmd)])
    exe = out_dir / "s2n_bench"
    if exe.is_file():
        return exe, None
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f"s2n_bench.tmp{os.getpid()}"
    log(f"building the C driver: {' '.join(cmd).replace('{out}', str(exe))}")
    proc = subprocess.run([c.replace("{out}", str(tmp)) for c in cmd],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        tail = "\n".join(proc.stderr.strip().splitlines()[-10:])
        return None, f"compiling bench/c/s2n_bench.c failed:\n{tail}"
    os.replace(tmp, exe)  # atomic: a concurrent run sees a whole file or none
    return exe, None


if __name__ == "__main__":
    path, reason = driver(log=lambda m: print(m, file=sys.stderr))
    print(path if path else f"no C driver: {reason}")
    sys.exit(0 if path else 1)
