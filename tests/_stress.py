"""Concurrency stress drivers, run in a subprocess by tests/test_stress.py.

Each driver hammers ONE object (a Connection, a TLSSocket, a MemoryBIO)
from N threads calling its public methods at random, in rounds: a round
builds a fresh object (and its peer), runs the threads for a slice of time
(free()/close() may come at any point of it), joins them (bounded: a thread
still running is a hang), then checks the object from one thread. What is
checked is the concurrency contract in Connection's and TLSSocket's
docstrings:

- every call returns or raises a documented exception (`allowed()`), never
  anything else (AttributeError, TypeError, RuntimeError, cffi errors...);
- once free()/close() has returned, every call that starts later raises
  (for a TLSSocket: every IO call raises OSError(EBADF); its information
  methods return None, as ssl's do);
- no fd is leaked, no thread hangs, the process does not crash (the test
  runs it in a subprocess: a signal fails the test).

Each driver returns a report dict; `main()` prints it and "OK".
"""

from __future__ import annotations

import errno
import gc
import os
import random
import socket
import sys
import threading
import time
import traceback
import collections
from collections import Counter
from typing import Any, Callable, Dict, List, Optional, Tuple

import s2n

THREADS = 6
JOIN_TIMEOUT = 15.0  # a worker still running after this is a hang

# UsageError names the contract documents for concurrent use (and for use
# before the handshake / without IO, which random orders reach).
PY_USAGE_OK = {"S2N_PY_ERR_IN_USE", "S2N_PY_ERR_FREED", "S2N_PY_ERR_NOT_NEGOTIATED",
               "S2N_PY_ERR_NO_IO", "S2N_PY_ERR_USAGE", "S2N_PY_ERR_NO_CLIENT_HELLO"}


# InternalErrors that are documented outcomes of one call, not bugs:
INTERNAL_OK = {
    # release_buffers() refuses while a partial record is buffered (its docstring)
    ("release_buffers", "S2N_ERR_STUFFER_HAS_UNPROCESSED_DATA"),
    # wipe() mid-session, then a new handshake on the same transport: the
    # peer's records of the old session arrive as garbage, and s2n-tls
    # rejects an oversized plaintext record with this (internal) error
    ("negotiate", "S2N_ERR_INTEGER_OVERFLOW"),
}

# successes counted per method: proof that handshakes completed and data flowed
PROGRESS = {"negotiate", "do_handshake", "send", "sendall", "recv", "recv_into", "shutdown",
            "shutdown_send", "unwrap", "wipe", "serialize"}


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def allowed(exc: BaseException, *, sockets: bool) -> Optional[str]:
    """A label for a documented outcome, or None for a contract violation.
    `sockets`: a TLSSocket's call, where a closed (freed) connection is
    OSError(EBADF), never UsageError."""
    if sockets and isinstance(exc, s2n.UsageError) and exc.name == "S2N_PY_ERR_FREED":
        return None
    if isinstance(exc, s2n.UsageError):
        name = exc.name or ""
        if name in PY_USAGE_OK:
            return f"UsageError:{name}"
        if name.startswith("S2N_ERR_"):  # s2n-tls's own: wrong state for this call
            return "UsageError:s2n"
        return None  # e.g. S2N_PY_ERR_REENTRANCY: no callback calls back here
    if isinstance(exc, s2n.BlockedError):
        return type(exc).__name__
    if isinstance(exc, s2n.InternalError):
        return None
    if isinstance(exc, s2n.S2NError):  # a broken or closed connection
        return type(exc).__name__
    if sockets and isinstance(exc, TimeoutError):
        return "TimeoutError"
    if sockets and isinstance(exc, OSError) and exc.errno in (
            errno.EBADF, errno.ECONNRESET, errno.EPIPE, errno.ENOTCONN):
        return f"OSError:{errno.errorcode[exc.errno]}"
    return None


