"""s2nc/s2nd (issue 16) as subprocesses (`python -m s2n s2nc|s2nd`) against
openssl s_client/s_server and each other, checking the lines s2n-tls's
integration suite (tests/integrationv2) parses."""

from __future__ import annotations

import shutil
import sys
import subprocess
import time

import pytest

from _toolprocs import (PSK_HEX, TIMEOUT, TOOL, Proc, free_port, s2nc, s2nd,  # noqa: F401
                        s_client, s_server)
from test_ocsp import OcspPKI

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")

PROTOCOLS = [("-tls1_2", "33", "default", "ECDHE-ECDSA-AES128-GCM-SHA256"),
             ("-tls1_3", "34", "default_tls13", "TLS_AES_128_GCM_SHA256"),
             ("-tls1_2", "33", "20240501", "ECDHE-ECDSA-AES256-GCM-SHA384"),
             ("-tls1_3", "34", "20240503", "TLS_AES_256_GCM_SHA384")]


# --- happy path ----------------------------------------------------------

@pytest.mark.parametrize("proto,version,policy,cipher", PROTOCOLS)
def test_s2nd_serves_openssl(procs, pki, proto, version, policy, cipher):
    port = free_port()
    server = s2nd(procs, pki, port, "-c", policy)
    ossl = ["-cipher", cipher] if proto == "-tls1_2" else ["-ciphersuites", cipher]
    client = s_client(procs, pki, port, proto, *ossl)
    server.wait_for(b"s2n is ready")
    client.wait_for(b"Verify return code")
    client.send(b"from openssl\n")
    server.wait_for(b"from openssl")
    server.send(b"from s2nd\n")
    client.wait_for(b"from s2nd")
    client.close_stdin()
    assert server.finish() == 0, server.text()
    out = server.stdout
    assert f"Actual protocol version: {version}\n" in out
    assert f"Cipher negotiated: {cipher}\n" in out
    assert "Handshake: NEGOTIATED|FULL_HANDSHAKE" in out
    assert "Early Data status: NOT REQUESTED\n" in out
    assert len(out.split("\nJA3: ")[1].split("\n")[0]) == 32  # s2nd only: the client's JA3 hash
    assert "Server signature negotiated: ECDSA+SHA256\n" in out
    assert "Client signature negotiated" not in out
    assert "Client hello version: 33\n" in out
    assert out.index("CONNECTED:") < out.index("s2n is ready") < out.index("from openssl")


@pytest.mark.parametrize("proto,version,policy,cipher", PROTOCOLS)
def test_s2nc_connects_to_openssl(procs, pki, proto, version, policy, cipher):
    port = free_port()
    ossl = ["-cipher", cipher] if proto == "-tls1_2" else ["-ciphersuites", cipher]
    server = s_server(procs, pki, port, proto, *ossl, "-naccept", "1")
    client = s2nc(procs, pki, port, "-e", "-c", policy)
    client.wait_for(b"s2n is ready")
    client.send(b"from s2nc\n")
    server.wait_for(b"from s2nc")
    server.send(b"from openssl\n")
    client.wait_for(b"from openssl")
    client.close_stdin()
    assert client.finish() == 0, client.text()
    out = client.stdout
    assert f"Actual protocol version: {version}\n" in out
    assert f"Cipher negotiated: {cipher}\n" in out
    assert "Connected to localhost:" in out
    assert "Server name: localhost\n" in out


def test_s2nc_to_s2nd(procs, pki):
    port = free_port()
    server = s2nd(procs, pki, port, "-c", "default_tls13")
    client = s2nc(procs, pki, port, "-e", "-c", "default_tls13")
    client.wait_for(b"s2n is ready")
    server.wait_for(b"s2n is ready")
    client.send(b"ping\n")
    server.wait_for(b"ping")
    server.send(b"pong\n")
    client.wait_for(b"pong")
    client.close_stdin()
    assert client.finish() == 0, client.text()
    assert server.finish() == 0, server.text()
    assert "Actual protocol version: 34\n" in server.stdout


