"""Chapter "Application Data": send, sendv_with_offset, recv, recv_into, peek."""

from __future__ import annotations

import hashlib
import os
import select
import socket
import threading

import pytest

import s2n
from conftest import connected_pair, run_both, server_config


def test_send_accepts_any_buffer(pki, socketpair):
    cli, srv = connected_pair(pki, *socketpair)
    payload = bytes(range(256)) * 4
    for data in (payload, bytearray(payload), memoryview(payload), memoryview(payload)[100:300]):
        n = cli.send(data)
        assert n == len(data)
        got = b""
        while len(got) < n:
            got += srv.recv(4096)
        assert got == bytes(data)
    assert cli.send(b"") == 0
    with pytest.raises((TypeError, ValueError)):
        cli.send("text is not bytes")


def test_recv_into_writes_into_the_callers_buffer(pki, socketpair):
    cli, srv = connected_pair(pki, *socketpair)
    cli.send(b"0123456789")
    buf = bytearray(b"." * 20)
    view = memoryview(buf)[5:]
    assert srv.recv_into(view, 4) == 4
    assert buf == b".....0123..........."
    assert srv.recv_into(view) == 6
    assert buf == b".....456789........."
    with pytest.raises(TypeError):
        srv.recv_into(b"read-only")


def test_one_record_per_recv_by_default_and_peek(pki, socketpair):
    cli, srv = connected_pair(pki, *socketpair)
    for chunk in (b"a" * 100, b"b" * 100, b"c" * 100):
        cli.send(chunk)
    assert srv.recv(300) == b"a" * 100  # one record, though 300 bytes were asked for
    assert srv.recv(10) == b"b" * 10
    assert srv.peek() == 90  # the rest of that record is decrypted and buffered
    assert srv.recv(300) == b"b" * 90
    assert srv.recv(300) == b"c" * 100


def test_recv_multi_record(pki, socketpair):
    a, b = socketpair
    scfg = server_config(pki)
    scfg.set_recv_multi_record(True)
    cli, srv = connected_pair(pki, a, b, scfg=scfg)
    for chunk in (b"a" * 100, b"b" * 100, b"c" * 100):
        cli.send(chunk)
    assert srv.recv(300) == b"a" * 100 + b"b" * 100 + b"c" * 100


def test_recv_returns_empty_after_close_notify(pki, socketpair):
    cli, srv = connected_pair(pki, *socketpair)
    cli.send(b"last words")
    cli.shutdown_send()
    assert srv.recv(100) == b"last words"
    assert srv.recv(100) == b""
    assert srv.recv_into(bytearray(10)) == 0


def test_transport_closed_without_close_notify_is_closed_error(pki, socketpair):
    a, b = socketpair
    cli, srv = connected_pair(pki, a, b)
    b.close()
    with pytest.raises(s2n.ClosedError):
        srv.recv(100)


def test_sendv_with_offset(pki, socketpair):
    cli, srv = connected_pair(pki, *socketpair)
    bufs = [b"hello ", bytearray(b"vectored "), memoryview(b"world")]
    total = sum(len(b) for b in bufs)
    offset = 0
    while offset < total:
        offset += cli.sendv_with_offset(bufs, offset)
    got = b""
    while len(got) < total:
        got += srv.recv(100)
    assert got == b"hello vectored world"
    assert cli.sendv_with_offset(bufs, 6) == total - 6
    got = b""
    while len(got) < total - 6:
        got += srv.recv(100)
    assert got == b"vectored world"
    with pytest.raises(ValueError):
        cli.sendv_with_offset(bufs, -1)


