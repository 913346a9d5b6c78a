"""Stateful API fuzzer (issue 13, item 2): Hypothesis state machines that call
the public API in random order with random, often bad, arguments.

Two machines:

- `MemoryMachine`: Configs, Connections and MemoryBIO pairs in memory (plus
  Python IO callbacks): config setters before and after freezing, handshakes,
  send/recv of random sizes, tampered bytes, EOFs, shutdown/shutdown_send,
  wipe, free, set_config, and callbacks (verify host, session ticket, key
  log, client hello, IO) that raise, return garbage or call back into the
  connection; any operation may also run in a second thread, concurrently
  with one on the main thread.
- `SocketMachine`: TLSSocket pairs over loopback TCP: handshakes, send,
  sendall, recv, recv_into, shutdown_send, unwrap, close (also from a second
  thread while the other thread waits), timeouts, bad arguments.

The invariant, checked at every step: the call returns normally or raises a
documented exception: s2n.S2NError (and subclasses), ValueError, TypeError,
BufferError (MemoryBIO.write past its limit), OSError/TimeoutError (sockets),
or the exception a callback raised. The bytes received are the bytes sent
(while nobody tampered with the stream). Anything else fails the run.

A crash (a signal) or a hang must not take pytest down with it: each machine
runs in a subprocess, and inside it a watchdog (faulthandler) dumps every
thread's stack and exits when one step takes longer than STEP_TIMEOUT.

CI runs both machines briefly (the tests below, ~1 minute). Longer runs:

    python scripts/fuzz_api.py --seed 1 --duration 600
    S2N_FUZZ_SEED=1234 pytest tests/test_fuzz_api.py    # replay a CI seed
"""

from __future__ import annotations

import argparse
import collections
import faulthandler
import gc
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

