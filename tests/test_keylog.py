"""Issue 12: key logging. The NSS lines are proven right by decrypting a real
TLS 1.3 record with them (RFC 8446 7.1 and 7.3), and the CLI honours SSLKEYLOGFILE."""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
import struct
import subprocess
import sys

import pytest

import s2n
from conftest import client_config, server_config
from test_validation import Side, drive

aead = pytest.importorskip("cryptography.hazmat.primitives.ciphers.aead")

LABELS = {"CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
          "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0", "EXPORTER_SECRET"}

# TLS 1.3 cipher suite -> (AEAD class, key length, hash)
SUITES = {
    "TLS_AES_128_GCM_SHA256": (aead.AESGCM, 16, hashlib.sha256),
    "TLS_AES_256_GCM_SHA384": (aead.AESGCM, 32, hashlib.sha384),
    "TLS_CHACHA20_POLY1305_SHA256": (aead.ChaCha20Poly1305, 32, hashlib.sha256),
}


def hkdf_expand(prk: bytes, info: bytes, length: int, hash_fn) -> bytes:
    """RFC 5869 2.3."""
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([i]), hash_fn).digest()
        out += block
        i += 1
    return out[:length]


def hkdf_expand_label(secret: bytes, label: bytes, context: bytes, length: int, hash_fn) -> bytes:
    """RFC 8446 7.1: HkdfLabel = length(2) || "tls13 " + label (<7..255>) || context (<0..255>)."""
    full = b"tls13 " + label
    info = struct.pack("!H", length) + bytes([len(full)]) + full + bytes([len(context)]) + context
    return hkdf_expand(secret, info, length, hash_fn)


def parse(lines) -> dict:
    """{label: (client_random, secret)} from NSS key log lines (bytes or str)."""
    out = {}
    for line in lines:
        text = line.decode() if isinstance(line, bytes) else line
        label, random, secret = text.split()
        assert label not in out, f"{label} twice"
        out[label] = (bytes.fromhex(random), bytes.fromhex(secret))
    return out


def decrypt_record(record: bytes, secret: bytes, seq: int, suite: str) -> bytes:
    """RFC 8446 5.2/5.3/7.3: key and iv from the traffic secret, nonce = iv XOR seq,
    AAD = the record header. Returns TLSInnerPlaintext (content || type || zeros)."""
    cls, key_len, hash_fn = SUITES[suite]
    key = hkdf_expand_label(secret, b"key", b"", key_len, hash_fn)
    iv = hkdf_expand_label(secret, b"iv", b"", 12, hash_fn)
    nonce = bytes(a ^ b for a, b in zip(iv, seq.to_bytes(12, "big")))
    header, body = record[:5], record[5:]
    return cls(key).decrypt(nonce, body, header)


def one_record(data: bytes) -> bytes:
    ctype, version, length = struct.unpack("!BHH", data[:5])
    assert (ctype, version) == (0x17, 0x0303), "an encrypted TLS 1.3 record (opaque_type application_data)"
    assert len(data) == 5 + length, "exactly one record"
    return data


@pytest.mark.parametrize("policy", ["default_tls13", "20190801"])
def test_key_log_lines_decrypt_application_data(pki, policy):
    clines, slines = [], []
    ccfg = client_config(pki, policy=policy)
    ccfg.set_key_log_cb(lambda conn, line: clines.append(line))
    scfg = server_config(pki, policy=policy)
    scfg.set_key_log_cb(lambda conn, line: slines.append(line))
    srv = Side(s2n.Mode.SERVER, scfg)
    cli = Side(s2n.Mode.CLIENT, ccfg)
    cli.conn.set_server_name("localhost")

    with pytest.raises(s2n.BlockedError):
        cli.conn.negotiate()
    hello = cli.outgoing.read()
    srv.incoming.write(hello)
    # record header (5) + handshake header (4) + legacy_version (2), then Random (32)
    assert hello[0] == 0x16 and hello[5] == 0x01
    client_random = hello[11:43]
    assert drive(cli, srv) == {"client": None, "server": None}
    assert cli.conn.get_actual_protocol_version() == s2n.ProtocolVersion.TLS1_3
    suite = cli.conn.get_cipher()
    assert suite in SUITES
    if policy == "default_tls13":
        assert suite == "TLS_AES_128_GCM_SHA256"

    keys = parse(clines)
    assert set(keys) == LABELS
    assert keys == parse(slines), "both ends log the same secrets"
    assert {random for random, _ in keys.values()} == {client_random}

    message = b"attack at dawn " + os.urandom(16)
    assert cli.conn.send(message) == len(message)
    inner = decrypt_record(one_record(cli.outgoing.read()), keys["CLIENT_TRAFFIC_SECRET_0"][1], 0, suite)
    content = inner.rstrip(b"\0")
    assert content.endswith(b"\x17") and content[:-1] == message

    reply = b"retreat at noon"
    srv.conn.send(reply)
    inner = decrypt_record(one_record(srv.outgoing.read()), keys["SERVER_TRAFFIC_SECRET_0"][1], 0, suite)
    assert inner.rstrip(b"\0") == reply + b"\x17"

    # the second record uses sequence number 1, and the wrong secret fails
    cli.conn.send(b"again")
    record = one_record(cli.outgoing.read())
    assert decrypt_record(record, keys["CLIENT_TRAFFIC_SECRET_0"][1], 1, suite) == b"again\x17"
    with pytest.raises(Exception):
        decrypt_record(record, keys["SERVER_TRAFFIC_SECRET_0"][1], 1, suite)


