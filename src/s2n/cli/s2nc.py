"""s2nc: s2n-tls's example client (bin/s2nc.c), same flags and output,
on the public s2n API. `python -m s2n s2nc [options] host [port]`."""

from __future__ import annotations

import os
import select
import socket
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

import s2n

from ._s2ntools import (Exit, SharedOptions, atoi, deserialize_in, echo, err, flag_table, guard,
                        key_log, negotiate, on, out, parse, print_connection_info, print_error,
                        print_failure, psk, read_file, send_all, serialize_out, to, tool_main,
                        wait, wait_for_shutdown, write_stdout)

PROG = "s2nc"
SHORT = "a:c:ehn:m:sf:d:l:k:D:t:irTCBL:P:E:"
LONG = ["alpn=", "ciphers=", "enter-fips-mode", "echo", "send-file=", "help", "name=", "status",
        "mfl=", "ca-file=", "ca-dir=", "cert=", "key=", "insecure", "reconnect", "ticket-out=",
        "ticket-in=", "no-session-ticket", "serialize-out=", "deserialize-in=", "dynamic=",
        "timeout=", "corked-io", "tls13", "non-blocking", "key-log=", "psk=", "early-data=",
        "renegotiation=", "npn", "buffered-send=", "prefer-low-latency", "prefer-throughput"]


def usage() -> str:
    return """usage: s2nc [options] host [port]
 host: hostname or IP address to connect to
 port: port to connect to (default 443)

 Options:
  -a,--alpn [protocols]       comma-separated ALPN protocols
  -c,--ciphers [policy]       s2n-tls security policy (default "default")
  -e,--echo                   after the handshake, stdin to the server, the server to stdout
  --send-file [path]          send the file's contents after connecting
  -n,--name [server name]     SNI (default: host)
  -s,--status                 request (and check) the server's OCSP status
  -m,--mfl [512|1024|2048|4096]  request a maximum fragment length
  -f,--ca-file [path]         trust store CA file (PEM)
  -d,--ca-dir [path]          directory of hashed trusted certs
  -i,--insecure               INSECURE: do not verify the server's certificate
  -l,--cert [path]            client certificate chain (PEM), for client auth
  -k,--key [path]             its private key (PEM)
  -r,--reconnect              reconnect 5 times, resuming the session
  -T,--no-session-ticket      resume with session IDs rather than tickets
  --ticket-out [path]         save the session to path
  --ticket-in [path]          resume the session saved in path
  -D,--dynamic [bytes] -t,--timeout [seconds]  dynamic record size threshold and timeout
  -C,--corked-io              TCP_CORK while writing flights
  -B,--non-blocking           non-blocking socket (always the case here)
  -L,--key-log [path]         INSECURE: append NSS key log lines to path
  -P,--psk [id,hexsecret,SHA256|SHA384]  external PSK (repeatable, up to 10)
  -E,--early-data [path]      send the file as early data when resuming
  --buffered-send [bytes]     buffer sends up to this size
  --renegotiation [accept|reject|wait]  answer TLS 1.2 renegotiation requests
                              (wait: accept, but start once more data arrives)
  --npn                       offer NPN too, with the --alpn list
  --prefer-low-latency, --prefer-throughput
  -h,--help
Unsupported here (exit 1): --enter-fips-mode (the bundled AWS-LC is not a FIPS build).
"""


@dataclass
class Options(SharedOptions):
    alpn: Optional[str] = None
    ciphers: str = "default"
    echo: bool = False
    send_file: Optional[bytes] = None
    name: Optional[str] = None
    status: bool = False
    mfl: int = 0
    ca_file: Optional[str] = None
    ca_dir: Optional[str] = None
    cert: Optional[bytes] = None
    key: Optional[bytes] = None
    insecure: bool = False
    reconnect: int = 0
    ticket_out: Optional[str] = None
    ticket_in: Optional[str] = None
    session_ticket: bool = True
    dyn_threshold: int = 0
    dyn_timeout: int = 0
    early_data: Optional[bytes] = None
    renegotiation: Optional[str] = None
    port: str = "443"


