"""TLSSocket and s2n.asyncio as a production client and server expect them:
no delayed-ACK stalls, no blinding wait in clients, alerts flushed, threads
that take turns, close() from another thread, RFC-correct IP identities."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import statistics
import threading
import time

import pytest

import s2n
from conftest import client_config, server_config
from s2n.socket import _secret_bits


def _listener():
    return socket.create_server(("127.0.0.1", 0))


def _serve(lsock, pki, handler, cert="server", config=None):
    """Accept one connection in a thread; handler(tls) runs there."""
    box = {}

    def run():
        sock, _ = lsock.accept()
        try:
            with s2n.wrap_socket(sock, config or server_config(pki, cert=cert), server_side=True) as tls:
                box["r"] = handler(tls)
        except BaseException as e:  # noqa: BLE001
            box["e"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, box


def test_sockets_have_nodelay_and_tls12_round_trips_do_not_stall(pki):
    """s2n-tls writes a flight in several writes: without TCP_NODELAY, each
    TLS 1.2 handshake + request waited ~40 ms for a delayed ACK."""
    scfg = server_config(pki, cert="server-rsa", policy="20170210")  # TLS 1.2, RSA suites
    ccfg = client_config(pki, policy="20170210")
    times = []
    with _listener() as lsock:
        for _ in range(9):
            def handler(tls):
                assert tls._sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                req = tls.recv(1024)
                tls.sendall(b"HTTP/1.0 200 OK\r\n\r\n" + req)
            t, box = _serve(lsock, pki, handler, config=scfg)
            start = time.perf_counter()
            sock = socket.create_connection(lsock.getsockname())
            with s2n.wrap_socket(sock, ccfg, server_hostname="localhost") as tls:
                assert tls.version() == "TLSv1.2"
                assert tls._sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                tls.sendall(b"GET / HTTP/1.0\r\n\r\n")
                assert tls.recv(1024).startswith(b"HTTP/1.0 200")
            times.append(time.perf_counter() - start)
            t.join(10)
            assert "e" not in box, box
    assert statistics.median(times) < 0.020, times


def test_client_raises_at_once_when_verification_fails(pki):
    """Blinding protects a server's secrets: a client with s2n-tls's default
    blinding (10-30 s) must not wait before raising (it stalled 5 s)."""
    ccfg = s2n.Config()
    ccfg.add_pem_to_trust_store(pki.path("ca.pem"))  # default blinding: no max set
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.path("rogue.pem"), pki.path("rogue.key"))
    with _listener() as lsock:
        def server():
            sock, _ = lsock.accept()
            try:
                with ctx.wrap_socket(sock, server_side=True) as tls:
                    tls.recv(10)
            except (ssl.SSLError, OSError):
                pass

        t = threading.Thread(target=server, daemon=True)
        t.start()
        start = time.monotonic()
        with pytest.raises(s2n.ProtocolError) as e:
            s2n.wrap_socket(socket.create_connection(lsock.getsockname()), ccfg,
                            server_hostname="localhost")
        elapsed = time.monotonic() - start
        t.join(10)
    assert e.value.name == "S2N_ERR_CERT_UNTRUSTED"
    assert elapsed < 1.0, elapsed


def test_server_honours_blinding_in_its_own_thread_only(pki):
    """A server whose client presented an untrusted certificate waits out its
    blinding delay in close() (bounded by the timeout); another connection
    meanwhile is not slowed."""
    scfg = s2n.Config()  # s2n-tls's default blinding (10-30 s)
    scfg.add_cert_chain_and_key(pki.path("server.pem"), pki.path("server.key"))
    scfg.add_pem_to_trust_store(pki.path("ca.pem"))
    scfg.set_client_auth_type(s2n.ClientAuth.REQUIRED)
    scfg.set_verify_host_callback(lambda name: True)
    good_cfg = server_config(pki)
    rogue = ssl.create_default_context(cafile=str(pki.path("ca.pem")))
    rogue.load_cert_chain(pki.path("rogue.pem"), pki.path("rogue.key"))
    with _listener() as lsock:
        closed_after = {}

        def bad_server():
            sock, _ = lsock.accept()
            sock.settimeout(1.0)
            tls = s2n.wrap_socket(sock, scfg, server_side=True, do_handshake_on_connect=False)
            try:
                tls.do_handshake()
            except s2n.S2NError as e:
                closed_after["error"] = e.name
                closed_after["delay"] = tls.connection.get_delay()
            start = time.monotonic()
            tls.close()
            closed_after["s"] = time.monotonic() - start

        t = threading.Thread(target=bad_server, daemon=True)
        t.start()
        raw = rogue.wrap_socket(socket.create_connection(lsock.getsockname()),
                                server_hostname="localhost")
        t_good, box = _serve(lsock, pki, lambda tls: tls.sendall(tls.recv(100)), config=good_cfg)
        start = time.monotonic()
        with s2n.wrap_socket(socket.create_connection(lsock.getsockname()), client_config(pki),
                             server_hostname="localhost") as tls:
            tls.sendall(b"ping")
            assert tls.recv(100) == b"ping"
        good = time.monotonic() - start
        t.join(10)
        t_good.join(10)
        raw.close()
    assert closed_after["error"] == "S2N_ERR_CERT_UNTRUSTED"
    assert closed_after["delay"] >= 10 * 10**9
    assert good < 0.5, good
    assert closed_after["s"] >= 0.9  # the blinding delay, cut at the 1 s timeout


def test_failed_server_handshake_sends_its_alert(pki):
    """The alert s2n-tls queued (protocol_version) reaches the peer."""
    scfg = server_config(pki, policy="20250211")  # TLS 1.3 only
    ctx = ssl.create_default_context(cafile=str(pki.path("ca.pem")))
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with _listener() as lsock:
        def server():
            sock, _ = lsock.accept()
            try:
                s2n.wrap_socket(sock, scfg, server_side=True)
            except s2n.S2NError:
                pass

        t = threading.Thread(target=server, daemon=True)
        t.start()
        with pytest.raises(ssl.SSLError, match="PROTOCOL_VERSION"):
            ctx.wrap_socket(socket.create_connection(lsock.getsockname()),
                            server_hostname="localhost")
        t.join(10)


def test_two_threads_receive_and_two_send_at_once(pki):
    n, size = 40, 50_000
    with _listener() as lsock:
        def handler(tls):
            got = bytearray()
            while len(got) < 2 * n * size:
                chunk = tls.recv(65536)
                assert chunk
                got += chunk
            # every sendall arrived whole: runs of one byte value, size long
            runs = [bytes(got[i:i + size]) for i in range(0, len(got), size)]
            assert all(r == r[:1] * size for r in runs)
            for _ in range(2 * n):
                tls.sendall(os.urandom(size))
            return len(got)

        t, box = _serve(lsock, pki, handler)
        tls = s2n.wrap_socket(socket.create_connection(lsock.getsockname()), client_config(pki),
                              server_hostname="localhost")
        received = []
        errors = []

        def reader():
            try:
                while True:
                    data = tls.recv(4096)
                    if not data:  # the server's close_notify
                        break
                    received.append(len(data))
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        def writer(byte):
            try:
                for _ in range(n):
                    tls.sendall(byte * size)
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=writer, args=(b,)) for b in (b"a", b"b")]
        threads += [threading.Thread(target=reader) for _ in range(2)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
        assert not any(th.is_alive() for th in threads)
        assert not errors, errors
        tls.close()
        t.join(30)
        assert box.get("r") == 2 * n * size, box
        assert sum(received) == 2 * n * size


def test_close_from_another_thread_wakes_a_blocked_recv(pki):
    with _listener() as lsock:
        peer_done = threading.Event()
        t, box = _serve(lsock, pki, lambda tls: (peer_done.wait(20), tls.recv(10)))
        tls = s2n.wrap_socket(socket.create_connection(lsock.getsockname()), client_config(pki),
                              server_hostname="localhost")
        inside = threading.Event()
        outcome = []

        def reader():
            inside.set()
            try:
                tls.recv(10)
                outcome.append("returned")
            except OSError as e:
                outcome.append(e)

        r = threading.Thread(target=reader)
        r.start()
        inside.wait(10)
        for _ in range(1000):  # until the reader has taken its turn (bounded)
            if tls._rlock.locked():
                break
            r.join(0.01)
        tls.close()
        r.join(10)
        assert not r.is_alive(), "close() did not wake the reader"
        assert isinstance(outcome[0], OSError), outcome
        assert tls._sock.fileno() == -1  # closed once the reader left
        peer_done.set()
        t.join(10)


def test_ip_reference_identity(pki):
    """server_hostname="127.0.0.1": no SNI, and only an IP SAN matches."""
    with _listener() as lsock:
        t, box = _serve(lsock, pki, lambda tls: tls.connection.get_server_name())
        with s2n.wrap_socket(socket.create_connection(lsock.getsockname()), client_config(pki),
                             server_hostname="127.0.0.1") as tls:
            tls.sendall(b"x")
        t.join(10)
        assert "e" not in box and box["r"] is None  # no SNI was sent

        t, box = _serve(lsock, pki, lambda tls: tls.recv(1), cert="dns-ip")
        with pytest.raises(s2n.ProtocolError) as e:
            s2n.wrap_socket(socket.create_connection(lsock.getsockname()), client_config(pki),
                            server_hostname="127.0.0.1")
        assert e.value.name == "S2N_PY_ERR_CERT_IP_MISMATCH"
        t.join(10)


def test_ip_reference_identity_asyncio(pki):
    async def main():
        seen = []

        async def handle(reader, writer):
            seen.append(writer.get_extra_info("s2n_connection").get_server_name())
            writer.close()

        for cert, ok in (("server", True), ("dns-ip", False)):
            server = await s2n.asyncio.start_server(handle, "127.0.0.1", 0,
                                                    config=server_config(pki, cert=cert))
            port = server.sockets[0].getsockname()[1]
            try:
                if ok:
                    r, w = await s2n.asyncio.open_connection("127.0.0.1", port, config=client_config(pki))
                    assert w.get_extra_info("server_hostname") == "127.0.0.1"
                    await r.read()
                    w.close()
                else:
                    with pytest.raises(s2n.ProtocolError) as e:
                        await s2n.asyncio.open_connection("127.0.0.1", port, config=client_config(pki))
                    assert e.value.name == "S2N_PY_ERR_CERT_IP_MISMATCH"
            finally:
                server.close()
                await server.wait_closed()
        assert seen[0] is None

    asyncio.run(main())


def test_cipher_bits_for_tls12_openssl_names(pki):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.path("server.pem"), pki.path("server.key"))
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ECDHE-ECDSA-AES256-GCM-SHA384")
    with _listener() as lsock:
        def server():
            sock, _ = lsock.accept()
            with ctx.wrap_socket(sock, server_side=True) as tls:
                tls.recv(1)

        t = threading.Thread(target=server, daemon=True)
        t.start()
        with s2n.wrap_socket(socket.create_connection(lsock.getsockname()), client_config(pki),
                             server_hostname="localhost") as tls:
            name, version, bits = tls.cipher()
            tls.sendall(b"x")
        t.join(10)
    assert (name, version, bits) == ("ECDHE-ECDSA-AES256-GCM-SHA384", "TLSv1.2", 256)
    assert _secret_bits("TLS_AES_128_GCM_SHA256") == 128
    assert _secret_bits("TLS_CHACHA20_POLY1305_SHA256") == 256
    assert _secret_bits("ECDHE-RSA-AES128-SHA") == 128
    assert _secret_bits("DES-CBC3-SHA") == 112


def test_asyncio_submodule_reachable_after_plain_import():
    import subprocess
    import sys

    code = ("import sys, s2n; assert 'asyncio' not in sys.modules, 'import s2n loaded asyncio'; "
            "assert callable(s2n.asyncio.open_connection); print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr


def test_client_closing_right_after_its_handshake_does_not_fail_the_servers(pki):
    """A TLS 1.3 server writes its session tickets after the handshake; a
    client gone by then used to fail the server's handshake with EPIPE."""
    scfg = server_config(pki)
    scfg.set_session_tickets_onoff(True)
    scfg.add_ticket_crypto_key("k", bytes(range(32)))
    scfg.set_initial_ticket_count(2)
    failures = []
    with _listener() as lsock:
        for _ in range(60):
            def server():
                sock, _ = lsock.accept()
                try:
                    with s2n.wrap_socket(sock, scfg, server_side=True) as tls:
                        try:
                            tls.recv(10)
                        except (s2n.S2NError, OSError):
                            pass  # the client is gone: reported on the next read
                except BaseException as e:  # noqa: BLE001
                    failures.append(e)

            t = threading.Thread(target=server, daemon=True)
            t.start()
            raw = socket.create_connection(lsock.getsockname())
            tls = s2n.wrap_socket(raw, client_config(pki), server_hostname="localhost")
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            tls._sock.close()  # a reset, without close_notify, right after the handshake
            tls.close()
            t.join(10)
    assert not failures, failures[:3]


