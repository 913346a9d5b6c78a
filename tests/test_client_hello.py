"""Issue 12, client_hello: the client hello callback (blocking and
non-blocking), the ClientHello view, per-connection overrides, mutual TLS
(OPTIONAL, chains, selected certificate, certificate authorities), the
asyncio client_hello_cb, and openssl s_client interop. Real s2n-tls only."""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import threading

import pytest

import s2n
import s2n.asyncio as s2n_asyncio
import test_memory
from conftest import _issue, client_config, run_both, run_isolated, server_config

TLS_AES_128_GCM_SHA256 = 0x1301
EXT_SERVER_NAME = 0
SECP256R1, X25519 = 23, 29


@pytest.fixture(scope="module")
def sni_pki(pki):
    """The session PKI plus a second server certificate, for other.test."""
    if not pki.path("sni-other.pem").exists():
        ec = ["ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-pkeyopt", "ec_param_enc:named_curve"]
        _issue(pki.dir, "sni-other", ec, "DNS:other.test")
    return pki


def der(pki, name: str) -> bytes:
    return ssl.PEM_cert_to_DER_cert(pki.path(f"{name}.pem").read_text())


# a sans-IO pair (MemoryBIO): every step is explicit, nothing waits


class Side(test_memory.Side):
    def __init__(self, mode, config):
        super().__init__(mode, config)
        self.done = False


def pair(pki, scfg, ccfg=None, server_name="localhost"):
    srv = Side(s2n.Mode.SERVER, scfg)
    cli = Side(s2n.Mode.CLIENT, ccfg or client_config(pki))
    if server_name:
        cli.conn.set_server_name(server_name)
    return cli, srv


def step(cli: Side, srv: Side):
    """One round: each side negotiates once, then bytes move. Returns what
    the server is blocked on (None when done or not blocked)."""
    blocked = None
    for side in (cli, srv):
        if side.done:
            continue
        try:
            side.conn.negotiate()
            side.done = True
        except s2n.BlockedError as e:
            if side is srv:
                blocked = e.blocked
    for src, dst in ((cli.outgoing, srv.incoming), (srv.outgoing, cli.incoming)):
        data = src.read()
        if data:
            dst.write(data)
    return blocked


def handshake(cli: Side, srv: Side, rounds: int = 50) -> None:
    for _ in range(rounds):
        step(cli, srv)
        if cli.done and srv.done:
            return
    raise AssertionError("handshake made no progress")


def until_blocked_on_app(cli: Side, srv: Side) -> None:
    for _ in range(20):
        if step(cli, srv) == s2n.Blocked.ON_APPLICATION_INPUT:
            return
    raise AssertionError("the server never waited for the application")


def sni_configs(pki):
    """(main config, other.test config): the main one has the callback."""
    other = server_config(pki, "sni-other")
    return server_config(pki), other


# the blocking callback and the ClientHello view


def test_blocking_callback_reads_the_client_hello(sni_pki):
    seen = {}

    def cb(conn):
        seen["hello"] = conn.get_client_hello()
        seen["name"] = conn.get_server_name()

    scfg = server_config(sni_pki)
    scfg.set_client_hello_cb(cb)  # positional, as before issue 12: blocking
    assert scfg.client_hello_cb_mode == s2n.ClientHelloCbMode.BLOCKING
    cli, srv = pair(sni_pki, scfg)
    handshake(cli, srv)
    hello = seen["hello"]
    assert isinstance(hello, s2n.ClientHello)
    assert hello.get_server_name() == "localhost" == seen["name"]
    raw = hello.get_raw_message()
    assert raw[:2] == b"\x03\x03" and len(raw) > 100  # legacy_version TLS 1.2, then random...
    assert TLS_AES_128_GCM_SHA256 in hello.get_cipher_suites()
    assert hello.get_legacy_protocol_version() == s2n.ProtocolVersion.TLS1_2
    sni = hello.get_extension_by_id(EXT_SERVER_NAME)
    assert sni is not None and sni.endswith(b"localhost")
    assert hello.get_extension_by_id(0xFAFA) is None and not hello.has_extension(0xFAFA)
    groups = hello.get_supported_groups()
    assert SECP256R1 in groups or X25519 in groups
    assert len(hello.get_random()) == 32
    with pytest.raises(ValueError):
        hello.get_extension_by_id(70000)
    # a copy: still readable once the connection is gone
    srv.conn.free()
    assert hello.get_server_name() == "localhost" and hello.get_raw_message() == raw


