"""The concurrency contract, callback exceptions and C lifetimes (see
Connection's docstring). Code that once crashed the process runs in a
subprocess: a signal fails the test, not the run."""

from __future__ import annotations

import socket
import threading

import pytest

import s2n
from conftest import client_config, connected_pair, run_isolated, server_config
from test_callbacks import memory_pair, pump


def test_free_while_other_threads_call_getters_and_setters(pki):
    run_isolated("""
        import time
        sys.setswitchinterval(1e-6)  # switch threads between any two bytecodes
        for _ in range(30):
            a, b = socket.socketpair()
            cli, srv = connected_pair(pki, a, b)
            go = threading.Barrier(4)
            outcomes = set()

            def getters():
                go.wait(10)
                for _ in range(2000):
                    try:
                        if not cli.get_peer_cert_chain():  # read from freed memory
                            outcomes.add("EMPTY CHAIN")
                        cli.get_cipher()
                        cli.pending()
                        cli.set_server_name("x")  # a setter too
                    except s2n.UsageError as e:
                        outcomes.add(e.name)
                        return

            threads = [threading.Thread(target=getters) for _ in range(3)]
            for t in threads:
                t.start()
            go.wait(10)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    cli.free()
                    break
                except s2n.UsageError as e:
                    assert e.name == "S2N_PY_ERR_IN_USE", e.name
            for t in threads:
                t.join(30)
                assert not t.is_alive()
            assert outcomes <= {"S2N_PY_ERR_FREED"}, outcomes
            srv.free()
            a.close(); b.close()
        print("OK")
    """, pki)


def test_getters_and_free_wait_for_a_call_inside_c(pki, socketpair):
    """While a thread blocks inside s2n_recv, a getter in another thread
    waits for it (it used to run concurrently), and free() refuses."""
    cli, srv = connected_pair(pki, *socketpair)
    inside = threading.Event()
    got = []

    def reader():
        inside.set()
        got.append(srv.recv(100))  # blocks in C: the fd is blocking

    r = threading.Thread(target=reader)
    r.start()
    inside.wait(10)
    for _ in range(1000):  # until the reader is inside recv (bounded)
        if srv._recv.lock.locked():
            break
        r.join(0.01)
    done = threading.Event()
    g = threading.Thread(target=lambda: (srv.get_cipher(), done.set()))
    g.start()
    assert not done.wait(0.3), "a getter ran while another thread was inside s2n_recv"
    with pytest.raises(s2n.UsageError) as e:
        srv.free()
    assert e.value.name == "S2N_PY_ERR_IN_USE"
    cli.send(b"wake up")
    r.join(10)
    g.join(10)
    assert got == [b"wake up"] and done.is_set()


def test_verify_host_callback_that_calls_set_config(pki):
    run_isolated("""
        other = client_config(pki)
        a, b = socket.socketpair()
        srv = s2n.Connection(s2n.Mode.SERVER, server_config(pki))
        srv.set_fd(a)
        cli = s2n.Connection(s2n.Mode.CLIENT, client_config(pki))
        cli.set_fd(b)
        cli.set_server_name("localhost")
        seen = []

        def verify(name):
            seen.append(cli.get_server_name())  # a getter is fine from here
            cli.set_config(other)               # a setter is not
            return True

        cli.set_verify_host_callback(verify)
        t = threading.Thread(target=lambda: _try(srv.negotiate), daemon=True)

        def _try(fn):
            try:
                fn()
            except s2n.S2NError:
                pass
        t.start()
        try:
            cli.negotiate()
            raise AssertionError("the handshake must fail")
        except s2n.UsageError as e:
            assert e.name == "S2N_PY_ERR_REENTRANCY", e
            assert "set_config" in str(e)
        assert seen == ["localhost"], seen
        b.close()
        t.join(10)
        print("OK")
    """, pki)


