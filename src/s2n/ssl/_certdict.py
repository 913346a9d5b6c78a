"""getpeercert()'s dict: the stdlib's own decoder, so the dict is the one
`ssl` returns for the same certificate (subject, issuer, subjectAltName,
notBefore/notAfter, serialNumber, OCSP/caIssuers/crlDistributionPoints)."""

from __future__ import annotations

import base64
import copy
import functools
import os
import ssl as _ssl
import tempfile
from typing import Any, Dict, List


def decode(der: bytes) -> Dict[str, Any]:
    return copy.deepcopy(_decode(der))  # callers may change theirs


@functools.lru_cache(maxsize=128)
def _decode(der: bytes) -> Dict[str, Any]:
    # _test_decode_cert reads a PEM file: the only entry point to the
    # decoder `getpeercert()` uses inside CPython's _ssl module.
    pem = ("-----BEGIN CERTIFICATE-----\n"
           + "\n".join(_wrap(base64.b64encode(der).decode()))
           + "\n-----END CERTIFICATE-----\n")
    fd, path = tempfile.mkstemp(prefix="s2n-cert-", suffix=".pem")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(pem)
        cert: Dict[str, Any] = _ssl._ssl._test_decode_cert(path)  # type: ignore[attr-defined]
        return cert
    finally:
        os.unlink(path)


def _wrap(text: str, width: int = 64) -> List[str]:
    return [text[i:i + width] for i in range(0, len(text), width)]
