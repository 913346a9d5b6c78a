"""OCSP stapling and SCTs (issue 12): s2n server to s2n client, validation of
real `openssl ocsp` responses by s2n-tls, and interop with openssl."""

from __future__ import annotations

import datetime
import socket
import subprocess
from pathlib import Path

import pytest

import s2n
from conftest import (_issue, _openssl, client_config, connected_pair, free_port, run_both,
                      run_isolated, server_config)

TLS12 = "20170210"  # TLS 1.2 at most, RSA suites: with the RSA server certificate
POLICIES = [pytest.param(None, "server", id="tls13"), pytest.param(TLS12, "server-rsa", id="tls12")]


class OcspPKI:
    """OCSP responses made with `openssl ocsp` for the conftest PKI: a
    delegated responder (OCSPSigning EKU, issued by the test CA), one from
    the other CA, and an index where "revoked" is revoked."""

    def __init__(self, pki, d: Path) -> None:
        self.pki, self.dir = pki, d
        ca, otherca = str(pki.dir / "ca"), str(pki.dir / "otherca")
        ec = ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
        _issue(d, "responder", ec, "DNS:ocsp.test", ca=ca, eku="OCSPSigning")
        _issue(d, "rogue-responder", ec, "DNS:ocsp.test", ca=otherca, eku="OCSPSigning")
        san = "DNS:localhost,IP:127.0.0.1"
        _issue(d, "revoked", ec, san, ca=ca)
        _issue(d, "revoked-rsa", ["rsa:2048"], san, ca=ca)
        _issue(d, "unlisted", ec, san, ca=ca)
        lines = []
        for path, status in ((pki.path("server.pem"), "V"), (pki.path("server-rsa.pem"), "V"),
                             (d / "revoked.pem", "R"), (d / "revoked-rsa.pem", "R")):
            serial = subprocess.run(["openssl", "x509", "-in", str(path), "-noout", "-serial"],
                                    check=True, capture_output=True, text=True).stdout
            serial = serial.strip().split("=", 1)[1]
            revoked = "250101000000Z" if status == "R" else ""
            lines.append(f"{status}\t491231235959Z\t{revoked}\t{serial}\tunknown\t/CN={path.stem}\n")
        (d / "index.txt").write_text("".join(lines))

    def path(self, name: str) -> Path:
        return self.dir / name

    def response(self, cert: Path, out: str, signer: str = "responder", ca: str = "ca") -> bytes:
        """A DER OCSP response for `cert` (issued by the test CA), valid 1 day."""
        rsigner = self.pki.path(f"{signer}.pem") if signer == "ca" else self.dir / f"{signer}.pem"
        _openssl("ocsp", "-index", "index.txt", "-rsigner", str(rsigner),
                 "-rkey", str(rsigner.with_suffix(".key")), "-CA", str(self.pki.path(f"{ca}.pem")),
                 "-issuer", str(self.pki.path("ca.pem")), "-cert", str(cert),
                 "-respout", out, "-ndays", "1", "-noverify", cwd=self.dir)
        return (self.dir / out).read_bytes()


@pytest.fixture(scope="module")
def ocsp(pki, tmp_path_factory) -> OcspPKI:
    return OcspPKI(pki, tmp_path_factory.mktemp("ocsp"))


def _stapling_server(where, der: bytes, cert: str = "server", policy=None) -> s2n.Config:
    """A server config whose certificate `cert` (in `where`: pki or ocsp) staples `der`."""
    cck = s2n.CertChainAndKey(where.path(f"{cert}.pem"), where.path(f"{cert}.key"))
    cck.set_ocsp_data(der)
    cfg = s2n.Config()
    cfg.add_cert_chain_and_key_to_store(cck)
    if policy:
        cfg.set_cipher_preferences(policy)
    cfg.set_max_blinding_delay(0)
    return cfg


def _ocsp_client(pki, policy=None, check: bool = True) -> s2n.Config:
    cfg = client_config(pki, policy=policy)
    cfg.set_status_request_type(s2n.StatusRequestType.OCSP)
    if not check:
        cfg.set_check_stapled_ocsp_response(False)
    return cfg


def _pair(pki, scfg, ccfg):
    a, b = socket.socketpair()
    with a, b:
        return connected_pair(pki, a, b, scfg=scfg, ccfg=ccfg)


def _handshake_error(pki, scfg, ccfg) -> s2n.S2NError:
    with pytest.raises(s2n.S2NError) as ei:
        _pair(pki, scfg, ccfg)
    return ei.value


# s2n server -> s2n client

