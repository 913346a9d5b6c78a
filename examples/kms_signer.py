"""Private-key offload: a TLS server whose process never loads its private key.

The key lives in a separate signer process (the stand-in for a KMS, an HSM
or a remote signing service). The server loads only the certificate chain
(`s2n.CertChainAndKey(chain)`, no key) and answers s2n-tls's private-key
operations by asking the signer over a pipe. Validation mode is STRICT: a
signature that does not match the certificate fails the handshake in the
server instead of reaching the client.

    python examples/kms_signer.py --cert server.pem --key server.key --port 8443
    openssl s_client -connect 127.0.0.1:8443 -CAfile ca.pem

Only the signer process (started by the server with the key's *path*) ever
reads the key file. The signer uses the `cryptography` package; a real
deployment replaces `SignerProcess` with its KMS/HSM client and keeps the rest.

Wire format on the pipes (both ways): 4-byte big-endian length, then the
message. Request: id (4 bytes), op (1: 0 decrypt, 1 sign), signature
algorithm (1), hash algorithm (1), input. Reply: id (4), status (1: 0 ok),
output (or a UTF-8 error message).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import os
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Dict, Optional

import s2n

_REQ = struct.Struct("!IBBB")
_REP = struct.Struct("!IB")


def _write_msg(f: IO[bytes], payload: bytes) -> None:
    f.write(struct.pack("!I", len(payload)) + payload)
    f.flush()


def _read_msg(f: IO[bytes]) -> Optional[bytes]:
    head = f.read(4)
    if len(head) < 4:
        return None
    (n,) = struct.unpack("!I", head)
    body = f.read(n)
    return body if len(body) == n else None


# the signer process: the only one that reads the key

def _signer_main(key_path: str) -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    with open(key_path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    hash_of = {s2n.HashAlgorithm.SHA1: hashes.SHA1, s2n.HashAlgorithm.SHA224: hashes.SHA224,
               s2n.HashAlgorithm.SHA256: hashes.SHA256, s2n.HashAlgorithm.SHA384: hashes.SHA384,
               s2n.HashAlgorithm.SHA512: hashes.SHA512}

    def sign(sig: int, hsh: int, digest: bytes) -> bytes:
        h = hash_of[s2n.HashAlgorithm(hsh)]()  # KeyError: MD5_SHA1 (TLS 1.0/1.1) unsupported here
        pre = Prehashed(h)
        if sig == s2n.SignatureAlgorithm.ECDSA and isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(digest, ec.ECDSA(pre))
        if isinstance(key, rsa.RSAPrivateKey):
            if sig == s2n.SignatureAlgorithm.RSA:
                return key.sign(digest, padding.PKCS1v15(), pre)
            if sig in (s2n.SignatureAlgorithm.RSA_PSS_RSAE, s2n.SignatureAlgorithm.RSA_PSS_PSS):
                return key.sign(digest, padding.PSS(padding.MGF1(h), h.digest_size), pre)
        raise ValueError(f"cannot sign with {s2n.SignatureAlgorithm(sig).name} using this key")

    def decrypt(data: bytes) -> bytes:
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("decrypt needs an RSA key")
        try:
            return key.decrypt(data, padding.PKCS1v15())
        except ValueError:
            # Never tell the peer that padding was wrong (Bleichenbacher):
            # s2n-tls goes on with a random premaster, and the handshake fails later.
            return os.urandom(48)

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        msg = _read_msg(stdin)
        if msg is None:
            return  # the server went away
        rid, op, sig, hsh = _REQ.unpack_from(msg)
        data = msg[_REQ.size:]
        try:
            out = decrypt(data) if op == s2n.AsyncPkeyOpType.DECRYPT else sign(sig, hsh, data)
            _write_msg(stdout, _REP.pack(rid, 0) + out)
        except Exception as e:  # noqa: BLE001 - reported to the server, the signer stays up
            _write_msg(stdout, _REP.pack(rid, 1) + f"{type(e).__name__}: {e}".encode())


# the server side: a client of the signer

class SignerError(Exception):
    """The signer refused the operation, or is gone."""


class SignerProcess:
    """The signer as a child process, asked over its stdin/stdout. Thread
    safe: requests from any thread, answered by one reader thread."""

    def __init__(self, key_path: "os.PathLike[str] | str") -> None:
        self._proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--signer", os.fspath(key_path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._lock = threading.Lock()
        self._next = 0
        self._waiting: Dict[int, concurrent.futures.Future] = {}
        self._closed = False
        self._reader = threading.Thread(target=self._read_replies, name="signer-replies", daemon=True)
        self._reader.start()

    def request(self, op: s2n.AsyncPkeyOpType, sig: Optional[int], hsh: Optional[int],
                data: bytes) -> "concurrent.futures.Future[bytes]":
        fut: concurrent.futures.Future = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                raise SignerError("the signer is gone")
            self._next = rid = (self._next + 1) & 0xFFFFFFFF
            self._waiting[rid] = fut
            try:
                _write_msg(self._proc.stdin, _REQ.pack(rid, int(op), int(sig or 0), int(hsh or 0)) + data)
            except OSError as e:
                del self._waiting[rid]
                raise SignerError(f"the signer is gone: {e}") from e
        return fut

    def _read_replies(self) -> None:
        while True:
            msg = _read_msg(self._proc.stdout)
            if msg is None:
                break
            rid, status = _REP.unpack_from(msg)
            with self._lock:
                fut = self._waiting.pop(rid, None)
            if fut is not None:
                body = msg[_REP.size:]
                if status == 0:
                    fut.set_result(body)
                else:
                    fut.set_exception(SignerError(body.decode(errors="replace")))
        with self._lock:
            self._closed = True
            waiting, self._waiting = self._waiting, {}
        for fut in waiting.values():
            fut.set_exception(SignerError("the signer exited"))

    # the async pkey callbacks

    def _ask(self, op: s2n.AsyncPkeyOp) -> "concurrent.futures.Future[bytes]":
        return self.request(op.get_op_type(), op.get_signature_algorithm(), op.get_hash_algorithm(),
                            op.get_input())

    def callback(self, conn: s2n.Connection, op: s2n.AsyncPkeyOp) -> None:
        """For threads (TLSSocket): returns at once; the reply thread
        answers and applies, and the handshake goes on."""
        def done(fut: concurrent.futures.Future) -> None:
            try:
                op.set_output(fut.result())
                op.apply(conn)
            except SignerError as e:
                op.fail(e)  # the handshake fails now, not at its timeout
            except s2n.S2NError:
                pass  # a failed apply (STRICT): the handshake's negotiate() raises it
        self._ask(op).add_done_callback(done)

    async def async_callback(self, conn: s2n.Connection, op: s2n.AsyncPkeyOp) -> None:
        """For s2n.asyncio: awaited by the transport, which applies the answer."""
        op.set_output(await asyncio.wrap_future(self._ask(op)))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            try:
                self._proc.stdin.close()
            except OSError:
                pass
        try:
            self._proc.wait(5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._reader.join(5)
        self._proc.stdout.close()

    def __enter__(self) -> "SignerProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def offload_config(chain: "os.PathLike[str] | str | bytes", signer: SignerProcess, *,
                   asyncio_callback: bool = False) -> s2n.Config:
    """A server Config with the certificate's public half only: every
    private-key operation goes to `signer`, checked STRICTly."""
    config = s2n.Config()
    config.add_cert_chain_and_key_to_store(s2n.CertChainAndKey(chain))  # key=None
    config.set_async_pkey_callback(signer.async_callback if asyncio_callback else signer.callback)
    config.set_async_pkey_validation_mode(s2n.AsyncPkeyValidationMode.STRICT)
    return config


def serve(config: s2n.Config, host: str, port: int, *, count: Optional[int] = None,
          ready: Optional[threading.Event] = None, timeout: float = 10.0) -> None:
    """Accept TLS clients (one thread each), answer each line with its echo."""
    with socket.create_server((host, port)) as listener:
        if ready is not None:
            ready.set()
        print(f"listening on {host}:{listener.getsockname()[1]}", flush=True)
        served = 0
        while count is None or served < count:
            sock, _ = listener.accept()
            served += 1
            threading.Thread(target=_handle, args=(sock, config, timeout), daemon=True).start()


def _handle(sock: socket.socket, config: s2n.Config, timeout: float) -> None:
    sock.settimeout(timeout)
    try:
        with s2n.wrap_socket(sock, config, server_side=True) as tls:
            while True:
                data = tls.recv(4096)
                if not data:
                    break
                tls.sendall(data)
    except (s2n.S2NError, OSError) as e:
        print(f"connection failed: {e}", file=sys.stderr, flush=True)


def main(argv: Optional[list] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--signer", metavar="KEY", help=argparse.SUPPRESS)
    p.add_argument("--cert", help="certificate chain (PEM)")
    p.add_argument("--key", help="private key (PEM): read by the signer process only")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8443)
    args = p.parse_args(argv)
    if args.signer:
        _signer_main(args.signer)
        return
    if not (args.cert and args.key):
        p.error("--cert and --key are required")
    with SignerProcess(args.key) as signer:
        serve(offload_config(Path(args.cert), signer), args.host, args.port)


if __name__ == "__main__":
    main()
