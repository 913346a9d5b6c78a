"""Build the `s2n._s2n` cffi extension from the pinned s2n-tls and AWS-LC.

Three steps, each skipped when its result is already there:

1. sources: `vendor/s2n-tls` and `vendor/aws-lc`, extracted from the pinned
   registry sdist named in `vendor/pin.json` (downloaded with pip, sha256 checked);
2. native: AWS-LC's libcrypto, then libs2n, static and position-independent,
   built with CMake + Ninja into a cache folder keyed by the pin and the options,
   so a rebuild after a Python-only change does not compile C again;
3. the extension: cffi out-of-line API mode (`ffibuilder`, used by setup.py's
   `cffi_modules`), linked so that only `PyInit__s2n` is exported.

Environment variables (all optional):
  S2N_TLS_SOURCE      an s2n-tls source tree to build instead of the pinned one
  S2N_PY_LIBCRYPTO    "aws-lc" (default) or "system" (link the system OpenSSL 3)
  S2N_PY_SDIST        a local copy of the pinned sdist (skips the download)
  S2N_PY_BUILD_CACHE  where native builds are kept (default: build/native)
  S2N_PY_SANITIZE     sanitizers to build AWS-LC, s2n-tls and the extension
                      with, e.g. "address,undefined" (see docs/reliability.md;
                      the result only loads with the ASan runtime preloaded)
  S2N_PY_FUZZ         "1": the coverage-guided fuzzing build (see
                      docs/reliability.md): clang, s2n-tls and the extension
                      with -fsanitize=fuzzer-no-link,address, AWS-LC with ASan only;
                      its own cache folder. Compiler: S2N_PY_FUZZ_CC or clang[-NN]
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
from pathlib import Path

from cffi import FFI

ROOT = Path(__file__).resolve().parent
PIN_FILE = ROOT / "vendor" / "pin.json"


class BuildError(RuntimeError):
    """A build step failed for a reason the user can act on."""


def load_pin() -> dict:
    with open(PIN_FILE) as f:
        return json.load(f)


def log(msg: str) -> None:
    print(f"[build_s2n] {msg}", file=sys.stderr, flush=True)


# --- step 1: sources -------------------------------------------------------


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download_sdist(pin: dict, dest: Path) -> Path:
    """Fetch the pinned sdist with pip (works under build isolation: pip is a
    build requirement). Returns the archive's path."""
    spec = f"{pin['package']}=={pin['version']}"
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
           "--disable-pip-version-check", "-d", str(dest), spec]
    log(f"downloading {spec} (sdist) with pip")
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-5:])
        raise BuildError(
            f"could not download the pinned sources {spec} with pip "
            f"(exit {proc.returncode}). Check network access to the package index, or set "
            f"S2N_PY_SDIST to a local copy of the sdist, or S2N_TLS_SOURCE to an s2n-tls tree.\n"
            f"pip said:\n{tail}")
    found = sorted(dest.glob(f"{pin['package']}-{pin['version']}.tar.gz"))
    if not found:
        raise BuildError(f"pip reported success but no {pin['package']}-{pin['version']}.tar.gz "
                         f"is in {dest}")
    return found[0]


