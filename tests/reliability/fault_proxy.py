"""A forwarding HTTP proxy on 127.0.0.1 that injects faults into a real client's traffic,
down to the TCP connection.

A `decide(method, path, body)` callback chooses, per request, what the proxy does with it:

- FORWARD: pass it upstream and return the answer;
- `Refuse(status, body)`: answer it with an error itself (429, 503: not forwarded);
- `LateError(status, body)`: forward it (a write lands), then answer an error (a gateway
  timeout after the fact);
- HOLD: keep it unanswered until the proxy is released, then drop it (as when the client's
  process dies mid-call); never forwarded: a write from a killed process must not land late;
- RESET: read it, then reset the connection (TCP RST); not forwarded;
- CLOSE: read it, then close the connection without an answer (the server closed it before
  acting on the request); not forwarded;
- LOSE_ANSWER: forward it (a write lands), then close the connection without the answer;
- STALL: forward it, then hold the answer past the client's read timeout, then close;
- `Down(seconds)`: close every connection and stop listening for that long, so the client's
  next connections are refused (a restarting server); not forwarded.

`keepalive_answers=N` ends each connection after N answers, as load balancers end
keep-alive: the next request on it is read and met with a closed connection.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import re
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Refuse:
    status: int
    body: bytes
    content_type: str = "application/xml"


@dataclass(frozen=True)
class LateError:
    """Forward, then answer `status` instead of upstream's answer."""

    status: int
    body: bytes = b'{"message": "gateway timeout"}'
    content_type: str = "application/json"


@dataclass(frozen=True)
class Down:
    seconds: float


FORWARD = "forward"
HOLD = "hold"
RESET = "reset"
CLOSE = "close"
LOSE_ANSWER = "lose_answer"
STALL = "stall"
Action = str | Refuse | LateError | Down
Decide = Callable[[str, str, bytes], Action]
# Hop-by-hop and length headers, and the two BaseHTTPRequestHandler writes itself (sent
# twice, aiohttp's parser refuses the answer: "Duplicate 'Server' header found").
_DROP = {"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"}


class _Dropped(Exception):
    """The proxy ended this connection on purpose."""


class FaultProxy:
    def __init__(
        self,
        upstream: str,
        decide: Decide,
        *,
        stall_seconds: float = 2.0,
        keepalive_answers: int | None = None,
    ) -> None:
        self.upstream = urlsplit(upstream)
        self.decide = decide
        self.stall_seconds = stall_seconds
        self.keepalive_answers = keepalive_answers
        self.held = 0
        self.connections = 0  # accepted
        self.keepalive_ends = 0
        self._released = threading.Event()
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._up = threading.Event()
        # A bound, never-listening socket holds the port while the proxy is down, so that
        # no other process takes it in between (SO_REUSEPORT lets the listener share it).
        self._placeholder = socket.socket()
        self._placeholder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._placeholder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        self._placeholder.bind(("127.0.0.1", 0))
        self.port = self._placeholder.getsockname()[1]
        self._listener = self._listen(self.port)
        self.url = f"http://127.0.0.1:{self.port}"
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            answers = 0

            def log_message(self, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def handle(self) -> None:
                # A killed client resets its connections; that is the point, not an error.
                with contextlib.suppress(ConnectionError, TimeoutError, OSError, _Dropped):
                    super().handle()

            def _serve(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                limit = proxy.keepalive_answers
                if limit is not None and self.answers >= limit:
                    with proxy._lock:
                        proxy.keepalive_ends += 1
                    self._drop(reset=False)
                action = proxy.decide(self.command, self.path, body)
                if action == HOLD:
                    proxy._hold()
                    self._drop(reset=False)
                if action == RESET:
                    self._drop(reset=True)
                if action == CLOSE:
                    self._drop(reset=False)
                if isinstance(action, Down):
                    proxy.go_down(action.seconds)
                    self._drop(reset=False)
                if isinstance(action, Refuse):
                    self._reply(action.status, [("Content-Type", action.content_type)], action.body)
                    return
                status, headers, data = proxy._forward(self.command, self.path, self.headers, body)
                if action == LOSE_ANSWER:
                    self._drop(reset=False)
                if action == STALL:
                    time.sleep(proxy.stall_seconds)
                    self._drop(reset=False)
                if isinstance(action, LateError):
                    headers, data = [("Content-Type", action.content_type)], action.body
                    status = action.status
                self._reply(status, headers, data)

            def _drop(self, *, reset: bool) -> None:
                if reset:  # linger 0: close() sends RST, not FIN
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                self.close_connection = True
                self.connection.close()
                raise _Dropped

            def _reply(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
                self.send_response(status)
                for key, value in headers:
                    if key.lower() not in _DROP:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                self.answers += 1

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _serve

        self._handler = Handler

    def _listen(self, port: int) -> socket.socket:
        listener = socket.create_server(("127.0.0.1", port), backlog=128, reuse_port=True)
        listener.settimeout(0.02)
        self._up.set()
        return listener

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            if not self._up.is_set():
                self._up.wait(0.02)
                continue
            try:
                conn, address = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            conn.settimeout(None)
            with self._lock:
                self.connections += 1
                self._open.add(conn)
            threading.Thread(target=self._serve, args=(conn, address), daemon=True).start()

    def _serve(self, conn: socket.socket, address: Any) -> None:
        try:
            self._handler(conn, address, self)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(conn)
            with contextlib.suppress(OSError):
                conn.close()

    def go_down(self, seconds: float) -> None:
        """Stop listening (connections are refused) and end every open connection; listen
        again on the same port after `seconds`."""
        with self._lock:
            self._up.clear()
            self._listener.close()
            for conn in list(self._open):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)

        def back_up() -> None:
            if not self._stopped.wait(seconds):
                self._listener = self._listen(self.port)

        threading.Thread(target=back_up, daemon=True).start()

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
        threading.Thread(target=self._accept_loop, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self._stopped.set()
        self._up.set()
        with self._lock:
            self._listener.close()
            self._placeholder.close()
            for conn in list(self._open):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)


_RESULT_KEY = re.compile(r"/scoreresults/([^/]+)/")
S3_ERROR = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>'
    b"<Message>injected S3 fault</Message></Error>"
)


@dataclass
class S3UploadFaults:
    """Fails the uploads of a seeded share of score results with 500 InternalError.

    The choice is by score result id, so the same upload fails on every attempt: the
    upload's own retries of 5xx cannot get it through, nor can a later claim of the job; it
    fails for real, as in an outage of the bucket.
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
