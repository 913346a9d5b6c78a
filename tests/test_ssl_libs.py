"""s2n.ssl under the real libraries: urllib3, requests, httpx, aiohttp, asyncio, uvicorn.

Each library runs unchanged, against a real peer on 127.0.0.1, in each role it has.
Every test proves that s2n-tls, not OpenSSL, did the TLS on the side it claims:
Python's own OpenSSL (3.0 here) has no ML-KEM, so only when *both* ends are s2n-tls
is the key exchange group X25519MLKEM768.

- library as a client: the server is s2n itself (`S2NHTTPServer`, a thread), which
  records the group of each handshake;
- library as a server: the client is s2n itself (`s2n_request`), which reads the group
  from its own connection; a stdlib `ssl` client (`stdlib_request`) must also work.

Verification failures must come out of each library's own error path as the stdlib's
classes (`ssl.SSLCertVerificationError`), exactly as they do with the stdlib's `ssl`.
Every wait is bounded; no test depends on sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
import time
from typing import Callable, List, NamedTuple, Optional

import pytest

import s2n
import s2n.ssl as S
from conftest import client_config, server_config

# The stdlib's own classes, taken before any test can inject s2n.ssl into `ssl`:
# the "stdlib peer" in these tests must stay OpenSSL even while s2n.ssl is injected.
STD_SSLCONTEXT = ssl.SSLContext
STD_SSLSOCKET = ssl.SSLSocket

PQ_GROUP = "X25519MLKEM768"
TIMEOUT = 10.0          # every socket operation, every request
ASYNC_DEADLINE = 30.0   # one asyncio test, all of it


# ---------------------------------------------------------------------------
# helpers: raw HTTP/1.1 over any socket-like object
# ---------------------------------------------------------------------------

class Response(NamedTuple):
    status: int
    headers: dict
    body: bytes
    group: str = "?"      # the client's view of the key exchange group (s2n clients only)
    version: str = "?"


def http_request(path: str = "/", host: str = "localhost") -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: s2n-test\r\n"
            f"Connection: close\r\n\r\n").encode()


def http_response(body: bytes) -> bytes:
    return (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)) + body


def parse_response(data: bytes) -> Response:
    head, sep, body = data.partition(b"\r\n\r\n")
    assert sep, f"no complete HTTP header in {data[:200]!r}"
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return Response(status, headers, body)


def read_http_message(recv: Callable[[int], bytes]) -> bytes:
    """Read one HTTP message (headers, then Content-Length bytes of body, or to EOF).
    `recv` returns b"" at EOF; a peer that closes without close_notify after the
    whole message arrived is not an error here."""
    data = b""
    while True:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if sep:
            length = None
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    length = int(v.strip())
            if length is not None and len(rest) >= length:
                return data
        try:
            chunk = recv(65536)
        except (s2n.ClosedError, ssl.SSLEOFError):
            chunk = b""
        if not chunk:
            return data
        data += chunk


def read_http_request(recv: Callable[[int], bytes]) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def starttls_client_preamble(sock: socket.socket) -> None:
    """The plaintext part of our tiny STARTTLS protocol: "STARTTLS" -> "OK"."""
    sock.sendall(b"STARTTLS\r\n")
    got = b""
    while not got.endswith(b"\r\n"):
        chunk = sock.recv(1)  # byte by byte: nothing of the TLS handshake is consumed
        assert chunk, "the server closed during STARTTLS"
        got += chunk
    assert got == b"OK\r\n", got


# ---------------------------------------------------------------------------
# helpers: an s2n-tls HTTPS server in a thread, and s2n / stdlib one-shot clients
# ---------------------------------------------------------------------------

class Record(NamedTuple):
    group: Optional[str]          # s2n's get_kem_group_name() (None when the handshake failed)
    curve: Optional[str]
    version: Optional[str]
    alpn: Optional[str]
    request: bytes
    error: Optional[BaseException]


class S2NHTTPServer:
    """An HTTPS server made of s2n-tls itself (`s2n.wrap_socket`, not s2n.ssl),
    on 127.0.0.1, one connection at a time in a thread. For each connection it
    records the key exchange group s2n-tls negotiated, and answers one HTTP/1.1
    request with `body`. A failed handshake is recorded, and serving goes on."""

    def __init__(self, pki, cert: str = "server", body: bytes = b"hello from s2n",
                 alpn=("http/1.1",), starttls: bool = False) -> None:
        self.config = server_config(pki, cert)
        if alpn:
            self.config.set_protocol_preferences(list(alpn))
        self.body = body
        self.starttls = starttls
        self.records: List[Record] = []
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._lsock = socket.socket()
        self._lsock.bind(("127.0.0.1", 0))
        self._lsock.listen(8)
        self._lsock.settimeout(0.1)   # lets the accept loop see _stop; no correctness depends on it
        self.port = self._lsock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name="s2n-https", daemon=True)

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}/"

    def __enter__(self) -> "S2NHTTPServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(TIMEOUT)
        self._lsock.close()
        assert not self._thread.is_alive(), "the s2n server thread did not stop"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self._handle(sock)

    def _handle(self, sock: socket.socket) -> None:
        sock.settimeout(TIMEOUT)
        tls = None
        try:
            if self.starttls:
                line = b""
                while not line.endswith(b"\r\n"):
                    chunk = sock.recv(1)
                    if not chunk:
                        raise ConnectionError("client closed during STARTTLS")
                    line += chunk
                assert line == b"STARTTLS\r\n", line
                sock.sendall(b"OK\r\n")
            tls = s2n.wrap_socket(sock, self.config, server_side=True)
            conn = tls.connection
            info = dict(group=conn.get_kem_group_name(), curve=conn.get_curve(),
                        version=tls.version(), alpn=tls.selected_alpn_protocol())
            request = read_http_request(tls.recv)
            self._record(Record(request=request, error=None, **info))
            if request:
                tls.sendall(http_response(self.body))
        except BaseException as e:  # noqa: BLE001 - recorded, the test decides
            self._record(Record(None, None, None, None, b"", e))
        finally:
            with contextlib.suppress(Exception):
                (tls or sock).close()

    def _record(self, rec: Record) -> None:
        with self._cond:
            self.records.append(rec)
            self._cond.notify_all()

    def wait_records(self, n: int) -> List[Record]:
        with self._cond:
            ok = self._cond.wait_for(lambda: len(self.records) >= n, TIMEOUT)
        assert ok, f"the server saw {len(self.records)} connection(s), expected {n}"
        return list(self.records)

    def handshakes(self) -> List[Record]:
        return [r for r in self.records if r.error is None]

    def assert_one_s2n_client(self) -> Record:
        """Exactly one connection, and s2n-tls was on the client side too."""
        recs = self.wait_records(1)
        assert len(recs) == 1, recs
        rec = recs[0]
        assert rec.error is None, f"the s2n server failed: {rec.error!r}"
        assert_s2n_on_both_ends(rec.group)
        assert rec.request.startswith(b"GET "), rec.request[:100]
        return rec


def assert_s2n_on_both_ends(group: Optional[str]) -> None:
    """Only s2n-tls talking to s2n-tls negotiates the hybrid post-quantum group here."""
    assert group == PQ_GROUP, (
        f"key exchange group {group!r}: the peer was not s2n-tls (OpenSSL would give a "
        f"classic group, e.g. x25519)")


def s2n_request(pki, port: int, *, server_hostname: str = "localhost", path: str = "/",
                starttls: bool = False) -> Response:
    """One HTTP/1.1 request from an s2n-tls client (s2n.wrap_socket), on a new connection."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    try:
        if starttls:
            starttls_client_preamble(sock)
        tls = s2n.wrap_socket(sock, client_config(pki), server_hostname=server_hostname)
    except BaseException:
        sock.close()
        raise
    with tls:
        group = tls.connection.get_kem_group_name()
        tls.sendall(http_request(path))
        data = read_http_message(tls.recv)
        version = tls.version()
    return parse_response(data)._replace(group=group, version=version)


