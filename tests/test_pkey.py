"""Private-key offload (issue 14): Config.set_async_pkey_callback, AsyncPkeyOp,
the validation modes, the IO layers waiting on an answer, and the KMS-style
signer example (a TLS server whose process never loads the key)."""

from __future__ import annotations

import asyncio
import gc
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import s2n
from conftest import client_config, free_port, run_both
from test_validation import drive, pair

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
import kms_signer  # noqa: E402

STRICT, FAST = s2n.AsyncPkeyValidationMode.STRICT, s2n.AsyncPkeyValidationMode.FAST


def offload_config(pki, cb, cert="server", mode=STRICT, policy=None):
    """A server Config with the public half only, and `cb` for the key."""
    c = s2n.Config()
    c.add_cert_chain_and_key_to_store(s2n.CertChainAndKey(pki.path(f"{cert}.pem")))
    c.set_async_pkey_callback(cb)
    c.set_async_pkey_validation_mode(mode)
    c.set_max_blinding_delay(0)
    if policy:
        c.set_cipher_preferences(policy)
    return c


@pytest.fixture(scope="module")
def keys(pki):
    return {name: s2n.CertChainAndKey(pki.path(f"{name}.pem"), pki.path(f"{name}.key"))
            for name in ("server", "server-rsa", "rogue")}


def applied_by(cck):
    def cb(conn, op):
        op.perform(cck)
        op.apply(conn)
    return cb


# answering inside the callback


def test_sign_inside_the_callback_ecdsa_tls13(pki, keys):
    seen = []

    def cb(conn, op):
        seen.append((op.get_op_type(), op.get_signature_algorithm(), op.get_hash_algorithm(),
                     len(op.get_input()), op.state))
        op.perform(keys["server"])
        op.apply(conn)
        seen.append(op)

    cli, srv = pair(offload_config(pki, cb), client_config(pki))
    assert drive(cli, srv) == {"client": None, "server": None}
    assert cli.conn.get_actual_protocol_version() == s2n.ProtocolVersion.TLS1_3
    assert seen[0] == (s2n.AsyncPkeyOpType.SIGN, s2n.SignatureAlgorithm.ECDSA,
                       s2n.HashAlgorithm.SHA256, 32, "pending")
    op = seen[1]
    assert op.state == "applied"
    for call in (op.get_input, lambda: op.apply(srv.conn), lambda: op.perform(keys["server"]),
                 lambda: op.set_output(b"x")):
        with pytest.raises(s2n.UsageError):
            call()
    op.free()  # idempotent


def test_set_output_from_an_external_signer_rsa_pss(pki):
    """The signature computed outside s2n-tls (cryptography), checked STRICTly."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    key = serialization.load_pem_private_key(pki.path("server-rsa.key").read_bytes(), None)
    algs = []

    def cb(conn, op):
        algs.append(op.get_signature_algorithm())
        h = {s2n.HashAlgorithm.SHA256: hashes.SHA256(), s2n.HashAlgorithm.SHA384: hashes.SHA384(),
             s2n.HashAlgorithm.SHA512: hashes.SHA512()}[op.get_hash_algorithm()]
        op.set_output(key.sign(op.get_input(), padding.PSS(padding.MGF1(h), h.digest_size), Prehashed(h)))
        op.apply(conn)

    cli, srv = pair(offload_config(pki, cb, cert="server-rsa"), client_config(pki))
    assert drive(cli, srv) == {"client": None, "server": None}
    assert algs == [s2n.SignatureAlgorithm.RSA_PSS_RSAE]


def test_decrypt_tls12_rsa_key_exchange(pki, keys):
    seen = []

    def cb(conn, op):
        seen.append((op.get_op_type(), op.get_signature_algorithm(), len(op.get_input())))
        op.perform(keys["server-rsa"])
        op.apply(conn)

    ccfg = client_config(pki, policy="test_all_rsa_kex")
    cli, srv = pair(offload_config(pki, cb, cert="server-rsa", policy="test_all_rsa_kex"), ccfg)
    assert drive(cli, srv) == {"client": None, "server": None}
    assert seen == [(s2n.AsyncPkeyOpType.DECRYPT, None, 256)]
    assert srv.conn.get_actual_protocol_version() == s2n.ProtocolVersion.TLS1_2


def test_client_certificate_offloaded(pki):
    """Client auth: the client's CertificateVerify is signed through the callback."""
    from test_validation import mtls_configs

    scfg, _ = mtls_configs(pki)
    client_key = s2n.CertChainAndKey(pki.path("client.pem"), pki.path("client.key"))
    ccfg = client_config(pki)
    ccfg.add_cert_chain_and_key_to_store(s2n.CertChainAndKey(pki.path("client.pem")))
    ccfg.set_async_pkey_callback(applied_by(client_key))
    ccfg.set_async_pkey_validation_mode(STRICT)
    cli, srv = pair(scfg, ccfg)
    assert drive(cli, srv) == {"client": None, "server": None}
    assert srv.conn.client_cert_used()


