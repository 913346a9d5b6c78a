"""s2n.asyncio: streams over our own transport, against Python's ssl and itself.

Every test runs its own loop (asyncio.run) with one overall deadline, and every
wait inside is bounded; only real sockets on 127.0.0.1 are used.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import hashlib
import logging
import os
import socket
import ssl
import time

import pytest

import s2n
import s2n.asyncio as s2n_asyncio
from conftest import client_config, fd_count, server_config

SIZES = {"0B": 0, "1B": 1, "16KiB": 16 * 1024, "8MiB": 8 * 1024 * 1024}
CHUNK = 256 * 1024


def run(coro, timeout: float = 60):
    """One fresh loop per test, and a deadline for all of it."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def small_buffer_listener() -> socket.socket:
    """A loopback listening socket with small kernel buffers, so that the
    kernel cannot swallow a multi-MiB write by itself (backpressure tests)."""
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    lsock.bind(("127.0.0.1", 0))
    return lsock


def ssl_client_ctx(pki) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki.path("ca.pem")))
    return ctx


def ssl_server_ctx(pki, cert: str = "server") -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.path(f"{cert}.pem"), pki.path(f"{cert}.key"))
    return ctx


def port_of(server) -> int:
    return server.sockets[0].getsockname()[1]


async def echo_handler(reader, writer):
    """Echo every byte until EOF, then close (sends close_notify)."""
    try:
        while True:
            data = await reader.read(1 << 16)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, s2n.S2NError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def exchange(reader, writer, payload: bytes) -> bytes:
    """Write payload in 256 KiB writes while reading the echo back."""
    async def send():
        view = memoryview(payload)
        for i in range(0, len(view), CHUNK):
            writer.write(view[i:i + CHUNK])
            await writer.drain()

    sender = asyncio.create_task(send())
    try:
        back = await asyncio.wait_for(reader.readexactly(len(payload)), 30)
    finally:
        await asyncio.wait_for(sender, 30)
    return back


async def close_writer(writer) -> None:
    writer.close()
    await asyncio.wait_for(writer.wait_closed(), 10)


async def s2n_server(pki, handler=echo_handler, **kw):
    return await s2n_asyncio.start_server(handler, "127.0.0.1", 0, config=server_config(pki), **kw)


async def s2n_client(pki, port, **kw):
    kw.setdefault("server_hostname", "localhost")
    config = kw.pop("config", None) or client_config(pki)
    return await s2n_asyncio.open_connection("127.0.0.1", port, config=config, **kw)


async def close_server(server) -> None:
    """Stop listening; every connection must then close by itself."""
    server.close()
    try:
        await asyncio.wait_for(server.wait_closed(), 10)
    except asyncio.TimeoutError:
        server.abort_clients()
        raise AssertionError("server connections still open 10 s after close()") from None


# data integrity: both directions, three pairings


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_s2n_server_python_ssl_client(pki, size):
    payload = os.urandom(size)

    async def main():
        server = await s2n_server(pki)
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port_of(server), ssl=ssl_client_ctx(pki), server_hostname="localhost")
            back = await exchange(reader, writer, payload)
            assert writer.get_extra_info("ssl_object").version() == "TLSv1.3"
            await close_writer(writer)
        finally:
            await close_server(server)
        return back

    assert sha(run(main())) == sha(payload)


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_s2n_client_python_ssl_server(pki, size):
    payload = os.urandom(size)

    async def main():
        server = await asyncio.start_server(echo_handler, "127.0.0.1", 0, ssl=ssl_server_ctx(pki))
        try:
            reader, writer = await s2n_client(pki, port_of(server))
            assert writer.get_extra_info("version") == "TLSv1.3"
            back = await exchange(reader, writer, payload)
            await close_writer(writer)
        finally:
            server.close()
            await server.wait_closed()
        return back

    assert sha(run(main())) == sha(payload)


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_s2n_to_s2n(pki, size):
    payload = os.urandom(size)

    async def main():
        server = await s2n_server(pki)
        try:
            reader, writer = await s2n_client(pki, port_of(server))
            back = await exchange(reader, writer, payload)
            await close_writer(writer)
        finally:
            await close_server(server)
        return back

    assert sha(run(main())) == sha(payload)


def test_tls12_with_python_ssl_both_ways(pki):
    payload = os.urandom(300_000)

    async def main():
        sctx = ssl_server_ctx(pki)
        sctx.maximum_version = ssl.TLSVersion.TLSv1_2
        cctx = ssl_client_ctx(pki)
        cctx.maximum_version = ssl.TLSVersion.TLSv1_2
        s2n_srv = await s2n_server(pki)
        ssl_srv = await asyncio.start_server(echo_handler, "127.0.0.1", 0, ssl=sctx)
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port_of(s2n_srv), ssl=cctx, server_hostname="localhost")
            assert await exchange(reader, writer, payload) == payload
            await close_writer(writer)
            reader, writer = await s2n_client(pki, port_of(ssl_srv))
            assert writer.get_extra_info("version") == "TLSv1.2"
            assert not writer.can_write_eof()  # no half-close before TLS 1.3
            with pytest.raises(NotImplementedError):
                writer.write_eof()
            assert await exchange(reader, writer, payload) == payload
            await close_writer(writer)
        finally:
            ssl_srv.close()
            await close_server(s2n_srv)

    run(main())


# many clients, bad clients


