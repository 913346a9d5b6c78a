"""s2nc/s2nd flags for legacy peers and special modes (issue 16):
renegotiation, NPN, DHE, serialization, the https mode, --parallelize.
Each case is one the upstream integration suite runs (test_renegotiate.py,
test_npn.py, test_happy_path.py's DHE suites, test_serialization.py), with
the lines it checks."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from _toolprocs import TIMEOUT, free_port, s2nc, s2nd, s_client, s_server  # noqa: F401

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")

RENEG_REQUEST = b"SSL_accept:SSLv3/TLS write hello request"  # s_server -state


def _reneg_pair(procs, pki, *flags: str, command: bytes = b"r\n"):
    """s2nc (TLS 1.2, a client certificate at hand) against s_server; the
    client sends, the server asks for a renegotiation, then sends (with
    "wait", once the client is waiting: the data then arrives in the middle
    of the new handshake)."""
    port = free_port()
    server = s_server(procs, pki, port, "-tls1_2", "-state", "-naccept", "1", cert="server-rsa")
    client = s2nc(procs, pki, port, "-e", "-l", str(pki.path("client.pem")), "-k", str(pki.path("client.key")),
                  *flags)
    client.wait_for(b"s2n is ready")
    client.send(b"CLIENT:1\n")
    server.wait_for(b"CLIENT:1")
    server.send(command)
    server.wait_for(RENEG_REQUEST)
    if "wait" in flags:
        client.wait_for(b"RENEGOTIATE")
    server.send(b"SERVER:1\n")
    return client, server


def test_s2nc_ignores_hello_request_by_default(procs, pki):
    client, server = _reneg_pair(procs, pki)
    client.wait_for(b"SERVER:1")
    client.send(b"CLIENT:2\n")
    server.wait_for(b"CLIENT:2")
    client.close_stdin()
    assert client.finish() == 0, client.text()
    assert "RENEGOTIATE" not in client.stdout
    assert b"no renegotiation" not in server.err


def test_s2nc_rejects_hello_request(procs, pki):
    client, server = _reneg_pair(procs, pki, "--renegotiation", "reject")
    client.wait_for(b"SERVER:1")
    client.send(b"CLIENT:2\n")  # s2n-tls sends its no_renegotiation alert with the next write
    server.wait_for(b"SSL3 alert read:warning:no renegotiation")
    client.close_stdin()
    client.finish()
    assert "RENEGOTIATE" not in client.stdout


@pytest.mark.parametrize("mode", ["accept", "wait"])
def test_s2nc_renegotiates_with_openssl(procs, pki, mode):
    client, server = _reneg_pair(procs, pki, "--renegotiation", mode)
    client.wait_for(b"s2n is ready, again")
    client.wait_for(b"SERVER:1")
    client.send(b"CLIENT:2\n")
    server.wait_for(b"CLIENT:2")
    server.send(b"SERVER:2\n")
    client.wait_for(b"SERVER:2")
    client.close_stdin()
    assert client.finish() == 0, client.text()
    out = client.stdout
    start, again = out.index("RENEGOTIATE\n"), out.index("s2n is ready, again\n")
    assert out.count("CONNECTED:") == 2
    assert start < out.index("CONNECTED:", start) < again
    if mode == "wait":  # the server's data arrived during the new handshake
        assert start < out.index("SERVER:1") < again


def test_s2nc_renegotiation_with_client_auth(procs, pki):
    """s_server's R: the new handshake asks for a client certificate."""
    client, server = _reneg_pair(procs, pki, "--renegotiation", "wait", command=b"R\n")
    client.wait_for(b"s2n is ready, again")
    client.close_stdin()
    assert client.finish() == 0, client.text()
    out = client.stdout
    first, second = out.split("RENEGOTIATE\n")
    assert "|CLIENT_AUTH" not in first
    assert "|CLIENT_AUTH" in second and "NO_CLIENT_CERT" not in second
    assert "Client signature negotiated:" in second


# --- NPN ------------------------------------------------------------------

@pytest.mark.parametrize("server_list,expected", [("http/1.1,h2,h3", "http/1.1"), ("h2,h3,http/1.1", "h2"),
                                                  ("spdy", "http/1.1")])
def test_s2nc_npn_with_openssl(procs, pki, server_list, expected):
    port = free_port()
    server = s_server(procs, pki, port, "-tls1_2", "-naccept", "1", "-nextprotoneg", server_list)
    client = s2nc(procs, pki, port, "-e", "--alpn", "http/1.1,h2,h3", "--npn")
    client.wait_for(b"s2n is ready")
    server.wait_for(b"NEXTPROTO is " + expected.encode())
    client.close_stdin()
    assert client.finish() == 0, client.text()
    assert "|WITH_NPN" in client.stdout
    assert f"Application protocol: {expected}\n" in client.stdout


@pytest.mark.parametrize("client_list,marker", [("http/1.1,h2,h3", b"Next protocol: (1) http/1.1"),
                                                ("spdy", b"Next protocol: (2) spdy")])
