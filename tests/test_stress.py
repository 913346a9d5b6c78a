"""Concurrency stress: 6 threads calling every public method of ONE object at
random (free()/close() included), each scenario in a subprocess so that a
crash or a hang fails the test instead of the run. The drivers and what they
check are in tests/_stress.py (the contract in Connection's and TLSSocket's
docstrings).

S2N_PY_STRESS_SECONDS sets the time per scenario (default 3); a longer run:
    S2N_PY_STRESS_SECONDS=120 python -m pytest tests/test_stress.py
"""

from __future__ import annotations

import inspect
import json
import os

import pytest

import s2n

from _stress import Freed, Run, connection_ops, tls_ops
from conftest import client_config as client_config_
from conftest import run_isolated
from conftest import server_config as server_config_

SECONDS = float(os.environ.get("S2N_PY_STRESS_SECONDS", "3"))


def _public(cls) -> set:
    return {n for n in dir(cls) if not n.startswith("_")}


@pytest.mark.parametrize("kind", ["memory", "fd", "tlssocket", "memorybio"])
def test_stress(pki, kind):
    proc = run_isolated(f"""
        from _stress import main
        main({kind!r}, pki, {SECONDS!r})
        """, pki, timeout=SECONDS * 3 + 60)
    report = json.loads(proc.stdout[:proc.stdout.rindex("OK")])
    assert report["n_violations"] == 0
    assert report["calls"] > 1000, report
    if kind in ("memory", "fd"):
        # the threads reached the interesting states, not only the errors
        assert report["outcomes"].get("ok", 0) > 100, report
        assert report["outcomes"].get("free:ok", 0) > 0, report
        assert report["outcomes"].get("UsageError:S2N_PY_ERR_FREED", 0) > 0, report
        assert report["connected_rounds"] > 0, report
    if kind == "tlssocket":
        # closes happened (the threads' own, or the main thread's at the end
        # of each round, which a loaded machine may leave as the only ones)
        assert report["outcomes"].get("OSError:EBADF", 0) > 0, report
    print(json.dumps(report["outcomes"], sort_keys=True))


def test_every_public_method_is_stressed(pki):
    """The drivers' method tables cover every public method (a new method
    must be added to tests/_stress.py)."""
    conn = s2n.Connection(s2n.Mode.CLIENT)
    try:
        names = {n for n, _, _ in connection_ops(conn, Run(False), Freed(), lambda: None, [], (0, 1))}
    finally:
        conn.free()
    names |= {n for n, _, _ in connection_ops(conn, Run(False), Freed(), lambda: None, [], None)}
    assert _public(s2n.Connection) - names == set()
    import socket

    a, b = socket.socketpair()
    try:
        tls = s2n.TLSSocket(a, s2n.Config(), do_handshake_on_connect=False)
        names = {n for n, _, _ in tls_ops(tls, Run(True), Freed(), [])}
        tls.close()
    finally:
        b.close()
    names |= {"makefile"}  # as makefile_read / makefile_write
    assert _public(s2n.TLSSocket) - names == set()


def test_failed_renegotiate_wipe_leaves_the_connection_intact(pki):
    """Found by the stress test: s2n_renegotiate_wipe() on a TLS 1.3 (or not
    yet negotiated) connection fails only after taking the connection's
    crypto parameters away; get_cipher() then raised S2N_ERR_NULL and
    shutdown() crashed the process (SIGSEGV). renegotiate_wipe() now refuses
    first, and the connection stays usable."""
    run_isolated("""
        def move(src, dst):
            if src.pending:
                dst.write(src.read())

        fresh = s2n.Connection(s2n.Mode.CLIENT, client_config(pki))
        try:
            fresh.renegotiate_wipe()
        except s2n.UsageError:
            pass
        else:
            raise AssertionError("renegotiate_wipe before the handshake returned")
        fresh.get_cipher()  # raised InternalError S2N_ERR_NULL before the fix
        fresh.free()

        cli = s2n.Connection(s2n.Mode.CLIENT, client_config(pki))
        srv = s2n.Connection(s2n.Mode.SERVER, server_config(pki))
        ci, co, si, so = (s2n.MemoryBIO() for _ in range(4))
        cli.set_memory_io(ci, co)
        srv.set_memory_io(si, so)
        cli.set_server_name("localhost")
        for _ in range(10):
            for c in (cli, srv):
                try:
                    c.negotiate()
                except s2n.BlockedError:
                    pass
            move(co, si)
            move(so, ci)
        assert cli.get_actual_protocol_version() == s2n.ProtocolVersion.TLS1_3
        try:
            cli.renegotiate_wipe()
        except s2n.UsageError:
            pass
        else:
            raise AssertionError("renegotiate_wipe on TLS 1.3 returned")
        assert cli.send(b"still works") == 11
        move(co, si)
        assert srv.recv(100) == b"still works"
        try:
            cli.shutdown()  # crashed (SIGSEGV) before the fix
        except s2n.BlockedError:
            pass
        move(co, si)
        try:
            srv.shutdown()
        except s2n.BlockedError:
            pass
        move(so, ci)
        cli.shutdown()
        cli.free()
        srv.free()
        print("OK")
        """, pki)


