"""Issue 12 (keys): TLS 1.3 key update, the TLS exporter, the key exchange
group; against s2n-tls itself and openssl s_client / s_server."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import threading

import pytest

import s2n
from conftest import client_config, connected_pair, free_port, run_both, server_config

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl not installed")
WAIT = 20  # seconds: every wait on a peer is bounded by this


class Watched:
    """A subprocess whose merged stdout/stderr is collected by a thread;
    `wait_for(regex)` waits (bounded) until it shows up."""

    def __init__(self, argv, **kw) -> None:
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, **kw)
        self.out = b""
        self.cond = threading.Condition()
        self.done = False
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()

    def _pump(self) -> None:
        while True:
            data = self.proc.stdout.read1(65536)
            with self.cond:
                if not data:
                    self.done = True
                else:
                    self.out += data
                self.cond.notify_all()
            if not data:
                return

    def wait_for(self, pattern: bytes, start: int = 0) -> re.Match:
        rx = re.compile(pattern)
        with self.cond:
            ok = self.cond.wait_for(lambda: rx.search(self.out, start) or self.done, WAIT)
            m = rx.search(self.out, start)
        assert ok and m, f"{pattern!r} not seen; output:\n{self.out.decode(errors='replace')}"
        return m

    def write(self, data: bytes) -> None:
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def close(self) -> str:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(WAIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(WAIT)
        self.thread.join(WAIT)
        return self.out.decode(errors="replace")


def _pair(pki, socketpair, policy=None):
    a, b = socketpair
    cert = "server-rsa" if policy == "20170210" else "server"  # a TLS 1.2 policy of RSA suites
    return connected_pair(pki, a, b, scfg=server_config(pki, cert=cert, policy=policy),
                          ccfg=client_config(pki, policy=policy))


# --- key update, s2n to s2n ---------------------------------------------------


def test_key_update_counts_move_and_data_flows(pki, socketpair):
    cli, srv = _pair(pki, socketpair)
    assert cli.get_actual_protocol_version() == s2n.ProtocolVersion.TLS1_3
    assert cli.get_key_update_counts() == (0, 0) == srv.get_key_update_counts()
    for i in range(1, 4):
        cli.request_key_update(s2n.PeerKeyUpdate.NOT_REQUESTED)
        assert cli.get_key_update_counts().send == i - 1  # sent with the next send()
        cli.send(b"ping %d" % i)
        assert srv.recv(100) == b"ping %d" % i
        assert cli.get_key_update_counts() == s2n.KeyUpdateCounts(send=i, recv=0)
        assert srv.get_key_update_counts() == (0, i)
    srv.request_key_update()  # the default: NOT_REQUESTED
    srv.send(b"pong")
    assert cli.recv(100) == b"pong"
    assert srv.get_key_update_counts() == (1, 3)
    assert cli.get_key_update_counts() == (3, 1)


def test_requesting_the_peer_update_is_refused_clearly(pki, socketpair):
    cli, srv = _pair(pki, socketpair)
    with pytest.raises(s2n.UsageError, match="cannot ask the peer"):
        cli.request_key_update(s2n.PeerKeyUpdate.REQUESTED)
    with pytest.raises(ValueError):
        cli.request_key_update(7)
    cli.send(b"still fine")
    assert srv.recv(100) == b"still fine"
    assert cli.get_key_update_counts() == (0, 0)


def test_key_update_on_tls12_changes_nothing(pki, socketpair):
    cli, srv = _pair(pki, socketpair, policy="20170210")
    assert cli.get_actual_protocol_version() == s2n.ProtocolVersion.TLS1_2
    cli.request_key_update()
    cli.send(b"tls12")
    assert srv.recv(100) == b"tls12"
    assert cli.get_key_update_counts() == (0, 0) == srv.get_key_update_counts()


def test_callbacks_may_read_counts_and_export_but_not_request_updates(pki, socketpair):
    scfg = server_config(pki)
    scfg.set_session_tickets_onoff(True)
    scfg.add_ticket_crypto_key("k", bytes(range(32)))
    seen = []

    def on_ticket(conn, ticket, lifetime):
        seen.append((conn.get_key_update_counts(), conn.tls_exporter(b"EXPERIMENTAL-cb", b"", 16)))
        conn.request_key_update()

    ccfg = client_config(pki)
    ccfg.set_session_tickets_onoff(True)
    ccfg.set_session_ticket_callback(on_ticket)
    a, b = socketpair
    cli, srv = connected_pair(pki, a, b, scfg=scfg, ccfg=ccfg)
    srv.send(b"x")
    with pytest.raises(s2n.UsageError) as info:
        cli.recv(10)
    assert info.value.name == "S2N_PY_ERR_REENTRANCY"
    assert seen and seen[0][0] == (0, 0)
    assert seen[0][1] == srv.tls_exporter(b"EXPERIMENTAL-cb", b"", 16)


# --- TLS exporter ---------------------------------------------------------------


def test_exporter_is_equal_on_both_ends(pki, socketpair):
    cli, srv = _pair(pki, socketpair)
    a = cli.tls_exporter(b"EXPERIMENTAL-test", b"context", 32)
    assert len(a) == 32 and a == srv.tls_exporter(b"EXPERIMENTAL-test", b"context", 32)
    assert a != cli.tls_exporter(b"EXPERIMENTAL-test", b"other", 32)
    assert a != cli.tls_exporter(b"EXPERIMENTAL-other", b"context", 32)
    assert cli.tls_exporter(b"EXPERIMENTAL-test", b"", 64) == srv.tls_exporter(
        b"EXPERIMENTAL-test", bytearray(), 64)
    # the length is part of the derivation (HKDF-Expand-Label), not a prefix
    assert cli.tls_exporter(b"EXPERIMENTAL-test", b"context", 16) != a[:16]
    # a key update changes the traffic keys, not the exporter secret
    cli.request_key_update()
    cli.send(b"x")
    assert srv.recv(10) == b"x"
    assert srv.tls_exporter(b"EXPERIMENTAL-test", b"context", 32) == a


def test_exporter_bad_input_and_wrong_state(pki, socketpair):
    cli, srv = _pair(pki, socketpair)
    with pytest.raises(TypeError):
        cli.tls_exporter("label", b"", 16)
    with pytest.raises(TypeError):
        cli.tls_exporter(b"label", None, 16)
    with pytest.raises(ValueError):
        cli.tls_exporter(b"label", b"", 0)
    with pytest.raises(TypeError):
        cli.tls_exporter(b"label", b"", 1.5)
    with pytest.raises(s2n.S2NError):
        cli.tls_exporter(b"x" * 1000, b"", 16)  # longer than an HKDF label can be
    fresh = s2n.Connection(s2n.Mode.CLIENT, client_config(pki))
    with pytest.raises(s2n.S2NError):
        fresh.tls_exporter(b"EXPERIMENTAL-test", b"", 16)


def test_exporter_is_tls13_only(pki, socketpair):
    cli, _ = _pair(pki, socketpair, policy="20170210")
    with pytest.raises(s2n.S2NError):
        cli.tls_exporter(b"EXPERIMENTAL-test", b"", 16)


# --- key exchange group ---------------------------------------------------------


def test_key_exchange_group(pki, socketpair):
    fresh = s2n.Connection(s2n.Mode.CLIENT, client_config(pki))
    assert fresh.get_key_exchange_group() == "NONE"
    cli, srv = _pair(pki, socketpair)
    group = cli.get_key_exchange_group()
    assert group != "NONE" and group == srv.get_key_exchange_group()
    kem = cli.get_kem_group_name()
    assert group == (kem if kem != "NONE" else cli.get_curve())


def test_key_exchange_group_tls12_ecdhe(pki):
    a, b = socket.socketpair()
    with a, b:
        cli, srv = connected_pair(pki, a, b, scfg=server_config(pki, cert="server-rsa", policy="20170210"),
                                  ccfg=client_config(pki, policy="20170210"))
        assert cli.get_key_exchange_group() == cli.get_curve() != "NONE"


# --- interop with openssl ---------------------------------------------------------


class EchoServer:
    """One s2n server connection on a TCP port, in a thread: echoes, then
    records its key update counts and an exported key."""

    def __init__(self, pki, label: bytes = b"EXPERIMENTAL-interop", length: int = 32) -> None:
        self.lsock = socket.create_server(("127.0.0.1", 0))
        self.port = self.lsock.getsockname()[1]
        self.cfg = server_config(pki)
        self.label, self.length = label, length
        self.result: dict = {}
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            self.lsock.settimeout(WAIT)
            sock, _ = self.lsock.accept()
            sock.settimeout(WAIT)
            with s2n.TLSSocket(sock, self.cfg, server_side=True) as tls:
                conn = tls.connection
                self.result["exported"] = conn.tls_exporter(self.label, b"", self.length)
                while True:
                    try:
                        data = tls.recv(65536)
                    except s2n.ClosedError:
                        break
                    if not data:
                        break
                    tls.sendall(data)
                self.result["counts"] = conn.get_key_update_counts()
        except BaseException as e:  # noqa: BLE001 - checked by the test
            self.result["error"] = e
        finally:
            self.lsock.close()

    def join(self) -> dict:
        self.thread.join(WAIT)
        assert not self.thread.is_alive()
        if "error" in self.result:
            raise self.result["error"]
        return self.result


def _s_client(pki, port: int, *extra: str) -> Watched:
    return Watched([OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost",
                    "-CAfile", str(pki.path("ca.pem")), "-verify_return_error", "-tls1_3", *extra])


@needs_openssl
def test_openssl_s_client_key_updates_against_our_server(pki):
    server = EchoServer(pki)
    client = _s_client(pki, server.port)
    try:
        client.wait_for(rb"Verify return code: 0")
        client.write(b"before\n")
        pos = client.wait_for(rb"before\n").end()
        client.write(b"k\n")  # key update, the peer need not update
        pos = client.wait_for(rb"KEYUPDATE", pos).end()
        client.write(b"after-k\n")  # carries the KeyUpdate first
        pos = client.wait_for(rb"after-k\n", pos).end()
        client.write(b"K\n")  # key update, asking our server to update too
        pos = client.wait_for(rb"KEYUPDATE", pos).end()
        client.write(b"after-K\n")
        client.wait_for(rb"after-K\n", pos)
    finally:
        out = client.close()
    result = server.join()
    # our server: received two updates, sent one (answering "K", with its echo)
    assert result["counts"] == (1, 2), out


@needs_openssl
def test_exporter_matches_openssl_s_client(pki):
    server = EchoServer(pki, label=b"EXPERIMENTAL-interop", length=48)
    client = _s_client(pki, server.port, "-keymatexport", "EXPERIMENTAL-interop", "-keymatexportlen", "48")
    try:
        m = client.wait_for(rb"Keying material: ([0-9A-Fa-f]+)")
    finally:
        client.close()
    result = server.join()
    # openssl gives no context here; TLS 1.3 treats that as an empty one
    assert bytes.fromhex(m.group(1).decode()) == result["exported"]


def _s_server(pki, port: int, *extra: str) -> Watched:
    srv = Watched([OPENSSL, "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(pki.path("server.pem")),
                   "-key", str(pki.path("server.key")), "-tls1_3", "-msg", "-naccept", "1", *extra])
    srv.wait_for(rb"ACCEPT")
    return srv


def _client_to(port: int, pki) -> s2n.TLSSocket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    return s2n.TLSSocket(sock, client_config(pki), server_hostname="localhost")


@needs_openssl
def test_our_client_key_updates_against_openssl_s_server(pki):
    port = free_port()
    server = _s_server(pki, port, "-rev")  # echoes each line reversed
    try:
        with _client_to(port, pki) as tls:
            tls.sendall(b"abc\n")
            assert tls.recv(100).strip() == b"cba"
            for i in range(1, 4):
                tls.connection.request_key_update()
                tls.sendall(b"update%d\n" % i)
                assert tls.recv(100).strip() == b"%detadpu" % i
                assert tls.connection.get_key_update_counts() == (i, 0)
            tls.sendall(b"CLOSE\n")
    finally:
        out = server.close()
    assert len(re.findall(r"<<< TLS 1\.3, Handshake \[length 0005\], KeyUpdate", out)) == 3, out


@needs_openssl
def test_openssl_s_server_key_updates_reach_our_client(pki):
    port = free_port()
    server = _s_server(pki, port)
    try:
        with _client_to(port, pki) as tls:
            tls.sendall(b"hello\n")
            pos = server.wait_for(rb"hello\n").end()
            server.write(b"K\n")  # s_server updates its key and asks us to update ours
            pos = server.wait_for(rb"KeyUpdate", pos).end()
            server.write(b"data from openssl\n")
            assert tls.recv(100) == b"data from openssl\n"
            assert tls.connection.get_key_update_counts() == (0, 1)
            tls.sendall(b"reply\n")  # carries our KeyUpdate, as asked
            server.wait_for(rb"reply\n", pos)
            assert tls.connection.get_key_update_counts() == (1, 1)
    finally:
        out = server.close()
    assert re.search(r"<<< TLS 1\.3, Handshake \[length 0005\], KeyUpdate", out), out
