"""An OpenAI-compatible chat completions server on 127.0.0.1 with scripted behaviour.

Each request to POST /v1/chat/completions takes the next scripted behaviour (`reply`,
`error`, `delay`, `disconnect`), or, when the script is empty, the first `when()` rule
whose text occurs in the prompt, or else the default responder.

The same server speaks two more dialects over the same script, so a score's provider can
be tested through its real client: Azure OpenAI (POST
/openai/deployments/<deployment>/chat/completions?api-version=..., `api-key` header) and
Amazon Bedrock's Converse API (POST /model/<modelId>/converse, SigV4-signed, as boto3's
bedrock-runtime client sends it with `endpoint_url` pointing here). Every recorded request
says which (`protocol`: openai, azure, bedrock); Converse bodies are recorded as sent and
also offered to responders as chat messages.
Fault rates (429s, replies too slow for the client's timeout, replies outside the classes)
let a reliability test inject failures at random, seeded, instead of from a script.

    with FakeOpenAI(api_key="sk-test") as ai:
        ai.error(429, "Rate limit reached", retry_after_ms=50)
        ai.reply({"value": "Yes", "explanation": "...", "confidence": 0.9})
        client = AsyncOpenAI(base_url=ai.base_url, api_key="sk-test")
"""

from __future__ import annotations

import contextlib
import json
import math
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
from urllib.parse import unquote

# The error `type` the real API sends for each status.
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "invalid_request_error",
    404: "invalid_request_error",
    429: "requests",
    500: "server_error",
    503: "server_error",
}
# How long a 429 asks the client to wait when the script names no delay: short, so tests
# that retry stay fast.
_DEFAULT_RETRY_AFTER_MS = 20


@dataclass
class Behaviour:
    """What the server does with one request; build it with FakeOpenAI.make_* methods."""

    kind: str  # reply | error | delay | disconnect
    content: str = ""
    status: int = 200
    message: str = ""
    error_type: str = "invalid_request_error"
    code: str | None = None
    retry_after_ms: int | None = None
    seconds: float = 0.0
    then: Behaviour | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


# What a default responder may return: a behaviour, or content to reply with.
Answer = Behaviour | str | dict[str, Any]
Responder = Callable[[dict[str, Any]], Answer]


def schema_enum(body: dict[str, Any], field_name: str = "value") -> list[str]:
    """The enum a request's JSON-schema response_format declares for `field_name`, or []."""
    try:
        schema = body["response_format"]["json_schema"]["schema"]
        return [str(v) for v in schema["properties"][field_name]["enum"]]
    except (KeyError, TypeError):
        return []


def prompt_text(body: dict[str, Any]) -> str:
    """All message contents of a request, joined, for responders that pick by keyword."""
    parts: list[str] = []
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts += [p.get("text", "") for p in content if isinstance(p, dict)]
    return "\n".join(parts)


def _as_behaviour(answer: Answer) -> Behaviour:
    if isinstance(answer, Behaviour):
        return answer
    if isinstance(answer, str | dict):
        return FakeOpenAI.make_reply(answer)
    raise TypeError(f"a responder must return a Behaviour, str or dict, not {type(answer)!r}")


