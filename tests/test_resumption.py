"""Session resumption with tickets (TLS 1.3 and TLS 1.2)."""

from __future__ import annotations

import os
import socket

import pytest

import s2n
from conftest import client_config, connected_pair, server_config


def _configs(pki, policy=None, cert="server"):
    scfg = server_config(pki, cert=cert, policy=policy)
    scfg.set_session_tickets_onoff(True)
    scfg.add_ticket_crypto_key("key-1", os.urandom(32))
    ccfg = client_config(pki, policy=policy)
    ccfg.set_session_tickets_onoff(True)
    tickets = []
    ccfg.set_session_ticket_callback(lambda conn, ticket, lifetime: tickets.append((ticket, lifetime)))
    return scfg, ccfg, tickets


@pytest.mark.parametrize("policy, cert", [(None, "server"), ("20170210", "server-rsa")])
def test_resumed_handshake(pki, policy, cert):
    scfg, ccfg, tickets = _configs(pki, policy, cert)
    a, b = socket.socketpair()
    with a, b:
        cli, srv = connected_pair(pki, a, b, scfg=scfg, ccfg=ccfg)
        assert not cli.is_session_resumed()
        srv.send(b"x")
        assert cli.recv(10) == b"x"  # TLS 1.3 tickets arrive after the handshake
        assert tickets and tickets[-1][1] > 0
    a, b = socket.socketpair()
    with a, b:
        cli, srv = connected_pair(pki, a, b, scfg=scfg, ccfg=ccfg, session=tickets[-1][0])
        assert cli.is_session_resumed() and srv.is_session_resumed()
        cli.send(b"resumed")
        assert srv.recv(10) == b"resumed"


def test_ticket_key_can_be_added_to_a_config_in_use(pki):
    scfg, _, _ = _configs(pki)
    s2n.Connection(s2n.Mode.SERVER, scfg)
    scfg.add_ticket_crypto_key("key-2", os.urandom(32))  # rotation stays possible


def test_bad_session_is_an_error(pki):
    conn = s2n.Connection(s2n.Mode.CLIENT, client_config(pki))
    with pytest.raises(s2n.S2NError):
        conn.set_session(b"\x01garbage")


def test_exception_in_ticket_callback_propagates(pki):
    scfg, ccfg, _ = _configs(pki)

    def boom(conn, ticket, lifetime):
        raise RuntimeError("ticket callback failed")

    ccfg2 = client_config(pki)
    ccfg2.set_session_tickets_onoff(True)
    ccfg2.set_session_ticket_callback(boom)
    a, b = socket.socketpair()
    with a, b:
        cli, srv = connected_pair(pki, a, b, scfg=scfg, ccfg=ccfg2)
        srv.send(b"x")
        with pytest.raises(RuntimeError, match="ticket callback failed"):
            cli.recv(10)