@pytest.mark.parametrize("proto,signature", [("-tls1_3", "RSA-PSS-RSAE+SHA256"), ("-tls1_2", None)])
def test_rsa_certificate_signature(procs, pki, proto, signature):
    port = free_port()
    server = s_server(procs, pki, port, proto, "-naccept", "1", cert="server-rsa")
    client = s2nc(procs, pki, port, "-e")
    client.wait_for(b"s2n is ready")
    client.close_stdin()
    assert client.finish() == 0, client.text()
    line = [x for x in client.stdout.splitlines() if x.startswith("Server signature negotiated: ")]
    assert len(line) == 1
    if signature:
        assert line[0].endswith(signature)
    else:
        assert line[0].split(": ")[1].split("+")[0] in ("RSA", "RSA-PSS-RSAE")


# --- client authentication, ALPN, SNI ---------------------------------------

def test_s2nd_mutual_auth_with_openssl(procs, pki):
    port = free_port()
    server = s2nd(procs, pki, port, "-c", "default_tls13", "-m", "-t", str(pki.path("ca.pem")))
    client = s_client(procs, pki, port, "-tls1_3", "-cert", str(pki.path("client.pem")),
                      "-key", str(pki.path("client.key")))
    server.wait_for(b"s2n is ready")
    client.close_stdin()
    assert server.finish() == 0, server.text()
    assert "|CLIENT_AUTH" in server.stdout
    assert "Client signature negotiated: ECDSA+SHA256\n" in server.stdout


def test_s2nd_mutual_auth_rejects_a_client_without_certificate(procs, pki):
    port = free_port()
    server = s2nd(procs, pki, port, "-c", "default_tls13", "-m", "-t", str(pki.path("ca.pem")))
    client = s_client(procs, pki, port, "-tls1_3")
    client.close_stdin()
    rc = server.finish()
    assert rc != 0
    assert b"Failed to negotiate" in server.err


@pytest.mark.parametrize("proto", ["-tls1_2", "-tls1_3"])
def test_s2nc_client_certificate_to_openssl(procs, pki, proto):
    port = free_port()
    server = s_server(procs, pki, port, proto, "-naccept", "1", "-Verify", "1",
                      "-CAfile", str(pki.path("ca.pem")))
    client = s2nc(procs, pki, port, "-e", "-c", "default_tls13", "--cert", str(pki.path("client.pem")),
                  "--key", str(pki.path("client.key")))
    client.wait_for(b"s2n is ready")
    client.close_stdin()
    assert client.finish() == 0, client.text()
    assert "|CLIENT_AUTH" in client.stdout
    server.wait_for(b"subject=CN = client")  # s_server prints the verified client certificate


def test_alpn_both_ways(procs, pki):
    port = free_port()
    server = s_server(procs, pki, port, "-naccept", "1", "-alpn", "http/1.1")
    client = s2nc(procs, pki, port, "-e", "-a", "h2,http/1.1")
    client.wait_for(b"s2n is ready")
    client.close_stdin()
    assert client.finish() == 0, client.text()
    assert "Application protocol: http/1.1\n" in client.stdout

    port = free_port()
    server = s2nd(procs, pki, port, "-A", "h2")
    sc = s_client(procs, pki, port, "-alpn", "h2")
    server.wait_for(b"s2n is ready")
    sc.wait_for(b"ALPN protocol: h2")
    sc.close_stdin()
    assert server.finish() == 0, server.text()
    assert "Application protocol: h2\n" in server.stdout


def test_sni(procs, pki):
    port = free_port()
    server = s2nd(procs, pki, port)
    client = s_client(procs, pki, port, "-servername", "example.test")
    server.wait_for(b"s2n is ready")
    client.close_stdin()
    assert server.finish() == 0, server.text()
    assert "Server name: example.test\n" in server.stdout

    port = free_port()
    server = s2nd(procs, pki, port)
    client = s2nc(procs, pki, port, "-n", "other.test", host="localhost")  # verified against the host
    client.close_stdin()
    assert client.finish() == 0, client.text()
    server.wait_for(b"Server name: other.test\n")


