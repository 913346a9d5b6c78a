"""The client hello callback (both modes), the ClientHello view and the
per-connection overrides a server picks in it (issue 12).

Modes. BLOCKING: `fn(conn)` decides before it returns. NONBLOCKING: `fn(conn)`
may return undecided; s2n_negotiate then reports BLOCKED on application input
until `conn.client_hello_cb_done()` (from anywhere: another thread, an asyncio
task, or fn itself).

s2n-tls checks the *current* config's mode in s2n_client_hello_cb_done, so a
config swapped in before the callback is done (`set_config`) would make it
fail unless that config is non-blocking too. So in NONBLOCKING mode
`set_config` made before `client_hello_cb_done()` takes effect when it is
called: done first, then the new config, which s2n-tls allows at that point.

The ClientHello is a copy, taken in one call: no Python object points into
the connection's memory (s2n_connection_free_handshake frees the message but
leaves pointers into it; see _glue_client_hello.c).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Optional, Tuple, Union

if TYPE_CHECKING:
    from .config import Config
    from .connection import Connection

from . import _callbacks
from ._enums import ClientHelloCbMode, ProtocolVersion  # ClientHelloCbMode: also re-exported
from ._errors import byte_string, check, from_capture, last_error, usage
from ._lib import CData, ffi, lib


class HelloCallback:
    """What the config's client hello ctx points at."""

    __slots__ = ("fn", "mode", "handle")

    def __init__(self, fn: Callable[[Connection], object], mode: ClientHelloCbMode) -> None:
        self.fn = _callbacks._checked(fn, "client hello callback")
        self.mode = mode
        self.handle = ffi.new_handle(self)


class HelloState:
    """Per connection, from the callback on: which mode ran it, whether it is
    done, and a config waiting for client_hello_cb_done()."""

    __slots__ = ("mode", "done", "deferred")

    def __init__(self, mode: ClientHelloCbMode) -> None:
        self.mode = mode
        self.done = mode == ClientHelloCbMode.BLOCKING
        self.deferred: Any = None

    @property
    def waiting(self) -> bool:
        return not self.done


def install(ptr: CData, fn: Callable[[Connection], object], mode: ClientHelloCbMode) -> HelloCallback:
    """Config.set_client_hello_cb: the callback and its mode, in C."""
    mode = ClientHelloCbMode(mode)
    cb = HelloCallback(fn, mode)
    check(lib.s2n_config_set_client_hello_cb(ptr, lib.py_client_hello_cb_trampoline, cb.handle))
    check(lib.py_hello_set_cb_mode(ptr, int(mode)))
    return cb


@ffi.def_extern(error=-1)
def py_client_hello_cb_trampoline(conn: CData, ctx: CData) -> int:
    if _callbacks._raised():
        return -1
    try:
        cb: HelloCallback = ffi.from_handle(ctx)
        pyconn = _callbacks.connection_of(conn)
        pyconn._hello = HelloState(cb.mode)
        pyconn._in_client_hello = True  # opens the client hello methods (Connection's gate)
        try:
            cb.fn(pyconn)  # the return value is ignored: raise to reject
        finally:
            pyconn._in_client_hello = False
        return 0
    except BaseException as e:  # noqa: BLE001 - re-raised by the driving call
        _callbacks._stash(e)
        return -1


# Connection methods (called with the connection's locks held, `ptr` valid)

def set_config(conn: Connection, ptr: CData, config: Config) -> None:
    state = conn._hello
    if state is not None and state.waiting:
        with config._lock:
            config._frozen = True  # it will be used: no more changes
        state.deferred = config
        return
    conn._apply_config(ptr, config)


def cb_done(conn: Connection, ptr: CData) -> None:
    check(lib.py_hello_cb_done(ptr))
    state = conn._hello
    if state is None:
        return
    state.done = True
    config, state.deferred = state.deferred, None
    if config is not None:
        conn._apply_config(ptr, config)


