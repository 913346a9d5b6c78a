"""Harness: untrusted peer bytes through MemoryBIO into s2n-tls.

Input: [target, piece, limit, peer bytes...]. `target` (mod 8) picks what reads
the bytes:

  0 SERVER13   a server (policy "default"; TLS 1.3 with the seeds): the bytes are the client's flights,
               ClientHello first
  1 SERVER12   the same with a TLS 1.2 policy ("20190214": CBC and GCM) (ClientKeyExchange parsed too)
  2 CLIENT13   a client that sent its ClientHello: the bytes are the server's
               flights (ServerHello, HelloRetryRequest, ...)
  3 CLIENT12   the same, TLS 1.2 (Certificate, ServerKeyExchange in clear)
  4 POST_SERVER a server after a real handshake (deserialized from
               fuzz/data/post_handshake.json): the bytes are the client's
               records (application data, KeyUpdate, alerts, close_notify)
  5 POST_CLIENT the client of that handshake: the server's records
  6 DESERIALIZE_SERVER / 7 DESERIALIZE_CLIENT: the bytes are a serialized
               connection (s2n-tls does not authenticate it) to continue

The servers run a client hello callback that reads every field through
Connection.get_client_hello() (our C in _glue_client_hello.c, and the
Python parsing of the extensions). `piece` (0: all at once) is the size of the pieces fed between calls, so
records split across reads are covered; `limit` (0: none) times 16 bounds
the outgoing MemoryBIO, so s2n-tls's flights block on write and resume. Blinding is self-service: a failure
returns at once; the delay s2n-tls asks for is checked, not slept.

Afterwards every getter reads the state the peer's bytes left (protocol
versions, cipher, peer certificate chain, alert, ...).

Invariant: every call returns or raises s2n.S2NError; nothing else escapes,
the process does not crash, and ASan reports nothing.
"""

from __future__ import annotations

import sys

from ._common import (check_blinding, client_config, new_conn, post_handshake_states,
                      replay_main, s2n, server_config)

SERVER13, SERVER12, CLIENT13, CLIENT12, POST_SERVER, POST_CLIENT = range(6)
DESERIALIZE_SERVER, DESERIALIZE_CLIENT = 6, 7

# Configs are made once per process (as a real server does): a Config is
# frozen once a connection uses it, and loading the key costs more than a run.
_configs: dict = {}


def _read_client_hello(conn) -> None:
    """The servers' client hello callback: our glue (_glue_client_hello.c) and
    ClientHello's parsing read every field of the untrusted ClientHello."""
    hello = conn.get_client_hello()
    hello.get_raw_message()
    hello.get_cipher_suites()
    hello.get_supported_groups()
    hello.get_legacy_protocol_version()
    hello.get_session_id()
    hello.get_random()
    for ext in (0, 10, 13, 16, 43, 45, 51, 0xFFFF):
        hello.has_extension(ext)
    if hello.get_server_name() is not None:
        conn.server_name_extension_used()
    conn.get_server_name()
    conn.get_client_protocol_version()


_GETTERS = ("get_actual_protocol_version", "get_client_protocol_version",
            "get_server_protocol_version", "get_cipher", "get_cipher_iana_value",
            "get_application_protocol", "get_server_name", "get_handshake_type_name",
            "get_curve", "get_kem_group_name", "handshake_complete", "is_session_resumed",
            "client_cert_used", "get_wire_bytes_in", "get_wire_bytes_out",
            "get_peer_cert_chain", "get_alert", "get_key_exchange_group",
            "get_session_ticket_lifetime_hint", "get_ocsp_response", "get_sct_list",
            "get_selected_cert")


def _read_state(conn) -> None:
    """Every getter, after the peer's bytes did what they could: the state
    they read came from the peer (e.g. a partial certificate chain)."""
    for name in _GETTERS:
        try:
            getattr(conn, name)()
        except s2n.S2NError:
            pass


def _config(key):
    if key not in _configs:
        server, policy, ser = key
        _configs[key] = (server_config if server else client_config)(policy, ser)
        if server and not ser:
            _configs[key].set_client_hello_cb(_read_client_hello)
    return _configs[key]


_STATES = None


def _states() -> dict:
    global _STATES
    if _STATES is None:
        _STATES = post_handshake_states()
    return _STATES


def _pieces(data: bytes, size: int):
    if size == 0:
        yield data
        return
    for i in range(0, len(data), size):
        yield data[i:i + size]


