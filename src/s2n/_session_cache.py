"""TLS 1.2 resumption by session ID: the server keeps each session's state
(encrypted by s2n-tls with the Config's ticket keys) in a cache the
application provides, under the session ID the client presents again.

`Config.set_session_cache(cache)` installs the three s2n-tls cache callbacks
(store, retrieve, delete) on one object. `SessionIdCache` is a ready-made
in-process cache; a fleet shares a cache by implementing the same three
methods over memcached, Redis or the like. A callback's exception belongs to
the call that drove it (see _callbacks.py); a miss is `None`, not an
exception."""

from __future__ import annotations

import collections
import threading
import time
from typing import TYPE_CHECKING, Optional

from ._callbacks import _raised, _stash, connection_of
from ._errors import check
from ._lib import CData, ffi, lib

if TYPE_CHECKING:
    from typing import Protocol

    from .connection import Connection

    class SessionCache(Protocol):
        def store(self, conn: Connection, key: bytes, value: bytes, ttl: int) -> None: ...
        def retrieve(self, conn: Connection, key: bytes) -> Optional[bytes]: ...
        def delete(self, conn: Connection, key: bytes) -> None: ...


class SessionIdCache:
    """An in-process, thread-safe cache of at most `max_entries` sessions,
    the least recently used dropped first, each kept for the `ttl` s2n-tls
    gives it (the Config's session state lifetime)."""

    def __init__(self, max_entries: int = 10_000) -> None:
        if type(max_entries) is not int or max_entries < 1:
            raise ValueError(f"max_entries must be a positive int, not {max_entries!r}")
        self.max_entries = max_entries
        self._entries: "collections.OrderedDict[bytes, tuple[float, bytes]]" = collections.OrderedDict()
        self._lock = threading.Lock()

    def store(self, conn: "Connection", key: bytes, value: bytes, ttl: int) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic() + ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def retrieve(self, conn: "Connection", key: bytes) -> Optional[bytes]:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= time.monotonic():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def delete(self, conn: "Connection", key: bytes) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


class _Holder:
    """What C holds (through `handle`) for the three callbacks."""

    __slots__ = ("fn", "handle")

    def __init__(self, cache: object) -> None:
        for name in ("store", "retrieve", "delete"):
            if not callable(getattr(cache, name, None)):
                raise TypeError(f"a session cache needs store(), retrieve() and delete() methods; "
                                f"{type(cache).__name__} has no {name}()")
        self.fn = cache
        self.handle = ffi.new_handle(self)


def install(ptr: CData, cache: object) -> _Holder:
    """Set the cache callbacks on a Config pointer and turn the cache on;
    the caller keeps the returned holder alive as long as the Config."""
    holder = _Holder(cache)
    check(lib.s2n_config_set_cache_store_callback(ptr, lib.py_cache_store_trampoline, holder.handle))
    check(lib.s2n_config_set_cache_retrieve_callback(ptr, lib.py_cache_retrieve_trampoline, holder.handle))
    check(lib.s2n_config_set_cache_delete_callback(ptr, lib.py_cache_delete_trampoline, holder.handle))
    check(lib.s2n_config_set_session_cache_onoff(ptr, 1))
    return holder


def _bytes(ptr: CData, size: int) -> bytes:
    return ffi.unpack(ffi.cast("char *", ptr), size)


@ffi.def_extern(error=-1)
def py_cache_store_trampoline(conn: CData, ctx: CData, ttl: int, key: CData, key_size: int,
                              value: CData, value_size: int) -> int:
    if _raised():
        return -1
    try:
        ffi.from_handle(ctx).fn.store(connection_of(conn), _bytes(key, key_size), _bytes(value, value_size), ttl)
        return 0
    except BaseException as e:  # noqa: BLE001 - re-raised by the driving call
        _stash(e)
        return -1


@ffi.def_extern(error=-1)
def py_cache_retrieve_trampoline(conn: CData, ctx: CData, key: CData, key_size: int, value: CData,
                                 value_size: CData) -> int:
    if _raised():
        return -1
    try:
        found = ffi.from_handle(ctx).fn.retrieve(connection_of(conn), _bytes(key, key_size))
        if found is None:
            return -1  # a miss: s2n-tls goes on with a full handshake
        if not isinstance(found, (bytes, bytearray, memoryview)):
            raise TypeError(f"session cache retrieve() must return bytes or None, not {type(found).__name__}")
        found = bytes(found)
        if len(found) > value_size[0]:
            return -1  # not a state s2n-tls stored: treat as a miss
        ffi.memmove(value, found, len(found))
        value_size[0] = len(found)
        return 0
    except BaseException as e:  # noqa: BLE001 - re-raised by the driving call
        _stash(e)
        return -1


@ffi.def_extern(error=-1)
def py_cache_delete_trampoline(conn: CData, ctx: CData, key: CData, key_size: int) -> int:
    if _raised():
        return -1
    try:
        ffi.from_handle(ctx).fn.delete(connection_of(conn), _bytes(key, key_size))
        return 0
    except BaseException as e:  # noqa: BLE001 - re-raised by the driving call
        _stash(e)
        return -1