class Run:
    """Outcomes and violations, shared by the workers of a driver."""

    def __init__(self, sockets: bool) -> None:
        self.sockets = sockets
        self.lock = threading.Lock()
        self.outcomes: Counter = Counter()
        self.violations: List[str] = []
        self.calls = 0
        self.trail: Any = collections.deque(maxlen=40)  # the last calls (all threads), for a report

    def call(self, name: str, fn: Callable[[], Any], freed_before: bool,
             must_raise: bool = True) -> Any:
        """Call fn; `freed_before`: free()/close() had returned when it started."""
        self.trail.append(name)
        try:
            result = fn()
        except BaseException as e:  # noqa: BLE001 - classified
            label = allowed(e, sockets=self.sockets)
            if isinstance(e, s2n.InternalError) and (name, e.name) in INTERNAL_OK:
                label = f"InternalError:{e.name}"
            with self.lock:
                self.calls += 1
                if label is None:
                    self.violations.append(
                        f"{name}: {type(e).__name__}: {e}\n{''.join(traceback.format_exception(e))[-1500:]}"
                        f"\nlast calls: {' '.join(self.trail)}")
                else:
                    self.outcomes[label] += 1
            return None
        with self.lock:
            self.calls += 1
            self.outcomes["ok"] += 1
            if name in PROGRESS:
                self.outcomes[f"{name}:ok"] += 1
            if freed_before and must_raise:
                self.violations.append(f"{name} returned {result!r} after free/close")
        return result

    def violation(self, text: str) -> None:
        with self.lock:
            self.violations.append(text)

    def report(self, **extra) -> Dict[str, Any]:
        return {"calls": self.calls, "outcomes": dict(self.outcomes),
                "violations": self.violations[:20], "n_violations": len(self.violations), **extra}


def run_round(run: Run, ops: List[Tuple[str, float, Callable]], seconds: float,
              seed: int, at_end: Optional[Callable[[], None]] = None,
              midway: Optional[Callable[[float], None]] = None) -> None:
    """THREADS workers call random ops until `seconds` pass; then `at_end()`
    (from this thread, while the workers' last calls still run: a TLSSocket
    without a timeout blocks until close() wakes it); bounded join.
    `midway(stop)`, if given, runs from this thread at a random point of the
    round while the workers run on (a free() that must race them)."""
    stop = time.monotonic() + seconds
    names = [o[0] for o in ops]
    weights = [o[1] for o in ops]
    fns = {o[0]: o[2] for o in ops}

    def worker(i: int) -> None:
        rng = random.Random(seed * 100 + i)
        while time.monotonic() < stop:
            name = rng.choices(names, weights)[0]
            fns[name](rng)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(THREADS)]
    for t in threads:
        t.start()
    if midway is not None:
        pause = seconds * random.Random(seed).uniform(0.2, 0.6)
        time.sleep(pause)  # a point inside the round, not a synchronisation
        midway(stop)
    if at_end is not None:
        time.sleep(max(0.0, stop - time.monotonic()))  # the round's duration, not a synchronisation
        at_end()
    deadline = time.monotonic() + seconds + JOIN_TIMEOUT
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    if any(t.is_alive() for t in threads):
        run.violation("a worker thread hung: " + "".join(
            "".join(traceback.format_stack(sys._current_frames()[t.ident]))[-1500:]
            for t in threads if t.is_alive() and t.ident in sys._current_frames()))
        raise SystemExit(json_report(run.report()) + "\nHANG")


def json_report(r: Dict[str, Any]) -> str:
    import json

    return json.dumps(r, indent=1, sort_keys=True)


# ---- Connection ------------------------------------------------------------

class Freed:
    """free() (or close()) has returned: calls started from now on must raise."""

    def __init__(self) -> None:
        self.flag = False


