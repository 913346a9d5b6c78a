"""Maximum fragment length, connection serialization and TLS 1.2 client
renegotiation, against the real library and `openssl s_server`."""

from __future__ import annotations

import select
import shutil
import socket
import subprocess
import time

import pytest

import s2n
from conftest import client_config, free_port, run_isolated, server_config
from test_memory import Side, handshake, shuttle


def _pair(pki, scfg, ccfg):
    srv, cli = Side(s2n.Mode.SERVER, scfg), Side(s2n.Mode.CLIENT, ccfg)
    cli.conn.set_server_name("localhost")
    handshake(cli, srv)
    return cli, srv


def _record_sizes(wire: bytes) -> list:
    sizes, i = [], 0
    while i + 5 <= len(wire):
        n = int.from_bytes(wire[i + 3:i + 5], "big")
        sizes.append(n)
        i += 5 + n
    assert i == len(wire), "not whole records"
    return sizes


@pytest.mark.parametrize("limit", [512, 1024])
def test_max_fragment_length_bounds_the_servers_records(pki, limit):
    scfg, ccfg = server_config(pki), client_config(pki)
    scfg.accept_max_fragment_length()
    ccfg.send_max_fragment_length(limit)
    cli, srv = _pair(pki, scfg, ccfg)
    srv.conn.send(b"z" * 5000)
    sizes = _record_sizes(srv.outgoing.read())
    # TLS 1.3: plaintext + content type + 16-byte tag; TLS 1.2 GCM: + 24
    assert max(sizes) <= limit + 24 and len(sizes) >= 5000 // limit


def test_without_max_fragment_length_records_are_larger(pki):
    cli, srv = _pair(pki, server_config(pki), client_config(pki))
    srv.conn.prefer_throughput()
    srv.conn.send(b"z" * 5000)
    assert max(_record_sizes(srv.outgoing.read())) > 4096


def test_max_fragment_length_rejects_other_sizes():
    with pytest.raises(ValueError, match="512, 1024, 2048, 4096"):
        s2n.Config().send_max_fragment_length(1000)


def test_serialized_connection_goes_on_in_a_new_object(pki):
    scfg, ccfg = server_config(pki), client_config(pki)
    for c in (scfg, ccfg):
        c.set_serialization_version(s2n.SerializationVersion.V1)
    cli, srv = _pair(pki, scfg, ccfg)
    cli.conn.send(b"before")
    shuttle(cli, srv)
    assert srv.conn.recv(100) == b"before"
    blob = srv.conn.serialize()
    assert isinstance(blob, bytes) and len(blob) > 32
    srv.conn.free()
    moved = s2n.Connection(s2n.Mode.SERVER, scfg)
    moved.set_memory_io(srv.incoming, srv.outgoing)
    moved.deserialize(blob)
    cli.conn.send(b"after")
    shuttle(cli, srv)
    assert moved.recv(100) == b"after"
    moved.send(b"reply")
    shuttle(cli, srv)
    assert cli.conn.recv(100) == b"reply"


def test_serialize_needs_the_version_and_a_handshake(pki):
    cli, srv = _pair(pki, server_config(pki), client_config(pki))
    with pytest.raises(s2n.S2NError):
        srv.conn.serialize()  # no serialization version on the Config
    scfg = server_config(pki)
    scfg.set_serialization_version(s2n.SerializationVersion.V1)
    with pytest.raises(s2n.S2NError):
        s2n.Connection(s2n.Mode.SERVER, scfg).serialize()  # no handshake


