"""TLS 1.3 early data (0-RTT) against the real library, and openssl."""

from __future__ import annotations

import threading

import pytest

import s2n
from conftest import client_config, server_config
from test_memory import Side, handshake, shuttle

TICKET_KEY = bytes(range(32))


def configs(pki, early_cb=None, max_early=4096):
    scfg, ccfg = server_config(pki), client_config(pki)
    for c in (scfg, ccfg):
        c.set_session_tickets_onoff(True)
    scfg.add_ticket_crypto_key(b"k1", TICKET_KEY)
    scfg.set_server_max_early_data_size(max_early)
    if early_cb is not None:
        scfg.set_early_data_cb(early_cb)
    tickets = []
    ccfg.set_session_ticket_callback(lambda conn, ticket, lifetime: tickets.append(ticket))
    return scfg, ccfg, tickets


def first_session(pki, scfg, ccfg, tickets):
    """A full handshake; the client reads the server's ticket."""
    srv, cli = Side(s2n.Mode.SERVER, scfg), Side(s2n.Mode.CLIENT, ccfg)
    cli.conn.set_server_name("localhost")
    handshake(cli, srv)
    srv.conn.send(b"t")
    shuttle(cli, srv)
    assert cli.conn.recv(10) == b"t" and tickets
    return tickets[-1]


def resumed_pair(scfg, ccfg, session):
    srv, cli = Side(s2n.Mode.SERVER, scfg), Side(s2n.Mode.CLIENT, ccfg)
    cli.conn.set_server_name("localhost")
    cli.conn.set_session(session)
    return cli, srv


def early_exchange(cli, srv, data: bytes) -> bytes:
    """The client sends `data` as early data, the server reads what it gets;
    then both finish the handshake."""
    assert cli.conn.send_early_data(data) == len(data)
    shuttle(cli, srv)
    got = b""
    for _ in range(20):
        try:
            chunk = srv.conn.recv_early_data()
        except s2n.BlockedError:
            shuttle(cli, srv)
            continue
        if not chunk:
            break
        got += chunk
    handshake(cli, srv)
    return got


def test_early_data_reaches_the_server_in_the_first_flight(pki):
    scfg, ccfg, tickets = configs(pki, early_cb=lambda conn, offered: True)
    session = first_session(pki, scfg, ccfg, tickets)
    cli, srv = resumed_pair(scfg, ccfg, session)
    assert early_exchange(cli, srv, b"GET / HTTP/1.1\r\n\r\n") == b"GET / HTTP/1.1\r\n\r\n"
    assert cli.conn.is_session_resumed()
    assert cli.conn.get_early_data_status() == s2n.EarlyDataStatus.END
    assert srv.conn.get_early_data_status() == s2n.EarlyDataStatus.END
    cli.conn.send(b"after")
    shuttle(cli, srv)
    assert srv.conn.recv(10) == b"after"


def test_rejected_early_data_must_be_sent_again(pki):
    scfg, ccfg, tickets = configs(pki, early_cb=lambda conn, offered: False)
    session = first_session(pki, scfg, ccfg, tickets)
    cli, srv = resumed_pair(scfg, ccfg, session)
    assert early_exchange(cli, srv, b"first bytes") == b""
    assert cli.conn.get_early_data_status() == s2n.EarlyDataStatus.REJECTED
    cli.conn.send(b"first bytes")  # the retry rule: the application sends them again
    shuttle(cli, srv)
    assert srv.conn.recv(20) == b"first bytes"


def test_without_a_server_maximum_early_data_is_rejected(pki):
    scfg, ccfg, tickets = configs(pki, early_cb=lambda conn, offered: True, max_early=0)
    session = first_session(pki, scfg, ccfg, tickets)
    cli, srv = resumed_pair(scfg, ccfg, session)
    assert cli.conn.get_max_early_data_size() == 0  # the ticket allows none
    try:
        sent = cli.conn.send_early_data(b"x")
    except s2n.BlockedError:
        sent = 0
    assert sent == 0
    shuttle(cli, srv)
    handshake(cli, srv)
    assert cli.conn.get_early_data_status() == s2n.EarlyDataStatus.NOT_REQUESTED


def test_replay_guard_rejects_a_replayed_client_hello(pki):
    guard = s2n.ReplayGuard(window=60)
    scfg, ccfg, tickets = configs(pki, early_cb=guard)
    session = first_session(pki, scfg, ccfg, tickets)
    cli, srv = resumed_pair(scfg, ccfg, session)
    assert cli.conn.send_early_data(b"pay 100") == 7
    flight = cli.outgoing.read()  # an attacker records the first flight...
    results = []
    for _ in range(2):  # ...and plays it to the server twice
        srv = Side(s2n.Mode.SERVER, scfg)
        srv.incoming.write(flight)
        try:
            got = srv.conn.recv_early_data()
        except s2n.BlockedError:
            got = b""
        results.append((got, srv.conn.get_early_data_status()))
    assert results[0] == (b"pay 100", s2n.EarlyDataStatus.OK)
    assert results[1][0] == b"" and results[1][1] == s2n.EarlyDataStatus.REJECTED


