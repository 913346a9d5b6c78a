"""Sphinx configuration: the guide (MyST Markdown) and the API reference (autodoc).

Build: ``python -m sphinx -W -b html docs docs/_build/html`` (tests/test_docs.py
runs the same build with warnings as errors).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import s2n

project = "s2n-tls for Python"
author = "s2n-tls for Python contributors"
copyright = "the s2n-tls for Python contributors"
release = s2n.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build"]
myst_heading_anchors = 3
# Blocks in ``text``, ``console`` and friends are shown as they are.
highlight_language = "python3"

autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "description"

# Python's own documentation, read offline. No network is needed (or used) to
# build: the inventory comes from a local copy of Python's HTML docs (Debian's
# python3-doc package, which .ci/run installs), or from the file named by
# S2N_PY_DOCS_PYTHON_INV ("none": behave as if there were none). Without one,
# the build still succeeds and stays warning-free: references to Python's docs
# are then plain text instead of links (tests/test_docs.py says so in a skip;
# .ci/run makes its absence a failure).
def _python_inventory() -> str | None:
    if os.environ.get("S2N_PY_DOCS_PYTHON_INV") == "none":  # build as where it is absent
        return None
    candidates = [os.environ.get("S2N_PY_DOCS_PYTHON_INV", "")]
    ver = f"{sys.version_info[0]}.{sys.version_info[1]}"
    candidates += [f"/usr/share/doc/python{ver}/html/objects.inv",
                   "/usr/share/doc/python3/html/objects.inv"]
    for c in candidates:
        if c and Path(c).is_file():
            return c
    return None


PYTHON_INVENTORY = _python_inventory()
intersphinx_mapping = {}
if PYTHON_INVENTORY:
    intersphinx_mapping["python"] = ("https://docs.python.org/3", PYTHON_INVENTORY)

html_theme = "alabaster"
html_title = f"s2n-tls for Python {release}"
