"""A real container registry on 127.0.0.1 and a counting proxy in front of it.

`LocalRegistry` runs Debian's `docker-registry` (distribution 2.8) with filesystem storage
in a temp dir over plain HTTP. `RegistryProxy` forwards to it and records every request
(method, path, bytes of request body), so tests and benchmarks can tell how many blobs and
bytes a push uploaded; it can also demand HTTP Basic credentials (as ECR's registry does)
and refuse chosen requests (as an ECR repository policy would).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# Debian's paths, or the Nix check's (nix/test-tools.nix).
SKOPEO_BINARY = os.environ.get("PLEXUS_TEST_SKOPEO", "/usr/bin/skopeo")
REGISTRY_BINARY = os.environ.get("PLEXUS_TEST_REGISTRY", "/usr/bin/docker-registry")
V2S2 = "application/vnd.docker.distribution.manifest.v2+json"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalRegistry:
    """`docker-registry serve` on 127.0.0.1:<free port>; use as a context manager."""

    def __init__(self, binary: str = REGISTRY_BINARY) -> None:
        self.binary = binary
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self._dir = Path(tempfile.mkdtemp(prefix="test-registry-"))
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> LocalRegistry:
        config = {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {
                "filesystem": {"rootdirectory": str(self._dir / "data")},
                "delete": {"enabled": True},
            },
            "http": {"addr": self.host, "secret": "local-test-registry"},
        }
        # YAML is a superset of JSON, so the registry reads this as its config file.
        (self._dir / "config.yml").write_text(json.dumps(config))
        self._log = (self._dir / "registry.log").open("wb")
        self._proc = subprocess.Popen(
            [self.binary, "serve", str(self._dir / "config.yml")],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 15
        while True:
            try:
                status, _, _ = request(self.host, "GET", "/v2/")
                if status == 200:
                    return self
            except OSError:
                pass
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                log = (self._dir / "registry.log").read_text(errors="replace")
                raise RuntimeError(f"docker-registry did not start:\n{log}")
            time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._log.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def manifest_digest(self, repository: str, reference: str) -> str | None:
        """The Docker-Content-Digest the registry serves for a tag as Docker v2 schema 2."""
        status, headers, _ = request(
            self.host, "HEAD", f"/v2/{repository}/manifests/{reference}", {"Accept": V2S2}
        )
        return headers.get("docker-content-digest") if status == 200 else None

    def manifest(self, repository: str, reference: str) -> tuple[str, dict[str, Any]]:
        """(Content-Type, parsed manifest) for a tag or digest."""
        status, headers, body = request(
            self.host, "GET", f"/v2/{repository}/manifests/{reference}", {"Accept": V2S2}
        )
        if status != 200:
            raise LookupError(f"{repository}:{reference}: HTTP {status}")
        return headers.get("content-type", ""), json.loads(body)

    def tags(self, repository: str) -> list[str]:
        status, _, body = request(self.host, "GET", f"/v2/{repository}/tags/list")
        return sorted(json.loads(body).get("tags") or []) if status == 200 else []


def request(
    host: str, method: str, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One plain-HTTP request to 127.0.0.1: (status, lower-cased headers, body)."""
    conn = http.client.HTTPConnection(host, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
    finally:
        conn.close()


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: str
    status: int
    bytes_in: int

    @property
    def is_blob_upload(self) -> bool:
        """A request that carries (or starts carrying) blob bytes; cross-repo mounts are not."""
        if "/blobs/uploads/" not in self.path:
            return False
        if self.method == "POST":
            return "mount=" not in self.query
        return self.method in ("PATCH", "PUT")

    @property
    def is_mount(self) -> bool:
        return self.method == "POST" and "/blobs/uploads/" in self.path and "mount=" in self.query


# Not forwarded: the proxy consumes the credentials and re-frames the body itself.
_HOP_HEADERS = ("authorization", "transfer-encoding", "connection", "content-length")

# A refusal rule: (method, path) -> None to pass, or (status, JSON body) to answer with.
Refusal = Callable[[str, str], tuple[int, dict[str, Any]] | None]
# A stand-in answer: (method, path) -> None to pass, or (status, headers, body) to serve.
Answer = Callable[[str, str], tuple[int, list[tuple[str, str]], bytes] | None]


class RegistryProxy:
    """A counting HTTP proxy on 127.0.0.1 in front of `upstream` (host:port)."""

    def __init__(self, upstream: str, *, basic_auth: tuple[str, str] | None = None) -> None:
        self.upstream = upstream
        self.basic_auth = basic_auth
        self.refuse: Refusal | None = None
        self.answer: Answer | None = None
        # As a registry without cross-repository mounts (ECR with BLOB_MOUNTING off): a
        # mount request starts a plain upload (202) instead.
        self.no_mount = False
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.host = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> RegistryProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
        self.refuse = None
        self.answer = None
        self.no_mount = False

    def snapshot(self) -> list[Recorded]:
        with self._lock:
            return list(self.requests)

    def blob_uploads(self) -> list[Recorded]:
        return [r for r in self.snapshot() if r.is_blob_upload]

    def bytes_uploaded(self) -> int:
        return sum(r.bytes_in for r in self.snapshot() if r.is_blob_upload)

    def _record(self, entry: Recorded) -> None:
        with self._lock:
            self.requests.append(entry)

    def _authorized(self, header: str | None) -> bool:
        if self.basic_auth is None:
            return True
        expected = base64.b64encode(":".join(self.basic_auth).encode()).decode()
        return header == f"Basic {expected}"

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _reply(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
                self.send_response(status)
                for key, value in headers:
                    if key.lower() not in _HOP_HEADERS:
                        self.send_header(key, value)
                # A HEAD answer's Content-Length is the blob's size, which clients read.
                length = dict((k.lower(), v) for k, v in headers).get("content-length")
                if self.command != "HEAD" or length is None:
                    length = str(len(body))
                self.send_header("Content-Length", length)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _forward(self) -> None:
                body = self._body()
                url = urllib.parse.urlsplit(self.path)
                status: int
                if not proxy._authorized(self.headers.get("Authorization")):
                    status = 401
                    payload = {"errors": [{"code": "UNAUTHORIZED", "message": "no basic auth"}]}
                    self._reply(
                        status,
                        [
                            ("Content-Type", "application/json"),
                            ("Www-Authenticate", 'Basic realm="local-test",service="registry"'),
                        ],
                        json.dumps(payload).encode(),
                    )
                elif proxy.answer and (answer := proxy.answer(self.command, url.path)):
                    status, headers, data = answer
                    self._reply(status, headers, data)
                elif proxy.refuse and (refusal := proxy.refuse(self.command, url.path)):
                    status, payload = refusal
                    self._reply(
                        status,
                        [("Content-Type", "application/json")],
                        json.dumps(payload).encode(),
                    )
                else:
                    conn = http.client.HTTPConnection(proxy.upstream, timeout=60)
                    try:
                        # Header by header: clients repeat Accept, which a dict would collapse.
                        target = self.path
                        if proxy.no_mount and self.command == "POST" and "mount=" in url.query:
                            target = url.path
                        conn.putrequest(self.command, target, skip_host=True)
                        for key, value in self.headers.items():
                            if key.lower() not in _HOP_HEADERS:
                                conn.putheader(key, value)
                        conn.putheader("Content-Length", str(len(body)))
                        conn.endheaders(body)
                        resp = conn.getresponse()
                        data = resp.read()
                        status = resp.status
                        self._reply(status, resp.getheaders(), data)
                    finally:
                        conn.close()
                proxy._record(Recorded(self.command, url.path, url.query, status, len(body)))

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        return Handler