def test_client_hello_without_sni(pki):
    seen = {}
    scfg = server_config(pki)
    scfg.set_client_hello_cb(lambda conn: seen.setdefault("hello", conn.get_client_hello()))
    cli, srv = pair(pki, scfg, server_name=None)
    cli.conn.set_verify_host_callback(lambda name: name == "localhost")
    handshake(cli, srv)
    assert seen["hello"].get_server_name() is None
    assert seen["hello"].get_extension_by_id(EXT_SERVER_NAME) is None


def test_fingerprints_of_the_client_hello(pki):
    import hashlib

    seen = {}
    scfg = server_config(pki)
    scfg.set_client_hello_cb(lambda conn: seen.setdefault("hello", conn.get_client_hello()))
    cli, srv = pair(pki, scfg)
    handshake(cli, srv)
    hello = seen["hello"]
    ja3, raw = hello.get_fingerprint()
    assert hashlib.md5(raw.encode()).hexdigest() == ja3  # JA3's definition
    version, ciphers, extensions, groups, formats = raw.split(",")
    assert version == "771"  # the legacy version, TLS 1.2
    assert [int(c) for c in ciphers.split("-")] == [c for c in hello.get_cipher_suites()
                                                    if c & 0x0F0F != 0x0A0A]  # GREASE removed
    assert "0" in extensions.split("-")  # server_name
    ja4, ja4_raw = hello.get_fingerprint("ja4")
    assert ja4.startswith("t13d") and ja4_raw.startswith(ja4.split("_")[0])
    with pytest.raises(ValueError):
        hello.get_fingerprint("ja5")


def test_get_client_hello_refuses_when_there_is_none(pki):
    with s2n.Connection(s2n.Mode.SERVER, server_config(pki)) as conn:
        with pytest.raises(s2n.UsageError) as e:
            conn.get_client_hello()
        assert e.value.name == "S2N_PY_ERR_NO_CLIENT_HELLO"
    cli, srv = pair(pki, server_config(pki))
    handshake(cli, srv)
    assert srv.conn.get_client_hello().get_server_name() == "localhost"
    with pytest.raises(s2n.UsageError):
        cli.conn.get_client_hello()  # a client never parses one
    # free_handshake frees the message s2n-tls's ClientHello points into:
    # refused, never read (it would be a use after free)
    srv.conn.free_handshake()
    with pytest.raises(s2n.UsageError) as e:
        srv.conn.get_client_hello()
    assert e.value.name == "S2N_PY_ERR_NO_CLIENT_HELLO"
    srv.conn.wipe()
    with pytest.raises(s2n.UsageError):
        srv.conn.get_client_hello()
    srv.conn.free()
    with pytest.raises(s2n.UsageError) as e:
        srv.conn.get_client_hello()
    assert e.value.name == "S2N_PY_ERR_FREED"


def test_set_client_hello_cb_checks_its_arguments(pki):
    scfg = server_config(pki)
    with pytest.raises(TypeError):
        scfg.set_client_hello_cb(42)
    with pytest.raises(ValueError):
        scfg.set_client_hello_cb(lambda conn: None, mode=7)
    assert scfg.client_hello_cb_mode is None
    s2n.Connection(s2n.Mode.SERVER, scfg).free()
    with pytest.raises(s2n.UsageError):
        scfg.set_client_hello_cb(lambda conn: None)  # frozen


@pytest.mark.parametrize("garbage", [None, 42, "yes", object()])
def test_return_value_is_ignored(pki, garbage):
    scfg = server_config(pki)
    scfg.set_client_hello_cb(lambda conn: garbage)
    cli, srv = pair(pki, scfg)
    handshake(cli, srv)