def test_100_concurrent_clients(pki):
    before = fd_count()
    connected = []

    async def handler(reader, writer):
        connected.append(writer.get_extra_info("peername"))
        await echo_handler(reader, writer)

    async def one(port, i):
        payload = os.urandom(32 * 1024 + i)
        if i % 2:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=ssl_client_ctx(pki), server_hostname="localhost")
        else:
            reader, writer = await s2n_client(pki, port)
        back = await exchange(reader, writer, payload)
        await close_writer(writer)
        return back == payload

    async def main():
        server = await s2n_server(pki, handler)
        try:
            results = await asyncio.gather(*(one(port_of(server), i) for i in range(100)))
        finally:
            await close_server(server)
        return results

    results = run(main())
    assert results == [True] * 100
    assert len(connected) == 100
    assert fd_count() <= before


def _client_hello() -> bytes:
    """The first flight of a real TLS client (Python's ssl over memory BIOs)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return outgoing.read()


async def _raw_until_closed(port: int, data: bytes, *, eof: bool = False,
                            vanish: bool = False) -> None:
    """Connect, send data (then a TCP FIN if eof); then close at once (vanish)
    or wait for the server to close (EOF or reset: a rejected peer may get either)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    if eof:
        writer.write_eof()
    if not vanish:
        with contextlib.suppress(ConnectionError):
            while await asyncio.wait_for(reader.read(4096), 10):
                pass
    writer.transport.abort()


