"""OCSP stapling and Certificate Transparency (issue 12): `CertChainAndKey`,
and the logic behind the Config/Connection methods of this feature."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable, Optional

from ._enums import CtSupportLevel, StatusRequestType
from ._errors import check, last_error, usage
from ._lib import CData, ffi, lib
from .config import PemLike, read_pem

if TYPE_CHECKING:
    from .config import Config

_MAX_OCSP = 2**24 - 1  # opaque OCSPResponse<1..2^24-1> (RFC 6066)
_MAX_SCT = 2**16 - 1  # one extension's data (RFC 6962)


def _bytes(data: Any, what: str) -> bytes:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"{what}: expected bytes, not {type(data).__name__}")
    return bytes(data)


def _ocsp_der(der: Any) -> bytes:
    data = _bytes(der, "OCSP response")
    if data.startswith(b"-----BEGIN"):
        raise ValueError("OCSP response: expected DER bytes, not PEM")
    if data and data[0] != 0x30:
        raise ValueError("OCSP response: not a DER-encoded OCSPResponse (a SEQUENCE, first byte 0x30)")
    if len(data) > _MAX_OCSP:
        raise ValueError(f"OCSP response: at most {_MAX_OCSP} bytes in TLS, not {len(data)}")
    return data


def _sct_list(data: Any) -> bytes:
    raw = _bytes(data, "SCT list")
    if raw and (len(raw) < 2 or int.from_bytes(raw[:2], "big") != len(raw) - 2):
        raise ValueError("SCT list: expected a SignedCertificateTimestampList (RFC 6962 3.3): "
                         "a 2-byte big-endian length, then that many bytes")
    if len(raw) > _MAX_SCT:
        raise ValueError(f"SCT list: at most {_MAX_SCT} bytes in TLS, not {len(raw)}")
    return raw


class CertChainAndKey:
    """An s2n_cert_chain_and_key: a certificate chain (PEM, leaf first) and
    its private key, as bytes/str or a path (os.PathLike). `key=None` loads
    the public half only (for private-key offload). One object can serve in
    several Configs (`Config.add_cert_chain_and_key_to_store`).

    Set the OCSP response and SCT list before adding it to a Config: it is
    frozen from then on, because s2n-tls reads them during handshakes in
    any thread. To refresh a staple, build a new object and a new Config."""

    def __init__(self, chain: PemLike, key: Optional[PemLike] = None) -> None:
        chain_pem = read_pem(chain, "certificate chain")
        key_pem = None if key is None else read_pem(key, "private key")
        raw = lib.s2n_cert_chain_and_key_new()
        if raw == ffi.NULL:
            raise last_error()
        # Freed when this object goes; every Config using it holds a reference.
        self._ptr = ffi.gc(raw, lib.s2n_cert_chain_and_key_free)
        self._lock = threading.Lock()
        self._frozen = False
        self._has_key = key_pem is not None
        try:
            c = ffi.from_buffer("uint8_t[]", chain_pem)
            if key_pem is None:
                check(lib.s2n_cert_chain_and_key_load_public_pem_bytes(raw, c, len(chain_pem)))
            else:
                check(lib.s2n_cert_chain_and_key_load_pem_bytes(
                    raw, c, len(chain_pem), ffi.from_buffer("uint8_t[]", key_pem), len(key_pem)))
        except BaseException:
            ffi.release(self._ptr)  # frees it now
            raise

    @property
    def has_private_key(self) -> bool:
        """False for a public-only object (`key=None`)."""
        return self._has_key

    @property
    def frozen(self) -> bool:
        """True once added to a Config."""
        return self._frozen

    def _mutable(self) -> CData:
        if self._frozen:
            raise usage("this CertChainAndKey was added to a Config and can no longer change "
                        "(build a new one to refresh its OCSP response or SCT list)",
                        "S2N_PY_ERR_CHAIN_FROZEN")
        return self._ptr

    def set_ocsp_data(self, der: bytes) -> None:
        """Staple this DER OCSP response for clients that request it
        (b"" removes it). s2n-tls copies the bytes and does not check them."""
        data = _ocsp_der(der)
        with self._lock:
            check(lib.s2n_cert_chain_and_key_set_ocsp_data(
                self._mutable(), ffi.from_buffer("uint8_t[]", data), len(data)))

    def set_sct_list(self, data: bytes) -> None:
        """Send this SignedCertificateTimestampList (RFC 6962, the whole
        extension body, with its 2-byte length) to clients that ask for
        Certificate Transparency (b"" removes it)."""
        raw = _sct_list(data)
        with self._lock:
            check(lib.s2n_cert_chain_and_key_set_sct_list(
                self._mutable(), ffi.from_buffer("uint8_t[]", raw), len(raw)))

    def __repr__(self) -> str:
        half = "" if self._has_key else " public-only"
        return f"<s2n.CertChainAndKey{half}{' frozen' if self._frozen else ''}>"


CertChainAndKey.__module__ = "s2n"


# Config

def add_to_store(config: "Config", cck: CertChainAndKey) -> None:
    if not isinstance(cck, CertChainAndKey):
        raise TypeError(f"expected s2n.CertChainAndKey, not {type(cck).__name__}")
    with config._lock:
        ptr = config._mutable()
        with cck._lock:
            # Referenced and frozen even if s2n-tls fails half-way: it may
            # already sit in the config's name map.
            config._chains.append(cck)
            cck._frozen = True
            check(lib.s2n_config_add_cert_chain_and_key_to_store(ptr, cck._ptr))


def set_status_request_type(config: "Config", kind: StatusRequestType) -> None:
    kind = StatusRequestType(kind)
    with config._lock:
        check(lib.s2n_config_set_status_request_type(config._mutable(), kind))
        config._status_request = kind  # set_verification_ca_location restores it


def set_check_stapled_ocsp_response(config: "Config", enabled: bool) -> None:
    with config._lock:
        check(lib.s2n_config_set_check_stapled_ocsp_response(config._mutable(), 1 if enabled else 0))


def set_ct_support_level(config: "Config", level: CtSupportLevel) -> None:
    level = CtSupportLevel(level)
    with config._lock:
        check(lib.s2n_config_set_ct_support_level(config._mutable(), level))


# Connection (called with the connection's locks held)

def _blob(getter: Callable[[CData, CData], CData], ptr: CData) -> Optional[bytes]:
    n = ffi.new("uint32_t *")
    data = getter(ptr, n)
    if data == ffi.NULL or n[0] == 0:
        return None
    return ffi.unpack(ffi.cast("char *", data), n[0])  # a copy: s2n owns `data`


def get_ocsp_response(ptr: CData) -> Optional[bytes]:
    return _blob(lib.s2n_connection_get_ocsp_response, ptr)


def get_sct_list(ptr: CData) -> Optional[bytes]:
    return _blob(lib.s2n_connection_get_sct_list, ptr)


def is_ocsp_stapled(ptr: CData) -> bool:
    return check(lib.s2n_connection_is_ocsp_stapled(ptr)) == 1
