"""Issue 12 (keys): TLS 1.3 key update, the TLS exporter, the key exchange group.

Thin helpers behind the Config/Connection methods: they take the C pointer
the method's gate handed them (see Connection's concurrency contract)."""

from __future__ import annotations

from typing import Any, NamedTuple

from ._enums import PeerKeyUpdate
from ._errors import UsageError, byte_string, check, last_error
from ._lib import CData, ffi, lib

class KeyUpdateCounts(NamedTuple):
    """How many times this side's sending and receiving keys were updated
    (s2n-tls counts up to 255)."""

    send: int
    recv: int


KeyUpdateCounts.__module__ = "s2n"


def request_key_update(ptr: CData, peer_request: PeerKeyUpdate) -> None:
    request = PeerKeyUpdate(peer_request)
    if lib.s2n_connection_request_key_update(ptr, request) < 0:
        err = last_error()
        if request == PeerKeyUpdate.REQUESTED and err.name == "S2N_ERR_INVALID_ARGUMENT":
            # This s2n-tls only updates its own sending key; it still answers
            # a peer's request. Say so rather than "invalid argument".
            raise UsageError("this s2n-tls cannot ask the peer to update its keys "
                             "(PeerKeyUpdate.REQUESTED); use PeerKeyUpdate.NOT_REQUESTED",
                             name=err.name, debug=err.debug) from None
        raise err


def key_update_counts(ptr: CData) -> KeyUpdateCounts:
    send = ffi.new("uint8_t *")
    recv = ffi.new("uint8_t *")
    check(lib.py_keys_update_counts(ptr, send, recv))
    return KeyUpdateCounts(send[0], recv[0])


def tls_exporter(ptr: CData, label: Any, context: Any, length: int) -> bytes:
    label_b = byte_string(label, "label")
    context_b = byte_string(context, "context")
    if type(length) is not int:
        raise TypeError(f"length must be an int, not {type(length).__name__}")
    if not 1 <= length < 2**32:
        raise ValueError(f"length must be in 1..2**32-1, not {length}")
    out = ffi.new("uint8_t[]", length)
    # s2n-tls wants non-NULL pointers even when empty.
    c_label = ffi.new("uint8_t[]", label_b or b"\0")
    c_context = ffi.new("uint8_t[]", context_b or b"\0")
    try:
        check(lib.s2n_connection_tls_exporter(ptr, c_label, len(label_b), c_context,
                                              len(context_b), out, length))
        return ffi.unpack(ffi.cast("char *", out), length)
    finally:
        ffi.memmove(out, b"\0" * length, length)  # keying material: do not leave it around


def key_exchange_group(ptr: CData) -> str:
    name = ffi.new("const char **")
    if lib.s2n_connection_get_key_exchange_group(ptr, name) < 0:
        lib.py_capture_now()  # no group (yet, or RSA key exchange): as get_curve, "NONE"
        return "NONE"
    return ffi.string(name[0]).decode("ascii", errors="replace")
