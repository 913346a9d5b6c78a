"""Connection getters s2n-tls's own tools print (issue 16): the selected
signature schemes, the ClientHello version, the session ID length."""

from __future__ import annotations

from typing import Callable, Tuple

from ._enums import HashAlgorithm, SignatureAlgorithm
from ._errors import check
from ._lib import CData, ffi, lib


def _pair(ptr: CData, sig_call: Callable[[CData, CData], int], hash_call: Callable[[CData, CData], int]) -> Tuple[SignatureAlgorithm, HashAlgorithm]:
    sig = ffi.new("s2n_tls_signature_algorithm *")
    digest = ffi.new("s2n_tls_hash_algorithm *")
    check(sig_call(ptr, sig))
    check(hash_call(ptr, digest))
    return SignatureAlgorithm(sig[0]), HashAlgorithm(digest[0])


def server_signature(ptr: CData) -> Tuple[SignatureAlgorithm, HashAlgorithm]:
    return _pair(ptr, lib.s2n_connection_get_selected_signature_algorithm,
                 lib.s2n_connection_get_selected_digest_algorithm)


def client_signature(ptr: CData) -> Tuple[SignatureAlgorithm, HashAlgorithm]:
    return _pair(ptr, lib.s2n_connection_get_selected_client_cert_signature_algorithm,
                 lib.s2n_connection_get_selected_client_cert_digest_algorithm)


def client_hello_version(ptr: CData) -> int:
    return check(lib.s2n_connection_get_client_hello_version(ptr))


def session_id_length(ptr: CData) -> int:
    return check(lib.s2n_connection_get_session_id_length(ptr))