def test_raising_rejects_the_handshake_with_that_exception(pki):
    class Reject(Exception):
        pass

    scfg = server_config(pki)
    scfg.set_client_hello_cb(lambda conn: (_ for _ in ()).throw(Reject("no")))
    cli, srv = pair(pki, scfg)
    with pytest.raises(Reject):
        for _ in range(10):
            step(cli, srv)


def test_sni_switch_blocking(sni_pki):
    main, other = sni_configs(sni_pki)

    def cb(conn):
        if conn.get_client_hello().get_server_name() == "other.test":
            conn.set_config(other)
            conn.server_name_extension_used()

    main.set_client_hello_cb(cb)
    for name, cert in (("other.test", "sni-other"), ("localhost", "server")):
        cli, srv = pair(sni_pki, main, server_name=name)
        handshake(cli, srv)
        assert cli.conn.get_peer_cert_chain()[0] == der(sni_pki, cert)
        assert srv.conn.get_selected_cert()[0] == der(sni_pki, cert)
        assert srv.conn.config is (other if cert == "sni-other" else main)


# the non-blocking callback


def test_nonblocking_waits_for_client_hello_cb_done(pki):
    calls = []
    scfg = server_config(pki)
    scfg.set_client_hello_cb(calls.append, mode=s2n.ClientHelloCbMode.NONBLOCKING)
    cli, srv = pair(pki, scfg)
    until_blocked_on_app(cli, srv)
    assert calls == [srv.conn]
    for _ in range(3):  # still waiting, without calling the callback again
        assert step(cli, srv) == s2n.Blocked.ON_APPLICATION_INPUT
    assert len(calls) == 1
    srv.conn.client_hello_cb_done()
    handshake(cli, srv)


def test_nonblocking_done_inside_the_callback_does_not_wait(pki):
    scfg = server_config(pki)
    scfg.set_client_hello_cb(lambda conn: conn.client_hello_cb_done(),
                             s2n.ClientHelloCbMode.NONBLOCKING)
    cli, srv = pair(pki, scfg)
    for _ in range(50):
        assert step(cli, srv) != s2n.Blocked.ON_APPLICATION_INPUT
        if cli.done and srv.done:
            break
    assert cli.done and srv.done


def test_nonblocking_decided_by_another_thread(sni_pki):
    """The callback hands the connection to a worker thread, which picks the
    config (by SNI) and calls client_hello_cb_done(); the handshake resumes."""
    main, other = sni_configs(sni_pki)
    decided = threading.Event()
    pending = []

    def worker():
        conn = pending[0]
        if conn.get_client_hello().get_server_name() == "other.test":
            conn.set_config(other)  # takes effect at client_hello_cb_done()
            conn.server_name_extension_used()
        conn.client_hello_cb_done()
        decided.set()

    main.set_client_hello_cb(pending.append, s2n.ClientHelloCbMode.NONBLOCKING)
    cli, srv = pair(sni_pki, main, server_name="other.test")
    until_blocked_on_app(cli, srv)
    t = threading.Thread(target=worker, daemon=True)
    t.start()
    assert decided.wait(10)
    t.join(10)
    handshake(cli, srv)
    assert srv.conn.config is other
    assert cli.conn.get_peer_cert_chain()[0] == der(sni_pki, "sni-other")


def test_nonblocking_done_in_the_wrong_mode_or_state(pki):
    scfg = server_config(pki)
    scfg.set_client_hello_cb(lambda conn: None)  # blocking
    cli, srv = pair(pki, scfg)
    with pytest.raises(s2n.S2NError):
        srv.conn.client_hello_cb_done()  # no callback ran yet
    handshake(cli, srv)
    with pytest.raises(s2n.S2NError):
        srv.conn.client_hello_cb_done()  # blocking mode