def stdlib_client_context(pki, cafile: str = "ca.pem") -> ssl.SSLContext:
    """A genuine OpenSSL client context, even while s2n.ssl is injected into `ssl`."""
    ctx = STD_SSLCONTEXT(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(str(pki.path(cafile)))
    return ctx


def stdlib_request(pki, port: int, *, path: str = "/", starttls: bool = False) -> Response:
    """One HTTP/1.1 request from Python's own ssl (OpenSSL), on a new connection."""
    ctx = stdlib_client_context(pki)
    assert type(ctx) is STD_SSLCONTEXT and type(ctx).__module__ == "ssl"
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    try:
        if starttls:
            starttls_client_preamble(sock)
        tls = ctx.wrap_socket(sock, server_hostname="localhost")
    except BaseException:
        sock.close()
        raise
    with tls:
        assert type(tls).__module__ == "ssl", type(tls)
        if hasattr(tls, "group"):  # Python >= 3.15 tells the group: OpenSSL's is classic
            assert "MLKEM" not in str(tls.group())
        tls.sendall(http_request(path))
        data = read_http_message(tls.recv)
        version = tls.version()
    return parse_response(data)._replace(group="classic (OpenSSL)", version=version)


def exception_chain(exc: BaseException) -> List[BaseException]:
    """exc and everything it wraps: __cause__, __context__, exceptions in args,
    and urllib3's MaxRetryError.reason."""
    seen: List[BaseException] = []
    todo = [exc]
    while todo:
        e = todo.pop()
        if e is None or not isinstance(e, BaseException) or any(e is s for s in seen):
            continue
        seen.append(e)
        todo += [e.__cause__, e.__context__, getattr(e, "reason", None)]
        todo += [a for a in e.args if isinstance(a, BaseException)]
    return seen


def assert_caused_by(exc: BaseException, cls: type) -> BaseException:
    for e in exception_chain(exc):
        if isinstance(e, cls):
            return e
    raise AssertionError(f"no {cls.__name__} in the chain of {exc!r}: "
                         f"{[type(e).__name__ for e in exception_chain(exc)]}")


def s2n_client_context(pki, cafile: str = "ca.pem") -> ssl.SSLContext:
    ctx = S.create_default_context(cafile=str(pki.path(cafile)))
    assert isinstance(ctx, S.SSLContext) and isinstance(ctx, ssl.SSLContext)
    return ctx


def s2n_server_context(pki, cert: str = "server") -> ssl.SSLContext:
    ctx = S.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(pki.path(f"{cert}.pem")), str(pki.path(f"{cert}.key")))
    return ctx