@pytest.mark.parametrize("policy, cert", POLICIES)
def test_good_response_is_stapled_and_validated(pki, ocsp, policy, cert):
    der = ocsp.response(pki.path(f"{cert}.pem"), f"good-{cert}.der")
    cli, srv = _pair(pki, _stapling_server(pki, der, cert, policy), _ocsp_client(pki, policy))
    assert cli.get_ocsp_response() == der
    assert cli.is_ocsp_stapled() and srv.is_ocsp_stapled()
    want = s2n.ProtocolVersion.TLS1_2 if policy else s2n.ProtocolVersion.TLS1_3
    assert cli.get_actual_protocol_version() == want


def test_response_signed_by_the_ca_itself(pki, ocsp):
    der = ocsp.response(pki.path("server.pem"), "good-by-ca.der", signer="ca")
    cli, _ = _pair(pki, _stapling_server(pki, der), _ocsp_client(pki))
    assert cli.get_ocsp_response() == der


def test_client_that_does_not_ask_gets_nothing(pki, ocsp):
    der = ocsp.response(pki.path("server.pem"), "good.der")
    cli, srv = _pair(pki, _stapling_server(pki, der), client_config(pki))
    assert cli.get_ocsp_response() is None
    assert not cli.is_ocsp_stapled() and not srv.is_ocsp_stapled()


def test_server_without_staple(pki):
    cli, srv = _pair(pki, server_config(pki), _ocsp_client(pki))
    # s2n-tls does not insist on a staple ("must-staple" is not enforced)
    assert cli.get_ocsp_response() is None and not cli.is_ocsp_stapled()


REVOKED = [pytest.param(None, "revoked", id="tls13"), pytest.param(TLS12, "revoked-rsa", id="tls12")]


@pytest.mark.parametrize("policy, cert", REVOKED)
def test_revoked_certificate_fails_the_handshake(pki, ocsp, policy, cert):
    der = ocsp.response(ocsp.dir / f"{cert}.pem", f"{cert}.der")
    scfg = _stapling_server(ocsp, der, cert, policy)
    err = _handshake_error(pki, scfg, _ocsp_client(pki, policy))
    assert err.name == "S2N_ERR_CERT_REVOKED", err
    assert isinstance(err, s2n.ProtocolError)


def test_response_for_another_certificate_fails(pki, ocsp):
    der = ocsp.response(ocsp.dir / "revoked.pem", "other-cert.der")
    err = _handshake_error(pki, _stapling_server(pki, der), _ocsp_client(pki))
    assert err.name == "S2N_ERR_CERT_UNTRUSTED", err


def test_response_from_an_untrusted_responder_fails(pki, ocsp):
    # signed by a responder of the other CA: not in the client's trust store
    der = ocsp.response(pki.path("server.pem"), "rogue.der", signer="rogue-responder")
    err = _handshake_error(pki, _stapling_server(pki, der), _ocsp_client(pki))
    assert err.name == "S2N_ERR_CERT_UNTRUSTED", err


def test_unknown_certificate_status_fails(pki, ocsp):
    # "unlisted" is not in the responder's index: status "unknown"
    der = ocsp.response(ocsp.dir / "unlisted.pem", "unknown.der")
    err = _handshake_error(pki, _stapling_server(ocsp, der, "unlisted"), _ocsp_client(pki))
    assert err.name == "S2N_ERR_CERT_UNTRUSTED", err


def _timed_response(pki, ocsp, this_update, next_update) -> bytes:
    """A good response with chosen times (`openssl ocsp` cannot backdate):
    built with the `cryptography` package when it is installed."""
    ocsp_mod = pytest.importorskip("cryptography.x509.ocsp")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    load = x509.load_pem_x509_certificate
    responder = load(ocsp.path("responder.pem").read_bytes())
    key = serialization.load_pem_private_key(ocsp.path("responder.key").read_bytes(), None)
    builder = ocsp_mod.OCSPResponseBuilder().add_response(
        cert=load(pki.path("server.pem").read_bytes()), issuer=load(pki.path("ca.pem").read_bytes()),
        algorithm=hashes.SHA1(), cert_status=ocsp_mod.OCSPCertStatus.GOOD,
        this_update=this_update, next_update=next_update, revocation_time=None,
        revocation_reason=None,
    ).responder_id(ocsp_mod.OCSPResponderEncoding.HASH, responder).certificates([responder])
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


MIN, DAY = datetime.timedelta(minutes=1), datetime.timedelta(days=1)


