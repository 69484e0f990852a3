"""nix/psycopg_libpq.py on a copy of the installed psycopg, pointed at this machine's libpq:
the patched package must load exactly that file, answer `psycopg.pq.version()`, and carry
bytecode that matches the patched source."""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.nix.conftest import load_script

patcher = load_script("psycopg_libpq")
linkage = load_script("linkage_check")


def libc_path() -> str:
    maps = Path("/proc/self/maps").read_text()
    return next(p for p in linkage.loaded_libraries(maps) if Path(p).name.startswith("libc.so"))


@pytest.fixture
def libpq() -> str:
    # Debian's libpq5, which the postgresql package brings (./test installs it, .ci/setup.sh).
    found = sorted(glob.glob("/usr/lib/*/libpq.so.5*") + glob.glob("/usr/lib/libpq.so.5*"))
    assert found, "libpq.so.5 is not installed (apt-get install libpq5)"
    return str(Path(found[0]).resolve())


@pytest.fixture
def site(tmp_path: Path) -> Path:
    shutil.copytree(Path(psycopg.__file__).parent, tmp_path / "psycopg")
    return tmp_path


def test_patched_psycopg_loads_the_given_libpq(site: Path, libpq: str) -> None:
    patched = patcher.patch(site, libpq, libc_path(), "UNCHECKED_HASH")
    source = patched.read_text()
    assert repr(libpq) in source and "find_libpq_full_path()" not in source
    cached = Path(importlib.util.cache_from_source(str(patched)))
    assert linkage.pyc_problem(patched, cached) is None

    probe = (
        "import json, psycopg, psycopg.pq._pq_ctypes as c;"
        "print(json.dumps([psycopg.__file__, psycopg.pq.__impl__, psycopg.pq.version(), c.pq._name]))"
    )
    env = {**os.environ, "PYTHONPATH": str(site), "PSYCOPG_IMPL": "python"}
    proc = subprocess.run(
        [sys.executable, "-B", "-c", probe], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    location, impl, version, loaded = json.loads(proc.stdout)
    assert location == str(site / "psycopg" / "__init__.py")
    assert (impl, loaded) == ("python", libpq)
    assert version == psycopg.pq.version() > 100000


def test_patch_refuses_what_it_does_not_recognise(site: Path, libpq: str) -> None:
    patcher.patch(site, libpq, libc_path())
    with pytest.raises(patcher.PatchError, match=r"expected `find_libpq_full_path\(\)` once"):
        patcher.patch(site, libpq, libc_path())


def test_patch_refuses_missing_libraries_and_modes(site: Path, libpq: str, tmp_path: Path) -> None:
    with pytest.raises(patcher.PatchError, match=r"/nowhere/libpq\.so: no such library"):
        patcher.patch(site, "/nowhere/libpq.so", libc_path())
    with pytest.raises(patcher.PatchError, match="unknown PYC_INVALIDATION_MODE 'SOMETIMES'"):
        patcher.patch(site, libpq, libc_path(), "SOMETIMES")
    with pytest.raises(patcher.PatchError, match="psycopg is not installed there"):
        patcher.patch(tmp_path / "empty", libpq, libc_path())


def test_command_line(site: Path, libpq: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert patcher.main([str(site), libpq]) == 2
    assert patcher.main([str(site), libpq, libc_path(), "CHECKED_HASH"]) == 0
    assert "loads " + libpq in capsys.readouterr().out
    assert patcher.main([str(site), libpq, libc_path()]) == 1
    assert "psycopg_libpq: expected" in capsys.readouterr().err


def test_patch_leaves_hardlinked_copies_alone(site: Path, libpq: str) -> None:
    # uv links installed files to its cache: patching one environment must not change others.
    source = site / "psycopg" / "pq" / "_pq_ctypes.py"
    twin = site / "twin.py"
    os.link(source, twin)
    before = twin.read_bytes()
    patcher.patch(site, libpq, libc_path())
    assert twin.read_bytes() == before
    assert source.read_bytes() != before
