"""Build the fuzzing flavour of the extension (S2N_PY_FUZZ=1, see build_s2n.py)
into build/fuzz/ext/s2n/, beside the normal one, which stays untouched.

    python -m fuzz.build            # prints the path of the built module

The native libraries are cached like the normal build's (S2N_PY_BUILD_CACHE or
build/native), under their own key. The harnesses load this module in place of
`s2n._s2n` (fuzz/_loader.py); everything else of `s2n` is the source tree's.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "fuzz" / "ext"


def built_module() -> Path:
    """The fuzz extension built last, or FileNotFoundError."""
    found = sorted((OUT / "s2n").glob("_s2n*.so"))
    if not found:
        raise FileNotFoundError(f"no fuzz build in {OUT}: run python -m fuzz.build")
    return found[-1]


def build() -> Path:
    os.environ["S2N_PY_FUZZ"] = "1"
    sys.path.insert(0, str(ROOT))
    import build_s2n

    start = time.monotonic()
    try:
        macros = build_s2n.prepare()
    except build_s2n.BuildError as e:
        sys.exit(f"fuzz build: {e}")
    from cffi import FFI

    ffibuilder = FFI()
    ffibuilder.cdef(build_s2n.CDEF)
    ffibuilder.set_source("s2n._s2n", build_s2n.C_SOURCE, py_limited_api=True,
                          **build_s2n._link_settings(extra_macros=macros))
    OUT.mkdir(parents=True, exist_ok=True)
    # cffi rebuilds only when the generated C changed; a new native build
    # (another cache key) must relink: remove the old module first.
    key = OUT / "native.key"
    if not key.is_file() or key.read_text() != str(build_s2n.cache_dir()):
        for old in (OUT / "s2n").glob("_s2n*.so"):
            old.unlink()
    path = ffibuilder.compile(tmpdir=str(OUT), verbose=False)
    key.write_text(str(build_s2n.cache_dir()))
    print(f"[fuzz.build] {path} ({time.monotonic() - start:.0f} s)", file=sys.stderr)
    return Path(path)


if __name__ == "__main__":
    print(build())
