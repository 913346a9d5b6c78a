"""s2n exceptions -> the stdlib's own ssl exception classes.

Libraries catch `ssl.SSLError`, `ssl.SSLCertVerificationError` (with
`verify_code`/`verify_message`), `ssl.SSLWantReadError`, `ssl.SSLEOFError`,
`ssl.SSLZeroReturnError` and plain `OSError`s: each s2n failure becomes the
one the stdlib raises for the same event, chained from the s2n exception.
"""

from __future__ import annotations

import ssl as _ssl
from typing import NoReturn, Optional, Type, TypeVar

from .. import _errors as s2n_errors
from .._enums import Blocked

_E = TypeVar("_E", bound=_ssl.SSLError)

# s2n error name -> (OpenSSL X509_V_ERR code, its message), as ssl reports them.
_VERIFY = {
    "S2N_ERR_CERT_UNTRUSTED": (20, "unable to get local issuer certificate"),
    "S2N_ERR_CERT_EXPIRED": (10, "certificate has expired"),
    "S2N_ERR_CERT_NOT_YET_VALID": (9, "certificate is not yet valid"),
    "S2N_ERR_CERT_REVOKED": (23, "certificate revoked"),
    "S2N_ERR_CERT_INVALID": (1, "unspecified certificate verification error"),
    "S2N_ERR_CERT_REJECTED": (1, "certificate rejected"),
    "S2N_ERR_CERT_UNHANDLED_CRITICAL_EXTENSION": (34, "unhandled critical extension"),
    "S2N_ERR_CERT_MAX_CHAIN_DEPTH_EXCEEDED": (22, "certificate chain too long"),
    "S2N_ERR_CERT_TYPE_UNSUPPORTED": (1, "unsupported certificate type"),
    "S2N_ERR_CERT_INTENT_INVALID": (26, "unsupported certificate purpose"),
}

_ALERTS = {10: "UNEXPECTED_MESSAGE", 20: "BAD_RECORD_MAC", 40: "HANDSHAKE_FAILURE",
           42: "BAD_CERTIFICATE", 43: "UNSUPPORTED_CERTIFICATE", 44: "CERTIFICATE_REVOKED",
           45: "CERTIFICATE_EXPIRED", 46: "CERTIFICATE_UNKNOWN", 47: "ILLEGAL_PARAMETER",
           48: "UNKNOWN_CA", 49: "ACCESS_DENIED", 50: "DECODE_ERROR", 51: "DECRYPT_ERROR",
           70: "PROTOCOL_VERSION", 71: "INSUFFICIENT_SECURITY", 80: "INTERNAL_ERROR",
           86: "INAPPROPRIATE_FALLBACK", 90: "USER_CANCELLED", 109: "MISSING_EXTENSION",
           110: "UNSUPPORTED_EXTENSION", 112: "UNRECOGNIZED_NAME",
           116: "CERTIFICATE_REQUIRED", 120: "NO_APPLICATION_PROTOCOL"}


def _ssl_error(cls: Type[_E], errno: int, reason: str, text: str) -> _E:
    err = cls(errno, f"[SSL: {reason}] {text}")
    err.library = "SSL"
    err.reason = reason
    return err


def verify_error(code: int, message: str, why: str = "") -> _ssl.SSLCertVerificationError:
    err = _ssl_error(_ssl.SSLCertVerificationError, 1, "CERTIFICATE_VERIFY_FAILED",
                     f"certificate verify failed: {message}{why}")
    err.verify_code = code
    err.verify_message = message
    return err


def to_ssl(exc: BaseException, server_hostname: Optional[str] = None) -> BaseException:
    """The stdlib exception for an s2n one (others are returned unchanged)."""
    if not isinstance(exc, s2n_errors.S2NError):
        return exc
    why = f" ({exc.name})" if exc.name else ""
    if isinstance(exc, s2n_errors.BlockedError):
        if exc.blocked == Blocked.ON_WRITE:
            return _ssl.SSLWantWriteError(3, "The operation did not complete (write)")
        return _ssl.SSLWantReadError(2, "The operation did not complete (read)")
    if isinstance(exc, s2n_errors.IOError):
        if exc.errno:
            return OSError(exc.errno, exc.strerror)
        return _ssl_error(_ssl.SSLSyscallError, 5, "SYSCALL", f"{exc.message}{why}")
    if isinstance(exc, s2n_errors.ClosedError):
        return _ssl_error(_ssl.SSLEOFError, 8, "UNEXPECTED_EOF_WHILE_READING",
                          f"EOF occurred in violation of protocol{why}")
    if isinstance(exc, s2n_errors.AlertError):
        name = _ALERTS.get(exc.alert or -1, "UNKNOWN")
        return _ssl_error(_ssl.SSLError, 1, f"TLSV1_ALERT_{name}",
                          f"tlsv1 alert {name.lower().replace('_', ' ')}{why}")
    if exc.name == "S2N_ERR_CERT_INVALID_HOSTNAME":
        return verify_error(62, f"Hostname mismatch, certificate is not valid for "
                                f"'{server_hostname}'.", why)
    if exc.name == "S2N_PY_ERR_CERT_IP_MISMATCH":
        return verify_error(64, f"IP address mismatch, certificate is not valid for "
                                f"'{server_hostname}'.", why)
    if exc.name in _VERIFY:
        code, message = _VERIFY[exc.name]
        return verify_error(code, message, why)
    if exc.name == "S2N_ERR_PROTOCOL_VERSION_UNSUPPORTED":
        return _ssl_error(_ssl.SSLError, 1, "UNSUPPORTED_PROTOCOL", f"unsupported protocol{why}")
    if exc.name == "S2N_ERR_CIPHER_NOT_SUPPORTED":
        return _ssl_error(_ssl.SSLError, 1, "NO_SHARED_CIPHER", f"no shared cipher{why}")
    reason = (exc.name or "S2N_ERR").removeprefix("S2N_ERR_").removeprefix("S2N_PY_ERR_")
    return _ssl_error(_ssl.SSLError, 1, reason, f"{exc.message}{why}")


def reraise(exc: BaseException, server_hostname: Optional[str] = None) -> NoReturn:
    mapped = to_ssl(exc, server_hostname)
    if mapped is exc:
        raise exc
    raise mapped from exc