# TLSSocket waits inside C (poll in the glue, GIL released): what a wait in
# Python gave for free must still hold.

def _connected_pair(pki):
    """A handshaken (server, client) TLSSocket pair over loopback TCP."""
    with _listener() as lsock:
        box = {}

        def accept():
            sock, _ = lsock.accept()
            box["srv"] = s2n.wrap_socket(sock, server_config(pki), server_side=True)

        t = threading.Thread(target=accept, daemon=True)
        t.start()
        cli = s2n.wrap_socket(socket.create_connection(lsock.getsockname()), client_config(pki),
                              server_hostname="localhost")
        t.join(10)
    return box["srv"], cli


def test_signal_handlers_run_during_a_wait_in_c_and_the_call_goes_on(pki):
    """PEP 475: a handler that returns lets recv() wait on; one that raises
    ends it. Both while recv() waits with no timeout."""
    import signal

    class Interrupted(Exception):
        pass

    calls = []
    srv, cli = _connected_pair(pki)
    old = signal.signal(signal.SIGALRM, lambda *a: calls.append(time.monotonic()))
    try:
        sender = threading.Timer(0.4, lambda: srv.sendall(b"late"))
        sender.start()
        signal.setitimer(signal.ITIMER_REAL, 0.1)  # fires once, before the data
        assert cli.recv(10) == b"late"
        sender.join(10)
        assert len(calls) == 1

        def raising(*a):
            raise Interrupted

        signal.signal(signal.SIGALRM, raising)
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        start = time.monotonic()
        with pytest.raises(Interrupted):
            cli.recv(10)  # the peer sends nothing
        assert time.monotonic() - start < 5
        # the connection is still usable after the interrupted wait
        srv.sendall(b"again")
        assert cli.recv(10) == b"again"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        srv.close()
        cli.close()


