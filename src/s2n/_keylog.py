"""SSLKEYLOGFILE: append NSS key log lines to a file (what Wireshark reads).

INSECURE by nature: anyone who reads the file can decrypt the recorded
sessions. The file is created with mode 0600 (an existing file keeps its
permissions) and opened for appending, so several processes may share it.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Optional

ENV = "SSLKEYLOGFILE"


class KeyLogFile:
    """A key log callback `(conn, line)` that appends each line to `path`."""

    def __init__(self, path: "os.PathLike[str] | str") -> None:
        self.path = os.fspath(path)
        self._fd: Optional[int] = None
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
        self._fd = os.open(self.path, flags, 0o600)

    def __call__(self, conn: Any, line: bytes) -> None:
        fd = self._fd
        if fd is None:
            return
        data = bytes(line).rstrip(b"\n") + b"\n"
        # A whole line per write(2) (a regular file takes it all): with
        # O_APPEND, lines of concurrent connections or processes never interleave.
        while data:
            data = data[os.write(fd, data):]

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __del__(self) -> None:
        try:
            self.close()
        except (OSError, AttributeError):
            pass


def from_environment(config: Any, environ: Optional[Dict[str, str]] = None) -> Optional[KeyLogFile]:
    """If SSLKEYLOGFILE is set (non-empty), log `config`'s connections there."""
    path = (os.environ if environ is None else environ).get(ENV)
    if not path:
        return None
    log = KeyLogFile(path)
    config.set_key_log_cb(log)
    return log
