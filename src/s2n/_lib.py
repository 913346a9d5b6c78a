"""The compiled module, initialised once per process.

Import of this module runs under Python's import lock, so `s2n_init` runs
exactly once even when several threads import `s2n` at the same time. There is
deliberately no matching `s2n_cleanup_final`: run at exit it would tear global
state out from under Configs and Connections that are still being finalized.
"""

from typing import TYPE_CHECKING

from ._s2n import ffi, lib

if TYPE_CHECKING:
    from ._s2n import CData as CData
else:
    CData = ffi.CData  # the type of every cdata object (for annotations)

if lib.py_init() != 0:  # pragma: no cover - only on a broken build or platform
    _err = lib.py_last_error()
    raise ImportError(
        "s2n_init failed: "
        + ffi.string(lib.s2n_strerror_name(_err.s2n_errno)).decode()
        + " "
        + ffi.string(lib.s2n_strerror(_err.s2n_errno, b"EN")).decode()
    )

__all__ = ["CData", "ffi", "lib"]
