"""Maximum fragment length, connection serialization and TLS 1.2 client
renegotiation: s2n-tls features for legacy peers and for moving a
connection, thin over the C calls (see docs/legacy.md)."""

from __future__ import annotations

from . import _callbacks
from ._enums import RenegotiateResponse
from ._lib import CData, ffi

MAX_FRAGMENT_LENGTHS = {512: 1, 1024: 2, 2048: 3, 4096: 4}  # bytes -> s2n_max_frag_len


def max_frag_code(size: int) -> int:
    try:
        return MAX_FRAGMENT_LENGTHS[size]
    except (KeyError, TypeError):
        raise ValueError(f"max fragment length must be one of 512, 1024, 2048, 4096, not {size!r}") from None


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
