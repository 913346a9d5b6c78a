"""s2nd: s2n-tls's example server (bin/s2nd.c), same flags and output,
on the public s2n API. `python -m s2n s2nd [options] host port`."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import s2n

from ._s2ntools import (Exit, Setter, SharedOptions, atoi, deserialize_in, echo, err, flag_table,
                        guard, key_log, negotiate, on, out, parse, print_error, psk, read_file,
                        send_all, serialize_out, to, tool_main, wait, wait_for_shutdown,
                        write_stdout)

PROG = "s2nd"
SHORT = "c:hmnst:d:iTCX:wb:A:P:E:L:"
LONG = ["ciphers=", "enable-mfl", "enter-fips-mode", "help", "key=", "prefer-low-latency",
        "mutualAuth", "negotiate", "ocsp=", "parallelize", "prefer-throughput", "cert=",
        "self-service-blinding", "ca-dir=", "ca-file=", "insecure", "stk-file=",
        "no-session-ticket", "corked-io", "max-conns=", "tls13", "https-server", "https-bench=",
        "alpn=", "npn", "non-blocking", "key-log=", "psk=", "max-early-data=", "buffered-send=",
        "serialize-out=", "deserialize-in="]
MAX_CERTIFICATES = 50
# A fixed ticket key, so that several s2nd processes resume each other's
# sessions like upstream's (whose key differs: tickets are not interchangeable).
TICKET_KEY_NAME = b"s2nd.py.2024"
DEFAULT_TICKET_KEY = hashlib.sha256(b"s2n-tls for Python: s2nd default session ticket key").digest()


def usage() -> str:
    return """usage: s2nd [options] host port
 host: hostname or IP address to listen on
 port: port to listen on

 Options:
  -c,--ciphers [policy]       s2n-tls security policy (default "default")
  --cert [path] --key [path]  certificate chain and private key, PEM (repeatable, in pairs; required)
  -m,--mutualAuth             require a client certificate
  -n,--negotiate              only handshake, then shut down
  --prefer-low-latency, --prefer-throughput
  --enable-mfl                accept the client's maximum fragment length request
  --ocsp [path]               staple this DER OCSP response
  -s,--self-service-blinding  no 10-30 s delay on handshake errors (testing only)
  -t,--ca-file [path] -d,--ca-dir [path]  trust store for client certificates
  -i,--insecure               INSECURE: do not verify client certificates
  --stk-file [path]           session ticket key (raw bytes)
  -T,--no-session-ticket      no session tickets
  -C,--corked-io              TCP_CORK while writing flights
  -X,--max-conns[=N]          exit after N connections (1 when N is omitted)
  -A,--alpn [protocol]        the ALPN protocol to accept
  --non-blocking              non-blocking sockets (always the case here)
  -L,--key-log [path]         INSECURE: append NSS key log lines to path
  -P,--psk [id,hexsecret,SHA256|SHA384]  external PSK (repeatable, up to 10)
  -E,--max-early-data [bytes] early data allowed in session tickets
  --buffered-send [bytes]     buffer sends up to this size
  --parallelize               a new process for each connection
  -w,--https-server           answer each connection with a small HTTP page
  -b,--https-bench [bytes]    with -w: send that many bytes instead
  --npn                       accept NPN too, with the --alpn protocol
  -h,--help
