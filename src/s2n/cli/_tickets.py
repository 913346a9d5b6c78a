"""Session resumption for the CLI: the client's --session-in/--session-out,
the server's --ticket-key-file (shared by a fleet of servers).

Ticket key file: one key per line, fields separated by white space,
`#` starts a comment:

    NAME  HEXKEY  [INTRO]

NAME: 1..16 characters (no white space), unique; it is sent in every ticket
so the server that decrypts knows the key. HEXKEY: the secret, at least 16
bytes (32 recommended, e.g. `openssl rand -hex 32`). INTRO: when the key
starts encrypting, UNIX seconds or ISO 8601 (`2026-12-01T00:00:00Z`; no
zone means UTC); omitted: when the server starts (give it explicitly in a
fleet, so every server agrees). A key encrypts new tickets from INTRO for
the encrypt-decrypt lifetime, then only decrypts for the decrypt lifetime;
keys already past both are skipped."""

from __future__ import annotations

import argparse
import datetime
import os
import re
import tempfile
import time
from typing import TYPE_CHECKING, List, NamedTuple

if TYPE_CHECKING:
    import s2n

MAX_KEYS = 48  # s2n-tls's S2N_MAX_TICKET_KEYS
DEFAULT_ENCRYPT_DECRYPT = 2 * 3600  # s2n-tls's defaults
DEFAULT_DECRYPT = 13 * 3600
_NAME = re.compile(r"[\x21-\x7e]{1,16}")


class TicketKeyError(ValueError):
    """A problem in the ticket key file, with its line number."""


class TicketKey(NamedTuple):
    name: str
    key: bytes
    intro: int  # UNIX seconds; 0: when the server starts
    line: int


def parse_time(text: str) -> int:
    if re.fullmatch(r"\d+", text):
        return int(text)
    iso = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        when = datetime.datetime.fromisoformat(iso)
    except ValueError:
        raise ValueError(f"bad time {text!r} (UNIX seconds or ISO 8601, e.g. 2026-12-01T00:00:00Z)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    seconds = int(when.timestamp())
    if seconds <= 0:
        raise ValueError(f"time {text!r} is before 1970")
    return seconds


def parse(text: str) -> List[TicketKey]:
    keys: List[TicketKey] = []
    names = set()
    for number, raw in enumerate(text.splitlines(), 1):
        fields = raw.split("#", 1)[0].split(None, 2)  # INTRO may hold a space
        if not fields:
            continue
        if len(fields) < 2:
            raise TicketKeyError(f"line {number}: expected NAME HEXKEY [INTRO]")
        name, hexkey = fields[0], fields[1]
        if not _NAME.fullmatch(name):
            raise TicketKeyError(f"line {number}: key name must be 1..16 printable ASCII characters")
        if name in names:
            raise TicketKeyError(f"line {number}: key name {name!r} given twice")
        names.add(name)
        try:
            key = bytes.fromhex(hexkey)
        except ValueError:
            raise TicketKeyError(f"line {number}: the key is not hexadecimal") from None
        if len(key) < 16:
            raise TicketKeyError(f"line {number}: the key has {len(key)} bytes; "
                                 "at least 16 needed (32 recommended)")
        try:
            intro = parse_time(fields[2].strip()) if len(fields) == 3 else 0
        except ValueError as e:
            raise TicketKeyError(f"line {number}: {e}") from None
        keys.append(TicketKey(name, key, intro, number))
    if not keys:
        raise TicketKeyError("no keys in the file")
    return keys


def read_key_file(path: str) -> List[TicketKey]:
    with open(path, encoding="ascii", errors="strict") as f:
        return parse(f.read())


def usable(keys: List[TicketKey], encrypt_decrypt: int, decrypt: int, now: float) -> List[TicketKey]:
    """The keys not yet past both lifetimes (s2n-tls would drop the others)."""
    return [k for k in keys if k.intro == 0 or now < k.intro + encrypt_decrypt + decrypt]


def configure_server(cfg: s2n.Config, args: argparse.Namespace) -> None:
    """Lifetimes, then tickets on, then the keys; warnings go to stderr."""
    from ._common import err

    for w in _configure_server(cfg, args):
        err(f"s2n server: {w}")


def _configure_server(cfg: s2n.Config, args: argparse.Namespace) -> List[str]:
    from ._config import ConfigError

    warnings: List[str] = []
    ed = getattr(args, "ticket_encrypt_decrypt_lifetime", None)
    d = getattr(args, "ticket_decrypt_lifetime", None)
    if ed is not None:
        cfg.set_ticket_encrypt_decrypt_key_lifetime(ed)
    if d is not None:
        cfg.set_ticket_decrypt_key_lifetime(d)
    if not getattr(args, "ticket_key_file", None):
        return warnings
    option = f"--ticket-key-file {args.ticket_key_file}"
    if args.no_session_ticket:
        raise ConfigError(f"{option}: session tickets are off (-T)")
    try:
        keys = read_key_file(args.ticket_key_file)
    except FileNotFoundError:
        raise ConfigError(f"{option}: no such file") from None
    except (OSError, UnicodeDecodeError, TicketKeyError) as e:
        raise ConfigError(f"{option}: {getattr(e, 'strerror', None) or e}") from None
    now = time.time()
    ed = DEFAULT_ENCRYPT_DECRYPT if ed is None else ed
    d = DEFAULT_DECRYPT if d is None else d
    live = usable(keys, ed, d, now)
    for k in keys:
        if k not in live:
            warnings.append(f"{option}: line {k.line}: key {k.name!r} has expired; skipped")
    if not live:
        raise ConfigError(f"{option}: every key has expired")
    if len(live) > MAX_KEYS:
        raise ConfigError(f"{option}: {len(live)} keys; s2n-tls holds {MAX_KEYS} at most")
    if not any(k.intro == 0 or k.intro <= now < k.intro + ed for k in live):
        warnings.append(f"{option}: no key encrypts now (all start later or only decrypt): "
                        "no new tickets until one does")
    cfg.set_session_tickets_onoff(True)
    for k in live:
        try:
            cfg.add_ticket_crypto_key(k.name, k.key, k.intro)
        except Exception as e:  # noqa: BLE001 - told to the user with the line
            why = f"{e.name}: {e.message}" if hasattr(e, "name") and hasattr(e, "message") else str(e)
            raise ConfigError(f"{option}: line {k.line}: {why}") from None
    return warnings


def read_session(path: str) -> bytes:
    from ._config import ConfigError

    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise ConfigError(f"--session-in {path}: no such file") from None
    except OSError as e:
        raise ConfigError(f"--session-in {path}: {e.strerror or e}") from None
    if not data:
        raise ConfigError(f"--session-in {path}: the file is empty")
    return data


def write_session(path: str, session: bytes) -> None:
    """Replace the file at once (no half-written session), readable by its owner only:
    a session holds the secret to resume it."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".session-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(session)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
