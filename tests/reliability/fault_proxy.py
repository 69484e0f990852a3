"""A forwarding HTTP proxy on 127.0.0.1 that injects faults into a real client's traffic.

A `decide(method, path, body)` callback chooses, per request, to forward it upstream, to
answer it with an error itself, or to hold it unanswered until the proxy is released (the
client sees a request that never returns, as when its process dies mid-call). Held requests
are dropped on release, never forwarded: a write from a killed process must not land late.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Refuse:
    status: int
    body: bytes
    content_type: str = "application/xml"


FORWARD = "forward"
HOLD = "hold"
Action = str | Refuse
Decide = Callable[[str, str, bytes], Action]
# Hop-by-hop headers, and the length we set ourselves.
_DROP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class FaultProxy:
    def __init__(self, upstream: str, decide: Decide) -> None:
        self.upstream = urlsplit(upstream)
        self.decide = decide
        self.held = 0
        self._released = threading.Event()
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def handle(self) -> None:
                # A killed client resets its connections; that is the point, not an error.
                with contextlib.suppress(ConnectionError, TimeoutError):
                    super().handle()

            def _serve(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                action = proxy.decide(self.command, self.path, body)
                if action == HOLD:
                    proxy._hold()
                    self.close_connection = True
                    return
                if isinstance(action, Refuse):
                    self._reply(action.status, [("Content-Type", action.content_type)], action.body)
                    return
                status, headers, data = proxy._forward(self.command, self.path, self.headers, body)
                self._reply(status, headers, data)

            def _reply(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
                self.send_response(status)
                for key, value in headers:
                    if key.lower() not in _DROP:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _serve

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 128

        self._server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def _forward(
        self, method: str, path: str, headers: Any, body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=30)
        try:
            conn.request(
                method,
                path,
                body=body,
                headers={k: v for k, v in headers.items() if k.lower() not in _DROP},
            )
            response = conn.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            conn.close()

    def _hold(self) -> None:
        with self._lock:
            self.held += 1
        self._released.wait(timeout=120)

    def release(self) -> None:
        """Let held requests go (dropped, not forwarded)."""
        self._released.set()

    def __enter__(self) -> FaultProxy:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()


_RESULT_KEY = re.compile(r"/scoreresults/([^/]+)/")
S3_ERROR = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>'
    b"<Message>injected S3 fault</Message></Error>"
)


@dataclass
class S3UploadFaults:
    """Fails the uploads of a seeded share of score results with 500 InternalError.

    The choice is by score result id, so the same upload fails on every attempt: botocore's
    own retries of 5xx cannot get it through, nor can a later claim of the job; it fails for
    real, as in an outage of the bucket.
    """

    rate: float
    refused_puts: int = 0
    refused_results: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def doomed(self, result_id: str) -> bool:
        digest = hashlib.sha256(result_id.encode()).digest()
        return int.from_bytes(digest[:4], "big") / 2**32 < self.rate

    def __call__(self, method: str, path: str, body: bytes) -> Action:
        match = _RESULT_KEY.search(path.split("?")[0])
        if method == "PUT" and match and self.doomed(match.group(1)):
            with self._lock:
                self.refused_puts += 1
                self.refused_results.add(match.group(1))
            return Refuse(500, S3_ERROR)
        return FORWARD


@dataclass
class HoldCompletions:
    """Holds the `first`..`first+count-1`th updateScoringJob that marks a job COMPLETED:
    that worker has stored its result and attachments but never finishes the job."""

    first: int
    count: int
    seen: int = 0
    held_jobs: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def __call__(self, method: str, path: str, body: bytes) -> Action:
        try:
            request = json.loads(body or b"{}")
            fields = request["variables"]["input"]
        except (ValueError, KeyError, TypeError):
            return FORWARD
        if "updateScoringJob" not in request.get("query", "") or not isinstance(fields, dict):
            return FORWARD
        if fields.get("status") != "COMPLETED":
            return FORWARD
        with self._lock:
            self.seen += 1
            if self.first <= self.seen < self.first + self.count:
                self.held_jobs.append(fields["id"])
                return HOLD
        return FORWARD