def run(coro, timeout: float = ASYNC_DEADLINE):
    """One fresh event loop per test, and one deadline for all of it."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def in_thread(fn, *args, **kw):
    """A blocking client called from a coroutine: in a worker thread, bounded."""
    return asyncio.wait_for(asyncio.to_thread(fn, *args, **kw), TIMEOUT * 2)


@pytest.fixture
def injected():
    """s2n.ssl injected into `ssl` (and urllib3/requests) for one test, always undone."""
    S.inject_into_ssl()
    try:
        yield
    finally:
        S.extract_from_ssl()
    assert ssl.SSLContext is STD_SSLCONTEXT, "extract_from_ssl() did not restore ssl.SSLContext"


# ---------------------------------------------------------------------------
# stdlib semantics: s2n.ssl against the stdlib's ssl on the same server
# ---------------------------------------------------------------------------

def test_stdlib_identity():
    assert issubclass(S.SSLContext, ssl.SSLContext)
    assert isinstance(S.SSLContext(), ssl.SSLContext)
    assert isinstance(S.SSLContext(ssl.PROTOCOL_TLS_SERVER), ssl.SSLContext)
    assert S.SSLContext().protocol == ssl.PROTOCOL_TLS_CLIENT
    for name in ("SSLError", "SSLZeroReturnError", "SSLWantReadError", "SSLWantWriteError",
                 "SSLSyscallError", "SSLEOFError", "SSLCertVerificationError",
                 "CertificateError", "Purpose", "TLSVersion", "VerifyMode", "MemoryBIO",
                 "CERT_NONE", "CERT_OPTIONAL", "CERT_REQUIRED",
                 "PROTOCOL_TLS_CLIENT", "PROTOCOL_TLS_SERVER",
                 "OP_NO_COMPRESSION", "OP_NO_TICKET", "HAS_SNI", "HAS_ALPN"):
        assert getattr(S, name) is getattr(ssl, name), name
    ctx = S.create_default_context()
    assert isinstance(ctx, S.SSLContext)
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    server = S.create_default_context(ssl.Purpose.CLIENT_AUTH)
    assert server.protocol == ssl.PROTOCOL_TLS_SERVER


@pytest.mark.parametrize("maximum", [None, "TLSv1_2"])
def test_stdlib_semantics_same_server(pki, maximum):
    """getpeercert(), cipher(), version(), ALPN: s2n.ssl says what the stdlib says,
    for the same server certificate, the same server, the same settings."""
    def connect(ctx):
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        if maximum:
            ctx.maximum_version = getattr(ssl.TLSVersion, maximum)
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
        with ctx.wrap_socket(sock, server_hostname="localhost") as tls:
            out = dict(cert=tls.getpeercert(), der=tls.getpeercert(binary_form=True),
                       cipher=tls.cipher(), version=tls.version(),
                       alpn=tls.selected_alpn_protocol(), cls=type(tls))
            tls.sendall(http_request())
            out["response"] = parse_response(read_http_message(tls.recv))
        return out

    with S2NHTTPServer(pki) as server:
        std = connect(stdlib_client_context(pki))
        ours = connect(s2n_client_context(pki))
        recs = server.wait_records(2)

    assert issubclass(ours["cls"], S.SSLSocket)
    assert ours["cert"] == std["cert"]
    assert ours["cert"]["subject"] == ((("commonName", "server"),),)
    assert ours["der"] == std["der"] == ssl.PEM_cert_to_DER_cert(pki.path("server.pem").read_text())
    assert ours["version"] == std["version"] == ("TLSv1.2" if maximum else "TLSv1.3")
    assert ours["cipher"] == std["cipher"]
    assert ours["alpn"] == std["alpn"] == "http/1.1"
    assert ours["response"].status == std["response"].status == 200
    assert ours["response"].body == b"hello from s2n"
    assert [r.error for r in recs] == [None, None]
    assert recs[0].alpn == recs[1].alpn == "http/1.1"
    if not maximum:
        assert recs[0].group != PQ_GROUP     # the stdlib client is OpenSSL
        assert_s2n_on_both_ends(recs[1].group)


@pytest.mark.parametrize("case", ["untrusted-ca", "wrong-hostname"])
def test_verify_errors_match_stdlib(pki, case):
    """Both fail with ssl.SSLCertVerificationError, with the stdlib's verify_code."""
    cafile = "otherca.pem" if case == "untrusted-ca" else "ca.pem"
    hostname = "wrong.test" if case == "wrong-hostname" else "localhost"

    def fail(ctx):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
        with pytest.raises(ssl.SSLCertVerificationError) as info:
            try:
                ctx.wrap_socket(sock, server_hostname=hostname)
            finally:
                sock.close()
        return info.value

    with S2NHTTPServer(pki) as server:
        std = fail(stdlib_client_context(pki, cafile))
        ours = fail(s2n_client_context(pki, cafile))
        server.wait_records(2)
    assert isinstance(ours, ssl.SSLError) and isinstance(ours, ValueError)
    assert isinstance(ours.verify_message, str) and ours.verify_message
    assert ours.verify_code == std.verify_code, (ours.verify_message, std.verify_message)