def test_free_while_waiting_for_the_application(pki):
    scfg = server_config(pki)
    scfg.set_client_hello_cb(lambda conn: None, s2n.ClientHelloCbMode.NONBLOCKING)
    cli, srv = pair(pki, scfg)
    until_blocked_on_app(cli, srv)
    srv.conn.free()
    with pytest.raises(s2n.UsageError):
        srv.conn.client_hello_cb_done()
    with pytest.raises(s2n.UsageError):
        srv.conn.negotiate()


def test_wipe_then_reuse_with_the_callback(pki):
    scfg = server_config(pki)
    scfg.set_client_hello_cb(lambda conn: None, s2n.ClientHelloCbMode.NONBLOCKING)
    cli, srv = pair(pki, scfg)
    until_blocked_on_app(cli, srv)
    srv.conn.wipe()
    srv.conn.set_memory_io(srv.incoming, srv.outgoing)
    srv.conn.set_blinding(s2n.Blinding.SELF_SERVICE)
    srv.incoming.read()
    srv.outgoing.read()
    cli2 = Side(s2n.Mode.CLIENT, client_config(pki))
    cli2.conn.set_server_name("localhost")
    until_blocked_on_app(cli2, srv)
    srv.conn.client_hello_cb_done()
    handshake(cli2, srv)


# what may be called from inside the callback


def test_inside_the_callback_overrides_allowed_others_refused(pki):
    refused, errors = [], []

    def cb(conn):
        for call in (conn.negotiate, conn.shutdown, conn.wipe, conn.free,
                     lambda: conn.set_server_name("x"), lambda: conn.set_blinding(0)):
            try:
                call()
            except s2n.UsageError as e:
                refused.append(e.name)
        try:
            conn.set_cipher_preferences("default_tls13")
            conn.set_protocol_preferences(["h2", "http/1.1"])
            conn.set_client_auth_type(s2n.ClientAuth.NONE)
            assert conn.get_client_auth_type() == s2n.ClientAuth.NONE
            conn.server_name_extension_used()
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    scfg = server_config(pki)
    scfg.set_client_hello_cb(cb)
    ccfg = client_config(pki)
    ccfg.set_protocol_preferences(["http/1.1", "h2"])
    cli, srv = pair(pki, scfg, ccfg)
    handshake(cli, srv)
    assert refused == ["S2N_PY_ERR_REENTRANCY"] * 6
    assert errors == []
    assert srv.conn.get_application_protocol() == "h2"  # the server's (per-connection) order


def test_per_connection_policy_from_the_callback(pki):
    """A TLS 1.2-only policy picked in the callback, for one connection."""
    scfg = server_config(pki)
    scfg.set_client_hello_cb(lambda conn: conn.set_cipher_preferences("20190214"))
    cli, srv = pair(pki, scfg)
    handshake(cli, srv)
    assert srv.conn.get_actual_protocol_version() == s2n.ProtocolVersion.TLS1_2
    cli, srv = pair(pki, server_config(pki))
    handshake(cli, srv)
    assert srv.conn.get_actual_protocol_version() == s2n.ProtocolVersion.TLS1_3


def test_overrides_check_their_arguments(pki):
    with s2n.Connection(s2n.Mode.SERVER, server_config(pki)) as conn:
        with pytest.raises(s2n.S2NError):
            conn.set_cipher_preferences("no-such-policy")
        with pytest.raises(ValueError):
            conn.set_cipher_preferences("a\0b")
        with pytest.raises(TypeError):
            conn.set_protocol_preferences("h2")
        with pytest.raises(ValueError):
            conn.set_protocol_preferences([""])
        with pytest.raises(ValueError):
            conn.set_client_auth_type(9)
        conn.set_protocol_preferences([])
        conn.set_client_auth_type(s2n.ClientAuth.OPTIONAL)
        assert conn.get_client_auth_type() == s2n.ClientAuth.OPTIONAL


# mutual TLS


def mtls_server_config(pki, auth=None):
    scfg = server_config(pki)
    if auth is not None:
        scfg.set_client_auth_type(auth)
    scfg.add_pem_to_trust_store(pki.path("ca.pem"))
    scfg.set_verify_host_callback(lambda name: name == "client.test")
    return scfg


