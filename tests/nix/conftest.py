"""Fixtures for the flake's tests: synthetic docker-archives, the nix/ helper scripts, and a
`nix-instantiate` that runs without a daemon (Debian's nix-bin 2.8 in CI)."""

from __future__ import annotations

import copy
import gzip
import hashlib
import importlib.util
import io
import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.nix import nixeval

REPO = Path(__file__).resolve().parents[2]

ENV_PYTHON = "/nix/store/0000000000000000000000000000000a-plexus-env/bin/python3.11"
CA_BUNDLE = "/nix/store/0000000000000000000000000000000b-nss-cacert/etc/ssl/certs/ca-bundle.crt"


def load_script(name: str) -> ModuleType:
    """A script under nix/ as a module (they are run by path, not installed)."""
    spec = importlib.util.spec_from_file_location(f"nix_{name}", REPO / "nix" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- docker-archives --------------------------------------------------------------------

# An entry: (path, kind, options). kind is dir, file, symlink or hardlink; options may set
# mode, data (file) or target (links). Parent directories are NOT added: tests list them.
LayerSpec = list[tuple[str, str, dict[str, Any]]]


def layer_tar(entries: LayerSpec) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, kind, options in entries:
            info = tarfile.TarInfo(path)
            info.mtime = 1
            data = b""
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, options.get("mode", 0o755)
            elif kind == "file":
                data = options.get("data", b"")
                info.size, info.mode = len(data), options.get("mode", 0o444)
            elif kind == "symlink":
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, options["target"], 0o777
            elif kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, options["target"]
            tar.addfile(info, io.BytesIO(data) if data else None)
    return buf.getvalue()


def store_dirs(path: str) -> LayerSpec:
    """Directory entries for `path` and all its parents, top down."""
    parts = path.strip("/").split("/")
    return [("/" + "/".join(parts[:i]), "dir", {}) for i in range(1, len(parts) + 1)]


def base_layers() -> list[LayerSpec]:
    env = ENV_PYTHON.rsplit("/", 1)[0]
    certs = CA_BUNDLE.rsplit("/", 1)[0]
    return [
        [*store_dirs(env), (ENV_PYTHON, "file", {"mode": 0o555, "data": b"\x7fELF wrapper"})],
        [*store_dirs(certs), (CA_BUNDLE, "file", {"data": b"-----BEGIN CERTIFICATE-----\n"})],
        [
            ("./", "dir", {}),
            ("./etc", "dir", {}),
            ("./etc/passwd", "symlink", {"target": "/nix/store/0-fake-nss/etc/passwd"}),
            ("./tmp", "dir", {"mode": 0o1777}),
            ("./var", "dir", {}),
            ("./var/task", "dir", {}),
        ],
    ]


def handler_layer() -> LayerSpec:
    return [
        ("./", "dir", {}),
        ("./var", "dir", {}),
        ("./var/task", "dir", {}),
        (
            "./var/task/handler.py",
            "file",
            {"data": b"def handler(event, context):\n    return event\n"},
        ),
        ("./var/task/__pycache__", "dir", {}),
        ("./var/task/__pycache__/handler.cpython-311.pyc", "file", {"data": b"\xa7\r\r\n"}),
    ]


def image_config() -> dict[str, Any]:
    return {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:01+00:00",
        "config": {
            "Entrypoint": [ENV_PYTHON, "-m", "awslambdaric"],
            "Cmd": ["handler.handler"],
            "WorkingDir": "/var/task",
            "Env": [
                "LAMBDA_TASK_ROOT=/var/task",
                "PYTHONPATH=/var/task",
                "HOME=/tmp",
                "MPLCONFIGDIR=/tmp/matplotlib",
                f"SSL_CERT_FILE={CA_BUNDLE}",
            ],
        },
    }


@dataclass
class ArchiveSpec:
    """What `write_archive` puts in a docker-archive; tests change it to break one rule."""

    layers: list[LayerSpec]
    config: dict[str, Any] = field(default_factory=image_config)
    gzip: bool = False
    extra_manifest_entries: int = 0
    diff_id_override: list[str] | None = None

    def copy(self) -> ArchiveSpec:
        return copy.deepcopy(self)


def write_archive(path: Path, spec: ArchiveSpec) -> Path:
    """A docker-archive laid out as dockerTools' stream_layered_image.py writes one."""
    tars = [layer_tar(layer) for layer in spec.layers]
    digests = [hashlib.sha256(t).hexdigest() for t in tars]
    config = copy.deepcopy(spec.config)
    config["rootfs"] = {
        "type": "layers",
        "diff_ids": spec.diff_id_override or [f"sha256:{d}" for d in digests],
    }
    config_blob = json.dumps(config, indent=4).encode()
    config_name = hashlib.sha256(config_blob).hexdigest() + ".json"
    entry = {
        "Config": config_name,
        "RepoTags": ["plexus/lambda-test:abc"],
        "Layers": [f"{d}/layer.tar" for d in digests],
    }
    manifest = json.dumps([entry] * (1 + spec.extra_manifest_entries)).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        members = [(f"{d}/layer.tar", t) for d, t in zip(digests, tars, strict=True)]
        for name, data in [*members, (config_name, config_blob), ("manifest.json", manifest)]:
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1
            tar.addfile(info, io.BytesIO(data))
    data = buf.getvalue()
    path.write_bytes(gzip.compress(data, mtime=0) if spec.gzip else data)
    return path


@pytest.fixture
def base_spec() -> ArchiveSpec:
    return ArchiveSpec(layers=base_layers(), gzip=True)


@pytest.fixture
def function_spec() -> ArchiveSpec:
    return ArchiveSpec(layers=[*base_layers(), handler_layer()], gzip=True)


@pytest.fixture
def archive(tmp_path: Path) -> Callable[[str, ArchiveSpec], Path]:
    def make(name: str, spec: ArchiveSpec) -> Path:
        return write_archive(tmp_path / f"{name}.tar.gz", spec)

    return make


# --- nix-instantiate ----------------------------------------------------------------------


@dataclass
class Nix:
    env: dict[str, str]

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["nix-instantiate", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"nix-instantiate {' '.join(args)} failed:\n{proc.stderr}")
        return proc

    def eval_json(self, expression: str) -> Any:
        return json.loads(self.run("--eval", "--strict", "--json", "-E", expression).stdout)


@pytest.fixture(scope="session")
def nix(tmp_path_factory: pytest.TempPathFactory) -> Nix:
    if shutil.which("nix-instantiate") is None:
        pytest.fail("nix-instantiate is not on PATH; install Nix (Debian: apt-get install nix-bin)")
    root = tmp_path_factory.mktemp("nix-root")
    # A store of its own under a temporary root: no daemon, no /nix/var, works as any user.
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root),
        "NIX_REMOTE": f"local?root={root}",
    }
    return Nix(env)