def protocol_list(protocols: Iterable[Union[str, bytes]]) -> Tuple[List[CData], CData]:
    """ALPN names as C strings (kept alive by the caller during the call)."""
    if isinstance(protocols, (str, bytes)):
        raise TypeError("protocols must be a list of str/bytes, not one string")
    items = []
    for p in protocols:
        b = p.encode() if isinstance(p, str) else byte_string(p, "protocol")
        if b"\0" in b or not 0 < len(b) < 256:
            raise ValueError(f"ALPN protocol must be 1..255 bytes without NUL: {p!r}")
        items.append(ffi.new("char[]", b))
    return items, (ffi.new("char *[]", items) if items else ffi.NULL)


def selected_cert(ptr: CData) -> List[bytes]:
    n = lib.py_hello_selected_cert_length(ptr)
    if n < 0:
        lib.py_capture_now()  # "none selected": an answer, not an error
        return []
    der = ffi.new("const uint8_t **")
    length = ffi.new("uint32_t *")
    out = []
    for i in range(n):
        check(lib.py_hello_selected_cert_der(ptr, i, der, length))
        out.append(ffi.unpack(ffi.cast("char *", der[0]), length[0]))  # copied now
    return out


_RAW, _CIPHERS, _EXTENSIONS, _SESSION_ID, _RANDOM = range(5)


def _blob(ptr: CData, what: int) -> bytes:
    n = lib.py_hello_blob(ptr, what, ffi.NULL, 0)
    if n < 0:
        raise last_error()
    if n == 0:
        return b""
    buf = ffi.new("uint8_t[]", n)
    got = lib.py_hello_blob(ptr, what, buf, n)
    if got < 0:
        raise last_error()
    return ffi.unpack(ffi.cast("char *", buf), got)


def snapshot(ptr: CData) -> "ClientHello":
    """Connection.get_client_hello: copy everything out in this one call."""
    if not lib.py_hello_available(ptr):
        raise usage("no ClientHello to read: none received yet, this is a client, or the "
                    "handshake memory was freed (free_handshake)", "S2N_PY_ERR_NO_CLIENT_HELLO")
    name_len = lib.py_hello_server_name(ptr, ffi.NULL, 0)
    name: Optional[str] = None
    if name_len < 0:
        lib.py_capture_now()  # no server_name extension
    else:
        buf = ffi.new("uint8_t[]", max(name_len, 1))
        n = check(lib.py_hello_server_name(ptr, buf, name_len))
        name = ffi.unpack(ffi.cast("char *", buf), n).decode("utf-8", errors="replace")
    groups: List[int] = []
    count = lib.py_hello_supported_groups(ptr, ffi.NULL, 0)
    if count < 0:
        lib.py_capture_now()  # no supported_groups extension
    elif count:
        arr = ffi.new("uint16_t[]", count)
        got = lib.py_hello_supported_groups(ptr, arr, count)
        if got < 0:
            lib.py_capture_now()  # malformed: report none, as for a missing one
        else:
            groups = [arr[i] for i in range(got)]
    return ClientHello(
        raw=_blob(ptr, _RAW), ciphers=_blob(ptr, _CIPHERS), extensions=_blob(ptr, _EXTENSIONS),
        session_id=_blob(ptr, _SESSION_ID), random=_blob(ptr, _RANDOM), server_name=name,
        groups=groups, legacy_version=check(lib.py_hello_legacy_version(ptr)))


def _parse_extensions(raw: bytes) -> Dict[int, bytes]:
    out: Dict[int, bytes] = {}
    i = 0
    while i + 4 <= len(raw):
        ext = raw[i] << 8 | raw[i + 1]
        size = raw[i + 2] << 8 | raw[i + 3]
        out.setdefault(ext, raw[i + 4:i + 4 + size])
        i += 4 + size
    return out