# --- resumption -----------------------------------------------------------

@pytest.mark.parametrize("proto", ["-tls1_2", "-tls1_3"])
def test_s2nc_reconnect_resumes_with_openssl(procs, pki, proto):
    port = free_port()
    s_server(procs, pki, port, proto)
    client = s2nc(procs, pki, port, "-r")
    client.close_stdin()
    assert client.finish() == 0, client.text()
    assert client.stdout.count("Connected to localhost:") == 6
    assert client.stdout.count("Resumed session\n") == 5


# OpenSSL 3's s_client -reconnect does not resume TLS 1.3 sessions (not even
# with s_server): it reconnects before the post-handshake ticket arrives.
# TLS 1.3 resumption by openssl is covered with -sess_out/-sess_in below.
@pytest.mark.parametrize("proto", ["-tls1_2"])
def test_s2nd_resumes_openssl_reconnect(procs, pki, proto):
    port = free_port()
    server = s2nd(procs, pki, port, "--max-conns=6")
    client = s_client(procs, pki, port, proto, "-reconnect")
    client.close_stdin()
    assert server.finish() == 0, server.text()
    assert server.stdout.count("s2n is ready") == 6
    assert server.stdout.count("Resumed session\n") == 5


def test_s2nc_reconnect_to_s2nd(procs, pki):
    port = free_port()
    server = s2nd(procs, pki, port, "--max-conns=6", "-c", "default_tls13")
    client = s2nc(procs, pki, port, "-r", "-c", "default_tls13")
    client.close_stdin()
    assert client.finish() == 0, client.text()
    assert server.finish() == 0, server.text()
    assert client.stdout.count("Resumed session\n") == 5
    assert server.stdout.count("Resumed session\n") == 5


def test_s2nc_without_tickets_resumes_with_session_id(procs, pki):
    port = free_port()
    s_server(procs, pki, port, "-tls1_2")
    client = s2nc(procs, pki, port, "-r", "-T")
    client.close_stdin()
    assert client.finish() == 0, client.text()
    assert client.stdout.count("Resumed session\n") == 5
    assert "WITH_SESSION_TICKET" not in client.stdout


def test_s2nd_session_id_cache_resumes_s2nc(procs, pki):
    """s2nd keeps a session-ID cache (tickets off with -T) and, like
    upstream's, prints each session ID it finds there."""
    port = free_port()
    server = s2nd(procs, pki, port, "-T", "-c", "20170210", "-X6", cert="server-rsa")
    client = s2nc(procs, pki, port, "-r", "-T", "-c", "20170210")
    client.close_stdin()
    assert client.finish() == 0, client.text()
    assert server.finish() == 0, server.text()
    assert client.stdout.count("Resumed session\n") == 5
    hits = [line for line in server.stdout.splitlines() if len(line) == 64 and set(line) <= set("0123456789abcdef")]
    assert len(hits) == 5 and len(set(hits)) == 1  # one session, resumed five times


# --- key update -----------------------------------------------------------

def test_openssl_client_requests_key_update_from_s2nd(procs, pki):
    port = free_port()
    server = s2nd(procs, pki, port, "-c", "default_tls13")
    client = s_client(procs, pki, port, "-tls1_3", "-state")
    server.wait_for(b"s2n is ready")
    client.wait_for(b"Verify return code")
    client.send(b"K\n")
    client.wait_for(b"KEYUPDATE")
    client.send(b"after the update\n")
    server.wait_for(b"after the update")
    server.send(b"s2nd answers\n")
    client.wait_for(b"s2nd answers")
    client.close_stdin()
    assert server.finish() == 0, server.text()