def _file(path: str) -> bytes:
    return read_file(PROG, path)


def _renegotiation(val: str) -> str:
    if val not in ("accept", "reject", "wait"):
        raise Exit(1, f"Unrecognized option: {val}\n")
    return val


FLAGS = flag_table(
    PROG, usage,
    (("-a", "--alpn"), to("alpn")),
    (("-c", "--ciphers"), to("ciphers")),
    (("-e", "--echo"), on("echo")),
    (("--send-file",), to("send_file", _file)),
    (("-n", "--name"), to("name")),
    (("-s", "--status"), on("status")),
    (("-m", "--mfl"), to("mfl", atoi)),
    (("-f", "--ca-file"), to("ca_file")),
    (("-d", "--ca-dir"), to("ca_dir")),
    (("-l", "--cert"), to("cert", _file)),
    (("-k", "--key"), to("key", _file)),
    (("-i", "--insecure"), on("insecure")),
    (("-r", "--reconnect"), on("reconnect", 5)),
    (("--ticket-out",), to("ticket_out")),
    (("--ticket-in",), to("ticket_in")),
    (("-T", "--no-session-ticket"), on("session_ticket", False)),
    (("-t", "--timeout"), to("dyn_timeout", lambda v: min(255, atoi(v)))),
    (("-D", "--dynamic"), to("dyn_threshold", lambda v: max(0, atoi(v)))),
    (("-E", "--early-data"), to("early_data", _file)),
    (("--renegotiation",), to("renegotiation", _renegotiation)),
)


def options(argv: List[str]) -> Options:
    o = Options()
    opts, rest = parse(PROG, argv, SHORT, LONG, {}, usage)
    for flag, val in opts:
        FLAGS[flag](o, val)
    if not rest:
        raise Exit(1, usage())
    o.host = rest[0]
    if len(rest) > 1:
        o.port = rest[1]
    if o.low_latency and o.throughput:
        raise Exit(1, "prefer-throughput and prefer-low-latency options are mutually exclusive\n")
    if o.mfl and o.mfl not in (512, 1024, 2048, 4096):
        raise Exit(1, "Invalid maximum fragment length value\n")
    return o


def _verify_host(trusted: str) -> Callable[[str], bool]:
    """s2nc checks the certificate against the host it connects to (not
    --name), with wildcards, and takes localhost and 127.0.0.1 as one."""
    trusted = trusted.lower()
    local = ("localhost", "127.0.0.1")

    def check(name: str) -> bool:
        name = name.lower()
        if len(name) > 2 and name.startswith("*."):
            dot = trusted.find(".")
            return dot >= 0 and trusted[dot:] == name[1:]
        if name in local:
            return trusted in local
        return name == trusted

    return check


def make_config(o: Options, on_ticket: Callable[[s2n.Connection, bytes, int], None]) -> s2n.Config:
    cfg = s2n.Config()
    # Blinding hides timing from an attacker probing a server; a command-line
    # client that failed has nothing to hide, and harnesses expect it to exit
    # at once rather than after s2n-tls's 10-30 s delay.
    cfg.set_max_blinding_delay(0)
    guard("Error setting cipher prefs", cfg.set_cipher_preferences, o.ciphers)
    if o.status:
        guard("OCSP validation is not supported by the linked libCrypto implementation. It cannot be set.",
               cfg.set_status_request_type, s2n.StatusRequestType.OCSP)
        try:
            cfg.set_check_stapled_ocsp_response(True)
        except s2n.S2NError as e:
            print_error("OCSP validation is not supported by the linked libCrypto implementation. "
                        "It cannot be set.", e)
    cfg.set_verify_host_callback(_verify_host(o.host))
    if o.alpn is not None:
        guard("Failed to set protocol preferences", cfg.set_protocol_preferences,
               [p for p in o.alpn.split(",") if p])
    if o.mfl:
        guard("Error setting maximum fragment length", cfg.send_max_fragment_length, o.mfl)
    if o.send_buffer:
        guard("Error setting send buffer size", cfg.set_send_buffer_size, o.send_buffer)
    if (o.cert is None) != (o.key is None):
        raise Exit(1, f"[{os.getpid()}] Client cert/key pair must be given.\n")
    if o.cert is not None:
        guard("Error getting certificate/key", cfg.add_cert_chain_and_key, o.cert, o.key)
    if o.ca_file or o.ca_dir:
        guard("Error setting CA file for trust store.", cfg.set_verification_ca_location, o.ca_file, o.ca_dir)
    elif o.insecure:
        cfg.disable_x509_verification()
    else:
        guard("Error loading the system trust store", cfg.load_system_certs)
    if o.session_ticket:
        cfg.set_session_tickets_onoff(True)
        cfg.set_session_ticket_callback(on_ticket)
    if o.key_log:
        key_log(PROG, o.key_log, cfg)
    if o.npn:
        guard("Error setting npn support", cfg.set_npn, True)
    if o.serialize_out:
        guard("Error setting serialized version", cfg.set_serialization_version, s2n.SerializationVersion.V1)
    return cfg