# answering later


def test_deferred_answer_from_another_thread(pki, keys):
    box = []
    cli, srv = pair(offload_config(pki, lambda conn, op: box.append(op)), client_config(pki))
    out = drive(cli, srv)
    assert out["server"].blocked == s2n.Blocked.ON_APPLICATION_INPUT
    op = box[0]
    assert op.state == "pending"
    t = threading.Thread(target=lambda: (op.perform(keys["server"]), op.apply(srv.conn)))
    t.start()
    t.join(10)
    assert op.state == "applied"
    assert drive(cli, srv) == {"client": None, "server": None}


def test_tlssocket_waits_for_a_signer_thread(pki, keys, socketpair):
    a, b = socketpair

    def later(conn, op):
        def answer():
            time.sleep(0.05)  # the handshake really waits
            op.perform(keys["server"])
            op.apply(conn)
        threading.Thread(target=answer, daemon=True).start()

    scfg = offload_config(pki, later)
    a.settimeout(10)
    b.settimeout(10)

    def server():
        with s2n.wrap_socket(a, scfg, server_side=True) as tls:
            tls.sendall(tls.recv(100).upper())

    def client():
        with s2n.wrap_socket(b, client_config(pki), server_hostname="localhost") as tls:
            tls.sendall(b"hello")
            return tls.recv(100)

    assert run_both(server, client) == (None, b"HELLO")


def test_signer_process_over_a_pipe_with_tlssocket(pki):
    """The example's shape, in threads: the key only in the signer process."""
    with kms_signer.SignerProcess(pki.path("server.key")) as signer:
        scfg = kms_signer.offload_config(pki.path("server.pem"), signer)
        scfg.set_max_blinding_delay(0)
        for _ in range(3):  # several handshakes, one signer
            import socket

            a, b = socket.socketpair()
            with a, b:
                a.settimeout(10)
                b.settimeout(10)

                def server():
                    with s2n.wrap_socket(a, scfg, server_side=True) as tls:
                        tls.sendall(tls.recv(100))

                def client():
                    with s2n.wrap_socket(b, client_config(pki), server_hostname="localhost") as tls:
                        tls.sendall(b"ping")
                        return tls.recv(100)

                assert run_both(server, client) == (None, b"ping")


# nothing crashes, nothing blocks


def test_callback_exception_propagates_from_negotiate(pki):
    class Boom(Exception):
        pass

    def cb(conn, op):
        raise Boom("signer unreachable")

    cli, srv = pair(offload_config(pki, cb), client_config(pki))
    out = drive(cli, srv)
    assert isinstance(out["server"], Boom)


def test_callback_returning_garbage_fails_clearly(pki):
    cli, srv = pair(offload_config(pki, lambda conn, op: 42), client_config(pki))
    out = drive(cli, srv)
    assert isinstance(out["server"], TypeError)
    assert "None or an awaitable" in str(out["server"])


def test_async_def_callback_outside_asyncio_is_refused(pki):
    async def cb(conn, op):
        pass

    cli, srv = pair(offload_config(pki, cb), client_config(pki))
    out = drive(cli, srv)
    assert isinstance(out["server"], TypeError) and "s2n.asyncio" in str(out["server"])


