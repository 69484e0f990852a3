"""An OpenAI-compatible chat completions stand-in built for load, in a process of its own:
every completion answers the first class its JSON-schema `response_format` declares, after a
set model latency, for almost no CPU (see _lean_server.py). A request without one (a
TactusScore's ClassifyProcedure, through dspy and litellm) gets an explanation line and
"YES", which such a procedure reads as the class "Yes".

    OPENAI_API_KEY=... python bench/lean_openai.py [--latency 0.2] [--port 0]
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from typing import Any

from _lean_server import LeanServer, Request, Response, serve


class LeanOpenAI:
    def __init__(self, api_key: str) -> None:
        self.authorization = f"Bearer {api_key}"

    async def handle(self, request: Request) -> Response:
        if request.path.rstrip("/") != "/v1/chat/completions" or request.method != "POST":
            return _error(404, f"Invalid URL ({request.method} {request.path})")
        if request.headers.get("authorization") != self.authorization:
            return _error(401, "Incorrect API key provided.", "invalid_api_key")
        try:
            body = request.json()
        except ValueError:
            return _error(400, "the request body is not JSON")
        if not isinstance(body, dict) or not body.get("messages"):
            return _error(400, "the request has no messages")
        try:
            classes = body["response_format"]["json_schema"]["schema"]["properties"]["value"][
                "enum"
            ]
            content = json.dumps({"value": classes[0], "explanation": "lean", "confidence": 0.8})
        except (KeyError, TypeError):
            content = "The agent greeted the caller.\nYES"
        return Response.of_json(
            200,
            {
                "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "gpt-4o-mini"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content, "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150},
            },
        )


def _error(status: int, message: str, code: str | None = None) -> Response:
    body: dict[str, Any] = {
        "error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}
    }
    return Response.of_json(status, body)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.2, help="model latency, seconds")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    # From the environment, not argv: other users can read a process's arguments.
    serve(LeanServer(LeanOpenAI(os.environ["OPENAI_API_KEY"]).handle, args.latency), args.port)


if __name__ == "__main__":
    main()