class Renegotiation:
    """--renegotiation: the answer to a server's HelloRequest, and whether
    one was accepted (then echo stops, and the new handshake runs)."""

    def __init__(self, mode: str) -> None:
        self.response = s2n.RenegotiateResponse.REJECT if mode == "reject" else s2n.RenegotiateResponse.ACCEPT
        self.wait: bool = mode == "wait"
        self.requested: bool = False
        self.bytes_in_at_request: int = 0

    def __call__(self, conn: s2n.Connection) -> s2n.RenegotiateResponse:
        if self.response == s2n.RenegotiateResponse.ACCEPT:
            self.requested = True
            self.bytes_in_at_request = conn.get_wire_bytes_in()
        return self.response


def renegotiate(conn: s2n.Connection, fd: int, reneg: Renegotiation) -> bool:
    data_came = conn.get_wire_bytes_in() != reneg.bytes_in_at_request  # the wipe resets the count
    try:
        conn.renegotiate_wipe()
        conn.set_client_auth_type(s2n.ClientAuth.OPTIONAL)
    except s2n.S2NError as e:
        print_error("Unable to prepare connection for renegotiate", e)
        return False
    out("RENEGOTIATE\n")
    if reneg.wait and not data_came:
        # The integration suite's case of application data in the middle of
        # the new handshake: start only once the server has sent some. (Data
        # that came right behind the request, in the same receive, counts:
        # upstream would wait for more that may never come.)
        select.select([fd], [], [])
    while True:
        try:
            data = conn.renegotiate()
        except s2n.BlockedError as e:
            wait(fd, e.blocked)
            continue
        except (s2n.S2NError, OSError) as e:
            print_failure("renegotiate", e)
            return False
        if data is None:
            break
        write_stdout(data)
    print_connection_info(conn)
    out("s2n is ready, again\n")
    return True


