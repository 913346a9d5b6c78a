"""Issue 12 (resumption): ticket key lifetimes, session lifetime, forward
secrecy, ticket counts and the lifetime hint.

Thin helpers behind the Config/Connection methods: they take the C pointer
the method's gate handed them (see Connection's concurrency contract)."""

from __future__ import annotations

from typing import Any, Callable, Optional

from ._errors import check
from ._lib import CData, ffi, lib

# s2n-tls stores lifetimes in nanoseconds in a uint64_t.
MAX_LIFETIME = (2**64 - 1) // 10**9


def lifetime(seconds: int, what: str) -> int:
    if type(seconds) is not int:
        raise TypeError(f"{what} must be an int number of seconds, not {type(seconds).__name__}")
    if not 1 <= seconds <= MAX_LIFETIME:
        raise ValueError(f"{what} must be in 1..{MAX_LIFETIME} seconds, not {seconds}")
    return seconds


def config_call(config: Any, fn: Callable[..., int], *args: Any) -> None:
    """A Config setter: under the config's lock, refused once it is frozen."""
    with config._lock:
        check(fn(config._mutable(), *args))


def add_new_tickets_to_send(ptr: CData, count: int) -> None:
    if type(count) is not int:
        raise TypeError(f"count must be an int, not {type(count).__name__}")
    if not 0 <= count <= 255:
        raise ValueError(f"count must be in 0..255, not {count}")
    check(lib.s2n_connection_add_new_tickets_to_send(ptr, count))


def tickets_sent(ptr: CData) -> int:
    n = ffi.new("uint16_t *")
    check(lib.s2n_connection_get_tickets_sent(ptr, n))
    return int(n[0])


def ticket_lifetime_hint(ptr: CData) -> Optional[int]:
    hint = lib.s2n_connection_get_session_ticket_lifetime_hint(ptr)
    if hint < 0:
        lib.py_capture_now()  # no ticket received on this connection
        return None
    return hint


def set_server_keying_material_lifetime(ptr: CData, seconds: int) -> None:
    if type(seconds) is not int:
        raise TypeError(f"seconds must be an int, not {type(seconds).__name__}")
    if not 0 <= seconds < 2**32:
        raise ValueError(f"seconds must be in 0..2**32-1, not {seconds}")
    check(lib.s2n_connection_set_server_keying_material_lifetime(ptr, seconds))