def connection_ops(conn: s2n.Connection, run: Run, freed: Freed, fresh_io: Callable[[], None],
                   cfgs: List[s2n.Config], fd_pair: Optional[Tuple[int, int]]) -> List[Tuple[str, float, Callable]]:
    """(name, weight, fn(rng)) for every public method of Connection."""

    def c(name: str, weight: float, make: Callable[[Any], Callable[[], Any]], must_raise: bool = True):
        def fn(rng):
            before = freed.flag
            run.call(name, make(rng), before, must_raise)
        return (name, weight, fn)

    def free(rng):
        try:
            conn.free()
        except BaseException as e:  # noqa: BLE001
            label = allowed(e, sockets=False)
            if label not in ("UsageError:S2N_PY_ERR_IN_USE",):
                run.violation(f"free: {type(e).__name__}: {e}")
            with run.lock:
                run.outcomes[f"free:{label}"] += 1
            return
        freed.flag = True
        with run.lock:
            run.outcomes["free:ok"] += 1

    buf = bytearray(4096)
    g = 0.6  # getters are cheap: call them often
    ops = [
        ("free", 0.01, free),
        c("negotiate", 6, lambda r: conn.negotiate),
        c("send", 6, lambda r: lambda: conn.send(b"x" * r.randint(1, 3000))),
        c("sendv_with_offset", 2, lambda r: lambda: conn.sendv_with_offset([b"ab", b"cd" * 100], r.randint(0, 3))),
        c("recv", 6, lambda r: lambda: conn.recv(r.choice((1, 100, 16384)))),
        c("recv_into", 4, lambda r: lambda: conn.recv_into(buf, r.choice((0, 1, 500)))),
        c("shutdown", 0.02, lambda r: conn.shutdown),
        c("shutdown_send", 0.02, lambda r: conn.shutdown_send),
        c("wipe", 0.03, lambda r: lambda: (conn.wipe(), fresh_io())),
        c("renegotiate_wipe", 0.03, lambda r: conn.renegotiate_wipe),
        c("renegotiate", 0.1, lambda r: conn.renegotiate),
        c("free_handshake", 0.5, lambda r: conn.free_handshake),
        c("release_buffers", 1, lambda r: conn.release_buffers),
        c("release_buffers_if_idle", 1, lambda r: conn.release_buffers_if_idle, must_raise=False),
        c("set_config", 0.5, lambda r: lambda: conn.set_config(r.choice(cfgs))),
        c("set_server_name", 0.5, lambda r: lambda: conn.set_server_name("localhost")),
        c("set_blinding", 0.5, lambda r: lambda: conn.set_blinding(s2n.Blinding.SELF_SERVICE)),
        c("prefer_throughput", 0.5, lambda r: conn.prefer_throughput),
        c("prefer_low_latency", 0.5, lambda r: conn.prefer_low_latency),
        c("set_recv_buffering", 0.5, lambda r: lambda: conn.set_recv_buffering(r.random() < 0.5)),
        c("set_dynamic_record_threshold", 0.5, lambda r: lambda: conn.set_dynamic_record_threshold(1 << 20, 1)),
        c("set_verify_host_callback", 0.3, lambda r: lambda: conn.set_verify_host_callback(lambda host: True)),
        c("set_session", 0.2, lambda r: lambda: conn.set_session(b"\x00" * 8)),
        c("set_cipher_preferences", 0.5, lambda r: lambda: conn.set_cipher_preferences("default_tls13")),
        c("set_protocol_preferences", 0.5, lambda r: lambda: conn.set_protocol_preferences(["h2", "http/1.1"])),
        c("set_client_auth_type", 0.3, lambda r: lambda: conn.set_client_auth_type(s2n.ClientAuth.NONE)),
        c("client_hello_cb_done", 0.2, lambda r: conn.client_hello_cb_done),
        c("server_name_extension_used", 0.2, lambda r: conn.server_name_extension_used),
        c("request_key_update", 0.5, lambda r: conn.request_key_update),
        c("add_new_tickets_to_send", 0.3, lambda r: lambda: conn.add_new_tickets_to_send(1)),
        c("set_server_keying_material_lifetime", 0.3,
          lambda r: lambda: conn.set_server_keying_material_lifetime(3600)),
        c("use_corked_io", 0.1, lambda r: conn.use_corked_io),
        c("serialize", 0.2, lambda r: conn.serialize),
        c("deserialize", 0.03, lambda r: lambda: conn.deserialize(b"\x00" * 16)),
        c("tls_exporter", 0.5, lambda r: lambda: conn.tls_exporter(b"EXPORTER-test", b"", 32)),
        c("append_psk", 0.2, lambda r: lambda: conn.append_psk(s2n.ExternalPsk(b"id%d" % r.randint(0, 3), b"k" * 32))),
        c("set_psk_mode", 0.3, lambda r: lambda: conn.set_psk_mode(r.choice(list(s2n.PskMode)))),
        c("set_server_max_early_data_size", 0.3, lambda r: lambda: conn.set_server_max_early_data_size(1024)),
        c("set_server_early_data_context", 0.3, lambda r: lambda: conn.set_server_early_data_context(b"ctx")),
        c("send_early_data", 0.3, lambda r: lambda: conn.send_early_data(b"early")),
        c("recv_early_data", 0.3, lambda r: lambda: conn.recv_early_data(100)),
        c("get_negotiated_psk_identity", g, lambda r: conn.get_negotiated_psk_identity),
        c("get_selected_signature_algorithm", g, lambda r: conn.get_selected_signature_algorithm),
        c("get_selected_client_cert_signature_algorithm", g,
          lambda r: conn.get_selected_client_cert_signature_algorithm),
        c("get_client_hello_version", g, lambda r: conn.get_client_hello_version),
        c("get_session_id_length", g, lambda r: conn.get_session_id_length),
        c("get_early_data_status", g, lambda r: conn.get_early_data_status),
        c("get_remaining_early_data_size", g, lambda r: conn.get_remaining_early_data_size),
        c("get_max_early_data_size", g, lambda r: conn.get_max_early_data_size),
        c("peek", g, lambda r: conn.peek),
        c("peek_buffered", g, lambda r: conn.peek_buffered),
        c("pending", g, lambda r: conn.pending),
        c("get_delay", g, lambda r: conn.get_delay),
        c("get_session", g, lambda r: conn.get_session),
        c("get_alert", g, lambda r: conn.get_alert),
        c("get_actual_protocol_version", g, lambda r: conn.get_actual_protocol_version),
        c("get_client_protocol_version", g, lambda r: conn.get_client_protocol_version),
        c("get_server_protocol_version", g, lambda r: conn.get_server_protocol_version),
        c("get_cipher", g, lambda r: conn.get_cipher),
        c("get_cipher_iana_value", g, lambda r: conn.get_cipher_iana_value),
        c("get_application_protocol", g, lambda r: conn.get_application_protocol),
        c("get_server_name", g, lambda r: conn.get_server_name),
        c("get_handshake_type_name", g, lambda r: conn.get_handshake_type_name),
        c("get_curve", g, lambda r: conn.get_curve),
        c("get_kem_group_name", g, lambda r: conn.get_kem_group_name),
        c("get_key_exchange_group", g, lambda r: conn.get_key_exchange_group),
        c("handshake_complete", g, lambda r: conn.handshake_complete),
        c("is_session_resumed", g, lambda r: conn.is_session_resumed),
        c("client_cert_used", g, lambda r: conn.client_cert_used),
        c("get_wire_bytes_in", g, lambda r: conn.get_wire_bytes_in),
        c("get_wire_bytes_out", g, lambda r: conn.get_wire_bytes_out),
        c("get_peer_cert_chain", g, lambda r: conn.get_peer_cert_chain),
        c("get_client_hello", g, lambda r: conn.get_client_hello),
        c("get_client_auth_type", g, lambda r: conn.get_client_auth_type),
        c("get_selected_cert", g, lambda r: conn.get_selected_cert),
        c("get_ocsp_response", g, lambda r: conn.get_ocsp_response),
        c("is_ocsp_stapled", g, lambda r: conn.is_ocsp_stapled),
        c("get_sct_list", g, lambda r: conn.get_sct_list),
        c("get_key_update_counts", g, lambda r: conn.get_key_update_counts),
        c("get_tickets_sent", g, lambda r: conn.get_tickets_sent),
        c("get_session_ticket_lifetime_hint", g, lambda r: conn.get_session_ticket_lifetime_hint),
        c("mode", g, lambda r: lambda: conn.mode, must_raise=False),
        c("config", g, lambda r: lambda: conn.config, must_raise=False),
        c("repr", g, lambda r: lambda: repr(conn), must_raise=False),
    ]
    if fd_pair is not None:
        a = fd_pair[0]
        ops += [c("set_fd", 0.3, lambda r: lambda: conn.set_fd(a)),
                c("set_read_fd", 0.3, lambda r: lambda: conn.set_read_fd(a)),
                c("set_write_fd", 0.3, lambda r: lambda: conn.set_write_fd(a))]
    else:
        ops += [c("set_memory_io", 0.3, lambda r: fresh_io)]
    # callback-IO setters: covered by the IO they replace (memory/fd), so
    # only set and then replaced again at once, under the same round
    ops += [c("set_recv_cb", 0.05, lambda r: lambda: (conn.set_recv_cb(_eagain), fresh_io())),
            c("set_send_cb", 0.05, lambda r: lambda: (conn.set_send_cb(_eagain), fresh_io()))]
    return ops