# ---------------------------------------------------------------------------
# urllib3
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_urllib3_client(pki, host):
    urllib3 = pytest.importorskip("urllib3")
    with S2NHTTPServer(pki) as server:
        with urllib3.PoolManager(ssl_context=s2n_client_context(pki), retries=False,
                                 timeout=TIMEOUT) as http:
            r = http.request("GET", f"https://{host}:{server.port}/urllib3")
        assert r.status == 200 and r.data == b"hello from s2n"
        rec = server.assert_one_s2n_client()
    assert rec.request.startswith(b"GET /urllib3 ")


def test_urllib3_client_untrusted_ca(pki):
    urllib3 = pytest.importorskip("urllib3")
    with S2NHTTPServer(pki) as server:
        with urllib3.PoolManager(ssl_context=s2n_client_context(pki, "otherca.pem"),
                                 retries=False, timeout=TIMEOUT) as http:
            with pytest.raises(urllib3.exceptions.SSLError) as info:
                http.request("GET", server.url)
        # with retries, urllib3 wraps the same error in MaxRetryError(reason=...)
        with urllib3.PoolManager(ssl_context=s2n_client_context(pki, "otherca.pem"),
                                 retries=urllib3.Retry(0), timeout=TIMEOUT) as http:
            with pytest.raises(urllib3.exceptions.MaxRetryError) as retried:
                http.request("GET", server.url)
        server.wait_records(2)
    assert_caused_by(info.value, ssl.SSLCertVerificationError)
    assert isinstance(retried.value.reason, urllib3.exceptions.SSLError)
    assert_caused_by(retried.value.reason, ssl.SSLCertVerificationError)
    assert server.handshakes() == []


