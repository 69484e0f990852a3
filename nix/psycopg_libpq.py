"""Point an installed psycopg 3 at one libpq and one libc, by path.

psycopg's pure-Python implementation finds libpq with `ctypes.util.find_library("pq")`,
which in a Nix closure (or a Lambda image) finds nothing. nixpkgs' own
python3Packages.psycopg patches `psycopg/pq/_pq_ctypes.py` to load fixed store paths
(its ctypes.patch); this does the same to the wheel uv2nix installed, then compiles the
file again so its bytecode matches the patched source.

Usage: python psycopg_libpq.py SITE_PACKAGES LIBPQ LIBC [PYC_INVALIDATION_MODE]
"""

from __future__ import annotations

import os
import py_compile
import sys
from pathlib import Path

# The two lookups of psycopg 3.x's `_pq_ctypes.py`, each replaced by a path literal.
LIBPQ_LOOKUP = "find_libpq_full_path()"
LIBC_LOOKUP = 'ctypes.util.find_library("c")'


class PatchError(Exception):
    """The installed psycopg does not look the way this patch expects."""


def patch_source(text: str, libpq: str, libc: str) -> str:
    for lookup, path in ((LIBPQ_LOOKUP, libpq), (LIBC_LOOKUP, libc)):
        count = text.count(lookup)
        if count != 1:
            raise PatchError(f"expected `{lookup}` once in _pq_ctypes.py, found it {count} times")
        text = text.replace(lookup, repr(path))
    return text


def patch(site_packages: Path, libpq: str, libc: str, mode: str = "CHECKED_HASH") -> Path:
    """Patch psycopg under `site_packages` in place; return the patched file."""
    for lib in (libpq, libc):
        if not Path(lib).is_file():
            raise PatchError(f"{lib}: no such library")
    try:
        invalidation = py_compile.PycInvalidationMode[mode]
    except KeyError:
        raise PatchError(f"unknown PYC_INVALIDATION_MODE {mode!r}") from None
    source = site_packages / "psycopg" / "pq" / "_pq_ctypes.py"
    if not source.is_file():
        raise PatchError(f"{source}: psycopg is not installed there")
    # A new file, not a write into the old one: installers may hardlink it to a shared cache.
    patched = source.with_name(source.name + ".patched")
    patched.write_text(patch_source(source.read_text(), libpq, libc))
    os.replace(patched, source)
    py_compile.compile(str(source), doraise=True, invalidation_mode=invalidation)
    return source


def main(argv: list[str]) -> int:
    if len(argv) not in (3, 4):
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    try:
        patched = patch(Path(argv[0]), argv[1], argv[2], *argv[3:])
    except PatchError as e:
        print(f"psycopg_libpq: {e}", file=sys.stderr)
        return 1
    print(f"psycopg_libpq: {patched} loads {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
