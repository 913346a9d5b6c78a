#!/usr/bin/env bash
# Coverage-guided fuzzing of s2n-tls and our C through the binding (atheris +
# libFuzzer, ASan). See docs/reliability.md.
#
#   scripts/fuzz.sh HARNESS SECONDS [-- libFuzzer flags]
#   scripts/fuzz.sh all 600
#
# HARNESS: peer_bytes, io_callbacks or all; SECONDS 0 = until Ctrl-C.
# Needs clang (apt-get install clang) and atheris (pip install atheris) in the
# Python that has s2n's build requirements (cffi); PYTHON picks it (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if [ $# -lt 1 ]; then
    sed -n '2,10p' "$0"
    exit 2
fi
exec "$PY" -m fuzz "$@"