class _OpenSSLServer:
    """`openssl s_server` for TLS 1.2; commands (`r`: renegotiate) on stdin."""

    def __init__(self, pki):
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["openssl", "s_server", "-tls1_2", "-accept", str(self.port), "-cert", str(pki.path("server.pem")),
             "-key", str(pki.path("server.key"))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.out = b""
        self.wait_for(b"ACCEPT")

    def wait_for(self, what: bytes, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while what not in self.out:
            left = deadline - time.monotonic()
            assert left > 0, f"openssl s_server never said {what!r}: {self.out!r}"
            if select.select([self.proc.stdout], [], [], left)[0]:
                chunk = self.proc.stdout.read1(4096)
                assert chunk, f"openssl s_server ended: {self.out!r}"
                self.out += chunk

    def command(self, line: bytes) -> None:
        self.proc.stdin.write(line)
        self.proc.stdin.flush()

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


def _wait(sock, blocked) -> None:
    want = ([sock], []) if blocked == s2n.Blocked.ON_READ else ([], [sock])
    assert select.select(*want, [], 10)[:2] != ([], []), "the peer went silent"


def _tls12_client(server, ccfg):
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.setblocking(False)
    conn = s2n.Connection(s2n.Mode.CLIENT, ccfg)
    conn.set_fd(sock)
    conn.set_server_name("localhost")
    for _ in range(100):
        try:
            conn.negotiate()
            break
        except s2n.BlockedError as e:
            _wait(sock, e.blocked)
    assert conn.get_actual_protocol_version() == s2n.ProtocolVersion.TLS1_2
    return sock, conn


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_renegotiate_callback_exception_comes_out_of_recv(pki):
    class Refused(Exception):
        pass

    def on_request(conn):
        raise Refused

    ccfg = client_config(pki)
    ccfg.set_renegotiate_request_cb(on_request)
    server = _OpenSSLServer(pki)
    try:
        sock, conn = _tls12_client(server, ccfg)
        server.command(b"r\n")
        with pytest.raises(Refused):
            for _ in range(100):
                try:
                    conn.recv(100)
                except s2n.BlockedError as e:
                    _wait(sock, e.blocked)
        conn.free()
        sock.close()
    finally:
        server.stop()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_client_renegotiates_when_openssl_s_server_asks(pki):
    requests = []

    def on_request(conn):
        requests.append(conn.get_actual_protocol_version())
        return s2n.RenegotiateResponse.ACCEPT

    tickets = []
    ccfg = client_config(pki)
    ccfg.set_renegotiate_request_cb(on_request)
    # A callback during the new handshake: s2n_renegotiate_wipe clears the
    # connection's context, which once made every such callback fail.
    ccfg.set_session_tickets_onoff(True)
    ccfg.set_session_ticket_callback(lambda conn, data, lifetime: tickets.append(conn))
    server = _OpenSSLServer(pki)
    try:
        sock, conn = _tls12_client(server, ccfg)
        assert tickets == [conn]
        conn.send(b"before\n")
        server.wait_for(b"before")
        server.command(b"r\n")  # s_server sends a HelloRequest
        for _ in range(100):  # the receive that meets it runs the callback
            try:
                conn.recv(100)
            except s2n.BlockedError as e:
                if requests:
                    break
                _wait(sock, e.blocked)
        assert requests == [s2n.ProtocolVersion.TLS1_2]
        conn.renegotiate_wipe()
        conn.set_server_name("localhost")
        for _ in range(100):
            try:
                data = conn.renegotiate()
            except s2n.BlockedError as e:
                _wait(sock, e.blocked)
                continue
            if data is None:
                break
        else:
            pytest.fail("the renegotiation did not finish")
        assert tickets == [conn, conn]
        conn.send(b"after\n")
        server.wait_for(b"after")
        conn.free()
        sock.close()
    finally:
        server.stop()


def test_renegotiate_callback_must_be_callable():
    with pytest.raises(TypeError):
        s2n.Config().set_renegotiate_request_cb(42)


def test_failed_add_dhparams_leaves_a_config_that_frees_cleanly(pki):
    """s2n_config_add_dhparams leaves a dangling pointer when it fails, and
    freeing the Config then crashed (found by tests/test_fuzz_api.py)."""
    run_isolated("""
        for bad in (b"-----BEGIN DH PARAMETERS-----\\n", "text", b"", b"-----BEGIN DH PARAMETERS-----\\nAAAA\\n"
                    b"-----END DH PARAMETERS-----\\n"):
            c = s2n.Config()
            c.add_dhparams()            # a good one first: the bad one replaces it
            try:
                c.add_dhparams(bad)
            except (s2n.S2NError, ValueError):
                pass
            else:
                raise AssertionError(bad)
            c.add_dhparams()            # usable again
            c.add_dhparams()            # and again (s2n-tls alone would leak the first)
            del c
            gc.collect()
        print("OK")
    """, pki)

