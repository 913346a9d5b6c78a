#!/usr/bin/env bash
# The sanitizer proof (docs/reliability.md, "Sanitizer build"): build AWS-LC,
# s2n-tls and the extension with AddressSanitizer + UndefinedBehaviorSanitizer
# and run the test suite under them. Exits non-zero when the build or a test
# fails, or when any sanitizer report was written (by any process of the run:
# the tests' subprocesses inherit the sanitizer environment).
#
#   bash scripts/ci_sanitize.sh [extra pytest arguments]
#
# Environment:
#   S2N_PY_SANITIZE     sanitizers (default: address,undefined)
#   S2N_PY_BUILD_CACHE  native build cache (default: this repository's
#                       build/native; the sanitizer build has its own key there)
#   S2N_PY_SANITIZE_KEEP=1  keep the temporary folder (venv, copy, logs)
#
# Nothing in the working tree is written but build/native/<key>: the package is
# built from a copy of the tree (tracked and untracked-but-not-ignored files)
# into a venv in a temporary folder, so an editable install is left alone.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

sanitize="${S2N_PY_SANITIZE:-address,undefined}"
export S2N_PY_BUILD_CACHE="${S2N_PY_BUILD_CACHE:-$root/build/native}"
py="${PYTHON:-python3}"

case "$(uname -s)" in
    Linux) ;;
    *) echo "ci_sanitize: Linux only (the ASan runtime is LD_PRELOADed)" >&2; exit 2 ;;
esac
cc="${CC:-cc}"
asan_rt="$("$cc" -print-file-name=libasan.so)"
if [ ! -e "$asan_rt" ] || [ "$asan_rt" = "libasan.so" ]; then
    echo "ci_sanitize: $cc has no libasan.so (Debian/Ubuntu: apt-get install gcc)" >&2
    exit 2
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/s2n-sanitize.XXXXXX")"
if [ "${S2N_PY_SANITIZE_KEEP:-0}" = 1 ]; then
    echo "ci_sanitize: keeping $tmp"
else
    trap 'rm -rf "$tmp"' EXIT
fi
t0=$SECONDS
stamp() { echo "ci_sanitize: [$((SECONDS - t0)) s] $*"; }

# 1. a venv with the build requirements (no build isolation: one download)
"$py" -m venv "$tmp/venv"
vpy="$tmp/venv/bin/python"
"$vpy" -m pip install -q --disable-pip-version-check \
    "setuptools>=77" wheel "cffi>=1.17" "cmake>=3.20" ninja

# 2. the pinned sources, extracted once into this tree's vendor/ (as a normal
#    build does), then a copy of the tree that links to them
"$vpy" -c "import sys; sys.path.insert(0, '.'); import build_s2n as b; b.ensure_pinned_trees()"
mkdir "$tmp/src"
git ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
    | tar --null -T - -cf - | tar -C "$tmp/src" -xf -
for tree in s2n-tls aws-lc; do
    rm -rf "$tmp/src/vendor/$tree"
    ln -s "$root/vendor/$tree" "$tmp/src/vendor/$tree"
done

# 3. the sanitizer build: native libraries (cached), then the extension
stamp "building with S2N_PY_SANITIZE=$sanitize (native cache: $S2N_PY_BUILD_CACHE)"
if ! S2N_PY_SANITIZE="$sanitize" "$vpy" -m pip install -q --disable-pip-version-check \
        --no-build-isolation "$tmp/src[test]" >"$tmp/build.log" 2>&1; then
    tail -n 60 "$tmp/build.log" >&2
    echo "ci_sanitize: build failed" >&2
    exit 1
fi
# (found without importing it: it loads only with the ASan runtime preloaded)
so="$(cd "$tmp" && "$vpy" -c "import importlib.util as u, pathlib as p
print(*p.Path(u.find_spec('s2n').origin).parent.glob('_s2n*.so'))")"
stamp "built $so"
# The extension must be instrumented (else this whole run proves nothing) ...
if [[ "$sanitize" == *address* ]]; then
    # (grep -c, not -q: -q closes the pipe early, a SIGPIPE under pipefail)
    [ "$(readelf -d "$so" | grep -c 'NEEDED.*libasan')" -gt 0 ] \
        || { echo "ci_sanitize: $so is not linked with ASan" >&2; exit 1; }
fi
if [[ "$sanitize" == *undefined* ]]; then
    [ "$(nm -D --undefined-only "$so" | grep -c '__ubsan_handle_')" -gt 0 ] \
        || { echo "ci_sanitize: $so has no UBSan checks" >&2; exit 1; }