def _eagain(buf) -> int:
    raise BlockingIOError()


# methods of Connection that do not raise after free(), by design
AFTER_FREE_OK = {"free", "mode", "config", "release_buffers_if_idle", "repr"}


def check_after_free(conn: s2n.Connection, ops, run: Run) -> None:
    """From one thread, after free(): every op raises UsageError FREED."""
    rng = random.Random(0)
    for name, _, fn in ops:
        if name in AFTER_FREE_OK:
            continue
        before = run.calls
        fn(rng)
        assert run.calls == before + 1
    # and precisely the freed error
    for name in ("negotiate", "send", "recv", "get_cipher", "wipe", "set_server_name"):
        try:
            {"negotiate": conn.negotiate, "send": lambda: conn.send(b"x"), "recv": conn.recv,
             "get_cipher": conn.get_cipher, "wipe": conn.wipe,
             "set_server_name": lambda: conn.set_server_name("x")}[name]()
        except s2n.UsageError as e:
            if e.name != "S2N_PY_ERR_FREED":
                run.violation(f"{name} after free: {e.name}")
        else:
            run.violation(f"{name} after free returned")


class Peer:
    """The other end, driven by its own thread: handshakes, then echoes."""

    def __init__(self, conn: s2n.Connection, move: Callable[[], None]) -> None:
        self.conn = conn
        self.move = move
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        done = False
        while not self.stop.is_set():
            self.move()
            try:
                if not done:
                    self.conn.negotiate()
                    done = True
                data = self.conn.recv(16384)
                if not data:
                    return
                self.conn.send(data[:2000])
            except s2n.BlockedError:
                self.stop.wait(0.0005)  # pace the polling, not a synchronisation
            except s2n.S2NError:
                return  # the stressed side broke the connection: that is its right

    def end(self) -> None:
        self.stop.set()
        self.thread.join(JOIN_TIMEOUT)
        if self.thread.is_alive():
            raise SystemExit("the peer thread hung")
        self.conn.free()


