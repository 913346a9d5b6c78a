"""Only what cffi needs: build_s2n.py does the work (see its docstring)."""
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.command.sdist import sdist

sys.path.insert(0, str(Path(__file__).resolve().parent))


class BuildExt(build_ext):
    """Fetch and build the static s2n-tls/AWS-LC before cffi's compile step."""

    def run(self):
        import build_s2n

        try:
            macros = build_s2n.prepare()
        except build_s2n.BuildError as e:
            sys.exit(f"error: {e}")
        for ext in self.extensions:
            ext.define_macros.extend(macros)
        # setuptools relinks only when a source is newer than the built .so: another
        # native build (S2N_PY_LIBCRYPTO, S2N_TLS_SOURCE, a new pin) must force it.
        stamp = Path(self.build_temp) / "s2n-native.key"
        key = f"{build_s2n.cache_dir()}|{macros!r}"
        if not stamp.is_file() or stamp.read_text() != key:
            self.force = True
        super().run()
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(key)
        self._ship_licenses(build_s2n)

    def _ship_licenses(self, build_s2n):
        """The extension links s2n-tls and AWS-LC in: their LICENSE and NOTICE
        files go into the package (s2n/licenses/)."""
        out = Path(self.get_ext_fullpath("s2n._s2n")).parent / "licenses"
        out.mkdir(parents=True, exist_ok=True)
        for name, tree in (("s2n-tls", build_s2n.ensure_sources()),
                           ("aws-lc", build_s2n.ROOT / "vendor" / "aws-lc")):
            for doc in ("LICENSE", "NOTICE"):
                src = Path(tree) / doc
                if src.is_file():
                    (out / f"{name}-{doc}").write_bytes(src.read_bytes())


class SDist(sdist):
    """Put the pinned s2n-tls/AWS-LC trees into vendor/ first: the sdist carries
    them (MANIFEST.in grafts them), so that it builds offline."""

    def run(self):
        import build_s2n

        try:
            build_s2n.ensure_pinned_trees()
        except build_s2n.BuildError as e:
            sys.exit(f"error: {e}")
        super().run()


setup(
    cffi_modules=["build_s2n.py:ffibuilder"],
    cmdclass={"build_ext": BuildExt, "sdist": SDist},
    options={"bdist_wheel": {"py_limited_api": "cp39"}},
)
