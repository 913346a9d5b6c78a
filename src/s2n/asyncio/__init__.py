"""asyncio streams over s2n-tls: `open_connection` and `start_server`.

    reader, writer = await s2n.asyncio.open_connection("example.com", 443, config=config)

The signatures and results are those of `asyncio.open_connection` and
`asyncio.start_server`, with `config` (an `s2n.Config`) in place of `ssl`:
real `asyncio.StreamReader`/`StreamWriter` objects over a transport of this
module (`S2NTransport`, an `asyncio.Transport`; asyncio's sslproto is not used).

How it works
------------
s2n-tls reads and writes the (non-blocking) socket itself (`Connection.set_fd`).
Every operation is one of the step generators of `s2n._io` (handshake, send,
recv_into, close_notify, blinding_delay); the transport only decides how to
wait for the step each yields: `loop.add_reader`/`add_writer` for
`Blocked.ON_READ`/`ON_WRITE`, `loop.call_later` for a `Sleep`. At most two
operations run at a time, one per direction (the handshake uses both), and
the fd is registered with the loop only while one of them waits on it.
No Python code runs per TLS record beyond one `recv_into`/`send` call.

The transport has one state (`_transport.State`), changed in one method that
checks every transition against one table (`_transport._TRANSITIONS`):
HANDSHAKING -> OPEN (connection_made) -> CLOSING (close(): flush, then
close_notify) -> CLOSED (socket closed, Connection freed). A fatal error, in
any state before CLOSED, leads to BROKEN (the protocol is told at once; the
socket waits out the blinding delay), and BROKEN only leads to CLOSED.
abort() goes to CLOSED from anywhere. connection_lost() is called exactly
once, on leaving OPEN/CLOSING, and only if connection_made() was.

Per connection: self-service blinding (s2n-tls's built-in blinding would
sleep 10-30 s inside the event loop's thread), `prefer_throughput()` and recv
buffering. With recv buffering s2n-tls may hold records the fd no longer
signals, so the read loop calls `recv_into` until s2n-tls reports BLOCKED
(the layers' nb path returns it as a negative number, not an exception; a
recv that finds records buffered makes no syscall); the records it got are
handed to the protocol in one `data_received()` call (a memoryview for
StreamReaderProtocol, which copies it at once; bytes for other protocols).
`write()` with nothing queued sends at once, without a step generator; only
what s2n-tls could not take is queued for the write loop.
Reading starts right after the handshake and after `resume_reading()`
without waiting for the fd when `pending()` says s2n-tls holds data.

For bulk transfers, two Config settings help further (they are the
application's choice, so this module does not make them):
`set_recv_multi_record(True)` (one recv returns many records) and
`set_send_buffer_size(256 * 1024)` (many records per write(2)).

Decisions (where asyncio's own ssl transport leaves a choice)
-------------------------------------------------------------
- The peer's close_notify (`recv` gives 0) calls `protocol.eof_received()`.
  `StreamReaderProtocol` then keeps the transport open: with TLS 1.3 the
  application may still write (half-close), and `write_eof()` sends our own
  close_notify (`can_write_eof()` is True only for TLS 1.3).
- A transport closed *without* close_notify (`s2n.ClosedError` from recv, a
  "ragged EOF", possibly a truncation attack) is delivered as EOF too, the
  way asyncio's ssl transport does it, so that data received before it stays
  readable (StreamReader raises a stored exception before returning its
  buffered data). `get_extra_info("ragged_eof")` is then True: protocols
  without their own framing can check it. Any other failure (an alert, a bad
  record, ECONNRESET) calls `connection_lost(exc)` with the s2n exception.
- `close()` flushes the write buffer, sends close_notify (`shutdown_send`,
  not a two-way shutdown: waiting for the peer's close_notify is what makes
  asyncio's ssl close hang) and closes the socket; it is bounded by
  `shutdown_timeout` (default 30 s, like `ssl_shutdown_timeout`), after
  which the transport is aborted. `abort()` closes at once. Writes after
  close() are ignored (asyncio logs a warning after a few, and so do we).
- After an s2n-tls error, the socket is kept open for `Connection.get_delay()`
  (a loop timer) before it is closed: that is what blinding means. The
  protocol learns about the error at once; only the close is delayed.
- Handshake failures: `open_connection` raises the s2n exception (for
  example `s2n.ProtocolError` for an untrusted certificate) or
  `TimeoutError` after `handshake_timeout` seconds (default 60). A server
  logs them on the "s2n.asyncio" logger (INFO) and keeps serving;
  `client_connected_cb` only runs after a successful handshake.
- `get_extra_info`: "s2n_connection", "socket", "sockname", "peername",
  "peercert" (DER of the peer's leaf certificate, or None), "peercert_chain"
  (list of DER), "cipher" (IANA name), "version" (e.g. "TLSv1.3"),
  "alpn_protocol", "server_hostname", "ragged_eof". There is no
  "sslcontext": StreamReaderProtocol would then close the transport on the
  peer's close_notify and TLS 1.3 half-close would be lost.
- The s2n Connection is freed and the socket closed when the transport
  closes; the information above was captured after the handshake and stays
  available.

Limitations: needs a loop with add_reader/add_writer (any selector loop,
uvloop; not the Windows proactor loop). No happy eyeballs in open_connection
(addresses are tried in order; IP literals skip the resolver thread).
`BufferedProtocol` is not used specially. No start_tls (upgrading a plain
stream) and no early data yet.
"""

from __future__ import annotations

from ._client import open_connection
from ._server import Server, start_server
from ._transport import HandshakeTimeout, S2NTransport, logger  # noqa: F401

# The public names keep the module name they had before the split (repr, pickle, docs).
for _obj in (open_connection, start_server, Server, S2NTransport, HandshakeTimeout):
    _obj.__module__ = __name__
del _obj

# Helpers that callers (and the tests) reached as s2n.asyncio.<name> before
# this module became a package.
from ._client import _connect, _numeric_address, _resolve  # noqa: F401
from ._server import _listening_sockets  # noqa: F401
from ._transport import (  # noqa: F401
    _DEFAULT_LIMIT, _HANDSHAKE_TIMEOUT, _HIGH_WATER, _JOIN_LIMIT, _LOG_THRESHOLD, _MAX_PLAINTEXT,
    _READ_BUFFER, _SHUTDOWN_TIMEOUT, _discard_input, _new_connection, _Op, _read_buffer,
    _readable_bytes, _set_nodelay, _timeouts, _TransportSocket,
)

__all__ = ["open_connection", "start_server", "S2NTransport", "Server", "HandshakeTimeout"]