Unsupported here (exit 1): --enter-fips-mode (the bundled AWS-LC is not a FIPS build).
Without --cert/--key: a throwaway certificate for localhost and 127.0.0.1.
"""


@dataclass
class Options(SharedOptions):
    ciphers: str = "default"
    certs: List[bytes] = field(default_factory=list)
    keys: List[bytes] = field(default_factory=list)
    mutual_auth: bool = False
    only_negotiate: bool = False
    enable_mfl: bool = False
    ocsp: Optional[str] = None
    self_service_blinding: bool = False
    ca_file: Optional[str] = None
    ca_dir: Optional[str] = None
    insecure: bool = False
    stk_file: Optional[str] = None
    session_ticket: bool = True
    max_conns: int = -1
    alpn: Optional[str] = None
    max_early_data: int = 0
    parallelize: bool = False
    https_server: bool = False
    https_bench: int = 0
    port: str = ""


def _pem(field_name: str) -> Setter:
    """--cert/--key: repeatable, in pairs."""
    def setter(o: Options, val: str) -> None:
        bucket: List[bytes] = getattr(o, field_name)
        if len(bucket) == MAX_CERTIFICATES:
            raise Exit(1, f"Cannot support more than {MAX_CERTIFICATES} certificates!\n")
        bucket.append(read_file(PROG, val))
    return setter


def _https_server(o: Options, val: str) -> None:
    out("Running s2nd in simple https server mode\n")
    o.https_server = True


def _https_bench(val: str) -> int:
    n = atoi(val)
    if n <= 0:
        raise Exit(1, "https-bench bytes needs to be some positive long value.\n")
    return n


FLAGS = flag_table(
    PROG, usage,
    (("-c", "--ciphers"), to("ciphers")),
    (("--enable-mfl",), on("enable_mfl")),
    (("--cert",), _pem("certs")),
    (("--key",), _pem("keys")),
    (("-m", "--mutualAuth"), on("mutual_auth")),
    (("-n", "--negotiate"), on("only_negotiate")),
    (("--ocsp",), to("ocsp")),
    (("-s", "--self-service-blinding"), on("self_service_blinding")),
    (("-d", "--ca-dir"), to("ca_dir")),
    (("-t", "--ca-file"), to("ca_file")),
    (("-i", "--insecure"), on("insecure")),
    (("--stk-file",), to("stk_file")),
    (("-T", "--no-session-ticket"), on("session_ticket", False)),
    (("-X", "--max-conns"), to("max_conns", atoi)),
    (("-A", "--alpn"), to("alpn")),
    (("-E", "--max-early-data"), to("max_early_data", atoi)),
    (("--parallelize",), on("parallelize")),
    (("-w", "--https-server"), _https_server),
    (("-b", "--https-bench"), to("https_bench", _https_bench)),
)


def options(argv: List[str]) -> Options:
    o = Options()
    opts, rest = parse(PROG, argv, SHORT, LONG, {"-X": ("max-conns", "1")}, usage)
    for flag, val in opts:
        FLAGS[flag](o, val)
    if o.throughput and o.low_latency:
        raise Exit(1, "prefer-throughput and prefer-low-latency options are mutually exclusive\n")
    if len(rest) < 2:
        raise Exit(1, usage())
    o.host, o.port = rest[0], rest[1]
    if len(o.certs) != len(o.keys):
        raise Exit(1, f"Mismatched certificate({len(o.certs)}) and private key({len(o.keys)}) count!\n")
    return o


class _PrintingCache(s2n.SessionIdCache):
    """The session-ID cache; like upstream's, a hit prints the session ID in hex."""

    def retrieve(self, conn: s2n.Connection, key: bytes) -> Optional[bytes]:
        value = super().retrieve(conn, key)
        if value is not None:
            out(key.hex() + "\n")
        return value


def _default_certificate() -> Tuple[List[bytes], List[bytes]]:
    """Without --cert/--key, like upstream's built-in test certificate: a
    throwaway ECDSA P-256 one for localhost and 127.0.0.1, with its CA,
    made at start (the `python -m s2n demo` PKI). Clients use -i."""
    from s2n._pki import demo_pki

    ca, leaf, key = demo_pki()
    return [leaf + ca], [key]


