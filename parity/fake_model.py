"""One OpenAI-compatible model server on 127.0.0.1 for both engines, scripted per case.

A case's engine is pointed at `<base>/c/<case id>/v1`; each request under that prefix takes
the case's next scripted reply and is recorded (path and JSON body) in arrival order, so the
real engine's requests and this project's can be compared one by one. It answers chat
completions (`/chat/completions`) and the Responses API (`/responses`, which langchain-openai
uses for gpt-5 and o-series models). A case whose script has run out gets HTTP 500 with a
HTTP 400 saying so (a status no client retries, so both engines fail the same way after the
same requests), never an invented answer.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

# Usage the server reports when a reply names none: fixed, so tokens and cost are comparable.
DEFAULT_PROMPT_TOKENS = 100
DEFAULT_COMPLETION_TOKENS = 10


@dataclass
class Reply:
    content: str
    prompt_tokens: int = DEFAULT_PROMPT_TOKENS
    completion_tokens: int = DEFAULT_COMPLETION_TOKENS

    @classmethod
    def of(cls, value: str | dict[str, Any]) -> Reply:
        if isinstance(value, str):
            return cls(value)
        return cls(
            str(value["content"]),
            int(value.get("prompt_tokens", DEFAULT_PROMPT_TOKENS)),
            int(value.get("completion_tokens", DEFAULT_COMPLETION_TOKENS)),
        )


@dataclass
class Script:
    replies: list[Reply]
    requests: list[dict[str, Any]] = field(default_factory=list)


class FakeModel:
    """`with FakeModel() as server: server.script("case", ["Yes"]); ...; server.requests("case")`"""

    def __init__(self) -> None:
        self._scripts: dict[str, Script] = {}
        self._current = ""
        self._lock = threading.Lock()
        handler = _handler(self)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def base_url(self, case: str) -> str:
        return f"{self.base}/c/{case}/v1"

    def script(self, case: str, replies: list[str | dict[str, Any]]) -> None:
        with self._lock:
            self._scripts[case] = Script([Reply.of(r) for r in replies])

    # Requests under `<base>/c/current/v1` go to the case set here: one client (and one
    # connection) can then serve many cases run one after another.
    CURRENT = "current"

    def select(self, case: str) -> None:
        with self._lock:
            self._current = case

    def requests(self, case: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._scripts[case].requests) if case in self._scripts else []

    def take(self, case: str, path: str, body: Any) -> Reply | None:
        with self._lock:
            if case == self.CURRENT:
                case = self._current
            script = self._scripts.setdefault(case, Script([]))
            script.requests.append({"path": path, "body": body})
            return script.replies.pop(0) if script.replies else None

    def __enter__(self) -> FakeModel:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _chat(reply: Reply, model: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.content},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
    }


def _response(reply: Reply, model: str) -> dict[str, Any]:
    return {
        "id": f"resp_{uuid.uuid4().hex[:12]}",
        "object": "response",
        "created_at": 1_700_000_000,
        "model": model,
        "status": "completed",
        "output": [
            {
                "type": "message",
                "id": f"msg_{uuid.uuid4().hex[:12]}",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": reply.content, "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": reply.prompt_tokens,
            "output_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        },
    }


def _bedrock_invoke(reply: Reply, model: str) -> dict[str, Any]:
    """Bedrock InvokeModel for an Anthropic model: the Messages API's answer."""
    return {
        "id": f"msg_bdrk_{uuid.uuid4().hex[:12]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": reply.content}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": reply.prompt_tokens, "output_tokens": reply.completion_tokens},
    }


def _bedrock_converse(reply: Reply) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": reply.content}]}},
        "stopReason": "end_turn",
        "usage": {
            "inputTokens": reply.prompt_tokens,
            "outputTokens": reply.completion_tokens,
            "totalTokens": reply.prompt_tokens + reply.completion_tokens,
        },
        "metrics": {"latencyMs": 1},
    }


def _handler(owner: FakeModel) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body leave in two writes; without this, Nagle's algorithm and the
        # client's delayed ACK hold each reply back ~40 ms.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(
            self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
        ) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {"unparsed": raw.decode(errors="replace")}
            parts = self.path.split("?")[0].split("/")
            # /c/<case>/v1/<endpoint...>
            if len(parts) < 5 or parts[1] != "c":
                self._send(404, {"error": {"message": f"no such path {self.path}"}})
                return
            case, endpoint = parts[2], "/" + "/".join(parts[4:])
            reply = owner.take(case, endpoint, body)
            if reply is None:
                message = f"case {case}: no scripted reply left"
                self._send(400, {"error": {"message": message, "type": "invalid_request_error"}})
                return
            model = str(body.get("model") or "unknown") if isinstance(body, dict) else "unknown"
            if endpoint.startswith("/model/") and endpoint.endswith("/invoke"):
                # Bedrock also gives the token counts as headers (what LangChain reads).
                counts = {
                    "x-amzn-bedrock-input-token-count": str(reply.prompt_tokens),
                    "x-amzn-bedrock-output-token-count": str(reply.completion_tokens),
                }
                self._send(200, _bedrock_invoke(reply, unquote(endpoint.split("/")[2])), counts)
            elif endpoint.startswith("/model/") and endpoint.endswith("/converse"):
                self._send(200, _bedrock_converse(reply))
            elif endpoint.endswith("/responses"):
                self._send(200, _response(reply, model))
            else:
                self._send(200, _chat(reply, model))

    return Handler
