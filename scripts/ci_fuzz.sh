#!/usr/bin/env bash
# CI's bounded fuzzing run: build the instrumented extension (S2N_PY_FUZZ=1;
# its native libraries are cached like the normal build's, in
# $S2N_PY_BUILD_CACHE or build/native), then run each harness for
# FUZZ_SECONDS (default 90) from the committed seed corpus. Fails on a crash,
# an ASan report, an undocumented exception or a timeout; the failing input
# is left in build/fuzz/artifacts/HARNESS/ and the log in build/fuzz/.
#
#   bash scripts/ci_fuzz.sh            # uses python3 (or $PYTHON): a venv with s2n's build deps
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
SECONDS_EACH="${FUZZ_SECONDS:-90}"

need_clang=1
for cc in clang clang-20 clang-19 clang-18 clang-17 clang-16 clang-15 clang-14; do
    if command -v "$cc" >/dev/null 2>&1; then need_clang=0; break; fi
done
if [ "$need_clang" = 1 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq clang >/dev/null
fi
# atheris (its wheel carries libFuzzer and the ASan runtime), and s2n's build
# requirements: a venv with s2n installed has none of them (build isolation).
"$PY" -c "import atheris, cffi, setuptools, cmake, ninja" 2>/dev/null \
    || "$PY" -m pip install -q atheris cffi setuptools cmake ninja

start=$(date +%s)
rc=0
"$PY" -m fuzz all "$SECONDS_EACH" || rc=$?
echo "ci_fuzz: $(( $(date +%s) - start )) s"
exit $rc