import s2n
from conftest import PKI

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis import seed as hyp_seed  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.stateful import (  # noqa: E402
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

HERE = Path(__file__).resolve().parent

# Longest any single step may take before the watchdog calls it a hang.
STEP_TIMEOUT = float(os.environ.get("S2N_FUZZ_STEP_TIMEOUT", "30"))
# How long the main thread waits for the helper thread of a concurrent step.
JOIN_TIMEOUT = 10.0


class Boom(Exception):
    """What misbehaving callbacks raise: the driving call must raise it."""


class Hang(AssertionError):
    pass


ALLOWED = (s2n.S2NError, ValueError, TypeError, Boom)
ALLOWED_SOCKET = ALLOWED + (OSError, TimeoutError)


def _pattern(start: int, n: int, salt: int) -> bytes:
    """Bytes [start, start+n) of a per-direction stream: a received byte at
    the wrong position (lost, duplicated, crossed) shows."""
    period = 251
    base = bytes((i * 7 + salt) % 256 for i in range(period))
    off = start % period
    reps = (off + n) // period + 1
    return (base * reps)[off:off + n]


OUTCOMES: "collections.Counter" = collections.Counter()  # (call, outcome) -> count, for --stats


def _call(what: str, fn, allowed=ALLOWED, *args, **kwargs):
    """Run one API call; return (result, exception). An exception outside
    `allowed` fails the run (AssertionError with the original as cause)."""
    name = what.split("(")[0]
    try:
        r = fn(*args, **kwargs)
        OUTCOMES[name, "ok"] += 1
        return r, None
    except allowed as e:
        OUTCOMES[name, getattr(e, "name", "") or type(e).__name__] += 1
        return None, e
    except Exception as e:  # noqa: BLE001 - the invariant
        raise AssertionError(f"{what} raised an undocumented {type(e).__name__}: {e!r}") from e


class Watchdog:
    """Re-armed at each step: a step that takes longer than STEP_TIMEOUT
    dumps all stacks and ends the process (exit status 1)."""

    last = 0.0

    @classmethod
    def arm(cls) -> None:
        now = time.monotonic()
        if now - cls.last > 1.0:  # re-arming costs ~0.5 ms: at most once a second
            faulthandler.dump_traceback_later(STEP_TIMEOUT, exit=True)
            cls.last = now

    @classmethod
    def disarm(cls) -> None:
        faulthandler.cancel_dump_traceback_later()
        cls.last = 0.0


def in_thread(fn, timeout: float = JOIN_TIMEOUT):
    """Start fn in a helper thread; returns join() -> (result, exception)
    that fails with Hang when the thread is still running after `timeout`."""
    box: dict = {}

    def target():
        try:
            box["r"] = fn()
        except BaseException as e:  # noqa: BLE001 - judged by the caller
            box["e"] = e

    t = threading.Thread(target=target, daemon=True, name="fuzz-helper")
    t.start()

    def join():
        t.join(timeout)
        if t.is_alive():
            raise Hang(f"the helper thread's call did not return within {timeout} s")
        return box.get("r"), box.get("e")

    return join


# ---------------------------------------------------------------- callbacks

BEHAVIOURS = ["ok", "raise", "garbage", "reenter", "peer", "thread"]


def _bad_bool():
    class Weird:
        def __bool__(self):
            raise Boom("__bool__ of a callback's result")
    return Weird()


class Pair:
    """A client and a server Connection joined in memory."""

    def __init__(self, ccfg, scfg, limit, io_kind):
        self.client = s2n.Connection(s2n.Mode.CLIENT, ccfg)
        self.server = s2n.Connection(s2n.Mode.SERVER, scfg)
        # c2s: what the client writes, s2c: what the server writes
        self.c2s = s2n.MemoryBIO(limit=limit)
        self.s2c = s2n.MemoryBIO(limit=limit)
        self.io_kind = io_kind
        self.sent = [0, 0]  # bytes accepted by send(): client->server, server->client
        self.got = [0, 0]  # bytes received
        self.checked = True  # stream integrity can be checked (nobody tampered)
        self.setup_io(self.client)
        self.setup_io(self.server)
        for c in (self.client, self.server):
            c.set_blinding(s2n.Blinding.SELF_SERVICE)
        self.client.set_server_name("localhost")

    def conn(self, side: int):
        return self.client if side == 0 else self.server

    def peer(self, conn):
        return self.server if conn is self.client else self.client

    def setup_io(self, conn) -> None:
        incoming, outgoing = (self.s2c, self.c2s) if conn is self.client else (self.c2s, self.s2c)
        if self.io_kind == "memory":
            conn.set_memory_io(incoming, outgoing)
            return

        # Python IO callbacks over the same BIOs.
        def recv(buf):
            data = incoming.read(len(buf))
            if not data:
                if incoming.eof:
                    return 0
                raise BlockingIOError()
            buf[:len(data)] = data
            return len(data)

        def send(data):
            try:
                return outgoing.write(data)
            except BufferError:
                raise BlockingIOError() from None

        conn.set_recv_cb(recv)
        conn.set_send_cb(send)


class MemoryMachine(RuleBasedStateMachine):
    """Configs, Connections and MemoryBIOs in memory, in random order."""

    pki: PKI = None  # set by run()
    examples = 0
    steps = 0

    def __init__(self):
        super().__init__()
        type(self).examples += 1
        self.configs = []  # (kind, Config)
        self.pairs = []
        self.stray = []  # joins of helper threads started by callbacks
        self.callback_log = []
        self.kept_views = []  # memoryviews IO callbacks kept beyond their call

    # ---- helpers

    def _step(self) -> None:
        type(self).steps += 1
        Watchdog.arm()

    def _config(self, kind: str) -> s2n.Config:
        c = s2n.Config()
        if kind == "server":
            c.add_cert_chain_and_key(self.pki.path("server.pem"), self.pki.path("server.key"))
        else:
            c.add_pem_to_trust_store(self.pki.path("ca.pem"))
        c.set_max_blinding_delay(0)  # the built-in blinding would sleep 10-30 s (wipe resets blinding)
        return c

    def _make_cb(self, kind: str, behaviour: str):
        """A callback of `kind` that behaves as `behaviour`."""
        log = self.callback_log
        pairs = self.pairs
        stray = self.stray

        def misbehave(conn=None):
            log.append((kind, behaviour))
            if behaviour == "raise":
                raise Boom(f"{kind} callback")
            if behaviour == "reenter" and conn is not None:
                # Everything but getters raises UsageError in here (or is allowed: client hello).
                conn.get_cipher() if conn.handshake_complete() else conn.get_server_name()
                conn.wipe()
            if behaviour == "peer" and pairs:
                other = pairs[-1]
                for c in (other.client, other.server):
                    if c is not conn:
                        c.negotiate()  # drives another connection from inside this one's callback
            if behaviour == "thread" and conn is not None:
                # Another thread calls into this connection while its driving
                # call holds the locks: it must wait (not deadlock, not crash).
                stray.append(in_thread(lambda: conn.get_delay(), timeout=STEP_TIMEOUT / 3))
                time.sleep(0)
            return None

        if kind == "verify_host":
            def verify(name):
                misbehave()
                if behaviour == "garbage":
                    return _bad_bool()
                return behaviour != "garbage"
            return verify
        if kind == "ticket":
            def ticket(conn, data, lifetime):
                misbehave(conn)
                return object() if behaviour == "garbage" else None
            return ticket
        if kind == "key_log":
            def key_log(conn, line):
                misbehave(conn)
                return 42 if behaviour == "garbage" else None
            return key_log
        if kind == "session_cache":
            class Cache(s2n.SessionIdCache):
                """Keeps sessions, misbehaving in each of the three calls."""

                def store(self, conn, key, value, ttl):
                    misbehave(conn)
                    super().store(conn, key, value, ttl)

                def retrieve(self, conn, key):
                    misbehave(conn)
                    return b"\x00" * 70000 if behaviour == "garbage" else super().retrieve(conn, key)

                def delete(self, conn, key):
                    misbehave(conn)
                    super().delete(conn, key)
            return Cache()
        if kind == "client_hello":
            def client_hello(conn):
                if behaviour == "reenter":
                    log.append((kind, behaviour))
                    hello = conn.get_client_hello()
                    hello.server_name() if hasattr(hello, "server_name") else None
                    conn.set_cipher_preferences("default_tls13")
                    conn.set_config(conn.config)
                    return None
                misbehave(conn)
                return "garbage" if behaviour == "garbage" else None
            return client_hello
        raise AssertionError(kind)

    def _io_cb(self, behaviour: str, conn_ref: list, sending: bool, garbage=None):
        """A misbehaving IO callback (installed after a pair exists)."""
        def cb(buf):
            conn = conn_ref[0]
            if behaviour == "raise":
                raise Boom("io callback")
            if behaviour == "oserror":
                raise OSError(5, "EIO from a callback")
            if behaviour == "blocking":
                raise BlockingIOError()
            if behaviour == "garbage":
                return len(buf) + 1 if garbage is None else garbage
            if behaviour == "reenter":
                conn.send(b"x")  # UsageError: re-entry
            if behaviour == "free":
                conn.free()  # UsageError: re-entry
            if behaviour == "keep":
                self.kept_views.append(buf)  # keep the view beyond the call
                return 0 if not sending else len(buf)
            return 0
        return cb

    def _pair(self, i: int):
        return self.pairs[i % len(self.pairs)] if self.pairs else None

    # ---- rules: configs

    @initialize()
    def init_configs(self):
        self._step()
        self.configs.append(("client", self._config("client")))
        self.configs.append(("server", self._config("server")))

    @rule(kind=st.sampled_from(["client", "server"]))
    def new_config(self, kind):
        self._step()
        if len(self.configs) < 8:
            self.configs.append((kind, self._config(kind)))

    @rule(i=st.integers(0, 7), setter=st.sampled_from([
        "cipher", "alpn", "blinding", "tickets", "ticket_count", "ticket_key", "send_buffer",
        "multi_record", "alert", "client_auth", "max_frag", "accept_frag", "serialization",
        "verify_host", "ticket_cb", "key_log", "client_hello", "chain_depth",
        "session_lifetime", "status_request", "trust_garbage", "cert_garbage",
        "npn", "dhparams", "session_cache",
    ]), arg=st.one_of(st.integers(-2**40, 2**40), st.sampled_from([0, 1, 2, 16, 255, 256, 512]),
                      st.text(max_size=20), st.binary(max_size=40), st.none(), st.booleans(),
                      st.sampled_from(["default_tls13", "20240503", "default", "test_all", "a\0b"])),
        behaviour=st.sampled_from(BEHAVIOURS), nb=st.booleans())
    def config_setter(self, i, setter, arg, behaviour, nb):
        self._step()
        kind, c = self.configs[i % len(self.configs)]
        cb = None
        if setter in ("verify_host", "ticket_cb", "key_log", "client_hello", "session_cache"):
            cb = self._make_cb({"verify_host": "verify_host", "ticket_cb": "ticket",
                                "key_log": "key_log", "client_hello": "client_hello",
                                "session_cache": "session_cache"}[setter],
                               behaviour)
            if behaviour == "garbage" and arg is None:
                cb = "not callable"
        calls = {
            "cipher": lambda: c.set_cipher_preferences(arg if isinstance(arg, (str, bytes)) else arg),
            "alpn": lambda: c.set_protocol_preferences(
                [arg] if isinstance(arg, (str, bytes)) else ["h2", "http/1.1"] if arg else arg),
            "blinding": lambda: c.set_max_blinding_delay(arg if not isinstance(arg, int) or arg <= 0 else 0),
            "tickets": lambda: c.set_session_tickets_onoff(bool(arg)),
            "ticket_count": lambda: c.set_initial_ticket_count(arg),
            "ticket_key": lambda: c.add_ticket_crypto_key(
                arg if isinstance(arg, (str, bytes)) else b"key", os.urandom(32)),
            "send_buffer": lambda: c.set_send_buffer_size(arg),
            "multi_record": lambda: c.set_recv_multi_record(bool(arg)),
            "alert": lambda: c.set_alert_behavior(arg),
            "client_auth": lambda: c.set_client_auth_type(arg),
            "max_frag": lambda: c.send_max_fragment_length(arg),
            "accept_frag": lambda: c.accept_max_fragment_length(),
            "serialization": lambda: c.set_serialization_version(arg),
            "verify_host": lambda: c.set_verify_host_callback(cb),
            "ticket_cb": lambda: c.set_session_ticket_callback(cb),
            "key_log": lambda: c.set_key_log_cb(cb),
            "client_hello": lambda: c.set_client_hello_cb(
                cb, s2n.ClientHelloCbMode.NONBLOCKING if nb else s2n.ClientHelloCbMode.BLOCKING),
            "chain_depth": lambda: c.set_max_cert_chain_depth(arg),
            "session_lifetime": lambda: c.set_session_state_lifetime(arg),
            "status_request": lambda: c.set_status_request_type(arg),
            "trust_garbage": lambda: c.add_pem_to_trust_store(
                arg if isinstance(arg, (str, bytes)) else b"-----BEGIN CERTIFICATE-----\nAAAA\n"),
            "npn": lambda: c.set_npn(bool(arg)),
            "dhparams": lambda: c.add_dhparams(
                arg if isinstance(arg, (str, bytes)) else None if arg else b"-----BEGIN DH PARAMETERS-----\n"),
            "session_cache": lambda: c.set_session_cache(cb if arg is not None else object()),
            "cert_garbage": lambda: c.add_cert_chain_and_key(
                b"-----BEGIN CERTIFICATE-----\n" + (arg if isinstance(arg, bytes) else b"") + b"\n",
                self.pki.path("server.key")),
        }
        frozen = c.frozen
        _, err = _call(f"Config.{setter}({arg!r})", calls[setter])
        if frozen and setter != "ticket_key":
            assert err is not None, f"Config.{setter} changed a frozen Config"

    # ---- rules: connections

    @rule(ci=st.integers(0, 7), si=st.integers(0, 7), limit=st.sampled_from([None, None, 1, 100, 5000]),
          io_kind=st.sampled_from(["memory", "memory", "callbacks"]), handshake=st.booleans())
    def new_pair(self, ci, si, limit, io_kind, handshake):
        self._step()
        if len(self.pairs) >= 4:
            old = self.pairs.pop(0)
            _call("free", old.client.free)
            _call("free", old.server.free)
        # Mostly a client config for the client and a server one for the server.
        clients = [c for k, c in self.configs if k == "client"] if ci < 6 else []
        servers = [c for k, c in self.configs if k == "server"] if si < 6 else []
        ccfg = clients[ci % len(clients)] if clients else self.configs[ci % len(self.configs)][1]
        scfg = servers[si % len(servers)] if servers else self.configs[si % len(self.configs)][1]
        p, err = _call("new pair", Pair, ALLOWED, ccfg, scfg, limit, io_kind)
        if p is not None:
            self.pairs.append(p)
            if handshake:
                self._handshake(p, 12)

    @rule(i=st.integers(0, 3), rounds=st.integers(1, 12))
    def handshake(self, i, rounds):
        self._step()
        p = self._pair(i)
        if p is None:
            return
        self._handshake(p, rounds)

    def _handshake(self, p: Pair, rounds: int) -> None:
        done = [False, False]
        for _ in range(rounds):
            for side in (0, 1):
                if done[side]:
                    continue
                conn = p.conn(side)
                _, err = _call("negotiate", conn.negotiate)
                if err is None:
                    done[side] = True
                elif isinstance(err, s2n.BlockedError) and err.blocked == s2n.Blocked.ON_APPLICATION_INPUT:
                    _call("client_hello_cb_done", conn.client_hello_cb_done)
                elif not isinstance(err, s2n.BlockedError):
                    done[side] = True  # failed for good
            if all(done):
                break

    @rule(i=st.integers(0, 3), side=st.integers(0, 1),
          n=st.one_of(st.integers(0, 70000), st.sampled_from([0, 1, 16383, 16384, 16385])),
          kind=st.sampled_from(["bytes", "bytearray", "memoryview", "str", "int", "sendv"]))
    def send(self, i, side, n, kind):
        self._step()
        p = self._pair(i)
        if p is None:
            return
        self._send(p, side, n, kind)

    def _send(self, p: Pair, side: int, n: int, kind: str):
        data = _pattern(p.sent[side], n, side)
        conn = p.conn(side)
        if kind == "sendv":
            half = n // 2
            r, err = _call("sendv_with_offset", conn.sendv_with_offset, ALLOWED,
                           [data[:half], bytearray(data[half:])], 0)
        else:
            arg = {"bytes": data, "bytearray": bytearray(data), "memoryview": memoryview(data),
                   "str": "text", "int": 12345}[kind]
            r, err = _call("send", conn.send, ALLOWED, arg)
        if err is None:
            assert 0 <= r <= n, f"send of {n} bytes returned {r}"
            p.sent[side] += r
        elif kind in ("str", "int"):
            assert isinstance(err, (TypeError, s2n.UsageError)), err
        return r, err

    @rule(i=st.integers(0, 3), side=st.integers(0, 1),
          n=st.one_of(st.integers(-2, 70000), st.sampled_from([300000])),
          into=st.booleans())
    def recv(self, i, side, n, into):
        self._step()
        p = self._pair(i)
        if p is None:
            return
        self._recv(p, side, n, into)

    def _recv(self, p: Pair, side: int, n: int, into: bool):
        conn = p.conn(side)
        if into:
            buf = bytearray(max(n, 0))
            r, err = _call("recv_into", conn.recv_into, ALLOWED, buf)
            data = bytes(buf[:r]) if err is None else None
        else:
            data, err = _call("recv", conn.recv, ALLOWED, n)
        if err is None:
            assert isinstance(data, bytes)
            if not into:
                assert len(data) <= n
            d = 1 - side  # the direction this side receives
            if p.checked:
                want = _pattern(p.got[d], len(data), d)
                assert data == want, f"received bytes that were not sent ({len(data)} bytes at {p.got[d]})"
                assert p.got[d] + len(data) <= p.sent[d], "received more than was sent"
            p.got[d] += len(data)
        elif n < 0 and not into:
            assert isinstance(err, ValueError), err
        return data, err

    @rule(i=st.integers(0, 3), which=st.integers(0, 1),
          what=st.sampled_from(["flip", "garbage", "eof", "drop", "bad_write"]),
          data=st.binary(min_size=1, max_size=300), pos=st.integers(0, 10**6))
    def tamper(self, i, which, what, data, pos):
        """The network misbehaves: bytes flipped, injected, dropped; an EOF."""
        self._step()
        p = self._pair(i)
        if p is None:
            return
        bio = p.c2s if which == 0 else p.s2c
        if what == "eof":
            bio.write_eof()
            return
        if what == "bad_write":
            _call("MemoryBIO.write", bio.write, ALLOWED + (BufferError,),
                  ["str", 5, None, memoryview(data)][pos % 4])
            return
        p.checked = False
        if what == "flip":
            buf = bytearray(bio.read())
            if buf:
                buf[pos % len(buf)] ^= 0x40
            _call("MemoryBIO.write", bio.write, ALLOWED + (BufferError,), buf)
        elif what == "garbage":
            _call("MemoryBIO.write", bio.write, ALLOWED + (BufferError,), data)
        elif what == "drop":
            bio.read(pos % 400)

    @rule(i=st.integers(0, 3), side=st.integers(0, 1),
          op=st.sampled_from(["shutdown", "shutdown_send", "wipe", "free", "free_handshake",
                              "release_buffers", "getters", "set_config", "set_config_bad",
                              "server_name", "blinding", "dyn_threshold", "session",
                              "verify_host_cb", "io_cb", "memory_io_bad", "key_update",
                              "exporter", "tickets", "serialize", "reset_io"]),
          arg=st.one_of(st.integers(-2**33, 2**33), st.text(max_size=10), st.binary(max_size=50),
                        st.none()),
          behaviour=st.sampled_from(BEHAVIOURS + ["oserror", "blocking", "free", "keep"]))
    def conn_op(self, i, side, op, arg, behaviour):
        self._step()
        p = self._pair(i)
        if p is None:
            return
        self._conn_op(p, side, op, arg, behaviour)

    def _conn_op(self, p: Pair, side: int, op: str, arg, behaviour: str):
        conn = p.conn(side)
        if op == "shutdown":
            return _call("shutdown", conn.shutdown)
        if op == "shutdown_send":
            return _call("shutdown_send", conn.shutdown_send)
        if op == "wipe":
            p.checked = False
            r = _call("wipe", conn.wipe)
            if behaviour in ("ok", "raise"):  # set IO again (or not)
                _call("set io", p.setup_io, ALLOWED, conn)
                _call("set_blinding", conn.set_blinding, ALLOWED, s2n.Blinding.SELF_SERVICE)
            return r
        if op == "free":
            r = _call("free", conn.free)
            _call("free again", conn.free)
            return r
        if op == "free_handshake":
            return _call("free_handshake", conn.free_handshake)
        if op == "release_buffers":
            _call("release_buffers_if_idle", conn.release_buffers_if_idle)
            return _call("release_buffers", conn.release_buffers)
        if op == "getters":
            for g in ("get_delay", "get_actual_protocol_version", "get_client_protocol_version",
                      "get_server_protocol_version", "get_cipher", "get_cipher_iana_value",
                      "get_application_protocol", "get_server_name", "get_handshake_type_name",
                      "get_curve", "get_kem_group_name", "handshake_complete",
                      "is_session_resumed", "client_cert_used", "get_wire_bytes_in",
                      "get_wire_bytes_out", "get_peer_cert_chain", "get_session", "peek",
                      "peek_buffered", "pending", "get_alert", "get_client_hello",
                      "get_client_auth_type", "get_selected_cert", "get_ocsp_response",
                      "is_ocsp_stapled", "get_sct_list", "get_key_update_counts",
                      "get_key_exchange_group", "get_tickets_sent",
                      "get_session_ticket_lifetime_hint"):
                _call(g, getattr(conn, g))
            repr(conn)
            return None, None
        if op == "set_config":
            cfg = self.configs[(arg if isinstance(arg, int) else 0) % len(self.configs)][1]
            return _call("set_config", conn.set_config, ALLOWED, cfg)
        if op == "set_config_bad":
            r = _call("set_config(bad)", conn.set_config, ALLOWED, arg)
            assert r[1] is not None
            return r
        if op == "server_name":
            return _call("set_server_name", conn.set_server_name, ALLOWED, arg)
        if op == "blinding":
            return _call("set_blinding", conn.set_blinding, ALLOWED, arg)
        if op == "dyn_threshold":
            return _call("set_dynamic_record_threshold", conn.set_dynamic_record_threshold,
                         ALLOWED, arg, arg)
        if op == "session":
            return _call("set_session", conn.set_session, ALLOWED,
                         arg if isinstance(arg, (bytes, type(None), int)) else arg)
        if op == "verify_host_cb":
            return _call("set_verify_host_callback", conn.set_verify_host_callback, ALLOWED,
                         self._make_cb("verify_host", behaviour if behaviour in BEHAVIOURS else "ok"))
        if op == "io_cb":
            p.checked = False
            ref = [conn]
            garbage = {0: -1, 1: 2**70, 2: 1.5, 3: True, 4: "x"}.get(
                arg % 6 if isinstance(arg, int) else None, None)
            if isinstance(arg, int) and arg % 2:
                return _call("set_recv_cb", conn.set_recv_cb, ALLOWED,
                             self._io_cb(behaviour, ref, False, garbage))
            return _call("set_send_cb", conn.set_send_cb, ALLOWED, self._io_cb(behaviour, ref, True, garbage))
        if op == "memory_io_bad":
            return _call("set_memory_io(bad)", conn.set_memory_io, ALLOWED, arg, p.c2s)
        if op == "reset_io":
            return _call("set io", p.setup_io, ALLOWED, conn)
        if op == "key_update":
            return _call("request_key_update", conn.request_key_update, ALLOWED,
                         arg if isinstance(arg, int) and abs(arg) < 3 else s2n.PeerKeyUpdate.NOT_REQUESTED)
        if op == "exporter":
            n = arg if isinstance(arg, int) else 32
            return _call("tls_exporter", conn.tls_exporter, ALLOWED, b"EXPERIMENTAL label", b"",
                         n % 5000 if n > 0 else n)
        if op == "tickets":
            return _call("add_new_tickets_to_send", conn.add_new_tickets_to_send, ALLOWED,
                         arg if isinstance(arg, int) else 1)
        if op == "serialize":
            return _call("serialize", conn.serialize)
        raise AssertionError(op)

    @rule(i=st.integers(0, 3), j=st.integers(0, 3), side=st.integers(0, 1), other=st.integers(0, 1),
          first=st.sampled_from(["send", "recv", "negotiate", "shutdown_send", "shutdown", "free",
                                 "wipe", "getters", "set_config", "release_buffers"]),
          second=st.sampled_from(["send", "recv", "negotiate", "free", "getters", "shutdown_send",
                                  "set_config", "io_cb", "server_name"]),
          n=st.integers(0, 40000))
    def concurrent(self, i, j, side, other, first, second, n):
        """One operation in a helper thread, another on this thread, at once."""
        self._step()
        p, q = self._pair(i), self._pair(j)
        if p is None:
            return
        p.checked = q.checked = False  # the order of the two calls is unknown

        def op(pair, s, name):
            conn = pair.conn(s)
            if name == "send":
                return self._send(pair, s, n, "bytes")
            if name == "recv":
                return self._recv(pair, s, n, False)
            if name == "negotiate":
                return _call("negotiate", conn.negotiate)
            return self._conn_op(pair, s, name, 0, "ok")

        join = in_thread(lambda: op(p, side, first))
        try:
            op(q, other, second)
        finally:
            _, e = join()
        if e is not None:
            raise e  # an AssertionError from the helper thread's invariant check

    @rule()
    def collect(self):
        """Drop references and collect: finalizers run while others live on."""
        self._step()
        if len(self.pairs) > 1:
            self.pairs.pop(0)
        if len(self.configs) > 3:
            self.configs.pop(2)
        self.kept_views.clear()
        gc.collect(1)  # a full collection of Hypothesis's heap costs ~20 ms

    @invariant()
    def strays_finish(self):
        for join in self.stray:
            _, e = join()  # Hang if still running
            if e is not None and not isinstance(e, ALLOWED):
                raise AssertionError(f"a callback's helper thread raised {e!r}") from e
        self.stray.clear()

    def teardown(self):
        Watchdog.arm()
        for join in self.stray:
            join()
        self.stray.clear()
        for p in self.pairs:
            for c in (p.client, p.server):
                _call("free", c.free)
        self.pairs.clear()
        self.configs.clear()


# ---------------------------------------------------------------- sockets

class SockPair:
    def __init__(self, listener, ccfg, scfg, timeout):
        self.cs = socket.create_connection(listener.getsockname(), timeout=5)
        self.ss, _ = listener.accept()
        self.cs.settimeout(timeout)
        self.ss.settimeout(timeout)
        self.client = s2n.wrap_socket(self.cs, ccfg, server_hostname="localhost",
                                      do_handshake_on_connect=False)
        self.server = s2n.wrap_socket(self.ss, scfg, server_side=True, do_handshake_on_connect=False)
        self.sent = [0, 0]
        self.got = [0, 0]
        self.inflight = [0, 0]  # a sendall running in another thread
        self.checked = True

    def tls(self, side):
        return self.client if side == 0 else self.server


class SocketMachine(RuleBasedStateMachine):
    """TLSSocket pairs over loopback TCP, with bounded timeouts."""

    pki: PKI = None
    examples = 0
    steps = 0

    def __init__(self):
        super().__init__()
        type(self).examples += 1
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.pairs = []
        c = s2n.Config()
        c.add_pem_to_trust_store(self.pki.path("ca.pem"))
        s = s2n.Config()
        s.add_cert_chain_and_key(self.pki.path("server.pem"), self.pki.path("server.key"))
        for cfg in (c, s):
            cfg.set_max_blinding_delay(0)
        self.ccfg, self.scfg = c, s

    def _step(self):
        type(self).steps += 1
        Watchdog.arm()

    def _pair(self, i):
        return self.pairs[i % len(self.pairs)] if self.pairs else None

    @rule(timeout=st.sampled_from([0.0, 0.01, 0.05, 0.3]))
    def new_pair(self, timeout):
        self._step()
        if len(self.pairs) >= 3:
            old = self.pairs.pop(0)
            old.client.close()
            old.server.close()
        p, _ = _call("wrap_socket", SockPair, ALLOWED_SOCKET, self.listener, self.ccfg, self.scfg, timeout)
        if p is not None:
            self.pairs.append(p)

    @rule(i=st.integers(0, 2))
    def handshake(self, i):
        self._step()
        p = self._pair(i)
        if p is None:
            return
        for t in (p.client, p.server):
            if t.gettimeout() == 0.0:
                t.settimeout(0.5)  # a handshake needs both sides: not in one non-blocking step
        join = in_thread(lambda: _call("do_handshake", p.server.do_handshake, ALLOWED_SOCKET))
        try:
            _call("do_handshake", p.client.do_handshake, ALLOWED_SOCKET)
        finally:
            (_, e), err = join()
            assert err is None, err

    @rule(i=st.integers(0, 2), side=st.integers(0, 1), n=st.integers(0, 300000),
          how=st.sampled_from(["send", "sendall", "bad"]))
    def send(self, i, side, n, how):
        self._step()
        p = self._pair(i)
        if p is None:
            return
        self._send(p, side, n, how)

    def _send(self, p, side, n, how):
        t = p.tls(side)
        data = _pattern(p.sent[side], n, side)
        if how == "bad":
            _, err = _call("send(bad)", t.send, ALLOWED_SOCKET, ["str", 5, None][n % 3])
            assert err is not None
            return
        if how == "send":
            r, err = _call("send", t.send, ALLOWED_SOCKET, data)
            if err is None:
                assert 0 <= r <= n
                p.sent[side] += r
        else:
            _, err = _call("sendall", t.sendall, ALLOWED_SOCKET, data)
            if err is None:
                p.sent[side] += n
            else:
                p.checked = False  # how much went is unknown

    @rule(i=st.integers(0, 2), side=st.integers(0, 1), n=st.integers(1, 100000))
    def exchange(self, i, side, n):
        """sendall on one side (helper thread), recv until it all came on the other."""
        self._step()
        p = self._pair(i)
        if p is None:
            return
        for t in (p.client, p.server):
            if t.gettimeout() is not None and t.gettimeout() < 0.3:
                _call("settimeout", t.settimeout, ALLOWED_SOCKET, 0.3)
        p.inflight[side] = n
        want = p.sent[side] + n
        join = in_thread(lambda: self._send(p, side, n, "sendall"))
        try:
            while p.got[side] < want:
                data, err = self._recv(p, 1 - side, 65536, False)
                if err is not None or not data:  # an error, or the peer's close_notify
                    break
        finally:
            _, e = join()
            p.inflight[side] = 0
        if e is not None:
            raise e

    @rule(i=st.integers(0, 2), side=st.integers(0, 1), n=st.integers(-1, 70000), into=st.booleans())
    def recv(self, i, side, n, into):
        self._step()
        p = self._pair(i)
        if p is None:
            return
        self._recv(p, side, n, into)

    def _recv(self, p, side, n, into):
        t = p.tls(side)
        if into:
            buf = bytearray(max(n, 0))
            r, err = _call("recv_into", t.recv_into, ALLOWED_SOCKET, buf)
            data = bytes(buf[:r]) if err is None else None
        else:
            data, err = _call("recv", t.recv, ALLOWED_SOCKET, n)
        if err is None:
            d = 1 - side
            if p.checked:
                assert data == _pattern(p.got[d], len(data), d), "received bytes that were not sent"
                assert p.got[d] + len(data) <= p.sent[d] + p.inflight[d], "received more than was sent"
            p.got[d] += len(data)
        return data, err

    @rule(i=st.integers(0, 2), side=st.integers(0, 1),
          op=st.sampled_from(["shutdown_send", "unwrap", "close", "settimeout", "setblocking",
                              "info", "pending", "makefile", "raw_shutdown"]),
          arg=st.sampled_from([0.0, 0.01, 0.3, -1, "x", True, False]))
    def sock_op(self, i, side, op, arg):
        self._step()
        p = self._pair(i)
        if p is None:
            return
        self._sock_op(p, side, op, arg)

    def _sock_op(self, p, side, op, arg):
        t = p.tls(side)
        if op == "shutdown_send":
            return _call("shutdown_send", t.shutdown_send, ALLOWED_SOCKET)
        if op == "unwrap":
            s, err = _call("unwrap", t.unwrap, ALLOWED_SOCKET)
            if s is not None:
                s.close()
            return
        if op == "close":
            return _call("close", t.close, ALLOWED_SOCKET)
        if op == "settimeout":
            return _call("settimeout", t.settimeout, ALLOWED_SOCKET, arg)
        if op == "setblocking":
            # setblocking(True) means no timeout: waits would be unbounded here.
            return _call("setblocking", t.setblocking, ALLOWED_SOCKET, False)
        if op == "info":
            for name in ("version", "cipher", "selected_alpn_protocol", "getpeercert", "fileno",
                         "getpeername", "getsockname", "gettimeout", "getblocking"):
                _call(name, getattr(t, name), ALLOWED_SOCKET)
            repr(t)
            return
        if op == "pending":
            return _call("pending", t.pending, ALLOWED_SOCKET)
        if op == "makefile":
            f, err = _call("makefile", t.makefile, ALLOWED_SOCKET, "rwb" if arg is True else arg)
            if f is not None:
                f.close()
            return
        if op == "raw_shutdown":
            # The peer's TCP goes away without close_notify.
            p.checked = False
            raw = p.cs if side == 0 else p.ss
            _call("socket.shutdown", raw.shutdown, ALLOWED_SOCKET, socket.SHUT_RDWR)
            return
        raise AssertionError(op)

    @rule(i=st.integers(0, 2), side=st.integers(0, 1), other=st.integers(0, 1),
          first=st.sampled_from(["recv", "send", "close", "shutdown_send", "handshake"]),
          second=st.sampled_from(["recv", "send", "close", "info", "settimeout", "shutdown_send"]),
          n=st.integers(0, 200000))
    def concurrent(self, i, side, other, first, second, n):
        self._step()
        p = self._pair(i)
        if p is None:
            return
        p.checked = False

        def op(s, name):
            if name == "recv":
                return self._recv(p, s, n, False)
            if name == "send":
                return self._send(p, s, n, "sendall")
            if name == "handshake":
                return _call("do_handshake", p.tls(s).do_handshake, ALLOWED_SOCKET)
            return self._sock_op(p, s, name, 0.05)

        join = in_thread(lambda: op(side, first))
        try:
            op(other, second)
        finally:
            _, e = join()
        if e is not None:
            raise e

    def teardown(self):
        Watchdog.arm()
        for p in self.pairs:
            for t in (p.client, p.server):
                t.settimeout(0.2)
                _call("close", t.close, ALLOWED_SOCKET)
        self.pairs.clear()
        self.listener.close()


MACHINES = {"memory": MemoryMachine, "socket": SocketMachine}


# ---------------------------------------------------------------- runner

def run(machine: str, seed: int, max_examples: int, steps: int, pki: PKI) -> dict:
    """Run one machine in this process with a fixed seed; raises on failure."""
    cls = MACHINES[machine]
    cls.pki = pki
    cls.examples = cls.steps = 0
    faulthandler.enable()
    t0 = time.monotonic()
    run_state_machine_as_test(
        hyp_seed(seed)(lambda: cls()),
        settings=settings(max_examples=max_examples, stateful_step_count=steps, deadline=None,
                          database=None, print_blob=True,
                          suppress_health_check=list(HealthCheck)))
    return {"examples": cls.examples, "steps": cls.steps, "seconds": time.monotonic() - t0}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="the stateful API fuzzer (tests/test_fuzz_api.py)")
    ap.add_argument("--machine", choices=["memory", "socket", "both"], default="both")
    ap.add_argument("--seed", type=int, default=None, help="first seed (default: random)")
    ap.add_argument("--duration", type=float, default=None,
                    help="run batches with seeds seed, seed+1, ... for this many seconds")
    ap.add_argument("--max-examples", type=int, default=50, help="examples per batch")
    ap.add_argument("--steps", type=int, default=50, help="steps per example")
    ap.add_argument("--stats", action="store_true", help="print how often each call ended how")
    ap.add_argument("--pki", type=Path, default=None, help="a directory made by conftest.PKI")
    args = ap.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    machines = ["memory", "socket"] if args.machine == "both" else [args.machine]
    tmp = None
    if args.pki is None:
        tmp = tempfile.TemporaryDirectory()
        pki = PKI(Path(tmp.name))
    else:
        pki = PKI.existing(args.pki)
    end = None if args.duration is None else time.monotonic() + args.duration
    total = {m: {"examples": 0, "steps": 0, "seconds": 0.0} for m in machines}
    batch = 0
    try:
        while True:
            for m in machines:
                s = seed + batch
                print(f"fuzz_api: machine={m} seed={s} max_examples={args.max_examples} "
                      f"steps={args.steps}", flush=True)
                try:
                    r = run(m, s, args.max_examples, args.steps, pki)
                except BaseException:
                    print(f"fuzz_api: FAILED machine={m} seed={s}; reproduce with: python "
                          f"scripts/fuzz_api.py --machine {m} --seed {s} "
                          f"--max-examples {args.max_examples} --steps {args.steps}", flush=True)
                    raise
                for k in r:
                    total[m][k] += r[k]
            batch += 1
            if end is None or time.monotonic() >= end:
                break
    finally:
        Watchdog.disarm()
        for m, t in total.items():
            if t["seconds"]:
                print(f"fuzz_api: {m}: {t['examples']} examples, {t['steps']} steps in "
                      f"{t['seconds']:.1f} s: {t['examples'] / t['seconds']:.1f} examples/s, "
                      f"{t['steps'] / t['seconds']:.0f} steps/s", flush=True)
        if args.stats:
            for (what, how), k in sorted(OUTCOMES.items()):
                print(f"  {what:<32} {how:<40} {k}")
        if tmp is not None:
            tmp.cleanup()
    print("OK")
    return 0


