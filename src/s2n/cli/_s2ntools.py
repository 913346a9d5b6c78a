"""Shared by s2nc and s2nd: option parsing, the connection report, the
stdin/peer pump. Faithful to s2n-tls's bin/ tools (the lines its
integration suite parses are printed byte for byte); built on the public
s2n API only."""

from __future__ import annotations

import errno
import getopt
import os
import select
import socket
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, TypeVar

import s2n

_O = TypeVar("_O")  # a tool's parsed options
_T = TypeVar("_T")

BUFSIZE = 10240


class Exit(Exception):
    """Leave the program with `code` after printing `message` (if any) to stderr."""

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def out(text: str) -> None:
    """stdout, unbuffered like the C tools: harnesses wait for these lines."""
    write_stdout(text.encode("utf-8", "surrogateescape"))


def write_stdout(data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(1, view):]


def err(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


# --- options --------------------------------------------------------------

def parse(prog: str, argv: Sequence[str], short: str, longs: Sequence[str],
          optional_arg: Dict[str, Tuple[str, str]], usage: Callable[[], str]
          ) -> Tuple[List[Tuple[str, str]], List[str]]:
    """GNU getopt (options and operands in any order, unique long prefixes).
    `optional_arg` maps an option taking an *optional* argument (getopt's
    "X::") to (its long name, the value when absent): Python's getopt has no
    such options, so a bare one gets its default spelled out."""
    fixed: List[str] = []
    for a in argv:
        for short_opt, (long_name, default) in optional_arg.items():
            if a == short_opt or a == "--" + long_name:
                a = f"--{long_name}={default}"
        fixed.append(a)
    try:
        return getopt.gnu_getopt(fixed, short, list(longs))
    except getopt.GetoptError as e:
        raise Exit(1, f"{prog}: {e}\n{usage()}")


@dataclass
class SharedOptions:
    """The options both tools have (set by flag_table's shared flags)."""
    corked: bool = False
    key_log: Optional[str] = None
    psks: List[str] = field(default_factory=list)
    send_buffer: int = 0
    low_latency: bool = False
    throughput: bool = False
    npn: bool = False
    serialize_out: Optional[str] = None
    deserialize_in: Optional[str] = None
    host: str = ""


# How a flag sets a tool's options: setter(options, argument). Each tool has
# one table, flag spelling -> setter, the flags both tools share included.
Setter = Callable[[Any, str], None]
MAX_PSKS = 10


def to(field: str, convert: Callable[[str], Any] = str) -> Setter:
    """The flag's argument, converted, into `field`."""
    return lambda o, val: setattr(o, field, convert(val))


def on(field: str, value: Any = True) -> Setter:
    """A flag without an argument: `field` = `value`."""
    return lambda o, val: setattr(o, field, value)


def ignored(o: Any, val: str) -> None:
    """Accepted, changes nothing (deprecated upstream, or always so here)."""


def fail(message: str) -> Setter:
    def setter(o: Any, val: str) -> None:
        raise Exit(1, message)
    return setter


def _add_psk(o: Any, val: str) -> None:
    if len(o.psks) >= MAX_PSKS:
        raise Exit(1, f"Error setting psks, maximum number of psks permitted is {MAX_PSKS}.\n")
    o.psks.append(val)


def _send_buffer(val: str) -> int:
    n = atoi(val)
    if not 0 <= n <= 0xFFFFFFFF:
        raise Exit(1, "<buffer size> must be a positive 32 bit value\n")
    return n


def flag_table(prog: str, usage: Callable[[], str], *entries: Tuple[Sequence[str], Setter]) -> Dict[str, Setter]:
    """A tool's flags: its own `entries` and the ones s2nc and s2nd share."""
    shared: Tuple[Tuple[Sequence[str], Setter], ...] = (
        (("-h", "--help"), lambda o, val: fail(usage())(o, val)),
        (("--enter-fips-mode",), fail(f"Error entering FIPS mode. {prog} was not built against a "
                                      "FIPS-capable libcrypto.\n")),
        (("-C", "--corked-io"), on("corked")),
        (("--tls13",), ignored),  # deprecated upstream too: TLS 1.3 follows the security policy
        (("-B", "--non-blocking"), ignored),  # the sockets are always non-blocking here
        (("-L", "--key-log"), to("key_log")),
        (("-P", "--psk"), _add_psk),
        (("--buffered-send",), to("send_buffer", _send_buffer)),
        (("--prefer-low-latency",), on("low_latency")),
        (("--prefer-throughput",), on("throughput")),
        (("--npn",), on("npn")),
        (("--serialize-out",), to("serialize_out")),
        (("--deserialize-in",), to("deserialize_in")),
    )
    return {flag: setter for flags, setter in shared + entries for flag in flags}


def guard(what: str, fn: Callable[..., _T], *args: Any) -> _T:
    """fn(*args), or upstream's `what: 'message' : 'debug'` line and exit 1."""
    try:
        return fn(*args)
    except (s2n.S2NError, ValueError, OSError) as e:
        print_error(what, e)
        raise Exit(1)


def read_file(prog: str, path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise Exit(1, f"Failed to open file {path}: '{e.strerror or e}'\n")


def describe_error(e: BaseException) -> Tuple[str, str]:
    if isinstance(e, s2n.S2NError):
        return e.message, f"{e.name} {e.debug}".strip()
    if isinstance(e, OSError):
        return e.strerror or str(e), ""
    return str(e), type(e).__name__


def print_error(app_error: str, e: BaseException) -> None:
    msg, debug = describe_error(e)
    err(f"[{os.getpid()}] {app_error}: '{msg}' : '{debug}'\n")


def psk(prog: str, spec: str) -> s2n.ExternalPsk:
    """IDENTITY,HEXSECRET[,SHA256|SHA384] (s2n-tls's --psk)."""
    parts = [p for p in spec.split(",") if p]
    if len(parts) < 2:
        raise Exit(1, f"{prog}: --psk {spec}: expected identity,hex-secret[,SHA256|SHA384]\n")
    try:
        secret = bytes.fromhex(parts[1])
    except ValueError:
        raise Exit(1, "Invalid HEX encountered\n")
    hmac = s2n.PskHmac.SHA256
    if len(parts) > 2:
        if parts[2] not in ("SHA256", "SHA384"):
            raise Exit(1, "Invalid psk hmac algorithm\n")
        hmac = s2n.PskHmac[parts[2]]
    try:
        return s2n.ExternalPsk(parts[0].encode(), secret, hmac)
    except (s2n.S2NError, ValueError) as e:
        raise Exit(1, f"Error setting external PSK parameters: {describe_error(e)[0]}\n")


def key_log(prog: str, path: str, config: s2n.Config) -> None:
    """-L/--key-log PATH: append NSS key log lines. INSECURE (debugging only)."""
    try:
        f = open(path, "ab", buffering=0)
    except OSError as e:
        raise Exit(1, f"{prog}: Failed to open key log file {path}: {e.strerror}\n")

    def log(conn: s2n.Connection, line: bytes) -> None:
        f.write(bytes(line).rstrip(b"\n") + b"\n")

    config.set_key_log_cb(log)


# --- IO on a non-blocking socket ------------------------------------------

def wait(fd: int, blocked: s2n.Blocked) -> None:
    """Poll `fd` for what s2n-tls is blocked on."""
    if blocked == s2n.Blocked.ON_WRITE:
        select.select([], [fd], [])
    elif blocked == s2n.Blocked.ON_READ:
        select.select([fd], [], [])


def negotiate(conn: s2n.Connection, fd: int) -> bool:
    """Handshake, then print the connection report and "s2n is ready"."""
    while True:
        try:
            conn.negotiate()
            break
        except s2n.BlockedError as e:
            wait(fd, e.blocked)
        except (s2n.S2NError, OSError) as e:
            print_failure("negotiate", e)
            return False
    print_connection_info(conn)
    out("s2n is ready\n")
    return True


def print_failure(action: str, e: BaseException) -> None:
    """A failed handshake, as upstream's negotiate()/renegotiate() say it."""
    msg, debug = describe_error(e)
    err(f"Failed to {action}: '{msg}'. {debug}\n")
    if isinstance(e, s2n.AlertError):
        err(f"Alert: {e.alert}\n")


_EARLY = {"OK": "IN PROGRESS", "NOT_REQUESTED": "NOT REQUESTED", "REJECTED": "REJECTED", "END": "ACCEPTED"}


_SIG = {"ANONYMOUS": "None", "RSA_PSS_RSAE": "RSA-PSS-RSAE", "RSA_PSS_PSS": "RSA-PSS-PSS"}
_HASH = {"NONE": "None"}


def _signature(pair: Tuple[s2n.SignatureAlgorithm, s2n.HashAlgorithm]) -> str:
    sig, digest = pair
    return f"{_SIG.get(sig.name, sig.name)}+{_HASH.get(digest.name, digest.name)}"


SSLV2 = 20  # s2n_connection_get_client_hello_version for an SSLv2-format ClientHello


def print_connection_info(conn: s2n.Connection) -> None:
    lines = [
        "CONNECTED:",
        f"Handshake: {conn.get_handshake_type_name()}",
        f"Client hello version: {conn.get_client_hello_version()}",
        f"Client protocol version: {int(conn.get_client_protocol_version())}",
        f"Server protocol version: {int(conn.get_server_protocol_version())}",
        f"Actual protocol version: {int(conn.get_actual_protocol_version())}",
    ]
    if conn.get_client_hello_version() == SSLV2:
        # The line the integration suite's test_sslv2_client_hello.py looks for.
        lines.insert(2, "Warning: deprecated SSLv2-style ClientHello")
    name = conn.get_server_name()
    if name:
        lines.append(f"Server name: {name}")
    alpn = conn.get_application_protocol()
    if alpn:
        lines.append(f"Application protocol: {alpn}")
    lines.append(f"Curve: {conn.get_curve()}")
    # s2n-tls dropped its TLS 1.2 hybrid KEMs: s2n_connection_get_kem_name is always "NONE".
    lines.append("KEM: NONE")
    lines.append(f"KEM Group: {conn.get_kem_group_name()}")
    ocsp = conn.get_ocsp_response()
    if ocsp:
        lines.append(f"OCSP response received, length {len(ocsp)}")
    lines.append(f"Cipher negotiated: {conn.get_cipher()}")
    lines.append(f"Server signature negotiated: {_signature(conn.get_selected_signature_algorithm())}")
    client_sig = conn.get_selected_client_cert_signature_algorithm()
    if client_sig[0] != s2n.SignatureAlgorithm.ANONYMOUS:
        lines.append(f"Client signature negotiated: {_signature(client_sig)}")
    resumed = conn.is_session_resumed()
    if resumed:
        lines.append("Resumed session")
    identity = conn.get_negotiated_psk_identity()
    if identity and not resumed:
        lines.append(f"Negotiated PSK identity: {identity.decode('latin-1')}")
    lines.append(f"Early Data status: {_EARLY[conn.get_early_data_status().name]}")
    if conn.mode == s2n.Mode.SERVER and conn.get_client_hello_version() > SSLV2:
        lines.append(f"JA3: {conn.get_client_hello().get_fingerprint('ja3')[0]}")
    lines.append(f"Wire bytes in: {conn.get_wire_bytes_in()}")
    lines.append(f"Wire bytes out: {conn.get_wire_bytes_out()}")
    out("".join(line + "\n" for line in lines))


def send_all(conn: s2n.Connection, fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[conn.send(view):]
        except s2n.BlockedError as e:
            wait(fd, e.blocked)
        except (s2n.S2NError, OSError) as e:
            raise Exit(1, f"Error writing to connection: '{describe_error(e)[0]}'\n")


def _never() -> bool:
    return False


def _peer_closed(fd: int) -> bool:
    """The peer closed TCP and nothing is left to read (a peek: the data
    stays for s2n-tls)."""
    with socket.socket(fileno=os.dup(fd)) as s:
        try:
            return s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True


def echo(conn: s2n.Connection, fd: int, stop: Optional[Callable[[], bool]] = None,
         wait_after_eof: bool = False, serializing: bool = False) -> None:
    """Peer to stdout, stdin to the peer, until the peer closes, stdin ends,
    or `stop()` (checked after each read from the peer). With
    `wait_after_eof`, the end of stdin only stops reading it: s2nc waits so
    for a TLS 1.3 ticket (upstream would give up, and not resume, when stdin
    is /dev/null). With `serializing`, a peer that closed TCP (it serialized
    its side and left) ends the echo before s2n-tls sees the close, which
    would make this side's state unserializable."""
    stdin = sys.stdin.fileno()
    watch = [fd, stdin]
    if stop is None:
        stop = _never
    while not stop():
        readable, _, _ = select.select(watch, [], [])
        if fd in readable:
            if serializing and _peer_closed(fd):
                return
            while True:
                try:
                    data = conn.recv(BUFSIZE)
                except s2n.BlockedError:
                    break
                except s2n.ClosedError:
                    return  # TCP closed without close_notify: the shutdown step reports it
                except s2n.AlertError as e:
                    raise Exit(1, f"Received alert: {e.alert}\n")
                except (s2n.S2NError, OSError) as e:
                    raise Exit(1, f"Error reading from connection: '{describe_error(e)[0]}'\n")
                if not data:
                    return
                write_stdout(data)
                if stop():
                    return  # e.g. a renegotiation was accepted: no further recv
            if stop():
                return
        if stdin in readable:
            try:
                data = os.read(stdin, BUFSIZE)
            except InterruptedError:
                continue
            except OSError:
                raise Exit(1, "Error reading from stdin\n")
            if not data:
                err("Exiting on stdin EOF\n")
                if len(watch) == 2 and wait_after_eof:
                    watch.remove(stdin)
                    continue
                return
            send_all(conn, fd, data)


def serialize_out(prog: str, conn: s2n.Connection, path: str) -> None:
    """--serialize-out: the connection's state to `path`, instead of a
    shutdown (the peer does the same; both go on with --deserialize-in)."""
    try:
        data = conn.serialize()
        with open(path, "wb") as f:
            f.write(data)
    except (s2n.S2NError, OSError) as e:
        print_error("Error serializing connection", e)
        raise Exit(1)


def deserialize_in(prog: str, conn: s2n.Connection, path: str) -> None:
    try:
        conn.deserialize(read_file(prog, path))
    except s2n.S2NError as e:
        print_error("Failed to deserialize file", e)
        raise Exit(1)


def wait_for_shutdown(conn: s2n.Connection, fd: int) -> bool:
    while True:
        try:
            conn.shutdown()
            return True
        except s2n.BlockedError as e:
            wait(fd, e.blocked)
        except s2n.ClosedError:
            # OpenSSL's s_server never sends close_notify; killed peers neither.
            out("Connection closed by peer\n")
            return True
        except (s2n.IOError, ConnectionResetError, BrokenPipeError) as e:
            if getattr(e, "errno", None) in (errno.ECONNRESET, errno.EPIPE):
                out("Connection reset by peer\n")
                return True
            err(f"Unexpected IO error during shutdown: {describe_error(e)[0]}\n")
            return False
        except (s2n.S2NError, OSError):
            return False


def tool_main(run: Callable[[_O], int], options: Callable[[List[str]], _O],
              argv: Optional[List[str]] = None) -> int:
    """The entry point both tools share: parse, run, map Exit to its code."""
    import signal

    argv = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    try:
        return run(options(argv))
    except Exit as e:
        if e.message:
            err(e.message)
        return e.code
    except KeyboardInterrupt:
        return 130


def atoi(text: str) -> int:
    """As the C tools read numbers: atoi(), so not a number is 0."""
    try:
        return int(text)
    except ValueError:
        return 0