def test_urllib3_client_wrong_hostname(pki):
    urllib3 = pytest.importorskip("urllib3")
    with S2NHTTPServer(pki) as server:
        with urllib3.PoolManager(ssl_context=s2n_client_context(pki), retries=False,
                                 timeout=TIMEOUT, server_hostname="wrong.test") as http:
            with pytest.raises(urllib3.exceptions.SSLError) as info:
                http.request("GET", f"https://127.0.0.1:{server.port}/")
        server.wait_records(1)
    err = assert_caused_by(info.value, ssl.SSLCertVerificationError)
    assert "wrong.test" in str(err)


# ---------------------------------------------------------------------------
# requests (after inject_into_ssl)
# ---------------------------------------------------------------------------

def test_requests_client_injected(pki, injected):
    requests = pytest.importorskip("requests")
    import urllib3.util.ssl_

    assert issubclass(ssl.SSLContext, S.SSLContext)
    assert issubclass(urllib3.util.ssl_.SSLContext, S.SSLContext)
    with S2NHTTPServer(pki) as server:
        with requests.Session() as session:
            session.trust_env = False   # no proxy from the environment
            r = session.get(server.url + "requests", verify=str(pki.path("ca.pem")),
                            timeout=TIMEOUT)
        assert r.status_code == 200 and r.content == b"hello from s2n"
        rec = server.assert_one_s2n_client()
    assert rec.request.startswith(b"GET /requests ")


def test_requests_client_untrusted_ca(pki, injected):
    requests = pytest.importorskip("requests")
    with S2NHTTPServer(pki) as server:
        with requests.Session() as session:
            session.trust_env = False
            with pytest.raises(requests.exceptions.SSLError) as info:
                session.get(server.url, verify=str(pki.path("otherca.pem")), timeout=TIMEOUT)
        server.wait_records(1)
    assert_caused_by(info.value, ssl.SSLCertVerificationError)
    assert server.handshakes() == []


def test_extract_from_ssl_restores_the_stdlib(pki):
    urllib3 = pytest.importorskip("urllib3")
    import urllib3.util.ssl_

    std_urllib3 = urllib3.util.ssl_.SSLContext
    S.inject_into_ssl()
    try:
        assert issubclass(ssl.SSLContext, S.SSLContext)
        assert isinstance(ssl.create_default_context(), S.SSLContext)
    finally:
        S.extract_from_ssl()
    assert ssl.SSLContext is STD_SSLCONTEXT
    assert urllib3.util.ssl_.SSLContext is std_urllib3
    assert type(ssl.create_default_context()) is STD_SSLCONTEXT
    S.extract_from_ssl()  # a second extract is harmless
    assert ssl.SSLContext is STD_SSLCONTEXT


# ---------------------------------------------------------------------------
# httpx, sync and async (anyio: SSLObject over MemoryBIOs)
# ---------------------------------------------------------------------------

def test_httpx_sync_client(pki):
    httpx = pytest.importorskip("httpx")
    with S2NHTTPServer(pki) as server:
        with httpx.Client(verify=s2n_client_context(pki), trust_env=False,
                          timeout=TIMEOUT) as client:
            r = client.get(server.url + "httpx-sync")
        assert r.status_code == 200 and r.content == b"hello from s2n"
        rec = server.assert_one_s2n_client()
    assert rec.request.startswith(b"GET /httpx-sync ")
    assert rec.alpn == "http/1.1"     # httpx offers ALPN


def test_httpx_sync_network_stream_extras(pki):
    """httpx documents `network_stream.get_extra_info("ssl_object")` for the TLS version
    and peer certificate. httpcore (sync) answers it only for an `ssl.SSLSocket`
    (`isinstance`), with its `_sslobj`; asyncio and ftplib also tell a TLS socket by
    `isinstance(sock, ssl.SSLSocket)`."""
    httpx = pytest.importorskip("httpx")
    with S2NHTTPServer(pki) as server:
        with httpx.Client(verify=s2n_client_context(pki), trust_env=False,
                          timeout=TIMEOUT) as client:
            with client.stream("GET", server.url) as r:
                stream = r.extensions["network_stream"]
                sock = stream.get_extra_info("socket")
                ssl_object = stream.get_extra_info("ssl_object")
                info = (ssl_object.version(), ssl_object.cipher()[1]) if ssl_object else None
                r.read()
        server.assert_one_s2n_client()
    assert isinstance(sock, S.SSLSocket)
    assert isinstance(sock, ssl.SSLSocket), type(sock).__mro__
    assert info == ("TLSv1.3", "TLSv1.3"), ssl_object


