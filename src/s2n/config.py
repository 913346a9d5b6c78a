"""Config: one s2n_config (certificates, trust, security policy, ALPN, ...)."""

from __future__ import annotations

import functools
import inspect
import os
import threading
from typing import Any, Awaitable, Callable, Iterable, List, Optional, Sequence, Type, Union

from . import _callbacks, _client_hello, _early_data, _legacy, _psk, _resumption, _session_cache
from ._enums import (AlertBehavior, ClientAuth, ClientHelloCbMode, PskMode, RenegotiateResponse,
                     SerializationVersion)
from ._errors import byte_string, check, from_capture, last_error, out_of_range, usage
from ._lib import CData, ffi, lib

from typing import TYPE_CHECKING  # noqa: E402 - issue 12: ocsp

if TYPE_CHECKING:
    from ._enums import CtSupportLevel, StatusRequestType
    from ._enums import AsyncPkeyValidationMode  # issue 14: pkey
    from ._ocsp import CertChainAndKey
    from ._early_data import OfferedEarlyData
    from ._pkey import AsyncPkeyOp
    from ._validation import CertValidationInfo
    from .connection import Connection

PemLike = Union[bytes, str, "os.PathLike[str]"]


def read_pem(value: PemLike, what: str) -> bytes:
    """PEM from bytes/str, or read from a path (os.PathLike)."""
    if isinstance(value, os.PathLike):
        with open(value, "rb") as f:
            data = f.read()
    elif isinstance(value, str):
        data = value.encode("ascii", errors="strict")
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
    else:
        raise TypeError(f"{what}: expected PEM bytes/str or a path, not {type(value).__name__}")
    if b"-----BEGIN" not in data:
        hint = " (pass file names as pathlib.Path)" if isinstance(value, str) else ""
        raise ValueError(f"{what}: no PEM data found{hint}")
    if b"\0" in data:
        raise ValueError(f"{what}: PEM contains a NUL byte")
    return data


def c_string(value: Union[str, bytes], what: str) -> bytes:
    data = value.encode() if isinstance(value, str) else byte_string(value, what)
    if b"\0" in data:
        raise ValueError(f"{what} contains a NUL byte")
    return data


# s2n-tls's default send buffer holds one record: a large send() makes one
# write(2) per 16 KiB record. Four records per write nearly double bulk
# throughput for 256 KiB writes; a send() still flushes before it returns.
SEND_BUFFER = 64 * 1024


def _free_config(ptr: CData, chains: List[Any], _cfree: Callable[[CData], int] = lib.s2n_config_free,
                 _kfree: Callable[[CData], int] = lib.s2n_cert_chain_and_key_free,
                 _cdata: Type[CData] = ffi.CData) -> None:
    """ffi.gc destructor: the config first, then the chains it borrowed
    (its own C pointers; s2n.CertChainAndKey objects free themselves)."""
    _cfree(ptr)
    for chain in chains:
        if isinstance(chain, _cdata):
            _kfree(chain)
    chains.clear()