def verify_and_extract(archive: Path, pin: dict, root: Path = ROOT) -> None:
    """Check the archive against the pin, then extract only the pinned trees."""
    if not archive.is_file():
        raise BuildError(f"pinned sdist not found: {archive}")
    actual = sha256_of(archive)
    if actual != pin["sha256"]:
        raise BuildError(
            f"sha256 mismatch for {archive.name}: expected {pin['sha256']}, got {actual}. "
            f"The download is corrupted or not the pinned release; delete it and retry.")
    prefix = f"{pin['package']}-{pin['version']}/"
    staging = Path(tempfile.mkdtemp(prefix="s2n-extract-", dir=root / "vendor"))
    try:
        try:
            with tarfile.open(archive, "r:gz") as tar:
                wanted = [m for m in tar.getmembers()
                          if any(m.name.startswith(prefix + src + "/") for src in pin["trees"])]
                if not wanted:
                    raise BuildError(f"{archive.name} holds none of {list(pin['trees'])}")
                kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                for m in wanted:
                    if m.issym() or m.islnk() or ".." in Path(m.name).parts or m.name.startswith("/"):
                        continue  # nothing the build needs; refuse anything that could escape
                    tar.extract(m, staging, **kwargs)
        except (tarfile.TarError, EOFError, OSError) as e:
            raise BuildError(f"cannot read {archive.name}: {e}") from e
        for src, dst in pin["trees"].items():
            target = root / dst
            if target.exists():
                shutil.rmtree(target)
            (staging / prefix / src).rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def ensure_pinned_trees() -> None:
    """Extract the pinned trees unless they are already in vendor/."""
    pin = load_pin()
    if all((ROOT / dst / "CMakeLists.txt").is_file() for dst in pin["trees"].values()):
        return
    local = os.environ.get("S2N_PY_SDIST")
    if local:
        verify_and_extract(Path(local), pin)
        return
    with tempfile.TemporaryDirectory(prefix="s2n-sdist-") as tmp:
        verify_and_extract(download_sdist(pin, Path(tmp)), pin)


def ensure_sources() -> Path:
    """Return the s2n-tls source tree: S2N_TLS_SOURCE, or the pinned one."""
    override = os.environ.get("S2N_TLS_SOURCE")
    if override:
        tree = Path(override).resolve()
        if not (tree / "api" / "s2n.h").is_file():
            raise BuildError(f"S2N_TLS_SOURCE={override} is not an s2n-tls tree (no api/s2n.h)")
        return tree
    ensure_pinned_trees()
    return ROOT / load_pin()["trees"]["crt/s2n"]


# --- step 2: native static libraries -----------------------------------------


def libcrypto_choice() -> str:
    choice = os.environ.get("S2N_PY_LIBCRYPTO", "aws-lc").lower()
    if choice not in ("aws-lc", "system"):
        raise BuildError(f"S2N_PY_LIBCRYPTO must be 'aws-lc' or 'system', not {choice!r}")
    return choice


# Sanitizers S2N_PY_SANITIZE may name: the ones that work in a shared object
# loaded into an uninstrumented Python with the runtime preloaded (gcc and clang).
SANITIZERS = ("address", "undefined")


def sanitize_choice() -> tuple:
    """The sanitizers of S2N_PY_SANITIZE, checked, sorted and deduplicated
    ("" or unset: none). "undefined,address" and "address,undefined" are one
    build, so they share one cache folder."""
    raw = os.environ.get("S2N_PY_SANITIZE", "")
    names = sorted({n.strip().lower() for n in raw.split(",") if n.strip()})
    bad = [n for n in names if n not in SANITIZERS]
    if bad:
        raise BuildError(f"S2N_PY_SANITIZE: unknown sanitizer(s) {bad}; "
                         f"choose from {list(SANITIZERS)}, comma-separated")
    if names and not sys.platform.startswith("linux"):
        raise BuildError("S2N_PY_SANITIZE is supported on Linux only (the runtime is "
                         "LD_PRELOADed into an uninstrumented Python)")
    return tuple(names)


def sanitize_flags() -> list:
    """Compiler (and linker) flags for the sanitizer build, or [].
    Frame pointers and no sibling calls keep the reports' stacks whole; -g1
    gives them file:line without the size of full debug info."""
    names = sanitize_choice()
    if not names:
        return []
    return [f"-fsanitize={','.join(names)}", "-fno-omit-frame-pointer",
            "-fno-optimize-sibling-calls", "-g1"]


def awslc_sanitize_warnings() -> list:
    """AWS-LC builds with -Werror. Under -fsanitize, GCC's object-size warnings
    (array-bounds, stringop-overflow/-overread) fire on code they cannot see
    through (GCC documents the sanitizers as a source of such false positives;
    AWS-LC demotes the same three for its GCC test targets): keep them
    warnings, in the sanitizer build and with GCC only (clang knows no
    -Wstringop-*)."""
    if not sanitize_choice():
        return []
    cc = os.environ.get("CC", "cc")
    try:
        version = subprocess.run([cc, "--version"], capture_output=True, text=True).stdout
    except OSError:
        return []
    if "clang" in version.lower() or "Free Software Foundation" not in version:
        return []
    return ["-Wno-error=array-bounds", "-Wno-error=stringop-overflow",
            "-Wno-error=stringop-overread"]