@pytest.mark.parametrize("this_update, next_update, error", [
    (-MIN, DAY, None),
    (-2 * DAY, -DAY, "S2N_ERR_CERT_EXPIRED"),  # past nextUpdate
    (DAY, 2 * DAY, "S2N_ERR_CERT_INVALID"),  # thisUpdate in the future
    (-10 * MIN, None, None),  # no nextUpdate: s2n-tls allows one hour after thisUpdate
    (-120 * MIN, None, "S2N_ERR_CERT_EXPIRED"),
], ids=["fresh", "stale", "future", "no-next-recent", "no-next-old"])
def test_response_times_are_checked(pki, ocsp, this_update, next_update, error):
    now = datetime.datetime.now(datetime.timezone.utc)
    der = _timed_response(pki, ocsp, now + this_update, next_update and now + next_update)
    scfg, ccfg = _stapling_server(pki, der), _ocsp_client(pki)
    if error is None:
        cli, _ = _pair(pki, scfg, ccfg)
        assert cli.get_ocsp_response() == der
    else:
        assert _handshake_error(pki, scfg, ccfg).name == error


def test_garbage_response_fails_unless_check_is_off(pki):
    junk = b"\x30\x03\x02\x01\x00"  # DER, but no OCSPResponse
    err = _handshake_error(pki, _stapling_server(pki, junk), _ocsp_client(pki))
    assert err.name == "S2N_ERR_INVALID_OCSP_RESPONSE", err
    cli, _ = _pair(pki, _stapling_server(pki, junk), _ocsp_client(pki, check=False))
    assert cli.get_ocsp_response() == junk and cli.is_ocsp_stapled()


def test_check_off_lets_the_application_read_a_revoked_response(pki, ocsp):
    der = ocsp.response(ocsp.dir / "revoked.pem", "revoked.der")
    scfg = _stapling_server(ocsp, der, "revoked")
    cli, _ = _pair(pki, scfg, _ocsp_client(pki, check=False))
    assert cli.get_ocsp_response() == der
    out = subprocess.run(["openssl", "ocsp", "-respin", "/dev/stdin", "-resp_text", "-noverify"],
                         input=der, capture_output=True, check=True).stdout
    assert b"Cert Status: revoked" in out


def test_status_request_survives_set_verification_ca_location(pki, ocsp):
    der = ocsp.response(pki.path("server.pem"), "good.der")
    ccfg = s2n.Config()
    ccfg.set_status_request_type(s2n.StatusRequestType.OCSP)
    # (Config resets the type here, undoing s2n-tls turning requests on silently)
    ccfg.set_verification_ca_location(pki.path("ca.pem"))
    ccfg.set_max_blinding_delay(0)
    cli, _ = _pair(pki, _stapling_server(pki, der), ccfg)
    assert cli.get_ocsp_response() == der
    # and, as before, loading a CA file alone does not turn requests on
    plain = s2n.Config()
    plain.set_verification_ca_location(pki.path("ca.pem"))
    plain.set_max_blinding_delay(0)
    cli, _ = _pair(pki, _stapling_server(pki, der), plain)
    assert cli.get_ocsp_response() is None


def test_status_request_none_turns_it_off(pki, ocsp):
    der = ocsp.response(pki.path("server.pem"), "good.der")
    ccfg = _ocsp_client(pki)
    ccfg.set_status_request_type(s2n.StatusRequestType.NONE)
    cli, _ = _pair(pki, _stapling_server(pki, der), ccfg)
    assert cli.get_ocsp_response() is None


# SCTs

def _sct_list() -> bytes:
    """A SignedCertificateTimestampList with one (unsigned, made-up) v1 SCT."""
    sct = (b"\x00" + bytes(range(32)) + (1_700_000_000_000).to_bytes(8, "big") + b"\x00\x00"
           + b"\x04\x03" + b"\x00\x04" + b"sig!")
    item = len(sct).to_bytes(2, "big") + sct
    return len(item).to_bytes(2, "big") + item


@pytest.mark.parametrize("policy, cert", POLICIES)
def test_sct_list_reaches_a_client_that_asks(pki, policy, cert):
    cck = s2n.CertChainAndKey(pki.path(f"{cert}.pem"), pki.path(f"{cert}.key"))
    cck.set_sct_list(_sct_list())
    scfg = s2n.Config()
    scfg.add_cert_chain_and_key_to_store(cck)
    if policy:
        scfg.set_cipher_preferences(policy)
    ccfg = client_config(pki, policy=policy)
    ccfg.set_ct_support_level(s2n.CtSupportLevel.REQUEST)
    cli, _ = _pair(pki, scfg, ccfg)
    assert cli.get_sct_list() == _sct_list()
    cli, _ = _pair(pki, scfg, client_config(pki, policy=policy))
    assert cli.get_sct_list() is None


# the objects