def test_openssl_server_requests_key_update_from_s2nc(procs, pki):
    port = free_port()
    server = s_server(procs, pki, port, "-tls1_3", "-naccept", "1", "-state")
    client = s2nc(procs, pki, port, "-e", "-c", "default_tls13")
    client.wait_for(b"s2n is ready")
    server.wait_for(b"SSL_accept:SSLv3/TLS write session ticket")
    server.send(b"K\n")
    server.wait_for(b"write server key update")
    server.send(b"data after key update\n")
    client.wait_for(b"data after key update")
    client.send(b"s2nc answers\n")
    server.wait_for(b"read client key update")  # s2n-tls answered the request
    server.wait_for(b"s2nc answers")
    client.close_stdin()
    assert client.finish() == 0, client.text()


# --- early data -------------------------------------------------------------

def test_early_data_s2nc_to_s2nd(procs, pki, tmp_path):
    ticket, early = tmp_path / "ticket", tmp_path / "early"
    early.write_bytes(b"zero-rtt bytes")
    port = free_port()
    server = s2nd(procs, pki, port, "--max-conns=2", "-c", "default_tls13", "-E", "16384")
    first = s2nc(procs, pki, port, "-c", "default_tls13", "--ticket-out", str(ticket))
    first.close_stdin()
    assert first.finish() == 0, first.text()
    assert ticket.stat().st_size > 0
    second = s2nc(procs, pki, port, "-c", "default_tls13", "--ticket-in", str(ticket),
                  "--early-data", str(early))
    second.close_stdin()
    assert second.finish() == 0, second.text()
    assert server.finish() == 0, server.text()
    assert "Early Data received: zero-rtt bytes\n" in server.stdout
    assert "Early Data status: ACCEPTED\n" in server.stdout
    assert "Early Data status: ACCEPTED\n" in second.stdout
    assert "Resumed session\n" in second.stdout
    assert "WITH_EARLY_DATA" in second.stdout


def _wait_file(path, timeout: float = TIMEOUT) -> None:
    end = time.monotonic() + timeout
    while not (path.exists() and path.stat().st_size > 0):
        assert time.monotonic() < end, f"{path} not written"
        time.sleep(0.05)


def test_early_data_openssl_client_to_s2nd(procs, pki, tmp_path):
    sess, early = tmp_path / "sess", tmp_path / "early"
    early.write_bytes(b"openssl early data")
    port = free_port()
    server = s2nd(procs, pki, port, "--max-conns=2", "-c", "default_tls13", "-E", "16384")
    c1 = s_client(procs, pki, port, "-tls1_3", "-sess_out", str(sess))
    server.wait_for(b"s2n is ready")
    _wait_file(sess)  # s_client writes -sess_out when the (post-handshake) ticket arrives
    c1.close_stdin()
    assert c1.finish() == 0, c1.text()
    c2 = s_client(procs, pki, port, "-tls1_3", "-sess_in", str(sess), "-early_data", str(early))
    server.wait_for(b"s2n is ready", count=2)
    c2.close_stdin()
    assert server.finish() == 0, server.text()
    assert "Early Data received: openssl early data\n" in server.stdout
    assert "Early Data status: ACCEPTED\n" in server.stdout


def test_early_data_s2nc_to_openssl_server(procs, pki, tmp_path):
    early = tmp_path / "early"
    early.write_bytes(b"to openssl 0-rtt")
    port = free_port()
    server = s_server(procs, pki, port, "-tls1_3", "-early_data")
    client = s2nc(procs, pki, port, "-r", "-c", "default_tls13", "-E", str(early))
    client.close_stdin()
    assert client.finish() == 0, client.text()
    assert client.stdout.count("Early Data status: ACCEPTED\n") == 5
    server.wait_for(b"to openssl 0-rtt", count=5)


# --- external PSKs ------------------------------------------------------------

def test_psk_s2nc_to_openssl(procs, pki):
    port = free_port()
    server = start_psk_server(procs, port)
    client = s2nc(procs, pki, port, "-e", "-c", "default_tls13", "-P", f"client-psk,{PSK_HEX},SHA256")
    client.wait_for(b"s2n is ready")
    client.send(b"psk data\n")
    server.wait_for(b"psk data")
    client.close_stdin()
    assert client.finish() == 0, client.text()
    assert "Negotiated PSK identity: client-psk\n" in client.stdout
    assert "FULL_HANDSHAKE" not in client.stdout


