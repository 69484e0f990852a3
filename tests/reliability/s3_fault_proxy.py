"""An HTTP proxy on 127.0.0.1 in front of moto's server that fails a seeded share of S3
uploads with 500 InternalError, every attempt, so that botocore's own retries cannot hide
them: those uploads fail for real, as a bucket outage would."""

from __future__ import annotations

import hashlib
import http.client
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

ERROR = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>'
    b"<Message>injected S3 fault</Message></Error>"
)


class S3FaultProxy:
    def __init__(self, upstream: str, rate: float) -> None:
        self.upstream = urlsplit(upstream)
        self.rate = rate
        self.failed_keys: set[str] = set()
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = self.path.split("?")[0]
                if self.command == "PUT" and proxy.doomed(path):
                    with proxy._lock:
                        proxy.failed_keys.add(path)
                    self.send_response(500)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(ERROR)))
                    self.end_headers()
                    self.wfile.write(ERROR)
                    return
                conn = http.client.HTTPConnection(
                    proxy.upstream.hostname, proxy.upstream.port, timeout=30
                )
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.request_queue_size = 128
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def doomed(self, path: str) -> bool:
        """The same key always fails or always passes: retries cannot get it through."""
        digest = hashlib.sha256(path.rsplit("/", 1)[0].encode()).digest()
        return int.from_bytes(digest[:4], "big") / 2**32 < self.rate

    def __enter__(self) -> S3FaultProxy:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