def test_server_keeps_serving_through_bad_clients(pki, caplog):
    before = fd_count()
    served = []

    async def handler(reader, writer):
        served.append(writer.get_extra_info("peername"))
        await echo_handler(reader, writer)

    async def main():
        server = await s2n_server(pki, handler)
        port = port_of(server)
        try:
            # a silent client stays connected all along: it must not block anyone
            silent_r, silent_w = await asyncio.open_connection("127.0.0.1", port)
            # rejected as soon as s2n-tls has parsed it
            await _raw_until_closed(port, b"\x16\x03\x01\x00\x08\x01\x00\x00\x04\x03\x03\x00\x00")
            # a full record of garbage: its handshake header announces a whole
            # ClientHello (random bytes there could announce a longer message,
            # and s2n-tls would rightly wait for the rest: a 10 s flake)
            await _raw_until_closed(port, b"\x16\x03\x03\x40\x00\x01\x00\x3f\xfc" + os.urandom(16380))
            # s2n-tls waits for the rest of the "record" these announce: the FIN ends it
            await _raw_until_closed(port, os.urandom(1024), eof=True)
            await _raw_until_closed(port, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", eof=True)
            hello = _client_hello()
            await _raw_until_closed(port, hello[: len(hello) // 2], vanish=True)
            await _raw_until_closed(port, b"", vanish=True)  # connects and leaves
            reader, writer = await s2n_client(pki, port)
            assert await exchange(reader, writer, b"still serving") == b"still serving"
            await close_writer(writer)
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=ssl_client_ctx(pki), server_hostname="localhost")
            assert await exchange(reader, writer, b"and to ssl") == b"and to ssl"
            await close_writer(writer)
            assert server.is_serving()
            silent_w.transport.abort()
        finally:
            await close_server(server)

    with caplog.at_level(logging.INFO, logger="s2n.asyncio"):
        run(main())
    assert len(served) == 2  # only completed handshakes reach client_connected_cb
    failures = [r for r in caplog.records if "TLS handshake failed" in r.getMessage()]
    assert len(failures) >= 4, [r.getMessage() for r in caplog.records]
    assert fd_count() <= before


class SansIOClient:
    """Python's ssl over memory BIOs on a raw non-blocking socket: the test
    decides exactly which TLS bytes go out in which send()."""

    def __init__(self, pki, sock: socket.socket) -> None:
        self.sock = sock
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ssl_client_ctx(pki).wrap_bio(self.incoming, self.outgoing,
                                                server_hostname="localhost")
        self.loop = asyncio.get_running_loop()

    async def handshake(self) -> None:
        """Up to the client's Finished, which stays in `outgoing` (unsent)."""
        while True:
            try:
                self.obj.do_handshake()
                return
            except ssl.SSLWantReadError:
                await self.loop.sock_sendall(self.sock, self.outgoing.read())
                await self.feed()

    async def feed(self) -> None:
        data = await asyncio.wait_for(self.loop.sock_recv(self.sock, 65536), 10)
        assert data, "the server closed the connection"
        self.incoming.write(data)

    async def read_until(self, marker: bytes) -> bytes:
        got = b""
        while marker not in got:
            await self.feed()
            with contextlib.suppress(ssl.SSLWantReadError):
                while True:
                    chunk = self.obj.read(65536)
                    if not chunk:
                        break
                    got += chunk
        return got


async def sans_io_client(pki, port: int) -> SansIOClient:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setblocking(False)
    return SansIOClient(pki, sock)


def test_data_sent_with_the_client_finished_is_delivered(pki):
    """TLS 1.3: the client's Finished and its first data in one TCP segment.
    With recv buffering s2n-tls reads both during the handshake; the
    transport must recv right after it instead of waiting on the fd."""
    got = []

    async def handler(reader, writer):
        got.append(await reader.readexactly(5))
        writer.write(b"thanks")
        await writer.drain()
        await echo_handler(reader, writer)

    async def main():
        server = await s2n_server(pki, handler)
        try:
            client = await sans_io_client(pki, port_of(server))
            with client.sock:
                await client.handshake()
                client.obj.write(b"early")
                await client.loop.sock_sendall(client.sock, client.outgoing.read())  # one send
                assert b"thanks" in await client.read_until(b"thanks")
        finally:
            await close_server(server)

    run(main())
    assert got == [b"early"]


def test_records_split_across_tcp_segments(pki):
    """Whole records followed by part of one: the complete ones are delivered
    at once, the rest when its bytes arrive (recv blocks mid-batch)."""
    async def main():
        server = await s2n_server(pki)
        try:
            client = await sans_io_client(pki, port_of(server))
            with client.sock:
                await client.handshake()
                await client.loop.sock_sendall(client.sock, client.outgoing.read())
                for i in range(5):
                    client.obj.write(b"record %d;" % i)
                client.obj.write(b"x" * 10000 + b"end;")
                wire = client.outgoing.read()
                cut = len(wire) - 5000  # inside the last record
                await client.loop.sock_sendall(client.sock, wire[:cut])
                echoed = await client.read_until(b"record 4;")
                assert echoed == b"".join(b"record %d;" % i for i in range(5))
                await client.loop.sock_sendall(client.sock, wire[cut:])
                assert await client.read_until(b"end;") == b"x" * 10000 + b"end;"
        finally:
            await close_server(server)

    run(main())


# handshake errors and timeouts


def test_untrusted_certificate_raises_from_open_connection(pki):
    served = []

    async def handler(reader, writer):
        served.append(1)
        await echo_handler(reader, writer)

    async def main():
        server = await s2n_server(pki, handler)
        try:
            other = s2n.Config()
            other.add_pem_to_trust_store(pki.path("otherca.pem"))
            other.set_max_blinding_delay(0)
            with pytest.raises(s2n.ProtocolError) as info:
                await s2n_client(pki, port_of(server), config=other)
            assert info.value.name == "S2N_ERR_CERT_UNTRUSTED"
            # the server logged its side and still serves
            reader, writer = await s2n_client(pki, port_of(server))
            assert await exchange(reader, writer, b"ok") == b"ok"
            await close_writer(writer)
        finally:
            await close_server(server)

    run(main())
    assert served == [1]


def test_wrong_server_hostname_raises(pki):
    async def main():
        server = await s2n_server(pki)
        try:
            with pytest.raises(s2n.ProtocolError) as info:
                await s2n_client(pki, port_of(server), server_hostname="wrong.example")
            assert info.value.name == "S2N_ERR_CERT_INVALID_HOSTNAME"
        finally:
            await close_server(server)
        # and against Python's ssl as the server
        ssl_srv = await asyncio.start_server(echo_handler, "127.0.0.1", 0, ssl=ssl_server_ctx(pki))
        try:
            with pytest.raises(s2n.ProtocolError):
                await s2n_client(pki, port_of(ssl_srv), server_hostname="wrong.example")
        finally:
            ssl_srv.close()

    run(main())


def test_ip_address_host_verifies_against_ip_san(pki):
    async def main():
        server = await s2n_server(pki)
        try:
            reader, writer = await s2n_asyncio.open_connection(
                "127.0.0.1", port_of(server), config=client_config(pki))  # server_hostname = host
            assert await exchange(reader, writer, b"ip") == b"ip"
            await close_writer(writer)
        finally:
            await close_server(server)

    run(main())


async def _silent_tcp_server(ended: list):
    """A TCP server that never answers; `ended` gets one future per
    connection, done when the client closes it."""
    async def hold(reader, writer):
        done = asyncio.get_running_loop().create_future()
        ended.append(done)
        with contextlib.suppress(ConnectionError):
            await reader.read()  # until the client gives up
        done.set_result(None)
        writer.close()

    return await asyncio.start_server(hold, "127.0.0.1", 0)


def test_handshake_timeout_client(pki):
    before = fd_count()
    ended: list = []

    async def main():
        server = await _silent_tcp_server(ended)
        try:
            start = time.monotonic()
            with pytest.raises(TimeoutError):
                await s2n_client(pki, port_of(server), handshake_timeout=0.5)
            elapsed = time.monotonic() - start
            assert 0.45 <= elapsed < 5, elapsed
            # asyncio's own name for it works too
            with pytest.raises(TimeoutError):
                await s2n_client(pki, port_of(server), ssl_handshake_timeout=0.2)
            # the client closed its socket: the silent server's reads end
            await asyncio.wait_for(asyncio.gather(*ended), 10)
        finally:
            server.close()
            await server.wait_closed()
        return elapsed

    run(main())
    assert fd_count() <= before


def test_handshake_timeout_server(pki):
    async def main():
        server = await s2n_server(pki, handshake_timeout=0.5)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port_of(server))
            start = time.monotonic()
            assert await asyncio.wait_for(reader.read(), 10) == b""  # closed by the server
            assert 0.45 <= time.monotonic() - start < 5
            writer.close()
        finally:
            await close_server(server)

    run(main())


def test_cancelled_open_connection_leaks_nothing(pki):
    before = fd_count()
    ended: list = []

    async def main():
        server = await _silent_tcp_server(ended)
        try:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(s2n_client(pki, port_of(server)), 0.3)
            await asyncio.wait_for(asyncio.gather(*ended), 10)
        finally:
            server.close()
            await server.wait_closed()

    run(main())
    assert fd_count() <= before


def test_connection_refused(pki):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening
        with pytest.raises(ConnectionRefusedError):
            run(s2n_client(pki, port))


# flow control


def test_backpressure_drain_blocks_until_the_server_reads(pki):
    payload = os.urandom(8 * 1024 * 1024)
    go = None
    server_side = {}

    async def handler(reader, writer):
        server_side["transport"] = writer.transport
        await go.wait()
        data = await reader.readexactly(len(payload))
        writer.write(sha(data).encode())
        await writer.drain()
        await echo_handler(reader, writer)

    async def main():
        nonlocal go
        go = asyncio.Event()
        server = await s2n_asyncio.start_server(handler, sock=small_buffer_listener(),
                                                config=server_config(pki))
        try:
            csock = socket.socket()
            csock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
            csock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(csock, server.sockets[0].getsockname())
            reader, writer = await s2n_asyncio.open_connection(
                sock=csock, config=client_config(pki), server_hostname="localhost")
            transport = writer.transport
            low, high = transport.get_write_buffer_limits()
            writer.write(payload[:1 << 20])
            # then many small writes: they queue up behind the first and are
            # sent joined (each TLS record still carries the right bytes)
            pos = 1 << 20
            step = 1
            while pos < len(payload):
                writer.write(bytearray(payload[pos:pos + step]))
                pos += step
                step = step * 7 % 9973 + 1
            assert transport.get_write_buffer_size() > high
            drain = asyncio.create_task(writer.drain())
            done, _ = await asyncio.wait({drain}, timeout=0.3)
            assert not done, "drain() returned while the server was not reading"
            assert transport.get_write_buffer_size() > high
            # the server's transport stopped reading: its StreamReader is full
            for _ in range(500):
                if "transport" in server_side and not server_side["transport"].is_reading():
                    break
                await asyncio.sleep(0.01)
            assert not server_side["transport"].is_reading()
            go.set()
            await asyncio.wait_for(drain, 20)
            assert transport.get_write_buffer_size() <= high
            digest = await asyncio.wait_for(reader.readexactly(64), 20)
            assert digest == sha(payload).encode()
            await close_writer(writer)
        finally:
            await close_server(server)

    run(main())


def test_slow_reader_pauses_and_resumes_without_losing_data(pki):
    """The client reads slowly with a tiny StreamReader limit, so the
    transport pauses and resumes many times (with records left in s2n's buffer)."""
    payload = os.urandom(2 * 1024 * 1024)

    async def handler(reader, writer):
        writer.write(payload)
        await writer.drain()
        await echo_handler(reader, writer)

    async def main():
        server = await s2n_server(pki, handler)
        try:
            reader, writer = await s2n_client(pki, port_of(server), limit=1024)
            got = bytearray()
            while len(got) < len(payload):
                got += await asyncio.wait_for(reader.read(3000), 10)
                await asyncio.sleep(0)
            await close_writer(writer)
        finally:
            await close_server(server)
        return bytes(got)

    assert sha(run(main())) == sha(payload)


# closing


def test_close_sends_close_notify_to_s2n_peer(pki):
    seen = {}

    async def handler(reader, writer):
        seen["data"] = await asyncio.wait_for(reader.read(), 10)  # until EOF
        seen["ragged"] = writer.get_extra_info("ragged_eof")
        writer.close()

    async def main():
        server = await s2n_server(pki, handler)
        try:
            reader, writer = await s2n_client(pki, port_of(server))
            writer.write(b"last words")
            await close_writer(writer)
            assert writer.transport.is_closing()
        finally:
            await close_server(server)

    run(main())
    assert seen == {"data": b"last words", "ragged": False}


def test_close_sends_close_notify_to_python_ssl_peer(pki):
    """Python's ssl with suppress_ragged_eofs=False raises on an EOF without
    close_notify, so a b"" here proves the close_notify came."""
    sctx = ssl_server_ctx(pki)

    def strict_server(lsock):
        sock, _ = lsock.accept()
        sock.settimeout(10)
        with sctx.wrap_socket(sock, server_side=True, suppress_ragged_eofs=False) as tls:
            data = b""
            while True:
                chunk = tls.recv(100)
                if not chunk:
                    return data
                data += chunk

    def strict_client(port):
        cctx = ssl_client_ctx(pki)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            with cctx.wrap_socket(sock, server_hostname="localhost", suppress_ragged_eofs=False) as tls:
                data = b""
                while True:
                    chunk = tls.recv(100)
                    if not chunk:
                        return data
                    data += chunk

    async def server_side_close(reader, writer):
        writer.write(b"from the s2n server")
        writer.close()

    async def main():
        # s2n client closes -> Python ssl server sees a clean EOF
        with socket.create_server(("127.0.0.1", 0)) as lsock:
            task = asyncio.create_task(asyncio.to_thread(strict_server, lsock))
            reader, writer = await s2n_client(pki, lsock.getsockname()[1])
            writer.write(b"from the s2n client")
            await close_writer(writer)
            assert await asyncio.wait_for(task, 10) == b"from the s2n client"
        # s2n server closes -> Python ssl clients (blocking and asyncio) see a clean EOF
        server = await s2n_server(pki, server_side_close)
        try:
            got = await asyncio.wait_for(asyncio.to_thread(strict_client, port_of(server)), 10)
            assert got == b"from the s2n server"
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port_of(server), ssl=ssl_client_ctx(pki), server_hostname="localhost")
            assert await asyncio.wait_for(reader.read(), 10) == b"from the s2n server"
            await close_writer(writer)
        finally:
            await close_server(server)

    run(main())


