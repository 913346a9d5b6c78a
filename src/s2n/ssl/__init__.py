"""`s2n.ssl`: the `ssl` module's interface, with s2n-tls doing the TLS.

    import s2n.ssl
    ctx = s2n.ssl.create_default_context(cafile="ca.pem")
    urllib3.PoolManager(ssl_context=ctx)       # or httpx.Client(verify=ctx), ...
    s2n.ssl.inject_into_ssl()                  # for code you cannot edit

`SSLContext` is a subclass of `ssl.SSLContext` (asyncio, urllib3, aiohttp
check `isinstance`). The stdlib context object keeps every setting and does
the stdlib's checks; s2n-tls does the handshakes and the records:
`wrap_socket` gives an `SSLSocket` (a socket whose fd s2n-tls reads and
writes itself) and `wrap_bio` an `SSLObject` over the stdlib's
`ssl.MemoryBIO`s. Exceptions and constants are the stdlib's own objects, so
every `except ssl.SSLError` keeps working.

What differs, by necessity:

- cipher suites come from s2n-tls security policies: `set_ciphers` accepts
  strings that keep s2n-tls's suites (uvicorn's "TLSv1", "DEFAULT", ...),
  `set_security_policy(name)` picks a policy; TLS 1.0/1.1 are not offered;
- `set_ecdh_curve`, `load_dh_params`, NPN and PSK callbacks raise
  NotImplementedError; post-handshake client authentication is not offered;
- `get_ca_certs()`, `cert_store_stats()`, `session_stats()` and
  `get_ciphers()` report the stdlib context's own view.
"""

from __future__ import annotations

import os as _os
import ssl as _stdlib
import sys as _sys
from typing import TYPE_CHECKING, Any, Dict, Union

if TYPE_CHECKING:
    from typing_extensions import Buffer

from ._context import SSLContext
from ._info import SSLSession
from ._object import SSLObject
from ._socket import SSLSocket

SSLContext.sslsocket_class = SSLSocket
SSLContext.sslobject_class = SSLObject

# The stdlib's own exception classes and constants, re-exported.
SSLError = _stdlib.SSLError
SSLZeroReturnError = _stdlib.SSLZeroReturnError
SSLWantReadError = _stdlib.SSLWantReadError
SSLWantWriteError = _stdlib.SSLWantWriteError
SSLSyscallError = _stdlib.SSLSyscallError
SSLEOFError = _stdlib.SSLEOFError
SSLCertVerificationError = _stdlib.SSLCertVerificationError
CertificateError = _stdlib.CertificateError
Purpose = _stdlib.Purpose
TLSVersion = _stdlib.TLSVersion
VerifyMode = _stdlib.VerifyMode
VerifyFlags = _stdlib.VerifyFlags
Options = _stdlib.Options
AlertDescription = _stdlib.AlertDescription
MemoryBIO = _stdlib.MemoryBIO
from ssl import DER_cert_to_PEM_cert as DER_cert_to_PEM_cert  # noqa: E402
from ssl import PEM_cert_to_DER_cert as PEM_cert_to_DER_cert  # noqa: E402
from ssl import get_default_verify_paths as get_default_verify_paths  # noqa: E402
for _name in dir(_stdlib):
    if _name.startswith(("CERT_", "PROTOCOL_", "OP_", "HAS_", "VERIFY_", "ALERT_DESCRIPTION_",
                         "OPENSSL_", "CHANNEL_BINDING_")):
        globals()[_name] = getattr(_stdlib, _name)
if TYPE_CHECKING:  # the loop above, for the type checkers
    from ssl import CERT_NONE as CERT_NONE
    from ssl import CERT_OPTIONAL as CERT_OPTIONAL
    from ssl import CERT_REQUIRED as CERT_REQUIRED
    from ssl import OP_ALL as OP_ALL
    from ssl import OP_CIPHER_SERVER_PREFERENCE as OP_CIPHER_SERVER_PREFERENCE
    from ssl import OP_ENABLE_MIDDLEBOX_COMPAT as OP_ENABLE_MIDDLEBOX_COMPAT
    from ssl import OP_NO_COMPRESSION as OP_NO_COMPRESSION
    from ssl import OP_NO_RENEGOTIATION as OP_NO_RENEGOTIATION
    from ssl import OP_NO_SSLv2 as OP_NO_SSLv2
    from ssl import OP_NO_SSLv3 as OP_NO_SSLv3
    from ssl import OP_NO_TICKET as OP_NO_TICKET
    from ssl import OP_NO_TLSv1 as OP_NO_TLSv1
    from ssl import OP_NO_TLSv1_1 as OP_NO_TLSv1_1
    from ssl import OP_NO_TLSv1_2 as OP_NO_TLSv1_2
    from ssl import OP_NO_TLSv1_3 as OP_NO_TLSv1_3
    from ssl import OP_SINGLE_DH_USE as OP_SINGLE_DH_USE
    from ssl import OP_SINGLE_ECDH_USE as OP_SINGLE_ECDH_USE
    from ssl import PROTOCOL_SSLv23 as PROTOCOL_SSLv23
    from ssl import PROTOCOL_TLS as PROTOCOL_TLS
    from ssl import PROTOCOL_TLS_CLIENT as PROTOCOL_TLS_CLIENT
    from ssl import PROTOCOL_TLS_SERVER as PROTOCOL_TLS_SERVER
    from ssl import PROTOCOL_TLSv1 as PROTOCOL_TLSv1
    from ssl import PROTOCOL_TLSv1_1 as PROTOCOL_TLSv1_1
    from ssl import PROTOCOL_TLSv1_2 as PROTOCOL_TLSv1_2
    from ssl import VERIFY_ALLOW_PROXY_CERTS as VERIFY_ALLOW_PROXY_CERTS
    from ssl import VERIFY_CRL_CHECK_CHAIN as VERIFY_CRL_CHECK_CHAIN
    from ssl import VERIFY_CRL_CHECK_LEAF as VERIFY_CRL_CHECK_LEAF
    from ssl import VERIFY_DEFAULT as VERIFY_DEFAULT
    from ssl import VERIFY_X509_PARTIAL_CHAIN as VERIFY_X509_PARTIAL_CHAIN
    from ssl import VERIFY_X509_STRICT as VERIFY_X509_STRICT
    from ssl import VERIFY_X509_TRUSTED_FIRST as VERIFY_X509_TRUSTED_FIRST
    from ssl import HAS_ECDH as HAS_ECDH
    from ssl import HAS_NPN as HAS_NPN
    from ssl import HAS_SSLv2 as HAS_SSLv2
    from ssl import HAS_SSLv3 as HAS_SSLv3
    from ssl import HAS_TLSv1 as HAS_TLSv1
    from ssl import HAS_TLSv1_1 as HAS_TLSv1_1
    from ssl import HAS_TLSv1_2 as HAS_TLSv1_2
