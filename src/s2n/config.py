"""Config: one s2n_config (certificates, trust, security policy, ALPN, ...)."""

from __future__ import annotations

import functools
import os
import threading
from typing import Any, Callable, Iterable, List, Optional, Union

from . import _callbacks, _resumption
from ._enums import AlertBehavior, ClientAuth
from ._errors import check, last_error, usage
from ._lib import ffi, lib

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
    data = value.encode() if isinstance(value, str) else bytes(value)
    if b"\0" in data:
        raise ValueError(f"{what} contains a NUL byte")
    return data


# s2n-tls's default send buffer holds one record: a large send() makes one
# write(2) per 16 KiB record. Four records per write nearly double bulk
# throughput for 256 KiB writes; a send() still flushes before it returns.
SEND_BUFFER = 64 * 1024


def _free_config(ptr, chains: list, _cfree=lib.s2n_config_free,
                 _kfree=lib.s2n_cert_chain_and_key_free) -> None:
    """ffi.gc destructor: the config first, then the chains it borrowed."""
    _cfree(ptr)
    for chain in chains:
        _kfree(chain)
    chains.clear()


class Config:
    """An s2n_config. Certificate and host verification are on; the security
    policy is s2n-tls's "default". Starts with an empty trust store (like
    `s2n_config_new_minimal`): call `load_system_certs()` or add CAs.

    A Config is frozen once a Connection uses it: s2n-tls forbids changing a
    config in use, so every setter then raises `UsageError`."""

    def __init__(self) -> None:
        ptr = lib.s2n_config_new_minimal()
        if ptr == ffi.NULL:
            raise last_error()
        self._chains: List = []  # borrowed by the config: freed after it
        self._ptr = ffi.gc(ptr, functools.partial(_free_config, chains=self._chains))
        self._lock = threading.RLock()  # setters run one at a time, never while freezing
        self._frozen = False
        self._verify = True
        self._tickets = False
        self._has_callbacks = False
        self._verify_host: Optional[_callbacks.Handle] = None
        self._ticket_cb: Optional[_callbacks.Handle] = None
        check(lib.s2n_config_set_send_buffer_size(ptr, SEND_BUFFER))

    def _mutable(self):
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
        check(lib.s2n_config_set_status_request_type(ptr, 0))

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
        for now). Turn tickets on first (`set_session_tickets_onoff(True)`):
        s2n-tls ignores keys while they are off. The one change s2n-tls
        allows on a Config in use, for key rotation."""
        if not self._tickets:
            raise usage("add_ticket_crypto_key() while session tickets are off: s2n-tls would "
                        "ignore the key; call set_session_tickets_onoff(True) first",
                        "S2N_PY_ERR_TICKETS_OFF")
        name_b = c_string(name, "ticket key name")
        key_b = bytes(key)
        if not 1 <= len(name_b) <= 16:
            raise ValueError(f"ticket key name must be 1..16 bytes, not {len(name_b)}")
        if len(key_b) < 16:
            raise ValueError(f"ticket key must be at least 16 random bytes (32 recommended), "
                             f"not {len(key_b)}")
        check(lib.s2n_config_add_ticket_crypto_key(
            self._ptr, name_b, len(name_b), ffi.from_buffer("uint8_t[]", key_b), len(key_b),
            int(intro_time)))

    def set_session_ticket_callback(self, fn: Callable[[Any, bytes, int], None]) -> None:
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

    def set_client_hello_cb(self, fn: Callable[[Any], None]) -> None:
        """Server: `fn(conn)` runs once the ClientHello is parsed, before the
        server answers; raise to reject the handshake. It may call
        `conn.set_config(other)` (e.g. a certificate per server name) and the
        Connection's getters. (Blocking mode.)"""
        ptr = self._mutable()
        cb = _callbacks.Handle(fn, "client hello callback")
        check(lib.s2n_config_set_client_hello_cb(ptr, lib.py_client_hello_trampoline, cb.handle))
        self._client_hello_cb = cb
        self._has_callbacks = True

    def set_key_log_cb(self, fn: Callable[[Any, bytes], None]) -> None:
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

    def set_send_buffer_size(self, size: int) -> None:
        """Bytes s2n-tls may buffer before it writes (several records per
        write(2)). Config() sets 64 KiB; s2n-tls's own default is one record."""
        check(lib.s2n_config_set_send_buffer_size(self._mutable(), int(size)))

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


Config.__module__ = "s2n"


def _locked(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def method(self, *args, **kwargs):
        with self._lock:
            return fn(self, *args, **kwargs)
    return method


# Two threads configuring one Config must not interleave inside s2n-tls, and a
# Connection freezing it (Connection.set_config) waits for a running setter.
for _name in ['add_cert_chain_and_key', 'set_verification_ca_location', 'add_pem_to_trust_store', 'load_system_certs', 'disable_x509_verification', 'set_verify_host_callback', 'set_cipher_preferences', 'set_protocol_preferences', 'set_alert_behavior', 'set_recv_multi_record', 'set_client_auth_type', 'set_session_tickets_onoff', 'set_max_blinding_delay', 'add_ticket_crypto_key', 'set_session_ticket_callback', 'set_client_hello_cb', 'set_key_log_cb', 'set_initial_ticket_count', 'set_send_buffer_size']:
    setattr(Config, _name, _locked(getattr(Config, _name)))