def test_ragged_eof_is_eof_and_flagged(pki):
    """The peer closes TCP without close_notify: the data before it stays
    readable, read() ends, get_extra_info("ragged_eof") says so."""
    sctx = ssl_server_ctx(pki)

    def rude_server(lsock):
        sock, _ = lsock.accept()
        sock.settimeout(10)
        tls = sctx.wrap_socket(sock, server_side=True)
        tls.sendall(b"partial response")
        tls.shutdown(socket.SHUT_RDWR)  # TCP shutdown, no TLS close_notify
        tls.close()

    async def main():
        with socket.create_server(("127.0.0.1", 0)) as lsock:
            task = asyncio.create_task(asyncio.to_thread(rude_server, lsock))
            reader, writer = await s2n_client(pki, lsock.getsockname()[1])
            assert await asyncio.wait_for(reader.read(), 10) == b"partial response"
            assert writer.get_extra_info("ragged_eof") is True
            await asyncio.wait_for(task, 10)
            await close_writer(writer)

    run(main())


def test_write_eof_half_close_tls13(pki):
    async def handler(reader, writer):
        request = await asyncio.wait_for(reader.read(), 10)  # until the client's close_notify
        writer.write(b"reply to " + request)
        writer.close()

    async def main():
        server = await s2n_server(pki, handler)
        try:
            reader, writer = await s2n_client(pki, port_of(server))
            assert writer.can_write_eof()
            writer.write(b"request")
            writer.write_eof()
            with pytest.raises(RuntimeError):
                writer.write(b"after eof")
            assert await asyncio.wait_for(reader.read(), 10) == b"reply to request"
            await close_writer(writer)
        finally:
            await close_server(server)

    run(main())


