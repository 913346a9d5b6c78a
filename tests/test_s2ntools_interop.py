"""s2nc/s2nd against GnuTLS, OpenSSL and Java for the remaining cases the
upstream integration suite runs (issue 16): GnuTLS peers
(test_happy_path.py's GnuTLS provider), version negotiation
(test_version_negotiation.py), HelloRetryRequest
(test_hello_retry_requests.py), maximum fragment length and record sizes
(test_fragmentation.py), TLS 1.3 record padding (test_record_padding.py) and
the SSLv2-format ClientHello (test_sslv2_client_hello.py, with Java's
SSLSocket as upstream does)."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

from _toolprocs import free_port, s2nc, s2nd, s_client, s_server  # noqa: F401

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
needs_gnutls = pytest.mark.skipif(shutil.which("gnutls-serv") is None or shutil.which("gnutls-cli") is None,
                                  reason="needs gnutls-bin")

GNUTLS_VERSIONS = [("+VERS-TLS1.2", "33"), ("+VERS-TLS1.3", "34")]


def _gnutls_priority(version: str) -> str:
    return f"NORMAL:-VERS-ALL:{version}"


# --- GnuTLS ---------------------------------------------------------------

@needs_gnutls
@pytest.mark.parametrize("version,number", GNUTLS_VERSIONS)
def test_s2nc_to_gnutls_serv(procs, pki, version, number):
    port = free_port()
    server = procs(["gnutls-serv", "--echo", "-p", str(port), "--priority", _gnutls_priority(version),
                    "--x509certfile", str(pki.path("server.pem")), "--x509keyfile", str(pki.path("server.key"))])
    server.wait_for(b"listening")
    client = s2nc(procs, pki, port, "-e")
    client.wait_for(b"s2n is ready")
    client.send(b"echo me, gnutls\n")
    client.wait_for(b"echo me, gnutls")  # gnutls-serv --echo sends it back
    client.close_stdin()
    assert client.finish() == 0, client.text()
    assert f"Actual protocol version: {number}\n" in client.stdout


@needs_gnutls
@pytest.mark.parametrize("version,number", GNUTLS_VERSIONS)
def test_gnutls_cli_to_s2nd(procs, pki, version, number):
    port = free_port()
    server = s2nd(procs, pki, port)
    client = procs(["gnutls-cli", "-p", str(port), "--priority", _gnutls_priority(version),
                    "--x509cafile", str(pki.path("ca.pem")), "localhost"])
    server.wait_for(b"s2n is ready")
    client.wait_for(b"Handshake was completed")
    client.send(b"from gnutls\n")
    server.wait_for(b"from gnutls")
    server.send(b"from s2nd\n")
    client.wait_for(b"from s2nd")
    client.close_stdin()
    assert server.finish() == 0, server.text()
    assert f"Actual protocol version: {number}\n" in server.stdout


# --- version negotiation ------------------------------------------------------

# OpenSSL 3 refuses TLS 1.0 and 1.1 at its default security level.
OPENSSL_VERSIONS = [("-tls1", "31", ["-cipher", "DEFAULT@SECLEVEL=0"]),
                    ("-tls1_1", "32", ["-cipher", "DEFAULT@SECLEVEL=0"]),
                    ("-tls1_2", "33", []), ("-tls1_3", "34", [])]


@needs_openssl
@pytest.mark.parametrize("flag,number,extra", OPENSSL_VERSIONS)
def test_s2nd_negotiates_the_clients_version(procs, pki, flag, number, extra):
    port = free_port()
    server = s2nd(procs, pki, port, "-c", "test_all")
    client = s_client(procs, pki, port, flag, *extra)
    server.wait_for(b"s2n is ready")
    client.close_stdin()
    assert server.finish() == 0, server.text()
    out = server.stdout
    assert f"Client protocol version: {number}\n" in out
    assert "Server protocol version: 34\n" in out
    assert f"Actual protocol version: {number}\n" in out


@needs_openssl
@pytest.mark.parametrize("flag,number,extra", OPENSSL_VERSIONS)
def test_s2nc_negotiates_the_servers_version(procs, pki, flag, number, extra):
    port = free_port()
    server = s_server(procs, pki, port, flag, *extra, "-naccept", "1")
    client = s2nc(procs, pki, port, "-e", "-c", "test_all")
    client.wait_for(b"s2n is ready")
    client.close_stdin()
    assert client.finish() == 0, client.text()
    out = client.stdout
    assert "Client protocol version: 34\n" in out
    assert f"Server protocol version: {number}\n" in out
    assert f"Actual protocol version: {number}\n" in out


@needs_openssl
def test_s2nd_refuses_a_version_its_policy_lacks(procs, pki):
    port = free_port()
    server = s2nd(procs, pki, port, "-c", "test_all_tls13")  # TLS 1.3 only
    client = s_client(procs, pki, port, "-tls1_2")
    client.close_stdin()
    assert server.finish() == 255
    assert b"Failed to negotiate" in server.err


# --- HelloRetryRequest ----------------------------------------------------------

@needs_openssl
def test_s2nd_sends_hello_retry_request(procs, pki):
    port = free_port()
    server = s2nd(procs, pki, port, "-c", "default_tls13")
    # X448 first: OpenSSL's key share is for it, which s2n-tls does not support.
    client = s_client(procs, pki, port, "-tls1_3", "-groups", "X448:P-256")
    server.wait_for(b"s2n is ready")
    client.close_stdin()
    assert server.finish() == 0, server.text()
    assert "|HELLO_RETRY_REQUEST" in server.stdout
    assert "Curve: secp256r1\n" in server.stdout


@needs_openssl
def test_s2nc_answers_hello_retry_request(procs, pki):
    port = free_port()
    server = s_server(procs, pki, port, "-tls1_3", "-groups", "P-384", "-naccept", "1")
    client = s2nc(procs, pki, port, "-e", "-c", "default_tls13")
    client.wait_for(b"s2n is ready")
    client.close_stdin()
    assert client.finish() == 0, client.text()
    assert "|HELLO_RETRY_REQUEST" in client.stdout
    assert "Curve: secp384r1\n" in client.stdout


# --- fragmentation, record sizes, padding -------------------------------------

BLOCK = os.urandom(6000).hex().encode() + b"\n"  # several 512-byte fragments, several records


@needs_openssl
@pytest.mark.parametrize("mfl", ["512", "1024", "2048", "4096"])
def test_s2nc_max_fragment_length_with_openssl(procs, pki, mfl):
    port = free_port()
    server = s_server(procs, pki, port, "-tls1_2", "-tlsextdebug", "-naccept", "1")
    client = s2nc(procs, pki, port, "-e", "--mfl", mfl)
    client.wait_for(b"s2n is ready")
    server.wait_for(b'TLS client extension "max fragment length"')
    server.send(BLOCK)
    client.wait_for(BLOCK)
    client.send(BLOCK)
    server.wait_for(BLOCK)
    client.close_stdin()
    assert client.finish() == 0, client.text()


@needs_openssl
@pytest.mark.parametrize("flags", [["--enable-mfl"], [], ["--prefer-low-latency"], ["--prefer-throughput"]])
def test_s2nd_record_sizes_with_openssl(procs, pki, flags):
    port = free_port()
    server = s2nd(procs, pki, port, *flags)
    client = s_client(procs, pki, port, "-tls1_2", "-maxfraglen", "512", "-tlsextdebug")
    server.wait_for(b"s2n is ready")
    client.wait_for(b"Verify return code")
    granted = b'TLS server extension "max fragment length"' in client.out
    assert granted == ("--enable-mfl" in flags)  # s2nd grants the request only when told to
    server.send(BLOCK)
    client.wait_for(BLOCK)
    client.send(BLOCK)
    server.wait_for(BLOCK)
    client.close_stdin()
    assert server.finish() == 0, server.text()


@needs_openssl
def test_openssl_record_padding_to_s2nd(procs, pki):
    port = free_port()
    server = s2nd(procs, pki, port, "-c", "default_tls13")
    client = s_client(procs, pki, port, "-tls1_3", "-record_padding", "512")
    server.wait_for(b"s2n is ready")
    client.send(b"padded to 512\n")
    server.wait_for(b"padded to 512")
    server.send(b"unpadded back\n")
    client.wait_for(b"unpadded back")
    client.close_stdin()
    assert server.finish() == 0, server.text()


@needs_openssl
def test_s2nc_reads_padded_records_from_openssl(procs, pki):
    port = free_port()
    server = s_server(procs, pki, port, "-tls1_3", "-record_padding", "1024", "-naccept", "1")
    client = s2nc(procs, pki, port, "-e", "-c", "default_tls13")
    client.wait_for(b"s2n is ready")
    server.send(b"padded to 1024\n")
    client.wait_for(b"padded to 1024")
    client.close_stdin()
    assert client.finish() == 0, client.text()


# --- SSLv2-format ClientHello (Java) ---------------------------------------------

JAVA_CLIENT = Path(__file__).parent / "peers" / "SSLv2HelloClient.java"


@pytest.mark.skipif(shutil.which("java") is None, reason="needs a JDK (java runs the client's source)")
def test_s2nd_accepts_sslv2_client_hello_from_java(procs, pki):
    port = free_port()
    # An SSLv2 ClientHello carries no extensions, so no ECDHE: RSA key exchange.
    server = s2nd(procs, pki, port, "-c", "test_all", cert="server-rsa")
    data = os.urandom(32759).hex().encode()  # 65518 bytes: not a multiple of a block
    client = procs(["java", str(JAVA_CLIENT), "127.0.0.1", str(port), "TLS_RSA_WITH_AES_256_CBC_SHA256"])
    client.wait_for(b"Protocol: TLSv1.2", timeout=60)  # the JVM starts slowly
    client.send(data)
    client.close_stdin()
    assert client.finish(timeout=60) == 0, client.text()
    server.wait_for(data)
    assert server.finish() == 0, server.text()
    out = server.stdout
    assert "Warning: deprecated SSLv2-style ClientHello\n" in out
    assert "Client hello version: 20\n" in out
    assert "Actual protocol version: 33\n" in out
    assert "Cipher negotiated: AES256-SHA256\n" in out
    assert "JA3:" not in out  # no fingerprint of an SSLv2-format hello, as upstream


# --- dynamic record sizes (test_dynamic_record_sizes.py reads them with tcpdump) ---

class RecordRelay:
    """A TCP relay on 127.0.0.1 between a client and a server that notes
    the (type, length) of every TLS record the client sends."""

    def __init__(self, upstream_port: int) -> None:
        import threading

        self.records: list = []
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.listener.settimeout(20)
        self.port = self.listener.getsockname()[1]
        self.upstream_port = upstream_port
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        import threading

        client, _ = self.listener.accept()
        server = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=20)
        client.settimeout(20)

        def back() -> None:
            try:
                while True:
                    data = server.recv(65536)
                    if not data:
                        break
                    client.sendall(data)
            except OSError:
                pass
            client.close()

        threading.Thread(target=back, daemon=True).start()
        pending = b""
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    break
                server.sendall(data)
                pending += data
                while len(pending) >= 5 and len(pending) >= 5 + int.from_bytes(pending[3:5], "big"):
                    size = int.from_bytes(pending[3:5], "big")
                    self.records.append((pending[0], size))
                    pending = pending[5 + size:]
        except OSError:
            pass
        server.shutdown(socket.SHUT_WR)

    def app_data_sizes(self) -> list:
        self.thread.join(20)
        return [size for kind, size in self.records if kind == 23]  # application_data


@needs_openssl
@pytest.mark.parametrize("dynamic", [False, True])
def test_s2nc_record_sizes(procs, pki, tmp_path, dynamic):
    """By default s2nc's records outgrow a 1500-byte MTU (the suite looks
    for such a packet); with -D/-t (dynamic record sizing) it starts with
    records that fit one packet."""
    port = free_port()
    s_server(procs, pki, port, "-tls1_2", "-naccept", "1")
    relay = RecordRelay(port)
    data = tmp_path / "data"
    data.write_bytes(os.urandom(24000).hex().encode())  # 48000 bytes
    flags = ["-D", "100000", "-t", "10"] if dynamic else []
    client = s2nc(procs, pki, relay.port, "--send-file", str(data), *flags)
    assert client.finish() == 0, client.text()
    sizes = relay.app_data_sizes()
    assert sum(sizes) > 48000, sizes  # all of it, with each record's overhead
    if dynamic:
        assert max(sizes) <= 1500 - 40, sizes  # under the threshold: one TCP segment each
    else:
        assert max(sizes) > 1500, sizes
