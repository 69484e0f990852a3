"""An OpenAI-compatible chat completions server on 127.0.0.1 with scripted behaviour.

Each request takes the next scripted behaviour (`reply`, `error`, `delay`, `disconnect`),
or, when the script is empty, asks the default responder. Fault rates (429, timeouts,
replies outside the classes) let a reliability test inject failures at random, seeded.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Behaviour:
    kind: str  # reply | error | delay | disconnect
    content: str = ""
    status: int = 200
    message: str = ""
    error_type: str = "invalid_request_error"
    retry_after_ms: int | None = None
    seconds: float = 0.0
    then: Behaviour | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass
class Recorded:
    body: dict[str, Any]
    headers: dict[str, str]


def _first_enum(body: dict[str, Any]) -> list[str]:
    try:
        schema = body["response_format"]["json_schema"]["schema"]
        return list(schema["properties"]["value"]["enum"])
    except (KeyError, TypeError):
        return []


@dataclass
class FakeOpenAI:
    api_key: str
    latency: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._script: deque[Behaviour] = deque()
        self._default: Callable[[dict[str, Any]], Behaviour] | None = None
        self._rates = (0.0, 0.0, 0.0)
        self._rng = random.Random(0)
        self._timeout_seconds = 5.0
        self._httpd: ThreadingHTTPServer | None = None

    # lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeOpenAI:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self  # type: ignore[attr-defined]
        self._httpd = server
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self._default = None
            self._rates = (0.0, 0.0, 0.0)
            self.latency = 0.0
            self.requests.clear()

    # scripting --------------------------------------------------------------------------

    @staticmethod
    def make_reply(
        content: str | dict[str, Any], prompt_tokens: int = 120, completion_tokens: int = 30
    ) -> Behaviour:
        text = content if isinstance(content, str) else json.dumps(content)
        return Behaviour(
            "reply", content=text, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
        )

    @staticmethod
    def make_error(
        status: int, message: str, type: str = "error", retry_after_ms: int | None = None
    ) -> Behaviour:
        return Behaviour(
            "error", status=status, message=message, error_type=type, retry_after_ms=retry_after_ms
        )

    def _push(self, behaviour: Behaviour) -> None:
        with self._lock:
            self._script.append(behaviour)

    def reply(self, content: str | dict[str, Any], **tokens: int) -> None:
        self._push(self.make_reply(content, **tokens))

    def error(
        self, status: int, message: str, type: str = "error", retry_after_ms: int | None = None
    ) -> None:
        self._push(self.make_error(status, message, type, retry_after_ms))

    def delay(self, seconds: float, then: Behaviour | None = None) -> None:
        self._push(Behaviour("delay", seconds=seconds, then=then))

    def disconnect(self) -> None:
        self._push(Behaviour("disconnect"))

    def set_default(self, responder: Callable[[dict[str, Any]], Behaviour] | None) -> None:
        self._default = responder

    def set_fault_rates(
        self,
        rate_429: float = 0.0,
        rate_timeout: float = 0.0,
        rate_bad_class: float = 0.0,
        seed: int = 0,
        timeout_seconds: float = 5.0,
    ) -> None:
        with self._lock:
            self._rates = (rate_429, rate_timeout, rate_bad_class)
            self._rng = random.Random(seed)
            self._timeout_seconds = timeout_seconds

    def answer_first_class(self, body: dict[str, Any]) -> Behaviour:
        """A default responder: the first declared class, for any prompt."""
        classes = _first_enum(body) or ["Yes"]
        return self.make_reply({"value": classes[0], "explanation": "scripted", "confidence": 0.8})

    # serving ----------------------------------------------------------------------------

    def _next(self, body: dict[str, Any]) -> Behaviour:
        with self._lock:
            if self._script:
                return self._script.popleft()
            r429, rtimeout, rbad = self._rates
            roll = self._rng.random()
        if roll < r429:
            return self.make_error(429, "Rate limit reached (injected)", "rate_limit_exceeded", 20)
        if roll < r429 + rtimeout:
            return Behaviour(
                "delay", seconds=self._timeout_seconds, then=self.answer_first_class(body)
            )
        if roll < r429 + rtimeout + rbad:
            return self.make_reply({"value": "NOT-A-CLASS", "explanation": "", "confidence": 0.5})
        responder = self._default or self.answer_first_class
        return responder(body)

    def chat_completion(self, body: dict[str, Any], behaviour: Behaviour) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "gpt-4o-mini"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": behaviour.content, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": behaviour.prompt_tokens,
                "completion_tokens": behaviour.completion_tokens,
                "total_tokens": behaviour.prompt_tokens + behaviour.completion_tokens,
            },
        }


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # the default of 5 resets connections under concurrent load
    daemon_threads = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any

    def setup(self) -> None:
        super().setup()
        # Without it, Nagle's algorithm and delayed ACKs add ~40 ms per keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_POST(self) -> None:
        fake: FakeOpenAI = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send(
                404,
                {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}},
            )
            return
        if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
            self._send(
                401,
                {
                    "error": {
                        "message": "Incorrect API key provided.",
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                    }
                },
            )
            return
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            self._send(
                400, {"error": {"message": "invalid JSON body", "type": "invalid_request_error"}}
            )
            return
        with fake._lock:
            fake.requests.append({"body": body, "headers": dict(self.headers)})
        behaviour = fake._next(body)
        if fake.latency:
            time.sleep(fake.latency)
        while behaviour.kind == "delay":
            time.sleep(behaviour.seconds)
            behaviour = behaviour.then or fake.answer_first_class(body)
        if behaviour.kind == "disconnect":
            self.close_connection = True
            self.connection.close()
            return
        if behaviour.kind == "error":
            headers = {}
            if behaviour.retry_after_ms is not None:
                headers["retry-after-ms"] = str(behaviour.retry_after_ms)
                headers["retry-after"] = str(max(1, behaviour.retry_after_ms // 1000))
            self._send(
                behaviour.status,
                {
                    "error": {
                        "message": behaviour.message,
                        "type": behaviour.error_type,
                        "code": None,
                    }
                },
                headers,
            )
            return
        self._send(200, fake.chat_completion(body, behaviour))