def test_abort_closes_at_once(pki):
    async def handler(reader, writer):
        await echo_handler(reader, writer)

    async def main():
        server = await s2n_server(pki, handler)
        try:
            reader, writer = await s2n_client(pki, port_of(server))
            conn = writer.get_extra_info("s2n_connection")
            writer.write(b"x" * 100)
            writer.transport.abort()
            await asyncio.wait_for(writer.wait_closed(), 10)
            for _ in range(10):
                writer.write(b"ignored after the loss, as asyncio's transports do")
            with pytest.raises(s2n.UsageError):  # freed with the transport
                conn.send(b"x")
        finally:
            await close_server(server)  # the server side saw the end too

    run(main())


def test_server_close_clients_and_context_manager(pki):
    async def handler(reader, writer):
        await echo_handler(reader, writer)

    async def main():
        async with await s2n_server(pki, handler) as server:
            assert server.is_serving()
            port = port_of(server)
            reader, writer = await s2n_client(pki, port)
            assert await exchange(reader, writer, b"x") == b"x"
            server.close()
            assert not server.is_serving() and server.sockets == ()
            with pytest.raises(ConnectionRefusedError):
                await s2n_client(pki, port)
            server.close_clients()
            assert await asyncio.wait_for(reader.read(), 10) == b""  # close_notify from the server
            await close_writer(writer)
            await asyncio.wait_for(server.wait_closed(), 10)

    run(main())


def test_serve_forever_cancel(pki):
    async def main():
        server = await s2n_server(pki, start_serving=False)
        assert not server.is_serving()
        task = asyncio.create_task(server.serve_forever())
        await asyncio.sleep(0)
        assert server.is_serving()
        reader, writer = await s2n_client(pki, port_of(server))
        assert await exchange(reader, writer, b"forever") == b"forever"
        await close_writer(writer)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
        assert not server.is_serving()

    run(main())


# information


def test_get_extra_info(pki):
    server_der = ssl.PEM_cert_to_DER_cert(pki.path("server.pem").read_text())
    ca_der = ssl.PEM_cert_to_DER_cert(pki.path("ca.pem").read_text())
    server_info = {}

    def alpn(config):
        config.set_protocol_preferences(["h2", "http/1.1"])
        return config

    async def handler(reader, writer):
        for key in ("peercert", "peercert_chain", "cipher", "version", "alpn_protocol",
                    "server_hostname", "sockname", "peername", "s2n_connection"):
            server_info[key] = writer.get_extra_info(key)
        await echo_handler(reader, writer)

    async def main():
        server = await s2n_asyncio.start_server(handler, "127.0.0.1", 0, config=alpn(server_config(pki)))
        try:
            reader, writer = await s2n_client(pki, port_of(server), config=alpn(client_config(pki)))
            info = writer.get_extra_info
            assert isinstance(info("s2n_connection"), s2n.Connection)
            sock = info("socket")
            assert sock.fileno() >= 0 and sock.getpeername() == info("peername")
            assert info("peername") == ("127.0.0.1", port_of(server))
            assert info("sockname") == sock.getsockname()
            assert info("peercert") == server_der
            assert info("peercert_chain") == [server_der, ca_der]  # the validated chain
            assert info("cipher") == "TLS_AES_128_GCM_SHA256"
            assert info("version") == "TLSv1.3"
            assert info("alpn_protocol") == "h2"
            assert info("server_hostname") == "localhost"
            assert info("ragged_eof") is False
            assert info("sslcontext") is None  # on purpose: see the module docstring
            assert info("nonexistent", 42) == 42
            assert await exchange(reader, writer, b"info") == b"info"
            await close_writer(writer)
            # captured after the handshake: still there once closed
            assert info("version") == "TLSv1.3" and info("peercert") == server_der
        finally:
            await close_server(server)

    run(main())
    assert server_info["peercert"] is None and server_info["peercert_chain"] == []
    assert server_info["version"] == "TLSv1.3" and server_info["alpn_protocol"] == "h2"
    assert server_info["server_hostname"] == "localhost"
    assert server_info["cipher"] == "TLS_AES_128_GCM_SHA256"
    assert server_info["peername"][0] == "127.0.0.1"


def test_api_checks(pki):
    async def main():
        with pytest.raises(TypeError):
            await s2n_asyncio.open_connection("127.0.0.1", 1, config=ssl_client_ctx(pki))
        with pytest.raises(TypeError):
            await s2n_asyncio.open_connection("127.0.0.1", 1, config=client_config(pki), bogus=1)
        with pytest.raises(ValueError):
            await s2n_asyncio.open_connection("127.0.0.1", 1, config=client_config(pki),
                                              handshake_timeout=0)
        server = await s2n_server(pki)
        try:
            reader, writer = await s2n_client(pki, port_of(server))
            with pytest.raises(TypeError):
                writer.write("text")
            writer.transport.set_write_buffer_limits(high=1000)
            assert writer.transport.get_write_buffer_limits() == (250, 1000)
            with pytest.raises(ValueError):
                writer.transport.set_write_buffer_limits(high=1, low=2)
            writer.writelines([b"a", bytearray(b"b"), memoryview(b"c")])
            assert await asyncio.wait_for(reader.readexactly(3), 10) == b"abc"
            await close_writer(writer)
        finally:
            await close_server(server)

    run(main())