def test_cert_chain_and_key_inputs(pki):
    key = pki.path("server.key")
    assert s2n.CertChainAndKey(pki.path("server.pem"), key).has_private_key
    assert s2n.CertChainAndKey(pki.path("server.pem").read_bytes(), key.read_text())
    with pytest.raises(ValueError, match="no PEM data"):
        s2n.CertChainAndKey(str(pki.path("server.pem")), key)  # a str is PEM text, not a path
    with pytest.raises(TypeError):
        s2n.CertChainAndKey(42)  # type: ignore[arg-type]
    with pytest.raises(s2n.S2NError):  # the key does not match the certificate
        s2n.CertChainAndKey(pki.path("server.pem"), pki.path("client.key"))
    cck = s2n.CertChainAndKey(pki.path("server.pem"), key)
    with pytest.raises(TypeError):
        cck.set_ocsp_data("resp.der")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="PEM"):
        cck.set_ocsp_data(b"-----BEGIN OCSP-----")
    with pytest.raises(ValueError, match="DER"):
        cck.set_ocsp_data(b"hello")
    with pytest.raises(ValueError, match="SignedCertificateTimestampList"):
        cck.set_sct_list(b"\x00\x05abc")
    cck.set_ocsp_data(bytearray(b"\x30\x00"))
    cck.set_ocsp_data(b"")  # removes it
    cck.set_sct_list(memoryview(_sct_list()))
    cck.set_sct_list(b"")
    with pytest.raises(TypeError):
        s2n.Config().add_cert_chain_and_key_to_store(object())  # type: ignore[arg-type]


def test_frozen_once_added(pki):
    cck = s2n.CertChainAndKey(pki.path("server.pem"), pki.path("server.key"))
    assert not cck.frozen
    a, b = s2n.Config(), s2n.Config()
    a.add_cert_chain_and_key_to_store(cck)
    b.add_cert_chain_and_key_to_store(cck)  # shareable
    assert cck.frozen and "frozen" in repr(cck)
    for call in (lambda: cck.set_ocsp_data(b""), lambda: cck.set_sct_list(b"")):
        with pytest.raises(s2n.UsageError) as ei:
            call()
        assert ei.value.name == "S2N_PY_ERR_CHAIN_FROZEN"
    conn = s2n.Connection(s2n.Mode.SERVER, a)
    for call in (lambda: a.add_cert_chain_and_key_to_store(cck),
                 lambda: a.set_status_request_type(s2n.StatusRequestType.OCSP),
                 lambda: a.set_check_stapled_ocsp_response(False),
                 lambda: a.set_ct_support_level(s2n.CtSupportLevel.REQUEST)):
        with pytest.raises(s2n.UsageError):
            call()
    with pytest.raises(ValueError):
        b.set_status_request_type(7)  # type: ignore[arg-type]
    conn.free()


def test_mixes_with_add_cert_chain_and_key(pki, ocsp):
    der = ocsp.response(pki.path("server-rsa.pem"), "good-rsa.der")
    cck = s2n.CertChainAndKey(pki.path("server-rsa.pem"), pki.path("server-rsa.key"))
    cck.set_ocsp_data(der)
    scfg = server_config(pki)  # the EC certificate, added the other way
    scfg.add_cert_chain_and_key_to_store(cck)
    cli, _ = _pair(pki, scfg, _ocsp_client(pki, TLS12))  # RSA suites: the RSA chain
    assert cli.get_ocsp_response() == der
    cli, _ = _pair(pki, scfg, _ocsp_client(pki))  # the EC chain has no staple
    assert cli.get_ocsp_response() is None


def test_public_only_needs_offload(pki):
    cck = s2n.CertChainAndKey(pki.path("server.pem"))
    assert not cck.has_private_key and "public-only" in repr(cck)
    cfg = s2n.Config()
    cfg.add_cert_chain_and_key_to_store(cck)
    with pytest.raises(s2n.S2NError) as ei:  # no async private-key callback on this config
        s2n.Connection(s2n.Mode.SERVER, cfg)
    assert ei.value.name == "S2N_ERR_NO_PRIVATE_KEY"