def stress_connection(pki, transport: str, seconds: float, round_s: float = 0.3,
                      seed: int = 1) -> Dict[str, Any]:
    from conftest import client_config, server_config

    ccfg, scfg = client_config(pki), server_config(pki)
    ccfg2 = client_config(pki)
    run = Run(sockets=False)
    fds0 = fd_count()
    end = time.monotonic() + seconds
    rounds = connected = 0
    while time.monotonic() < end or rounds < 2:
        rounds += 1
        freed = Freed()
        cli = s2n.Connection(s2n.Mode.CLIENT, ccfg)
        cli.set_server_name("localhost")
        srv = s2n.Connection(s2n.Mode.SERVER, scfg)
        fd_pair = None
        socks: List[socket.socket] = []
        if transport == "memory":
            c_in, c_out, s_in, s_out = (s2n.MemoryBIO() for _ in range(4))
            srv.set_memory_io(s_in, s_out)

            def fresh_io(cli=cli, c_in=c_in, c_out=c_out) -> None:
                cli.set_memory_io(c_in, c_out)

            def move(c_in=c_in, c_out=c_out, s_in=s_in, s_out=s_out) -> None:
                for src, dst in ((c_out, s_in), (s_out, c_in)):
                    data = src.read()
                    if data:
                        dst.write(data)
        else:
            a, b = socket.socketpair()
            a.setblocking(False)
            b.setblocking(False)
            socks = [a, b]
            fd_pair = (a.fileno(), b.fileno())
            srv.set_fd(b)

            def fresh_io(cli=cli, a=a) -> None:
                cli.set_fd(a)

            def move() -> None:
                pass
        fresh_io()
        peer = Peer(srv, move)
        if rounds % 2 == 0:
            # Every other round starts connected (the threads then race on a
            # live connection: data, shutdowns, key updates); the others race
            # on the handshake too.
            deadline = time.monotonic() + 10
            while True:
                try:
                    cli.negotiate()
                    connected += 1
                    break
                except s2n.BlockedError:
                    if time.monotonic() > deadline:
                        raise SystemExit("the handshake did not finish in 10 s")
                    peer.stop.wait(0.0005)  # pace the polling, not a synchronisation
        ops = connection_ops(cli, run, freed, fresh_io, [ccfg, ccfg2], fd_pair)

        def free_midway(stop: float, ops=ops, freed=freed) -> None:
            # The ops' 0.01-weight free() may never win against six busy
            # threads on a slow (sanitized) build: every third round frees
            # for certain, retrying through S2N_PY_ERR_IN_USE, while the
            # workers keep calling (and must then see S2N_PY_ERR_FREED). Past
            # the round's end the workers start no new call: free() wins
            # once their last ones return.
            fn = dict((n, f) for n, _, f in ops)["free"]
            while not freed.flag and time.monotonic() < stop + JOIN_TIMEOUT:
                fn(None)
                time.sleep(0)  # let a worker leave C

        run_round(run, ops, round_s, seed * 1000 + rounds,
                  midway=free_midway if rounds % 3 == 1 else None)
        peer.end()
        cli.free()  # no thread is inside now: must succeed
        freed.flag = True
        check_after_free(cli, ops, run)
        for s in socks:
            s.close()
    gc.collect()
    leaked = fd_count() - fds0
    if leaked:
        run.violation(f"{leaked} fds leaked")
    return run.report(rounds=rounds, connected_rounds=connected, fds_leaked=leaked,
                      methods=sorted(n for n, _, _ in ops))


