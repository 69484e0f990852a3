"""An HTTPS content server on 127.0.0.1 whose certificate a test CA (trustme) signed,
plus a second server with a self-signed certificate that nothing trusts."""

from __future__ import annotations

import ssl
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import trustme


@dataclass
class _Entry:
    body: bytes
    content_type: str
    delay: float
    status: int


class _Handler(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        entry = self.server.entries.get(self.path.split("?")[0])
        if entry is None:
            entry = _Entry(b"not found", "text/plain", 0.0, 404)
        if entry.delay:
            time.sleep(entry.delay)
        try:
            self.send_response(entry.status)
            self.send_header("Content-Type", entry.content_type)
            self.send_header("Content-Length", str(len(entry.body)))
            self.end_headers()
            self.wfile.write(entry.body)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass


def _serve(context: ssl.SSLContext, entries: dict[str, _Entry]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.entries = entries  # type: ignore[attr-defined]
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    return server


class HttpsContentServer:
    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="plexus-https-")
        self.entries: dict[str, _Entry] = {}
        self._servers: list[ThreadingHTTPServer] = []

    def start(self) -> HttpsContentServer:
        ca = trustme.CA()
        self.ca_pem_path = str(Path(self._dir.name) / "ca.pem")
        ca.cert_pem.write_to_path(self.ca_pem_path)
        trusted = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(trusted)
        # Signed by a CA of its own that the client is never told about.
        untrusted = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        trustme.CA().issue_cert("127.0.0.1", "localhost").configure_cert(untrusted)
        self._servers = [_serve(trusted, self.entries), _serve(untrusted, self.entries)]
        return self

    def add(
        self,
        path: str,
        body: bytes,
        content_type: str = "text/plain; charset=utf-8",
        delay: float = 0.0,
        status: int = 200,
    ) -> None:
        self.entries[path] = _Entry(body, content_type, delay, status)

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self._servers[0].server_address[1]}{path}"

    def untrusted_url(self, path: str) -> str:
        return f"https://127.0.0.1:{self._servers[1].server_address[1]}{path}"

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._dir.cleanup()

    def __enter__(self) -> HttpsContentServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