def test_httpx_async_client(pki):
    httpx = pytest.importorskip("httpx")

    async def main(url):
        async with httpx.AsyncClient(verify=s2n_client_context(pki), trust_env=False,
                                     timeout=TIMEOUT) as client:
            return await client.get(url)

    with S2NHTTPServer(pki) as server:
        r = run(main(server.url + "httpx-async"))
        assert r.status_code == 200 and r.content == b"hello from s2n"
        rec = server.assert_one_s2n_client()
    assert rec.request.startswith(b"GET /httpx-async ")


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_httpx_client_untrusted_ca(pki, mode):
    httpx = pytest.importorskip("httpx")
    ctx = s2n_client_context(pki, "otherca.pem")

    async def amain(url):
        async with httpx.AsyncClient(verify=ctx, trust_env=False, timeout=TIMEOUT) as client:
            return await client.get(url)

    with S2NHTTPServer(pki) as server:
        with pytest.raises(httpx.ConnectError) as info:
            if mode == "sync":
                with httpx.Client(verify=ctx, trust_env=False, timeout=TIMEOUT) as client:
                    client.get(server.url)
            else:
                run(amain(server.url))
        server.wait_records(1)
    assert_caused_by(info.value, ssl.SSLError)
    assert_caused_by(info.value, ssl.SSLCertVerificationError)


# ---------------------------------------------------------------------------
# aiohttp, client and server
# ---------------------------------------------------------------------------

def test_aiohttp_client(pki):
    aiohttp = pytest.importorskip("aiohttp")

    async def main(url):
        timeout = aiohttp.ClientTimeout(total=TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.get(url, ssl=s2n_client_context(pki)) as r:
                return r.status, await r.read()

    with S2NHTTPServer(pki) as server:
        status, body = run(main(server.url + "aiohttp"))
        assert status == 200 and body == b"hello from s2n"
        rec = server.assert_one_s2n_client()
    assert rec.request.startswith(b"GET /aiohttp ")


@pytest.mark.parametrize("case", ["untrusted-ca", "wrong-hostname"])
def test_aiohttp_client_verify_errors(pki, case):
    aiohttp = pytest.importorskip("aiohttp")
    cafile = "otherca.pem" if case == "untrusted-ca" else "ca.pem"
    extra = {"server_hostname": "wrong.test"} if case == "wrong-hostname" else {}

    async def main(url):
        timeout = aiohttp.ClientTimeout(total=TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.get(url, ssl=s2n_client_context(pki, cafile), **extra) as r:
                return r.status

    with S2NHTTPServer(pki) as server:
        with pytest.raises(aiohttp.ClientConnectorCertificateError) as info:
            run(main(f"https://127.0.0.1:{server.port}/" if extra else server.url))
        server.wait_records(1)
    assert isinstance(info.value.certificate_error, ssl.SSLCertVerificationError)
    assert server.handshakes() == []


def test_aiohttp_server(pki):
    pytest.importorskip("aiohttp")
    from aiohttp import web

    seen = []

    async def hello(request):
        seen.append(request.transport.get_extra_info("ssl_object"))
        return web.Response(body=b"hello from aiohttp")

    async def main():
        app = web.Application()
        app.router.add_get("/", hello)
        runner = web.AppRunner(app)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=s2n_server_context(pki))
            await site.start()
            port = runner.addresses[0][1]
            ours = await in_thread(s2n_request, pki, port)
            std = await in_thread(stdlib_request, pki, port)
        finally:
            await asyncio.wait_for(runner.cleanup(), TIMEOUT)
        return ours, std

    ours, std = run(main())
    assert ours.status == 200 and ours.body == b"hello from aiohttp"
    assert_s2n_on_both_ends(ours.group)
    assert std.status == 200 and std.body == b"hello from aiohttp"
    assert std.version == "TLSv1.3"
    assert len(seen) == 2 and all(isinstance(o, S.SSLObject) for o in seen), seen


# ---------------------------------------------------------------------------
# asyncio: open_connection, start_server, loop.start_tls (sslproto drives our SSLObject)
# ---------------------------------------------------------------------------

def test_asyncio_open_connection(pki):
    async def main(port):
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=s2n_client_context(pki), server_hostname="localhost")
        try:
            ssl_object = writer.get_extra_info("ssl_object")
            peercert = writer.get_extra_info("peercert")
            writer.write(http_request("/asyncio"))
            await writer.drain()
            data = await asyncio.wait_for(reader.read(), TIMEOUT)
        finally:
            writer.close()
            with contextlib.suppress(ssl.SSLError, ConnectionError):
                await asyncio.wait_for(writer.wait_closed(), TIMEOUT)
        return ssl_object, peercert, data

    with S2NHTTPServer(pki) as server:
        ssl_object, peercert, data = run(main(server.port))
        rec = server.assert_one_s2n_client()
    assert isinstance(ssl_object, S.SSLObject)
    assert dict(x[0] for x in peercert["subject"])["commonName"] == "server"
    r = parse_response(data)
    assert r.status == 200 and r.body == b"hello from s2n"
    assert rec.request.startswith(b"GET /asyncio ")