# ---------------------------------------------------------------- the tests (CI)

def _seed() -> int:
    env = os.environ.get("S2N_FUZZ_SEED")
    return int(env) if env else random.randrange(2**32)


@pytest.mark.timeout(200)
@pytest.mark.parametrize("machine,examples", [("memory", 400), ("socket", 60)])
def test_fuzz_api(pki, machine, examples):
    """The machine in a subprocess: a crash or a hang fails this test with its seed."""
    seed = _seed()
    cmd = [sys.executable, str(HERE / "test_fuzz_api.py"), "--machine", machine, "--seed", str(seed),
           "--max-examples", str(examples), "--pki", str(pki.dir)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=170,
                              cwd=pki.dir)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"fuzz_api seed={seed} machine={machine}: no result in time\n"
                    f"{(e.stdout or b'')[-3000:]!r}\n{(e.stderr or b'')[-5000:]!r}")
    assert proc.returncode == 0 and proc.stdout.strip().endswith("OK"), (
        f"fuzz_api FAILED: seed={seed} machine={machine} (exit {proc.returncode})\n"
        f"replay: S2N_FUZZ_SEED={seed} pytest tests/test_fuzz_api.py\n"
        f"stdout: {proc.stdout[-6000:]}\nstderr: {proc.stderr[-8000:]}")
    print(proc.stdout.strip().splitlines()[-2])