def test_answering_twice_raises_usage_error(pki, keys):
    errors = []

    def cb(conn, op):
        op.perform(keys["server"])
        for again in (lambda: op.perform(keys["server"]), lambda: op.set_output(b"sig")):
            with pytest.raises(s2n.UsageError, match="already answered"):
                again()
        op.apply(conn)
        try:
            op.apply(conn)
        except s2n.UsageError as e:
            errors.append(e)

    cli, srv = pair(offload_config(pki, cb), client_config(pki))
    assert drive(cli, srv) == {"client": None, "server": None}
    assert len(errors) == 1


def test_apply_before_answer_and_bad_arguments(pki, keys):
    box = []
    cli, srv = pair(offload_config(pki, lambda conn, op: box.append(op)), client_config(pki))
    drive(cli, srv)
    op = box[0]
    with pytest.raises(s2n.UsageError, match="set_output"):
        op.apply(srv.conn)
    with pytest.raises(s2n.UsageError, match="connection this operation came from"):
        op.apply(cli.conn)
    with pytest.raises(ValueError, match="no private key"):
        op.perform(s2n.CertChainAndKey(pki.path("server.pem")))
    with pytest.raises(TypeError):
        op.perform(b"not a key")
    with pytest.raises(TypeError):
        op.set_output("text")
    with pytest.raises(ValueError):
        op.set_output(b"")
    with pytest.raises(TypeError):
        s2n.AsyncPkeyOp()
    op.perform(keys["server"])  # still answerable after the refusals
    op.apply(srv.conn)
    assert drive(cli, srv) == {"client": None, "server": None}


@pytest.mark.parametrize("inside", [True, False], ids=["in-callback", "later"])
def test_garbage_signature_strict_fails_the_handshake(pki, inside):
    box = []

    def cb(conn, op):
        op.set_output(b"\x30\x06\x02\x01\x01\x02\x01\x01")  # a well-formed but wrong ECDSA signature
        if inside:
            op.apply(conn)
        else:
            box.append(op)

    cli, srv = pair(offload_config(pki, cb), client_config(pki))
    out = drive(cli, srv)
    if not inside:
        with pytest.raises(s2n.ProtocolError, match="S2N_ERR_VERIFY_SIGNATURE"):
            box[0].apply(srv.conn)
        assert box[0].state == "failed"
        out = drive(cli, srv)
    assert isinstance(out["server"], s2n.ProtocolError)
    assert out["server"].name == "S2N_ERR_VERIFY_SIGNATURE"
    if not inside:  # and stays failed: no answer can come any more
        with pytest.raises(s2n.ProtocolError):
            srv.conn.negotiate()


def test_garbage_signature_fast_is_rejected_by_the_peer(pki):
    def cb(conn, op):
        op.set_output(b"\x30\x06\x02\x01\x01\x02\x01\x01")
        op.apply(conn)

    cli, srv = pair(offload_config(pki, cb, mode=FAST), client_config(pki))
    out = drive(cli, srv)
    assert isinstance(out["client"], s2n.ProtocolError)
    assert out["client"].name == "S2N_ERR_VERIFY_SIGNATURE"


def test_wrong_key_strict_fails_in_the_server(pki, keys):
    cli, srv = pair(offload_config(pki, applied_by(keys["rogue"])), client_config(pki))
    out = drive(cli, srv)
    assert out["server"].name == "S2N_ERR_VERIFY_SIGNATURE"


def test_fail_ends_the_handshake_at_once(pki):
    box = []
    cli, srv = pair(offload_config(pki, lambda conn, op: box.append(op)), client_config(pki))
    drive(cli, srv)
    err = ConnectionError("signer down")
    box[0].fail(err)
    assert box[0].state == "failed"
    with pytest.raises(ConnectionError, match="signer down"):
        srv.conn.negotiate()
    with pytest.raises(s2n.UsageError):
        box[0].fail()