def _echo_session_id(hello: bytes, data: bytes) -> bytes:
    """A TLS 1.3 client checks that the ServerHello echoes its (random)
    legacy_session_id: the one fix-up of the input, so that a recorded
    ServerHello gets past that check in every run. Offsets: record header 5,
    handshake header 4, version 2, random 32, then the id's length."""
    if len(hello) < 44 or hello[0] != 0x16 or hello[5] != 1:
        return data
    sid = hello[44:44 + hello[43]]
    if len(data) > 44 and data[0] == 0x16 and data[5] == 2 and data[43] == len(sid):
        return data[:44] + sid + data[44 + len(sid):]
    return data


def _step(conn, call, outgoing, sent=None) -> object:
    """One call; a BLOCKED_ON_WRITE (the outgoing BIO at its limit) is
    retried after draining it, as a transport would. Returns the call's
    result, the BlockedError on read, or the S2NError it failed with."""
    for _ in range(256):  # a flight is at most a few KB: bounded
        try:
            return call()
        except s2n.BlockedError as e:
            if e.blocked != s2n.Blocked.ON_WRITE:
                return e
            drained = outgoing.read()
            if not drained:
                return e
            if sent is not None:
                sent.append(drained)
        except s2n.S2NError as e:
            check_blinding(conn)
            return e
    raise AssertionError("still blocked on write after 256 drains")


def _handshake(conn, incoming, outgoing, data: bytes, piece: int) -> bool:
    """Feed the bytes; True if the handshake completed (it should not: the
    peer's Finished cannot be forged)."""
    sent: list = []
    r = _step(conn, conn.negotiate, outgoing, sent)
    if not isinstance(r, s2n.BlockedError):
        return r is None
    if conn.mode == s2n.Mode.CLIENT:
        data = _echo_session_id(b"".join(sent) + outgoing.read(), data)
    for chunk in list(_pieces(data, piece)) + [None]:
        if chunk is None:
            incoming.write_eof()
        else:
            incoming.write(chunk)
        outgoing.read()
        r = _step(conn, conn.negotiate, outgoing)
        if not isinstance(r, s2n.BlockedError):
            return r is None
    return False


def _exchange(conn, incoming, outgoing, data: bytes, piece: int) -> None:
    """After the handshake: read the peer's records, answer, close."""
    for chunk in list(_pieces(data, piece)) + [None]:
        if chunk is None:
            incoming.write_eof()
        else:
            incoming.write(chunk)
        for _ in range(64):  # a record per call at most; bounded
            got = _step(conn, lambda: conn.recv(16384), outgoing)
            if isinstance(got, s2n.BlockedError):
                break
            if isinstance(got, s2n.S2NError):
                return
            if not got:
                break
            conn.peek()
            # Answer (also sends a KeyUpdate the peer requested).
            _step(conn, lambda: conn.send(got[:100]), outgoing)
            outgoing.read()
    for call in (conn.get_key_update_counts, conn.shutdown_send, conn.shutdown):
        _step(conn, call, outgoing)
        outgoing.read()


def one_input(data: bytes) -> None:
    if len(data) < 3:
        return
    target, piece, limit, body = data[0] % 8, data[1], data[2], data[3:]
    if target in (SERVER13, SERVER12):
        policy = "default" if target == SERVER13 else "20190214"
        conn, incoming, outgoing = new_conn(s2n.Mode.SERVER, _config((True, policy, False)), limit=limit * 16)
        if _handshake(conn, incoming, outgoing, body, piece):
            raise AssertionError("a forged client completed the handshake")
        _read_state(conn)
    elif target in (CLIENT13, CLIENT12):
        policy = "default" if target == CLIENT13 else "20190214"
        conn, incoming, outgoing = new_conn(s2n.Mode.CLIENT, _config((False, policy, False)), limit=limit * 16)
        if _handshake(conn, incoming, outgoing, body, piece):
            raise AssertionError("a forged server completed the handshake")
        _read_state(conn)
    elif target in (POST_SERVER, POST_CLIENT):
        server = target == POST_SERVER
        mode = s2n.Mode.SERVER if server else s2n.Mode.CLIENT
        conn, incoming, outgoing = new_conn(mode, _config((server, "default_tls13", True)), limit=limit * 16)
        conn.deserialize(_states()["server" if server else "client"])
        _exchange(conn, incoming, outgoing, body, piece)
        _read_state(conn)
    else:
        server = target == DESERIALIZE_SERVER
        mode = s2n.Mode.SERVER if server else s2n.Mode.CLIENT
        conn, incoming, outgoing = new_conn(mode, _config((server, "default_tls13", True)), limit=limit * 16)
        try:
            conn.deserialize(body)
        except s2n.S2NError:
            return
        _exchange(conn, incoming, outgoing, b"\x17\x03\x03\x00\x20" + bytes(32), piece)
    conn.free()


def main() -> None:
    if replay_main(one_input):
        return
    import atheris

    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
