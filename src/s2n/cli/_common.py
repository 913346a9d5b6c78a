"""Reporting shared by client and server."""

from __future__ import annotations

import argparse
import errno
import sys

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


def handshake_reason(exc: BaseException, conn: s2n.Connection) -> str:
    """`reason`, with a hint when the peer never spoke TLS: s2n-tls itself
    only reports a closed connection or a bad message."""
    if isinstance(exc, s2n.AlertError) or (isinstance(exc, s2n.S2NError) and exc.name in REASONS):
        return reason(exc)
    try:
        # No ServerHello processed yet: whatever the server sent was not TLS.
        before_hello = conn.get_handshake_type_name() == "INITIAL"
        got = conn.get_wire_bytes_in()
    except s2n.S2NError:
        return reason(exc)
    hint = " (is it a TLS port?)" if before_hello else ""
    if before_hello and got and isinstance(exc, (s2n.ClosedError, s2n.ProtocolError, TimeoutError)):
        return "the server did not answer with TLS (is it a TLS port?)"
    if isinstance(exc, s2n.ClosedError):
        return f"the server closed the connection during the handshake{hint}"
    if isinstance(exc, (ConnectionResetError, s2n.IOError)) and exc.errno == errno.ECONNRESET:
        return f"the server reset the connection during the handshake{hint}"
    return reason(exc)


def tune(conn: s2n.Connection, args: argparse.Namespace) -> None:
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