def test_stale_op_after_wipe_or_free(pki, keys):
    box = []
    scfg = offload_config(pki, lambda conn, op: box.append(op))
    cli, srv = pair(scfg, client_config(pki))
    drive(cli, srv)
    op = box[0]
    op.perform(keys["server"])
    srv.conn.wipe()
    with pytest.raises(s2n.UsageError, match="no longer waits"):
        op.apply(srv.conn)
    assert op.state == "freed"

    cli, srv = pair(scfg, client_config(pki))
    drive(cli, srv)
    op = box[1]
    op.perform(keys["server"])
    srv.conn.free()
    with pytest.raises(s2n.UsageError):
        op.apply(srv.conn)


def test_never_answered_tlssocket_times_out(pki, socketpair):
    a, b = socketpair
    box = []
    scfg = offload_config(pki, lambda conn, op: box.append(op))
    a.settimeout(0.5)
    b.settimeout(10)
    t0 = time.monotonic()

    def server():
        with pytest.raises(TimeoutError):
            s2n.wrap_socket(a, scfg, server_side=True)
        a.close()

    def client():
        with pytest.raises((s2n.S2NError, OSError)):
            s2n.wrap_socket(b, client_config(pki), server_hostname="localhost")

    run_both(server, client)
    assert time.monotonic() - t0 < 5


def test_dropped_ops_are_freed_without_crashing(pki):
    """An op collected unanswered frees its C op; the connection goes on
    existing and is freed later (either order)."""
    from conftest import run_isolated

    run_isolated("""
        import gc, weakref
        from test_validation import pair, drive
        from test_pkey import offload_config
        refs = []
        for order in range(40):
            box = []
            cli, srv = pair(offload_config(pki, lambda conn, op: box.append(op)), client_config(pki))
            drive(cli, srv)
            refs.append(weakref.ref(box[0]))
            if order % 2:
                srv.conn.free()
                box.clear()
            else:
                box.clear()
                gc.collect()
                srv.conn.free()
        gc.collect()
        assert all(r() is None for r in refs)
        print("OK")
    """, pki)


# s2n.asyncio


def _asyncio_handshake(pki, scfg, handshake_timeout=10.0):
    async def main():
        served = asyncio.get_running_loop().create_future()

        async def on_client(reader, writer):
            writer.write((await reader.read(100)).upper())
            await writer.drain()
            writer.close()
            if not served.done():
                served.set_result(True)

        server = await s2n.asyncio.start_server(on_client, "127.0.0.1", 0, config=scfg,
                                                handshake_timeout=handshake_timeout)
        port = server.sockets[0].getsockname()[1]
        try:
            reader, writer = await asyncio.wait_for(
                s2n.asyncio.open_connection("127.0.0.1", port, config=client_config(pki),
                                            server_hostname="localhost"), 10)
            writer.write(b"hello")
            data = await asyncio.wait_for(reader.read(100), 10)
            writer.close()
            return data
        finally:
            server.close()

    return asyncio.run(main())


def test_asyncio_async_def_callback(pki, keys):
    calls = []

    async def cb(conn, op):
        await asyncio.sleep(0.01)  # the loop keeps serving meanwhile
        out = await asyncio.get_running_loop().run_in_executor(None, _sign_elsewhere, keys, op)
        calls.append(op.get_op_type())
        op.set_output(out)  # the transport applies it

    assert _asyncio_handshake(pki, offload_config(pki, cb)) == b"HELLO"
    assert calls == [s2n.AsyncPkeyOpType.SIGN]


