"""SSLContext: the stdlib's `ssl.SSLContext`, with s2n-tls doing the TLS.

The stdlib object keeps what it always kept (verify_mode, check_hostname,
minimum_version, options, the CA store `get_ca_certs()` reads...): every
setting goes to it first, so its checks and errors stay the stdlib's. This
class also records what s2n-tls needs (certificate chains, trust, ALPN) and
builds one s2n `Config` per role from both, on first use after a change
(s2n-tls freezes a Config once a connection uses it).
"""

from __future__ import annotations

import collections
import os
import ssl as _ssl
import threading
from typing import IO, TYPE_CHECKING, Any, Dict, Iterable, List, Optional, Set, Tuple, Union

from .._enums import ClientAuth
from .._errors import S2NError
from .._lib import ffi, lib
from ..config import Config
from ..connection import Connection
from . import _errors

if TYPE_CHECKING:
    import socket

    from ._info import SSLSession
    from ._object import SSLObject
    from ._socket import SSLSocket

# s2n-tls security policies for the protocol ranges ssl can ask for.
POLICY_DEFAULT = "default"  # TLS 1.2-1.3, ML-KEM hybrid key exchange first
POLICY_TLS13_ONLY = "CloudFront-Upstream-TLS-1-3-2025-PQ"
POLICY_TLS12_ONLY = "20240501"
# The TLS 1.2 suites of the default policy (OpenSSL names): a cipher string
# that keeps all of them can run on it; one that drops some cannot.
DEFAULT_TLS12_SUITES = frozenset({
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384"})

# OpenSSL cipher-string keywords that select broad sets, not particular suites.
_BROAD = frozenset({"DEFAULT", "ALL", "HIGH", "MEDIUM", "TLSV1", "TLSV1.0", "TLSV1.2", "SSLV3",
                    "COMPLEMENTOFDEFAULT", "COMPLEMENTOFALL"})

_V = _ssl.TLSVersion
_C = _ssl._SSLContext  # type: ignore[attr-defined]  # the C type under ssl.SSLContext


def _pem_certs_from_der(data: bytes) -> bytes:
    """cadata as DER (one or more certificates back to back) -> PEM."""
    import base64

    out, i = [], 0
    while i < len(data):
        if data[i] != 0x30 or i + 2 > len(data):
            raise _ssl.SSLError(0, "not enough data: cadata does not contain a certificate")
        first = data[i + 1]
        if first < 0x80:
            size, head = first, 2
        else:
            n = first & 0x7F
            size, head = int.from_bytes(data[i + 2:i + 2 + n], "big"), 2 + n
        der = data[i:i + head + size]
        b64 = base64.b64encode(der).decode()
        out.append("-----BEGIN CERTIFICATE-----\n"
                   + "\n".join(b64[j:j + 64] for j in range(0, len(b64), 64))
                   + "\n-----END CERTIFICATE-----\n")
        i += head + size
    return "".join(out).encode()


def _password_bytes(password: Any) -> Optional[bytes]:
    if password is None:
        return None
    if callable(password):
        password = password()
    if isinstance(password, str):
        password = password.encode()
    if not isinstance(password, (bytes, bytearray)):
        raise TypeError("password should be a string or bytes")
    return bytes(password)


class SSLContext(_ssl.SSLContext):
    """`ssl.SSLContext` on s2n-tls. See the module docstring of `s2n.ssl`."""

    sslsocket_class: Any = None  # set by s2n.ssl
    sslobject_class: Any = None

    # what s2n-tls needs, in the instance __dict__ (set in __new__)
    _s2n_chains: List[Tuple[bytes, bytes]]
    _s2n_trust: List[Tuple[str, Any]]
    _s2n_deferred: List[Any]
    _s2n_system: bool
    _s2n_alpn: Optional[List[str]]
    _s2n_policy: Optional[str]
    _s2n_keylog: Optional[IO[str]]
    _s2n_lock: threading.Lock
    _s2n_configs: Dict[bool, Config]
    _s2n_ticket_key: bytes

    def __new__(cls, protocol: Optional[int] = None, *args: Any, **kwargs: Any) -> "SSLContext":
        if protocol is None:
            protocol = _ssl.PROTOCOL_TLS_CLIENT
        self = super().__new__(cls, protocol, *args, **kwargs)
        d = self.__dict__
        d["_s2n_chains"] = []   # (chain PEM, key PEM)
        d["_s2n_trust"] = []    # ("file" | "dir" | "pem", value)
        d["_s2n_deferred"] = []  # CA files not yet given to the stdlib context
        d["_s2n_system"] = False
        d["_s2n_alpn"] = None
        d["_s2n_policy"] = None  # set_security_policy()
        d["_s2n_keylog"] = None  # an open file, shared by its connections
        d["_s2n_lock"] = threading.Lock()
        d["_s2n_configs"] = {}
        d["_s2n_ticket_key"] = os.urandom(32)
        return self

    def __init__(self, protocol: Optional[int] = None, *args: Any, **kwargs: Any) -> None:
        pass

    # The stdlib's setters of these reach the C type through the module-level
    # name `ssl.SSLContext`, which inject_into_ssl() makes this class: they
    # would call themselves. Go to the C type directly.
    if TYPE_CHECKING:  # as ssl.SSLContext declares them
        minimum_version: _ssl.TLSVersion
        maximum_version: _ssl.TLSVersion
        options: _ssl.Options
        verify_flags: _ssl.VerifyFlags
        verify_mode: _ssl.VerifyMode
    else:
        minimum_version = property(
            lambda self: _V(_C.minimum_version.__get__(self)),
            lambda self, value: _C.minimum_version.__set__(self, value))
        maximum_version = property(
            lambda self: _V(_C.maximum_version.__get__(self)),
            lambda self, value: _C.maximum_version.__set__(self, value))
        options = property(
            lambda self: _ssl.Options(_C.options.__get__(self)),
            lambda self, value: _C.options.__set__(self, value))
        verify_flags = property(
            lambda self: _ssl.VerifyFlags(_C.verify_flags.__get__(self)),
            lambda self, value: _C.verify_flags.__set__(self, value))
        verify_mode = property(
            lambda self: _ssl.VerifyMode(_C.verify_mode.__get__(self)),
            lambda self, value: _C.verify_mode.__set__(self, value))

    if TYPE_CHECKING:  # what the stdlib's methods make here: s2n.ssl's classes
        def wrap_socket(self, sock: socket.socket, server_side: bool = False,
                        do_handshake_on_connect: bool = True, suppress_ragged_eofs: bool = True,
                        server_hostname: Union[str, bytes, None] = None,
                        session: Union[SSLSession, _ssl.SSLSession, None] = None) -> SSLSocket: ...

        # s2n.ssl.SSLObject has ssl.SSLObject's interface without being its subclass
        def wrap_bio(self, incoming: _ssl.MemoryBIO, outgoing: _ssl.MemoryBIO,  # type: ignore[override]
                     server_side: bool = False, server_hostname: Union[str, bytes, None] = None,
                     session: Union[SSLSession, _ssl.SSLSession, None] = None) -> SSLObject: ...

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)  # the stdlib checks and stores it
        if not name.startswith("_s2n"):
            self._changed()

    def _changed(self) -> None:
        self.__dict__["_s2n_configs"] = {}

    # certificates and trust

    def load_cert_chain(self, certfile: Any, keyfile: Any = None, password: Any = None) -> None:
        super().load_cert_chain(certfile, keyfile, password)  # the stdlib's checks and errors
        with open(certfile, "rb") as f:
            chain = f.read()
        if keyfile is None:
            key = chain
        else:
            with open(keyfile, "rb") as f:
                key = f.read()
        if b"ENCRYPTED" in key:
            key = self._decrypt(key, _password_bytes(password))
        self._s2n_chains.append((chain, key))
        self._changed()

    @staticmethod
    def _decrypt(key: bytes, password: Optional[bytes]) -> bytes:
        out = ffi.new("char **")
        if lib.py_decrypt_key(key, len(key), (password or b"") + b"\0", out) != 0:
            raise _ssl.SSLError(9, "[SSL] PEM lib: cannot decrypt the private key")
        try:
            return ffi.string(out[0])
        finally:
            lib.py_free(out[0])

    def load_verify_locations(self, cafile: Any = None, capath: Any = None,
                              cadata: Any = None) -> None:
        # The stdlib's parse (its checks and errors, and get_ca_certs()) costs
        # about as much as the handshake; a CA file it already accepted
        # unchanged is loaded into it only when something asks (urllib3
        # makes a context, and loads the same file, per connection).
        seen = _stat_key(cafile) if cafile is not None and capath is None and cadata is None else None
        if seen is not None and seen in _PARSED_CA_FILES:
            self._s2n_deferred.append(cafile)
        else:
            super().load_verify_locations(cafile, capath, cadata)
            if seen is not None:
                if len(_PARSED_CA_FILES) > 1024:
                    _PARSED_CA_FILES.clear()
                _PARSED_CA_FILES.add(seen)
        if cafile is not None:
            self._s2n_trust.append(("file", os.fspath(cafile)))
        if capath is not None:
            self._s2n_trust.append(("dir", os.fspath(capath)))
        if cadata is not None:
            pem = cadata.encode("ascii") if isinstance(cadata, str) else _pem_certs_from_der(bytes(cadata))
            self._s2n_trust.append(("pem", pem))
        self._changed()

    def _stdlib_trust(self) -> None:
        deferred, self.__dict__["_s2n_deferred"] = self._s2n_deferred, []
        for cafile in deferred:
            super().load_verify_locations(cafile)

    def get_ca_certs(self, binary_form: bool = False) -> Any:
        self._stdlib_trust()
        return super().get_ca_certs(binary_form)

    def cert_store_stats(self) -> Any:
        self._stdlib_trust()
        return super().cert_store_stats()

    def load_default_certs(self, purpose: Any = _ssl.Purpose.SERVER_AUTH) -> None:
        super().load_default_certs(purpose)
        self.__dict__["_s2n_system"] = True
        self._changed()

    def set_default_verify_paths(self) -> None:
        super().set_default_verify_paths()
        self.__dict__["_s2n_system"] = True
        self._changed()

    # protocol choices

    def set_alpn_protocols(self, alpn_protocols: Iterable[str]) -> None:
        protocols = list(alpn_protocols)
        super().set_alpn_protocols(protocols)
        self.__dict__["_s2n_alpn"] = protocols
        self._changed()

    def set_ciphers(self, cipherlist: str) -> None:
        """OpenSSL cipher strings, as far as s2n-tls can follow them. s2n-tls
        offers the suites of its security policy (all AEAD, forward secret).
        A string runs on that policy when it keeps all of them, or when it
        only names broad sets (uvicorn's "TLSv1", "DEFAULT", "HIGH", ...,
        with exclusions that spare them, such as "!aNULL:!MD5"); a string
        that really narrows the suites raises SSLError: pick an s2n-tls
        policy with `set_security_policy(name)` instead. TLS 1.3 suites are
        the policy's, as in OpenSSL, where set_ciphers does not touch them."""
        selected = self._openssl_selects(cipherlist)
        if selected and not (DEFAULT_TLS12_SUITES <= selected or self._only_broad(cipherlist)):
            raise _ssl.SSLError(
                1, f"[SSL] s2n-tls cannot restrict its cipher suites to {cipherlist!r}: it "
                   f"uses named security policies; call set_security_policy(name) instead")
        super().set_ciphers(cipherlist)  # the stdlib's parsing and errors
        self._changed()

    @staticmethod
    def _openssl_selects(cipherlist: str) -> Set[str]:
        probe = _ssl.SSLContext(_ssl.PROTOCOL_TLS_SERVER)
        try:
            probe.set_ciphers(cipherlist)
        except _ssl.SSLError:
            return set()
        return {c["name"] for c in probe.get_ciphers()}

    @classmethod
    def _only_broad(cls, cipherlist: str) -> bool:
        tokens = [t for t in cipherlist.replace(",", ":").replace(" ", ":").split(":") if t]
        positive = [t for t in tokens if t[0] not in "!-+@"]
        removals = ":".join(t for t in tokens if t[0] in "!-")
        if not all(t.upper() in _BROAD for t in positive):
            return False
        return not removals or DEFAULT_TLS12_SUITES <= cls._openssl_selects("ALL:" + removals)

    def set_security_policy(self, name: str) -> None:
        """s2n-tls's own choice: a security policy by name (e.g. "default",
        "default_tls13", "20240501"); overrides minimum/maximum_version."""
        Config().set_cipher_preferences(name)  # fails here for an unknown name
        self.__dict__["_s2n_policy"] = name
        self._changed()

    def _policy(self) -> str:
        if self._s2n_policy:
            return self._s2n_policy
        lo, hi, opts = self.minimum_version, self.maximum_version, self.options
        no13 = hi in (_V.TLSv1_2, _V.TLSv1_1, _V.TLSv1, _V.SSLv3) or bool(opts & _ssl.OP_NO_TLSv1_3)
        only13 = lo == _V.TLSv1_3 or bool(opts & _ssl.OP_NO_TLSv1_2)
        if hi in (_V.TLSv1_1, _V.TLSv1, _V.SSLv3) or (no13 and only13):
            raise _ssl.SSLError(1, "[SSL: NO_PROTOCOLS_AVAILABLE] no protocols available "
                                   "(s2n-tls speaks TLS 1.2 and 1.3)")
        if only13:
            return POLICY_TLS13_ONLY
        if no13:
            return POLICY_TLS12_ONLY
        return POLICY_DEFAULT

    # features s2n-tls does not offer through this interface

    def set_ecdh_curve(self, name: str) -> None:
        raise NotImplementedError("set_ecdh_curve: s2n-tls takes its groups from the security "
                                  "policy (set_security_policy)")

    def load_dh_params(self, path: Any) -> None:
        raise NotImplementedError("load_dh_params: s2n-tls's policies use ECDHE, not DHE")

    def set_npn_protocols(self, npn_protocols: Any) -> None:
        raise NotImplementedError("NPN: s2n-tls supports ALPN only (set_alpn_protocols)")

    def set_psk_client_callback(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("PSK callbacks: use s2n.ExternalPsk on an s2n.Connection")

    set_psk_server_callback = set_psk_client_callback

    # key log (SSLKEYLOGFILE)

    @property  # type: ignore[override]  # read as None when unset (the stdlib's is str)
    def keylog_filename(self) -> Optional[str]:
        f = self._s2n_keylog
        return f.name if f is not None else None

    @keylog_filename.setter
    def keylog_filename(self, path: Optional[str]) -> None:
        old = self._s2n_keylog
        self.__dict__["_s2n_keylog"] = None if path is None else open(path, "a", buffering=1)
        if old is not None:
            old.close()
        self._changed()

    def _log_key(self, conn: Connection, line: bytes) -> None:
        f = self._s2n_keylog
        if f is not None:
            with self._s2n_lock:
                f.write(line.decode("ascii", "replace") + "\n")

    # the s2n Config

    def s2n_config(self, server_side: bool) -> Config:
        """The s2n Config this context stands for in that role (cached)."""
        configs = self._s2n_configs
        cfg = configs.get(server_side)
        if cfg is None:
            key = self._settings(server_side)
            cfg = _SHARED.get(key) if key is not None else None
            if cfg is None:
                try:
                    cfg = self._build(server_side)
                except S2NError as e:
                    _errors.reraise(e)
                if key is not None:
                    _SHARED.put(key, cfg)
            configs[server_side] = cfg
        return cfg

    def _settings(self, server_side: bool) -> Optional[Tuple[Any, ...]]:
        """Everything a built Config depends on, or None when it holds
        something of this context's own (callbacks, a server's ticket key).
        Contexts made per connection (urllib3, requests) then share one
        Config instead of parsing their CA file into s2n-tls every time."""
        if server_side or self._s2n_keylog is not None or self.sni_callback is not None:
            return None
        trust: List[Tuple[Any, ...]] = []
        for kind, value in self._s2n_trust:
            if kind == "pem":
                trust.append((kind, value))
            else:
                try:
                    st = os.stat(value)
                except OSError:
                    return None
                trust.append((kind, value, st.st_mtime_ns, st.st_size, st.st_ino))
        return (self._policy(), tuple(self._s2n_chains), tuple(trust), self._s2n_system,
                self.verify_mode, self.check_hostname, tuple(self._s2n_alpn or ()),
                bool(self.options & _ssl.OP_NO_TICKET))

    def _build(self, server_side: bool) -> Config:
        cfg = Config()
        cfg.set_cipher_preferences(self._policy())
        for chain, key in self._s2n_chains:
            cfg.add_cert_chain_and_key(chain, key)
        verify = self.verify_mode != _ssl.CERT_NONE
        if verify:
            for kind, value in self._s2n_trust:
                if kind == "pem":
                    cfg.add_pem_to_trust_store(value)
                elif kind == "file":
                    cfg.set_verification_ca_location(cafile=value)
                else:
                    cfg.set_verification_ca_location(capath=value)
            if self._s2n_system:
                cfg.load_system_certs()
        if server_side:
            if verify:
                cfg.set_client_auth_type(ClientAuth.REQUIRED if self.verify_mode == _ssl.CERT_REQUIRED
                                         else ClientAuth.OPTIONAL)
                cfg.set_verify_host_callback(_accept_any_name)  # a client has no host name
            if not self.options & _ssl.OP_NO_TICKET and self.num_tickets > 0:
                cfg.set_session_tickets_onoff(True)
                cfg.add_ticket_crypto_key(b"s2n.ssl", self._s2n_ticket_key)
                cfg.set_initial_ticket_count(min(self.num_tickets, 255))
            if self.sni_callback is not None:
                cfg.set_client_hello_cb(self._client_hello)
        else:
            if not verify:
                cfg.disable_x509_verification()
            elif not self.check_hostname:
                cfg.set_verify_host_callback(_accept_any_name)
            cfg.set_session_tickets_onoff(not self.options & _ssl.OP_NO_TICKET)
            cfg.set_session_ticket_callback(_keep_ticket)
        if self._s2n_alpn:
            cfg.set_protocol_preferences(self._s2n_alpn)
        if self._s2n_keylog is not None:
            cfg.set_key_log_cb(self._log_key)
        return cfg

    def _client_hello(self, conn: Connection) -> None:
        """sni_callback(sslobject, server_name, context): it may switch the
        object's context (its certificates); an int return is an alert."""
        owner = getattr(conn, "_ssl_owner", None)
        sslobj = owner() if owner is not None else None
        callback = self.sni_callback
        if sslobj is None or callback is None:
            return
        result = callback(sslobj, conn.get_server_name(), self)  # type: ignore[arg-type]  # None without SNI, as in the stdlib
        if result is not None:
            raise _errors._ssl_error(_ssl.SSLError, 1, "CALLBACK_FAILED",
                                     f"sni_callback returned {result!r}")
        new = sslobj._context
        if new is not self:
            conn.set_config(new.s2n_config(True))
            lib.s2n_connection_server_name_extension_used(conn._conn())



def _stat_key(path: Any) -> Optional[Tuple[Any, ...]]:
    try:
        st = os.stat(path)
    except (OSError, TypeError, ValueError):
        return None
    return (os.fspath(path), st.st_mtime_ns, st.st_size, st.st_ino)


_PARSED_CA_FILES: Set[Tuple[Any, ...]] = set()  # CA files the stdlib accepted, as they were then


class _ConfigCache:
    """A few built client Configs, most recently used last (frozen once
    used, so sharing them between contexts is safe)."""

    def __init__(self, size: int = 16) -> None:
        self._size = size
        self._items: "collections.OrderedDict[Tuple[Any, ...], Config]" = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Tuple[Any, ...]) -> Optional[Config]:
        with self._lock:
            cfg = self._items.get(key)
            if cfg is not None:
                self._items.move_to_end(key)
            return cfg

    def put(self, key: Tuple[Any, ...], cfg: Config) -> None:
        with self._lock:
            self._items[key] = cfg
            while len(self._items) > self._size:
                self._items.popitem(last=False)


_SHARED = _ConfigCache()


def _accept_any_name(name: str) -> bool:
    return True


def _keep_ticket(conn: Connection, session: bytes, lifetime: int) -> None:
    """Client: the newest session of a connection, for SSLSocket.session."""
    conn._ssl_session = session