# blinding, errors after the handshake, close timeouts


def blinding_server_config(pki, seconds: int = 3) -> s2n.Config:
    """s2n-tls keeps a failed connection open for max/3..max seconds."""
    config = server_config(pki)
    config.set_max_blinding_delay(seconds)
    return config


def test_blinding_delay_is_waited_on_the_loop_not_in_it(pki):
    """After a bad ClientHello s2n-tls asks for a 1-3 s delay before the
    close: the peer sees the close that late, while a good client is served
    meanwhile (the loop is not blocked)."""
    async def main():
        server = await s2n_asyncio.start_server(echo_handler, "127.0.0.1", 0,
                                                config=blinding_server_config(pki))
        try:
            start = time.monotonic()
            bad = asyncio.create_task(_raw_until_closed(
                port_of(server), b"\x16\x03\x01\x00\x08\x01\x00\x00\x04\x03\x03\x00\x00"))
            reader, writer = await s2n_client(pki, port_of(server))
            assert await exchange(reader, writer, b"not blocked") == b"not blocked"
            await close_writer(writer)
            assert not bad.done(), "the rejected connection closed before the blinding delay"
            await asyncio.wait_for(bad, 10)
            assert time.monotonic() - start >= 0.9
        finally:
            await close_server(server)

    run(main())


def test_bad_record_after_the_handshake(pki):
    """A corrupt record: the application sees the s2n error at once
    (connection_lost(exc)); the socket closes after the blinding delay."""
    seen = {}

    async def handler(reader, writer):
        try:
            await reader.read()
        except s2n.S2NError as exc:
            seen["exc"] = exc
            seen["at"] = time.monotonic()
        writer.close()

    async def main():
        server = await s2n_asyncio.start_server(handler, "127.0.0.1", 0,
                                                config=blinding_server_config(pki))
        try:
            client = await sans_io_client(pki, port_of(server))
            with client.sock:
                await client.handshake()
                await client.loop.sock_sendall(client.sock, client.outgoing.read())
                sent = time.monotonic()
                await client.loop.sock_sendall(client.sock, b"\x17\x03\x03\x00\x40" + os.urandom(64))
                while await asyncio.wait_for(client.loop.sock_recv(client.sock, 4096), 10):
                    pass  # (an alert, maybe) until the server closes
                closed = time.monotonic()
        finally:
            await close_server(server)
        return sent, closed

    sent, closed = run(main())
    assert isinstance(seen["exc"], s2n.S2NError), seen
    assert seen["at"] - sent < 0.5 <= 0.9 <= closed - sent


def test_client_error_is_raised_before_the_blinding_delay(pki):
    """open_connection raises at once; only the close of its socket waits
    (the blinding delay after a failed certificate check: 1-3 s here)."""
    async def main():
        server = await s2n_server(pki)
        try:
            other = s2n.Config()
            other.add_pem_to_trust_store(pki.path("otherca.pem"))
            other.set_max_blinding_delay(3)
            before = fd_count()
            start = time.monotonic()
            with pytest.raises(s2n.ProtocolError):
                await s2n_client(pki, port_of(server), config=other)
            assert time.monotonic() - start < 0.9
            assert fd_count() > before  # the client's socket, held open
            for _ in range(1000):
                if fd_count() == before:
                    break
                await asyncio.sleep(0.01)
            assert fd_count() == before
            return time.monotonic() - start
        finally:
            await close_server(server)

    assert run(main()) >= 0.9


def test_close_gives_up_after_shutdown_timeout(pki):
    """close() with a peer that never reads: the buffer cannot drain, so the
    transport is aborted after shutdown_timeout."""
    go = None

    async def handler(reader, writer):
        await go.wait()
        await echo_handler(reader, writer)

    async def main():
        nonlocal go
        go = asyncio.Event()
        server = await s2n_asyncio.start_server(handler, sock=small_buffer_listener(),
                                                config=server_config(pki))
        try:
            reader, writer = await s2n_client(pki, port_of(server), shutdown_timeout=0.5)
            writer.write(os.urandom(8 << 20))
            start = time.monotonic()
            writer.close()
            await asyncio.wait_for(writer.wait_closed(), 10)
            assert 0.45 <= time.monotonic() - start < 5
            go.set()
        finally:
            await close_server(server)

    run(main())


def test_server_close_clients_during_handshake(pki):
    async def main():
        server = await s2n_server(pki)
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(server))
        for _ in range(100):  # until the server has accepted it
            if server._transports:
                break
            await asyncio.sleep(0.01)
        server.close()
        server.close_clients()
        assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()
        await asyncio.wait_for(server.wait_closed(), 10)

    run(main())


def test_pause_reading_holds_data_back(pki):
    async def handler(reader, writer):
        await reader.readexactly(1)
        writer.write(b"hello")
        await writer.drain()
        await echo_handler(reader, writer)

    async def main():
        server = await s2n_server(pki, handler)
        try:
            reader, writer = await s2n_client(pki, port_of(server))
            transport = writer.transport
            transport.pause_reading()
            assert not transport.is_reading()
            writer.write(b"?")
            fd = writer.get_extra_info("socket").fileno()
            for _ in range(500):  # until the reply sits in the kernel
                if s2n_asyncio._readable_bytes(fd, array.array("i", [0])):
                    break
                await asyncio.sleep(0.01)
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(reader.readexactly(5), 0.2)
            transport.resume_reading()
            assert transport.is_reading()
            assert await asyncio.wait_for(reader.readexactly(5), 10) == b"hello"
            await close_writer(writer)
        finally:
            await close_server(server)

    run(main())


