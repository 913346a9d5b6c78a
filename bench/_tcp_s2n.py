"""This package as contenders of bench/_tcp_proto.py (client and server).

    tlssocket  `s2n.wrap_socket` with its defaults (what a user gets);
    conn       `s2n.Connection` with fd IO on a blocking socket, tuned as the
               raw-C driver is: one Connection per process reused with
               `wipe()`, prefer_throughput, receive buffering, multi-record
               receive, a 256 KiB send buffer, self-service blinding.

Both: s2n's "default_tls13" policy (TLS 1.3, AES-128-GCM), the ECDSA P-256
certificate, session tickets on (one per connection, s2n's default).
"""

from __future__ import annotations

from pathlib import Path

import s2n

POLICY = "default_tls13"
SEND_BUFFER = 256 * 1024  # bulk: several records per write (see bench/c/s2n_bench.c)
TICKET_KEY = bytes(range(1, 33))  # a benchmark's fixed key: nothing to protect


def configs(d: Path, tuned: bool):
    sc, cc = s2n.Config(), s2n.Config()
    sc.add_cert_chain_and_key(d / "server.pem", d / "server.key")
    cc.add_pem_to_trust_store(d / "ca.pem")
    tickets: list = []
    for c in (sc, cc):
        c.set_cipher_preferences(POLICY)
        c.set_session_tickets_onoff(True)
        if tuned:
            c.set_recv_multi_record(True)
            c.set_send_buffer_size(SEND_BUFFER)
    sc.add_ticket_crypto_key("bench", TICKET_KEY)
    cc.set_session_ticket_callback(lambda conn, ticket, lifetime: tickets.append(ticket))
    return sc, cc, tickets


def _negotiated(conn: s2n.Connection) -> dict:
    group = conn.get_kem_group_name()
    if group in ("NONE", ""):
        group = conn.get_curve()
    return {"cipher": conn.get_cipher(), "group": group}


# --- TLSSocket, defaults --------------------------------------------------------------

class SocketStream:
    def __init__(self, tls, tickets: list) -> None:
        self.tls, self._tickets = tls, tickets
        self.sendall = tls.sendall
        self.recv_into = tls.recv_into
        self.resumed = tls.connection.is_session_resumed()

    def session(self):
        return self._tickets[-1] if self._tickets else None

    def negotiated(self) -> dict:
        return _negotiated(self.tls.connection)

    def close(self) -> None:
        self.tls.unwrap()  # close_notify both ways; the caller closes the socket


class SocketServer:
    def __init__(self, d: Path) -> None:
        self.config = configs(d, tuned=False)[0]

    def accept(self, sock) -> SocketStream:
        return SocketStream(s2n.wrap_socket(sock, self.config, server_side=True), [])

    def reset(self) -> None:
        pass


class SocketClient:
    def __init__(self, d: Path) -> None:
        _, self.config, self.tickets = configs(d, tuned=False)

    def connect(self, sock, session=None) -> SocketStream:
        tls = s2n.wrap_socket(sock, self.config, server_hostname="localhost", session=session)
        return SocketStream(tls, self.tickets)


# --- Connection, fd IO, tuned ------------------------------------------------------------

class ConnStream:
    def __init__(self, conn: s2n.Connection, tickets: list) -> None:
        self.conn, self._tickets = conn, tickets
        self.recv_into = conn.recv_into
        self.resumed = conn.is_session_resumed()
        send = conn.send

        def sendall(data) -> None:
            n = send(data)  # blocking fd: s2n_send writes it all
            if n < len(data):
                view = memoryview(data)
                while n < len(view):
                    n += send(view[n:])

        self.sendall = sendall

    def session(self):
        return self._tickets[-1] if self._tickets else None

    def negotiated(self) -> dict:
        return _negotiated(self.conn)

    def close(self) -> None:
        try:
            self.conn.shutdown()  # close_notify both ways; the caller closes the socket
        finally:
            self.conn.wipe()  # reuse the Connection for the next socket


def _tune(conn: s2n.Connection, sock) -> None:
    # wipe() keeps only the mode and the config: the rest is set again
    conn.set_blinding(s2n.Blinding.SELF_SERVICE)
    conn.prefer_throughput()
    conn.set_recv_buffering(True)
    conn.set_fd(sock)


class ConnServer:
    def __init__(self, d: Path) -> None:
        self.conn = s2n.Connection(s2n.Mode.SERVER, configs(d, tuned=True)[0])

    def accept(self, sock) -> ConnStream:
        _tune(self.conn, sock)
        self.conn.negotiate()
        return ConnStream(self.conn, [])

    def reset(self) -> None:
        # Self-service blinding: a real server would wait conn.get_delay() ns
        # before closing. This one serves only the benchmark on loopback.
        self.conn.wipe()


class ConnClient:
    def __init__(self, d: Path) -> None:
        _, config, self.tickets = configs(d, tuned=True)
        self.conn = s2n.Connection(s2n.Mode.CLIENT, config)

    def connect(self, sock, session=None) -> ConnStream:
        conn = self.conn
        _tune(conn, sock)
        conn.set_server_name("localhost")
        if session:
            conn.set_session(session)
        try:
            conn.negotiate()
        except BaseException:
            conn.wipe()
            raise
        return ConnStream(conn, self.tickets)


SERVERS = {"tlssocket": SocketServer, "conn": ConnServer}
CLIENTS = {"tlssocket": SocketClient, "conn": ConnClient}
