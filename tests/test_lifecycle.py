"""Chapter "Closing the Connection", wipe/free, Config lifetime and freezing."""

from __future__ import annotations

import gc
import socket
import weakref

import pytest

import s2n
from conftest import client_config, connected_pair, run_both, server_config


def test_graceful_shutdown_both_ways(pki, socketpair):
    cli, srv = connected_pair(pki, *socketpair)
    cli.send(b"bye")
    assert srv.recv(10) == b"bye"
    run_both(srv.shutdown, cli.shutdown)
    assert cli.get_alert() == 0 and srv.get_alert() == 0  # close_notify both ways
    with pytest.raises(s2n.S2NError):
        cli.send(b"after shutdown")


def test_shutdown_discards_unread_data(pki, socketpair):
    cli, srv = connected_pair(pki, *socketpair)
    srv.send(b"never read")
    run_both(srv.shutdown, cli.shutdown)


def test_half_close_keeps_the_read_side_open(pki, socketpair):
    cli, srv = connected_pair(pki, *socketpair)
    assert cli.get_actual_protocol_version() == s2n.ProtocolVersion.TLS1_3
    cli.send(b"request")
    cli.shutdown_send()
    assert srv.recv(100) == b"request"
    assert srv.recv(100) == b""
    # the client no longer writes, but the server still sends and the client reads
    srv.send(b"response after the client's close_notify")
    assert cli.recv(100) == b"response after the client's close_notify"
    srv.shutdown_send()
    assert cli.recv(100) == b""


def test_wipe_allows_reuse(pki):
    scfg = server_config(pki)
    srv = s2n.Connection(s2n.Mode.SERVER, scfg)
    for round_ in range(3):
        a, b = socket.socketpair()
        with a, b:
            srv.set_fd(a)
            cli = s2n.Connection(s2n.Mode.CLIENT, client_config(pki))
            cli.set_fd(b)
            cli.set_server_name("localhost")
            run_both(srv.negotiate, cli.negotiate)
            cli.send(b"round %d" % round_)
            assert srv.recv(100) == b"round %d" % round_
            run_both(srv.shutdown, cli.shutdown)
        srv.wipe()
        assert srv.config is scfg and srv.mode == s2n.Mode.SERVER
    # after wipe the IO is gone, as in C
    with pytest.raises(s2n.S2NError):
        srv.negotiate()


def test_free_is_idempotent_and_later_calls_raise(pki, socketpair):
    cli, srv = connected_pair(pki, *socketpair)
    cli.free()
    cli.free()
    for call in (lambda: cli.send(b"x"), lambda: cli.recv(1), cli.negotiate, cli.shutdown,
                 cli.get_cipher, cli.peek, lambda: cli.set_fd(0), cli.wipe):
        with pytest.raises(s2n.UsageError) as e:
            call()
        assert e.value.name == "S2N_PY_ERR_FREED"
    assert "freed" in repr(cli)


def test_context_manager_frees(pki):
    with s2n.Connection(s2n.Mode.CLIENT, client_config(pki)) as conn:
        conn.set_server_name("localhost")
    with pytest.raises(s2n.UsageError):
        conn.set_server_name("again")


def test_connection_keeps_its_config_alive(pki, socketpair):
    a, b = socketpair
    scfg = server_config(pki)
    ref = weakref.ref(scfg)
    srv = s2n.Connection(s2n.Mode.SERVER, scfg)
    del scfg
    gc.collect()
    assert ref() is not None
    srv.set_fd(a)
    cli = s2n.Connection(s2n.Mode.CLIENT, client_config(pki))
    cli.set_fd(b)
    cli.set_server_name("localhost")
    run_both(srv.negotiate, cli.negotiate)
    srv.free()
    gc.collect()
    assert ref() is None


def test_config_is_frozen_once_used(pki):
    cfg = client_config(pki)
    cfg.set_cipher_preferences("default_tls13")  # still allowed
    s2n.Connection(s2n.Mode.CLIENT, cfg)
    assert cfg.frozen
    for call in (lambda: cfg.set_cipher_preferences("default"),
                 lambda: cfg.add_pem_to_trust_store(pki.path("ca.pem")),
                 lambda: cfg.set_protocol_preferences(["h2"]),
                 cfg.disable_x509_verification):
        with pytest.raises(s2n.UsageError) as e:
            call()
        assert e.value.name == "S2N_PY_ERR_CONFIG_FROZEN"


def test_pem_from_bytes_str_and_path(pki, socketpair):
    a, b = socketpair
    scfg = s2n.Config()
    scfg.add_cert_chain_and_key(pki.path("server.pem").read_bytes(),
                                pki.path("server.key").read_text())
    ccfg = s2n.Config()
    ccfg.add_pem_to_trust_store(pki.path("ca.pem").read_text())
    ccfg2 = s2n.Config()
    ccfg2.set_verification_ca_location(cafile=pki.path("ca.pem"))
    cli, srv = connected_pair(pki, a, b, scfg=scfg, ccfg=ccfg)
    assert len(cli.get_peer_cert_chain()) >= 1


def test_connection_information(pki, socketpair):
    a, b = socketpair
    scfg = server_config(pki)
    scfg.set_protocol_preferences(["h2", "http/1.1"])
    ccfg = client_config(pki)
    ccfg.set_protocol_preferences([b"http/1.1"])
    cli, srv = connected_pair(pki, a, b, scfg=scfg, ccfg=ccfg)
    for conn in (cli, srv):
        assert conn.get_actual_protocol_version() == s2n.ProtocolVersion.TLS1_3
        assert str(conn.get_actual_protocol_version()) == "TLSv1.3"
        assert conn.get_cipher() == "TLS_AES_128_GCM_SHA256"
        assert conn.get_application_protocol() == "http/1.1"
        assert "FULL_HANDSHAKE" in conn.get_handshake_type_name()
        assert conn.get_kem_group_name() != "NONE" or conn.get_curve() != "NONE"
        assert not conn.is_session_resumed()
    assert srv.get_server_name() == "localhost"
    chain = cli.get_peer_cert_chain()
    assert chain[0] == _der(pki.path("server.pem"))
    assert srv.get_peer_cert_chain() == []  # no client certificate
    assert cli.get_wire_bytes_out() > 0 and cli.get_wire_bytes_in() > 0


def test_tls12_policy(pki, socketpair):
    a, b = socketpair
    scfg = server_config(pki, cert="server-rsa", policy="default")
    ccfg = client_config(pki, policy="20170210")  # TLS 1.2 at most, RSA suites only
    cli, srv = connected_pair(pki, a, b, scfg=scfg, ccfg=ccfg)
    assert cli.get_actual_protocol_version() == s2n.ProtocolVersion.TLS1_2
    cli.send(b"tls12")
    assert srv.recv(10) == b"tls12"


def _der(pem_path):
    import ssl

    return ssl.PEM_cert_to_DER_cert(pem_path.read_text())


def test_release_buffers_if_idle(pki, socketpair):
    cli, srv = connected_pair(pki, *socketpair)
    cli.send(b"data")
    assert srv.recv(10) == b"data"
    assert srv.release_buffers_if_idle() is True
    cli.send(b"more")  # buffers come back on demand
    assert srv.recv(10) == b"more"
    srv._send.lock.acquire()  # another thread inside a call: never wait, never raise
    try:
        assert srv.release_buffers_if_idle() is False
    finally:
        srv._send.lock.release()
    srv.free()
    assert srv.release_buffers_if_idle() is False