def test_mutual_tls_peercert_on_the_server(pki):
    client_der = ssl.PEM_cert_to_DER_cert(pki.path("client.pem").read_text())
    seen = {}

    async def handler(reader, writer):
        seen["peercert"] = writer.get_extra_info("peercert")
        await echo_handler(reader, writer)

    async def main():
        scfg = server_config(pki)
        scfg.set_client_auth_type(s2n.ClientAuth.REQUIRED)
        scfg.add_pem_to_trust_store(pki.path("ca.pem"))
        scfg.set_verify_host_callback(lambda name: name == "client.test")
        server = await s2n_asyncio.start_server(handler, "127.0.0.1", 0, config=scfg)
        try:
            ccfg = client_config(pki)
            ccfg.add_cert_chain_and_key(pki.path("client.pem"), pki.path("client.key"))
            reader, writer = await s2n_client(pki, port_of(server), config=ccfg)
            assert await exchange(reader, writer, b"mtls") == b"mtls"
            await close_writer(writer)
            # Without a client certificate the server rejects the handshake. With
            # TLS 1.3 the client may have finished its side already: it then sees
            # the connection end without close_notify.
            try:
                reader, writer = await s2n_client(pki, port_of(server))
            except s2n.S2NError:
                pass
            else:
                try:
                    assert await asyncio.wait_for(reader.read(), 10) == b""
                    assert writer.get_extra_info("ragged_eof") is True
                except s2n.S2NError:
                    pass
                await close_writer(writer)
        finally:
            await close_server(server)

    run(main())
    assert seen == {"peercert": client_der}  # the handler ran for the good client only


def test_hostname_resolution_and_local_addr(pki):
    """A name goes through getaddrinfo (the loop's executor); local_addr binds."""
    async def main():
        server = await s2n_server(pki)
        try:
            reader, writer = await s2n_asyncio.open_connection(
                "localhost", port_of(server), config=client_config(pki), family=socket.AF_INET,
                local_addr=("127.0.0.1", 0))
            assert writer.get_extra_info("sockname")[0] == "127.0.0.1"
            assert writer.get_extra_info("server_hostname") == "localhost"
            assert await exchange(reader, writer, b"named") == b"named"
            await close_writer(writer)
        finally:
            await close_server(server)

    run(main())


# the transport's state machine: transitions that no other test names


from s2n.asyncio._transport import _TRANSITIONS, State  # noqa: E402


class Recording(s2n_asyncio.S2NTransport):
    """Records every state it enters."""

    def __init__(self, *args, **kwargs) -> None:
        self.history = []
        super().__init__(*args, **kwargs)

    def _set_state(self, new):
        self.history.append(new)
        return super()._set_state(new)


class Counting(asyncio.Protocol):
    """Counts the protocol callbacks; `lost_event` is set by connection_lost."""

    def __init__(self) -> None:
        self.made = 0
        self.lost = []
        self.transport = None
        self.made_event = asyncio.Event()
        self.lost_event = asyncio.Event()

    def connection_made(self, transport) -> None:
        self.made += 1
        self.transport = transport
        self.made_event.set()

    def connection_lost(self, exc) -> None:
        self.lost.append(exc)
        self.lost_event.set()


def never_called():
    raise AssertionError("the protocol factory must not run before the handshake is done")


def handshaking_transport(pki, mode, waiter=None):
    """A transport on one end of a socketpair whose other end stays silent:
    it stays HANDSHAKING until the test acts."""
    a, b = socket.socketpair()
    a.setblocking(False)
    b.settimeout(10)
    config = server_config(pki) if mode == s2n.Mode.SERVER else client_config(pki)
    conn = s2n_asyncio._new_connection(mode, config, a, "localhost" if mode == s2n.Mode.CLIENT else None)
    t = Recording(asyncio.get_running_loop(), a, conn, never_called, waiter=waiter)
    return t, a, b


def test_state_transition_table():
    assert set(_TRANSITIONS) == set(State)
    assert _TRANSITIONS[State.CLOSED] == frozenset()
    assert _TRANSITIONS[State.BROKEN] == {State.CLOSED}  # a broken stream stays broken
    for targets in _TRANSITIONS.values():
        assert State.HANDSHAKING not in targets  # nothing goes back
    assert State.OPEN not in _TRANSITIONS[State.CLOSING]


def test_invalid_transition_is_refused(pki):
    async def main():
        t, a, b = handshaking_transport(pki, s2n.Mode.SERVER)
        with b:
            with pytest.raises(RuntimeError, match="HANDSHAKING -> CLOSING"):
                t._set_state(State.CLOSING)
            assert t._state is State.HANDSHAKING
            t.abort()
            with pytest.raises(RuntimeError, match="CLOSED -> OPEN"):
                t._set_state(State.OPEN)

    run(main())


def test_abort_during_handshake(pki):
    """Server side, peer silent: abort() goes straight to CLOSED, closes the
    socket, and no protocol is ever made (so no connection_lost either)."""
    async def main():
        t, a, b = handshaking_transport(pki, s2n.Mode.SERVER)
        with b:
            assert t._state is State.HANDSHAKING and not t.is_closing() and t.is_reading()
            t.abort()
            assert t.history == [State.CLOSED] and t.is_closing()
            assert a.fileno() == -1
            assert b.recv(10) == b""  # the peer sees the close at once
            t.abort()  # again: nothing
            t.close()
            assert t.history == [State.CLOSED]
            await asyncio.sleep(0)  # a connection_lost would have been scheduled by now
            assert t.get_protocol() is None

    run(main())


