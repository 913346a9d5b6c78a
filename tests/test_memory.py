"""Sans-IO: MemoryBIO and Connection.set_memory_io."""

from __future__ import annotations

import hashlib
import os
import ssl

import pytest

import s2n
from conftest import client_config, server_config


class Side:
    def __init__(self, mode, config):
        self.conn = s2n.Connection(mode, config)
        self.incoming, self.outgoing = s2n.MemoryBIO(), s2n.MemoryBIO()
        self.conn.set_memory_io(self.incoming, self.outgoing)
        self.conn.set_blinding(s2n.Blinding.SELF_SERVICE)


def memory_pair(pki):
    srv = Side(s2n.Mode.SERVER, server_config(pki))
    cli = Side(s2n.Mode.CLIENT, client_config(pki))
    cli.conn.set_server_name("localhost")
    return cli, srv


def shuttle(a: Side, b: Side) -> int:
    moved = 0
    for src, dst in ((a.outgoing, b.incoming), (b.outgoing, a.incoming)):
        data = src.read()
        moved += len(data)
        if data:
            dst.write(data)
    return moved


def handshake(cli: Side, srv: Side) -> None:
    done = {id(cli): False, id(srv): False}
    for _ in range(50):
        for side in (cli, srv):
            if not done[id(side)]:
                try:
                    side.conn.negotiate()
                    done[id(side)] = True
                except s2n.BlockedError as e:
                    assert e.blocked == s2n.Blocked.ON_READ
        shuttle(cli, srv)
        if all(done.values()):
            return
    raise AssertionError("handshake made no progress")


def test_bio_basics():
    bio = s2n.MemoryBIO()
    assert bio.pending == 0 and bio.read() == b"" and not bio.eof
    assert bio.write(b"hello ") == 6
    assert bio.write(bytearray(b"world")) == 5
    assert bio.write(memoryview(b"!!")[:1]) == 1
    assert bio.pending == 12
    assert bio.read(5) == b"hello"
    buf = bytearray(3)
    assert bio.readinto(buf) == 3 and buf == b" wo"
    assert bio.read() == b"rld!"
    bio.write(b"x" * 1_000_000)
    assert bio.pending == 1_000_000 and bio.read(10) == b"x" * 10
    bio.write_eof()
    assert not bio.eof  # data still waits
    assert len(bio.read()) == 999_990 and bio.eof
    with pytest.raises(s2n.UsageError):
        bio.write(b"after eof")
    with pytest.raises(TypeError):
        s2n.Connection(s2n.Mode.CLIENT).set_memory_io(bio, object())


def test_empty_incoming_blocks_on_read(pki):
    cli, srv = memory_pair(pki)
    with pytest.raises(s2n.BlockedError) as e:
        srv.conn.negotiate()
    assert e.value.blocked == s2n.Blocked.ON_READ
    with pytest.raises(s2n.BlockedError):
        cli.conn.negotiate()
    assert cli.outgoing.pending > 0  # the ClientHello, waiting in C


@pytest.mark.parametrize("size", [0, 1, 16384, 8 * 1024 * 1024])
def test_transfer_integrity(pki, size):
    cli, srv = memory_pair(pki)
    handshake(cli, srv)
    payload = os.urandom(size)
    view = memoryview(payload)
    while view:
        view = view[cli.conn.send(view):]  # never blocks: the BIO grows
    shuttle(cli, srv)
    h = hashlib.sha256()
    got = 0
    buf = bytearray(65536)
    while got < size:
        n = srv.conn.recv_into(buf)
        h.update(memoryview(buf)[:n])
        got += n
    assert got == size and h.digest() == hashlib.sha256(payload).digest()
    with pytest.raises(s2n.BlockedError):
        srv.conn.recv(10)


def test_write_eof_is_a_closed_transport(pki):
    cli, srv = memory_pair(pki)
    handshake(cli, srv)
    srv.incoming.write_eof()
    with pytest.raises(s2n.ClosedError):
        srv.conn.recv(10)


def test_close_notify_through_bios(pki):
    cli, srv = memory_pair(pki)
    handshake(cli, srv)
    cli.conn.send(b"bye")
    cli.conn.shutdown_send()
    shuttle(cli, srv)
    assert srv.conn.recv(10) == b"bye"
    assert srv.conn.recv(10) == b""


def test_garbage_raises_promptly(pki):
    srv = Side(s2n.Mode.SERVER, server_config(pki))
    srv.incoming.write(b"\x16\x03\x01\x00\x08\x01\x00\x00\x04\x03\x03\x00\x00")
    with pytest.raises(s2n.S2NError) as e:
        srv.conn.negotiate()
    assert not isinstance(e.value, s2n.BlockedError)


@pytest.mark.parametrize("s2n_side", ["client", "server"])
def test_interop_with_ssl_memory_bio(pki, s2n_side):
    """s2n's sans-IO mode against Python's ssl.MemoryBIO + SSLObject."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    if s2n_side == "client":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pki.path("server.pem"), pki.path("server.key"))
        peer = ctx.wrap_bio(inc, out, server_side=True)
        me = Side(s2n.Mode.CLIENT, client_config(pki))
        me.conn.set_server_name("localhost")
    else:
        ctx = ssl.create_default_context(cafile=str(pki.path("ca.pem")))
        peer = ctx.wrap_bio(inc, out, server_hostname="localhost")
        me = Side(s2n.Mode.SERVER, server_config(pki))

    def move():
        data = me.outgoing.read()
        if data:
            inc.write(data)
        data = out.read()
        if data:
            me.incoming.write(data)

    done_me = done_peer = False
    for _ in range(50):
        if not done_me:
            try:
                me.conn.negotiate()
                done_me = True
            except s2n.BlockedError:
                pass
        if not done_peer:
            try:
                peer.do_handshake()
                done_peer = True
            except ssl.SSLWantReadError:
                pass
        move()
        if done_me and done_peer:
            break
    assert done_me and done_peer
    payload = os.urandom(100_000)
    me.conn.send(payload)
    move()
    got = b""
    while len(got) < len(payload):
        got += peer.read(65536)
    assert got == payload
    peer.write(b"from ssl")
    move()
    assert me.conn.recv(100) == b"from ssl"
