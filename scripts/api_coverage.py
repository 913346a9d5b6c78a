"""How much of s2n-tls's public API this package reaches.

    python scripts/api_coverage.py [--list] [--s2n-tls DIR]

Counts the functions declared in s2n-tls's `api/s2n.h` and `api/unstable/*.h`
(the pinned tree in vendor/s2n-tls unless --s2n-tls says otherwise) and, of
those, the ones this package reaches: declared to cffi (`src/s2n/_cdef*.h`,
so callable from Python) or called from our C (`src/s2n/_glue*.c`).
--list prints the names reached and not reached per header.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DECL = re.compile(r"S2N_API\s+(?:extern\s+)?[\w\s\*]*?\b(s2n_\w+)\s*\(", re.S)
CALL = re.compile(r"\b(s2n_\w+)\s*\(")


def declared(header: Path) -> list:
    text = re.sub(r"/\*.*?\*/", "", header.read_text(), flags=re.S)  # not the examples in comments
    return sorted(set(DECL.findall(text)))


def reached() -> set:
    names: set = set()
    src = ROOT / "src" / "s2n"
    for path in [*src.glob("_cdef*.h"), *src.glob("_glue*.c")]:
        names.update(CALL.findall(path.read_text()))
    return names


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--s2n-tls", type=Path, default=ROOT / "vendor" / "s2n-tls")
    args = ap.parse_args()
    api = args.s2n_tls / "api"
    ours = reached()
    groups = {"s2n.h": declared(api / "s2n.h"), "unstable": []}
    for header in sorted((api / "unstable").glob("*.h")):
        groups["unstable"] += declared(header)
    for name, funcs in groups.items():
        hit = [f for f in funcs if f in ours]
        print(f"{name}: {len(hit)} of {len(funcs)} functions reached ({100 * len(hit) // max(1, len(funcs))}%)")
        if args.list:
            print("  reached:", " ".join(hit))
            print("  not reached:", " ".join(f for f in funcs if f not in ours))


if __name__ == "__main__":
    main()