if __name__ == "__main__":
    sys.exit(main())


# ---------------------------------------------------------------- regressions found by the fuzzer

def test_send_callback_returning_zero_raises_instead_of_spinning(pki):
    """Found by the fuzzer: a send callback that returned 0 for a non-empty
    buffer made s2n-tls call it again at once, forever (s2n_flush loops
    while its buffer holds data): negotiate() never returned. Now the call
    raises ValueError. In a subprocess: the old behaviour hangs."""
    from conftest import run_isolated

    run_isolated("""
        calls = []
        def send(data):
            calls.append(len(data))
            return 0
        c = s2n.Connection(s2n.Mode.CLIENT, client_config(pki))
        c.set_send_cb(send)
        c.set_recv_cb(lambda buf: (_ for _ in ()).throw(BlockingIOError()))
        try:
            c.negotiate()
        except ValueError as e:
            assert "returned 0" in str(e), e
        else:
            raise AssertionError("negotiate() returned")
        assert len(calls) == 1, calls
        print("OK")
    """, pki, timeout=30)


def test_set_config_keeps_the_config_the_handshake_used(pki):
    """Found by the fuzzer (a segfault): after a handshake, set_config(other)
    dropped the Connection's reference to the first Config; once collected,
    the certificate the handshake selected was freed memory, and
    get_selected_cert() read it. The Connection now keeps every Config it
    used until it is freed."""
    from conftest import run_isolated

    run_isolated("""
        cin, sin = s2n.MemoryBIO(), s2n.MemoryBIO()
        cli = s2n.Connection(s2n.Mode.CLIENT, client_config(pki))
        cli.set_memory_io(sin, cin)
        cli.set_server_name("localhost")
        srv = s2n.Connection(s2n.Mode.SERVER, server_config(pki))
        srv.set_memory_io(cin, sin)
        for _ in range(10):
            for c in (cli, srv):
                try:
                    c.negotiate()
                except s2n.BlockedError:
                    pass
        assert srv.handshake_complete()
        before = srv.get_selected_cert()
        assert len(before) == 1
        srv.set_config(server_config(pki, cert="server-rsa"))
        gc.collect()
        junk = [s2n.Config() for _ in range(100)]  # reuse the freed memory
        assert srv.get_selected_cert() == before
        srv.free()
        print("OK")
    """, pki, timeout=30)