def cert_client_config(pki):
    ccfg = client_config(pki)
    ccfg.add_cert_chain_and_key(pki.path("client.pem"), pki.path("client.key"))
    return ccfg


@pytest.mark.parametrize("per_connection", [False, True])
def test_client_auth_optional(pki, per_connection):
    def make():
        if not per_connection:
            return mtls_server_config(pki, s2n.ClientAuth.OPTIONAL)
        scfg = mtls_server_config(pki)
        scfg.set_client_hello_cb(lambda conn: conn.set_client_auth_type(s2n.ClientAuth.OPTIONAL))
        return scfg

    # without a certificate: connects, none used
    cli, srv = pair(pki, make())
    handshake(cli, srv)
    assert not srv.conn.client_cert_used()
    assert srv.conn.get_peer_cert_chain() == []
    assert cli.conn.get_selected_cert() == []
    # with one: verified, used, its chain visible on the server
    cli, srv = pair(pki, make(), cert_client_config(pki))
    handshake(cli, srv)
    assert srv.conn.client_cert_used() and cli.conn.client_cert_used()
    assert srv.conn.get_peer_cert_chain()[0] == der(pki, "client")
    assert cli.conn.get_selected_cert()[0] == der(pki, "client")
    assert srv.conn.get_selected_cert()[0] == der(pki, "server")


def test_client_auth_optional_still_verifies(pki):
    """OPTIONAL does not mean unchecked: a certificate from an unknown CA fails."""
    ccfg = client_config(pki)
    ccfg.add_cert_chain_and_key(pki.path("rogue.pem"), pki.path("rogue.key"))
    cli, srv = pair(pki, mtls_server_config(pki, s2n.ClientAuth.OPTIONAL), ccfg)
    with pytest.raises(s2n.S2NError):
        for _ in range(20):
            step(cli, srv)


def test_client_auth_required_per_connection(pki):
    scfg = mtls_server_config(pki)  # NONE in the config
    scfg.set_client_hello_cb(lambda conn: conn.set_client_auth_type(s2n.ClientAuth.REQUIRED))
    cli, srv = pair(pki, scfg)
    with pytest.raises(s2n.S2NError):
        for _ in range(20):
            step(cli, srv)
    cli, srv = pair(pki, scfg, cert_client_config(pki))
    handshake(cli, srv)
    assert srv.conn.client_cert_used()


def test_selected_cert_before_the_handshake(pki):
    with s2n.Connection(s2n.Mode.SERVER, server_config(pki)) as conn:
        assert conn.get_selected_cert() == []


def test_cert_authorities_from_trust_store(pki):
    scfg = mtls_server_config(pki, s2n.ClientAuth.OPTIONAL)
    scfg.set_cert_authorities_from_trust_store()
    cli, srv = pair(pki, scfg, cert_client_config(pki))
    handshake(cli, srv)
    assert srv.conn.client_cert_used()
    # a trust store with the system CAs is refused by s2n-tls (too broad)
    sys_cfg = s2n.Config()
    sys_cfg.load_system_certs()
    with pytest.raises(s2n.S2NError):
        sys_cfg.set_cert_authorities_from_trust_store()


# crash-proofing: a callback that keeps what it was given


def test_keeping_the_connection_and_view_after_free_is_safe(pki):
    run_isolated("""
        from test_client_hello import pair, handshake
        kept = []
        scfg = server_config(pki)
        scfg.set_client_hello_cb(lambda conn: kept.append((conn, conn.get_client_hello())))
        for _ in range(20):
            cli, srv = pair(pki, scfg)
            handshake(cli, srv)
            srv.conn.free(); cli.conn.free()
            del cli, srv
            gc.collect()
        for conn, hello in kept:
            assert hello.get_server_name() == "localhost" and len(hello.get_raw_message()) > 100
            try:
                conn.get_client_hello()
            except s2n.UsageError as e:
                assert e.name == "S2N_PY_ERR_FREED", e.name
            else:
                raise AssertionError("no error")
        print("OK")
    """, pki)


