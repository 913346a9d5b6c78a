"""Config building and reporting shared by client and server."""

from __future__ import annotations

import sys
from pathlib import Path

import s2n

# Failures a user can act on, by s2n-tls error name.
REASONS = {
    "S2N_ERR_CERT_UNTRUSTED": "certificate verification failed: untrusted issuer",
    "S2N_ERR_CERT_INVALID_HOSTNAME": "certificate verification failed: wrong host name",
    "S2N_ERR_CERT_EXPIRED": "certificate verification failed: expired",
    "S2N_ERR_CERT_NOT_YET_VALID": "certificate verification failed: not yet valid",
    "S2N_ERR_NO_APPLICATION_PROTOCOL": "no common ALPN protocol",
    "S2N_ERR_CIPHER_NOT_SUPPORTED": "no common cipher suite",
    "S2N_ERR_PROTOCOL_VERSION_UNSUPPORTED": "no common protocol version",
    "S2N_ERR_MISSING_CLIENT_CERT": "the server requires a client certificate",
}

ALERTS = {0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 40: "handshake_failure",
          42: "bad_certificate", 43: "unsupported_certificate", 44: "certificate_revoked",
          45: "certificate_expired", 46: "certificate_unknown", 47: "illegal_parameter",
          48: "unknown_ca", 49: "access_denied", 50: "decode_error", 51: "decrypt_error",
          70: "protocol_version", 71: "insufficient_security", 80: "internal_error",
          86: "inappropriate_fallback", 90: "user_canceled", 109: "missing_extension",
          110: "unsupported_extension", 112: "unrecognized_name", 116: "certificate_required",
          120: "no_application_protocol"}


def reason(exc: BaseException) -> str:
    """One line saying why, for the user."""
    if isinstance(exc, s2n.AlertError):
        name = ALERTS.get(exc.alert, "unknown") if exc.alert is not None else "unknown"
        return f"alert from the peer: {name} ({exc.alert})"
    if isinstance(exc, s2n.S2NError):
        return REASONS.get(exc.name, f"{exc.name}: {exc.message}")
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return f"{type(exc).__name__}: {exc}"


def build_config(args, server: bool) -> s2n.Config:
    cfg = s2n.Config()
    if args.ciphers:
        cfg.set_cipher_preferences(args.ciphers)
    if len(args.cert) != len(args.key):
        raise SystemExit("error: give as many --key as --cert")
    for cert, key in zip(args.cert, args.key):
        cfg.add_cert_chain_and_key(Path(cert), Path(key))
    if args.insecure:
        cfg.disable_x509_verification()
    elif args.ca_file or args.ca_dir:
        cfg.set_verification_ca_location(cafile=args.ca_file, capath=args.ca_dir)
    elif not server or args.mutualAuth:
        cfg.load_system_certs()
    if args.alpn:
        cfg.set_protocol_preferences([p for p in args.alpn.split(",") if p])
    if args.mutualAuth:
        cfg.set_client_auth_type(s2n.ClientAuth.REQUIRED)
        if server:
            # The chain is verified against the trust store; a client
            # certificate carries no host name to check.
            cfg.set_verify_host_callback(lambda name: True)
    if args.no_session_ticket:
        cfg.set_session_tickets_onoff(False)
    if args.max_blinding_delay is not None:
        cfg.set_max_blinding_delay(args.max_blinding_delay)
    return cfg


def tune(conn: s2n.Connection, args) -> None:
    if args.prefer_low_latency:
        conn.prefer_low_latency()
    elif args.prefer_throughput:
        conn.prefer_throughput()


def describe(conn: s2n.Connection) -> str:
    group = conn.get_kem_group_name()
    if group in ("NONE", ""):
        group = conn.get_curve()
    return (f"protocol={conn.get_actual_protocol_version()} cipher={conn.get_cipher()} "
            f"group={group} alpn={conn.get_application_protocol() or '-'} "
            f"server_name={conn.get_server_name() or '-'} "
            f"handshake={conn.get_handshake_type_name()}")


def err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
