"""The benchmarks' Plexus API: the local API's emulator (plexus/local/emulator.py) on its
memory backend, served by the lean asyncio server of bench/_lean_server.py in a process of
its own, each answer delayed by a set latency (AppSync's, about 30 ms, by default).

The emulator is the tests' one (the same resolvers, conditions, page tokens, composite
keys and errors; tests/local_api runs its cases against both backends); only the HTTP
front end differs, because under load a thread per connection would cost more CPU than
the worker it measures. Conditional writes stay atomic: the memory backend holds one lock
an operation, and this process answers on one event loop.

Its own control path, beside the lean server's (`/_stats`, `/_reset`, `/_config`):
`/_seed`, `{model: [record, ...]}`, written as the local API's seeding writes them
(`Emulator.put`: ids and timestamps filled in when absent, fields checked against the
schema). `/_stats` adds `operations`, the requests by their root fields.

    PLEXUS_API_KEY=... python bench/lean_api.py [--latency 0.03] [--port 0]
"""

from __future__ import annotations

import argparse
import hmac
import os
from collections import Counter
from typing import Any

from _lean_server import LeanServer, Request, Response, serve

from plexus.local.emulator import Emulator
from plexus.local.errors import UNAUTHORIZED_BODY, BadRequest, error_body
from plexus.local.graphql_api import root_fields
from plexus.local.memory_store import MemoryStore


class LeanApi:
    def __init__(self, api_key: str) -> None:
        self.api_key = api_key.encode()
        self.emulator = Emulator(MemoryStore(), fast=True)
        self.operations: Counter[str] = Counter()

    def stats(self) -> dict[str, Any]:
        return {"operations": dict(self.operations)}

    def reset(self) -> None:
        self.operations.clear()

    async def handle(self, request: Request) -> Response:
        if request.path != "/graphql":
            return Response.of_json(
                404, error_body("NotFoundException", f"no such path {request.path!r}")
            )
        if not hmac.compare_digest(request.headers.get("x-api-key", "").encode(), self.api_key):
            return Response.of_json(401, UNAUTHORIZED_BODY)
        try:
            body = request.json()
        except ValueError:
            return Response.of_json(
                400, error_body("MalformedHttpRequestException", "the body is not valid JSON")
            )
        self.operations[" + ".join(root_fields(body))] += 1
        try:
            return Response.of_json(200, self.emulator.execute(body))
        except BadRequest as exc:
            return Response.of_json(400, error_body("BadRequestException", str(exc)))

    def seed(self, request: Request) -> Response:
        count = 0
        for model, records in (request.json() or {}).items():
            count += len(self.emulator.put_many(model, records))
        return Response.of_json(200, {"seeded": count})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.03, help="seconds per answer")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    # From the environment, not argv: other users can read a process's arguments.
    api = LeanApi(os.environ["PLEXUS_API_KEY"])
    server = LeanServer(api.handle, args.latency)
    server.extra_stats = api.stats
    server.reset_hook = api.reset
    server.control_paths["/_seed"] = api.seed
    serve(server, args.port)


if __name__ == "__main__":
    main()
