"""A user's code on s2n.Config and s2n.Connection, for the type checkers.

tests/test_types.py runs `mypy --strict` and strict `pyright` on this folder:
every `assert_type` must hold exactly (no Any may leak from the public API).
The functions are only type-checked, never called.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import List, Optional, Sequence, Union

from typing_extensions import assert_type

import s2n


def make_config(ca: Path, cert: Path, key: Path) -> s2n.Config:
    config = s2n.Config()
    config.add_cert_chain_and_key(cert, key)
    config.add_cert_chain_and_key(cert.read_bytes(), key.read_text())
    config.set_verification_ca_location(cafile=ca)
    config.set_cipher_preferences("default_tls13")
    config.set_protocol_preferences(["h2", b"http/1.1"])
    config.set_alert_behavior(s2n.AlertBehavior.FAIL_ON_WARNINGS)
    config.set_recv_multi_record(True)
    config.set_client_auth_type(s2n.ClientAuth.OPTIONAL)
    config.set_session_tickets_onoff(True)
    assert_type(config.frozen, bool)
    assert_type(config.client_hello_cb_mode, Optional[s2n.ClientHelloCbMode])
    return config


def callbacks(config: s2n.Config) -> None:
    def on_hello(conn: s2n.Connection) -> None:
        hello = conn.get_client_hello()
        assert_type(hello, s2n.ClientHello)
        assert_type(hello.get_server_name(), Optional[str])
        assert_type(hello.get_cipher_suites(), List[int])
        assert_type(hello.get_extension_by_id(0), Optional[bytes])

    config.set_client_hello_cb(on_hello, s2n.ClientHelloCbMode.BLOCKING)
    config.set_key_log_cb(lambda conn, line: print(conn.get_cipher(), line.hex()))
    config.set_session_ticket_callback(lambda conn, session, lifetime: None)
    config.set_verify_host_callback(lambda name: name.endswith(".example"))

    def validate(conn: s2n.Connection, info: s2n.CertValidationInfo) -> Optional[bool]:
        assert_type(conn.get_peer_cert_chain(), List[bytes])
        return True

    config.set_cert_validation_cb(validate)

    def pick(conn: s2n.Connection, identities: Sequence[bytes]) -> Optional[int]:
        return 0 if identities else None

    config.set_psk_selection_callback(pick)
    config.set_early_data_cb(s2n.ReplayGuard(window=10.0))

    def offload(conn: s2n.Connection, op: s2n.AsyncPkeyOp) -> None:
        assert_type(op.get_op_type(), s2n.AsyncPkeyOpType)
        assert_type(op.get_input(), bytes)
        op.set_output(b"signature")
        op.apply(conn)

    config.set_async_pkey_callback(offload)

    async def offload_later(conn: s2n.Connection, op: s2n.AsyncPkeyOp) -> None:
        op.set_output(b"signature")

    config.set_async_pkey_callback(offload_later)


def client(config: s2n.Config, sock: socket.socket) -> bytes:
    with s2n.Connection(s2n.Mode.CLIENT, config) as conn:
        assert_type(conn, s2n.Connection)
        conn.set_fd(sock)
        conn.set_fd(sock.fileno())
        conn.set_server_name("example.com")
        conn.set_blinding(s2n.Blinding.SELF_SERVICE)
        assert_type(conn.get_delay(), int)
        assert_type(conn.negotiate(), None)
        assert_type(conn.send(b"GET / HTTP/1.1\r\n\r\n"), int)
        assert_type(conn.sendv_with_offset([b"a", bytearray(b"b")], 0), int)
        buf = bytearray(4096)
        assert_type(conn.recv_into(buf), int)
        data = conn.recv(4096)
        assert_type(data, bytes)
        assert_type(conn.peek(), int)
        assert_type(conn.get_alert(), Optional[int])
        assert_type(conn.get_actual_protocol_version(), Union[s2n.ProtocolVersion, int])
        assert_type(conn.get_cipher(), str)
        assert_type(conn.get_application_protocol(), Optional[str])
        assert_type(conn.get_server_name(), Optional[str])
        assert_type(conn.get_handshake_type_name(), str)
        assert_type(conn.get_curve(), str)
        assert_type(conn.get_kem_group_name(), str)
        assert_type(conn.get_session(), bytes)
        assert_type(conn.get_ocsp_response(), Optional[bytes])
        assert_type(conn.get_negotiated_psk_identity(), Optional[bytes])
        assert_type(conn.get_early_data_status(), s2n.EarlyDataStatus)
        assert_type(conn.tls_exporter(b"EXPORTER-label", b"", 32), bytes)
        assert_type(conn.get_key_exchange_group(), str)
        assert_type(conn.get_key_update_counts(), s2n.KeyUpdateCounts)
        assert_type(conn.mode, s2n.Mode)
        assert_type(conn.config, Optional[s2n.Config])
        conn.shutdown()
        return data


def custom_io(config: s2n.Config) -> None:
    conn = s2n.Connection(s2n.Mode.SERVER, config)
    inbox = bytearray()

    def recv_cb(buf: memoryview) -> int:
        n = min(len(buf), len(inbox))
        if not n:
            raise BlockingIOError
        buf[:n] = inbox[:n]
        del inbox[:n]
        return n

    def send_cb(data: memoryview) -> int:
        return len(data)

    conn.set_recv_cb(recv_cb)
    conn.set_send_cb(send_cb)
    try:
        conn.negotiate()
    except s2n.BlockedError as e:
        assert_type(e.blocked, s2n.Blocked)
    except s2n.AlertError as e:
        assert_type(e.alert, Optional[int])
    except s2n.IOError as e:
        assert_type(e.errno, Optional[int])
    except s2n.S2NError as e:
        assert_type(e.type, s2n.ErrorType)
        assert_type(e.name, str)
        assert_type(e.message, str)
        assert_type(e.debug, str)
    finally:
        conn.free()


def certificates(chain: bytes, key: bytes, ocsp: bytes) -> s2n.Config:
    cck = s2n.CertChainAndKey(chain, key)
    cck.set_ocsp_data(ocsp)
    assert_type(cck.has_private_key, bool)
    config = s2n.Config()
    config.add_cert_chain_and_key_to_store(cck)
    config.set_status_request_type(s2n.StatusRequestType.OCSP)
    psk = s2n.ExternalPsk(b"identity", b"0123456789abcdef", s2n.PskHmac.SHA256)
    assert_type(psk.identity, bytes)
    assert_type(s2n.version_info(), dict[str, str])
    assert_type(s2n.__version__, str)
    return config
