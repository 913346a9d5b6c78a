"""Issue 12 (resumption): ticket key lifetimes and rotation, ticket counts,
forward secrecy, the lifetime hint, asyncio `session=`, and the CLI
(`--session-in/--session-out`, a fleet of servers sharing `--ticket-key-file`)."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time

import pytest

import s2n
from conftest import client_config, connected_pair, run_both, server_config
from s2n.cli import _tickets

PY = [sys.executable, "-m", "s2n"]
KEY1 = bytes(range(32))
KEY2 = bytes(range(32, 64))


def _server(pki, keys=(("key-1", KEY1, 0),), policy=None, ed=None, d=None, count=None):
    cfg = server_config(pki, cert="server-rsa" if policy else "server", policy=policy)
    if ed is not None:
        cfg.set_ticket_encrypt_decrypt_key_lifetime(ed)
    if d is not None:
        cfg.set_ticket_decrypt_key_lifetime(d)
    cfg.set_session_tickets_onoff(True)
    if count is not None:
        cfg.set_initial_ticket_count(count)
    for name, key, intro in keys:
        cfg.add_ticket_crypto_key(name, key, intro)
    return cfg


def _client(pki, policy=None):
    cfg = client_config(pki, policy=policy)
    cfg.set_session_tickets_onoff(True)
    tickets = []
    cfg.set_session_ticket_callback(lambda conn, t, lifetime: tickets.append((t, lifetime)))
    return cfg, tickets


def _full(pki, scfg, ccfg, data=b"x"):
    """A handshake, then data from the server so TLS 1.3 tickets arrive."""
    a, b = socket.socketpair()
    with a, b:
        cli, srv = connected_pair(pki, a, b, scfg=scfg, ccfg=ccfg)
        srv.send(data)
        assert cli.recv(100) == data
        return cli, srv


def _resume(pki, scfg, ccfg, session) -> bool:
    a, b = socket.socketpair()
    with a, b:
        cli, srv = connected_pair(pki, a, b, scfg=scfg, ccfg=ccfg, session=session)
        cli.send(b"after")
        assert srv.recv(10) == b"after"
        assert cli.is_session_resumed() == srv.is_session_resumed()
        return cli.is_session_resumed()


# --- Config and Connection --------------------------------------------------------


def test_lifetime_setters_validate(pki):
    cfg = s2n.Config()
    for setter in (cfg.set_ticket_encrypt_decrypt_key_lifetime, cfg.set_ticket_decrypt_key_lifetime,
                   cfg.set_session_state_lifetime):
        setter(3600)
        with pytest.raises(ValueError):
            setter(0)
        with pytest.raises(ValueError):
            setter(2**64)
        with pytest.raises(TypeError):
            setter("3600")
    cfg.require_ticket_forward_secrecy(True)
    s2n.Connection(s2n.Mode.SERVER, cfg)
    with pytest.raises(s2n.UsageError):
        cfg.set_session_state_lifetime(10)
    with pytest.raises(s2n.UsageError):
        cfg.require_ticket_forward_secrecy(False)


def test_session_state_lifetime_caps_the_ticket_lifetime(pki):
    scfg = _server(pki)
    scfg.set_session_state_lifetime(100)
    ccfg, tickets = _client(pki)
    cli, _ = _full(pki, scfg, ccfg)
    assert tickets and 0 < tickets[-1][1] <= 100
    assert cli.get_session_ticket_lifetime_hint() == tickets[-1][1]


def test_key_lifetimes_cap_the_ticket_lifetime(pki):
    scfg = _server(pki, ed=60, d=40)
    ccfg, tickets = _client(pki)
    _full(pki, scfg, ccfg)
    assert tickets and 0 < tickets[-1][1] <= 100


def test_lifetime_hint_is_none_without_a_ticket(pki):
    ccfg, tickets = _client(pki)
    cli, _ = _full(pki, server_config(pki), ccfg)
    assert tickets == [] and cli.get_session_ticket_lifetime_hint() is None


def test_more_tickets_on_demand(pki):
    scfg = _server(pki, count=1)
    ccfg, tickets = _client(pki)
    a, b = socket.socketpair()
    with a, b:
        cli, srv = connected_pair(pki, a, b, scfg=scfg, ccfg=ccfg)
        srv.send(b"1")
        assert cli.recv(10) == b"1"
        assert len(tickets) == 1 and srv.get_tickets_sent() == 1
        srv.add_new_tickets_to_send(2)
        srv.send(b"2")  # the tickets go out with it
        assert cli.recv(10) == b"2"
        assert len(tickets) == 3 and srv.get_tickets_sent() == 3
        with pytest.raises(ValueError):
            srv.add_new_tickets_to_send(256)
        with pytest.raises(s2n.S2NError):
            cli.get_tickets_sent()  # servers only
        srv.set_server_keying_material_lifetime(3600)
    assert len({t for t, _ in tickets}) == 3
    assert _resume(pki, scfg, ccfg, tickets[-1][0])


def test_forward_secrecy_means_no_tls12_tickets(pki):
    scfg = _server(pki, policy="20170210")
    scfg2 = _server(pki, policy="20170210")
    scfg2.require_ticket_forward_secrecy(True)
    ccfg, tickets = _client(pki, policy="20170210")
    _full(pki, scfg, ccfg)
    assert len(tickets) == 1  # TLS 1.2 tickets without the requirement
    ccfg2, tickets2 = _client(pki, policy="20170210")
    ccfg2.require_ticket_forward_secrecy(True)
    _full(pki, scfg2, ccfg2)
    assert tickets2 == []
    assert not _resume(pki, scfg2, ccfg2, tickets[0][0])


def test_forward_secrecy_keeps_tls13_tickets(pki):
    scfg = _server(pki)
    scfg.require_ticket_forward_secrecy(True)
    ccfg, tickets = _client(pki)
    _full(pki, scfg, ccfg)
    assert tickets and _resume(pki, scfg, ccfg, tickets[-1][0])


def test_rotation_decrypt_only_key_still_resumes_and_expired_does_not(pki):
    now = int(time.time())
    # Server A encrypts with key-1 (introduced 100 s ago, encrypts for an hour).
    a = _server(pki, keys=[("key-1", KEY1, now - 100)], ed=3600)
    ccfg, tickets = _client(pki)
    _full(pki, a, ccfg)
    ticket = tickets[-1][0]
    # Server B: key-1 has stopped encrypting (60 s) but still decrypts; key-2 encrypts.
    b = _server(pki, keys=[("key-1", KEY1, now - 100), ("key-2", KEY2, now - 10)], ed=60, d=3600)
    ccfg_b, tickets_b = _client(pki)
    assert _resume(pki, b, ccfg_b, ticket)
    # Server C knows only key-2: B's new tickets are encrypted with it.
    c = _server(pki, keys=[("key-2", KEY2, now - 10)])
    a2, b2 = socket.socketpair()
    with a2, b2:
        srv = s2n.Connection(s2n.Mode.SERVER, b)
        srv.set_fd(a2)
        cli = s2n.Connection(s2n.Mode.CLIENT, ccfg_b)
        cli.set_fd(b2)
        cli.set_server_name("localhost")
        cli.set_session(ticket)
        run_both(srv.negotiate, cli.negotiate)
        srv.send(b"t")
        assert cli.recv(10) == b"t"
    assert tickets_b
    assert _resume(pki, c, _client(pki)[0], tickets_b[-1][0])
    # Server D: key-1 is past both lifetimes: a full handshake, not an error.
    d = _server(pki, keys=[("key-2", KEY2, now - 10)], ed=60, d=30)
    d.add_ticket_crypto_key("key-1", KEY1, now - 100)
    assert not _resume(pki, d, _client(pki)[0], ticket)


def test_a_key_in_the_future_does_not_encrypt_yet(pki):
    scfg = _server(pki, keys=[("later", KEY1, int(time.time()) + 3600)])
    ccfg, tickets = _client(pki)
    _full(pki, scfg, ccfg)
    assert tickets == []


# --- asyncio ---------------------------------------------------------------------


def test_asyncio_open_connection_resumes_with_session(pki):
    scfg = _server(pki)
    ccfg, tickets = _client(pki)

    async def main():
        async def echo(reader, writer):
            writer.write(await reader.read(100))
            await writer.drain()
            writer.close()

        server = await s2n.asyncio.start_server(echo, "127.0.0.1", 0, config=scfg)
        port = server.sockets[0].getsockname()[1]
        resumed = []
        async with server:
            for session in (None, "ticket"):
                reader, writer = await s2n.asyncio.open_connection(
                    "127.0.0.1", port, config=ccfg, server_hostname="localhost",
                    session=tickets[-1][0] if session else None)
                writer.write(b"hi")
                assert await reader.read(100) == b"hi"
                resumed.append(writer.get_extra_info("s2n_connection").is_session_resumed())
                writer.close()
                await writer.wait_closed()
        return resumed

    assert asyncio.run(asyncio.wait_for(main(), 30)) == [False, True]


def test_asyncio_bad_session_is_an_error(pki):
    async def main():
        with socket.create_server(("127.0.0.1", 0)) as lsock:
            port = lsock.getsockname()[1]
            with pytest.raises(s2n.S2NError):
                await s2n.asyncio.open_connection("127.0.0.1", port, config=_client(pki)[0],
                                                  server_hostname="localhost", session=b"\x01junk")

    asyncio.run(asyncio.wait_for(main(), 30))


# --- CLI: the key file ------------------------------------------------------------


def test_key_file_parses_names_keys_and_times():
    keys = _tickets.parse(
        "# fleet keys\n"
        f"a {KEY1.hex()} 1764547200   # unix seconds\n"
        f"b {KEY2.hex()} 2025-12-01T00:00:00Z\n"
        f"c {os.urandom(16).hex()} 2025-12-01T01:00:00+01:00\n"
        f"d {os.urandom(16).hex()} 2025-12-01 00:00:00\n"
        "\n"
        f"e {os.urandom(16).hex()}\n")
    assert [k.name for k in keys] == ["a", "b", "c", "d", "e"]
    assert keys[0].key == KEY1 and keys[0].intro == 1764547200
    assert keys[1].intro == keys[2].intro == keys[3].intro == 1764547200
    assert keys[4].intro == 0 and keys[4].line == 7


@pytest.mark.parametrize("text, why", [
    ("", "no keys"),
    ("a\n", "expected NAME HEXKEY"),
    (f"a {KEY1.hex()} 1 extra\n", "bad time '1 extra'"),
    ("a zz\n", "not hexadecimal"),
    (f"a {KEY1[:15].hex()}\n", "15 bytes"),
    (f"{'n' * 17} {KEY1.hex()}\n", "1..16"),
    (f"a {KEY1.hex()}\na {KEY2.hex()}\n", "line 2: key name 'a' given twice"),
    (f"a {KEY1.hex()} yesterday\n", "bad time"),
])
def test_key_file_errors_name_the_line(text, why):
    with pytest.raises(_tickets.TicketKeyError, match=re.escape(why)):
        _tickets.parse(text)


def _cert(pki):
    return ["--cert", str(pki.path("server.pem")), "--key", str(pki.path("server.key"))]


class CliServer:
    def __init__(self, pki, tmp_path, *extra: str) -> None:
        self.log = tmp_path / f"server-{time.monotonic_ns()}.log"
        self._log = open(self.log, "wb")
        self.proc = subprocess.Popen([*PY, "server", *_cert(pki), "--max-blinding-delay", "0", "--echo",
                                      *extra, "127.0.0.1", "0"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self._log, cwd=tmp_path)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            m = re.search(r"listening on \S+:(\d+)", self.log.read_text())
            if m:
                self.port = int(m.group(1))
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)  # polling a log file for readiness, bounded
        self.stop()
        raise AssertionError(self.log.read_text())

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(10)
        self._log.close()


def _cli_client(pki, tmp_path, port, *extra, data=b"hello\n"):
    proc = subprocess.run([*PY, "client", "-f", str(pki.path("ca.pem")), *extra, "localhost", str(port)],
                          input=data, capture_output=True, timeout=30, cwd=tmp_path)
    return proc


def _key_file(tmp_path, name: str, lines) -> str:
    path = tmp_path / name
    path.write_text("".join(lines))
    return str(path)


def test_two_servers_sharing_a_key_file_resume_each_other(pki, tmp_path):
    now = int(time.time())
    keys = _key_file(tmp_path, "fleet.keys", [
        "# name  key  intro\n",
        f"2026-a {KEY1.hex()} {now - 60}\n",
        f"2026-b {KEY2.hex()} {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(now + 3000))}\n",
    ])
    other = _key_file(tmp_path, "other.keys", [f"x {os.urandom(32).hex()} {now - 60}\n"])
    a = CliServer(pki, tmp_path, "--ticket-key-file", keys)
    b = CliServer(pki, tmp_path, "--ticket-key-file", keys)
    c = CliServer(pki, tmp_path, "--ticket-key-file", other)
    try:
        session = tmp_path / "session.bin"
        first = _cli_client(pki, tmp_path, a.port, "--session-out", str(session))
        assert first.returncode == 0, first.stderr
        assert first.stdout == b"hello\n"
        assert b"resumed=no" in first.stderr
        assert session.stat().st_size > 0 and (session.stat().st_mode & 0o077) == 0
        second = _cli_client(pki, tmp_path, b.port, "--session-in", str(session),
                             "--session-out", str(session))
        assert second.returncode == 0, second.stderr
        assert b"resumed=yes" in second.stderr and second.stdout == b"hello\n"
        third = _cli_client(pki, tmp_path, c.port, "--session-in", str(session))
        assert third.returncode == 0, third.stderr
        assert b"resumed=no" in third.stderr  # other keys: a full handshake
    finally:
        for s in (a, b, c):
            s.stop()


def test_server_without_key_file_sends_no_ticket(pki, tmp_path):
    srv = CliServer(pki, tmp_path)
    try:
        out = _cli_client(pki, tmp_path, srv.port, "--session-out", str(tmp_path / "s"))
        assert out.returncode == 0, out.stderr
        assert b"the server sent no session ticket" in out.stderr
        assert not (tmp_path / "s").exists()
    finally:
        srv.stop()


@pytest.mark.parametrize("args, want", [
    (["server", "--ticket-key-file", "missing.keys"], "--ticket-key-file missing.keys: no such file"),
    (["server", "--ticket-key-file", "bad.keys"], "line 1: the key is not hexadecimal"),
    (["server", "--ticket-key-file", "old.keys"], "every key has expired"),
    (["server", "-T", "--ticket-key-file", "old.keys"], "session tickets are off"),
    (["server", "--ticket-decrypt-lifetime", "0"], "--ticket-decrypt-lifetime"),
    (["client", "--session-in", "missing.bin"], "--session-in missing.bin: no such file"),
    (["client", "-T", "--session-out", "x.bin"], "need session tickets"),
])
def test_cli_resumption_errors(pki, tmp_path, args, want):
    (tmp_path / "bad.keys").write_text("a zz\n")
    (tmp_path / "old.keys").write_text(f"a {KEY1.hex()} 1000000000\n")
    cert = _cert(pki) if args[0] == "server" else []
    proc = subprocess.run([*PY, args[0], *cert, *args[1:], "127.0.0.1", "1"],
                          capture_output=True, timeout=30, cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2, proc.stderr
    assert want in proc.stderr.decode()