def test_abort_during_client_handshake_fails_the_waiter(pki):
    async def main():
        waiter = asyncio.get_running_loop().create_future()
        t, a, b = handshaking_transport(pki, s2n.Mode.CLIENT, waiter)
        with b:
            assert b.recv(5)[:1] == b"\x16"  # the ClientHello went out at once
            t.abort()
            with pytest.raises(ConnectionAbortedError):
                await asyncio.wait_for(waiter, 10)
            assert t.history == [State.CLOSED]

    run(main())


def test_close_during_handshake_breaks_then_closes(pki):
    """close() before the handshake is done is a failed handshake: BROKEN
    (the waiter gets ConnectionAbortedError), then CLOSED once the blinding
    delay (none here) is over. Closing again changes nothing."""
    async def main():
        waiter = asyncio.get_running_loop().create_future()
        t, a, b = handshaking_transport(pki, s2n.Mode.CLIENT, waiter)
        with b:
            t.close()
            assert t.is_closing()
            with pytest.raises(ConnectionAbortedError):
                await asyncio.wait_for(waiter, 10)
            assert t.history == [State.BROKEN, State.CLOSED]
            t.close()
            t.abort()
            assert t.history == [State.BROKEN, State.CLOSED]

    run(main())


async def connected_transport(pki, port):
    """A client S2NTransport with a Counting protocol."""
    loop = asyncio.get_running_loop()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setblocking(False)
    conn = s2n_asyncio._new_connection(s2n.Mode.CLIENT, client_config(pki), sock, "localhost")
    protocol = Counting()
    waiter = loop.create_future()
    t = Recording(loop, sock, conn, lambda: protocol, waiter=waiter)
    await asyncio.wait_for(waiter, 10)
    return t, protocol


def test_close_during_close_and_connection_lost_once(pki):
    """close() while a close is flushing is a no-op; abort() then cuts it
    short. connection_lost runs exactly once, with None, in both cases."""
    go = None

    async def handler(reader, writer):
        await go.wait()  # read nothing until told: the client's close cannot finish
        while await reader.read(1 << 20):  # then read it all (no echo: the closing
            pass                           # client reads nothing back)
        writer.close()

    async def main():
        nonlocal go
        go = asyncio.Event()
        server = await s2n_asyncio.start_server(handler, sock=small_buffer_listener(),
                                                config=server_config(pki))
        try:
            for second in ("close", "abort"):
                t, protocol = await connected_transport(pki, port_of(server))
                assert t.history == [State.OPEN] and protocol.made == 1
                t.write(os.urandom(8 << 20))  # more than the socket buffers hold
                t.close()
                assert t._state is State.CLOSING and t.is_closing() and not t.can_write_eof()
                getattr(t, second)()
                if second == "close":
                    assert t._state is State.CLOSING
                    go.set()  # the server reads now: the flush, then close_notify, ends
                else:
                    assert t._state is State.CLOSED
                await asyncio.wait_for(protocol.lost_event.wait(), 20)
                t.close()
                t.abort()
                await asyncio.sleep(0)
                assert t.history == [State.OPEN, State.CLOSING, State.CLOSED]
                assert protocol.lost == [None] and protocol.made == 1
        finally:
            go.set()
            await close_server(server)

    run(main())


def test_error_while_open_breaks_and_write_after_broken_is_ignored(pki):
    """A bad record after the handshake: OPEN -> BROKEN, connection_lost(exc)
    at once; the socket stays open for the blinding delay. While BROKEN,
    write()/close()/write_eof()/pause/resume change nothing; abort() closes
    at once, and connection_lost is not called again."""
    protocols = []
    made = None

    def factory():
        protocols.append(Counting())
        made.set()  # connection_made follows at once
        return protocols[-1]

    async def main():
        nonlocal made
        made = asyncio.Event()
        loop = asyncio.get_running_loop()
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.setblocking(False)
        config = blinding_server_config(pki, seconds=30)
        server = s2n_asyncio.Server(loop, [lsock], factory, config, 100, 60.0, 30.0)
        server._start_serving()
        try:
            client = await sans_io_client(pki, port_of(server))
            with client.sock:
                await client.handshake()
                await loop.sock_sendall(client.sock, client.outgoing.read())
                await asyncio.wait_for(made.wait(), 10)
                protocol = protocols[0]
                t = protocol.transport
                await loop.sock_sendall(client.sock, b"\x17\x03\x03\x00\x40" + os.urandom(64))
                await asyncio.wait_for(protocol.lost_event.wait(), 10)
                assert isinstance(protocol.lost[0], s2n.S2NError)
                assert t._state is State.BROKEN and t.is_closing() and not t.is_reading()
                for _ in range(10):
                    t.write(b"after broken")  # ignored (and logged after a few), not raised
                assert t.get_write_buffer_size() == 0
                t.write_eof()
                t.pause_reading()
                t.resume_reading()
                t.close()
                assert t._state is State.BROKEN  # still waiting out the blinding delay
                t.abort()
                assert t._state is State.CLOSED
                while await asyncio.wait_for(loop.sock_recv(client.sock, 4096), 10):
                    pass  # (an alert, maybe) then EOF: closed now, not after 10-30 s
                await asyncio.sleep(0)
                assert protocol.lost == [protocol.lost[0]] and protocol.made == 1
        finally:
            server.close()
            await asyncio.wait_for(server.wait_closed(), 10)

    run(main())
