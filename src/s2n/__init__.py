"""s2n-tls for Python: the real s2n-tls C library (with AWS-LC) through cffi.

    import s2n
    config = s2n.Config()
    conn = s2n.Connection(s2n.Mode.CLIENT, config)

Names follow the C API without its `s2n_`/`s2n_config_`/`s2n_connection_`
prefixes, so the s2n-tls usage guide reads directly onto Python.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Dict

from ._enums import AlertBehavior, Blinding, Blocked, ClientAuth, ErrorType, Mode, ProtocolVersion
from ._enums import EarlyDataStatus, PskHmac, PskMode, RenegotiateResponse, SerializationVersion
from ._enums import HashAlgorithm, SignatureAlgorithm  # issue 16
from ._errors import (
    AlertError,
    BlockedError,
    ClosedError,
    InternalError,
    IOError as IOError,  # noqa: A004 - s2n.IOError; not in __all__ so `import *` keeps the builtin
    ProtocolError,
    S2NError,
    UsageError,
    WantReadError,
    WantWriteError,
)
from ._client_hello import ClientHello
from ._enums import ClientHelloCbMode, PeerKeyUpdate
from ._keys import KeyUpdateCounts
from ._lib import CData as _CData
from ._lib import ffi as _ffi
from ._lib import lib as _lib
from ._enums import CtSupportLevel, StatusRequestType
from ._ocsp import CertChainAndKey
from ._psk import ExternalPsk
from ._session_cache import SessionIdCache
from ._early_data import OfferedEarlyData, ReplayGuard
from ._enums import AsyncPkeyOpType, AsyncPkeyValidationMode
from ._pkey import AsyncPkeyOp
from ._validation import CertValidationInfo
from .config import Config
from .connection import Connection
from .memory import MemoryBIO
from .socket import TLSSocket, wrap_socket

if TYPE_CHECKING:  # imported on first use (__getattr__ below); checkers see it always
    from . import asyncio as asyncio

from ._version import __version__


def version_info() -> Dict[str, str]:
    """What this build carries: the s2n-tls version recorded at build time,
    where its source came from, and the libcrypto linked in."""
    def s(p: _CData) -> str:
        return _ffi.string(p).decode()

    return {
        "s2n": __version__,
        "s2n_tls": s(_lib.py_s2n_tls_version()),
        "s2n_tls_source": s(_lib.py_s2n_tls_source()),
        "libcrypto": s(_lib.py_libcrypto_version()),
    }


def __getattr__(name: str) -> ModuleType:
    # `s2n.asyncio` without importing it (and asyncio) in every program.
    if name == "asyncio":
        import importlib

        return importlib.import_module(".asyncio", __name__)
    raise AttributeError(f"module 's2n' has no attribute {name!r}")


__all__ = [
    "AlertBehavior", "AlertError", "Blinding", "Blocked", "BlockedError", "ClientAuth",
    "ClosedError", "Config", "Connection", "ErrorType", "InternalError", "MemoryBIO", "Mode",
    "ProtocolError", "ProtocolVersion", "S2NError", "TLSSocket", "UsageError", "WantReadError",
    "WantWriteError", "__version__", "version_info", "wrap_socket",
    # TLS features beyond the chapter
    "CertChainAndKey", "CertValidationInfo", "ClientHello", "ClientHelloCbMode", "CtSupportLevel",
    "KeyUpdateCounts", "PeerKeyUpdate", "RenegotiateResponse", "SerializationVersion",
    "StatusRequestType", "ExternalPsk", "PskHmac", "PskMode", "EarlyDataStatus", "OfferedEarlyData",
    "ReplayGuard", "AsyncPkeyOp", "AsyncPkeyOpType", "AsyncPkeyValidationMode", "HashAlgorithm",
    "SignatureAlgorithm", "SessionIdCache",
]
