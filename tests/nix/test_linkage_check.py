"""nix/linkage_check.py's parts: module discovery, bytecode validity as Python judges it, and
the library checks, against this machine's own pycurl and libcurl."""

from __future__ import annotations

import importlib
import os
import py_compile
import sys
from pathlib import Path

import pycurl
import pytest

from tests.nix.conftest import load_script

check = load_script("linkage_check")
Mode = py_compile.PycInvalidationMode


def compiled(tmp_path: Path, source: str, mode: Mode) -> tuple[Path, Path]:
    path = tmp_path / "mod.py"
    path.write_text(source)
    cached = Path(py_compile.compile(str(path), doraise=True, invalidation_mode=mode))
    return path, cached


@pytest.mark.parametrize("mode", [Mode.CHECKED_HASH, Mode.UNCHECKED_HASH, Mode.TIMESTAMP])
def test_fresh_bytecode_is_valid(tmp_path: Path, mode: Mode) -> None:
    source, cached = compiled(tmp_path, "x = 1\n", mode)
    assert check.pyc_problem(source, cached) is None


@pytest.mark.parametrize("mode", [Mode.CHECKED_HASH, Mode.UNCHECKED_HASH])
def test_hash_bytecode_of_other_source_is_caught(tmp_path: Path, mode: Mode) -> None:
    # Python itself would use an unchecked pyc of other source: the check must not.
    source, cached = compiled(tmp_path, "x = 1\n", mode)
    source.write_text("x = 2\n")
    assert check.pyc_problem(source, cached) == "mod.cpython-311.pyc was compiled from other source"


def test_timestamp_bytecode_with_another_mtime_is_stale(tmp_path: Path) -> None:
    # What Nix does to a timestamp pyc written at build time: it resets the source's mtime.
    source, cached = compiled(tmp_path, "x = 1\n", Mode.TIMESTAMP)
    os.utime(source, (1, 1))
    assert "records another mtime or size" in check.pyc_problem(source, cached)


def test_missing_or_foreign_bytecode(tmp_path: Path) -> None:
    source, cached = compiled(tmp_path, "x = 1\n", Mode.CHECKED_HASH)
    assert check.pyc_problem(source, None) == "has no bytecode"
    assert check.pyc_problem(source, tmp_path / "nope.pyc") == "has no bytecode"
    cached.write_bytes(b"\x00\x00\r\n" + cached.read_bytes()[4:])
    assert "is not bytecode for this Python" in check.pyc_problem(source, cached)


def test_bytecode_problems_reads_imported_modules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "linkcheck_probe"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "good.py").write_text("x = 1\n")
    (package / "bare.py").write_text("y = 2\n")
    for name in ("__init__.py", "good.py"):
        py_compile.compile(str(package / name), invalidation_mode=Mode.UNCHECKED_HASH)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    modules = [importlib.import_module(f"linkcheck_probe.{name}") for name in ("good", "bare")]
    modules.append(sys)  # built-in: no source, nothing to check
    problems = check.bytecode_problems(modules)
    assert problems == [f"bytecode: linkcheck_probe.bare ({package / 'bare.py'}) has no bytecode"]


def test_top_level_modules(tmp_path: Path) -> None:
    for directory in ("pkg", "pkg.dist-info", "__pycache__", "notapkg"):
        (tmp_path / directory).mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "single.py").write_text("")
    (tmp_path / "_ext.cpython-311-x86_64-linux-gnu.so").write_bytes(b"")
    (tmp_path / "readme.txt").write_text("")
    assert check.top_level_modules(tmp_path) == ["_ext", "pkg", "single"]


def test_loaded_libraries_from_maps() -> None:
    maps = (
        "7f00-7f01 r--p 00000000 08:01 1 /nix/store/aaa-curl-8.16.0/lib/libcurl.so.4.8.0\n"
        "7f01-7f02 r-xp 00001000 08:01 1 /nix/store/aaa-curl-8.16.0/lib/libcurl.so.4.8.0\n"
        "7f02-7f03 rw-p 00000000 00:00 0 [heap]\n"
        "7f03-7f04 r--p 00000000 08:01 2 /usr/lib/locale/locale-archive\n"
    )
    assert check.loaded_libraries(maps) == ["/nix/store/aaa-curl-8.16.0/lib/libcurl.so.4.8.0"]


def test_libcurl_check_against_this_pycurl() -> None:
    """This environment's pycurl: PyPI's wheel bundles libcurl under another name
    (pycurl.libs/libcurl-<hash>.so), which the check refuses, as it would in an image; a
    pycurl built from its sdist loads the system's libcurl.so, which it accepts."""
    loaded = check.loaded_libraries(Path("/proc/self/maps").read_text())
    [libcurl] = [path for path in loaded if Path(path).name.startswith("libcurl")]
    version = pycurl.version_info()[1]
    libdir = str(Path(libcurl).parent)
    problems = check.libcurl_problems(pycurl.version, version, loaded, libdir)
    if Path(libcurl).name.startswith("libcurl.so"):
        assert problems == []
    else:
        assert problems == [f"pycurl: loaded libcurl [] is not the one in {libdir}"]
    system = ["/usr/lib/libcurl.so.4.8.0", "/usr/lib/libssl.so.3"]
    assert check.libcurl_problems(pycurl.version, version, system, "/usr/lib") == []
    assert check.libcurl_problems(pycurl.version, "0.0.1", system, "/usr/lib") == [
        f"pycurl: version {pycurl.version!r} names no libcurl/0.0.1"
    ]
    assert (
        "is not the one in /nix/store/x-curl/lib"
        in check.libcurl_problems(pycurl.version, version, system, "/nix/store/x-curl/lib")[0]
    )
    assert check.libcurl_problems("PycURL/7 libcurl/8.1 GnuTLS/3", "8.1", system, "/usr/lib") == [
        "pycurl: version 'PycURL/7 libcurl/8.1 GnuTLS/3' names no OpenSSL"
    ]


def test_libpq_check() -> None:
    loaded = ["/nix/store/b-libpq-17.6/lib/libpq.so.5.17"]
    assert check.libpq_problems(170006, "17.6", loaded, "/nix/store/b-libpq-17.6/lib") == []
    assert check.libpq_problems(150018, "17.6", loaded, "/nix/store/b-libpq-17.6/lib") == [
        "psycopg: psycopg.pq.version() is 150018, libpq 17.6 is 170006"
    ]
    assert "loaded libpq [] is not" in check.libpq_problems(170006, "17.6", [], "/x")[0]


def test_ssl_check_needs_a_real_bundle(tmp_path: Path) -> None:
    import certifi

    assert check.ssl_problems(certifi.where()) == []
    few = tmp_path / "few.pem"
    few.write_text(
        Path(certifi.where()).read_text().split("-----END CERTIFICATE-----")[0]
        + "-----END CERTIFICATE-----\n"
    )
    assert check.ssl_problems(str(few)) == [f"ssl: {few} holds fewer than 50 CA certificates"]