def test_decision_later_from_another_thread(pki):
    offers = []
    scfg, ccfg, tickets = configs(pki, early_cb=lambda conn, offered: offers.append(offered))
    session = first_session(pki, scfg, ccfg, tickets)
    cli, srv = resumed_pair(scfg, ccfg, session)
    cli.conn.send_early_data(b"later")
    shuttle(cli, srv)
    with pytest.raises(s2n.BlockedError) as e:
        srv.conn.recv_early_data()
    assert e.value.blocked == s2n.Blocked.ON_APPLICATION_INPUT and offers and offers[0].pending
    t = threading.Thread(target=offers[0].accept)
    t.start()
    t.join(10)
    assert srv.conn.recv_early_data() == b"later"
    with pytest.raises(s2n.UsageError):
        offers[0].reject()  # one decision per offer


def test_early_data_callback_exceptions_come_out_of_the_server(pki):
    def boom(conn, offered):
        raise LookupError("no such tenant")

    scfg, ccfg, tickets = configs(pki, early_cb=boom)
    session = first_session(pki, scfg, ccfg, tickets)
    cli, srv = resumed_pair(scfg, ccfg, session)
    cli.conn.send_early_data(b"x")
    shuttle(cli, srv)
    with pytest.raises(LookupError):
        srv.conn.recv_early_data()


def test_early_data_context_travels_in_the_ticket(pki):
    contexts = []

    def remember(conn, offered):
        contexts.append(offered.get_context())
        return True

    scfg, ccfg, tickets = configs(pki, early_cb=remember)
    srv, cli = Side(s2n.Mode.SERVER, scfg), Side(s2n.Mode.CLIENT, ccfg)
    cli.conn.set_server_name("localhost")
    srv.conn.set_server_early_data_context(b"tenant=7")
    handshake(cli, srv)
    srv.conn.send(b"t")
    shuttle(cli, srv)
    cli.conn.recv(10)
    cli, srv = resumed_pair(scfg, ccfg, tickets[-1])
    early_exchange(cli, srv, b"hi")
    assert contexts == [b"tenant=7"]


@pytest.mark.skipif(__import__("shutil").which("openssl") is None, reason="needs the openssl command")
def test_openssl_s_client_early_data_against_our_server(pki, tmp_path):
    import socket
    import subprocess

    scfg, _, _ = configs(pki, early_cb=s2n.ReplayGuard())
    received = []

    def serve_one(lsock):
        sock, _ = lsock.accept()
        with sock:
            conn = s2n.Connection(s2n.Mode.SERVER, scfg)
            conn.set_fd(sock)
            conn.set_blinding(s2n.Blinding.SELF_SERVICE)
            early = b""
            while True:
                chunk = conn.recv_early_data()
                if not chunk:
                    break
                early += chunk
            conn.negotiate()
            line = conn.recv(100)
            conn.send(b"ok\n")
            received.append((early, line, conn.get_early_data_status()))
            conn.shutdown_send()

    sess, early_file = tmp_path / "sess.pem", tmp_path / "early.txt"
    early_file.write_bytes(b"EARLY GET\n")
    with socket.create_server(("127.0.0.1", 0)) as lsock:
        lsock.settimeout(20)
        port = lsock.getsockname()[1]
        for extra in (["-sess_out", str(sess)], ["-sess_in", str(sess), "-early_data", str(early_file)]):
            t = threading.Thread(target=serve_one, args=(lsock,), daemon=True)
            t.start()
            out = subprocess.run(["openssl", "s_client", "-tls1_3", "-connect", f"127.0.0.1:{port}",
                                  "-CAfile", str(pki.path("ca.pem")), "-servername", "localhost",
                                  "-ign_eof", *extra],
                                 input=b"normal\n", capture_output=True, timeout=20)
            t.join(20)
            assert not t.is_alive(), out.stdout[-2000:]
    (early1, line1, status1), (early2, line2, status2) = received
    assert early1 == b"" and status1 == s2n.EarlyDataStatus.NOT_REQUESTED and line1 == b"normal\n"
    assert early2 == b"EARLY GET\n" and status2 == s2n.EarlyDataStatus.END and line2 == b"normal\n"


