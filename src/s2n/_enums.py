"""The C enums of api/s2n.h as IntEnums (values equal to the C constants)."""

from __future__ import annotations

import enum


class Mode(enum.IntEnum):
    SERVER = 0
    CLIENT = 1


class Blocked(enum.IntEnum):
    NOT_BLOCKED = 0
    ON_READ = 1
    ON_WRITE = 2
    ON_APPLICATION_INPUT = 3
    ON_EARLY_DATA = 4


class ErrorType(enum.IntEnum):
    OK = 0
    IO = 1
    CLOSED = 2
    BLOCKED = 3
    ALERT = 4
    PROTO = 5
    INTERNAL = 6
    USAGE = 7


class AlertBehavior(enum.IntEnum):
    FAIL_ON_WARNINGS = 0
    IGNORE_WARNINGS = 1


class Blinding(enum.IntEnum):
    BUILT_IN = 0
    SELF_SERVICE = 1


class ClientAuth(enum.IntEnum):
    NONE = 0
    REQUIRED = 1
    OPTIONAL = 2


class ProtocolVersion(enum.IntEnum):
    """`S2N_SSLv2` ... `S2N_TLS13`; `str()` gives the name Python's ssl uses."""

    UNKNOWN = 0
    SSLv2 = 20
    SSLv3 = 30
    TLS1_0 = 31
    TLS1_1 = 32
    TLS1_2 = 33
    TLS1_3 = 34

    def __str__(self) -> str:
        return _VERSION_NAMES[self]


_VERSION_NAMES = {
    ProtocolVersion.UNKNOWN: "unknown", ProtocolVersion.SSLv2: "SSLv2",
    ProtocolVersion.SSLv3: "SSLv3", ProtocolVersion.TLS1_0: "TLSv1",
    ProtocolVersion.TLS1_1: "TLSv1.1", ProtocolVersion.TLS1_2: "TLSv1.2",
    ProtocolVersion.TLS1_3: "TLSv1.3",
}


_enum: type[enum.IntEnum]
for _enum in (Mode, Blocked, ErrorType, AlertBehavior, Blinding, ClientAuth, ProtocolVersion):
    _enum.__module__ = "s2n"


class SerializationVersion(enum.IntEnum):
    NONE = 0
    V1 = 1


class RenegotiateResponse(enum.IntEnum):
    IGNORE = 0
    REJECT = 1
    ACCEPT = 2


for _enum in (SerializationVersion, RenegotiateResponse):
    _enum.__module__ = "s2n"


class ClientHelloCbMode(enum.IntEnum):
    """When the client hello callback decides (s2n_client_hello_cb_mode)."""

    BLOCKING = 0  # before the callback returns
    NONBLOCKING = 1  # later: Connection.client_hello_cb_done() resumes the handshake


ClientHelloCbMode.__module__ = "s2n"


class StatusRequestType(enum.IntEnum):
    """What a client asks the server to staple (`s2n_status_request_type`)."""

    NONE = 0
    OCSP = 1


class CtSupportLevel(enum.IntEnum):
    """Whether a client asks for Certificate Transparency SCTs (`s2n_ct_support_level`)."""

    NONE = 0
    REQUEST = 1


for _enum in (StatusRequestType, CtSupportLevel):
    _enum.__module__ = "s2n"


class PeerKeyUpdate(enum.IntEnum):
    """`s2n_peer_key_update`: whether a key update also asks the peer to update."""

    NOT_REQUESTED = 0
    REQUESTED = 1


PeerKeyUpdate.__module__ = "s2n"


class PskHmac(enum.IntEnum):
    SHA256 = 0
    SHA384 = 1


class PskMode(enum.IntEnum):
    RESUMPTION = 0
    EXTERNAL = 1


for _enum in (PskHmac, PskMode):
    _enum.__module__ = "s2n"


class EarlyDataStatus(enum.IntEnum):
    OK = 0
    NOT_REQUESTED = 1
    REJECTED = 2
    END = 3


EarlyDataStatus.__module__ = "s2n"


class AsyncPkeyOpType(enum.IntEnum):
    """`s2n_async_pkey_op_type`: what a private-key operation asks for."""

    DECRYPT = 0  # TLS 1.2 RSA key exchange: decrypt the premaster secret
    SIGN = 1  # sign a handshake digest (CertificateVerify, ServerKeyExchange)


class AsyncPkeyValidationMode(enum.IntEnum):
    """`s2n_async_pkey_validation_mode`: STRICT verifies an offloaded
    signature against the certificate's public key before it is sent."""

    FAST = 0
    STRICT = 1


class SignatureAlgorithm(enum.IntEnum):
    """`s2n_tls_signature_algorithm`."""

    ANONYMOUS = 0
    RSA = 1  # RSA PKCS#1 v1.5
    ECDSA = 3
    MLDSA = 9
    RSA_PSS_RSAE = 224
    RSA_PSS_PSS = 225


class HashAlgorithm(enum.IntEnum):
    """`s2n_tls_hash_algorithm`."""

    NONE = 0
    MD5 = 1
    SHA1 = 2
    SHA224 = 3
    SHA256 = 4
    SHA384 = 5
    SHA512 = 6
    MD5_SHA1 = 224


for _enum in (AsyncPkeyOpType, AsyncPkeyValidationMode, SignatureAlgorithm, HashAlgorithm):
    _enum.__module__ = "s2n"