@dataclass
class FakeOpenAI:
    """The server. `requests` holds {"body": parsed JSON, "headers": {lower-case name: value}}
    per accepted request; `call_count` counts every request to the completions route,
    rejected or not."""

    api_key: str
    latency: float = 0.0  # added to every completions request, scripted or not
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.api_key:
            raise ValueError("FakeOpenAI needs a non-empty api_key")
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._script: deque[Behaviour] = deque()
        self._default: Responder | None = None
        self._rules: list[tuple[str, Behaviour]] = []
        self._rates = (0.0, 0.0, 0.0)
        self._rng = random.Random(0)
        self._timeout_seconds = 5.0
        self._calls = 0
        self._httpd: ThreadingHTTPServer | None = None

    # lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeOpenAI:
        if self._httpd is not None:
            raise RuntimeError("FakeOpenAI is already running")
        self._stopping.clear()
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self  # type: ignore[attr-defined]
        self._httpd = server
        threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-openai",
            daemon=True,
        ).start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping in a delay
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("FakeOpenAI is not running; call start() first")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def call_count(self) -> int:
        with self._lock:
            return self._calls

    def reset(self) -> None:
        """Forget the script, default responder, faults, latency and recorded requests."""
        with self._lock:
            self._script.clear()
            self._default = None
            self._rules.clear()
            self._rates = (0.0, 0.0, 0.0)
            self._rng = random.Random(0)
            self._timeout_seconds = 5.0
            self._calls = 0
            self.latency = 0.0
            self.requests.clear()

    # building behaviours ----------------------------------------------------------------

    @staticmethod
    def make_reply(
        content: str | dict[str, Any], prompt_tokens: int = 120, completion_tokens: int = 30
    ) -> Behaviour:
        """A 200 completion; a dict is JSON-encoded, as structured output returns it."""
        if not isinstance(content, str | dict):
            raise TypeError(f"reply content must be str or dict, not {type(content)!r}")
        if prompt_tokens < 0 or completion_tokens < 0:
            raise ValueError("token counts must not be negative")
        text = content if isinstance(content, str) else json.dumps(content)
        return Behaviour(
            "reply", content=text, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
        )

    @staticmethod
    def make_error(
        status: int,
        message: str,
        type: str | None = None,
        retry_after_ms: int | None = None,
        code: str | None = None,
    ) -> Behaviour:
        """An error in OpenAI's shape. A 429 always carries retry-after-ms and retry-after
        (as the real API's do), `retry_after_ms` or 20 ms."""
        if not 400 <= status <= 599:
            raise ValueError(f"error status must be 4xx or 5xx, got {status}")
        if retry_after_ms is not None and retry_after_ms < 0:
            raise ValueError("retry_after_ms must not be negative")
        if status == 429:
            retry_after_ms = _DEFAULT_RETRY_AFTER_MS if retry_after_ms is None else retry_after_ms
            code = code or "rate_limit_exceeded"
        return Behaviour(
            "error",
            status=status,
            message=message,
            error_type=type or _ERROR_TYPES.get(status, "api_error"),
            code=code,
            retry_after_ms=retry_after_ms,
        )

    @staticmethod
    def make_delay(seconds: float, then: Answer | None = None) -> Behaviour:
        """Wait, then do `then` (a behaviour or reply content); None asks the default
        responder."""
        if not (seconds >= 0 and math.isfinite(seconds)):
            raise ValueError(f"delay must be a finite number of seconds >= 0, got {seconds}")
        return Behaviour(
            "delay", seconds=seconds, then=None if then is None else _as_behaviour(then)
        )

    @staticmethod
    def make_disconnect() -> Behaviour:
        """Close the connection without answering."""
        return Behaviour("disconnect")

    # scripting: one queued behaviour per request --------------------------------------

    def push(self, behaviour: Behaviour) -> None:
        with self._lock:
            self._script.append(behaviour)

    def reply(
        self, content: str | dict[str, Any], prompt_tokens: int = 120, completion_tokens: int = 30
    ) -> None:
        self.push(self.make_reply(content, prompt_tokens, completion_tokens))

    def error(
        self,
        status: int,
        message: str,
        type: str | None = None,
        retry_after_ms: int | None = None,
        code: str | None = None,
    ) -> None:
        self.push(self.make_error(status, message, type, retry_after_ms, code))

    def delay(self, seconds: float, then: Answer | None = None) -> None:
        self.push(self.make_delay(seconds, then))

    def disconnect(self) -> None:
        self.push(self.make_disconnect())

    @property
    def pending(self) -> int:
        """Scripted behaviours not yet consumed."""
        with self._lock:
            return len(self._script)

    def set_default(self, responder: Responder | None) -> None:
        """What to answer once the script is empty: responder(request_json) returns a
        Behaviour, or str/dict content to reply with. None restores answer_first_class."""
        with self._lock:
            self._default = responder

    def when(
        self,
        prompt_contains: str,
        content: Answer,
        prompt_tokens: int = 120,
        completion_tokens: int = 30,
    ) -> None:
        """Answer every unscripted request whose prompt contains the text with `content`
        (a reply's text or JSON, or a Behaviour); rules are tried in the order given."""
        if not prompt_contains:
            raise ValueError("when() needs a non-empty text to look for")
        behaviour = (
            content
            if isinstance(content, Behaviour)
            else self.make_reply(content, prompt_tokens, completion_tokens)
        )
        with self._lock:
            self._rules.append((prompt_contains, behaviour))

    def set_fault_rates(
        self,
        rate_429: float = 0.0,
        rate_timeout: float = 0.0,
        rate_bad_class: float = 0.0,
        seed: int = 0,
        timeout_seconds: float = 5.0,
    ) -> None:
        """Unscripted requests fail at these rates (seeded): a 429, a reply held back
        `timeout_seconds` (longer than the client waits), or a value outside the classes."""
        rates = (rate_429, rate_timeout, rate_bad_class)
        if any(not 0.0 <= r <= 1.0 for r in rates) or sum(rates) > 1.0:
            raise ValueError(f"fault rates must each be in [0, 1] and sum to <= 1, got {rates}")
        if timeout_seconds < 0:
            raise ValueError("timeout_seconds must not be negative")
        with self._lock:
            self._rates = rates
            self._rng = random.Random(seed)
            self._timeout_seconds = timeout_seconds

    def answer_first_class(self, body: dict[str, Any]) -> Behaviour:
        """The default responder: the first class the schema declares, for any prompt."""
        classes = schema_enum(body) or ["Yes"]
        return self.make_reply({"value": classes[0], "explanation": "scripted", "confidence": 0.8})

    # serving ----------------------------------------------------------------------------

    def _fallback(self, body: dict[str, Any]) -> Behaviour:
        with self._lock:
            responder = self._default
            rules = list(self._rules)
        if rules:
            text = prompt_text(body)
            for needle, behaviour in rules:
                if needle in text:
                    return behaviour
        return _as_behaviour((responder or self.answer_first_class)(body))

    def _next(
        self,
        body: dict[str, Any],
        headers: dict[str, str],
        protocol: str = "openai",
        path: str = "",
        sent: dict[str, Any] | None = None,
    ) -> Behaviour:
        with self._lock:
            self._calls += 1
            self.requests.append(
                {
                    "body": body,
                    "headers": headers,
                    "protocol": protocol,
                    "path": path,
                    "sent": sent if sent is not None else body,
                }
            )
            if self._script:
                return self._script.popleft()
            r429, rtimeout, rbad = self._rates
            roll = self._rng.random() if any(self._rates) else 1.0
            timeout_seconds = self._timeout_seconds
        if roll < r429:
            return self.make_error(429, "Rate limit reached (injected)")
        if roll < r429 + rtimeout:
            return Behaviour("delay", seconds=timeout_seconds)
        if roll < r429 + rtimeout + rbad:
            return self.make_reply({"value": "NOT-A-CLASS", "explanation": "", "confidence": 0.5})
        return self._fallback(body)

    def _count_rejected(self) -> None:
        with self._lock:
            self._calls += 1

    def _sleep(self, seconds: float) -> bool:
        """False when the server stopped during the wait."""
        return not self._stopping.wait(seconds)

    @staticmethod
    def chat_completion(body: dict[str, Any], behaviour: Behaviour) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "gpt-4o-mini"),
            "system_fingerprint": "fp_fake",
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


