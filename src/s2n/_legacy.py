"""Maximum fragment length, connection serialization and TLS 1.2 client
renegotiation: s2n-tls features for legacy peers and for moving a
connection, thin over the C calls (see docs/legacy.md)."""

from __future__ import annotations

import base64
import functools

from . import _callbacks
from ._enums import RenegotiateResponse
from ._lib import CData, ffi

MAX_FRAGMENT_LENGTHS = {512: 1, 1024: 2, 2048: 3, 4096: 4}  # bytes -> s2n_max_frag_len


def max_frag_code(size: int) -> int:
    try:
        return MAX_FRAGMENT_LENGTHS[size]
    except (KeyError, TypeError):
        raise ValueError(f"max fragment length must be one of 512, 1024, 2048, 4096, not {size!r}") from None


def _der(tag: int, body: bytes) -> bytes:
    n = len(body)
    size = bytes([n]) if n < 0x80 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag]) + size + body


def _der_int(value: int) -> bytes:
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


@functools.lru_cache(maxsize=None)
def ffdhe2048_pem() -> bytes:
    """RFC 7919's ffdhe2048 group as PEM "DH PARAMETERS", computed from the
    RFC's formula p = 2^2048 - 2^1984 + (floor(2^1918 e) + 560316) 2^64 - 1,
    g = 2 (a published, well-known group: nothing secret to generate)."""
    guard = 64  # extra bits so that the truncated series cannot round wrong
    scale = 1918 + guard
    e_scaled, fact, k = 0, 1, 0
    while (1 << scale) >= fact:
        e_scaled += (1 << scale) // fact
        k += 1
        fact *= k
    p = (1 << 2048) - (1 << 1984) + ((e_scaled >> guard) + 560316) * (1 << 64) - 1
    b64 = base64.b64encode(_der(0x30, _der_int(p) + _der_int(2))).decode()
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    return ("-----BEGIN DH PARAMETERS-----\n" + "\n".join(lines) + "\n-----END DH PARAMETERS-----\n").encode()


@ffi.def_extern(error=-1)
def py_renegotiate_trampoline(conn: CData, ctx: CData, response: CData) -> int:
    if _callbacks._raised():
        return -1
    try:
        answer = ffi.from_handle(ctx).fn(_callbacks.connection_of(conn))
        if not isinstance(answer, RenegotiateResponse):
            answer = RenegotiateResponse(answer)  # an int of the enum, or ValueError
        response[0] = int(answer)
        return 0
    except BaseException as e:  # noqa: BLE001 - re-raised by the driving call
        _callbacks._stash(e)
        return -1