@pytest.mark.parametrize("case", ["untrusted-ca", "wrong-hostname"])
def test_asyncio_open_connection_verify_errors(pki, case):
    cafile = "otherca.pem" if case == "untrusted-ca" else "ca.pem"
    hostname = "wrong.test" if case == "wrong-hostname" else "localhost"

    async def main(port):
        await asyncio.open_connection("127.0.0.1", port, ssl=s2n_client_context(pki, cafile),
                                      server_hostname=hostname)

    with S2NHTTPServer(pki) as server:
        with pytest.raises(ssl.SSLCertVerificationError):
            run(main(server.port))
        server.wait_records(1)
    assert server.handshakes() == []


def test_asyncio_start_server(pki):
    seen = []

    async def handle(reader, writer):
        try:
            seen.append(writer.get_extra_info("ssl_object"))
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
            writer.write(http_response(b"hello from asyncio"))
            await writer.drain()
        finally:
            writer.close()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0,
                                            ssl=s2n_server_context(pki))
        try:
            port = server.sockets[0].getsockname()[1]
            ours = await in_thread(s2n_request, pki, port)
            std = await in_thread(stdlib_request, pki, port)
        finally:
            server.close()
            await asyncio.wait_for(server.wait_closed(), TIMEOUT)
        return ours, std

    ours, std = run(main())
    assert ours.status == 200 and ours.body == b"hello from asyncio"
    assert_s2n_on_both_ends(ours.group)
    assert std.status == 200 and std.body == b"hello from asyncio"
    assert len(seen) == 2 and all(isinstance(o, S.SSLObject) for o in seen), seen


class _StartTLSProtocol(asyncio.Protocol):
    """Plain "STARTTLS" -> "OK", then TLS through loop.start_tls, then one HTTP
    exchange. The same protocol object serves before and after start_tls."""

    def __init__(self, loop, ctx, server_side: bool) -> None:
        self.loop, self.ctx, self.server_side = loop, ctx, server_side
        self.transport = None
        self.buffer = b""
        self.tls_transport = None
        self.line = loop.create_future()       # the plaintext line
        self.message = loop.create_future()    # the HTTP message over TLS
        self.closed = loop.create_future()
        self.starting = None

    def connection_made(self, transport) -> None:
        if self.transport is None:
            self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.line.done():
            if b"\r\n" in self.buffer:
                line, _, self.buffer = self.buffer.partition(b"\r\n")
                self.line.set_result(line)
                if self.server_side:
                    assert line == b"STARTTLS", line
                    self.transport.write(b"OK\r\n")
                    self.starting = self.loop.create_task(self.start_tls(None))
            return
        done = b"\r\n\r\n" in self.buffer if self.server_side else self._response_complete()
        if done and not self.message.done():
            self.message.set_result(self.buffer)

    def _response_complete(self) -> bool:
        try:
            r = parse_response(self.buffer)
        except AssertionError:
            return False
        return len(r.body) >= int(r.headers.get("content-length", 1 << 30))

    def eof_received(self):
        if not self.message.done():
            self.message.set_result(self.buffer)
        return False

    def connection_lost(self, exc) -> None:
        for f in (self.line, self.message):
            if not f.done():
                f.set_exception(exc or ConnectionError("connection lost"))
        if not self.closed.done():
            self.closed.set_result(None)

    async def start_tls(self, server_hostname):
        self.tls_transport = await self.loop.start_tls(
            self.transport, self, self.ctx, server_side=self.server_side,
            server_hostname=server_hostname, ssl_handshake_timeout=TIMEOUT)
        return self.tls_transport


