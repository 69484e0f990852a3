"""A local Plexus API: schema.graphql over HTTP on 127.0.0.1, stored in DynamoDB (moto) or,
with `store=MemoryStore()`, in memory.

It behaves as the AppSync API does where the worker can tell: `x-api-key` auth with
AppSync's 401 body, conditional writes that DynamoDB itself checks, `limit` applied before
`filter` on list queries, opaque `nextToken`s, AWSJSON as JSON strings. Tests and
benchmarks also get request counters, injected HTTP errors and latency, and seeding
helpers for the models that the schema subset cannot create.

    with start_moto_server() as moto, LocalPlexusApi(moto.endpoint_url, "key") as api:
        account_id = api.seed_account("acme")
        ...  # point the worker at api.url with x-api-key: key
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import re
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

from plexus.core.timestamps import utc_iso
from plexus.local.dynamo_tables import DynamoStore
from plexus.local.emulator import Emulator
from plexus.local.errors import UNAUTHORIZED_BODY, BadRequest, error_body
from plexus.local.graphql_api import root_fields
from plexus.local.store import Store

log = logging.getLogger(__name__)

# Far above any request the worker sends; 1 MiB is also the longest GraphQL operation
# EventBridge may send to an AppSync API. Larger bodies are refused unread.
MAX_BODY_BYTES = 1024 * 1024
_FAULT_ERROR_TYPES = {
    429: ("TooManyRequestsException", "Rate exceeded"),
    500: ("InternalFailure", "An internal failure occurred."),
    503: ("ServiceUnavailableException", "The service is unavailable. Try again later."),
}


@dataclass(frozen=True)
class _Fault:
    status: int
    retry_after: float | None


class LocalPlexusApi:
    """The local API server. `start()` creates the tables and binds a free port on
    127.0.0.1 (or `port`); `url` is then the GraphQL endpoint.

    The items live in DynamoDB at `dynamodb_endpoint_url`, or in `store` when given
    (memory_store.MemoryStore). `table_prefix` defaults to a fresh random one, because
    moto's state is shared by every moto server in the process; tables that already exist
    under the prefix are reused.
    """

    def __init__(
        self,
        dynamodb_endpoint_url: str | None,
        api_key: str,
        region: str = "us-east-1",
        table_prefix: str | None = None,
        *,
        port: int = 0,
        store: Store | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("api_key must not be empty")
        if store is None:
            if dynamodb_endpoint_url is None:
                raise ValueError("give a DynamoDB endpoint URL or a store")
            prefix = table_prefix
            if prefix is None:
                prefix = f"plexus-local-{uuid.uuid4().hex[:8]}-"
            store = DynamoStore(dynamodb_endpoint_url, region, prefix)
        self._api_key = api_key.encode()
        self._port = port
        self._store = store
        self._emulator = Emulator(store)
        self._lock = threading.Lock()
        self._requests: list[tuple[str, ...]] = []
        self._faults: deque[_Fault] = deque()
        self._latency = 0.0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    def __repr__(self) -> str:
        return f"LocalPlexusApi(url={self.url if self._httpd else None!r})"

    # --- lifecycle --------------------------------------------------------------------------

    @property
    def table_prefix(self) -> str:
        return self._store.table_prefix

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the local Plexus API is not started; call start() first")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/graphql"

    def start(self) -> Self:
        if self._httpd is not None:
            return self
        self._store.create_tables()
        httpd = _Server(("127.0.0.1", self._port), _Handler)
        httpd.api = self  # type: ignore[attr-defined]
        self._httpd = httpd
        # A short poll interval keeps stop() (and so every test fixture) quick.
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="plexus-local-api",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join()
        # Keep-alive connections outlive the listening socket; a stopped API must not answer.
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- instrumentation --------------------------------------------------------------------

    @property
    def request_count(self) -> int:
        """HTTP requests served, injected failures and 401s included."""
        with self._lock:
            return len(self._requests)

    @property
    def requests(self) -> list[tuple[str, ...]]:
        """Per request, in arrival order: the operation's root field names."""
        with self._lock:
            return list(self._requests)

    def reset_counters(self) -> None:
        with self._lock:
            self._requests.clear()

    def inject_http_errors(self, status: int, count: int, retry_after: float | None = None) -> None:
        """Answer the next `count` requests with HTTP `status` and an AppSync-like error
        body, with a Retry-After header (seconds, may be fractional) when given. Replaces
        whatever was still pending, so `count=0` clears injected errors."""
        if not 400 <= status <= 599:
            raise ValueError(f"status must be an HTTP error status (400-599), got {status}")
        if count < 0:
            raise ValueError(f"count must not be negative, got {count}")
        if retry_after is not None and retry_after < 0:
            raise ValueError(f"retry_after must not be negative, got {retry_after}")
        with self._lock:
            self._faults.clear()
            self._faults.extend(_Fault(status, retry_after) for _ in range(count))

    def set_latency(self, seconds: float) -> None:
        """Delay every request by `seconds` before answering it."""
        if seconds < 0:
            raise ValueError(f"latency must not be negative, got {seconds}")
        with self._lock:
            self._latency = seconds

    # --- seeding and reading ----------------------------------------------------------------

    def put(self, model: str, item: Mapping[str, Any]) -> str:
        """Emulator.put: one item written as a create would, without a condition."""
        self._require_started()
        return self._emulator.put(model, item)

    def put_many(self, model: str, items: list[Mapping[str, Any]]) -> list[str]:
        """`put` for many items at once (BatchWriteItem, 25 a request); returns their ids."""
        self._require_started()
        return self._emulator.put_many(model, items)

    def seed_account(self, key: str, name: str | None = None) -> str:
        return self.put("Account", {"key": key, "name": name or key})

    def seed_scorecard(self, account_id: str, key: str, name: str | None = None) -> str:
        return self.put("Scorecard", {"accountId": account_id, "key": key, "name": name or key})

    def seed_score(
        self, scorecard_id: str, name: str, configuration: str, key: str | None = None
    ) -> tuple[str, str]:
        """A Score with its champion ScoreVersion; returns (score_id, version_id)."""
        score_id, version_id = str(uuid.uuid4()), str(uuid.uuid4())
        self.put(
            "ScoreVersion",
            {
                "id": version_id,
                "scoreId": score_id,
                "configuration": configuration,
                "isFeatured": "false",
            },
        )
        self.put(
            "Score",
            {
                "id": score_id,
                "name": name,
                "key": key,
                "externalId": key or score_id,
                "order": 0,
                "type": _score_class(configuration),
                # Sections are not served here; the real schema requires the field.
                "sectionId": f"section-{scorecard_id}",
                "scorecardId": scorecard_id,
                "championVersionId": version_id,
            },
        )
        return score_id, version_id

    def add_score_version(self, score_id: str, configuration: str, champion: bool = True) -> str:
        """A new ScoreVersion of an existing Score; `champion` makes it the Score's champion."""
        if self.get("Score", score_id) is None:
            raise ValueError(f"no Score with id {score_id!r}")
        version_id = self.put(
            "ScoreVersion",
            {"scoreId": score_id, "configuration": configuration, "isFeatured": "false"},
        )
        if champion:
            self._store.update(
                "Score", score_id, {"championVersionId": version_id, "updatedAt": utc_iso()}, None
            )
        return version_id

    def seed_item(
        self,
        account_id: str,
        text: str | None = None,
        metadata: dict[str, Any] | None = None,
        external_id: str | None = None,
    ) -> str:
        return self.put(
            "Item",
            {
                "accountId": account_id,
                "text": text,
                "metadata": metadata,
                "externalId": external_id,
                "isEvaluation": False,
            },
        )

    def seed_job(
        self,
        account_id: str,
        scorecard_id: str,
        score_id: str,
        item_id: str,
        status: str = "PENDING",
        **fields: Any,
    ) -> str:
        """A ScoringJob; `fields` sets any other ScoringJob field (id, createdAt, metadata, ...)."""
        return self.put(
            "ScoringJob",
            {
                "accountId": account_id,
                "scorecardId": scorecard_id,
                "scoreId": score_id,
                "itemId": item_id,
                "status": status,
                **fields,
            },
        )

    def get(self, model: str, id: str) -> dict[str, Any] | None:
        """Emulator.get: the stored item as the API would return it, or None."""
        self._require_started()
        return self._emulator.get(model, id)

    def scan(self, model: str) -> list[dict[str, Any]]:
        """Every stored item of `model`, shaped as `get` returns it, in no particular order."""
        self._require_started()
        return self._emulator.scan(model)

    def _require_started(self) -> None:
        if self._httpd is None:
            raise RuntimeError("the local Plexus API is not started; call start() first")

    # --- HTTP -------------------------------------------------------------------------------

    def _handle(self, handler: _Handler) -> None:
        length = handler.headers.get("Content-Length", "")
        if not length.isdigit():
            handler.close_connection = True
            self._record(())
            return handler.send_json(
                HTTPStatus.LENGTH_REQUIRED,
                error_body("BadRequestException", "Content-Length is required"),
            )
        if int(length) > MAX_BODY_BYTES:
            handler.close_connection = True
            self._record(())
            return handler.send_json(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                error_body(
                    "BadRequestException", f"the request body is larger than {MAX_BODY_BYTES} bytes"
                ),
            )
        # The key before the body: an unauthenticated body is read (the client is owed a
        # clean answer) but never parsed.
        given = handler.headers.get("x-api-key", "").encode()
        authorized = hmac.compare_digest(given, self._api_key)
        raw = handler.rfile.read(int(length))
        if not authorized:
            self._record(())
            return handler.send_json(HTTPStatus.UNAUTHORIZED, UNAUTHORIZED_BODY)
        try:
            request = json.loads(raw)
        except (ValueError, RecursionError):
            request = None
        self._record(root_fields(request))
        with self._lock:
            latency = self._latency
            fault = self._faults.popleft() if self._faults else None
        if latency:
            time.sleep(latency)

        if fault is not None:
            error_type, message = _FAULT_ERROR_TYPES.get(
                fault.status, (f"Http{fault.status}Exception", f"HTTP {fault.status}")
            )
            headers = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = f"{fault.retry_after:g}"
            return handler.send_json(fault.status, error_body(error_type, message), headers)
        if handler.path.split("?", 1)[0] != "/graphql":
            return handler.send_json(
                HTTPStatus.NOT_FOUND,
                error_body(
                    "NotFoundException", f"no such path {handler.path!r}; the API is at /graphql"
                ),
            )
        if request is None:
            return handler.send_json(
                HTTPStatus.BAD_REQUEST,
                error_body("MalformedHttpRequestException", "the request body is not valid JSON"),
            )
        try:
            response = self._emulator.execute(request)
        except BadRequest as exc:
            return handler.send_json(
                HTTPStatus.BAD_REQUEST, error_body("BadRequestException", str(exc))
            )
        except Exception:
            # A bug here, not a resolver error (those become GraphQL errors): answer anyway.
            log.exception("local Plexus API failed on a %s request", root_fields(request))
            return handler.send_json(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                error_body("InternalFailure", "the local API failed; see its log"),
            )
        handler.send_json(HTTPStatus.OK, response)

    def _record(self, fields: tuple[str, ...]) -> None:
        with self._lock:
            self._requests.append(fields)


class _Server(ThreadingHTTPServer):
    # socketserver's default backlog of 5 resets connections when many workers arrive at once.
    request_queue_size = 128
    daemon_threads = True


def _score_class(configuration: str) -> str:
    """Score.type is the score's class in Plexus; read it from the YAML's `class:` line."""
    match = re.search(r"^class:\s*([A-Za-z_][\w.]*)", configuration, re.MULTILINE)
    return match[1] if match else "Score"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as clients with connection pools expect
    server_version = "PlexusLocalApi"
    timeout = 30  # seconds an idle keep-alive connection keeps its thread

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        api: LocalPlexusApi = self.server.api  # type: ignore[attr-defined]
        with api._lock:
            api._connections.add(self.connection)

    def finish(self) -> None:
        api: LocalPlexusApi = self.server.api  # type: ignore[attr-defined]
        with api._lock:
            api._connections.discard(self.connection)
        super().finish()

    def do_POST(self) -> None:
        self.server.api._handle(self)  # type: ignore[attr-defined]

    def send_json(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        payload = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        # The request line carries no secret (the key travels in a header).
        log.debug("%s " + format, self.address_string(), *args)
