"""Sans-IO: `MemoryBIO`, a byte queue that lives in C.

    incoming, outgoing = s2n.MemoryBIO(), s2n.MemoryBIO()
    conn.set_memory_io(incoming, outgoing)
    # feed the peer's bytes:   incoming.write(data)
    # send what s2n produced:  transport.write(outgoing.read())
    # then call negotiate/send/recv again after a BlockedError.

s2n-tls reads and writes these queues through custom IO callbacks written in
C, so no Python code runs per TLS record: this is the core that frameworks
(trio, Twisted, an event loop of your own) build on.
"""

from __future__ import annotations

from typing import Optional, Union

from ._errors import UsageError
from ._lib import ffi, lib

_raw_alloc = ffi.new_allocator(should_clear_after_alloc=False)


class MemoryBIO:
    """A C-side byte buffer: `write(data)`, `read(n=-1)`, `pending`, `write_eof()`.

    `limit` bounds the bytes held at once (None: no bound). `write()` past it
    raises BufferError and writes nothing; a connection writing into a full
    `outgoing` BIO is BLOCKED (ON_WRITE) until it is read, as on a full socket.
    """

    def __init__(self, limit: Optional[int] = None) -> None:
        if limit is not None and (type(limit) is not int or limit <= 0):
            raise ValueError(f"limit must be a positive int or None, not {limit!r}")
        bio = lib.py_bio_new()
        if bio == ffi.NULL:
            raise MemoryError("cannot allocate a MemoryBIO")
        # Freed with this object (and never while a Connection uses it: the
        # Connection holds a reference until its own C object is freed).
        self._bio = ffi.gc(bio, lib.py_bio_free)
        self.limit = limit
        if limit is not None:
            lib.py_bio_set_limit(bio, limit)

    @property
    def pending(self) -> int:
        """Bytes waiting to be read."""
        return lib.py_bio_pending(self._bio)

    @property
    def eof(self) -> bool:
        """True once write_eof() was called and every byte has been read (as ssl.MemoryBIO)."""
        return bool(lib.py_bio_eof(self._bio)) and lib.py_bio_pending(self._bio) == 0

    def write(self, data: Union[bytes, bytearray, memoryview]) -> int:
        """Append `data`; returns its length."""
        if type(data) is bytes:
            rc = lib.py_bio_write(self._bio, data, len(data))
            n = len(data)
        else:
            try:
                buf = ffi.from_buffer(data)
            except TypeError:
                raise TypeError(f"write() needs a bytes-like object, not {type(data).__name__}") from None
            try:
                n = len(buf)
                rc = lib.py_bio_write(self._bio, buf, n)
            finally:
                ffi.release(buf)
        if rc == -2:
            raise UsageError("write() after write_eof()", name="S2N_PY_ERR_BIO_EOF")
        if rc == -3:
            raise BufferError(f"MemoryBIO full: {n} more bytes would pass its limit of "
                              f"{self.limit} (read from it first)")
        if rc != 0:
            raise MemoryError("MemoryBIO cannot grow")
        return n

    def read(self, n: int = -1) -> bytes:
        """Take up to `n` bytes (all of them by default)."""
        pending = lib.py_bio_pending(self._bio)
        if n < 0 or n > pending:
            n = pending
        if n == 0:
            return b""
        # A fresh, uncleared block per call: malloc reuses it at once, and an
        # idle MemoryBIO keeps no memory.
        scratch = _raw_alloc("char[]", n)
        got = lib.py_bio_read(self._bio, scratch, n)
        return ffi.unpack(scratch, got)

    def readinto(self, buffer: Union[bytearray, memoryview]) -> int:
        """Take bytes straight into `buffer`; returns the count."""
        try:
            buf = ffi.from_buffer(buffer, require_writable=True)
        except (BufferError, TypeError):
            raise TypeError(f"readinto() needs a writable buffer, not {type(buffer).__name__}") from None
        try:
            return lib.py_bio_read(self._bio, buf, len(buf))
        finally:
            ffi.release(buf)

    def write_eof(self) -> None:
        """No more bytes will come: once drained, the connection sees a closed transport."""
        lib.py_bio_write_eof(self._bio)

    def __repr__(self) -> str:
        return f"<s2n.MemoryBIO pending={self.pending}>"


MemoryBIO.__module__ = "s2n"
