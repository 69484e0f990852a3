"""Import every top-level module of a Python environment and check what the images rely on.

Run with the environment's own interpreter (nix/linkage.nix does, in the build sandbox):
- every top-level module in site-packages imports (plus any --import module);
- pycurl is linked to the given libcurl (nixpkgs' curl, by directory and version) over OpenSSL;
- psycopg's libpq answers `psycopg.pq.version()` and is the given one;
- `ssl` works and loads the CA bundle the image names in SSL_CERT_FILE;
- every imported module that has Python source has bytecode that Python accepts for it, so a
  cold start on Lambda's read-only file system compiles nothing.

Exit status 1 with one line per problem, 0 with a short report.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import pkgutil
import struct
import sys
import sysconfig
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

# PEP 552 pyc header: magic, flags, then (mtime, size) or the source hash.
FLAG_HASH_BASED = 0b01


def top_level_modules(site_packages: Path) -> list[str]:
    """Importable top-level names in `site_packages`: packages, modules, extensions."""
    return sorted({info.name for info in pkgutil.iter_modules([str(site_packages)])})


def loaded_libraries(maps: str) -> list[str]:
    """Paths of the shared objects mapped into a process, from /proc/<pid>/maps text."""
    paths = set()
    for line in maps.splitlines():
        fields = line.split(None, 5)
        if len(fields) == 6 and fields[5].startswith("/") and ".so" in fields[5]:
            paths.add(fields[5])
    return sorted(paths)


def pyc_problem(source: Path, cached: Path | None) -> str | None:
    """Why Python would compile `source` again instead of using `cached`, or None."""
    if cached is None or not cached.is_file():
        return "has no bytecode"
    header = cached.read_bytes()[:16]
    if len(header) < 16 or header[:4] != importlib.util.MAGIC_NUMBER:
        return f"{cached.name} is not bytecode for this Python"
    (flags,) = struct.unpack("<I", header[4:8])
    if flags & FLAG_HASH_BASED:
        # Unchecked pycs are used without a look at the source: make sure they belong to it.
        if header[8:16] != importlib.util.source_hash(source.read_bytes()):
            return f"{cached.name} was compiled from other source"
        return None
    mtime, size = struct.unpack("<II", header[8:16])
    stat = source.stat()
    if mtime != int(stat.st_mtime) & 0xFFFFFFFF or size != stat.st_size & 0xFFFFFFFF:
        return f"{cached.name} records another mtime or size than the source"
    return None


def bytecode_problems(modules: Iterable[ModuleType]) -> list[str]:
    problems = []
    for module in modules:
        spec = getattr(module, "__spec__", None)
        origin = getattr(spec, "origin", None)
        if spec is None or not origin or not origin.endswith(".py") or not spec.has_location:
            continue  # built-in, frozen, extension or namespace module
        cached = Path(spec.cached) if spec.cached else None
        problem = pyc_problem(Path(origin), cached)
        if problem:
            problems.append(f"bytecode: {spec.name} ({origin}) {problem}")
    return problems


def libcurl_problems(
    version: str, expected_version: str, loaded: list[str], libdir: str
) -> list[str]:
    problems = []
    if f"libcurl/{expected_version} " not in f"{version} ":
        problems.append(f"pycurl: version {version!r} names no libcurl/{expected_version}")
    if "OpenSSL/" not in version:
        problems.append(f"pycurl: version {version!r} names no OpenSSL")
    libcurls = [path for path in loaded if Path(path).name.startswith("libcurl.so")]
    if not libcurls or any(not path.startswith(libdir.rstrip("/") + "/") for path in libcurls):
        problems.append(f"pycurl: loaded libcurl {libcurls} is not the one in {libdir}")
    return problems


def libpq_problems(pq_version: int, expected: str, loaded: list[str], libdir: str) -> list[str]:
    problems = []
    major, _, minor = expected.partition(".")
    want = int(major) * 10000 + int(minor or 0)  # PQlibVersion() for PostgreSQL 10 and later
    if pq_version != want:
        problems.append(
            f"psycopg: psycopg.pq.version() is {pq_version}, libpq {expected} is {want}"
        )
    libpqs = [path for path in loaded if Path(path).name.startswith("libpq.so")]
    if not libpqs or any(not path.startswith(libdir.rstrip("/") + "/") for path in libpqs):
        problems.append(f"psycopg: loaded libpq {libpqs} is not the one in {libdir}")
    return problems


def ssl_problems(ca_file: str) -> list[str]:
    import ssl

    if not ssl.OPENSSL_VERSION.startswith("OpenSSL"):
        return [f"ssl: linked to {ssl.OPENSSL_VERSION}, not OpenSSL"]
    context = ssl.create_default_context(cafile=ca_file)
    if context.cert_store_stats()["x509_ca"] < 50:
        return [f"ssl: {ca_file} holds fewer than 50 CA certificates"]
    return []


def run(args: argparse.Namespace) -> list[str]:
    site_packages = Path(sysconfig.get_paths()["purelib"])
    names = top_level_modules(site_packages) + args.imports
    problems = []
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as e:
            problems.append(f"import {name}: {type(e).__name__}: {e}")
    if problems:
        return problems

    import psycopg
    import pycurl

    loaded = loaded_libraries(Path("/proc/self/maps").read_text())
    problems += libcurl_problems(pycurl.version, args.curl_version, loaded, args.libcurl_dir)
    problems += libpq_problems(psycopg.pq.version(), args.libpq_version, loaded, args.libpq_dir)
    problems += ssl_problems(args.ca_file)
    problems += bytecode_problems(list(sys.modules.values()))
    print(f"imported {len(names)} modules from {site_packages}; {len(sys.modules)} loaded")
    print(f"pycurl: {pycurl.version}")
    print(f"psycopg: libpq {psycopg.pq.version()} ({psycopg.pq.__impl__})")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ca-file", required=True)
    parser.add_argument("--curl-version", required=True)
    parser.add_argument("--libcurl-dir", required=True)
    parser.add_argument("--libpq-version", required=True)
    parser.add_argument("--libpq-dir", required=True)
    parser.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE")
    args = parser.parse_args(argv)
    # Python would write missing pycs where it could; the check must see the shipped files.
    sys.dont_write_bytecode = True
    problems = run(args)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
