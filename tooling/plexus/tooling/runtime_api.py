"""A local AWS Lambda Runtime API (2018-06-01) on 127.0.0.1, for running `awslambdaric`.

The runtime interface client long-polls `GET /runtime/invocation/next`, runs the handler and
posts `/invocation/{id}/response` or `/invocation/{id}/error`; a handler that cannot be loaded
posts `/runtime/init/error` and exits. `RuntimeApiServer.invoke` plays Lambda's side: it queues
an event, hands it to the next poll and waits for the answer.

What awslambdaric 4.x sends (checked against its C extension, built on aws-lambda-cpp): `next`
reads the request id, deadline, function ARN, trace id, client context, Cognito identity,
tenant id and invocation id headers; results and errors are POSTed with a Content-Length
(never chunked); an invocation error carries its type only in the JSON body (plus an X-Ray
cause header), while the init error, posted from Python, also sets
`Lambda-Runtime-Function-Error-Type` and expects 202 Accepted. Any non-2xx answer makes the
client raise and the runtime exit, so unknown request ids are the only thing refused.
"""

from __future__ import annotations

import json
import logging
import secrets
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API_PREFIX = "/2018-06-01/runtime"
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
# Lambda limits the init phase to 10 s; the wait for the runtime to take an event uses it.
DEFAULT_INIT_TIMEOUT = 10.0
# How often an invoke waiting on a runtime process checks that the process still lives.
_EXIT_POLL_S = 0.05


@dataclass
class InvocationResult:
    """What one invocation produced, as Lambda's Invoke would report it.

    `payload` is the handler's response body, or for an error the error document (JSON with
    errorMessage, errorType, stackTrace). `duration_s` runs from the moment the runtime took
    the event to its answer (Lambda's "Duration"); `completed_at` is `time.perf_counter()`
    when the answer arrived.
    """

    request_id: str
    ok: bool
    payload: bytes
    error_type: str | None = None
    error_message: str | None = None
    duration_s: float = 0.0
    completed_at: float = 0.0

    def json(self) -> Any:
        """The payload decoded as JSON."""
        return json.loads(self.payload)


class InvocationTimeout(TimeoutError):
    """The runtime did not answer in time. `phase` is "init" when it never took the event."""

    def __init__(self, request_id: str, timeout: float, phase: str) -> None:
        self.request_id = request_id
        self.timeout = timeout
        self.phase = phase
        if phase == "init":
            message = (
                f"Init timed out after {timeout:.2f} seconds: the runtime never asked for "
                "the next invocation"
            )
        else:
            message = f"Task timed out after {timeout:.2f} seconds"
        super().__init__(message)


@dataclass(eq=False)
class _Invocation:
    request_id: str
    event: bytes
    timeout: float
    client_context: str | None
    cognito_identity: str | None
    handed_at: float | None = None  # perf_counter when the runtime took it
    result: InvocationResult | None = field(default=None)


def _error_result(
    inv: _Invocation, body: bytes, header_type: str | None, fallback_message: str = ""
) -> InvocationResult:
    error_type, message = header_type, fallback_message
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        error_type = error_type or doc.get("errorType")
        message = doc.get("errorMessage") or message
    now = time.perf_counter()
    return InvocationResult(
        request_id=inv.request_id,
        ok=False,
        payload=body,
        error_type=error_type or "Unhandled",
        error_message=message or body.decode("utf-8", "replace"),
        duration_s=now - inv.handed_at if inv.handed_at is not None else 0.0,
        completed_at=now,
    )


def _exit_description(returncode: int) -> str:
    if returncode < 0:
        import signal

        try:
            return f"signal: {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal: {-returncode}"
    return f"exit status {returncode}"


def _trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)};Parent={secrets.token_hex(8)};Sampled=0"


