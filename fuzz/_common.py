"""What the harnesses share: loading the fuzz build, the fixed PKI, configs.

Import this before `s2n`: with S2N_PY_FUZZ_EXT naming the instrumented module
(the runner, `python -m fuzz`, sets it), `s2n._s2n` is loaded from there, and
the rest of the package from wherever `s2n` is installed. Without it the
normal build is used, so a harness also replays inputs without atheris or the
fuzz build (the regression tests do that).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
CORPUS = HERE / "corpus"


class _FuzzExtFinder(importlib.abc.MetaPathFinder):
    def __init__(self, path: str) -> None:
        self.path = path

    def find_spec(self, name, path=None, target=None):
        if name != "s2n._s2n":
            return None
        loader = importlib.machinery.ExtensionFileLoader(name, self.path)
        return importlib.util.spec_from_file_location(name, self.path, loader=loader)


def install_loader() -> None:
    path = os.environ.get("S2N_PY_FUZZ_EXT")
    if path and "s2n._s2n" not in sys.modules:
        if not os.path.isfile(path):
            raise SystemExit(f"S2N_PY_FUZZ_EXT={path}: no such file")
        # The Python of the tree the extension was built from, installed or not.
        sys.path.insert(0, str(HERE.parent / "src"))
        sys.meta_path.insert(0, _FuzzExtFinder(path))


install_loader()


def import_s2n():
    """Import s2n; under atheris its Python modules are instrumented too, so
    the coverage counters see our Python layer as well as the C."""
    if "s2n" in sys.modules:
        return sys.modules["s2n"]
    try:
        import atheris
    except ImportError:
        atheris = None
    if (atheris is not None and os.environ.get("S2N_PY_FUZZ_EXT")
            and os.environ.get("S2N_PY_FUZZ_PYTHON", "1") != "0"):
        with atheris.instrument_imports(include=["s2n"]):
            import s2n
    else:
        import s2n
    return s2n


s2n = import_s2n()


def pem(name: str) -> bytes:
    return (DATA / name).read_bytes()


def server_config(policy: str = "default_tls13", serialize: bool = False):
    c = s2n.Config()
    c.add_cert_chain_and_key(pem("server.pem"), pem("server.key"))
    c.set_cipher_preferences(policy)
    c.set_max_blinding_delay(0)
    c.set_protocol_preferences(["h2", "http/1.1"])
    if serialize:
        c.set_serialization_version(s2n.SerializationVersion.V1)
    return c


def client_config(policy: str = "default_tls13", serialize: bool = False):
    c = s2n.Config()
    c.add_pem_to_trust_store(pem("ca.pem"))
    c.set_cipher_preferences(policy)
    c.set_max_blinding_delay(0)
    c.set_protocol_preferences(["h2", "http/1.1"])
    if serialize:
        c.set_serialization_version(s2n.SerializationVersion.V1)
    return c


def new_conn(mode, config, server_name: str = "localhost", limit: int = 0):
    """A connection on two MemoryBIOs, blinding left to us (no sleeps).
    `limit`: bound the outgoing BIO (0: none)."""
    conn = s2n.Connection(mode, config)
    conn.set_blinding(s2n.Blinding.SELF_SERVICE)
    if mode == s2n.Mode.CLIENT and server_name:
        conn.set_server_name(server_name)
    incoming, outgoing = s2n.MemoryBIO(), s2n.MemoryBIO(limit or None)
    conn.set_memory_io(incoming, outgoing)
    return conn, incoming, outgoing


def check_blinding(conn) -> None:
    """Self-service blinding: after a failure s2n-tls asks for a delay
    (nanoseconds) that we do not sleep; it must be sane."""
    try:
        delay = conn.get_delay()
    except s2n.S2NError:
        return
    assert 0 <= delay <= 30 * 10**9 + 1, delay


def post_handshake_states() -> dict:
    """Serialized server and client of one recorded real handshake (record.py)."""
    with open(DATA / "post_handshake.json") as f:
        return {k: bytes.fromhex(v) for k, v in json.load(f).items()}


def replay_main(one_input) -> bool:
    """`python -m fuzz.HARNESS --replay FILE...`: run inputs once each,
    without atheris (crash reproducers, regression tests)."""
    if len(sys.argv) > 2 and sys.argv[1] == "--replay":
        for path in sys.argv[2:]:
            one_input(Path(path).read_bytes())
        print("OK")
        return True
    return False