# ---- TLSSocket -------------------------------------------------------------

TLS_IO = {"do_handshake", "send", "sendall", "recv", "recv_into", "shutdown_send", "unwrap",
          "makefile_write", "makefile_read"}


def tls_ops(tls: s2n.TLSSocket, run: Run, closed: Freed, unwrapped: List[socket.socket]):
    buf = bytearray(4096)

    def c(name, weight, make, must_raise=None):
        if must_raise is None:
            must_raise = name in TLS_IO

        def fn(rng):
            before = closed.flag
            run.call(name, make(rng), before, must_raise)
        return (name, weight, fn)

    def close(rng):
        try:
            tls.close()
        except BaseException as e:  # noqa: BLE001
            run.violation(f"close raised {type(e).__name__}: {e}")
            return
        closed.flag = True
        with run.lock:
            run.outcomes["close:ok"] += 1

    def unwrap():
        sock = tls.unwrap()
        unwrapped.append(sock)  # closed at the end of the round (no fd leak)
        closed.flag = True
        return sock

    def makefile(write: bool, rng):
        def go():
            f = tls.makefile("rwb", buffering=0)
            try:
                if write:
                    return f.write(b"m" * rng.randint(1, 100))
                return f.readinto(buf)
            finally:
                f.close()
        return go

    timeouts = (0.0, 0.01, 0.05, 0.2, None)
    g = 0.5
    return [
        ("close", 0.005, close),
        c("unwrap", 0.01, lambda r: unwrap),
        c("do_handshake", 2, lambda r: tls.do_handshake),
        c("send", 5, lambda r: lambda: tls.send(b"s" * r.randint(1, 3000))),
        c("sendall", 5, lambda r: lambda: tls.sendall(b"a" * r.randint(1, 3000))),
        c("recv", 5, lambda r: lambda: tls.recv(r.choice((1, 100, 16384)))),
        c("recv_into", 4, lambda r: lambda: tls.recv_into(buf, r.choice((0, 1, 500)))),
        c("shutdown_send", 0.02, lambda r: tls.shutdown_send),
        c("makefile_write", 0.5, lambda r: makefile(True, r)),
        c("makefile_read", 0.5, lambda r: makefile(False, r)),
        c("settimeout", 2, lambda r: lambda: tls.settimeout(r.choice(timeouts))),
        c("setblocking", 0.3, lambda r: lambda: tls.setblocking(r.random() < 0.5)),
        c("gettimeout", g, lambda r: tls.gettimeout),
        c("getblocking", g, lambda r: tls.getblocking),
        c("pending", g, lambda r: tls.pending),
        c("fileno", g, lambda r: tls.fileno),
        c("getpeername", g, lambda r: tls.getpeername),
        c("getsockname", g, lambda r: tls.getsockname),
        c("version", g, lambda r: tls.version),
        c("cipher", g, lambda r: tls.cipher),
        c("selected_alpn_protocol", g, lambda r: tls.selected_alpn_protocol),
        c("getpeercert", g, lambda r: tls.getpeercert),
        c("repr", g, lambda r: lambda: repr(tls)),
    ]


