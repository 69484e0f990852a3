"""Fixtures for `plexus-lambda push` tests.

Control plane: moto in-process (`mock_aws`) for ECR, Lambda and IAM; the tool calls boto3
in the test process. Data plane: Debian's `docker-registry` on 127.0.0.1, behind a counting
proxy that demands the ECR login moto hands out, with the real skopeo wrapped by a shim
that records every argv (and the auth file's permissions at that moment). Every `push` run
gets an empty skopeo blob-info cache of its own unless the test passes one (as root the
shim binds it over /var/lib/containers/cache in a private mount namespace), so no result
depends on what skopeo remembers.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from plexus.tooling import cli
from tests.support.docker_archive import make_layer, write_docker_archive
from tests.support.registry import SKOPEO_BINARY, LocalRegistry, RegistryProxy

REGION = "us-east-1"
ACCOUNT = "123456789012"
# What moto's GetAuthorizationToken returns as the registry password.
ECR_PASSWORD = f"{ACCOUNT}-auth-token"
SKOPEO = SKOPEO_BINARY

SHIM = """#!{python}
# Records how skopeo was called, then runs the real one; with PLEXUS_TEST_BLOBINFO_CACHE set,
# in a mount namespace where that directory is skopeo's blob-info cache (root's is a fixed
# path, /var/lib/containers/cache; other users' is under $XDG_DATA_HOME).
import json, os, stat, sys
argv = sys.argv[1:]
auth = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a.endswith("authfile")]
files = {{}}
for path in auth:
    try:
        files[path] = [stat.S_IMODE(os.stat(path).st_mode),
                       stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode)]
    except OSError:
        files[path] = None
with open({log!r}, "a") as log:
    log.write(json.dumps({{"argv": argv, "authfiles": files, "env": dict(os.environ)}}) + "\\n")
cache = os.environ.get("PLEXUS_TEST_BLOBINFO_CACHE")
if cache and os.geteuid() == 0:
    bind = 'mkdir -p "$1" && mount --bind "$0" "$1" && shift && exec "$@"'
    os.execvp("unshare", ["unshare", "--mount", "sh", "-c", bind, cache,
                          "/var/lib/containers/cache", {skopeo!r}, *argv])
if cache:
    os.environ["XDG_DATA_HOME"] = cache
os.execv({skopeo!r}, [{skopeo!r}, *argv])
"""


@pytest.fixture(scope="session")
def registry() -> Iterator[LocalRegistry]:
    with LocalRegistry() as reg:
        yield reg


@pytest.fixture(scope="session")
def _registry_proxy(registry: LocalRegistry) -> Iterator[RegistryProxy]:
    with RegistryProxy(registry.host, basic_auth=("AWS", ECR_PASSWORD)) as proxy:
        yield proxy


@pytest.fixture
def proxy(_registry_proxy: RegistryProxy) -> Iterator[RegistryProxy]:
    """The registry's front door, its request log and refusals cleared for this test."""
    _registry_proxy.reset()
    yield _registry_proxy
    _registry_proxy.reset()


@dataclass
class Aws:
    ecr: Any
    lam: Any
    iam: Any

    def image_function(self, name: str, architecture: str = "x86_64") -> str:
        """A container-image Lambda function, as deployed before this push."""
        role = self.iam.create_role(
            RoleName=f"{name}-role",
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        )["Role"]["Arn"]
        self.lam.create_function(
            FunctionName=name,
            Role=role,
            PackageType="Image",
            Code={"ImageUri": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/old:previous"},
            Architectures=[architecture],
        )
        return name


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Aws]:
    """moto's ECR, Lambda and IAM in this process, and an environment pointing at them only."""
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with mock_aws():
        yield Aws(
            ecr=boto3.client("ecr", region_name=REGION),
            lam=boto3.client("lambda", region_name=REGION),
            iam=boto3.client("iam", region_name=REGION),
        )