def test_partial_writes_lose_and_duplicate_nothing(pki):
    """Small socket buffers and non-blocking sends: partial writes and
    BlockedError happen all the time; retrying with data[n:] must deliver every
    byte exactly once."""
    a, b = socket.socketpair()
    for s in (a, b):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    with a, b:
        cli, srv = connected_pair(pki, a, b)
        b.setblocking(False)
        payload = os.urandom(4 * 1024 * 1024 + 123)
        stats = {"partial": 0, "blocked": 0}

        def sender():
            view = memoryview(payload)
            sent = 0
            for _ in range(1_000_000):
                if sent == len(payload):
                    return
                try:
                    n = cli.send(view[sent:sent + 100_000])
                    if n < min(100_000, len(payload) - sent):
                        stats["partial"] += 1
                    sent += n
                except s2n.BlockedError as e:
                    assert e.blocked == s2n.Blocked.ON_WRITE
                    stats["blocked"] += 1
                    select.select([], [b], [], 5)
            raise AssertionError("sender did not finish")

        def receiver():
            h = hashlib.sha256()
            got = 0
            while got < len(payload):
                chunk = srv.recv(65536)
                assert chunk
                h.update(chunk)
                got += len(chunk)
            return got, h.hexdigest()

        (got, digest), _ = run_both(receiver, sender, timeout=60)
        assert got == len(payload)
        assert digest == hashlib.sha256(payload).hexdigest()
        assert stats["partial"] + stats["blocked"] > 0


def test_full_duplex_16_mib_echo(pki, socketpair):
    """One thread sends while another receives on the same connection."""
    cli, srv = connected_pair(pki, *socketpair)
    payload = os.urandom(16 * 1024 * 1024)

    def echo():
        while True:
            data = srv.recv(65536)
            if not data:
                srv.shutdown_send()
                return
            view = memoryview(data)
            while view:
                view = view[srv.send(view):]

    def send_all():
        view = memoryview(payload)
        while view:
            view = view[cli.send(view[:256 * 1024]):]
        cli.shutdown_send()

    echo_t = threading.Thread(target=echo, daemon=True)
    send_t = threading.Thread(target=send_all, daemon=True)
    echo_t.start()
    send_t.start()
    h = hashlib.sha256()
    total = 0
    buf = bytearray(65536)
    while True:
        n = cli.recv_into(buf)
        if n == 0:
            break
        h.update(memoryview(buf)[:n])
        total += n
    send_t.join(30)
    echo_t.join(30)
    assert not send_t.is_alive() and not echo_t.is_alive()
    assert total == len(payload) and h.digest() == hashlib.sha256(payload).digest()


def test_two_threads_sending_are_serialized(pki, socketpair):
    """Two senders at once: each send() is whole and in order, none corrupts the other."""
    cli, srv = connected_pair(pki, *socketpair)
    chunks = 200
    size = 8000

    def sender(tag: int):
        for i in range(chunks):
            cli.send(bytes([tag]) + i.to_bytes(4, "big") + bytes([tag]) * (size - 5))

    threads = [threading.Thread(target=sender, args=(t,), daemon=True) for t in (1, 2)]
    for t in threads:
        t.start()
    data = bytearray()
    while len(data) < 2 * chunks * size:
        data += srv.recv(65536)
    for t in threads:
        t.join(10)
    assert len(data) == 2 * chunks * size
    seqs = {1: [], 2: []}
    for off in range(0, len(data), size):
        rec = data[off:off + size]
        tag = rec[0]
        assert rec[5:] == bytes([tag]) * (size - 5), "a send was split or interleaved"
        seqs[tag].append(int.from_bytes(rec[1:5], "big"))
    assert seqs[1] == list(range(chunks)) and seqs[2] == list(range(chunks))


def test_two_threads_receiving_are_serialized(pki, socketpair):
    cli, srv = connected_pair(pki, *socketpair)
    total = 4 * 1024 * 1024
    counts = [0, 0]

    def receiver(i):
        while True:
            data = srv.recv(16384)
            if not data:
                return
            counts[i] += len(data)

    threads = [threading.Thread(target=receiver, args=(i,), daemon=True) for i in (0, 1)]
    for t in threads:
        t.start()
    view = memoryview(b"z" * total)
    while view:
        view = view[cli.send(view):]
    cli.shutdown_send()
    # the first receiver to see close_notify returns; the other then sees b"" too
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads)
    assert sum(counts) == total
