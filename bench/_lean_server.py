"""The core of the benchmark's lean stand-ins (Plexus API, OpenAI, S3): an asyncio HTTP/1.1
server in a process of its own, and the parent's handle on that process.

Why not the test servers (`http.server`, a thread per connection): under load their
per-request CPU is the figure, not the worker's. One event loop answers every connection;
each answer waits its latency with `asyncio.sleep`, so a hundred requests can wait at once
for the cost of a timer each. The parser reads what the worker's three clients send (httpx
for gql and openai, urllib3 for botocore): HTTP/1.1 with keep-alive, Content-Length or
chunked bodies, `Expect: 100-continue`; anything else closes the connection.

A stand-in's paths under `/_` are its control channel, answered at once and not counted:
`/_stats` (requests, peak in flight, connections accepted, the process's CPU seconds, the stand-in's own figures),
`/_reset` (counters back to zero), `/_config` (`{"latency": seconds}`), and its own
(the API's `/_seed`). The process serves
until its stdin closes, so it never outlives the benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_BODY = 10 * 1024 * 1024
REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    411: "Length Required",
    413: "Payload Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
}


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    query: str = ""  # as sent, undecoded

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of_json(cls, status: int, value: Any, **headers: str) -> Response:
        return cls(status, json.dumps(value, separators=(",", ":")).encode(), headers=headers)


# What a stand-in does with one request (not a control request). It returns the answer;
# the server delays it by the latency.
Handler = Callable[[Request], Awaitable[Response]]


class LeanServer:
    def __init__(self, handler: Handler, latency: float = 0.0) -> None:
        self.handler = handler
        self.latency = latency
        self.requests = 0
        self.in_flight = 0
        self.peak = 0
        self.connections = 0  # accepted: a client that keeps its connections opens few
        self.extra_stats: Callable[[], dict[str, Any]] = dict
        self.reset_hook: Callable[[], None] = lambda: None
        # A stand-in's own control paths, e.g. the API's /_seed.
        self.control_paths: dict[str, Callable[[Request], Response]] = {}

    # --- control -----------------------------------------------------------------------

    def _control(self, request: Request) -> Response:
        if request.path == "/_stats":
            return Response.of_json(
                200,
                {
                    "requests": self.requests,
                    "peak_in_flight": self.peak,
                    "connections": self.connections,
                    "cpu_seconds": time.process_time(),
                    **self.extra_stats(),
                },
            )
        if request.path == "/_reset":
            self.requests = self.peak = self.connections = 0
            self.reset_hook()
            return Response.of_json(200, {})
        if request.path == "/_config":
            config = request.json() or {}
            if "latency" in config:
                self.latency = float(config["latency"])
            return Response.of_json(200, {"latency": self.latency})
        if request.path in self.control_paths:
            return self.control_paths[request.path](request)
        return Response.of_json(404, {"error": f"no control path {request.path}"})

    async def _answer(self, request: Request) -> Response:
        if request.path.startswith("/_"):
            return self._control(request)
        self.requests += 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            response = await self.handler(request)
            if self.latency:
                await asyncio.sleep(self.latency)
            return response
        finally:
            self.in_flight -= 1

    # --- HTTP/1.1 ----------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        sock = writer.get_extra_info("socket")
        if sock is not None:
            # Headers and body are one write here, but the client's may be two: no Nagle.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                request = await _read_request(reader, writer)
                if request is None:
                    return
                try:
                    response = await self._answer(request)
                except Exception as exc:  # a stand-in's bug shows up in the benchmark
                    print(f"lean server: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
                    response = Response.of_json(500, {"error": f"{type(exc).__name__}: {exc}"})
                close = request.headers.get("connection", "").lower() == "close"
                writer.write(_head(response, close) + response.body)
                await writer.drain()
                if close:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return
        except asyncio.CancelledError:
            return  # the server is stopping; an idle keep-alive connection ends here
        finally:
            with contextlib.suppress(Exception):
                writer.close()


async def _read_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None  # the client closed a keep-alive connection
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if headers.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = await _read_chunked(reader)
    else:
        length = int(headers.get("content-length") or 0)
        if length > MAX_BODY:
            raise ConnectionError(f"body of {length} bytes")
        body = await reader.readexactly(length) if length else b""
    path, _, query = target.partition("?")
    return Request(method, path, headers, body, query)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass  # trailers
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


def _head(response: Response, close: bool) -> bytes:
    lines = [
        f"HTTP/1.1 {response.status} {REASONS.get(response.status, 'Status')}",
        f"Content-Type: {response.content_type}",
        f"Content-Length: {len(response.body)}",
        *(f"{k}: {v}" for k, v in response.headers.items()),
    ]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def serve(server: LeanServer, port: int = 0) -> None:
    """Run `server` on 127.0.0.1 until stdin closes; print `listening <port>` once bound."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        # A large backlog: 64 workers' connections arrive at once.
        listener = await asyncio.start_server(server._connection, "127.0.0.1", port, backlog=512)
        print(f"listening {listener.sockets[0].getsockname()[1]}", flush=True)
        threading.Thread(
            target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(stop.set)), daemon=True
        ).start()
        async with listener:
            await stop.wait()

    asyncio.run(main())


# --- the parent's side ------------------------------------------------------------------


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class StandIn:
    """A stand-in script (`bench/lean_*.py`) running in its own process."""

    def __init__(self, script: str, *args: str, env: dict[str, str] | None = None) -> None:
        self.name = Path(script).stem
        self._proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name(script)), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,  # keys go in the environment, never in argv
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "listening":
            self.stop()
            raise RuntimeError(f"{script} did not start (exit status {self._proc.returncode})")
        self.port = int(line[1])
        self.url = f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self._proc.pid

    def control(self, path: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method="POST" if data is not None else "GET"
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def stats(self) -> dict[str, Any]:
        return self.control("/_stats")

    def reset(self) -> None:
        self.control("/_reset", {})

    def set_latency(self, seconds: float) -> None:
        self.control("/_config", {"latency": seconds})

    def stop(self) -> None:
        if self._proc.stdin is not None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def __enter__(self) -> StandIn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
