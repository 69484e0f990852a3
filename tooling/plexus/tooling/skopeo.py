"""Run skopeo against one registry with credentials that never reach argv or output.

The credentials live in a containers-auth.json inside a private temp dir (0700, file 0600)
that exists only while the `Skopeo` context is open (it is removed even on errors and
Ctrl-C); skopeo is pointed at it with --authfile options.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# A signature policy of our own, so neither a missing nor a strict /etc/containers/policy.json
# changes what gets pushed: local archives and our own registry are the only sources.
POLICY = {
    "default": [{"type": "reject"}],
    "transports": {
        "docker-archive": {"": [{"type": "insecureAcceptAnything"}]},
        "dir": {"": [{"type": "insecureAcceptAnything"}]},
        "docker": {"": [{"type": "insecureAcceptAnything"}]},
    },
}

_UNREACHABLE = (
    "connection refused",
    "no such host",
    "i/o timeout",
    "network is unreachable",
    "connection reset",
    "tls handshake timeout",
    "no route to host",
)
_REFUSED = (
    "unauthorized",
    "authentication required",
    "denied",
    "forbidden",
    "not authorized",
)


class SkopeoError(Exception):
    """skopeo failed; `kind` is missing, unreachable, refused or failed."""

    def __init__(self, message: str, kind: str = "failed") -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class RegistryCredentials:
    host: str  # host[:port], as it appears in image references
    username: str
    password: str = field(repr=False)

    @property
    def auth(self) -> str:
        """The containers-auth.json `auth` value: base64 of `user:password`."""
        return base64.b64encode(f"{self.username}:{self.password}".encode()).decode()


def find_skopeo() -> str:
    path = shutil.which("skopeo")
    if path is None:
        raise SkopeoError(
            "skopeo is not on PATH; run inside `nix develop` or install skopeo", "missing"
        )
    return path


def write_private(path: Path, data: bytes) -> None:
    """Create `path` readable and writable by its owner alone, before any byte is written."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _fatal_message(lines: list[str]) -> str:
    """skopeo's own error (logrus `level=fatal msg="…"`), or its last output line."""
    for line in reversed(lines):
        match = re.search(r'level=fatal msg="(.*)"\s*$', line)
        if match:
            return match.group(1).replace('\\"', '"')
    return lines[-1].strip() if lines else "no output"


class Skopeo:
    """skopeo with credentials for one registry; use as a context manager."""

    def __init__(
        self,
        binary: str,
        credentials: RegistryCredentials,
        *,
        tls_verify: bool = True,
        progress: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.binary = binary
        self.credentials = credentials
        self.tls_verify = tls_verify
        self.progress = progress
        self.workdir = Path()

    def __enter__(self) -> Skopeo:
        # mkdtemp makes it 0700; it also holds the digest file and any decompressed archive.
        self.workdir = Path(tempfile.mkdtemp(prefix="plexus-push-"))
        try:
            auth = {"auths": {self.credentials.host: {"auth": self.credentials.auth}}}
            write_private(self.authfile, json.dumps(auth).encode())
            write_private(self.policy, json.dumps(POLICY).encode())
        except BaseException:
            shutil.rmtree(self.workdir, ignore_errors=True)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def authfile(self) -> Path:
        return self.workdir / "auth.json"

    @property
    def policy(self) -> Path:
        return self.workdir / "policy.json"

    def redact(self, text: str) -> str:
        for secret in (self.credentials.password, self.credentials.auth):
            if secret:
                text = text.replace(secret, "***")
        return text

    def _tls(self) -> str:
        return "true" if self.tls_verify else "false"

    def _fail(self, what: str, lines: list[str]) -> SkopeoError:
        detail = self.redact(_fatal_message(lines))
        lowered = detail.lower()
        host = self.credentials.host
        if any(p in lowered for p in _UNREACHABLE):
            return SkopeoError(f"registry {host} is unreachable ({what}): {detail}", "unreachable")
        if any(p in lowered for p in _REFUSED):
            return SkopeoError(
                f"registry {host} refused {what}: {detail} (check the repository policy and "
                "the caller's ecr: permissions)",
                "refused",
            )
        return SkopeoError(f"skopeo failed ({what}): {detail}")

    def _copy(self, args: list[str], what: str) -> str:
        digestfile = self.workdir / "digest"
        digestfile.unlink(missing_ok=True)
        argv = [self.binary, "--policy", str(self.policy), "copy", "--digestfile", str(digestfile)]
        argv += args
        tail: deque[str] = deque(maxlen=40)
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                line = self.redact(line.rstrip("\n"))
                tail.append(line)
                self.progress(f"  skopeo: {line}")
            code = proc.wait()
        finally:
            if proc.poll() is None:  # interrupted: do not leave skopeo pushing behind us
                proc.terminate()
                proc.wait()
        if code != 0:
            raise self._fail(what, list(tail))
        digest = digestfile.read_text().strip() if digestfile.exists() else ""
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
            raise SkopeoError(f"skopeo wrote no usable digest ({what}): {digest!r}")
        return digest

    def push_layout(self, layout: Path, dest: str) -> str:
        """Push a `dir:` layout (plexus.tooling.image_layout) to `dest` as it is.

        Its manifest is already Docker v2 schema 2 with gzip layers; --preserve-digests makes
        skopeo fail rather than substitute a blob or rewrite the manifest, so the digest
        pushed is the build's.
        """
        return self._copy(
            [
                "--preserve-digests",
                "--format",
                "v2s2",
                "--dest-authfile",
                str(self.authfile),
                f"--dest-tls-verify={self._tls()}",
                f"dir:{layout}",
                f"docker://{dest}",
            ],
            f"pushing to {dest}",
        )

    def retag(self, source: str, dest: str) -> str:
        """Copy a manifest already in the registry to another tag; its blobs are there already,
        so nothing is uploaded. --preserve-digests is safe (and wanted) registry to registry."""
        return self._copy(
            [
                "--preserve-digests",
                "--src-authfile",
                str(self.authfile),
                f"--src-tls-verify={self._tls()}",
                "--dest-authfile",
                str(self.authfile),
                f"--dest-tls-verify={self._tls()}",
                f"docker://{source}",
                f"docker://{dest}",
            ],
            f"tagging {dest}",
        )

    def inspect_raw(self, ref: str) -> bytes:
        """The manifest bytes the registry serves for `ref` (host/repo@digest or :tag)."""
        argv = [
            self.binary,
            "inspect",
            "--raw",
            "--authfile",
            str(self.authfile),
            f"--tls-verify={self._tls()}",
            f"docker://{ref}",
        ]
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, check=False)
        if proc.returncode != 0:
            lines = proc.stderr.decode(errors="replace").splitlines()
            raise self._fail(f"reading the manifest of {ref}", lines)
        return proc.stdout