# s2n.asyncio: an async function decides while the loop serves


def run(coro, timeout: float = 60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def echo(reader, writer):
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


async def client(pki, port, name="localhost", config=None):
    reader, writer = await asyncio.wait_for(s2n_asyncio.open_connection(
        "127.0.0.1", port, config=config or client_config(pki), server_hostname=name), 10)
    writer.write(b"ping")
    assert await asyncio.wait_for(reader.readexactly(4), 10) == b"ping"
    chain = writer.get_extra_info("peercert_chain")
    writer.close()
    await asyncio.wait_for(writer.wait_closed(), 10)
    return chain


def test_asyncio_callbacks_await_together_while_the_loop_serves(sni_pki):
    main, other = sni_configs(sni_pki)

    async def scenario():
        release = asyncio.Event()
        waiting = []
        both_waiting = asyncio.Event()

        async def on_hello(conn):
            name = conn.get_client_hello().get_server_name()
            if len(waiting) < 2:  # the first two wait; later ones are decided at once
                waiting.append(name)
                if len(waiting) == 2:
                    both_waiting.set()
                await release.wait()
            if name == "other.test":
                conn.set_config(other)
                conn.server_name_extension_used()

        server = await s2n_asyncio.start_server(echo, "127.0.0.1", 0, config=main,
                                                client_hello_cb=on_hello)
        port = server.sockets[0].getsockname()[1]
        try:
            slow = [asyncio.ensure_future(client(sni_pki, port, n))
                    for n in ("other.test", "localhost")]
            await asyncio.wait_for(both_waiting.wait(), 10)
            # two handshakes wait on their callbacks, not on their fds (no busy loop)
            waiting_transports = [t for t in server._transports if t._rop and t._rop.timer]
            assert len(waiting_transports) == 2
            assert not any(t._fd_read or t._fd_write for t in waiting_transports)
            # ... and a third connection is served meanwhile
            chain = await client(sni_pki, port, "localhost")
            assert chain[0] == der(sni_pki, "server")
            assert not any(f.done() for f in slow)
            release.set()
            chains = await asyncio.wait_for(asyncio.gather(*slow), 10)
            assert chains[0][0] == der(sni_pki, "sni-other")
            assert chains[1][0] == der(sni_pki, "server")
        finally:
            server.close()
            await asyncio.wait_for(server.wait_closed(), 10)

    run(scenario())


def test_asyncio_callback_raising_rejects_and_server_keeps_serving(pki):
    async def scenario():
        async def on_hello(conn):
            await asyncio.sleep(0)
            if conn.get_client_hello().get_server_name() == "localhost":
                raise PermissionError("not today")

        server = await s2n_asyncio.start_server(echo, "127.0.0.1", 0, config=server_config(pki),
                                                client_hello_cb=on_hello)
        port = server.sockets[0].getsockname()[1]
        try:
            with pytest.raises((s2n.S2NError, ConnectionError)):
                await client(pki, port, "localhost")
            # the server still serves (no SNI: the callback accepts; the IP is verified)
            reader, writer = await asyncio.wait_for(s2n_asyncio.open_connection(
                "127.0.0.1", port, config=client_config(pki)), 10)
            writer.write(b"ok")
            assert await asyncio.wait_for(reader.readexactly(2), 10) == b"ok"
            writer.close()
            await asyncio.wait_for(writer.wait_closed(), 10)
        finally:
            server.close()
            await asyncio.wait_for(server.wait_closed(), 10)

    run(scenario())


def test_asyncio_client_hello_cb_needs_a_usable_config(pki):
    async def on_hello(conn):
        pass

    async def scenario():
        frozen = server_config(pki)
        s2n.Connection(s2n.Mode.SERVER, frozen).free()
        with pytest.raises(ValueError):
            await s2n_asyncio.start_server(echo, "127.0.0.1", 0, config=frozen,
                                           client_hello_cb=on_hello)
        blocking = server_config(pki)
        blocking.set_client_hello_cb(lambda conn: None)
        with pytest.raises(ValueError):
            await s2n_asyncio.start_server(echo, "127.0.0.1", 0, config=blocking,
                                           client_hello_cb=on_hello)
        with pytest.raises(TypeError):
            await s2n_asyncio.start_server(echo, "127.0.0.1", 0, config=server_config(pki),
                                           client_hello_cb=42)

    run(scenario())


# interop: openssl s_client against our server


def serve_once(lsock, scfg, reply: bool = True):
    """Accept one connection, handshake, echo one line. Returns what the
    server saw, or the exception."""
    sock, _ = lsock.accept()
    with sock:
        conn = s2n.Connection(s2n.Mode.SERVER, scfg)
        conn.set_fd(sock)
        conn.set_blinding(s2n.Blinding.SELF_SERVICE)
        try:
            conn.negotiate()
            got = b""
            while not got.endswith(b"\n"):
                more = conn.recv(100)
                if not more:
                    break
                got += more
            conn.send(got)
            conn.shutdown_send()
            return {"line": got, "client_cert": conn.client_cert_used(),
                    "chain": conn.get_peer_cert_chain() if conn.client_cert_used() else []}
        except s2n.S2NError as e:
            try:
                conn.shutdown_send()  # the alert
            except s2n.S2NError:
                pass
            return e
        finally:
            conn.free()


def s_client(port, *args, data=b"hello openssl\n"):
    return subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-ign_eof", *args],
                          input=data, capture_output=True, timeout=30)