# --- the Nix evaluation kit (tests/nix/nixeval.py) ---------------------------------------
# Session-scoped: the kit runs once per session and every test reads the same results.


@pytest.fixture(scope="session")
def flake_eval() -> nixeval.Evaluation:
    """evaluate.sh over the checkout: every flake output, both systems (skips without the kit)."""
    return nixeval.run_evaluation(nixeval.require_kit(), nixeval.work_dir())


@pytest.fixture(scope="session")
def flake(flake_eval: nixeval.Evaluation) -> nixeval.Flake:
    """What evaluated, as derivations (`nix derivation show -r`) and apps (`nix eval`)."""
    if flake_eval.returncode != 0 or flake_eval.failures:
        pytest.fail(f"{flake_eval.summary()}; see test_every_flake_output_evaluates")
    return nixeval.load_flake(flake_eval)


@pytest.fixture(scope="session")
def stream_archives(tmp_path_factory: pytest.TempPathFactory) -> nixeval.StreamTest:
    """stream-test.sh: archives written by nixpkgs' real stream_layered_image.py from confs
    shaped like the flake's (a base, and a function image fromImage the base), already checked
    by plexus.tooling.image_contract. `.archives` maps image name -> docker-archive; a test of
    a later stage (e.g. the push-ready layout made from an archive) can start from these."""
    kit = nixeval.require_kit()
    return nixeval.run_stream_test(kit, nixeval.work_dir(), tmp_path_factory.mktemp("stream"))
