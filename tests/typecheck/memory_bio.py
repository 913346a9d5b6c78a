"""A user's sans-IO code on s2n.MemoryBIO, for the type checkers (only
type-checked, never called; see config_connection.py)."""

from __future__ import annotations

from typing import Callable, Tuple

from typing_extensions import assert_type

import s2n


def handshake_in_memory(server_config: s2n.Config, client_config: s2n.Config) -> Tuple[bytes, int]:
    c_in, c_out, s_in, s_out = s2n.MemoryBIO(), s2n.MemoryBIO(), s2n.MemoryBIO(), s2n.MemoryBIO()
    client = s2n.Connection(s2n.Mode.CLIENT, client_config)
    server = s2n.Connection(s2n.Mode.SERVER, server_config)
    client.set_memory_io(c_in, c_out)
    server.set_memory_io(s_in, s_out)
    client.set_server_name("localhost")
    steps: Tuple[Callable[[], None], ...] = (client.negotiate, server.negotiate)
    done = [False, False]
    while not all(done):
        for i, step in enumerate(steps):
            if done[i]:
                continue
            try:
                step()
                done[i] = True
            except s2n.BlockedError as e:
                assert_type(e.blocked, s2n.Blocked)
        moved = s_in.write(c_out.read())
        assert_type(moved, int)
        c_in.write(s_out.read())
    client.send(b"ping")
    s_in.write(c_out.read())
    got = server.recv(4)
    assert_type(got, bytes)
    assert_type(c_in.pending, int)
    assert_type(c_in.eof, bool)
    buf = bytearray(16)
    assert_type(c_in.readinto(buf), int)
    c_in.write_eof()
    return got, s_out.pending