def test_set_recv_cb_waits_for_negotiate_in_another_thread(pki):
    run_isolated("""
        from test_callbacks import memory_pair
        cli, srv, c2s, s2c = memory_pair(pki)
        inside, release = threading.Event(), threading.Event()
        original = s2c.recv

        def slow_recv(buf):
            inside.set()
            release.wait(10)
            return original(buf)

        cli.set_recv_cb(slow_recv)
        errors = []

        def drive():
            try:
                cli.negotiate()
            except s2n.BlockedError:
                pass
            except BaseException as e:
                errors.append(e)

        t = threading.Thread(target=drive)
        t.start()
        # the client sends its hello, then waits in slow_recv for the server
        srv_thread = threading.Thread(target=lambda: None)
        assert inside.wait(10)
        swapped = threading.Event()
        setter = threading.Thread(target=lambda: (cli.set_recv_cb(original), swapped.set()))
        setter.start()
        assert not swapped.wait(0.3), "set_recv_cb ran while negotiate was inside C"
        release.set()
        t.join(10)
        setter.join(10)
        assert swapped.is_set() and not errors, errors
        gc.collect()
        # the handshake goes on with the new callback
        from test_callbacks import pump
        pump(cli.negotiate, srv.negotiate)
        cli.send(b"after the swap")
        assert srv.recv(100) == b"after the swap"
        print("OK")
    """, pki)


def test_recv_callback_keeping_its_view_cannot_touch_s2n_memory(pki):
    run_isolated("""
        from test_callbacks import memory_pair, pump
        cli, srv, c2s, s2c = memory_pair(pki)
        kept = []
        original = c2s.recv

        def keeping(buf):
            kept.append(buf[:])
            kept.append(buf.obj)
            return original(buf)

        srv.set_recv_cb(keeping)
        pump(cli.negotiate, srv.negotiate)
        assert kept and all(isinstance(k, (memoryview, bytearray)) for k in kept)
        owners = {id(k.obj if isinstance(k, memoryview) else k) for k in kept}
        assert len(owners) > 1, "a kept buffer must not be handed out again"
        cli.send(b"payload")
        for k in kept:          # scribble over everything the callback kept
            k[:] = b"\\xff" * len(k)
        assert srv.recv(100) == b"payload"
        srv.free()
        cli.free()
        gc.collect()
        for k in kept:          # and again after free: Python-owned memory
            k[:] = b"\\x00" * len(k)
        print("OK")
    """, pki)


def test_send_callback_view_is_a_copy(pki):
    cli, srv, c2s, s2c = memory_pair(pki)
    kept = []

    def keeping(data):
        kept.append(data[:])
        return c2s.send(data)

    cli.set_send_cb(keeping)
    pump(cli.negotiate, srv.negotiate)
    cli.send(b"hello")
    assert srv.recv(10) == b"hello"
    assert all(k.readonly for k in kept)
    assert all(isinstance(k.obj, bytes) for k in kept)  # a copy Python owns


def test_callback_exception_belongs_to_its_own_handshake(pki, socketpair):
    """A verify-host callback that raises for one name and accepts the next
    fails its own handshake; the next handshake on this thread is clean."""
    a, b = socketpair
    calls = []

    def verify(name):
        calls.append(name)
        if len(calls) == 1:
            raise LookupError(f"rejecting {name}")
        return True

    srv = s2n.Connection(s2n.Mode.SERVER, server_config(pki))
    srv.set_fd(a)
    cli = s2n.Connection(s2n.Mode.CLIENT, client_config(pki))
    cli.set_fd(b)
    cli.set_server_name("localhost")
    cli.set_verify_host_callback(verify)

    def server():
        try:
            srv.negotiate()
        except s2n.S2NError:
            pass

    t = threading.Thread(target=server, daemon=True)
    t.start()
    with pytest.raises(LookupError, match="rejecting localhost"):
        cli.negotiate()
    assert calls == ["localhost"]  # later names were refused without asking
    b.shutdown(socket.SHUT_RDWR)
    t.join(10)
    # An unrelated handshake on the same thread: nothing left over.
    c, d = socket.socketpair()
    with c, d:
        cli2, srv2 = connected_pair(pki, c, d)
        cli2.send(b"clean")
        assert srv2.recv(10) == b"clean"