def make_config(o: Options) -> s2n.Config:
    cfg = s2n.Config()
    ocsp = read_file(PROG, o.ocsp) if o.ocsp else None
    certs, keys = (o.certs, o.keys) if o.certs else _default_certificate()
    for chain, key in zip(certs, keys):
        cck = guard("Error getting certificate/key", s2n.CertChainAndKey, chain, key)
        if ocsp is not None:
            guard("Error adding ocsp response", cck.set_ocsp_data, ocsp)
        guard("Error setting certificate/key", cfg.add_cert_chain_and_key_to_store, cck)
    if o.max_early_data:
        guard("Error setting max early data", cfg.set_server_max_early_data_size, o.max_early_data)
    guard("Error setting cipher prefs", cfg.set_cipher_preferences, o.ciphers)
    guard("Error adding DH parameters", cfg.add_dhparams)  # RFC 7919 ffdhe2048
    if o.enable_mfl:
        cfg.accept_max_fragment_length()
    # No host name to check on a client certificate (as upstream: accept any).
    cfg.set_verify_host_callback(lambda name: True)
    # Session IDs always (upstream's session cache), tickets unless -T; the
    # ticket key encrypts the state for both.
    cfg.set_session_cache(_PrintingCache())
    if o.session_ticket:
        cfg.set_session_tickets_onoff(True)
    key = read_file(PROG, o.stk_file) if o.stk_file else DEFAULT_TICKET_KEY
    guard("Error adding ticket key", cfg.add_ticket_crypto_key, TICKET_KEY_NAME, key)
    if o.mutual_auth:
        cfg.set_client_auth_type(s2n.ClientAuth.REQUIRED)
        if o.ca_file or o.ca_dir:
            guard("Error adding verify location", cfg.set_verification_ca_location, o.ca_file, o.ca_dir)
        if o.insecure:
            cfg.disable_x509_verification()
    if o.alpn:
        guard("Failed to set alpn", cfg.set_protocol_preferences, [o.alpn])
    if o.send_buffer:
        guard("Error setting send buffer size.", cfg.set_send_buffer_size, o.send_buffer)
    if o.key_log:
        key_log(PROG, o.key_log, cfg)
    if o.npn:
        guard("Error setting npn support", cfg.set_npn, True)
    if o.serialize_out:
        guard("Error setting serialized version", cfg.set_serialization_version, s2n.SerializationVersion.V1)
    return cfg


def https(conn: s2n.Connection, fd: int, bench: int) -> None:
    """-w: an HTTP/1.1 200 answer without reading the request, like
    upstream's bin/https.c: the connection's report as a page, or with
    -b N, N zero bytes."""
    def send(text: str) -> None:
        send_all(conn, fd, text.encode())

    if bench:
        for line in ("HTTP/1.1 200 OK\r\n", f"Content-Length: {bench}\r\n", "\r\n"):
            send(line)
        out(f"Sending {bench} bytes...\n")
        chunk = bytes(65536)
        left = bench
        while left:
            n = min(left, len(chunk))
            send_all(conn, fd, chunk[:n])
            left -= n
        out("Done. Closing connection.\n\n")
        return
    lines = [
        "<html><body><h1>Hello from s2n server</h1><pre>",
        f"Client hello version: {conn.get_client_hello_version()}\n",
        f"Client protocol version: {int(conn.get_client_protocol_version())}\n",
        f"Server protocol version: {int(conn.get_server_protocol_version())}\n",
        f"Actual protocol version: {int(conn.get_actual_protocol_version())}\n",
    ]
    if conn.get_server_name():
        lines.append(f"Server name: {conn.get_server_name()}\n")
    if conn.get_application_protocol():
        lines.append(f"Application protocol: {conn.get_application_protocol()}\n")
    lines += [
        f"Curve: {conn.get_curve()}\n",
        "KEM: NONE\n",
        f"KEM Group: {conn.get_kem_group_name()}\n",
        f"Cipher negotiated: {conn.get_cipher()}\n",
        f"Session resumption: {'true' if conn.is_session_resumed() else 'false'}\n",
    ]
    body = "".join(lines).encode()
    for line in ("HTTP/1.1 200 OK\r\n", f"Content-Length: {len(body)}\r\n", "\r\n"):
        send(line)
    send_all(conn, fd, body)


