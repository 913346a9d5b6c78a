"""A user's code on s2n.ssl (the `ssl` module's interface), as requests and
urllib3 users write it, for the type checkers (only type-checked, never
called; see config_connection.py)."""

from __future__ import annotations

import socket
import ssl
from typing import Any, Dict, Optional, Tuple, Union

import requests
import urllib3
from typing_extensions import assert_type

import s2n.ssl


def with_urllib3(cafile: str) -> bytes:
    ctx = s2n.ssl.create_default_context(cafile=cafile)
    assert_type(ctx, s2n.ssl.SSLContext)
    ctx.set_alpn_protocols(["http/1.1"])
    assert_type(ctx.minimum_version, ssl.TLSVersion)
    assert_type(ctx.verify_mode, ssl.VerifyMode)
    ctx.minimum_version = s2n.ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = s2n.ssl.CERT_REQUIRED
    http = urllib3.PoolManager(ssl_context=ctx)
    response = http.request("GET", "https://example.com/")
    return response.data


def with_requests() -> int:
    s2n.ssl.inject_into_ssl()
    try:
        return requests.get("https://example.com/", timeout=10).status_code
    finally:
        s2n.ssl.extract_from_ssl()


def by_hand(host: str) -> Tuple[Optional[str], bytes]:
    ctx = s2n.ssl.SSLContext(s2n.ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_default_certs()
    ctx.set_security_policy("default_tls13")
    with socket.create_connection((host, 443)) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as tls:
            assert_type(tls, s2n.ssl.SSLSocket)
            assert isinstance(tls, ssl.SSLSocket)  # a drop-in: an ssl.SSLSocket too
            assert_type(tls.version(), Optional[str])
            tls.sendall(b"HEAD / HTTP/1.0\r\n\r\n")
            return tls.selected_alpn_protocol(), tls.recv(1024)


def sans_io(ctx: s2n.ssl.SSLContext) -> Union[Dict[str, Any], bytes, None]:
    incoming, outgoing = s2n.ssl.MemoryBIO(), s2n.ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="example.com")
    assert_type(obj, s2n.ssl.SSLObject)
    try:
        obj.do_handshake()
    except s2n.ssl.SSLWantReadError:
        pass
    except s2n.ssl.SSLCertVerificationError as e:
        assert_type(e.verify_code, int)
    assert_type(obj.read(1024), bytes)
    assert_type(obj.read(1024, bytearray(1024)), int)
    assert_type(obj.write(b"x"), int)
    assert_type(obj.pending(), int)
    session = obj.session
    assert_type(session, Optional[s2n.ssl.SSLSession])
    again = ctx.wrap_bio(s2n.ssl.MemoryBIO(), s2n.ssl.MemoryBIO(), session=session)
    assert_type(again.session_reused, Optional[bool])
    return obj.getpeercert()
