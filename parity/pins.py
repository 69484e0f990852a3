"""Plexus's pins as a pip constraints file, read from its poetry.lock.

The real engine runs in a virtualenv of its own; constraining every install to the versions
Plexus locked keeps that environment the one Plexus's users run, without installing the
hundreds of packages (torch, tensorflow, ...) its scoring path never imports.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path


def constraints(lock: Path) -> list[str]:
    """One `name==version` line per package in the lock, sorted by name."""
    data = tomllib.loads(lock.read_text(encoding="utf-8"))
    return sorted(f"{p['name']}=={p['version']}" for p in data.get("package", []))


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m parity.pins PLEXUS_CHECKOUT > constraints.txt", file=sys.stderr)
        return 2
    lock = Path(argv[0]) / "poetry.lock"
    if not lock.is_file():
        print(f"no poetry.lock in {argv[0]}", file=sys.stderr)
        return 2
    print("\n".join(constraints(lock)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