# --- the fuzzing build (S2N_PY_FUZZ=1) ---------------------------------------

# s2n-tls and our glue get libFuzzer's coverage counters and ASan; AWS-LC gets
# ASan only: its edges (constant-time crypto) would only dilute the corpus.
FUZZ_CFLAGS = "-fsanitize=fuzzer-no-link,address -fno-omit-frame-pointer -g"
FUZZ_AWSLC_CFLAGS = "-fsanitize=address -fno-omit-frame-pointer -g"


def fuzz_build() -> bool:
    value = os.environ.get("S2N_PY_FUZZ", "")
    if value not in ("", "0", "1"):
        raise BuildError(f"S2N_PY_FUZZ must be 1 or unset, not {value!r}")
    return value == "1"


def fuzz_compilers() -> tuple:
    """(cc, cxx): clang is needed for -fsanitize=fuzzer-no-link."""
    cc = os.environ.get("S2N_PY_FUZZ_CC")
    if not cc:
        for name in ["clang"] + [f"clang-{v}" for v in range(20, 13, -1)]:
            if shutil.which(name):
                cc = name
                break
    if not cc or not shutil.which(cc):
        raise BuildError("S2N_PY_FUZZ=1 needs clang (apt-get install clang), or "
                         "S2N_PY_FUZZ_CC naming it")
    cc = shutil.which(cc)
    cxx = cc.replace("clang", "clang++", 1) if "clang++" not in cc else cc
    if not os.path.exists(cxx):
        cxx = cc
    return cc, cxx


def fuzz_use_compiler() -> None:
    """Make setuptools/cffi compile and link the extension with clang."""
    cc, _ = fuzz_compilers()
    os.environ["CC"] = cc
    os.environ["LDSHARED"] = f"{cc} -shared"


def tree_digest(tree: Path) -> str:
    """A fast fingerprint of a source tree: every file's path, size and mtime.
    Hidden folders (.git) and the language bindings (Rust target/ folders can
    hold tens of thousands of files) are skipped: the C build reads neither."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(tree):
        top = dirpath == str(tree)
        dirnames[:] = sorted(d for d in dirnames
                             if not d.startswith(".") and not (top and d == "bindings"))
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            try:
                st = os.stat(path)
            except OSError:
                continue
            h.update(f"{os.path.relpath(path, tree)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def cache_dir() -> Path:
    """Native builds live under a key of everything that changes their output."""
    pin = load_pin()
    override = os.environ.get("S2N_TLS_SOURCE", "")
    # The pinned trees are fixed by the pin's sha256; an S2N_TLS_SOURCE tree is
    # not: its contents go into the key, so an edited tree is rebuilt.
    tree = tree_digest(Path(override).resolve()) if override else ""
    key = "|".join([pin["sha256"], libcrypto_choice(), override, tree,
                    sysconfig.get_platform(), "-".join(platform.libc_ver()),
                    str(sysconfig.get_config_var("HOST_GNU_TYPE")), "v2"]
                   + ([f"fuzz|{FUZZ_CFLAGS}|{FUZZ_AWSLC_CFLAGS}|{fuzz_compilers()[0]}"]
                      if fuzz_build() else []))
    sanitize = sanitize_choice()
    if sanitize:
        # Appended only when set, so the normal build keeps its cache key.
        key += "|sanitize=" + ",".join(sanitize)
    base = Path(os.environ.get("S2N_PY_BUILD_CACHE", ROOT / "build" / "native"))
    return base.resolve() / hashlib.sha256(key.encode()).hexdigest()[:16]


def tool(name: str) -> str:
    """cmake/ninja from PyPI (build requirements) or the PATH. The cmake wheel's
    module names its folder CMAKE_BIN_DIR, the ninja wheel's BIN_DIR."""
    try:
        mod = __import__(name)
    except ImportError:
        mod = None
    for attr in (f"{name.upper()}_BIN_DIR", "BIN_DIR"):
        folder = getattr(mod, attr, None)
        if folder:
            path = Path(folder) / name
            if path.is_file() and os.access(path, os.X_OK):
                return str(path)
    found = shutil.which(name)
    if not found:
        raise BuildError(f"{name} not found: install it (pip install {name})")
    return found