def test_callback_exception_does_not_leak_to_a_nested_connection(pki):
    """TLS in TLS: the inner connection's call runs inside the outer's
    callback; each exception stays with its own call."""
    outer_cli, outer_srv, o_c2s, _ = memory_pair(pki)
    inner_calls = []

    def outer_recv(buf):
        # Drive another connection from inside this callback.
        cli2, srv2, _, _ = memory_pair(pki)
        try:
            srv2.negotiate()
        except s2n.BlockedError:
            inner_calls.append("blocked")
        raise KeyError("outer callback")

    outer_srv.set_recv_cb(outer_recv)
    with pytest.raises(s2n.BlockedError):
        outer_cli.negotiate()
    with pytest.raises(KeyError, match="outer callback"):
        outer_srv.negotiate()
    assert inner_calls == ["blocked"]


def test_getters_run_inside_callbacks_other_calls_raise(pki):
    cli, srv, c2s, s2c = memory_pair(pki)
    seen = {}

    def recv(buf):
        seen["mode"] = srv.mode
        seen["pending"] = srv.pending()
        seen["server_name"] = srv.get_server_name()
        for name, call in (("send", lambda: srv.send(b"x")), ("recv", lambda: srv.recv(1)),
                           ("wipe", srv.wipe), ("free", srv.free),
                           ("set_blinding", lambda: srv.set_blinding(s2n.Blinding.SELF_SERVICE))):
            with pytest.raises(s2n.UsageError) as e:
                call()
            assert e.value.name == "S2N_PY_ERR_REENTRANCY", name
        return c2s.recv(buf)

    srv.set_recv_cb(recv)
    pump(cli.negotiate, srv.negotiate)
    assert seen["pending"] == 0 and seen["mode"] == s2n.Mode.SERVER


def test_config_and_bios_live_as_long_as_the_connection(pki):
    """Dropping every reference but the Connection's keeps C memory valid."""
    run_isolated("""
        cin, cout = s2n.MemoryBIO(), s2n.MemoryBIO()
        sin, sout = cin, cout  # the server reads what the client writes...
        srv = s2n.Connection(s2n.Mode.SERVER, server_config(pki))
        cli = s2n.Connection(s2n.Mode.CLIENT, client_config(pki))
        c2s, s2c = s2n.MemoryBIO(), s2n.MemoryBIO()
        cli.set_memory_io(s2c, c2s)
        srv.set_memory_io(c2s, s2c)
        cli.set_server_name("localhost")
        del c2s, s2c, cin, cout, sin, sout
        gc.collect()
        from test_callbacks import pump
        pump(cli.negotiate, srv.negotiate)
        cli.send(b"still here")
        assert srv.recv(20) == b"still here"
        for cls in (s2n.Config, s2n.MemoryBIO, s2n.Connection):
            assert not hasattr(cls, "__del__"), cls  # nothing to call by hand
        cli.free(); srv.free()
        del cli, srv
        gc.collect()
        print("OK")
    """, pki)


def test_ticket_callback_receives_its_connection(pki):
    scfg = server_config(pki)
    scfg.set_session_tickets_onoff(True)
    scfg.add_ticket_crypto_key("k1", bytes(range(32)))
    ccfg = client_config(pki)
    ccfg.set_session_tickets_onoff(True)
    got = []
    ccfg.set_session_ticket_callback(lambda conn, ticket, life: got.append((conn, len(ticket))))
    pairs = [socket.socketpair() for _ in range(2)]
    try:
        conns = [connected_pair(pki, a, b, scfg=scfg, ccfg=ccfg) for a, b in pairs]
        for cli, srv in conns:
            srv.send(b"x")
            assert cli.recv(1) == b"x"  # the TLS 1.3 ticket arrives here
        assert [c for c, _ in got] == [cli for cli, _ in conns]
        assert all(n > 0 for _, n in got)
    finally:
        for a, b in pairs:
            a.close()
            b.close()


def test_ticket_key_checks(pki):
    cfg = server_config(pki)
    with pytest.raises(s2n.UsageError) as e:
        cfg.add_ticket_crypto_key("k", bytes(32))
    assert e.value.name == "S2N_PY_ERR_TICKETS_OFF"
    cfg.set_session_tickets_onoff(True)
    with pytest.raises(ValueError, match="at least 16"):
        cfg.add_ticket_crypto_key("k", b"12345")
    with pytest.raises(ValueError, match="1..16 bytes"):
        cfg.add_ticket_crypto_key("k" * 17, bytes(32))
    cfg.add_ticket_crypto_key("k", bytes(32))