def test_sendall_timeout_covers_the_whole_call(pki):
    """A peer that stops reading: sendall() with a timeout raises once the
    timeout has passed in all, not per partial write."""
    srv, cli = _connected_pair(pki)
    try:
        for s in (srv, cli):
            s._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
        cli.settimeout(0.5)
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            cli.sendall(os.urandom(64 * 1024 * 1024))
        took = time.monotonic() - start
        assert 0.45 < took < 1.5, took
    finally:
        srv.close()
        cli.close()


def test_nonblocking_recv_and_send_never_wait_in_c(pki):
    srv, cli = _connected_pair(pki)
    try:
        cli.setblocking(False)
        start = time.monotonic()
        with pytest.raises(s2n.WantReadError):
            cli.recv(10)
        assert time.monotonic() - start < 0.5
        srv.sendall(b"now")
        import select
        assert select.select([cli], [], [], 5)[0], "data never arrived"
        assert cli.recv(10) == b"now"
    finally:
        srv.close()
        cli.close()


def test_getters_and_half_close_do_not_wait_for_a_blocked_reader_or_writer(pki):
    """A call waiting on the peer holds no Connection lock for long: another
    thread's getters and shutdown_send() return while it waits (the CLI
    client's reader/writer threads deadlocked when the wait held the lock)."""
    srv, cli = _connected_pair(pki)
    try:
        got = []
        reader = threading.Thread(target=lambda: got.append(cli.recv(10)), daemon=True)
        reader.start()
        reader.join(0.2)  # a bound, not a synchronisation: the reader waits on a silent peer
        assert reader.is_alive()
        done = threading.Event()

        def others():
            cli.connection.get_delay()
            cli.connection.get_cipher()
            cli.shutdown_send()  # half-close while the reader waits
            done.set()

        threading.Thread(target=others, daemon=True).start()
        assert done.wait(5), "a getter waited for the blocked reader"
        assert srv.recv(10) == b""  # the close_notify arrived
        srv.sendall(b"bye")
        reader.join(5)
        assert got == [b"bye"]

        # a writer blocked on a peer that does not read
        for s in (srv, cli):
            s._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
        def write():
            try:
                srv.sendall(os.urandom(8 * 1024 * 1024))
            except OSError:
                pass  # the client closes first, below

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        writer.join(0.2)
        assert writer.is_alive()
        start = time.monotonic()
        assert srv.connection.get_cipher()
        assert time.monotonic() - start < 2
    finally:
        cli.close()
        srv.close()