fi
# ... and still export nothing but the module init (the version script and
# --exclude-libs hold in the sanitizer build too).
exported="$(nm -D --defined-only "$so" | awk '{print $NF}')"
[ "$exported" = "PyInit__s2n" ] \
    || { echo "ci_sanitize: $so exports more than PyInit__s2n: $exported" >&2; exit 1; }

# 4. the suite under the sanitizers
reports="$tmp/reports"
mkdir "$reports"
# The test peers are not our code: they run without the ASan runtime (curl
# hangs with it preloaded; the JVM's own SIGSEGV handling meets ASan's; the
# others would only report their own exit-time leaks). Everything that runs our code is a Python process: sanitized.
mkdir "$tmp/bin"
for peer in curl openssl gnutls-cli gnutls-serv java; do
    real="$(command -v "$peer" || true)"
    [ -n "$real" ] || continue
    printf '#!/bin/sh\nunset LD_PRELOAD\nexec %q "$@"\n' "$real" >"$tmp/bin/$peer"
    chmod +x "$tmp/bin/$peer"
done
export PATH="$tmp/bin:$PATH"
export LD_PRELOAD="$asan_rt${LD_PRELOAD:+:$LD_PRELOAD}"
# CPython's small-object allocator hides Python objects' memory from ASan:
# plain malloc lets it see them.
export PYTHONMALLOC=malloc
# detect_leaks=0: see docs/reliability.md ("Leaks"). allocator_may_return_null:
# a failed huge allocation is a MemoryError in Python, not an abort.
# log_path: every process of the run (the tests' subprocesses, the CLI server,
# the interop peers) writes its reports to its own file in $reports.
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:allocator_may_return_null=1:log_path=$reports/asan"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$reports/ubsan"
# Only the Python code of the copy, never the editable tree's.
unset PYTHONPATH

stamp "running the suite under $sanitize"
cd "$tmp/src"
rc=0
# -m "not build": those tests build the package again from source (minutes of
# compiling under LD_PRELOAD, proving nothing about memory safety).
# tests/test_types.py: static type checks (mypy, pyright's Node), which run
# none of our C.
"$vpy" -m pytest -p no:cacheprovider -q -m "not build" --ignore=tests/test_types.py "$@" || rc=$?
cd "$root"
unset LD_PRELOAD
stamp "pytest exit status $rc"

# 5. leaks: one Python process doing the library's work many times over, with
#    LeakSanitizer on and only the suppressions of scripts/lsan.supp (the suite
#    runs with detect_leaks=0: see docs/reliability.md, "Leaks").
lsan_env=(env "LD_PRELOAD=$asan_rt" "ASAN_OPTIONS=${ASAN_OPTIONS/detect_leaks=0/detect_leaks=1}"
          "LSAN_OPTIONS=suppressions=$tmp/src/scripts/lsan.supp:print_suppressions=0")
stamp "leak check (scripts/sanitize_leaks.py)"
(cd "$tmp" && "${lsan_env[@]}" "$vpy" "$tmp/src/scripts/sanitize_leaks.py" --rounds 100) \
    || { echo "ci_sanitize: the leak check failed (exit $?)" >&2; rc=1; }

# 6. canaries: a leak of s2n connections, and an s2n connection freed twice
#    (s2n-tls reads the freed struct: a heap-use-after-free inside its
#    instrumented code), on purpose, must each be reported, or this run proved
#    nothing.
for canary in leak use-after-free; do
    mkdir "$tmp/canary-$canary"
    (cd "$tmp" && env "LD_PRELOAD=$asan_rt" \
        "ASAN_OPTIONS=detect_leaks=1:log_path=$tmp/canary-$canary/asan" \
        "LSAN_OPTIONS=suppressions=$tmp/src/scripts/lsan.supp" \
        "$vpy" "$tmp/src/scripts/sanitize_leaks.py" --canary "$canary" >/dev/null 2>&1) || true
    want="LeakSanitizer: detected memory leaks"
    [ "$canary" = leak ] || want="AddressSanitizer: heap-use-after-free"
    if ! grep -qs "$want" "$tmp/canary-$canary"/* \
            || ! grep -qs "in s2n_connection_" "$tmp/canary-$canary"/*; then
        echo "ci_sanitize: the $canary canary was not reported: the sanitizers are not live" >&2
        rc=1
    fi
done
stamp "canaries reported"

found=0
for f in "$reports"/*; do
    [ -e "$f" ] || continue
    found=1
    echo "=== sanitizer report: $(basename "$f") ==="
    cat "$f"
done
if [ "$found" -ne 0 ]; then
    echo "ci_sanitize: FAILED: sanitizer reports above" >&2
    exit 1
fi
if [ "$rc" -ne 0 ]; then
    echo "ci_sanitize: FAILED: the test suite failed under $sanitize" >&2
    exit "$rc"
fi
stamp "OK: no sanitizer report, the suite passed under $sanitize"
