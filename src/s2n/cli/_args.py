"""argparse value types: a bad value is a usage error (exit 2) that names the option."""

from __future__ import annotations

import argparse
import math
from typing import Callable, Optional


def port(lowest: int) -> Callable[[str], int]:
    """A TCP port, `lowest`..65535 (a server may ask for 0: any free port)."""
    def parse(text: str) -> int:
        try:
            n = int(text, 10)
        except ValueError:
            n = -1
        if not lowest <= n <= 65535:
            raise argparse.ArgumentTypeError(f"invalid port {text!r} (an integer {lowest}..65535)")
        return n
    return parse


def integer(lowest: int, highest: Optional[int] = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            n = int(text, 10)
        except ValueError:
            n = None
        if n is None or n < lowest or (highest is not None and n > highest):
            bound = f"{lowest}..{highest}" if highest is not None else f">= {lowest}"
            raise argparse.ArgumentTypeError(f"invalid value {text!r} (an integer {bound})")
        return n
    return parse


def seconds(text: str) -> float:
    """A finite, positive duration ('inf' would overflow the timeouts it feeds)."""
    try:
        x = float(text)
    except ValueError:
        x = math.nan
    if not (math.isfinite(x) and x > 0):
        raise argparse.ArgumentTypeError(f"invalid value {text!r} (a number of seconds > 0)")
    return x
