"""The leak half of the sanitizer proof (docs/reliability.md, "Sanitizer build").

scripts/ci_sanitize.sh runs this after the suite, in the sanitizer build, with
LeakSanitizer on (detect_leaks=1) and scripts/lsan.supp: one Python process
that does what the library does in production, many times over, drops every
object and exits. LeakSanitizer then reports any memory that nothing points
to any more; a C-level leak in our glue, s2n-tls or AWS-LC (a connection,
config, certificate, buffer, or callback context never freed) shows up with
its allocation stack. The suite itself runs with detect_leaks=0 (its
subprocesses include openssl, gnutls-cli and curl, whose own exit-time leaks
are not ours to suppress).

    python scripts/sanitize_leaks.py [--rounds N]

Run it only under the sanitizer environment (see ci_sanitize.sh); without
LeakSanitizer it proves nothing (but still runs: it is plain API use).
"""

from __future__ import annotations

import argparse
import gc
import os
import socket
import sys
import tempfile
import threading
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"


def make_pki(folder: Path):
    # The openssl command line is not ours: run it without the sanitizer
    # runtime, so its own exit-time leaks are not reported.
    env_preload = os.environ.pop("LD_PRELOAD", None)
    try:
        from conftest import PKI

        return PKI(folder)
    finally:
        if env_preload is not None:
            os.environ["LD_PRELOAD"] = env_preload


def memory_round(s2n, conftest, pki, payload: bytes) -> None:
    """Handshake, data both ways, shutdown, through MemoryBIO pairs."""
    from test_memory import handshake, memory_pair, shuttle

    cli, srv = memory_pair(pki)
    handshake(cli, srv)
    cli.conn.send(payload)
    shuttle(cli, srv)
    got = b""
    while len(got) < len(payload):
        got += srv.conn.recv(len(payload))
        shuttle(cli, srv)
    assert got == payload
    srv.conn.send(got[::-1])
    shuttle(cli, srv)
    back = b""
    while len(back) < len(payload):
        back += cli.conn.recv(len(payload))
        shuttle(cli, srv)
    assert back == payload[::-1]
    # a close_notify exchange, then wipe one side for reuse and free the other
    for side in (cli, srv):
        try:
            side.conn.shutdown_send()
        except s2n.S2NError:
            pass
        shuttle(cli, srv)
    cli.conn.wipe()
    srv.conn.free()


def failing_rounds(s2n, conftest, pki) -> None:
    """Handshakes that fail (untrusted certificate, a callback that raises or
    refuses), leaving half-built state for the destructors."""
    from test_memory import Side, handshake, shuttle

    def attempt(ccfg, scfg):
        srv = Side(s2n.Mode.SERVER, scfg)
        cli = Side(s2n.Mode.CLIENT, ccfg)
        cli.conn.set_server_name("localhost")
        try:
            handshake(cli, srv)
        except (s2n.S2NError, RuntimeError):  # RuntimeError: the raising callback's
            shuttle(cli, srv)
            return
        raise AssertionError("a handshake meant to fail succeeded")

    untrusted = s2n.Config()
    untrusted.add_pem_to_trust_store(pki.path("otherca.pem"))
    untrusted.set_max_blinding_delay(0)
    attempt(untrusted, conftest.server_config(pki))

    def boom(name):
        raise RuntimeError("callback failure on purpose")

    raising = conftest.client_config(pki)
    raising.set_verify_host_callback(boom)
    attempt(raising, conftest.server_config(pki))
    refusing = conftest.client_config(pki)
    refusing.set_verify_host_callback(lambda name: False)
    attempt(refusing, conftest.server_config(pki))
    # a server that never gets a peer: freed mid-nothing
    s2n.Connection(s2n.Mode.SERVER, conftest.server_config(pki))


def socket_round(s2n, conftest, pki) -> None:
    """Blocking fds (the IO callbacks of the fd path) and TLSSocket."""
    a, b = socket.socketpair()
    try:
        cli, srv = conftest.connected_pair(pki, a, b)
        cli.send(b"ping")
        assert srv.recv(10) == b"ping"
    finally:
        a.close()
        b.close()
    a, b = socket.socketpair()
    server = s2n.wrap_socket(a, conftest.server_config(pki), server_side=True,
                             do_handshake_on_connect=False)
    client = s2n.wrap_socket(b, conftest.client_config(pki), server_hostname="localhost",
                             do_handshake_on_connect=False)
    box = {}

    def serve():
        try:
            server.do_handshake()
            server.sendall(server.recv(100)[::-1])
        except BaseException as e:  # noqa: BLE001
            box["e"] = e

    th = threading.Thread(target=serve)
    th.start()
    client.do_handshake()
    client.sendall(b"abc")
    assert client.recv(100) == b"cba"
    th.join(20)
    assert not th.is_alive() and "e" not in box, box
    client.close()
    server.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--canary", choices=["leak", "use-after-free"],
                    help="do one wrong thing on purpose (the CI script checks that the "
                         "sanitizers report it, i.e. that the check is live), then exit")
    args = ap.parse_args()
    sys.path.insert(0, str(TESTS))
    import conftest
    import s2n

    if args.canary:
        from s2n._s2n import lib

        if args.canary == "leak":
            for _ in range(10):  # connections nobody frees
                lib.s2n_connection_new(lib.S2N_CLIENT)
        else:
            c = lib.s2n_connection_new(lib.S2N_CLIENT)
            lib.s2n_connection_free(c)
            lib.s2n_connection_free(c)
        print(f"sanitize_leaks: canary {args.canary} done")
        return 0

    with tempfile.TemporaryDirectory(prefix="s2n-leaks-") as tmp:
        pki = make_pki(Path(tmp))
        payload = os.urandom(50_000)
        for _ in range(args.rounds):
            memory_round(s2n, conftest, pki, payload)
            failing_rounds(s2n, conftest, pki)
            socket_round(s2n, conftest, pki)
        gc.collect()
    print(f"sanitize_leaks: {args.rounds} rounds OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
