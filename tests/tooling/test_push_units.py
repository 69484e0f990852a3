"""The push tool's pieces on their own: archive reading, manifest checks, secrets handling."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import signal
import stat
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from plexus.tooling.docker_archive import read_archive
from plexus.tooling.lambda_manifest import (
    GZIP_LAYER,
    V2S2_CONFIG,
    V2S2_MANIFEST,
    ManifestError,
    check_manifest,
)
from plexus.tooling.push import _cleanup_on_sigterm
from plexus.tooling.skopeo import RegistryCredentials, Skopeo
from tests.support.docker_archive import make_layer, write_docker_archive
from tests.support.registry import SKOPEO_BINARY as SKOPEO

CONFIG = "sha256:" + "c" * 64


def test_make_layer_adds_parent_directories_with_fixed_mtimes():
    layer = make_layer({"/var/task/handler.py": b"x", "opt/empty": None})
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        entries = {m.name: m for m in tar}
    assert list(entries) == ["opt", "opt/empty", "var", "var/task", "var/task/handler.py"]
    assert all(m.isdir() for n, m in entries.items() if n != "var/task/handler.py")
    assert {m.mtime for m in entries.values()} == {1}
    assert make_layer({"/var/task/handler.py": b"x", "opt/empty": None}) == layer


@pytest.mark.parametrize("gzip_compress", [False, True])
def test_written_archives_are_reproducible_and_readable(tmp_path: Path, gzip_compress: bool):
    layers = [make_layer({"a/b": b"1"}), make_layer({"c": b"2"})]
    first = write_docker_archive(
        tmp_path / "1", layers, {"architecture": "arm64"}, "img:t1", gzip_compress=gzip_compress
    )
    second = write_docker_archive(
        tmp_path / "2", layers, {"architecture": "arm64"}, "img:t1", gzip_compress=gzip_compress
    )
    assert first.read_bytes() == second.read_bytes()

    image = read_archive(first)
    assert (image.compressed, image.architecture, image.os) == (gzip_compress, "arm64", "linux")
    assert (image.repo_tag, image.tag, image.layer_count) == ("img:t1", "t1", 2)
    # skopeo reads the plain form and agrees on the config digest (the image ID).
    if not gzip_compress:
        raw = subprocess.run(
            [SKOPEO, "inspect", "--raw", f"docker-archive:{first}"],
            capture_output=True,
            check=True,
        ).stdout
        assert json.loads(raw)["config"]["digest"] == image.config_digest


def _manifest(**changes: object) -> bytes:
    manifest = {
        "schemaVersion": 2,
        "mediaType": V2S2_MANIFEST,
        "config": {"mediaType": V2S2_CONFIG, "size": 10, "digest": CONFIG},
        "layers": [{"mediaType": GZIP_LAYER, "size": 5, "digest": "sha256:" + "a" * 64}],
    }
    manifest.update(changes)
    return json.dumps(manifest).encode()


def _check(raw: bytes, digest: str | None = None) -> None:
    check_manifest(raw, digest or "sha256:" + hashlib.sha256(raw).hexdigest(), CONFIG, 1)


def test_a_good_manifest_passes():
    _check(_manifest())


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            _manifest(
                mediaType="application/vnd.oci.image.index.v1+json",
                manifests=[{"digest": "sha256:" + "b" * 64}],
            ),
            "not a single-architecture",
        ),
        (
            _manifest(mediaType="application/vnd.docker.distribution.manifest.list.v2+json"),
            "not a single-architecture",
        ),
        (
            _manifest(
                layers=[
                    {
                        "mediaType": "application/vnd.docker.image.rootfs.diff.tar",
                        "size": 5,
                        "digest": "sha256:" + "a" * 64,
                    }
                ]
            ),
            "application/vnd.docker.image.rootfs.diff.tar and size 5",
        ),
        (
            _manifest(
                layers=[{"mediaType": GZIP_LAYER, "size": 0, "digest": "sha256:" + "a" * 64}]
            ),
            "size 0",
        ),
        (_manifest(layers=[]), "has 0 layers, the archive 1"),
        (
            _manifest(config={"mediaType": V2S2_CONFIG, "size": 1, "digest": "sha256:" + "d" * 64}),
            "not the archive's",
        ),
    ],
)
def test_manifests_lambda_cannot_run_are_rejected(raw: bytes, message: str):
    with pytest.raises(ManifestError, match=re.escape(message)):
        _check(raw)


def test_a_manifest_must_match_its_digest():
    with pytest.raises(ManifestError, match="the registry serves"):
        _check(_manifest(), "sha256:" + "0" * 64)


CREDS = RegistryCredentials("registry.example:5000", "AWS", "s3cret-password-value")


def test_auth_file_is_private_while_open_and_gone_after_an_error():
    with pytest.raises(RuntimeError), Skopeo(SKOPEO, CREDS) as sk:
        authfile = sk.authfile
        assert stat.S_IMODE(authfile.stat().st_mode) == 0o600
        assert stat.S_IMODE(authfile.parent.stat().st_mode) == 0o700
        auths = json.loads(authfile.read_text())["auths"]
        assert auths == {"registry.example:5000": {"auth": CREDS.auth}}
        raise RuntimeError("boom")
    assert not authfile.exists()
    assert not authfile.parent.exists()


def test_sigterm_still_removes_the_auth_file():
    with (
        pytest.raises(SystemExit) as stopped,
        _cleanup_on_sigterm(),
        Skopeo(SKOPEO, CREDS) as sk,
    ):
        workdir = sk.workdir
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # interrupted by the handler
    assert stopped.value.code == 128 + signal.SIGTERM
    assert not workdir.exists()


def test_skopeo_messages_are_redacted_and_classified():
    sk = Skopeo(SKOPEO, CREDS)
    refused = sk._fail(
        "pushing",
        [f'time="x" level=fatal msg="unauthorized: bad {CREDS.password} or {CREDS.auth}"'],
    )
    assert refused.kind == "refused"
    assert CREDS.password not in str(refused) and CREDS.auth not in str(refused)
    unreachable = sk._fail("pushing", ['level=fatal msg="dial tcp: lookup x: no such host"'])
    assert unreachable.kind == "unreachable"


def test_registry_api_follows_a_bearer_challenge():
    """Registries other than ECR answer Basic credentials with a Bearer challenge: the push's
    own requests fetch a token for the scope (with the same credentials) and use it."""
    import base64
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs, urlsplit

    from plexus.tooling.registry_api import RegistryApi

    seen: list[tuple[str, str, str]] = []
    basic = "Basic " + base64.b64encode(b"user:secret").decode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _answer(self) -> None:
            url = urlsplit(self.path)
            auth = self.headers.get("Authorization", "")
            seen.append((self.command, self.path, auth))
            if url.path == "/token":
                ok = auth == basic and parse_qs(url.query)["scope"] == ["repository:r:pull"]
                body = json.dumps({"token": "tok"}).encode() if ok else b"{}"
                self.send_response(200 if ok else 401)
            elif auth == "Bearer tok":
                body = b""
                self.send_response(200 if url.path.endswith("/sha256:" + "a" * 64) else 404)
            else:
                body = b""
                self.send_response(401)
                realm = f"http://127.0.0.1:{self.server.server_address[1]}/token"
                self.send_header("WWW-Authenticate", f'Bearer realm="{realm}",service="reg"')
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = _answer

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        host = f"127.0.0.1:{server.server_address[1]}"
        with RegistryApi(RegistryCredentials(host, "user", "secret"), tls_verify=False) as api:
            assert api.has_blob("r", "sha256:" + "a" * 64)
            assert not api.has_blob("r", "sha256:" + "b" * 64)
    finally:
        server.shutdown()
        server.server_close()
    tokens = [s for s in seen if s[1].startswith("/token")]
    assert len(tokens) == 1  # fetched once, then reused for the scope
    assert all("secret" not in auth for _, _, auth in seen if auth.startswith("Bearer"))