def tls_check_after_close(tls: s2n.TLSSocket, run: Run, unwrapped: List[socket.socket]) -> None:
    buf = bytearray(10)
    io_calls = {"do_handshake": tls.do_handshake, "send": lambda: tls.send(b"x"),
                "sendall": lambda: tls.sendall(b"x"), "recv": tls.recv,
                "recv_into": lambda: tls.recv_into(buf), "shutdown_send": tls.shutdown_send,
                "unwrap": tls.unwrap}
    for name, fn in io_calls.items():
        try:
            fn()
        except OSError as e:
            if e.errno != errno.EBADF:
                run.violation(f"TLSSocket.{name} after close: {e!r} (want EBADF)")
        except BaseException as e:  # noqa: BLE001
            run.violation(f"TLSSocket.{name} after close: {type(e).__name__}: {e}")
        else:
            run.violation(f"TLSSocket.{name} after close returned")
    for name, want in (("version", None), ("cipher", None), ("selected_alpn_protocol", None),
                       ("getpeercert", None), ("pending", 0),
                       # after unwrap() the socket is the caller's, still open
                       ("fileno", unwrapped[0].fileno() if unwrapped else -1)):
        got = getattr(tls, name)()
        if got != want:
            run.violation(f"TLSSocket.{name} after close: {got!r}, want {want!r}")
    tls.close()  # idempotent


def _echo_server(lsock: socket.socket, scfg: s2n.Config, stop: threading.Event) -> None:
    """One TLS connection: handshake, echo until EOF, error or stop."""
    try:
        lsock.settimeout(5)
        sock, _ = lsock.accept()
    except OSError:
        return
    sock.settimeout(0.05)
    try:
        tls = s2n.TLSSocket(sock, scfg, server_side=True, do_handshake_on_connect=False)
    except BaseException:  # noqa: BLE001
        sock.close()
        return
    try:
        deadline = time.monotonic() + 5
        while not stop.is_set():
            try:
                tls.do_handshake()
                break
            except TimeoutError:
                if time.monotonic() > deadline:
                    return
        while not stop.is_set():
            try:
                data = tls.recv(16384)
            except TimeoutError:
                continue
            if not data:
                return
            try:
                tls.sendall(data[:2000])
            except TimeoutError:
                pass
    except (s2n.S2NError, OSError):
        return
    finally:
        tls.close()


def stress_tlssocket(pki, seconds: float, round_s: float = 0.25, seed: int = 2) -> Dict[str, Any]:
    from conftest import client_config, server_config

    ccfg, scfg = client_config(pki), server_config(pki)
    run = Run(sockets=True)
    fds0 = fd_count()
    end = time.monotonic() + seconds
    rounds = 0
    lsock = socket.create_server(("127.0.0.1", 0))
    port = lsock.getsockname()[1]
    try:
        while time.monotonic() < end or rounds == 0:
            rounds += 1
            stop = threading.Event()
            server = threading.Thread(target=_echo_server, args=(lsock, scfg, stop), daemon=True)
            server.start()
            sock = socket.create_connection(("127.0.0.1", port), timeout=0.2)
            tls = s2n.wrap_socket(sock, ccfg, server_hostname="localhost",
                                  do_handshake_on_connect=False)
            closed = Freed()
            unwrapped: List[socket.socket] = []
            ops = tls_ops(tls, run, closed, unwrapped)

            def close_now(tls=tls, closed=closed) -> None:
                tls.close()  # wakes the calls still waiting (OSError EBADF)
                closed.flag = True

            run_round(run, ops, round_s, seed * 1000 + rounds, at_end=close_now)
            tls_check_after_close(tls, run, unwrapped)
            stop.set()
            server.join(JOIN_TIMEOUT)
            if server.is_alive():
                run.violation("the echo server thread hung")
                break
            for s in unwrapped:
                s.close()
    finally:
        lsock.close()
    gc.collect()
    leaked = fd_count() - fds0
    if leaked:
        run.violation(f"{leaked} fds leaked")
    return run.report(rounds=rounds, fds_leaked=leaked, methods=sorted(n for n, _, _ in ops))