def _sign_elsewhere(keys, op):
    """A stand-in signer: sign the digest with a fresh op-less key object."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    key = serialization.load_pem_private_key(_server_key_pem[0], None)
    return key.sign(op.get_input(), ec.ECDSA(Prehashed(hashes.SHA256())))


_server_key_pem: list = []


@pytest.fixture(autouse=True)
def _key_pem(pki):
    if not _server_key_pem:
        _server_key_pem.append(pki.path("server.key").read_bytes())


def test_asyncio_sync_callback_and_signer_process(pki):
    with kms_signer.SignerProcess(pki.path("server.key")) as signer:
        scfg = kms_signer.offload_config(pki.path("server.pem"), signer, asyncio_callback=True)
        assert _asyncio_handshake(pki, scfg) == b"HELLO"
        # the thread-style callback works under asyncio too (the transport polls)
        scfg = kms_signer.offload_config(pki.path("server.pem"), signer)
        assert _asyncio_handshake(pki, scfg) == b"HELLO"


def test_asyncio_callback_that_raises_or_never_answers(pki, caplog):
    async def raises(conn, op):
        await asyncio.sleep(0)
        raise LookupError("no such key in the KMS")

    async def never(conn, op):
        await asyncio.sleep(3600)

    caplog.set_level(logging.DEBUG, logger="s2n.asyncio")
    for cb, timeout, expect in ((raises, 10.0, "no such key"), (never, 0.3, "did not finish")):
        caplog.clear()
        t0 = time.monotonic()
        with pytest.raises((s2n.S2NError, OSError, asyncio.IncompleteReadError, EOFError)):
            _asyncio_handshake(pki, offload_config(pki, cb), handshake_timeout=timeout)
        assert time.monotonic() - t0 < 8
        assert expect in caplog.text


# the example, end to end: its own server process, s2n and openssl clients


@pytest.fixture(scope="module")
def example_server(pki):
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / "examples" / "kms_signer.py"),
                             "--cert", str(pki.path("server.pem")), "--key", str(pki.path("server.key")),
                             "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # bounded: the module timeout ends a hang
        assert "listening" in line, proc.stderr.read() if proc.poll() is not None else line
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_example_server_with_s2n_client(pki, example_server):
    import socket

    for _ in range(3):
        sock = socket.create_connection(("127.0.0.1", example_server), timeout=10)
        with s2n.wrap_socket(sock, client_config(pki), server_hostname="localhost") as tls:
            tls.sendall(b"offloaded\n")
            assert tls.recv(100) == b"offloaded\n"
            assert tls.version() == "TLSv1.3"


@pytest.mark.parametrize("args", [["-tls1_3"], ["-tls1_2"]], ids=["tls13", "tls12"])
def test_example_server_with_openssl_s_client(pki, example_server, args):
    proc = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{example_server}",
                           "-servername", "localhost", "-CAfile", str(pki.path("ca.pem")),
                           "-verify_return_error", *args],
                          input="ping\n", capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Verify return code: 0 (ok)" in proc.stdout
    assert ("TLSv1.3" if args == ["-tls1_3"] else "TLSv1.2") in proc.stdout


def test_signer_process_decrypts_for_openssl_tls12_rsa_kex(pki):
    """TLS 1.2 RSA key exchange: the premaster secret is decrypted by the signer process."""
    with kms_signer.SignerProcess(pki.path("server-rsa.key")) as signer:
        scfg = kms_signer.offload_config(pki.path("server-rsa.pem"), signer)
        scfg.set_cipher_preferences("test_all_rsa_kex")
        ops = []
        inner = signer.callback
        scfg.set_async_pkey_callback(lambda conn, op: (ops.append(op.get_op_type()), inner(conn, op))[1])
        port = free_port()
        ready = threading.Event()
        t = threading.Thread(target=kms_signer.serve, args=(scfg, "127.0.0.1", port),
                             kwargs={"count": 1, "ready": ready}, daemon=True)
        t.start()
        assert ready.wait(10)
        proc = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}",
                               "-servername", "localhost", "-CAfile", str(pki.path("ca.pem")),
                               "-verify_return_error", "-tls1_2", "-cipher", "AES128-GCM-SHA256"],
                              input="ping\n", capture_output=True, text=True, timeout=30)
        t.join(10)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "AES128-GCM-SHA256" in proc.stdout
    assert ops == [s2n.AsyncPkeyOpType.DECRYPT]


@pytest.mark.bench
def test_bench_script_runs_one_tiny_round(tmp_path):
    out = tmp_path / "pkey.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "pkey_offload.py"), "--seconds", "0.2",
                           "--rounds", "1", "--keys", "ec", "--json", str(out)],
                          capture_output=True, text=True, timeout=100)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    import json

    results = json.loads(out.read_text())["results"]
    assert set(results) == {"ec in-process", "ec perform-in-callback", "ec signer-process"}
    assert all(r["median"] > 0 for r in results.values())
