"""Python's ssl as a contender of bench/_tcp_proto.py (client and server).

TLS 1.3 with TLS_AES_128_GCM_SHA256 (pinned through libssl, as s2n's
default_tls13 picks it), the ECDSA P-256 certificate, and one session ticket
per connection (s2n-tls's count; OpenSSL's default is two). Key exchange:
OpenSSL's default group.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from _common import ssl_set_suites

SUITE = "TLS_AES_128_GCM_SHA256"


def _tls13(ctx: ssl.SSLContext) -> ssl.SSLContext:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ssl_set_suites(ctx, SUITE)
    return ctx


class Stream:
    def __init__(self, tls: ssl.SSLSocket) -> None:
        self.tls = tls
        self.sendall = tls.sendall
        self.recv_into = tls.recv_into
        self.resumed = tls.session_reused

    def session(self):
        return self.tls.session

    def negotiated(self) -> dict:
        group = getattr(self.tls, "group", None)  # Python 3.15+
        return {"cipher": self.tls.cipher()[0], "group": group() if group else "-"}

    def close(self) -> None:
        self.tls.unwrap()  # close_notify both ways
        self.tls.close()  # wrap_socket took the socket's fd over: close it here


class Server:
    def __init__(self, d: Path) -> None:
        self.ctx = _tls13(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
        self.ctx.load_cert_chain(d / "server.pem", d / "server.key")
        self.ctx.num_tickets = 1

    def accept(self, sock) -> Stream:
        return Stream(self.ctx.wrap_socket(sock, server_side=True))

    def reset(self) -> None:
        pass


class Client:
    def __init__(self, d: Path) -> None:
        self.ctx = _tls13(ssl.create_default_context(cafile=str(d / "ca.pem")))

    def connect(self, sock, session=None) -> Stream:
        return Stream(self.ctx.wrap_socket(sock, server_hostname="localhost", session=session))


SERVERS = {"ssl": Server}
CLIENTS = {"ssl": Client}