def start_psk_server(start, port: int) -> Proc:
    p = start(["openssl", "s_server", "-accept", str(port), "-nocert", "-tls1_3", "-naccept", "1",
               "-psk", PSK_HEX, "-psk_identity", "client-psk"])
    p.wait_for(b"ACCEPT")
    return p


def test_psk_openssl_to_s2nd(procs, pki):
    port = free_port()
    server = s2nd(procs, pki, port, "-c", "default_tls13", "--psk", f"client-psk,{PSK_HEX},SHA256")
    client = s_client(procs, pki, port, "-tls1_3", "-psk", PSK_HEX, "-psk_identity", "client-psk")
    server.wait_for(b"s2n is ready")
    client.close_stdin()
    assert server.finish() == 0, server.text()
    assert "Negotiated PSK identity: client-psk\n" in server.stdout


# --- OCSP -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def ocsp(pki, tmp_path_factory):
    return OcspPKI(pki, tmp_path_factory.mktemp("ocsp-tools"))


@pytest.mark.parametrize("policy", ["default", "default_tls13"])
def test_ocsp_s2nc_status_from_s2nd(procs, pki, ocsp, policy):
    der = ocsp.response(pki.path("server.pem"), "good.der")
    port = free_port()
    s2nd(procs, pki, port, "-c", policy, "--ocsp", str(ocsp.path("good.der")))
    client = s2nc(procs, pki, port, "-s", "-c", policy)
    client.close_stdin()
    assert client.finish() == 0, client.text()
    assert f"OCSP response received, length {len(der)}\n" in client.stdout


def test_ocsp_openssl_client_from_s2nd(procs, pki, ocsp):
    ocsp.response(pki.path("server.pem"), "good.der")
    port = free_port()
    server = s2nd(procs, pki, port, "--ocsp", str(ocsp.path("good.der")))
    client = s_client(procs, pki, port, "-status")
    client.wait_for(b"OCSP Response Status: successful")
    client.close_stdin()
    assert server.finish() == 0, server.text()


def test_ocsp_s2nc_status_from_openssl(procs, pki, ocsp):
    der = ocsp.response(pki.path("server.pem"), "good.der")
    port = free_port()
    s_server(procs, pki, port, "-naccept", "1", "-status_file", str(ocsp.path("good.der")))
    client = s2nc(procs, pki, port, "-e", "-s")
    client.wait_for(b"s2n is ready")
    client.close_stdin()
    assert client.finish() == 0, client.text()
    assert f"OCSP response received, length {len(der)}\n" in client.stdout


def test_no_status_without_request(procs, pki, ocsp):
    ocsp.response(pki.path("server.pem"), "good.der")
    port = free_port()
    s2nd(procs, pki, port, "--ocsp", str(ocsp.path("good.der")))
    client = s2nc(procs, pki, port)
    client.close_stdin()
    assert client.finish() == 0, client.text()
    assert "OCSP response received" not in client.stdout


# --- failures and exit codes ------------------------------------------------

def test_untrusted_server_fails_the_handshake(procs, pki):
    port = free_port()
    s2nd(procs, pki, port, cert="rogue")
    client = s2nc(procs, pki, port)
    client.close_stdin()
    assert client.finish() != 0
    assert b"Failed to negotiate" in client.err
    assert "s2n is ready" not in client.stdout


@pytest.mark.parametrize("tool,flag", [("s2nc", "--enter-fips-mode"), ("s2nd", "--enter-fips-mode"),
                                       ("s2nc", "--renegotiation=maybe")])
def test_unsupported_flags_fail_clearly(tool, flag, pki):
    argv = TOOL + [tool, flag]
    if tool == "s2nd":
        argv += ["--cert", str(pki.path("server.pem")), "--key", str(pki.path("server.key"))]
    r = subprocess.run(argv + ["127.0.0.1", "1"], capture_output=True, timeout=TIMEOUT)
    assert r.returncode == 1
    assert len(r.stderr.decode().strip().splitlines()) == 1, r.stderr
    assert r.stdout == b""