def test_loop_start_tls_client(pki):
    async def main(port):
        loop = asyncio.get_running_loop()
        proto = _StartTLSProtocol(loop, s2n_client_context(pki), server_side=False)
        transport, _ = await loop.create_connection(lambda: proto, "127.0.0.1", port)
        try:
            transport.write(b"STARTTLS\r\n")
            assert await asyncio.wait_for(proto.line, TIMEOUT) == b"OK"
            tls = await proto.start_tls("localhost")
            ssl_object = tls.get_extra_info("ssl_object")
            tls.write(http_request("/start_tls"))
            data = await asyncio.wait_for(proto.message, TIMEOUT)
            tls.close()
            await asyncio.wait_for(proto.closed, TIMEOUT)
        finally:
            transport.close()
        return ssl_object, data

    with S2NHTTPServer(pki, starttls=True) as server:
        ssl_object, data = run(main(server.port))
        rec = server.assert_one_s2n_client()
    assert isinstance(ssl_object, S.SSLObject)
    r = parse_response(data)
    assert r.status == 200 and r.body == b"hello from s2n"
    assert rec.request.startswith(b"GET /start_tls ")


def test_loop_start_tls_server(pki):
    async def main():
        loop = asyncio.get_running_loop()
        ctx = s2n_server_context(pki)
        accepted: asyncio.Queue = asyncio.Queue()

        def factory():
            proto = _StartTLSProtocol(loop, ctx, server_side=True)
            accepted.put_nowait(proto)
            return proto

        async def answer(n):
            # each connection: "STARTTLS" -> "OK" and loop.start_tls in the protocol,
            # then one HTTP response here
            for _ in range(n):
                p = await asyncio.wait_for(accepted.get(), TIMEOUT)
                await asyncio.wait_for(p.message, TIMEOUT)
                tls = await asyncio.wait_for(p.starting, TIMEOUT)
                assert isinstance(tls.get_extra_info("ssl_object"), S.SSLObject)
                tls.write(http_response(b"hello from start_tls"))
                tls.close()

        server = await loop.create_server(factory, "127.0.0.1", 0)
        try:
            port = server.sockets[0].getsockname()[1]
            answering = loop.create_task(answer(2))
            ours = await in_thread(s2n_request, pki, port, starttls=True)
            std = await in_thread(stdlib_request, pki, port, starttls=True)
            await asyncio.wait_for(answering, TIMEOUT)
        finally:
            server.close()
            await asyncio.wait_for(server.wait_closed(), TIMEOUT)
        return ours, std

    ours, std = run(main())
    assert ours.status == 200 and ours.body == b"hello from start_tls"
    assert_s2n_on_both_ends(ours.group)
    assert std.status == 200 and std.body == b"hello from start_tls"


# ---------------------------------------------------------------------------
# uvicorn (after inject_into_ssl: it builds ssl.SSLContext itself)
# ---------------------------------------------------------------------------

async def _asgi_hello(scope, receive, send):
    assert scope["type"] == "http"
    body = b"hello from uvicorn " + scope["scheme"].encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def test_uvicorn_server_injected(pki, injected):
    uvicorn = pytest.importorskip("uvicorn")
    config = uvicorn.Config(_asgi_hello, host="127.0.0.1", port=0, lifespan="off",
                            ssl_certfile=str(pki.path("server.pem")),
                            ssl_keyfile=str(pki.path("server.key")), log_level="warning")
    config.load()   # uvicorn: ssl.SSLContext(ssl_version), load_cert_chain, set_ciphers("TLSv1")
    assert isinstance(config.ssl, S.SSLContext), type(config.ssl)
    server = uvicorn.Server(config)
    failure = []

    def serve():
        try:
            server.run()
        except BaseException as e:  # noqa: BLE001 - SystemExit too: reported below
            failure.append(e)

    thread = threading.Thread(target=serve, name="uvicorn", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + TIMEOUT
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)   # polls a condition with a deadline
        assert server.started, f"uvicorn did not start: {failure!r}"
        port = server.servers[0].sockets[0].getsockname()[1]
        ours = s2n_request(pki, port)
        std = stdlib_request(pki, port)
    finally:
        server.should_exit = True
        thread.join(TIMEOUT)
    assert not thread.is_alive(), "uvicorn did not stop"
    assert not failure, failure
    assert ours.status == 200 and ours.body == b"hello from uvicorn https"
    assert_s2n_on_both_ends(ours.group)
    assert std.status == 200 and std.body == b"hello from uvicorn https"
