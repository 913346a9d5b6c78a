"""Only what cffi needs: build_s2n.py does the work (see its docstring)."""
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

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
        super().run()


setup(
    cffi_modules=["build_s2n.py:ffibuilder"],
    cmdclass={"build_ext": BuildExt},
    options={"bdist_wheel": {"py_limited_api": "cp39"}},
)
