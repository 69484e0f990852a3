"""How the command-line tools report a failure: one `error: ...` line on stderr, exit code
2 for a usage or configuration error and 1 for a failure, never a traceback."""

from __future__ import annotations

import argparse

USAGE = 2
FAILURE = 1


def one_line(message: str, limit: int = 2000) -> str:
    return " ".join(message.split())[:limit]


def positive_int(raw: str) -> int:
    """An argparse type for counts: a whole number of at least 1."""
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {raw!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {raw!r}")
    return value
