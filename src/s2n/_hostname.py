"""The reference identity of a client: the name the server's certificate must match.

A DNS name is sent as SNI and checked by s2n-tls. An IP literal is never sent
as SNI (RFC 6066 section 3) and must match an iPAddress subjectAltName, not a
dNSName that happens to spell it (RFC 6125 6.2.1; CPython's ssl agrees).
s2n-tls hands every SAN entry to the verify-host callback as text, so the
callback narrows the candidates during the handshake, and `confirm` checks
the entry's type in the leaf certificate right after it.
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Optional

from ._errors import ProtocolError
from ._lib import lib
from .connection import Connection


@functools.lru_cache(maxsize=1024)  # a client connects to the same few names again and again
def ip_literal(host: str) -> Optional[bytes]:
    """The packed address if `host` is an IP literal, else None."""
    if host[-1:].isalpha() and ":" not in host:
        return None  # a DNS name (an IPv4 address ends in a digit): skip the parser
    try:
        return ipaddress.ip_address(host.strip("[]")).packed
    except ValueError:
        return None


def sni(host: Optional[str]) -> Optional[str]:
    """The server name to send: `host` unless it is an IP literal."""
    return host if host and ip_literal(host) is None else None


def expect(conn: Connection, host: str, check: bool = True, set_sni: bool = True) -> Optional[bytes]:
    """Set what the server's certificate must name; returns the packed IP
    to `confirm` after the handshake, or None for a DNS name. `check=False`
    (ssl's check_hostname=False) only sends SNI; the Config must then accept
    any name (a verify-host callback). `set_sni=False`: the connection was
    made with `sni(host)` already."""
    packed = ip_literal(host)
    if packed is None:
        if set_sni:
            conn.set_server_name(host)
        return None
    if not check:
        return None
    text = str(ipaddress.ip_address(packed))  # as s2n-tls prints IP SANs
    conn.set_verify_host_callback(lambda name: name == text)
    return packed


def confirm(conn: Connection, packed: Optional[bytes]) -> None:
    """After the handshake: the name that matched was an IP SAN."""
    config = conn.config
    if packed is None or (config is not None and not config.verifies_peer):
        return
    chain = conn.get_peer_cert_chain()
    if chain and lib.py_cert_has_ip(chain[0], len(chain[0]), packed, len(packed)) == 1:
        return
    raise ProtocolError(
        f"certificate verification failed: the certificate has no IP address entry for "
        f"{ipaddress.ip_address(packed)}", name="S2N_PY_ERR_CERT_IP_MISMATCH")
