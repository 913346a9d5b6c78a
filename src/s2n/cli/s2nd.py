"""s2nd: s2n-tls's example server (bin/s2nd.c), same flags and output,
on the public s2n API. `python -m s2n s2nd [options] host port`."""

from __future__ import annotations

import hashlib
import os
import socket
from typing import List, Optional

import s2n

from ._s2ntools import (Exit, atoi, echo, err, key_log, negotiate, out, parse, print_error, psk,
                        read_file, tool_main, unsupported, wait, wait_for_shutdown, write_stdout)

PROG = "s2nd"
SHORT = "c:hmnst:d:iTCX:wb:A:P:E:L:"
LONG = ["ciphers=", "enable-mfl", "enter-fips-mode", "help", "key=", "prefer-low-latency",
        "mutualAuth", "negotiate", "ocsp=", "parallelize", "prefer-throughput", "cert=",
        "self-service-blinding", "ca-dir=", "ca-file=", "insecure", "stk-file=",
        "no-session-ticket", "corked-io", "max-conns=", "tls13", "https-server", "https-bench=",
        "alpn=", "npn", "non-blocking", "key-log=", "psk=", "max-early-data=", "buffered-send=",
        "serialize-out=", "deserialize-in="]
MAX_CERTIFICATES = 50
MAX_PSKS = 10
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
  -h,--help
Unsupported here (exit 1): --enter-fips-mode, --parallelize, -w/--https-server,
  -b/--https-bench, --npn, --serialize-out, --deserialize-in.