class Config:
    """An s2n_config. Certificate and host verification are on; the security
    policy is s2n-tls's "default". Starts with an empty trust store (like
    `s2n_config_new_minimal`): call `load_system_certs()` or add CAs.

    A Config is frozen once a Connection uses it: s2n-tls forbids changing a
    config in use, so every setter then raises `UsageError`."""

    # set by the feature modules (only once their feature is used)
    _status_request: int
    _pkey_cb: Any
    _early_data_cb: Any
    _cert_validation_cb: Any

    def __init__(self) -> None:
        ptr = lib.s2n_config_new_minimal()
        if ptr == ffi.NULL:
            raise last_error()
        self._chains: List[Any] = []  # borrowed by the config: freed after it
        self._ptr = ffi.gc(ptr, functools.partial(_free_config, chains=self._chains))
        self._lock = threading.RLock()  # setters run one at a time, never while freezing
        self._frozen = False
        self._verify = True
        self._tickets = False
        self._has_callbacks = False
        self._verify_host: Optional[_callbacks.Handle] = None
        self._ticket_cb: Optional[_callbacks.Handle] = None
        check(lib.s2n_config_set_send_buffer_size(ptr, SEND_BUFFER))

    def _mutable(self) -> CData:
        if self._frozen:
            raise usage("this Config is used by a Connection and can no longer change",
                        "S2N_PY_ERR_CONFIG_FROZEN")
        return self._ptr

    @property
    def frozen(self) -> bool:
        return self._frozen

    # certificates and trust

    def add_cert_chain_and_key(self, chain: PemLike, key: PemLike) -> None:
        """Serve this chain (leaf first) and private key. Call again for more (e.g. RSA and ECDSA)."""
        ptr = self._mutable()
        chain_pem = read_pem(chain, "certificate chain")
        key_pem = read_pem(key, "private key")
        ck = lib.s2n_cert_chain_and_key_new()
        if ck == ffi.NULL:
            raise last_error()
        try:
            check(lib.s2n_cert_chain_and_key_load_pem_bytes(
                ck, ffi.from_buffer("uint8_t[]", chain_pem), len(chain_pem),
                ffi.from_buffer("uint8_t[]", key_pem), len(key_pem)))
            check(lib.s2n_config_add_cert_chain_and_key_to_store(ptr, ck))
        except BaseException:
            lib.s2n_cert_chain_and_key_free(ck)
            raise
        self._chains.append(ck)

    def set_verification_ca_location(self, cafile: Optional["os.PathLike[str] | str"] = None,
                                     capath: Optional["os.PathLike[str] | str"] = None) -> None:
        """Trust the CAs in a PEM file and/or an OpenSSL hashed directory."""
        ptr = self._mutable()
        if cafile is None and capath is None:
            raise ValueError("give cafile, capath or both")
        for p, isdir in ((cafile, False), (capath, True)):
            if p is not None and not (os.path.isdir(p) if isdir else os.path.isfile(p)):
                raise FileNotFoundError(2, "CA location not found", os.fspath(p))
        check(lib.s2n_config_set_verification_ca_location(
            ptr, os.fsencode(cafile) if cafile is not None else ffi.NULL,
            os.fsencode(capath) if capath is not None else ffi.NULL))
        # s2n-tls silently turns on OCSP status requests here; keep behaviour
        # independent of how the trust store was filled (as the Rust bindings do).
        check(lib.s2n_config_set_status_request_type(ptr, getattr(self, "_status_request", 0)))

    def add_pem_to_trust_store(self, pem: PemLike) -> None:
        """Trust the CA certificate(s) in `pem` (bytes/str, or a path)."""
        ptr = self._mutable()
        check(lib.s2n_config_add_pem_to_trust_store(ptr, read_pem(pem, "CA certificate")))

    def load_system_certs(self) -> None:
        """Trust the operating system's CA store."""
        check(lib.s2n_config_load_system_certs(self._mutable()))

    def disable_x509_verification(self) -> None:
        """INSECURE: accept any certificate from the peer. For tests only."""
        check(lib.s2n_config_disable_x509_verification(self._mutable()))
        self._verify = False

    @property
    def verifies_peer(self) -> bool:
        """False once `disable_x509_verification()` was called."""
        return self._verify

    def set_verify_host_callback(self, fn: Callable[[str], bool]) -> None:
        """`fn(name) -> bool` accepts or rejects each name in the peer's
        certificate. Servers need one for client certificates (mutual TLS):
        s2n-tls's default rejects every client certificate."""
        ptr = self._mutable()
        cb = _callbacks.Handle(fn, "verify-host callback")
        check(lib.s2n_config_set_verify_host_callback(ptr, lib.py_verify_host_trampoline, cb.handle))
        self._verify_host = cb
        self._has_callbacks = True

    # policy and behaviour

    def set_cipher_preferences(self, policy: str) -> None:
        """Select an s2n-tls security policy by name, e.g. "default_tls13" or "20240503"."""
        check(lib.s2n_config_set_cipher_preferences(self._mutable(), c_string(policy, "policy")))

    def set_protocol_preferences(self, protocols: Iterable[Union[str, bytes]]) -> None:
        """ALPN protocols, most preferred first."""
        ptr = self._mutable()
        items = [c_string(p, "protocol") for p in protocols]
        for p in items:
            if not 0 < len(p) < 256:
                raise ValueError(f"ALPN protocol must be 1..255 bytes: {p!r}")
        keep = [ffi.new("char[]", p) for p in items]
        check(lib.s2n_config_set_protocol_preferences(ptr, ffi.new("char *[]", keep) if keep else ffi.NULL, len(keep)))

    def set_alert_behavior(self, behavior: AlertBehavior) -> None:
        check(lib.s2n_config_set_alert_behavior(self._mutable(), AlertBehavior(behavior)))

    def set_recv_multi_record(self, enabled: bool) -> None:
        check(lib.s2n_config_set_recv_multi_record(self._mutable(), bool(enabled)))

    def set_client_auth_type(self, auth: ClientAuth) -> None:
        check(lib.s2n_config_set_client_auth_type(self._mutable(), ClientAuth(auth)))

    def set_session_tickets_onoff(self, enabled: bool) -> None:
        check(lib.s2n_config_set_session_tickets_onoff(self._mutable(), 1 if enabled else 0))
        self._tickets = bool(enabled)

    def set_max_blinding_delay(self, seconds: int) -> None:
        """Cap s2n-tls's blinding delay after errors (0 disables it: tests only)."""
        if not 0 <= int(seconds) < 2**32:
            raise ValueError("seconds must be in 0..2**32-1")
        check(lib.s2n_config_set_max_blinding_delay(self._mutable(), int(seconds)))

    # session resumption

    def add_ticket_crypto_key(self, name: Union[str, bytes], key: bytes,
                              intro_time: int = 0) -> None:
        """Server: a key to encrypt session tickets (`key`: at least 16 random
        bytes, 32 recommended, secret; `name`: 1..16 bytes identifying it;
        `intro_time`: seconds since the epoch when it starts being used, 0
        for now). Turn tickets on first (`set_session_tickets_onoff(True)`),
        or the session cache (`set_session_cache`): s2n-tls ignores keys
        while both are off. The one change s2n-tls
        allows on a Config in use, for key rotation."""
        if not self._tickets and getattr(self, "_session_cache", None) is None:
            raise usage("add_ticket_crypto_key() while session tickets and the session cache are "
                        "off: s2n-tls would ignore the key; call set_session_tickets_onoff(True) "
                        "or set_session_cache() first", "S2N_PY_ERR_TICKETS_OFF")
        name_b = c_string(name, "ticket key name")
        key_b = byte_string(key, "ticket key")
        if not 1 <= len(name_b) <= 16:
            raise ValueError(f"ticket key name must be 1..16 bytes, not {len(name_b)}")
        if len(key_b) < 16:
            raise ValueError(f"ticket key must be at least 16 random bytes (32 recommended), "
                             f"not {len(key_b)}")
        check(lib.s2n_config_add_ticket_crypto_key(
            self._ptr, name_b, len(name_b), ffi.from_buffer("uint8_t[]", key_b), len(key_b),
            int(intro_time)))

    def set_session_ticket_callback(self, fn: Callable[[Connection, bytes, int], object]) -> None:
        """Client: `fn(conn, session, lifetime_seconds)` for each session
        ticket a server sends (in TLS 1.3 they arrive after the handshake,
        while receiving); `conn` is the s2n.Connection that received it, so
        a client of several servers knows whose ticket it is. Pass `session`
        to `Connection.set_session` to resume."""
        ptr = self._mutable()
        cb = _callbacks.Handle(fn, "session ticket callback")
        check(lib.s2n_config_set_session_ticket_cb(ptr, lib.py_session_ticket_trampoline, cb.handle))
        self._ticket_cb = cb
        self._has_callbacks = True

    def set_session_cache(self, cache: "_session_cache.SessionCache") -> None:
        """Server, TLS 1.2: resume sessions by session ID, keeping their
        state in `cache` (s2n_config_set_cache_store/retrieve/delete_callback
        and s2n_config_set_session_cache_onoff). `cache` has
        `store(conn, key, value, ttl_seconds)`, `retrieve(conn, key)` -> the
        value or None, and `delete(conn, key)`; `s2n.SessionIdCache()` is an
        in-process one. s2n-tls encrypts each value with the ticket keys:
        add one with `add_ticket_crypto_key` (tickets may stay off)."""
        ptr = self._mutable()
        self._session_cache = _session_cache.install(ptr, cache)
        self._has_callbacks = True

    def set_client_hello_cb(self, fn: Callable[[Connection], object],
                            mode: ClientHelloCbMode = ClientHelloCbMode.BLOCKING) -> None:
        """Server: `fn(conn)` runs once the ClientHello is parsed, before the
        server answers; raise to reject the handshake. It may call
        `conn.get_client_hello()`, the getters, `conn.set_config(other)` (e.g.
        a certificate per server name) and the per-connection overrides
        (set_client_auth_type, set_cipher_preferences, set_protocol_preferences,
        server_name_extension_used).

        `mode=ClientHelloCbMode.NONBLOCKING`: `fn` may return undecided; the
        handshake then reports BLOCKED on application input until
        `conn.client_hello_cb_done()` is called (from anywhere), and
        negotiate() is called again. s2n_config_set_client_hello_cb(_mode)."""
        ptr = self._mutable()
        self._client_hello_cb = _client_hello.install(ptr, fn, mode)
        self._has_callbacks = True

    def set_key_log_cb(self, fn: Callable[[Connection, bytes], object]) -> None:
        """`fn(conn, line)` receives each NSS key log line (SSLKEYLOGFILE
        format). INSECURE: anyone with these lines can decrypt the traffic."""
        ptr = self._mutable()
        cb = _callbacks.Handle(fn, "key log callback")
        check(lib.s2n_config_set_key_log_cb(ptr, lib.py_key_log_trampoline, cb.handle))
        self._key_log_cb = cb
        self._has_callbacks = True

    def set_initial_ticket_count(self, count: int) -> None:
        """Server, TLS 1.3: session tickets sent after each full handshake."""
        if not 0 <= int(count) <= 255:
            raise ValueError("count must be in 0..255")
        check(lib.s2n_config_set_initial_ticket_count(self._mutable(), int(count)))
        self._tickets = True  # s2n-tls turns tickets on with a count (as add_ticket_crypto_key needs)

    def set_send_buffer_size(self, size: int) -> None:
        """Bytes s2n-tls may buffer before it writes (several records per
        write(2)). Config() sets 64 KiB; s2n-tls's own default is one record."""
        check(lib.s2n_config_set_send_buffer_size(self._mutable(), int(size)))

    # --- legacy peers and moving connections (issue 12) ---

    def send_max_fragment_length(self, size: int) -> None:
        """Client: ask the server for records of at most `size` bytes (512,
        1024, 2048 or 4096; RFC 6066). Some servers ignore it."""
        check(lib.s2n_config_send_max_fragment_length(self._mutable(), _legacy.max_frag_code(size)))

    def accept_max_fragment_length(self) -> None:
        """Server: honour a client's maximum fragment length request."""
        check(lib.s2n_config_accept_max_fragment_length(self._mutable()))

    def set_npn(self, enable: bool) -> None:
        """TLS 1.2: also offer (client) or accept (server) NPN, the
        predecessor of ALPN, with the protocols of set_protocol_preferences
        (s2n_config_set_npn). For legacy peers only; ALPN wins when both
        are negotiated. get_application_protocol() reports the result."""
        check(lib.s2n_config_set_npn(self._mutable(), bool(enable)))

    def add_dhparams(self, pem: Union[str, bytes, None] = None) -> None:
        """Server: finite-field Diffie-Hellman parameters (PEM "DH
        PARAMETERS", 2048 bits or more), needed only by policies with DHE
        cipher suites (s2n_config_add_dhparams). Without `pem`: RFC 7919's
        ffdhe2048 group. Replaces earlier parameters; on failure the Config
        has none (s2n-tls's own failure path would crash at free: the glue
        repairs it)."""
        if pem is None:
            pem = _legacy.ffdhe2048_pem()
        if isinstance(pem, str):
            pem = pem.encode("ascii")
        pem = byte_string(pem, "DH parameters")
        if b"\0" in pem:
            raise ValueError("DH parameters must not contain NUL bytes")
        if lib.py_config_add_dhparams(self._mutable(), pem, _legacy.ffdhe2048_pem()) < 0:
            raise from_capture(lib.py_last_error())

    def set_serialization_version(self, version: SerializationVersion) -> None:
        """Allow `Connection.serialize()` for connections made from now on
        (they must be set up before their handshake). INSECURE if the
        serialized bytes are stored or sent without encryption and a MAC:
        they hold the connection's keys."""
        check(lib.s2n_config_set_serialization_version(self._mutable(), SerializationVersion(version)))

    def set_renegotiate_request_cb(self, fn: Callable[[Connection], RenegotiateResponse]) -> None:
        """Client, TLS 1.2: `fn(conn) -> RenegotiateResponse` decides what a
        server's renegotiation request (HelloRequest) gets. Without it s2n-tls
        ignores such requests. On ACCEPT, finish the receive in progress, then
        `conn.renegotiate_wipe()` and `conn.renegotiate()` until it returns None."""
        ptr = self._mutable()
        cb = _callbacks.Handle(fn, "renegotiate request callback")
        check(lib.s2n_config_set_renegotiate_request_cb(ptr, lib.py_renegotiate_trampoline, cb.handle))
        self._renegotiate_cb = cb
        self._has_callbacks = True
    # --- client_hello (issue 12) ---

    @property
    def client_hello_cb_mode(self) -> Optional[ClientHelloCbMode]:
        """The mode of the installed client hello callback, or None."""
        cb = getattr(self, "_client_hello_cb", None)
        return cb.mode if cb is not None else None

    def set_cert_authorities_from_trust_store(self) -> None:
        """Server: send the subjects of the trusted CAs in the
        CertificateRequest (certificate_authorities), so that clients with
        several certificates pick one these CAs issued. Call after filling
        the trust store (s2n_config_set_cert_authorities_from_trust_store;
        at most 10 KB of names)."""
        with self._lock:
            check(lib.py_hello_cert_authorities_from_trust_store(self._mutable()))
    # --- validation (issue 12) ---

    def set_cert_validation_cb(self, fn: Callable[[Connection, CertValidationInfo], Optional[bool]]) -> None:
        """`fn(conn, info) -> bool` runs after s2n-tls has verified the peer's
        chain, for checks of your own (pinning, policy); `conn.get_peer_cert_chain()`
        gives the chain. True accepts; False or raising rejects (the exception
        propagates from negotiate()). Return None to decide later with
        `info.accept()`/`info.reject()` (s2n.CertValidationInfo): negotiate()
        raises BlockedError (ON_APPLICATION_INPUT) until then."""
        from . import _validation
        _validation.set_cert_validation_cb(self, fn)

    def disable_x509_time_verification(self) -> None:
        """INSECURE: accept certificates outside their validity period
        (expired or not yet valid). Only with another way to limit lifetimes."""
        from . import _validation
        _validation.disable_x509_time_verification(self)

    def disable_x509_intent_verification(self) -> None:
        """INSECURE: ignore Key Usage / Extended Key Usage (e.g. accept a
        clientAuth-only certificate from a server). Only for PKIs known to mis-set them."""
        from . import _validation
        _validation.disable_x509_intent_verification(self)

    def set_max_cert_chain_depth(self, depth: int) -> None:
        """The most certificates the peer's chain may hold as sent, leaf
        included (s2n-tls default 7; 1..65535): leaf + intermediate needs 2."""
        from . import _validation
        _validation.set_max_cert_chain_depth(self, depth)
    # --- ocsp (issue 12) ---

    def add_cert_chain_and_key_to_store(self, cert_chain_and_key: "CertChainAndKey") -> None:
        """Serve this s2n.CertChainAndKey (it can serve several Configs; this
        Config keeps it alive and freezes it)."""
        from . import _ocsp
        _ocsp.add_to_store(self, cert_chain_and_key)

    def set_status_request_type(self, kind: "StatusRequestType") -> None:
        """Client: ask the server to staple an OCSP response
        (StatusRequestType.OCSP) or not (NONE, the default)."""
        from . import _ocsp
        _ocsp.set_status_request_type(self, kind)

    def set_check_stapled_ocsp_response(self, enabled: bool) -> None:
        """Client: validate a stapled OCSP response during the handshake
        (on by default). Off: the response is only available to read."""
        from . import _ocsp
        _ocsp.set_check_stapled_ocsp_response(self, enabled)

    def set_ct_support_level(self, level: "CtSupportLevel") -> None:
        """Client: ask for the server's Certificate Transparency SCT list
        (CtSupportLevel.REQUEST); s2n-tls does not validate SCTs."""
        from . import _ocsp
        _ocsp.set_ct_support_level(self, level)
    # --- resumption (issue 12) ---

    def set_ticket_encrypt_decrypt_key_lifetime(self, seconds: int) -> None:
        """Server: how long after its intro time a ticket key encrypts new
        tickets (and decrypts); default 2 hours.
        (s2n_config_set_ticket_encrypt_decrypt_key_lifetime)"""
        _resumption.config_call(self, lib.s2n_config_set_ticket_encrypt_decrypt_key_lifetime,
                          _resumption.lifetime(seconds, "seconds"))

    def set_ticket_decrypt_key_lifetime(self, seconds: int) -> None:
        """Server: how long a ticket key still decrypts after it stopped
        encrypting; default 13 hours. (s2n_config_set_ticket_decrypt_key_lifetime)"""
        _resumption.config_call(self, lib.s2n_config_set_ticket_decrypt_key_lifetime,
                          _resumption.lifetime(seconds, "seconds"))

    def require_ticket_forward_secrecy(self, enabled: bool) -> None:
        """Resume only with forward secrecy: TLS 1.3 only (no TLS 1.2
        tickets issued or accepted). (s2n_config_require_ticket_forward_secrecy)"""
        _resumption.config_call(self, lib.s2n_config_require_ticket_forward_secrecy, bool(enabled))

    def set_session_state_lifetime(self, seconds: int) -> None:
        """How long a session stays resumable (the ticket lifetime sent to
        clients); default 15 hours. (s2n_config_set_session_state_lifetime)"""
        _resumption.config_call(self, lib.s2n_config_set_session_state_lifetime,
                          _resumption.lifetime(seconds, "seconds"))


    # --- external PSKs (issue 14) ---

    def set_psk_mode(self, mode: PskMode) -> None:
        """Which PSKs connections offer and accept (s2n_config_set_psk_mode):
        RESUMPTION (session tickets, the default) or EXTERNAL."""
        check(lib.s2n_config_set_psk_mode(self._mutable(), PskMode(mode)))

    def set_psk_selection_callback(self, fn: Callable[[Connection, Sequence[bytes]], Optional[int]]) -> None:
        """Server: `fn(conn, identities) -> index | None` picks one of the PSK
        identities the client offered (they are untrusted input); the pick must
        also be appended to the connection. Default: the first offered that
        matches an appended PSK (s2n_config_set_psk_selection_callback)."""
        ptr = self._mutable()
        cb = _psk.selection_handle(fn)
        check(lib.s2n_config_set_psk_selection_callback(ptr, lib.py_psk_selection_trampoline, cb.handle))
        self._psk_selection_cb = cb
        self._has_callbacks = True

    # --- early data (issue 14) ---

    def set_server_max_early_data_size(self, size: int) -> None:
        """Server: accept up to `size` bytes of 0-RTT data (default 0: none).
        Early data can be replayed: read docs/early-data.md first."""
        if not 0 <= int(size) < 1 << 32:
            raise ValueError("size must be in 0..2**32-1")
        check(lib.s2n_config_set_server_max_early_data_size(self._mutable(), int(size)))
        self._max_early_data = int(size)  # TLSSocket servers then read early data

    def set_early_data_cb(self, fn: Callable[[Connection, OfferedEarlyData], Optional[bool]]) -> None:
        """Server: `fn(conn, offered) -> bool | None` accepts (True) or rejects
        (False) the client's early data, or decides later through
        `offered.accept()`/`reject()` (None). `s2n.ReplayGuard()` is a
        single-process anti-replay default (s2n_config_set_early_data_cb)."""
        _early_data.set_early_data_cb(self, fn)

    # --- pkey offload (issue 14) ---

    def set_async_pkey_callback(self, fn: Callable[[Connection, AsyncPkeyOp], Optional[Awaitable[object]]]) -> None:
        """`fn(conn, op: s2n.AsyncPkeyOp)` for every private-key operation
        of the handshake; the key need not be in this process (add the
        certificate with CertChainAndKey(chain) and add_cert_chain_and_key_to_store).
        Answer with op.perform(cck) or op.set_output(result), then
        op.apply(conn): inside fn, or later from any thread (negotiate()
        reports Blocked.ON_APPLICATION_INPUT until then). Under s2n.asyncio
        fn may be `async def` (or return an awaitable): the transport awaits
        it and applies the answer. (s2n_config_set_async_pkey_callback)"""
        from . import _pkey
        _pkey.set_callback(self, fn)

    def set_async_pkey_validation_mode(self, mode: "AsyncPkeyValidationMode") -> None:
        """STRICT: apply() verifies an offloaded signature with the
        certificate's public key, so a bad signer fails the handshake here
        rather than at the peer. (s2n_config_set_async_pkey_validation_mode)"""
        from . import _pkey
        _pkey.set_validation_mode(self, mode)

Config.__module__ = "s2n"


def _locked(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def method(self: Config, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            try:
                return fn(self, *args, **kwargs)
            except OverflowError as e:  # an int that does not fit the C parameter
                raise out_of_range(e) from e
    return method


# Two threads configuring one Config must not interleave inside s2n-tls, and a
# Connection freezing it (Connection.set_config) waits for a running setter.
# Every public method takes the lock (an RLock: a setter may call another).
for _name, _fn in list(vars(Config).items()):
    if not _name.startswith("_") and inspect.isfunction(_fn):
        setattr(Config, _name, _locked(_fn))