def _early_data_recv(conn: s2n.Connection, fd: int) -> None:
    if conn.get_max_early_data_size() == 0:
        return
    got = bytearray()
    while True:
        try:
            data = conn.recv_early_data()
        except s2n.BlockedError as e:
            wait(fd, e.blocked)
            continue
        if not data:
            break
        got += data
    if got:
        write_stdout(b"Early Data received: " + bytes(got) + b"\n")


def handle_connection(sock: socket.socket, cfg: s2n.Config, o: Options) -> bool:
    fd = sock.fileno()
    conn = s2n.Connection(s2n.Mode.SERVER, cfg)
    try:
        if o.self_service_blinding:
            conn.set_blinding(s2n.Blinding.SELF_SERVICE)
        if o.throughput:
            conn.prefer_throughput()
        if o.low_latency:
            conn.prefer_low_latency()
        conn.set_fd(sock)
        if o.corked:
            conn.use_corked_io()
        for spec in o.psks:
            conn.append_psk(psk(PROG, spec))
        if o.deserialize_in:
            deserialize_in(PROG, conn, o.deserialize_in)
        else:
            _early_data_recv(conn, fd)
    except (s2n.S2NError, OSError) as e:
        print_error("Error setting up the connection", e)
        return False
    if not o.deserialize_in:
        if not negotiate(conn, fd):
            if o.mutual_auth and not conn.client_cert_used():
                err(f"[{os.getpid()}] Error: Mutual Auth was required, but not negotiated\n")
            return False
        conn.free_handshake()
    if o.https_server:
        https(conn, fd, o.https_bench)
    elif not o.only_negotiate:
        echo(conn, fd, serializing=bool(o.serialize_out))
    if o.serialize_out:
        serialize_out(PROG, conn, o.serialize_out)
    elif not wait_for_shutdown(conn, fd):
        err(f"[{os.getpid()}] Error closing connection\n")
        return False
    conn.free()
    return True


def _listen(o: Options) -> socket.socket:
    try:
        infos = socket.getaddrinfo(o.host, o.port, socket.AF_UNSPEC, socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise Exit(1, f"getaddrinfo error: {e.strerror}\n")
    family, kind, proto, _, addr = infos[0]
    try:
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    except OSError as e:
        raise Exit(1, f"socket error: {e.strerror}\n")
    try:
        sock.bind(addr)
    except OSError as e:
        raise Exit(1, f"bind error: {e.strerror}\n")
    sock.listen(1)
    return sock


def _fork_handler(listener: socket.socket, conn_sock: socket.socket, cfg: s2n.Config, o: Options) -> None:
    """--parallelize: a child process per connection; the parent accepts on."""
    try:
        pid = os.fork()
    except OSError as e:
        conn_sock.close()
        print_error("Error calling fork(). Acceptor unable to start handler.", e)
        raise Exit(1)
    if pid:
        conn_sock.close()
        return
    code = 255
    try:
        listener.close()
        code = 0 if handle_connection(conn_sock, cfg, o) else 255
    except Exit as e:
        if e.message:
            err(e.message)
        code = e.code
    finally:
        conn_sock.close()
        os._exit(code)


def run(o: Options) -> int:
    cfg = make_config(o)
    listener = _listen(o)
    out(f"Listening on {o.host}:{o.port}\n")
    max_conns = o.max_conns
    if o.parallelize:
        # Children are never waited for: the kernel reaps them (SA_NOCLDWAIT).
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    while True:
        conn_sock, _ = listener.accept()
        conn_sock.setblocking(False)
        if o.parallelize:
            _fork_handler(listener, conn_sock, cfg, o)
            continue  # as upstream: --max-conns counts only connections served in-process
        try:
            ok = handle_connection(conn_sock, cfg, o)
        finally:
            conn_sock.close()
        if not ok:
            return 255  # upstream: exit(-1)
        if max_conns > 0:
            max_conns -= 1
            if max_conns == 0:
                return 0


def main(argv: Optional[List[str]] = None) -> int:
    return tool_main(run, options, argv)


if __name__ == "__main__":
    raise SystemExit(main())