def test_recv_and_send_before_the_handshake_raise_at_once(pki, socketpair):
    a, _ = socketpair
    conn = s2n.Connection(s2n.Mode.CLIENT, client_config(pki))
    conn.set_fd(a)
    for call in (lambda: conn.recv(10), lambda: conn.recv_into(bytearray(10)),
                 lambda: conn.send(b"x"), lambda: conn.sendv_with_offset([b"x"], 0)):
        with pytest.raises(s2n.UsageError) as e:
            call()
        assert e.value.name == "S2N_PY_ERR_NOT_NEGOTIATED"
        assert "negotiate()" in str(e.value)


def test_send_of_str_says_bytes_are_needed(pki, socketpair):
    cli, srv = connected_pair(pki, *socketpair)
    with pytest.raises(TypeError, match="bytes-like object.*not str"):
        cli.send("text")
    with pytest.raises(TypeError, match="bytes-like object.*not int"):
        cli.sendv_with_offset([b"a", 5], 0)
    with pytest.raises(TypeError, match="writable buffer.*not bytes"):
        cli.recv_into(b"readonly")


def test_memory_bio_limit_and_backpressure(pki):
    """A full outgoing BIO blocks the connection ON_WRITE, as a full socket does."""
    srv_out, cli_in = s2n.MemoryBIO(limit=512), s2n.MemoryBIO()
    cli_out, srv_in = s2n.MemoryBIO(), s2n.MemoryBIO()
    cli = s2n.Connection(s2n.Mode.CLIENT, client_config(pki))
    srv = s2n.Connection(s2n.Mode.SERVER, server_config(pki))
    cli.set_memory_io(cli_in, cli_out)
    srv.set_memory_io(srv_in, srv_out)
    cli.set_server_name("localhost")
    with pytest.raises(BufferError, match="limit of 512"):
        srv_out.write(bytes(600))
    assert srv_out.pending == 0  # nothing written
    blocked_on_write = 0
    done = set()
    for _ in range(200):
        for name, conn in (("cli", cli), ("srv", srv)):
            if name in done:
                continue
            try:
                conn.negotiate()
                done.add(name)
            except s2n.BlockedError as e:
                blocked_on_write += e.blocked == s2n.Blocked.ON_WRITE
        assert srv_out.pending <= 512
        cli_in.write(srv_out.read())
        srv_in.write(cli_out.read())
        if len(done) == 2:
            break
    assert done == {"cli", "srv"}
    assert blocked_on_write > 0  # the server's flight is larger than 512 bytes
    cli.send(b"through the limit")
    srv_in.write(cli_out.read())
    assert srv.recv(100) == b"through the limit"
    with pytest.raises(ValueError):
        s2n.MemoryBIO(limit=0)


def test_memory_bio_empty_reads(pki):
    bio = s2n.MemoryBIO()
    assert bio.read() == b"" and bio.read(0) == b"" and bio.readinto(bytearray(0)) == 0
    assert bio.readinto(bytearray(8)) == 0
    bio.write(b"ab")
    assert bio.read() == b"ab" and bio.readinto(bytearray(8)) == 0
    with pytest.raises(TypeError, match="bytes-like"):
        bio.write("str")


def test_layers_see_blocked_as_a_value(pki):
    """The layers' fast path: a would-block is a number, not an exception."""
    cli, srv, c2s, s2c = memory_pair(pki)
    assert cli._negotiate(True) == s2n.Blocked.ON_READ
    pump(cli.negotiate, srv.negotiate)
    buf = bytearray(10)
    assert srv._recv_data_into(buf, 0, True) == -s2n.Blocked.ON_READ
    assert srv._recv_data(10, True) == -s2n.Blocked.ON_READ
    assert cli._send_data(b"abc", True) == 3
    assert srv._recv_data(10, True) == b"abc"
    with pytest.raises(s2n.BlockedError):
        srv.recv(10)  # the public API still raises