@pytest.mark.parametrize("argv", [["s2nc"], ["s2nc", "--bogus", "h"], ["s2nd", "h"],
                                  ["s2nd", "--cert", "x", "h", "1"]])
def test_usage_errors_exit_1(argv):
    r = subprocess.run(TOOL + argv, capture_output=True, timeout=TIMEOUT)
    assert r.returncode == 1
    assert r.stderr


def test_s2nd_without_certificate_serves_a_throwaway_one(procs, pki):
    port = free_port()
    server = procs(TOOL + ["s2nd", "-X", "-s", "127.0.0.1", str(port)])
    server.wait_for(b"Listening on")
    # -i, as the suite's clients do with upstream's test certificate
    client = procs(TOOL + ["s2nc", "-e", "-i", "localhost", str(port)])
    client.wait_for(b"s2n is ready")
    client.close_stdin()
    assert client.finish() == 0, client.text()
    assert server.finish() == 0, server.text()
    assert "Server signature negotiated: ECDSA+SHA256\n" in server.stdout


@pytest.mark.parametrize("tool", ["s2nc", "s2nd"])
def test_buffered_send_below_the_minimum_fails(tool):
    """test_buffered_send.py's first case: 1030 bytes is below s2n-tls's minimum."""
    import socket

    with socket.socket() as listener:  # s2nc connects before it configures, as upstream's
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = str(listener.getsockname()[1]) if tool == "s2nc" else str(free_port())
        r = subprocess.run(TOOL + [tool, "--buffered-send", "1030", "127.0.0.1", port],
                           capture_output=True, timeout=TIMEOUT)
    assert r.returncode != 0
    assert b"Error setting send buffer size" in r.stderr


def test_existing_cli_untouched():
    r = subprocess.run(TOOL + ["client", "--help"], capture_output=True, timeout=TIMEOUT)
    assert r.returncode == 0 and b"--session-in" in r.stdout


def test_console_scripts_installed():
    from importlib.metadata import entry_points

    scripts = {e.name: e.value for e in entry_points(group="console_scripts")}
    assert scripts.get("s2nc") == "s2n.cli.s2nc:main"
    assert scripts.get("s2nd") == "s2n.cli.s2nd:main"


def test_console_scripts_run_from_the_environments_bin(procs, pki):
    """The installed `s2nc`/`s2nd` executables themselves (beside this
    Python), not `python -m s2n`: a handshake between the two."""
    import os

    bindir = os.path.dirname(sys.executable)
    exes = {name: os.path.join(bindir, name) for name in ("s2nc", "s2nd")}
    if not all(os.path.exists(p) for p in exes.values()):
        pytest.skip("the package is not installed in this interpreter's environment (run from a source tree)")
    port = free_port()
    server = procs([exes["s2nd"], "-X", "-s", "--cert", str(pki.path("server.pem")),
                    "--key", str(pki.path("server.key")), "127.0.0.1", str(port)])
    server.wait_for(b"Listening on")
    client = procs([exes["s2nc"], "-e", "-f", str(pki.path("ca.pem")), "localhost", str(port)])
    client.wait_for(b"s2n is ready")
    client.close_stdin()
    assert client.finish() == 0, client.text()
    assert server.finish() == 0, server.text()


@pytest.mark.parametrize("tool", ["s2nc", "s2nd"])
def test_every_flag_of_the_getopt_strings_has_a_setter(tool):
    import importlib

    mod = importlib.import_module(f"s2n.cli.{tool}")
    shorts = {f"-{c}" for c in mod.SHORT if c != ":"}
    longs = {"--" + name.rstrip("=") for name in mod.LONG}
    assert shorts | longs <= set(mod.FLAGS)  # no flag parsed without an effect
    assert set(mod.FLAGS) - (shorts | longs) <= {"-B"}  # (s2nd, like upstream's, has no -B)
