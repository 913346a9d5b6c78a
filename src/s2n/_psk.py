"""External pre-shared keys for TLS 1.3 (RFC 8446 2.2): a key both peers
got out of band, in place of certificates. See docs/psk.md."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, List, Optional, Sequence

from . import _callbacks
from ._enums import PskHmac
from ._errors import check, from_capture
from ._lib import CData, ffi, lib

if TYPE_CHECKING:
    from .connection import Connection


class ExternalPsk:
    """An identity (sent in clear in the ClientHello: choose it as you would
    a user name, not a secret), a secret (at least 16 random bytes), and the
    hash it is used with. Immutable; a Connection copies it on append_psk."""

    __slots__ = ("identity", "secret", "hmac")
    identity: bytes
    secret: bytes
    hmac: PskHmac

    def __init__(self, identity: bytes, secret: bytes, hmac: PskHmac = PskHmac.SHA256) -> None:
        identity, secret = bytes(identity), bytes(secret)
        if not 0 < len(identity) < 1 << 16:
            raise ValueError("a PSK identity is 1 to 65535 bytes")
        if not 16 <= len(secret) < 1 << 16:
            raise ValueError("a PSK secret is 16 to 65535 bytes (use random bytes)")
        object.__setattr__(self, "identity", identity)
        object.__setattr__(self, "secret", secret)
        object.__setattr__(self, "hmac", PskHmac(hmac))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("ExternalPsk is immutable")

    def __repr__(self) -> str:  # never the secret
        return f"<s2n.ExternalPsk identity={self.identity!r} hmac={self.hmac.name}>"


ExternalPsk.__module__ = "s2n"


def append(ptr: CData, psk: ExternalPsk) -> None:
    if not isinstance(psk, ExternalPsk):
        raise TypeError(f"expected s2n.ExternalPsk, not {type(psk).__name__}")
    if lib.py_append_psk(ptr, psk.identity, len(psk.identity), psk.secret, len(psk.secret), psk.hmac) < 0:
        raise from_capture(lib.py_last_error())  # the glue captured it


def negotiated_identity(ptr: CData) -> Optional[bytes]:
    length = ffi.new("uint16_t *")
    check(lib.s2n_connection_get_negotiated_psk_identity_length(ptr, length))
    if not length[0]:
        return None
    buf = ffi.new("uint8_t[]", length[0])
    check(lib.s2n_connection_get_negotiated_psk_identity(ptr, buf, length[0]))
    return ffi.unpack(ffi.cast("char *", buf), length[0])


def _offered(psk_list: CData) -> List[bytes]:
    """The identities the client offered, in its order (copies)."""
    out: List[bytes] = []
    offered = lib.s2n_offered_psk_new()
    if offered == ffi.NULL:
        raise MemoryError("s2n_offered_psk_new")
    holder = ffi.new("struct s2n_offered_psk **", offered)
    try:
        data = ffi.new("uint8_t **")
        size = ffi.new("uint16_t *")
        check(lib.s2n_offered_psk_list_reread(psk_list))
        while lib.s2n_offered_psk_list_has_next(psk_list):
            check(lib.s2n_offered_psk_list_next(psk_list, offered))
            check(lib.s2n_offered_psk_get_identity(offered, data, size))
            out.append(ffi.unpack(ffi.cast("char *", data[0]), size[0]))
        return out
    finally:
        lib.s2n_offered_psk_free(holder)


def _choose(psk_list: CData, index: int) -> None:
    offered = lib.s2n_offered_psk_new()
    if offered == ffi.NULL:
        raise MemoryError("s2n_offered_psk_new")
    holder = ffi.new("struct s2n_offered_psk **", offered)
    try:
        check(lib.s2n_offered_psk_list_reread(psk_list))
        for _ in range(index + 1):
            check(lib.s2n_offered_psk_list_next(psk_list, offered))
        check(lib.s2n_offered_psk_list_choose_psk(psk_list, offered))
    finally:
        lib.s2n_offered_psk_free(holder)


@ffi.def_extern(error=-1)
def py_psk_selection_trampoline(conn: CData, ctx: CData, psk_list: CData) -> int:
    if _callbacks._raised():
        return -1
    try:
        identities = _offered(psk_list)
        choice = ffi.from_handle(ctx).fn(_callbacks.connection_of(conn), identities)
        if choice is None:
            return 0  # no PSK: the handshake needs a certificate, or fails
        if type(choice) is not int or not 0 <= choice < len(identities):
            raise ValueError(f"the PSK selection callback must return an index into the "
                             f"{len(identities)} offered identities or None, not {choice!r}")
        _choose(psk_list, choice)
        return 0
    except BaseException as e:  # noqa: BLE001 - re-raised by the driving call
        _callbacks._stash(e)
        return -1


def selection_handle(fn: Callable[[Connection, Sequence[bytes]], Optional[int]]) -> _callbacks.Handle:
    return _callbacks.Handle(fn, "PSK selection callback")