def _error_body(message: str, type: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": None, "code": code}}


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # the default of 5 resets connections under concurrent load
    daemon_threads = True
    fake: FakeOpenAI


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

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
            self.send_header("x-request-id", f"req_{uuid.uuid4().hex[:16]}")
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _read_body(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        return self.rfile.read(length) if length > 0 else b""

    def _not_found(self) -> None:
        self._read_body()
        message = f"Invalid URL ({self.command} {self.path})"
        self._send(404, _error_body(message, "invalid_request_error"))

    do_GET = do_PUT = do_PATCH = do_DELETE = _not_found

    def do_POST(self) -> None:
        fake = self.server.fake
        raw = self._read_body()
        route = self.path.split("?")[0].rstrip("/")
        if route.startswith("/model/") and route.endswith("/converse"):
            return self._converse(fake, raw, unquote(route[len("/model/") : -len("/converse")]))
        azure = route.startswith("/openai/deployments/") and route.endswith("/chat/completions")
        if route != "/v1/chat/completions" and not azure:
            message = f"Invalid URL ({self.command} {self.path})"
            self._send(404, _error_body(message, "invalid_request_error"))
            return
        if azure and "api-version=" not in self.path:
            fake._count_rejected()
            self._send(
                404, _error_body("Resource not found (no api-version)", "invalid_request_error")
            )
            return
        authorized = (
            self.headers.get("api-key") == fake.api_key
            if azure
            else self.headers.get("Authorization") == f"Bearer {fake.api_key}"
        )
        if not authorized:
            fake._count_rejected()
            # Never echo the key that was sent: tests assert keys stay out of messages.
            message = "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys."
            self._send(401, _error_body(message, "invalid_request_error", "invalid_api_key"))
            return
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            fake._count_rejected()
            message = "We could not parse the JSON body of your request."
            self._send(400, _error_body(message, "invalid_request_error"))
            return
        missing = [k for k in ("model", "messages") if k not in body]
        if missing:
            fake._count_rejected()
            message = f"Missing required parameter: '{missing[0]}'."
            self._send(
                400, _error_body(message, "invalid_request_error", "missing_required_parameter")
            )
            return
        try:
            behaviour = fake._next(
                body,
                {k.lower(): v for k, v in self.headers.items()},
                "azure" if azure else "openai",
                self.path,
            )
            self._respond(fake, body, behaviour)
        except Exception as exc:  # a broken responder shows up in the test, not as a hang
            message = f"FakeOpenAI responder failed: {exc!r}"
            self._send(500, _error_body(message, "fake_openai_error"))

    def _after_delays(
        self, fake: FakeOpenAI, body: dict[str, Any], behaviour: Behaviour
    ) -> Behaviour | None:
        """Sleep the latency and any delays; None when the connection was dropped instead."""
        if fake.latency and not fake._sleep(fake.latency):
            return None
        while behaviour.kind == "delay":
            if not fake._sleep(behaviour.seconds):
                return None
            behaviour = behaviour.then or fake._fallback(body)
        return None if behaviour.kind == "disconnect" else behaviour

    def _respond(self, fake: FakeOpenAI, body: dict[str, Any], behaviour: Behaviour) -> None:
        answer = self._after_delays(fake, body, behaviour)
        if answer is None:
            return self._drop()
        behaviour = answer
        if behaviour.kind == "error":
            headers = {}
            if behaviour.retry_after_ms is not None:
                headers["retry-after-ms"] = str(behaviour.retry_after_ms)
                headers["retry-after"] = str(max(1, math.ceil(behaviour.retry_after_ms / 1000)))
            error = _error_body(behaviour.message, behaviour.error_type, behaviour.code)
            return self._send(behaviour.status, error, headers)
        self._send(200, fake.chat_completion(body, behaviour))

    def _converse(self, fake: FakeOpenAI, raw: bytes, model_id: str) -> None:
        """Bedrock's Converse: SigV4-signed JSON; the reply's text and usage in its shape."""
        if not (self.headers.get("Authorization") or "").startswith("AWS4-HMAC-SHA256 "):
            fake._count_rejected()
            return self._send_bedrock_error(403, "MissingAuthenticationTokenException", "no SigV4")
        try:
            sent = json.loads(raw)
            turns = sent["messages"]
        except (ValueError, KeyError, TypeError):
            fake._count_rejected()
            return self._send_bedrock_error(400, "ValidationException", "malformed request")
        messages = [
            {"role": "system", "content": p.get("text", "")} for p in sent.get("system") or []
        ]
        for turn in turns:
            text = "".join(p.get("text", "") for p in turn.get("content") or [])
            messages.append({"role": turn.get("role"), "content": text})
        body = {"model": model_id, "messages": messages}
        try:
            behaviour = fake._next(
                body, {k.lower(): v for k, v in self.headers.items()}, "bedrock", self.path, sent
            )
            answer = self._after_delays(fake, body, behaviour)
            if answer is None:
                return self._drop()
            behaviour = answer
            if behaviour.kind == "error":
                kind = "ThrottlingException" if behaviour.status == 429 else "ValidationException"
                return self._send_bedrock_error(behaviour.status, kind, behaviour.message)
            self._send(
                200,
                {
                    "output": {
                        "message": {"role": "assistant", "content": [{"text": behaviour.content}]}
                    },
                    "stopReason": "end_turn",
                    "usage": {
                        "inputTokens": behaviour.prompt_tokens,
                        "outputTokens": behaviour.completion_tokens,
                        "totalTokens": behaviour.prompt_tokens + behaviour.completion_tokens,
                    },
                    "metrics": {"latencyMs": 1},
                },
            )
        except Exception as exc:
            self._send(500, {"message": f"FakeOpenAI responder failed: {exc!r}"})

    def _send_bedrock_error(self, status: int, kind: str, message: str) -> None:
        self._send(status, {"message": message}, {"x-amzn-ErrorType": kind})

    def _drop(self) -> None:
        # shutdown, not close: the handler's file objects still hold the socket open.
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