def _connect(o: Options) -> socket.socket:
    try:
        infos = socket.getaddrinfo(o.host, o.port, socket.AF_UNSPEC, socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise Exit(1, f"error: {e.strerror}\n")
    for family, kind, proto, _, addr in infos:
        try:
            sock = socket.socket(family, kind, proto)
        except OSError:
            continue
        try:
            sock.connect(addr)
            return sock
        except OSError:
            sock.close()
    raise Exit(1, f"Failed to connect to {o.host}:{o.port}\n")


def _send_early_data(conn: s2n.Connection, fd: int, data: bytes) -> None:
    sent = 0
    while sent < len(data):
        try:
            n = conn.send_early_data(data[sent:])
        except s2n.BlockedError as e:
            wait(fd, e.blocked)
            continue
        except (s2n.S2NError, OSError) as e:
            print_error("Error sending early data", e)
            raise Exit(1)
        sent += n
        if n == 0:
            break  # the early data phase is over (nothing more allowed)


def run(o: Options) -> int:
    state: Dict[str, Any] = {"session": b"", "ticket": False}
    if o.ticket_in:
        state["session"] = read_file(PROG, o.ticket_in)

    def on_ticket(conn: s2n.Connection, session: bytes, lifetime: int) -> None:
        state["session"] = bytes(session)
        state["ticket"] = True

    reconnect = o.reconnect
    while True:
        sock = _connect(o)
        sock.setblocking(False)
        fd = sock.fileno()
        cfg = make_config(o, on_ticket)
        reneg = Renegotiation(o.renegotiation) if o.renegotiation else None
        if reneg is not None:
            guard("Error setting renegotiation request callback", cfg.set_renegotiate_request_cb, reneg)
        conn = s2n.Connection(s2n.Mode.CLIENT, cfg)
        if o.deserialize_in:
            deserialize_in(PROG, conn, o.deserialize_in)
        guard("Error setting server name", conn.set_server_name, o.name or o.host)
        conn.set_fd(sock)
        conn.set_client_auth_type(s2n.ClientAuth.OPTIONAL)
        if o.corked:
            guard("Error setting corked io", conn.use_corked_io)
        if state["session"]:
            guard("Error setting session state in connection", conn.set_session, state["session"])
        for spec in o.psks:
            guard("Error appending psk to the connection", conn.append_psk, psk(PROG, spec))
        if o.throughput:
            conn.prefer_throughput()
        if o.low_latency:
            conn.prefer_low_latency()
        state["ticket"] = False
        if o.early_data is not None:
            if not o.session_ticket:
                raise Exit(1, f"[{os.getpid()}] Early data can only be used with session tickets.\n")
            if state["session"]:
                _send_early_data(conn, fd, o.early_data)
        if not o.deserialize_in and not negotiate(conn, fd):
            return 255  # upstream returns -1 from main
        out(f"Connected to {o.host}:{o.port}\n")

        if reconnect > 0 or o.ticket_out:
            if conn.get_actual_protocol_version() >= s2n.ProtocolVersion.TLS1_3:
                if not o.session_ticket:
                    raise Exit(1, f"[{os.getpid()}] s2nc can only reconnect in TLS1.3 with session tickets.\n")
                echo(conn, fd, stop=lambda: state["ticket"], wait_after_eof=True)
            else:
                if not o.session_ticket and conn.get_session_id_length() <= 0:
                    raise Exit(1, f"[{os.getpid()}] Endpoint sent empty session id so cannot resume session\n")
                state["session"] = guard("Error getting serialized session state", conn.get_session)
            if o.ticket_out:
                try:
                    with open(o.ticket_out, "wb") as f:
                        f.write(state["session"])
                except OSError as e:
                    raise Exit(1, f"Failed to write to ticket-out file: {e.strerror}\n")

        if o.dyn_threshold > 0 and o.dyn_timeout > 0:
            conn.set_dynamic_record_threshold(o.dyn_threshold, o.dyn_timeout)
        conn.free_handshake()
        if o.send_file is not None:
            out("Sending file contents:\n" + o.send_file.decode("utf-8", "replace") + "\n")
            send_all(conn, fd, o.send_file)
        while o.echo:
            if reneg is None:
                echo(conn, fd, serializing=bool(o.serialize_out))
                break
            echo(conn, fd, stop=lambda: reneg.requested)
            if not reneg.requested:
                break
            reneg.requested = False
            if not renegotiate(conn, fd, reneg):
                err(f"[{os.getpid()}] Renegotiation failed\n")
                return 1
        if o.serialize_out:
            serialize_out(PROG, conn, o.serialize_out)
        elif not wait_for_shutdown(conn, fd):
            err(f"[{os.getpid()}] Error closing connection\n")
            return 1
        conn.free()
        sock.close()
        reconnect -= 1
        if reconnect < 0:
            return 0


def main(argv: Optional[List[str]] = None) -> int:
    return tool_main(run, options, argv)


if __name__ == "__main__":
    raise SystemExit(main())