@dataclass
class SkopeoShim:
    log: Path

    def calls(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@pytest.fixture
def skopeo_shim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SkopeoShim:
    """`skopeo` first on PATH: a recorder in front of the real one."""
    bindir = tmp_path / "shim-bin"
    bindir.mkdir()
    log = tmp_path / "skopeo-calls.jsonl"
    script = bindir / "skopeo"
    script.write_text(SHIM.format(python=sys.executable, log=str(log), skopeo=SKOPEO))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    return SkopeoShim(log)


@dataclass
class PushResult:
    code: int
    out: str
    err: str
    skopeo_calls: list[dict[str, Any]] = field(default_factory=list)

    @property
    def images(self) -> list[dict[str, Any]]:
        """stdout parsed: it must hold JSON objects, one per line, and nothing else."""
        return [json.loads(line) for line in self.out.splitlines()]

    def by_image(self) -> dict[str, dict[str, Any]]:
        return {image["image"]: image for image in self.images}


@pytest.fixture
def push(
    aws: Aws,
    proxy: RegistryProxy,
    skopeo_shim: SkopeoShim,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Any:
    """Run `plexus-lambda push ARGS… --registry <proxy> --no-dest-tls-verify` in-process.

    Every run is also checked for what must never happen: the registry password in output,
    argv or skopeo's environment, an auth file not private while skopeo ran, or left behind.
    """

    def run(*args: str, registry: str | None = None, cache: Path | None = None) -> PushResult:
        """`cache`: skopeo's blob-info cache for this run; by default a new, empty one, as
        on a fresh CI runner."""
        cache = cache or Path(tempfile.mkdtemp(prefix="blobinfo-", dir=tmp_path))
        cache.mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv("PLEXUS_TEST_BLOBINFO_CACHE", str(cache))
        before = len(skopeo_shim.calls())
        argv = ["push", *args, "--registry", registry or proxy.host, "--no-dest-tls-verify"]
        capsys.readouterr()
        code = cli.main(argv)
        captured = capsys.readouterr()
        result = PushResult(code, captured.out, captured.err, skopeo_shim.calls()[before:])
        secrets = (ECR_PASSWORD, base64.b64encode(f"AWS:{ECR_PASSWORD}".encode()).decode())
        for secret in secrets:
            assert secret not in result.out
            assert secret not in result.err
        for call in result.skopeo_calls:
            for secret in secrets:
                assert not any(secret in arg for arg in call["argv"])
                assert not any(secret in value for value in call["env"].values())
            assert call["authfiles"], f"skopeo called without an auth file: {call['argv']}"
            for path, modes in call["authfiles"].items():
                assert modes == [0o600, 0o700], f"{path}: modes {modes}"
                assert not Path(path).exists(), f"auth file {path} left behind"
                assert not Path(path).parent.exists(), f"private dir of {path} left behind"
        return result

    return run


@dataclass
class ImageFactory:
    """Archives for a small image family: a base and function images on top of it."""

    dir: Path
    salt: str = field(default_factory=lambda: uuid.uuid4().hex)
    _base: list[bytes] = field(default_factory=list)

    def base_layers(self) -> list[bytes]:
        # Random and salted so no earlier test (or skopeo's blob cache) knows these blobs.
        if not self._base:
            self._base = self._make_base()
        return list(self._base)

    def _make_base(self) -> list[bytes]:
        return [
            make_layer(
                {
                    "nix/store/python-env/lib/python3.11/site.py": os.urandom(48 * 1024),
                    "nix/store/python-env/salt": self.salt.encode(),
                    "tmp": None,
                },
                modes={"tmp": 0o1777},
            ),
            make_layer(
                {"etc/passwd": b"root:x:0:0::/root:/bin/sh\n", "etc/salt": self.salt.encode()}
            ),
        ]

    def handler_layer(self, function: str) -> bytes:
        code = f"def handler(event, context):\n    return {function!r}\n{self.salt!r}\n"
        return make_layer({"var/task/handler.py": code.encode()})

    def write(
        self,
        name: str,
        *,
        function: str | None = None,
        architecture: str = "amd64",
        gzip_compress: bool = False,
        tag: str | None = None,
    ) -> Path:
        layers = self.base_layers()
        config: dict[str, Any] = {"architecture": architecture, "config": {}}
        if function:
            layers.append(self.handler_layer(function))
            config["config"] = {"Cmd": ["handler.handler"], "WorkingDir": "/var/task"}
        suffix = ".tar.gz" if gzip_compress else ".tar"
        path = self.dir / f"{name}-{architecture}{suffix}"
        repo_tag = f"lambda-{name}:{tag or self.salt[:32]}"
        return write_docker_archive(path, layers, config, repo_tag, gzip_compress=gzip_compress)


@pytest.fixture
def images(tmp_path: Path) -> ImageFactory:
    folder = tmp_path / "images"
    folder.mkdir()
    return ImageFactory(folder)


@pytest.fixture
def no_skopeo(skopeo_shim: SkopeoShim, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A PATH on which no skopeo can be found (set after the shim's, so it wins)."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert shutil.which("skopeo") is None