# ---- MemoryBIO -------------------------------------------------------------

def stress_memorybio(seconds: float, seed: int = 3) -> Dict[str, Any]:
    """N threads writing, reading, peeking at ONE MemoryBIO (with a limit).
    Invariant: no byte is lost, duplicated or corrupted: per byte value,
    written == read + left pending. Each writer writes its own byte value."""
    run = Run(sockets=False)
    bio = s2n.MemoryBIO(limit=1 << 16)
    written: Counter = Counter()
    read: Counter = Counter()
    eof_at = time.monotonic() + seconds * 0.8  # write_eof late in the run
    eof_done = threading.Event()
    stop = time.monotonic() + seconds

    def worker(i: int) -> None:
        rng = random.Random(seed * 100 + i)
        value = i + 1
        mine_w: Counter = Counter()
        mine_r: Counter = Counter()
        buf = bytearray(3000)
        while time.monotonic() < stop:
            op = rng.random()
            try:
                if op < 0.35:
                    n = rng.randint(1, 5000)
                    data = bytes([value]) * n
                    kind = rng.random()
                    if kind < 0.4:
                        got = bio.write(data)
                    elif kind < 0.7:
                        got = bio.write(bytearray(data))
                    else:
                        got = bio.write(memoryview(data))
                    if got != n:
                        run.violation(f"write returned {got}, want {n}")
                    mine_w[value] += n
                elif op < 0.6:
                    out = bio.read(rng.choice((-1, 1, 100, 4000)))
                    mine_r.update(out)
                elif op < 0.8:
                    n = bio.readinto(buf)
                    mine_r.update(buf[:n])
                elif op < 0.9:
                    p = bio.pending
                    if p < 0 or p > (1 << 16):
                        run.violation(f"pending {p} outside [0, limit]")
                elif op < 0.95:
                    e = bio.eof
                    if e and not eof_done.is_set():
                        run.violation("eof before write_eof")
                else:
                    repr(bio)
                if not eof_done.is_set() and time.monotonic() > eof_at and i == 0:
                    eof_done.set()  # before: a write racing it may already see the EOF
                    bio.write_eof()
                with run.lock:
                    run.calls += 1
                    run.outcomes["ok"] += 1
            except BufferError:
                with run.lock:
                    run.calls += 1
                    run.outcomes["BufferError:limit"] += 1
            except s2n.UsageError as e:
                with run.lock:
                    run.calls += 1
                    if e.name == "S2N_PY_ERR_BIO_EOF" and eof_done.is_set():
                        run.outcomes["UsageError:S2N_PY_ERR_BIO_EOF"] += 1
                    else:
                        run.violations.append(f"UsageError {e.name}: {e}")
            except BaseException as e:  # noqa: BLE001
                run.violation(f"{type(e).__name__}: {e}")
        with run.lock:
            written.update(mine_w)
            read.update(mine_r)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + JOIN_TIMEOUT)
    if any(t.is_alive() for t in threads):
        raise SystemExit("a MemoryBIO worker hung")
    rest = Counter(bio.read())
    for v in set(written) | set(read) | set(rest):
        if written[v] != read[v] + rest[v]:
            run.violation(f"byte {v}: written {written[v]}, read {read[v]} + left {rest[v]}")
    if not bio.eof:
        run.violation("eof not set after write_eof and draining")
    return run.report(bytes_moved=sum(read.values()) + sum(rest.values()))


def main(kind: str, pki, seconds: float) -> None:
    if kind == "memorybio":
        r = stress_memorybio(seconds)
    elif kind == "tlssocket":
        r = stress_tlssocket(pki, seconds)
    else:
        r = stress_connection(pki, kind, seconds)
    print(json_report(r))
    if r["n_violations"]:
        raise SystemExit(f"{r['n_violations']} contract violations")
    print("OK")
