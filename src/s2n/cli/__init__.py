"""Command line: client and server in the spirit of s2n-tls's s2nc/s2nd, a demo, a bench."""

from __future__ import annotations

import argparse
import sys
from typing import Any, List, Optional, Sequence

from ._args import integer, port, seconds


class _Version(argparse.Action):
    """--version, importing s2n (the compiled module) only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kw: Any) -> None:
        super().__init__(option_strings, dest, default=argparse.SUPPRESS, nargs=0,
                         help="print the package, s2n-tls and libcrypto versions")

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: Optional[str] = None) -> None:
        import s2n

        info = s2n.version_info()
        print(f"s2n-tls for Python {s2n.__version__} (s2n-tls {info['s2n_tls']}, {info['libcrypto']})")
        parser.exit()


# Not named like a submodule: `import s2n.cli._x` rebinds the package's `_x`.
def _add_common_options(p: argparse.ArgumentParser, lowest_port: int) -> None:
    p.add_argument("host")
    p.add_argument("port", type=port(lowest_port))
    p.add_argument("-c", "--ciphers", metavar="POLICY",
                   help="s2n-tls security policy (default: s2n-tls's default; "
                        "'python -m s2n policies' lists well-known ones)")
    p.add_argument("--cert", action="append", default=[], help="PEM certificate chain (repeatable)")
    p.add_argument("--key", action="append", default=[], help="PEM private key (repeatable, pairs with --cert)")
    p.add_argument("-f", "--ca-file", help="trust the CAs in this PEM file")
    p.add_argument("-d", "--ca-dir", help="trust the CAs in this hashed directory")
    p.add_argument("--insecure", action="store_true", help="INSECURE: do not verify the peer's certificate")
    p.add_argument("-a", "--alpn", help="comma-separated ALPN protocols")
    p.add_argument("-m", "--mutualAuth", action="store_true", help="mutual TLS (client certificates)")
    p.add_argument("--corked-io", action="store_true", help="TCP_CORK during the handshake")
    p.add_argument("--prefer-throughput", action="store_true")
    p.add_argument("--prefer-low-latency", action="store_true")
    p.add_argument("--self-service-blinding", action="store_true",
                   help="self-service blinding (the default here; accepted for s2nc/s2nd compatibility)")
    p.add_argument("-T", "--no-session-ticket", action="store_true")
    p.add_argument("--non-blocking", action="store_true", help="non-blocking IO (the default here)")
    p.add_argument("--max-blinding-delay", type=integer(0, 2**32 - 1), metavar="SECONDS",
                   help="cap s2n-tls's blinding delay after errors (0: none, for test harnesses)")
    p.add_argument("-q", "--quiet", action="store_true", help="do not print connection details")


# issue 12: both client and server honour SSLKEYLOGFILE (s2n/_keylog.py).
_KEYLOG_HELP = ("environment: SSLKEYLOGFILE=PATH appends the TLS secrets of every connection "
                "to PATH (NSS key log format, read by Wireshark; created with mode 0600). "
                "INSECURE: anyone who can read that file can decrypt the traffic. For debugging only.")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m s2n", description=__doc__)
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True)

    pc = sub.add_parser("client", help="connect, send stdin, print what the server sends",
                        epilog=_KEYLOG_HELP)
    _add_common_options(pc, lowest_port=1)
    pc.add_argument("--server-name", help="SNI and the name to verify (default: HOST)")
    pc.add_argument("--timeout", type=seconds, default=30.0, help="connect/handshake timeout, seconds")
    pc.add_argument("--session-in", metavar="FILE", help="resume the session saved in FILE")
    pc.add_argument("--session-out", metavar="FILE",
                    help="save the session (each ticket the server sends) to FILE, to resume later")

    ps = sub.add_parser("server", help="serve TLS connections", epilog=_KEYLOG_HELP)
    _add_common_options(ps, lowest_port=0)
    ps.add_argument("--echo", action="store_true", help="send every byte received back")
    ps.add_argument("--https-server", action="store_true", help="answer HTTP requests with HTTP/1.0 200")
    ps.add_argument("--parallelize", action="store_true",
                    help="serve connections concurrently (always the case here)")
    ps.add_argument("--max-conns", type=integer(1), default=1024, help="concurrent connections at most")
    ps.add_argument("--handshake-timeout", type=seconds, default=10.0)
    ps.add_argument("--idle-timeout", type=seconds, default=300.0)
    ps.add_argument("--ticket-key-file", metavar="FILE",
                    help="issue session tickets with the keys in FILE (one per line: NAME HEXKEY "
                         "[INTRO]; servers sharing FILE resume each other's sessions)")
    ps.add_argument("--ticket-encrypt-decrypt-lifetime", type=integer(1, 2**34), metavar="SECONDS",
                    help="how long a ticket key encrypts new tickets after its intro time (default 7200)")
    ps.add_argument("--ticket-decrypt-lifetime", type=integer(1, 2**34), metavar="SECONDS",
                    help="how long a ticket key then still decrypts (default 46800)")

    pd = sub.add_parser("demo", help="a loopback handshake and transfer, no files needed")
    pd.add_argument("--mib", type=integer(1), default=64, help="MiB to transfer")

    pb = sub.add_parser("bench", help="this package against Python's ssl, side by side")
    pb.add_argument("--json", action="store_true", help="machine-readable output")
    pb.add_argument("--seconds", type=seconds, default=1.0, help="seconds per measurement")

    sub.add_parser("policies", help="list well-known s2n-tls security policy names (for --ciphers)")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in ("s2nc", "s2nd"):  # issue 16: s2n-tls's own tools, their own flags
        from importlib import import_module

        rc: int = import_module(f".{argv[0]}", __name__).main(argv[1:])
        return rc
    args = _parser().parse_args(argv)
    if args.command == "client":
        from .client import run
    elif args.command == "server":
        from .server import run
    elif args.command == "demo":
        from .demo import run
    elif args.command == "policies":
        from ._policies import run
    else:
        from .bench import run
    try:
        return run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
