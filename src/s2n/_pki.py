"""A throwaway PKI made in memory by the libcrypto inside the extension."""

from __future__ import annotations

from typing import Tuple

from ._lib import ffi, lib


def demo_pki() -> Tuple[bytes, bytes, bytes]:
    """(CA certificate, leaf certificate for localhost/127.0.0.1, leaf key),
    PEM. ECDSA P-256, valid for 7 days. For demos and benchmarks only."""
    out = ffi.new("char *[3]")
    if lib.py_make_demo_pki(out, out + 1, out + 2) != 0:
        raise RuntimeError("could not create the demo certificates")
    try:
        return tuple(ffi.string(out[i]) for i in range(3))  # type: ignore[return-value]
    finally:
        for i in range(3):
            lib.py_free(out[i])