HAS_SNI = True
HAS_ALPN = True
HAS_TLSv1_3 = True
HAS_NEVER_CHECK_COMMON_NAME = True


def create_default_context(purpose: _stdlib.Purpose = _stdlib.Purpose.SERVER_AUTH, *,
                           cafile: Union[str, bytes, "_os.PathLike[str]", "_os.PathLike[bytes]", None] = None,
                           capath: Union[str, bytes, "_os.PathLike[str]", "_os.PathLike[bytes]", None] = None,
                           cadata: Union[str, Buffer, None] = None) -> SSLContext:
    """As `ssl.create_default_context`: a client context verifies the server
    (certificate and host name) against `cafile`/`capath`/`cadata`, or the
    system's CAs; a server context (`Purpose.CLIENT_AUTH`) asks no client
    certificate. `SSLKEYLOGFILE` in the environment is honoured."""
    if not isinstance(purpose, _stdlib._ASN1Object):
        raise TypeError(purpose)
    if purpose == _stdlib.Purpose.SERVER_AUTH:
        ctx = SSLContext(_stdlib.PROTOCOL_TLS_CLIENT)
    elif purpose == _stdlib.Purpose.CLIENT_AUTH:
        ctx = SSLContext(_stdlib.PROTOCOL_TLS_SERVER)
    else:
        raise ValueError(purpose)
    if cafile or capath or cadata:
        ctx.load_verify_locations(cafile, capath, cadata)
    elif ctx.verify_mode != _stdlib.CERT_NONE:
        ctx.load_default_certs(purpose)
    keylog = _os.environ.get("SSLKEYLOGFILE")
    if keylog and not _sys.flags.ignore_environment:
        ctx.keylog_filename = keylog
    return ctx


# inject_into_ssl / extract_from_ssl

_ORIGINAL: Dict[str, Any] = {}
# Modules that keep their own reference to ssl.SSLContext.
_HOLDERS = ("ssl", "urllib3.util.ssl_", "urllib3.util", "urllib3.connection",
            "requests.adapters", "aiohttp.connector", "httpx._config")


def inject_into_ssl() -> None:
    """Make `ssl.SSLContext` (and the references urllib3, requests, aiohttp
    and httpx keep) this module's: code you cannot edit then runs on
    s2n-tls. `extract_from_ssl()` restores them."""
    for name in _HOLDERS:
        mod = _sys.modules.get(name)
        if mod is None:
            if name != "ssl":
                continue
            mod = _stdlib
        current = getattr(mod, "SSLContext", None)
        if current is None or current is SSLContext:
            continue
        _ORIGINAL.setdefault(name, current)
        setattr(mod, "SSLContext", SSLContext)
    _ORIGINAL.setdefault("ssl.create_default_context", _stdlib.create_default_context)
    _stdlib.create_default_context = create_default_context


def extract_from_ssl() -> None:
    """Undo `inject_into_ssl()`."""
    create = _ORIGINAL.pop("ssl.create_default_context", None)
    if create is not None:
        _stdlib.create_default_context = create
    for name, original in list(_ORIGINAL.items()):
        mod = _stdlib if name == "ssl" else _sys.modules.get(name)
        if mod is not None:
            setattr(mod, "SSLContext", original)
        del _ORIGINAL[name]


__all__ = [
    "SSLContext", "SSLSocket", "SSLObject", "SSLSession", "create_default_context",
    "inject_into_ssl", "extract_from_ssl", "SSLError", "SSLZeroReturnError", "SSLWantReadError",
    "SSLWantWriteError", "SSLSyscallError", "SSLEOFError", "SSLCertVerificationError",
    "CertificateError", "Purpose", "TLSVersion", "VerifyMode", "MemoryBIO",
]
