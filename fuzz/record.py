"""Record the seed corpus from real handshakes (run again after a change of
s2n-tls, a policy or fuzz/data's PKI; the corpus stays small, < 200 KB):

    python -m fuzz.record

Writes fuzz/corpus/fuzz_peer_bytes/*, fuzz/corpus/fuzz_io_callbacks/* and
fuzz/data/post_handshake.json (a serialized server and client of one real
TLS 1.3 handshake: the post-handshake targets start from there, so records
the client sent after it are valid input for the server in every run).
"""

from __future__ import annotations

import hashlib
import json
import shutil

from ._common import CORPUS, DATA, client_config, new_conn, s2n, server_config
from . import fuzz_peer_bytes as peer


def pump(a_out, b_in, b_out, a_in, log_ab: list, log_ba: list) -> None:
    data = a_out.read()
    if data:
        log_ab.append(data)
        b_in.write(data)
    data = b_out.read()
    if data:
        log_ba.append(data)
        a_in.write(data)


def handshake(spolicy: str, cpolicy: str, serialize: bool = False):
    """Server and client on MemoryBIOs; returns both ends and what each sent."""
    srv, s_in, s_out = new_conn(s2n.Mode.SERVER, server_config(spolicy, serialize))
    cli, c_in, c_out = new_conn(s2n.Mode.CLIENT, client_config(cpolicy, serialize))
    c2s: list = []
    s2c: list = []
    done = {"s": False, "c": False}
    for _ in range(20):
        for name, conn in (("c", cli), ("s", srv)):
            if not done[name]:
                try:
                    conn.negotiate()
                    done[name] = True
                except s2n.BlockedError:
                    pass
        pump(c_out, s_in, s_out, c_in, c2s, s2c)
        if done["s"] and done["c"] and not c_out.pending and not s_out.pending:
            break
    assert done["s"] and done["c"], "the recorded handshake did not complete"
    return (srv, s_in, s_out), (cli, c_in, c_out), c2s, s2c


def seed(out: dict, harness: str, data: bytes) -> None:
    out.setdefault(harness, []).append(data)


def main() -> None:
    seeds: dict = {}
    # Handshake flights: TLS 1.3 and TLS 1.2, each side's bytes as the other's input.
    for spol, cpol, smode, cmode in (("default", "default", peer.SERVER13, peer.CLIENT13),
                                     ("20190214", "20190214", peer.SERVER12, peer.CLIENT12)):
        _, _, c2s, s2c = handshake(spol, cpol)
        seed(seeds, "fuzz_peer_bytes", bytes([smode, 0, 0]) + b"".join(c2s))
        seed(seeds, "fuzz_peer_bytes", bytes([smode, 0, 0]) + c2s[0])  # the ClientHello alone
        seed(seeds, "fuzz_peer_bytes", bytes([smode, 5, 4]) + c2s[0])  # ... in 5-byte pieces
        seed(seeds, "fuzz_peer_bytes", bytes([cmode, 0, 0]) + b"".join(s2c))
        seed(seeds, "fuzz_peer_bytes", bytes([cmode, 3, 2]) + s2c[0])

    # After the handshake: serialize both ends, then record what each sends next.
    # (A serialized connection is closed: continue from the bytes, as the harness does.)
    (srv, _, _), (cli, _, _), _, _ = handshake("default_tls13", "default_tls13", True)
    states = {"server": srv.serialize(), "client": cli.serialize()}
    for name in ("client", "server"):
        mode = s2n.Mode.CLIENT if name == "client" else s2n.Mode.SERVER
        conn, _, out = new_conn(mode, (client_config if name == "client" else server_config)(
            "default_tls13", True))
        conn.deserialize(states[name])
        mode = peer.POST_SERVER if name == "client" else peer.POST_CLIENT
        conn.send(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        stream = out.read()
        seed(seeds, "fuzz_peer_bytes", bytes([mode, 0, 0]) + stream)
        conn.request_key_update(s2n.PeerKeyUpdate.NOT_REQUESTED)
        conn.send(b"x" * 300)  # a KeyUpdate, then a record under the new keys
        stream += out.read()
        seed(seeds, "fuzz_peer_bytes", bytes([mode, 0, 0]) + stream)
        conn.send(b"y" * 200)  # two more records
        conn.send(b"z" * 20)
        stream += out.read()
        seed(seeds, "fuzz_peer_bytes", bytes([mode, 7, 1]) + stream)
        try:
            conn.shutdown_send()
        except s2n.BlockedError:
            pass
        stream += out.read()  # close_notify
        seed(seeds, "fuzz_peer_bytes", bytes([mode, 0, 0]) + stream)
    seed(seeds, "fuzz_peer_bytes", bytes([peer.DESERIALIZE_SERVER, 0, 0]) + states["server"])
    seed(seeds, "fuzz_peer_bytes", bytes([peer.DESERIALIZE_CLIENT, 0, 0]) + states["client"])
    with open(DATA / "post_handshake.json", "w") as f:
        json.dump({k: v.hex() for k, v in states.items()}, f, indent=1)
        f.write("\n")

    # IO callbacks: zeros mean "behave" (a full handshake and exchange), then a
    # few hostile choices early, at the handshake's end and in the exchange.
    from . import fuzz_io_callbacks as io

    for s in io.seed_inputs():
        seed(seeds, "fuzz_io_callbacks", s)

    total = 0
    for harness, inputs in seeds.items():
        d = CORPUS / harness
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        for data in inputs:
            (d / hashlib.sha1(data).hexdigest()).write_bytes(data)
            total += len(data)
        print(f"{harness}: {len(inputs)} seeds")
    print(f"corpus: {total} bytes")


if __name__ == "__main__":
    main()