No built-in certificate: --cert and --key are required.
"""


class Options:
    def __init__(self) -> None:
        self.ciphers = "default"
        self.certs: List[bytes] = []
        self.keys: List[bytes] = []
        self.mutual_auth = False
        self.only_negotiate = False
        self.low_latency = False
        self.throughput = False
        self.enable_mfl = False
        self.ocsp: Optional[str] = None
        self.self_service_blinding = False
        self.ca_file: Optional[str] = None
        self.ca_dir: Optional[str] = None
        self.insecure = False
        self.stk_file: Optional[str] = None
        self.session_ticket = True
        self.corked = False
        self.max_conns = -1
        self.alpn: Optional[str] = None
        self.key_log: Optional[str] = None
        self.psks: List[str] = []
        self.max_early_data = 0
        self.send_buffer = 0
        self.host = ""
        self.port = ""


def options(argv: List[str]) -> Options:
    o = Options()
    opts, rest = parse(PROG, argv, SHORT, LONG, {"-X": ("max-conns", "1")}, usage)
    for flag, val in opts:
        if flag in ("-c", "--ciphers"):
            o.ciphers = val
        elif flag == "--enable-mfl":
            o.enable_mfl = True
        elif flag == "--enter-fips-mode":
            raise Exit(1, "Error entering FIPS mode. s2nd was not built against a FIPS-capable libcrypto.\n")
        elif flag in ("-h", "--help"):
            raise Exit(1, usage())
        elif flag in ("--key", "--cert"):
            bucket = o.keys if flag == "--key" else o.certs
            if len(bucket) == MAX_CERTIFICATES:
                raise Exit(1, f"Cannot support more than {MAX_CERTIFICATES} certificates!\n")
            bucket.append(read_file(PROG, val))
        elif flag == "--prefer-low-latency":
            o.low_latency = True
        elif flag in ("-m", "--mutualAuth"):
            o.mutual_auth = True
        elif flag in ("-n", "--negotiate"):
            o.only_negotiate = True
        elif flag == "--ocsp":
            o.ocsp = val
        elif flag == "--prefer-throughput":
            o.throughput = True
        elif flag in ("-s", "--self-service-blinding"):
            o.self_service_blinding = True
        elif flag in ("-d", "--ca-dir"):
            o.ca_dir = val
        elif flag in ("-t", "--ca-file"):
            o.ca_file = val
        elif flag in ("-i", "--insecure"):
            o.insecure = True
        elif flag == "--stk-file":
            o.stk_file = val
        elif flag in ("-T", "--no-session-ticket"):
            o.session_ticket = False
        elif flag in ("-C", "--corked-io"):
            o.corked = True
        elif flag == "--tls13":
            pass  # deprecated upstream too
        elif flag in ("-X", "--max-conns"):
            o.max_conns = atoi(val)
        elif flag in ("-A", "--alpn"):
            o.alpn = val
        elif flag == "--non-blocking":
            pass  # always non-blocking here
        elif flag in ("-L", "--key-log"):
            o.key_log = val
        elif flag in ("-P", "--psk"):
            if len(o.psks) >= MAX_PSKS:
                raise Exit(1, "Error setting psks, maximum number of psks permitted is 10.\n")
            o.psks.append(val)
        elif flag in ("-E", "--max-early-data"):
            o.max_early_data = atoi(val)
        elif flag == "--buffered-send":
            n = atoi(val)
            if not 0 <= n <= 0xFFFFFFFF:
                raise Exit(1, "<buffer size> must be a positive 32 bit value\n")
            o.send_buffer = n
        elif flag == "--parallelize":
            raise unsupported(PROG, flag, "connections are served one at a time")
        elif flag in ("-w", "--https-server", "-b", "--https-bench"):
            raise unsupported(PROG, flag, "the https server mode is not implemented")
        elif flag == "--npn":
            raise unsupported(PROG, flag, "the package has no NPN API")
        elif flag in ("--serialize-out", "--deserialize-in"):
            raise unsupported(PROG, flag, "connection serialization is not wired into this tool yet")
    if o.throughput and o.low_latency:
        raise Exit(1, "prefer-throughput and prefer-low-latency options are mutually exclusive\n")
    if len(rest) < 2:
        raise Exit(1, usage())
    o.host, o.port = rest[0], rest[1]
    if len(o.certs) != len(o.keys):
        raise Exit(1, f"Mismatched certificate({len(o.certs)}) and private key({len(o.keys)}) count!\n")
    if not o.certs:
        raise unsupported(PROG, "running without --cert/--key", "there is no built-in default certificate")
    return o


def _guard(what: str, fn, *args):
    try:
        return fn(*args)
    except (s2n.S2NError, ValueError, OSError) as e:
        print_error(what, e)
        raise Exit(1)


def make_config(o: Options) -> s2n.Config:
    cfg = s2n.Config()
    ocsp = read_file(PROG, o.ocsp) if o.ocsp else None
    for chain, key in zip(o.certs, o.keys):
        cck = _guard("Error getting certificate/key", s2n.CertChainAndKey, chain, key)
        if ocsp is not None:
            _guard("Error adding ocsp response", cck.set_ocsp_data, ocsp)
        _guard("Error setting certificate/key", cfg.add_cert_chain_and_key_to_store, cck)
    if o.max_early_data:
        _guard("Error setting max early data", cfg.set_server_max_early_data_size, o.max_early_data)
    _guard("Error setting cipher prefs", cfg.set_cipher_preferences, o.ciphers)
    if o.enable_mfl:
        cfg.accept_max_fragment_length()
    # No host name to check on a client certificate (as upstream: accept any).
    cfg.set_verify_host_callback(lambda name: True)
    if o.session_ticket:
        cfg.set_session_tickets_onoff(True)
        key = read_file(PROG, o.stk_file) if o.stk_file else DEFAULT_TICKET_KEY
        _guard("Error adding ticket key", cfg.add_ticket_crypto_key, TICKET_KEY_NAME, key)
    if o.mutual_auth:
        cfg.set_client_auth_type(s2n.ClientAuth.REQUIRED)
        if o.ca_file or o.ca_dir:
            _guard("Error adding verify location", cfg.set_verification_ca_location, o.ca_file, o.ca_dir)
        if o.insecure:
            cfg.disable_x509_verification()
    if o.alpn:
        _guard("Failed to set alpn", cfg.set_protocol_preferences, [o.alpn])
    if o.send_buffer:
        _guard("Error setting send buffer size.", cfg.set_send_buffer_size, o.send_buffer)
    if o.key_log:
        key_log(PROG, o.key_log, cfg)
    return cfg


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
        _early_data_recv(conn, fd)
    except (s2n.S2NError, OSError) as e:
        print_error("Error setting up the connection", e)
        return False
    if not negotiate(conn, fd):
        if o.mutual_auth and not conn.client_cert_used():
            err(f"[{os.getpid()}] Error: Mutual Auth was required, but not negotiated\n")
        return False
    conn.free_handshake()
    if not o.only_negotiate:
        echo(conn, fd)
    if not wait_for_shutdown(conn, fd):
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


def run(o: Options) -> int:
    cfg = make_config(o)
    listener = _listen(o)
    out(f"Listening on {o.host}:{o.port}\n")
    max_conns = o.max_conns
    while True:
        conn_sock, _ = listener.accept()
        conn_sock.setblocking(False)
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