def run(cmd: list, logfile: Path) -> None:
    with open(logfile, "w") as out:
        proc = subprocess.run([str(c) for c in cmd], stdout=out, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = "\n".join(logfile.read_text(errors="replace").splitlines()[-30:])
        raise BuildError(f"command failed: {' '.join(map(str, cmd))}\n(log: {logfile})\n{tail}")


def cmake_project(src: Path, build: Path, prefix: Path, options: list,
                  extra_flags: list = ()) -> None:
    build.mkdir(parents=True, exist_ok=True)
    # s2n-tls puts __FILE__ into its error debug strings: record paths relative
    # to the project, not this machine's build folder.
    flags = " ".join([f"-ffile-prefix-map={src}/={src.name}/", *sanitize_flags(), *extra_flags])
    if fuzz_build():
        cc, cxx = fuzz_compilers()
        options = [f"-DCMAKE_C_COMPILER={cc}", f"-DCMAKE_CXX_COMPILER={cxx}", *options]
    jobs = str(os.cpu_count() or 2)
    run([tool("cmake"), "-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={tool('ninja')}",
         "-S", src, "-B", build, "-DCMAKE_BUILD_TYPE=Release",
         "-DBUILD_SHARED_LIBS=OFF", "-DCMAKE_POSITION_INDEPENDENT_CODE=ON",
         "-DBUILD_TESTING=OFF", f"-DCMAKE_INSTALL_PREFIX={prefix}",
         "-DCMAKE_INSTALL_LIBDIR=lib", f"-DCMAKE_C_FLAGS={flags}", f"-DCMAKE_CXX_FLAGS={flags}",
         *options], build / "configure.log")
    run([tool("cmake"), "--build", build, "--target", "install", "--parallel", jobs],
        build / "build.log")


def build_native() -> Path:
    """Build (or reuse) the static libraries; return the install prefix."""
    s2n_src = ensure_sources()
    out = cache_dir()
    prefix = out / "install"
    stamp = out / "done.json"
    if stamp.is_file():
        return prefix
    crypto = libcrypto_choice()
    s2n_opts = ["-DS2N_STACKTRACE=OFF", "-DUNSAFE_TREAT_WARNINGS_AS_ERRORS=OFF"]
    # What s2n-tls's own ASAN option defines (its memory is left in core dumps).
    s2n_flags = ["-DS2N_ADDRESS_SANITIZER=1"] if "address" in sanitize_choice() else []
    if sanitize_choice():
        log(f"sanitizer build: {','.join(sanitize_choice())} (slower to build and to run)")
    if crypto == "aws-lc":
        ensure_pinned_trees()
        awslc_src = ROOT / load_pin()["trees"]["crt/aws-lc"]
        log("building AWS-LC libcrypto (static) ... about a minute on 2 cores")
        cmake_project(awslc_src, out / "aws-lc", prefix,
                      ["-DBUILD_LIBSSL=OFF", "-DDISABLE_GO=ON", "-DDISABLE_PERL=ON",
                       "-DBUILD_TOOL=OFF"],
                      awslc_sanitize_warnings() + (FUZZ_AWSLC_CFLAGS.split() if fuzz_build() else []))
        s2n_opts += [f"-DCMAKE_PREFIX_PATH={prefix}",
                     "-DS2N_ENFORCE_PROPER_LIBCRYPTO_FEATURE_PROBE=ON"]
    else:
        s2n_opts += ["-DS2N_USE_CRYPTO_SHARED_LIBS=ON"]
    log("building s2n-tls (static) ...")
    cmake_project(s2n_src, out / "s2n-tls", prefix, s2n_opts,
                  list(s2n_flags) + (FUZZ_CFLAGS.split() if fuzz_build() else []))
    stamp.write_text(json.dumps({"libcrypto": crypto, "s2n_tls_source": str(s2n_src),
                                 "sanitize": ",".join(sanitize_choice()), "fuzz": fuzz_build()}))
    return prefix


def s2n_version(s2n_src: Path) -> str:
    """The C library carries no release number; the Rust bindings in the same tree do."""
    cargo = s2n_src / "bindings" / "rust" / "extended" / "s2n-tls" / "Cargo.toml"
    try:
        for line in cargo.read_text().splitlines():
            if line.startswith("version"):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "unknown"


def build_macros(s2n_src: Path) -> list:
    """Facts recorded into the extension for `s2n.version_info()`."""
    pin = load_pin()
    source = ("S2N_TLS_SOURCE" if os.environ.get("S2N_TLS_SOURCE")
              else f"{pin['package']} {pin['version']} sdist")
    return [("S2N_PY_S2N_VERSION", '"%s"' % s2n_version(s2n_src)),
            ("S2N_PY_S2N_SOURCE", '"%s"' % source)]


# --- step 3: the cffi extension ----------------------------------------------

# The declarations cffi sees and our C: `_cdef.h`/`_glue.c`, then one
# `_cdef_<feature>.h`/`_glue_<feature>.c` pair per feature, in name order.
_SRC = ROOT / "src" / "s2n"
CDEF = "\n".join(p.read_text() for p in [_SRC / "_cdef.h", *sorted(_SRC.glob("_cdef_*.h"))])
C_SOURCE = "\n".join(p.read_text() for p in [_SRC / "_glue.c", *sorted(_SRC.glob("_glue_*.c"))])


def _link_settings(extra_macros: list = ()) -> dict:
    prefix = cache_dir() / "install"
    libdir = prefix / "lib"
    crypto = libcrypto_choice()
    objects = [str(libdir / "libs2n.a")]
    libraries = []
    if crypto == "aws-lc":
        objects.append(str(libdir / "libcrypto.a"))
    else:
        libraries.append("crypto")
    link_args = []
    if sys.platform.startswith("linux"):
        libraries += ["pthread", "dl", "rt", "m"]
        # Hide every symbol of the static libraries, and export nothing but the
        # module init: Python's own ssl module loads OpenSSL into this process.
        link_args += ["-Wl,--exclude-libs,ALL",
                      f"-Wl,--version-script={ROOT / 'src' / 's2n' / '_exports.map'}"]
    elif sys.platform == "darwin":
        link_args += ["-Wl,-exported_symbol,_PyInit__s2n"]
    # A sanitizer build instruments our C too, and links the sanitizer runtimes
    # (libasan/libubsan become DT_NEEDED; the symbol hiding above still holds).
    sanitize = sanitize_flags()
    compile_args = ["-O2", "-fvisibility=hidden", *sanitize]
    if fuzz_build():
        # The ASan and libFuzzer runtimes are not linked in: the fuzz runner
        # preloads atheris's asan_with_fuzzer.so into the interpreter.
        fuzz_use_compiler()
        compile_args += FUZZ_CFLAGS.split()
    return dict(include_dirs=[str(prefix / "include")], extra_objects=objects,
                libraries=libraries, extra_link_args=link_args + sanitize,
                extra_compile_args=compile_args,
                define_macros=list(extra_macros))


ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source("s2n._s2n", C_SOURCE, py_limited_api=True, **_link_settings())


def prepare() -> list:
    """Everything the extension's compile step needs (called by setup.py's
    build_ext); returns the macros to add to the extension."""
    s2n_src = ensure_sources()
    build_native()
    return build_macros(s2n_src)


if __name__ == "__main__":
    try:
        macros = prepare()
    except BuildError as e:
        sys.exit(f"build_s2n: {e}")
    ffibuilder.set_source("s2n._s2n", C_SOURCE, py_limited_api=True,
                          **_link_settings(extra_macros=macros))
    ffibuilder.compile(tmpdir=str(ROOT), verbose=True)