def test_hkdf_expand_label_known_answer():
    """RFC 8448 (simple 1-RTT): client handshake key/iv from its traffic secret."""
    secret = bytes.fromhex("b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21")
    assert hkdf_expand_label(secret, b"key", b"", 16, hashlib.sha256).hex() == \
        "dbfaa693d1762c5b666af5d950258d01"
    assert hkdf_expand_label(secret, b"iv", b"", 12, hashlib.sha256).hex() == \
        "5bd3c71b836e0b76bb73265f"


def test_key_log_file_appends_with_mode_0600(tmp_path):
    from s2n._keylog import KeyLogFile

    path = tmp_path / "keys.log"
    old = os.umask(0)
    try:
        log = KeyLogFile(path)
    finally:
        os.umask(old)
    log(None, b"CLIENT_RANDOM aa bb")
    log(None, b"EXPORTER_SECRET cc dd\n")
    log.close()
    log(None, b"after close: ignored")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = KeyLogFile(path)
    again(None, b"X y z")
    again.close()
    assert path.read_bytes() == b"CLIENT_RANDOM aa bb\nEXPORTER_SECRET cc dd\nX y z\n"


# the command line


@pytest.fixture
def _neutral_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # as test_cli: import the installed package


def test_cli_help_names_sslkeylogfile_as_insecure(_neutral_cwd):
    for cmd in ("client", "server"):
        out = subprocess.run([sys.executable, "-m", "s2n", cmd, "--help"], capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0
        text = " ".join(out.stdout.split())
        assert "SSLKEYLOGFILE" in text and "INSECURE" in text and "0600" in text


def test_cli_client_and_server_write_sslkeylogfile(pki, tmp_path, monkeypatch, _neutral_cwd):
    from test_cli import Server, client

    srv_log, cli_log = tmp_path / "server-keys.log", tmp_path / "client-keys.log"
    monkeypatch.setenv("SSLKEYLOGFILE", str(srv_log))
    srv = Server(pki, "--echo", tmp_path=tmp_path)
    try:
        monkeypatch.setenv("SSLKEYLOGFILE", str(cli_log))
        out = client(pki, srv.port, "-q", data=b"hello keylog")
        assert out.returncode == 0, out.stderr
        assert out.stdout == b"hello keylog"
    finally:
        srv.stop()
    ckeys = parse(cli_log.read_text().splitlines())
    assert set(ckeys) == LABELS, "one connection: each secret once"
    assert len({random for random, _ in ckeys.values()}) == 1
    assert parse(srv_log.read_text().splitlines()) == ckeys
    for f in (srv_log, cli_log):
        assert stat.S_IMODE(os.stat(f).st_mode) == 0o600


def test_cli_unwritable_sslkeylogfile_is_a_one_line_error(pki, tmp_path, monkeypatch, _neutral_cwd):
    monkeypatch.setenv("SSLKEYLOGFILE", str(tmp_path / "missing-dir" / "keys.log"))
    out = subprocess.run([sys.executable, "-m", "s2n", "client", "--ca-file", str(pki.path("ca.pem")),
                          "127.0.0.1", "9"], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "SSLKEYLOGFILE=" in out.stderr and len(out.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("flag", ["-tls1_3", "-tls1_2"])
def test_cli_key_log_matches_openssl_s_server(pki, tmp_path, monkeypatch, _neutral_cwd, flag):
    """Interop: the CLI client's SSLKEYLOGFILE lines equal those openssl
    s_server writes (-keylogfile) for the same connection."""
    from conftest import free_port
    from test_cli import PY, _drive

    ours, theirs = tmp_path / "s2n-keys.log", tmp_path / "openssl-keys.log"
    port = free_port()
    with subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", flag,
                           "-cert", str(pki.path("server.pem")), "-key", str(pki.path("server.key")),
                           "-keylogfile", str(theirs), "-rev"],
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL) as srv:
        try:
            for line in iter(srv.stdout.readline, b""):  # ACCEPT once ready
                if b"ACCEPT" in line:
                    break
            monkeypatch.setenv("SSLKEYLOGFILE", str(ours))
            got, err = _drive([*PY, "client", "--ca-file", str(pki.path("ca.pem")), "localhost",
                               str(port)], b"key log\n", 8, timeout=30)
        finally:
            srv.kill()
    assert got == b"gol yek\n", err
    mine = set(ours.read_text().splitlines())
    openssl = {line for line in theirs.read_text().splitlines() if line and not line.startswith("#")}
    if flag == "-tls1_3":
        assert {line.split()[0] for line in mine} == LABELS
    else:
        assert len(mine) == 1 and next(iter(mine)).startswith("CLIENT_RANDOM ")
    assert mine == openssl
