"""TLS 1.2 resumption by session ID: Config.set_session_cache and
s2n.SessionIdCache (s2n-tls's cache store/retrieve/delete callbacks)."""

from __future__ import annotations

import os
import socket

import pytest

import s2n
from conftest import client_config, connected_pair, server_config

POLICY = "20170210"  # TLS 1.0-1.2: session IDs, no TLS 1.3 tickets


class CountingCache(s2n.SessionIdCache):
    def __init__(self, fail_retrieve=None):
        super().__init__()
        self.calls = []
        self.fail_retrieve = fail_retrieve

    def store(self, conn, key, value, ttl):
        self.calls.append(("store", conn, key, ttl))
        super().store(conn, key, value, ttl)

    def retrieve(self, conn, key):
        self.calls.append(("retrieve", conn, key))
        if self.fail_retrieve is not None:
            raise self.fail_retrieve
        return super().retrieve(conn, key)


def _server_config(pki, cache):
    scfg = server_config(pki, cert="server-rsa", policy=POLICY)
    scfg.set_session_cache(cache)
    scfg.add_ticket_crypto_key("cache-key", os.urandom(32))  # s2n-tls encrypts cached state with it
    return scfg


def _first_session(pki, scfg):
    ccfg = client_config(pki, policy=POLICY)
    a, b = socket.socketpair()
    with a, b:
        cli, srv = connected_pair(pki, a, b, scfg=scfg, ccfg=ccfg)
        assert not srv.is_session_resumed()
        assert cli.get_session_id_length() == 32
        return ccfg, cli.get_session()


def _resume(pki, scfg, ccfg, session):
    a, b = socket.socketpair()
    with a, b:
        return connected_pair(pki, a, b, scfg=scfg, ccfg=ccfg, session=session)


def test_resumes_by_session_id(pki):
    cache = CountingCache()
    scfg = _server_config(pki, cache)
    ccfg, session = _first_session(pki, scfg)
    assert [c[0] for c in cache.calls] == ["store"] and len(cache) == 1
    _, _, key, ttl = cache.calls[0]
    assert len(key) == 32 and ttl > 0
    cli, srv = _resume(pki, scfg, ccfg, session)
    assert cli.is_session_resumed() and srv.is_session_resumed()
    assert cache.calls[1][0] == "retrieve" and cache.calls[1][1] is srv and cache.calls[1][2] == key


def test_a_miss_is_a_full_handshake(pki):
    cache = CountingCache()
    scfg = _server_config(pki, cache)
    ccfg, session = _first_session(pki, scfg)
    cache.delete(None, cache.calls[0][2])
    cli, srv = _resume(pki, scfg, ccfg, session)
    assert not srv.is_session_resumed() and not cli.is_session_resumed()


def test_a_retrieve_exception_comes_out_of_negotiate(pki):
    class Broken(Exception):
        pass

    cache = CountingCache()
    scfg = _server_config(pki, cache)
    ccfg, session = _first_session(pki, scfg)
    cache.fail_retrieve = Broken("cache down")
    with pytest.raises(Broken):
        _resume(pki, scfg, ccfg, session)


def test_the_cache_needs_its_three_methods():
    class Half:
        def store(self, conn, key, value, ttl):
            pass

    with pytest.raises(TypeError, match="retrieve"):
        s2n.Config().set_session_cache(Half())


def test_session_id_cache_evicts_the_least_recently_used():
    cache = s2n.SessionIdCache(max_entries=2)
    cache.store(None, b"a", b"1", 60)
    cache.store(None, b"b", b"2", 60)
    assert cache.retrieve(None, b"a") == b"1"  # a is now the most recent
    cache.store(None, b"c", b"3", 60)
    assert cache.retrieve(None, b"b") is None
    assert cache.retrieve(None, b"a") == b"1" and cache.retrieve(None, b"c") == b"3"
    cache.store(None, b"old", b"x", 0)  # expired at once
    assert cache.retrieve(None, b"old") is None
    with pytest.raises(ValueError):
        s2n.SessionIdCache(max_entries=0)