@pytest.mark.skipif(__import__("shutil").which("openssl") is None, reason="needs the openssl command")
def test_our_client_early_data_against_openssl_s_server(pki):
    import select
    import socket
    import subprocess
    import time

    from conftest import free_port

    port = free_port()
    proc = subprocess.Popen(["openssl", "s_server", "-tls1_3", "-early_data", "-accept", str(port),
                             "-cert", str(pki.path("server.pem")), "-key", str(pki.path("server.key"))],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = b""

    def wait_for(what):
        nonlocal out
        deadline = time.monotonic() + 10
        while what not in out:
            left = deadline - time.monotonic()
            assert left > 0, out
            if select.select([proc.stdout], [], [], left)[0]:
                chunk = proc.stdout.read1(4096)
                assert chunk, out
                out += chunk

    try:
        wait_for(b"ACCEPT")
        _, ccfg, tickets = configs(pki)
        first = s2n.wrap_socket(socket.create_connection(("127.0.0.1", port)), ccfg, server_hostname="localhost")
        first.settimeout(0.5)
        first.sendall(b"one\n")
        with pytest.raises(TimeoutError):
            first.recv(10)  # reads the session ticket; s_server sends no data
        first.close()
        assert tickets
        wait_for(b"one")
        sock = socket.create_connection(("127.0.0.1", port))
        conn = s2n.Connection(s2n.Mode.CLIENT, ccfg)
        conn.set_fd(sock)
        conn.set_server_name("localhost")
        conn.set_session(tickets[-1])
        assert conn.send_early_data(b"EARLY\n") == 6
        conn.negotiate()
        assert conn.get_early_data_status() == s2n.EarlyDataStatus.END
        wait_for(b"EARLY")
        conn.send(b"later\n")
        wait_for(b"later")
        conn.free()
        sock.close()
    finally:
        proc.kill()
        proc.wait(10)


@pytest.mark.parametrize("accept", [True, False])
def test_tlssocket_early_data_arrives_exactly_once(pki, accept):
    """wrap_socket(early_data=...): sent in the first flight when the session
    allows and the server accepts; otherwise again after the handshake."""
    import socket

    scfg, ccfg, tickets = configs(pki, early_cb=lambda conn, offered: accept)
    seen = []
    with socket.create_server(("127.0.0.1", 0)) as lsock:
        lsock.settimeout(20)

        def serve():
            for _ in range(2):
                sock, _ = lsock.accept()
                with s2n.wrap_socket(sock, scfg, server_side=True) as tls:
                    data = b""
                    while len(data) < 9:
                        data += tls.recv(100)
                    seen.append((data, tls.connection.get_early_data_status()))
                    tls.sendall(b"ok")

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        statuses = []
        for _ in range(2):
            sock = socket.create_connection(lsock.getsockname(), timeout=20)
            with s2n.wrap_socket(sock, ccfg, server_hostname="localhost",
                                 session=tickets[-1] if tickets else None, early_data=b"GET /ok\r\n") as tls:
                assert tls.recv(10) == b"ok"
                statuses.append(tls.connection.get_early_data_status())
        t.join(20)
    assert [d for d, _ in seen] == [b"GET /ok\r\n"] * 2
    assert statuses[0] == s2n.EarlyDataStatus.NOT_REQUESTED
    assert statuses[1] == (s2n.EarlyDataStatus.END if accept else s2n.EarlyDataStatus.REJECTED)
    assert seen[1][1] == statuses[1]


@pytest.mark.parametrize("accept", [True, False])
def test_asyncio_open_connection_early_data(pki, accept):
    import asyncio

    import s2n.asyncio as s2n_asyncio

    scfg, ccfg, tickets = configs(pki, early_cb=lambda conn, offered: accept)
    seen = []

    async def handler(reader, writer):
        data = await reader.readexactly(9)
        seen.append((data, writer.get_extra_info("s2n_connection").get_early_data_status()))
        writer.write(b"ok")
        await writer.drain()
        writer.close()

    async def main():
        server = await s2n_asyncio.start_server(handler, "127.0.0.1", 0, config=scfg)
        port = server.sockets[0].getsockname()[1]
        statuses = []
        try:
            for _ in range(2):
                reader, writer = await s2n_asyncio.open_connection(
                    "127.0.0.1", port, config=ccfg, server_hostname="localhost",
                    session=tickets[-1] if tickets else None, early_data=b"GET /ok\r\n")
                assert await asyncio.wait_for(reader.readexactly(2), 10) == b"ok"
                statuses.append(writer.get_extra_info("s2n_connection").get_early_data_status())
                writer.close()
        finally:
            server.close()
            await server.wait_closed()
        return statuses

    statuses = asyncio.run(asyncio.wait_for(main(), 30))
    assert [d for d, _ in seen] == [b"GET /ok\r\n"] * 2
    assert statuses[1] == (s2n.EarlyDataStatus.END if accept else s2n.EarlyDataStatus.REJECTED)
    assert seen[1][1] == statuses[1]