class ClientHello:
    """The ClientHello a server received: a copy, valid after the connection
    is gone (bytes and ints only). From `Connection.get_client_hello()`."""

    __slots__ = ("_raw", "_ciphers", "_extensions", "_session_id", "_random", "_name",
                 "_groups", "_legacy", "_parsed")

    def __init__(self, *, raw: bytes, ciphers: bytes, extensions: bytes, session_id: bytes,
                 random: bytes, server_name: Optional[str], groups: List[int],
                 legacy_version: int) -> None:
        self._raw = raw
        self._ciphers = ciphers
        self._extensions = extensions
        self._session_id = session_id
        self._random = random
        self._name = server_name
        self._groups = groups
        self._legacy = legacy_version
        self._parsed: Optional[Dict[int, bytes]] = None

    def get_server_name(self) -> Optional[str]:
        """The first name of the server_name extension (SNI), or None."""
        return self._name

    def get_raw_message(self) -> bytes:
        """The message as received, without its 4-byte header; s2n-tls zeroes
        the client random in it (see get_random())."""
        return self._raw

    def get_cipher_suites(self) -> List[int]:
        """The offered cipher suites as IANA code points (e.g. 0x1301), in order."""
        c = self._ciphers
        return [c[i] << 8 | c[i + 1] for i in range(0, len(c) - 1, 2)]

    def get_extensions(self) -> bytes:
        """The raw extensions block (type, length, data for each)."""
        return self._extensions

    def get_extension_by_id(self, extension_id: int) -> Optional[bytes]:
        """The data of extension `extension_id` (an IANA number, e.g. 0 for
        server_name), or None when the client did not send it."""
        if not 0 <= int(extension_id) <= 0xFFFF:
            raise ValueError("extension id must be in 0..65535")
        if self._parsed is None:
            self._parsed = _parse_extensions(self._extensions)
        return self._parsed.get(int(extension_id))

    def has_extension(self, extension_id: int) -> bool:
        return self.get_extension_by_id(extension_id) is not None

    def get_supported_groups(self) -> List[int]:
        """The supported_groups extension as IANA group numbers ([] if absent)."""
        return list(self._groups)

    def get_legacy_protocol_version(self) -> Union[ProtocolVersion, int]:
        """The legacy_version field (TLS 1.2 even when TLS 1.3 is offered)."""
        try:
            return ProtocolVersion(self._legacy)
        except ValueError:
            return self._legacy

    def get_session_id(self) -> bytes:
        return self._session_id

    def get_random(self) -> bytes:
        return self._random

    def get_fingerprint(self, kind: str = "ja3") -> Tuple[str, str]:
        """(hash, raw string) of the message's "ja3" or "ja4" fingerprint, as
        s2n-tls computes it (s2n_fingerprint_get_hash / _get_raw; JA3's hash
        is the hex MD5 of the raw string). Not for SSLv2-format hellos."""
        kinds = {"ja3": 0, "ja4": 1}
        if kind not in kinds:
            raise ValueError(f"kind must be 'ja3' or 'ja4', not {kind!r}")
        n = len(self._raw)
        msg = bytes([1, n >> 16 & 0xFF, n >> 8 & 0xFF, n & 0xFF]) + self._raw
        hash_buf = ffi.new("uint8_t[]", 128)
        hash_len, raw_len = ffi.new("uint32_t *"), ffi.new("uint32_t *")
        raw_buf = ffi.new("uint8_t[]", 1024)
        for _ in range(2):
            if lib.py_hello_fingerprint(msg, len(msg), kinds[kind], hash_buf, 128, hash_len,
                                        raw_buf, len(raw_buf), raw_len) < 0:
                raise from_capture(lib.py_last_error())
            if raw_len[0] <= len(raw_buf):
                break
            raw_buf = ffi.new("uint8_t[]", raw_len[0])
        return (ffi.unpack(ffi.cast("char *", hash_buf), hash_len[0]).decode("ascii"),
                ffi.unpack(ffi.cast("char *", raw_buf), raw_len[0]).decode("ascii"))

    def __repr__(self) -> str:
        return f"<s2n.ClientHello server_name={self._name!r} {len(self._raw)} bytes>"


ClientHello.__module__ = "s2n"