def test_config_keeps_the_chain_alive(pki):
    run_isolated("""
        cck = s2n.CertChainAndKey(pki.path("server.pem"), pki.path("server.key"))
        cck.set_ocsp_data(b"\\x30\\x03\\x02\\x01\\x00")
        scfg = s2n.Config()
        scfg.add_cert_chain_and_key_to_store(cck)
        scfg.set_max_blinding_delay(0)
        other = s2n.Config()
        other.add_cert_chain_and_key_to_store(cck)
        del cck, other
        gc.collect()
        ccfg = client_config(pki)
        ccfg.set_status_request_type(s2n.StatusRequestType.OCSP)
        ccfg.set_check_stapled_ocsp_response(False)
        for _ in range(3):
            a, b = socket.socketpair()
            cli, srv = connected_pair(pki, a, b, scfg=scfg, ccfg=ccfg)
            assert cli.get_ocsp_response() == b"\\x30\\x03\\x02\\x01\\x00"
            cli.free(); srv.free(); a.close(); b.close()
        del scfg, cli, srv
        gc.collect()
        print("OK")
    """, pki)


def test_getters_from_a_callback(pki, ocsp):
    der = ocsp.response(pki.path("server.pem"), "good.der")
    seen = []
    ccfg = _ocsp_client(pki)
    scfg = _stapling_server(pki, der)
    scfg.set_client_hello_cb(lambda conn: seen.append((conn.get_ocsp_response(), conn.is_ocsp_stapled())))
    _pair(pki, scfg, ccfg)
    assert seen == [(None, False)]


# interop with openssl

def _wait_for_line(proc, marker: bytes, limit: int = 200) -> None:
    for _ in range(limit):
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"openssl exited before {marker!r}: {proc.stderr.read()!r}")
        if marker in line:
            return
    raise AssertionError(f"no {marker!r} from openssl")


@pytest.mark.parametrize("flag", ["-tls1_2", "-tls1_3"])
def test_openssl_s_client_status_against_s2n_server(pki, ocsp, flag):
    der = ocsp.response(pki.path("server.pem"), "good.der")
    scfg = _stapling_server(pki, der)
    with socket.create_server(("127.0.0.1", 0)) as lsock:
        port = lsock.getsockname()[1]

        def server():
            sock, _ = lsock.accept()
            with sock:
                conn = s2n.Connection(s2n.Mode.SERVER, scfg)
                conn.set_fd(sock)
                conn.set_blinding(s2n.Blinding.SELF_SERVICE)
                conn.negotiate()
                stapled = conn.is_ocsp_stapled()
                try:
                    while conn.recv(100):
                        pass
                except s2n.S2NError:
                    pass  # openssl may close without close_notify
                return stapled

        def client():
            return subprocess.run(
                ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost",
                 "-CAfile", str(pki.path("ca.pem")), "-verify_return_error", "-status", flag],
                stdin=subprocess.DEVNULL, capture_output=True, timeout=30)

        stapled, proc = run_both(server, client)
    out = proc.stdout.decode(errors="replace")
    assert stapled
    assert "OCSP Response Status: successful" in out, out + proc.stderr.decode(errors="replace")
    assert "Cert Status: good" in out
    assert "Verify return code: 0 (ok)" in out


@pytest.mark.parametrize("flag, version", [("-tls1_2", s2n.ProtocolVersion.TLS1_2),
                                           ("-tls1_3", s2n.ProtocolVersion.TLS1_3)])
def test_s2n_client_against_openssl_s_server_status_file(pki, ocsp, flag, version):
    der = ocsp.response(pki.path("server.pem"), "good.der")
    port = free_port()
    proc = subprocess.Popen(
        ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(pki.path("server.pem")),
         "-key", str(pki.path("server.key")), "-status_file", str(ocsp.dir / "good.der"), flag, "-rev"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for_line(proc, b"ACCEPT")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.settimeout(None)
            conn = s2n.Connection(s2n.Mode.CLIENT, _ocsp_client(pki))  # validation on
            conn.set_fd(sock)
            conn.set_server_name("localhost")
            conn.negotiate()
            assert conn.get_actual_protocol_version() == version
            assert conn.is_ocsp_stapled()
            assert conn.get_ocsp_response() == der
    finally:
        proc.kill()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()


def test_openssl_s_server_with_revoked_status_file_is_rejected(pki, ocsp):
    # openssl staples a "revoked" response for the certificate it serves
    ocsp.response(ocsp.dir / "revoked.pem", "revoked.der")
    port = free_port()
    proc = subprocess.Popen(
        ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(ocsp.dir / "revoked.pem"),
         "-key", str(ocsp.dir / "revoked.key"), "-status_file", str(ocsp.dir / "revoked.der"), "-rev"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for_line(proc, b"ACCEPT")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.settimeout(None)
            conn = s2n.Connection(s2n.Mode.CLIENT, _ocsp_client(pki))
            conn.set_fd(sock)
            conn.set_server_name("localhost")
            with pytest.raises(s2n.S2NError) as ei:
                conn.negotiate()
            assert ei.value.name == "S2N_ERR_CERT_REVOKED"
    finally:
        proc.kill()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()
