"""TLS 1.3 early data (0-RTT): the client's first flight carries application
data, encrypted under a key from an earlier session, so the server can act
one round trip sooner. Such data can be replayed by an attacker: see
docs/early-data.md before accepting it. The server decides per offer in an
early data callback (now or later, as certificate validation does)."""

from __future__ import annotations

import collections
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Optional

if TYPE_CHECKING:
    from .connection import Connection

from ._errors import check
from ._lib import CData, ffi, lib
from ._validation import CertValidationInfo, run_decision_callback


class OfferedEarlyData(CertValidationInfo):
    """What the early data callback receives: `accept()` or `reject()` the
    client's early data, now or later (return None from the callback; the
    server's handshake then reports Blocked.ON_APPLICATION_INPUT until the
    decision). `get_context()` is the server's early data context saved in
    the ticket the client resumes with."""

    __slots__ = ()
    _slot = "_early_data_offer"
    _c_accept, _c_reject = "s2n_offered_early_data_accept", "s2n_offered_early_data_reject"
    _stale_name = "S2N_PY_ERR_EARLY_DATA_STALE"

    def get_context(self) -> bytes:
        """Inside the callback only (later the offer may be gone)."""
        ptr = self._ptr
        if ptr is None or not self._in_callback:
            raise self._stale("get_context() is for inside the early data callback")
        size = ffi.new("uint16_t *")
        check(lib.s2n_offered_early_data_get_context_length(ptr, size))
        buf = ffi.new("uint8_t[]", max(1, size[0]))
        check(lib.s2n_offered_early_data_get_context(ptr, buf, size[0]))
        return ffi.unpack(ffi.cast("char *", buf), size[0])


OfferedEarlyData.__module__ = "s2n"


@ffi.def_extern(error=-1)
def py_early_data_trampoline(conn_ptr: CData, offered_ptr: CData) -> int:
    # s2n_config_set_early_data_cb takes no context: the callable is the Config's.
    return run_decision_callback(OfferedEarlyData, conn_ptr, offered_ptr,
                                 _config_callback, "early data callback")


def _config_callback(conn: Connection) -> Callable[..., object]:
    config = conn._config
    assert config is not None  # a handshake in progress has one
    fn: Callable[..., object] = config._early_data_cb.fn
    return fn


class ReplayGuard:
    """A single-process anti-replay default (RFC 8446 8.2, ClientHello
    recording): accept early data only from a ClientHello whose random was
    not seen in the last `window` seconds. Use it as the early data callback,
    or call it from yours. It protects one server process only: a fleet needs
    a shared store (or single-use tickets), which is the application's job.
    When the store is full it rejects (early data falls back to 1-RTT)."""

    def __init__(self, window: float = 10.0, max_entries: int = 100_000) -> None:
        if window <= 0 or max_entries <= 0:
            raise ValueError("window and max_entries must be positive")
        self.window: float = float(window)
        self.max_entries: int = int(max_entries)
        self._seen: "collections.OrderedDict[bytes, float]" = collections.OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, conn: Connection, offered: Optional[OfferedEarlyData] = None) -> bool:
        random = conn.get_client_hello().get_random()
        now = time.monotonic()
        with self._lock:
            seen = self._seen
            while seen and next(iter(seen.values())) < now - self.window:
                seen.popitem(last=False)
            if random in seen or len(seen) >= self.max_entries:
                return False
            seen[random] = now
            return True


ReplayGuard.__module__ = "s2n"


def set_early_data_cb(config: Any, fn: Callable[[Connection, OfferedEarlyData], Optional[bool]]) -> None:
    from ._callbacks import Handle

    with config._lock:
        ptr = config._mutable()
        cb = Handle(fn, "early data callback")
        check(lib.s2n_config_set_early_data_cb(ptr, lib.py_early_data_trampoline))
        config._early_data_cb = cb
        config._has_callbacks = True