def test_an_int_where_bytes_belong_is_a_type_error(pki):
    """Found by the fuzzer (a hang): `bytes(n)` of an int argument made n zero
    bytes, so set_cipher_preferences(2**36) built and scanned 64 GiB. Every
    str/bytes argument now refuses ints with TypeError, at once. In a
    subprocess: the old behaviour eats the machine's memory."""
    from conftest import run_isolated

    run_isolated("""
        import time
        n = 2**36
        c = s2n.Config()
        conn = s2n.Connection(s2n.Mode.CLIENT)
        calls = [
            lambda: c.set_cipher_preferences(n),
            lambda: c.set_protocol_preferences([n]),
            lambda: conn.set_server_name(n),
            lambda: conn.set_session(n),
            lambda: conn.deserialize(n),
            lambda: conn.set_cipher_preferences(n),
            lambda: conn.set_protocol_preferences([n]),
        ]
        c.set_session_tickets_onoff(True)
        calls.append(lambda: c.add_ticket_crypto_key(b"name", n))
        calls.append(lambda: c.add_ticket_crypto_key(n, b"k" * 32))
        for call in calls:
            t0 = time.monotonic()
            try:
                call()
            except TypeError:
                pass
            else:
                raise AssertionError("accepted an int")
            assert time.monotonic() - t0 < 1
        c.set_cipher_preferences(memoryview(b"default_tls13"))  # bytes-likes still work
        c.set_protocol_preferences([bytearray(b"h2"), "http/1.1"])
        print("OK")
    """, pki, timeout=60)


def test_an_int_out_of_the_c_range_is_a_value_error():
    """Found by the fuzzer: a negative or huge int for a C integer parameter
    raised cffi's OverflowError, not the ValueError documented for bad
    arguments. Now a ValueError (that is also an OverflowError, for code
    that caught that)."""
    c = s2n.Config()
    conn = s2n.Connection(s2n.Mode.CLIENT)
    for call in (lambda: c.set_send_buffer_size(-1), lambda: c.set_send_buffer_size(2**40),
                 lambda: conn.set_dynamic_record_threshold(-1, 0),
                 lambda: conn.set_dynamic_record_threshold(0, 2**70)):
        with pytest.raises(ValueError) as info:
            call()
        assert isinstance(info.value, OverflowError)