@pytest.mark.parametrize("name, cert", [("other.test", "sni-other"), ("localhost", "server")])
def test_openssl_servername_switches_certificate(sni_pki, name, cert):
    main, other = sni_configs(sni_pki)

    def cb(conn):
        if conn.get_client_hello().get_server_name() == "other.test":
            conn.set_config(other)
            conn.server_name_extension_used()

    main.set_client_hello_cb(cb)
    with socket.create_server(("127.0.0.1", 0)) as lsock:
        port = lsock.getsockname()[1]
        seen, proc = run_both(lambda: serve_once(lsock, main), lambda: s_client(
            port, "-servername", name, "-CAfile", str(sni_pki.path("ca.pem")),
            "-verify_return_error", "-verify_hostname", name, "-showcerts"))
    assert not isinstance(seen, Exception), seen
    assert proc.returncode == 0, proc.stdout.decode(errors="replace")[-2000:]
    out = proc.stdout.decode(errors="replace")
    assert f"CN={cert}" in out.replace(" ", "")
    assert "Verify return code: 0 (ok)" in out


@pytest.mark.parametrize("auth", [s2n.ClientAuth.OPTIONAL, s2n.ClientAuth.REQUIRED])
@pytest.mark.parametrize("with_cert", [True, False])
def test_openssl_client_certificates(pki, auth, with_cert):
    scfg = mtls_server_config(pki, auth)
    scfg.set_cert_authorities_from_trust_store()
    args = ["-CAfile", str(pki.path("ca.pem")), "-servername", "localhost"]
    if with_cert:
        args += ["-cert", str(pki.path("client.pem")), "-key", str(pki.path("client.key"))]
    with socket.create_server(("127.0.0.1", 0)) as lsock:
        port = lsock.getsockname()[1]
        seen, proc = run_both(lambda: serve_once(lsock, scfg), lambda: s_client(port, *args))
    out = proc.stdout.decode(errors="replace")
    # the CertificateRequest names our CA (certificate_authorities)
    assert "Acceptable client certificate CA names" in out and "Test ca" in out
    if with_cert:
        assert not isinstance(seen, Exception), seen
        assert seen["client_cert"] and seen["chain"][0] == der(pki, "client")
        assert b"hello openssl" in proc.stdout
    elif auth == s2n.ClientAuth.OPTIONAL:
        assert not isinstance(seen, Exception), seen
        assert not seen["client_cert"] and seen["line"] == b"hello openssl\n"
    else:
        assert isinstance(seen, s2n.S2NError)
        assert b"hello openssl" not in proc.stdout