def test_free_handshake_mid_handshake_is_refused(pki):
    """Found by the stress test: free_handshake() during the handshake freed
    the transcript hashes it still needed; every later negotiate() failed
    with InternalError S2N_ERR_NULL. It now raises UsageError and the
    handshake completes."""
    cli = s2n.Connection(s2n.Mode.CLIENT, client_config_(pki))
    srv = s2n.Connection(s2n.Mode.SERVER, server_config_(pki))
    ci, co, si, so = (s2n.MemoryBIO() for _ in range(4))
    cli.set_memory_io(ci, co)
    srv.set_memory_io(si, so)
    cli.set_server_name("localhost")
    done = set()
    for _ in range(10):
        for c in (cli, srv):
            if not c.handshake_complete():
                with pytest.raises(s2n.UsageError):
                    c.free_handshake()
            try:
                c.negotiate()
                done.add(c.mode)
            except s2n.BlockedError:
                pass
        si.write(co.read())
        ci.write(so.read())
    assert len(done) == 2
    cli.free_handshake()  # after the handshake: allowed
    assert cli.get_cipher()
    cli.free()
    srv.free()


def test_sender_racing_the_handshake_does_not_wait_for_a_reader(pki):
    """Found by the stress test: a send() that saw the handshake not done
    went to do_handshake(), which took the send lock and then waited for the
    receive lock. Meanwhile the thread that did the handshake went on into
    recv(), waiting for data that only that send would cause: a deadlock
    (forever without a timeout). do_handshake() now waits on a lock of its
    own and returns at once when another thread has finished the handshake."""
    import socket
    import sys
    import threading
    import time

    lsock = socket.create_server(("127.0.0.1", 0))
    go = threading.Event()
    box = {}

    def server():
        sock, _ = lsock.accept()
        sock.settimeout(10)
        tls = s2n.TLSSocket(sock, server_config_(pki), server_side=True, do_handshake_on_connect=False)
        try:
            go.wait(10)
            tls.do_handshake()
            tls.sendall(tls.recv(100))  # echo the one message
        finally:
            tls.close()

    srv = threading.Thread(target=server, daemon=True)
    srv.start()
    sock = socket.create_connection(lsock.getsockname(), timeout=5)
    tls = s2n.wrap_socket(sock, client_config_(pki), server_hostname="localhost",
                          do_handshake_on_connect=False)

    def reader():
        try:
            box["got"] = tls.recv(100)  # does the handshake, then waits for the echo
        except BaseException as e:  # noqa: BLE001
            box["got"] = e

    def sender():
        try:
            tls.sendall(b"ping")  # the handshake is not done yet: waits for it
        except BaseException as e:  # noqa: BLE001
            box["sent"] = e

    def in_do_handshake(t) -> bool:
        frame = sys._current_frames().get(t.ident)
        while frame is not None:
            if frame.f_code.co_name == "do_handshake":
                return True
            frame = frame.f_back
        return False

    r = threading.Thread(target=reader, daemon=True)
    s = threading.Thread(target=sender, daemon=True)
    try:
        r.start()
        deadline = time.monotonic() + 5
        while not tls._handshake_started and time.monotonic() < deadline:
            time.sleep(0.001)  # bounded: until the reader has started the handshake
        s.start()
        while not in_do_handshake(s) and time.monotonic() < deadline:
            time.sleep(0.001)  # bounded: until the sender waits for the handshake
        assert in_do_handshake(s)
        go.set()  # now the server answers
        r.join(10)
        s.join(10)
        assert "sent" not in box, box
        assert box.get("got") == b"ping", box
    finally:
        go.set()
        tls.close()
        srv.join(10)
        lsock.close()