def test_layer_recv_takes_every_buffered_record_connection_recv_one(pki):
    """TLSSocket's recv returns the records s2n-tls already holds in one call
    (as recv_multi_record would); Connection.recv keeps s2n-tls's one record."""
    import array
    import fcntl
    import select
    import termios

    def arrived(sock, n):
        buf = array.array("i", [0])
        for _ in range(2000):  # bounded: loopback delivers in microseconds
            fcntl.ioctl(sock.fileno(), termios.FIONREAD, buf)
            if buf[0] >= n:
                return True
            select.select([sock], [], [], 0.01)
        return False

    srv, cli = _connected_pair(pki)
    try:
        for _ in range(3):
            srv.sendall(b"x" * 100)  # three records of 100 + 22 bytes
        assert arrived(cli._sock, 3 * 122)
        assert cli.recv(1000) == b"x" * 300
        for _ in range(3):
            srv.sendall(b"y" * 100)
        assert arrived(cli._sock, 3 * 122)
        assert cli.connection.recv(1000) == b"y" * 100
    finally:
        srv.close()
        cli.close()


def test_tlssocket_server_waits_for_a_decision_from_another_thread_without_spinning(pki):
    """A non-blocking client hello callback decides later, in another thread:
    the TLSSocket handshake waits for it (backing off), without burning CPU."""
    decided = threading.Event()

    def on_hello(conn):
        def decide():
            conn.client_hello_cb_done()
            decided.set()
        threading.Timer(0.3, decide).start()

    scfg = server_config(pki)
    scfg.set_client_hello_cb(on_hello, mode=s2n.ClientHelloCbMode.NONBLOCKING)
    with _listener() as lsock:
        box = {}

        def accept():
            sock, _ = lsock.accept()
            box["srv"] = s2n.wrap_socket(sock, scfg, server_side=True)

        t = threading.Thread(target=accept, daemon=True)
        cpu = time.process_time()
        t.start()
        cli = s2n.wrap_socket(socket.create_connection(lsock.getsockname()), client_config(pki),
                              server_hostname="localhost")
        t.join(10)
        cpu = time.process_time() - cpu
    try:
        assert decided.is_set() and "srv" in box
        cli.sendall(b"hi")
        assert box["srv"].recv(10) == b"hi"
        assert cpu < 0.2, f"{cpu:.2f} s of CPU while waiting 0.3 s for the decision"
    finally:
        cli.close()
        box.get("srv") and box["srv"].close()