def test_s2nd_npn_with_openssl(procs, pki, client_list, marker):
    port = free_port()
    server = s2nd(procs, pki, port, "--alpn", "http/1.1", "--npn")
    client = s_client(procs, pki, port, "-tls1_2", "-nextprotoneg", client_list)
    client.wait_for(marker)
    server.wait_for(b"s2n is ready")
    client.close_stdin()
    assert server.finish() == 0, server.text()
    assert "|WITH_NPN" in server.stdout
    assert f"Application protocol: {client_list.split(',')[0]}\n" in server.stdout


# --- DHE (s2nd's built-in ffdhe2048 parameters) ---------------------------------

@pytest.mark.parametrize("cipher", ["DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-SHA256"])
def test_s2nd_negotiates_dhe_with_openssl(procs, pki, cipher):
    port = free_port()
    server = s2nd(procs, pki, port, "-c", "test_all", cert="server-rsa")
    client = s_client(procs, pki, port, "-tls1_2", "-cipher", cipher)
    server.wait_for(b"s2n is ready")
    client.wait_for(b"Server Temp Key: DH, 2048 bits")
    client.close_stdin()
    assert server.finish() == 0, server.text()
    assert f"Cipher negotiated: {cipher}\n" in server.stdout


def test_dhparams_are_ffdhe2048():
    from s2n._legacy import ffdhe2048_pem

    r = subprocess.run(["openssl", "pkeyparam", "-text", "-noout"], input=ffdhe2048_pem(),
                       capture_output=True, timeout=TIMEOUT)
    assert b"ffdhe2048" in r.stdout, r.stdout + r.stderr


# --- serialization (both peers, as the suite does) ----------------------------

@pytest.mark.parametrize("policy,version", [("default_tls13", "34"), ("20170210", "33")])
def test_serialize_then_deserialize_both_peers(procs, pki, tmp_path, policy, version):
    server_state, client_state = tmp_path / "server_state", tmp_path / "client_state"
    port = free_port()
    server = s2nd(procs, pki, port, "-c", policy, "--serialize-out", str(server_state), cert="server-rsa")
    client = s2nc(procs, pki, port, "-e", "-c", policy, "--serialize-out", str(client_state))
    client.wait_for(b"s2n is ready")
    server.wait_for(b"s2n is ready")
    client.close_stdin()
    assert client.finish() == 0, client.text()
    assert server.finish() == 0, server.text()
    for p in (client, server):
        assert f"Actual protocol version: {version}\n" in p.stdout
    assert server_state.stat().st_size > 0 and client_state.stat().st_size > 0

    port = free_port()
    server = s2nd(procs, pki, port, "--deserialize-in", str(server_state), cert="server-rsa")
    client = s2nc(procs, pki, port, "-e", "--deserialize-in", str(client_state))
    client.wait_for(b"Connected to localhost")
    client.send(b"client data after deserializing\n")
    server.wait_for(b"client data after deserializing")
    server.send(b"server data after deserializing\n")
    client.wait_for(b"server data after deserializing")
    client.close_stdin()
    assert client.finish() == 0, client.text()
    assert server.finish() == 0, server.text()
    for p in (client, server):  # no handshake: no report
        assert "Actual protocol version" not in p.stdout


# --- the https mode and --parallelize -------------------------------------------

@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_s2nd_https_server_answers_curl(procs, pki):
    port = free_port()
    server = s2nd(procs, pki, port, "-w")
    r = subprocess.run(["curl", "-sS", "--cacert", str(pki.path("ca.pem")), f"https://localhost:{port}/"],
                       capture_output=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b"<html><body><h1>Hello from s2n server</h1><pre>")
    assert b"Actual protocol version: 34\n" in r.stdout
    assert b"Session resumption: false\n" in r.stdout
    assert server.finish() == 0, server.text()
    assert server.stdout.startswith("Running s2nd in simple https server mode\n")


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_s2nd_https_bench_sends_the_bytes(procs, pki, tmp_path):
    port = free_port()
    server = s2nd(procs, pki, port, "-w", "-b", "300000")
    body = tmp_path / "body"
    r = subprocess.run(["curl", "-sS", "--cacert", str(pki.path("ca.pem")), "-o", str(body),
                        f"https://localhost:{port}/"], capture_output=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    assert body.read_bytes() == bytes(300000)
    assert server.finish() == 0, server.text()
    assert "Sending 300000 bytes...\nDone. Closing connection.\n" in server.stdout


def test_s2nd_parallelize_serves_a_second_client_while_the_first_is_open(procs, pki):
    port = free_port()
    server = s2nd(procs, pki, port, "--parallelize")
    first = s2nc(procs, pki, port, "-e")
    first.wait_for(b"s2n is ready")
    second = s2nc(procs, pki, port, "-e")
    second.wait_for(b"s2n is ready")  # the first connection is still open
    for client in (second, first):
        client.send(b"hello\n")
    server.wait_for(b"hello", count=2)
    for client in (second, first):
        client.close_stdin()
        assert client.finish() == 0, client.text()
    assert server.stdout.count("s2n is ready") == 2
    assert server.p.poll() is None  # the acceptor goes on, as upstream's
