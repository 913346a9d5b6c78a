"""A user's code on s2n.wrap_socket / s2n.TLSSocket, for the type checkers
(only type-checked, never called; see config_connection.py)."""

from __future__ import annotations

import io
import socket
from typing import List, Optional, Tuple

from typing_extensions import assert_type

import s2n


def fetch(config: s2n.Config, host: str, session: Optional[bytes]) -> Tuple[bytes, bytes]:
    raw = socket.create_connection((host, 443), timeout=10)
    with s2n.wrap_socket(raw, config, server_hostname=host, session=session) as tls:
        assert_type(tls, s2n.TLSSocket)
        assert_type(tls.connection, s2n.Connection)
        assert_type(tls.version(), Optional[str])
        assert_type(tls.cipher(), Optional[Tuple[str, str, int]])
        assert_type(tls.selected_alpn_protocol(), Optional[str])
        assert_type(tls.getpeercert(), Optional[bytes])
        assert_type(tls.gettimeout(), Optional[float])
        assert_type(tls.fileno(), int)
        tls.settimeout(5.0)
        tls.sendall(b"GET / HTTP/1.1\r\nHost: " + host.encode() + b"\r\n\r\n")
        assert_type(tls.send(b""), int)
        head = tls.recv(16384)
        assert_type(head, bytes)
        buf = bytearray(1024)
        assert_type(tls.recv_into(buf), int)
        assert_type(tls.pending(), int)
        try:
            tls.do_handshake()
        except TimeoutError:
            pass
        new_session = tls.connection.get_session()
        return head, new_session


def serve(config: s2n.Config, listener: socket.socket) -> List[bytes]:
    sock, _addr = listener.accept()
    tls = s2n.wrap_socket(sock, config, server_side=True, do_handshake_on_connect=False)
    tls.do_handshake()
    chunks: List[bytes] = []
    while True:
        data = tls.recv(65536)
        if not data:
            break
        chunks.append(data)
    plain = tls.unwrap()
    assert_type(plain, socket.socket)
    plain.close()
    return chunks


def non_blocking(tls: s2n.TLSSocket) -> Optional[bytes]:
    tls.setblocking(False)
    assert_type(tls.getblocking(), bool)
    try:
        return tls.recv(1024)
    except s2n.WantReadError as e:
        assert_type(e.blocked, s2n.Blocked)
        return None


def files(tls: s2n.TLSSocket) -> str:
    assert_type(tls.makefile("rb"), io.BufferedReader)
    assert_type(tls.makefile("wb"), io.BufferedWriter)
    assert_type(tls.makefile("rwb"), io.BufferedRWPair)
    assert_type(tls.makefile("rb", 0), io.RawIOBase)
    with tls.makefile("r", encoding="utf-8", newline="\r\n") as f:
        assert_type(f, io.TextIOWrapper)
        return f.readline()