class RuntimeApiServer:
    """The Lambda Runtime API on 127.0.0.1; `address` is what AWS_LAMBDA_RUNTIME_API takes."""

    def __init__(
        self,
        *,
        port: int = 0,
        function_name: str = "function",
        region: str = "us-east-1",
        account_id: str = "000000000000",
        init_timeout: float = DEFAULT_INIT_TIMEOUT,
    ) -> None:
        self.function_arn = f"arn:aws:lambda:{region}:{account_id}:function:{function_name}"
        self.init_timeout = init_timeout
        self._cond = threading.Condition()
        self._pending: deque[_Invocation] = deque()
        self._inflight: dict[str, _Invocation] = {}
        self._init_error: tuple[bytes, str | None] | None = None
        self._ready_at: float | None = None
        self._closed = False
        self._httpd = _HttpServer(("127.0.0.1", port), _Handler, self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="lambda-runtime-api",
            daemon=True,
        )
        self._thread.start()

    @property
    def address(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"{host}:{port}"

    @property
    def ready_at(self) -> float | None:
        """perf_counter when the runtime first asked for an event since the last reset."""
        return self._ready_at

    def wait_ready(self, timeout: float) -> bool:
        """Block until the runtime has asked for an event (its init is over); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._ready_at is not None, timeout)

    def reset(self) -> None:
        """Forget a previous runtime process: its init error, readiness and queued events."""
        with self._cond:
            self._init_error = None
            self._ready_at = None
            self._pending.clear()
            self._inflight.clear()

    def has_init_error(self) -> bool:
        """True when an init error arrived that no invoke has reported yet."""
        with self._cond:
            return self._init_error is not None

    def invoke(
        self,
        event: bytes,
        timeout: float,
        *,
        client_context: dict[str, Any] | None = None,
        cognito_identity: dict[str, Any] | None = None,
        exit_status: Callable[[], int | None] | None = None,
    ) -> InvocationResult:
        """Queue `event`, wait for the runtime's answer and return it.

        `timeout` counts from the moment the runtime takes the event, as Lambda's function
        timeout does; waiting for it to be taken is bounded by `init_timeout`. Either raises
        `InvocationTimeout`. An init error comes back as a failed result. `exit_status`
        (e.g. `Popen.poll`) lets a dead runtime fail the invoke at once as Runtime.ExitError.
        """
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        inv = _Invocation(
            request_id=str(uuid.uuid4()),
            event=event,
            timeout=timeout,
            client_context=json.dumps(client_context) if client_context is not None else None,
            cognito_identity=json.dumps(cognito_identity) if cognito_identity is not None else None,
        )
        queued_at = time.perf_counter()
        with self._cond:
            if self._closed:
                raise RuntimeError("the Runtime API server is closed")
            if self._init_error is not None:
                body, header_type = self._init_error
                self._init_error = None
                return _error_result(inv, body, header_type)
            self._pending.append(inv)
            self._cond.notify_all()
            while inv.result is None:
                now = time.perf_counter()
                if inv.handed_at is None:
                    remaining, limit, phase = (
                        queued_at + self.init_timeout - now,
                        self.init_timeout,
                        "init",
                    )
                else:
                    remaining, limit, phase = inv.handed_at + timeout - now, timeout, "invoke"
                if remaining <= 0:
                    self._forget(inv)
                    raise InvocationTimeout(inv.request_id, limit, phase)
                code = exit_status() if exit_status is not None else None
                if code is not None:
                    self._forget(inv)
                    message = f"RequestId: {inv.request_id} Error: Runtime exited with error: {_exit_description(code)}"
                    body = json.dumps({"errorType": "Runtime.ExitError", "errorMessage": message})
                    return _error_result(inv, body.encode(), "Runtime.ExitError")
                self._cond.wait(min(remaining, _EXIT_POLL_S) if exit_status else remaining)
            return inv.result

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> RuntimeApiServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- called from the HTTP handler threads ---

    def _forget(self, inv: _Invocation) -> None:
        if inv in self._pending:
            self._pending.remove(inv)
        self._inflight.pop(inv.request_id, None)

    def _next(self) -> _Invocation | None:
        """Long-poll: the next queued event, or None when the server closes."""
        with self._cond:
            if self._ready_at is None:
                self._ready_at = time.perf_counter()
                self._cond.notify_all()
            while not self._pending and not self._closed:
                self._cond.wait()
            if self._closed:
                return None
            inv = self._pending.popleft()
            inv.handed_at = time.perf_counter()
            self._inflight[inv.request_id] = inv
            return inv

    def _requeue(self, inv: _Invocation) -> None:
        """The runtime went away before it received the event: give it to the next poll."""
        with self._cond:
            if self._inflight.pop(inv.request_id, None) is not None and inv.result is None:
                inv.handed_at = None
                self._pending.appendleft(inv)
                self._cond.notify_all()

    def _finish(
        self, request_id: str, result_of: Callable[[_Invocation], InvocationResult]
    ) -> bool:
        with self._cond:
            inv = self._inflight.pop(request_id, None)
            if inv is None:
                return False
            inv.result = result_of(inv)
            self._cond.notify_all()
            return True

    def _post_init_error(self, body: bytes, header_type: str | None) -> None:
        with self._cond:
            waiting = list(self._pending) + list(self._inflight.values())
            self._pending.clear()
            self._inflight.clear()
            for inv in waiting:
                inv.result = _error_result(inv, body, header_type)
            if not waiting:
                self._init_error = (body, header_type)
            self._cond.notify_all()


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A runtime killed mid-request (a timeout, close()) is normal; keep it off stderr.
        logging.getLogger(__name__).debug("Runtime API connection failed", exc_info=True)

    def __init__(self, address: tuple[str, int], handler: type, api: RuntimeApiServer) -> None:
        self.api = api
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the C client reuses its connection
    server: _HttpServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle's algorithm and
        # delayed ACKs add 40 ms to every warm invoke on a kept-alive connection.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the runtime's own log is what a user wants to see

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _json(self, status: int, doc: dict[str, str]) -> None:
        self._reply(status, json.dumps(doc).encode(), {"Content-Type": "application/json"})

    def do_GET(self) -> None:
        if self.path != f"{API_PREFIX}/invocation/next":
            self._json(
                404, {"errorType": "InvalidRequest", "errorMessage": f"no route {self.path}"}
            )
            return
        api = self.server.api
        inv = api._next()
        if inv is None:
            self._json(503, {"errorType": "ServiceUnavailable", "errorMessage": "shutting down"})
            return
        deadline_ms = int(time.time() * 1000 + inv.timeout * 1000)
        headers = {
            "Content-Type": "application/json",
            "Lambda-Runtime-Aws-Request-Id": inv.request_id,
            "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": api.function_arn,
            "Lambda-Runtime-Trace-Id": _trace_id(),
        }
        if inv.client_context is not None:
            headers["Lambda-Runtime-Client-Context"] = inv.client_context
        if inv.cognito_identity is not None:
            headers["Lambda-Runtime-Cognito-Identity"] = inv.cognito_identity
        try:
            self._reply(HTTPStatus.OK, inv.event, headers)
        except OSError:
            api._requeue(inv)
            raise

    def do_POST(self) -> None:
        api = self.server.api
        body = self._body()
        path = self.path
        if path == f"{API_PREFIX}/init/error":
            api._post_init_error(body, self.headers.get(ERROR_TYPE_HEADER))
            self._json(HTTPStatus.ACCEPTED, {"status": "OK"})
            return
        prefix = f"{API_PREFIX}/invocation/"
        request_id, _, verb = path[len(prefix) :].partition("/")
        if not path.startswith(prefix) or verb not in ("response", "error"):
            self._json(404, {"errorType": "InvalidRequest", "errorMessage": f"no route {path}"})
            return

        def result_of(inv: _Invocation) -> InvocationResult:
            if verb == "error":
                return _error_result(inv, body, self.headers.get(ERROR_TYPE_HEADER))
            now = time.perf_counter()
            assert inv.handed_at is not None
            return InvocationResult(
                request_id=inv.request_id,
                ok=True,
                payload=body,
                duration_s=now - inv.handed_at,
                completed_at=now,
            )

        if api._finish(request_id, result_of):
            self._json(HTTPStatus.ACCEPTED, {"status": "OK"})
        else:
            self._json(
                HTTPStatus.BAD_REQUEST,
                {
                    "errorType": "InvalidRequestID",
                    "errorMessage": f"unknown request id {request_id}",
                },
            )
