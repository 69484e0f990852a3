"""`plexus-lambda invoke`: run a handler folder under the real awslambdaric, without Docker.

The function image runs `python -m awslambdaric handler.handler` in /var/task (the handler
folder) against Lambda's Runtime API. `LocalFunction` does the same on this machine: the
folder is the working directory and on PYTHONPATH, Lambda's environment variables are set,
and `RuntimeApiServer` on 127.0.0.1 plays Lambda. The process stays warm across invokes; a
timeout kills it, as Lambda does, and the next invoke starts a fresh one (a cold start).

`--rie` runs the same command under `aws-lambda-rie` instead, for parity with the image's
usual local test.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from plexus.tooling.naming import image_name
from plexus.tooling.runtime_api import (
    DEFAULT_INIT_TIMEOUT,
    InvocationResult,
    InvocationTimeout,
    RuntimeApiServer,
)

DEFAULT_HANDLER = "handler.handler"
DEFAULT_TIMEOUT = 900.0  # Lambda's maximum
TIMEOUT_ERROR_TYPE = "Sandbox.Timedout"  # what Lambda reports for a timed-out invoke
_STOP_GRACE_S = 2.0

Output = IO[Any] | int | None


class InvokeError(Exception):
    """Bad input or a missing tool; the message says which."""


def default_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def check_handler(handler: str) -> str:
    module, _, function = handler.rpartition(".")
    if not module or not function:
        raise InvokeError(
            f"handler {handler!r} must look like module.function, e.g. handler.handler"
        )
    return handler


def lambda_environment(
    folder: Path,
    handler: str,
    *,
    function_name: str,
    memory_mb: int,
    region: str,
    env: Mapping[str, str] | None = None,
    inherit_env: bool = True,
) -> dict[str, str]:
    """The environment Lambda gives a container-image function, plus `env` on top.

    The parent's environment is inherited by default (PATH, AWS profile, API keys), which
    a local run usually wants; `inherit_env=False` keeps only PATH, HOME and LANG.
    """
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    base = dict(os.environ) if inherit_env else {k: os.environ[k] for k in keep if k in os.environ}
    today = datetime.datetime.now(datetime.UTC)
    base.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"{today:%Y/%m/%d}/[$LATEST]{secrets.token_hex(16)}",
            "LAMBDA_TASK_ROOT": str(folder),
            "_HANDLER": handler,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
        }
    )
    base.update(env or {})
    # The image puts /var/task (the folder) on PYTHONPATH; keep whatever else was there.
    python_path = [str(folder)] + [p for p in base.get("PYTHONPATH", "").split(os.pathsep) if p]
    base["PYTHONPATH"] = os.pathsep.join(python_path)
    return base


def _encode_event(event: Any) -> bytes:
    """bytes pass through untouched; anything else is encoded as JSON."""
    return event if isinstance(event, bytes) else json.dumps(event).encode()


def _stop_process_group(proc: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the runtime's process group (it was started in its own session), then SIGKILL."""
    if proc.poll() is not None:
        return
    steps = [(signal.SIGTERM, grace)] if grace > 0 else []
    for sig, wait_s in [*steps, (signal.SIGKILL, 10.0)]:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def _sink_args(output: Output) -> dict[str, Any]:
    # The runtime logs to stdout; by default both streams go to our stderr, so that the
    # CLI's stdout carries only the response payload.
    if output is None:
        return {"stdout": 2, "stderr": 2}
    return {"stdout": output, "stderr": subprocess.STDOUT}


class LocalFunction:
    """A handler folder running under awslambdaric, invoked through a local Runtime API.

    Use as a context manager (or `start()` ... `close()`); `invoke` may be called many times
    on the warm process. `output` takes the runtime's stdout and stderr: a file object with a
    fileno, a file descriptor or `subprocess.DEVNULL`; by default they go to our stderr.
    `started_at` is `time.perf_counter()` at the latest process start, `ready_at` when that
    process first asked for an event (its init was over), and each result's `completed_at`
    when its answer arrived, so `result.completed_at - fn.started_at` is start-to-response.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        handler: str = DEFAULT_HANDLER,
        *,
        env: Mapping[str, str] | None = None,
        function_name: str | None = None,
        memory_mb: int = 128,
        region: str | None = None,
        output: Output = None,
        python: str = sys.executable,
        init_timeout: float = DEFAULT_INIT_TIMEOUT,
        inherit_env: bool = True,
    ) -> None:
        self.folder = Path(folder).resolve()
        if not self.folder.is_dir():
            raise InvokeError(f"handler folder {self.folder} does not exist or is not a directory")
        self.handler = check_handler(handler)
        self.function_name = function_name or image_name(self.folder.name)
        self.region = region or default_region()
        self._env = dict(env or {})
        self._memory_mb = memory_mb
        self._output = output
        self._python = python
        self._inherit_env = inherit_env
        self.server = RuntimeApiServer(
            function_name=self.function_name, region=self.region, init_timeout=init_timeout
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at: float | None = None
        self.cold_starts = 0
        self._lock = threading.Lock()

    @property
    def ready_at(self) -> float | None:
        return self.server.ready_at

    def command(self) -> list[str]:
        return [self._python, "-m", "awslambdaric", self.handler]

    def environment(self) -> dict[str, str]:
        env = lambda_environment(
            self.folder,
            self.handler,
            function_name=self.function_name,
            memory_mb=self._memory_mb,
            region=self.region,
            env=self._env,
            inherit_env=self._inherit_env,
        )
        env["AWS_LAMBDA_RUNTIME_API"] = self.server.address
        return env

    def start(self) -> LocalFunction:
        """Start (or restart) the runtime process: a cold start."""
        if self.process is not None:
            _stop_process_group(self.process, _STOP_GRACE_S)
        self.server.reset()
        self.started_at = time.perf_counter()
        self.process = subprocess.Popen(
            self.command(),
            cwd=self.folder,
            env=self.environment(),
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # so that stopping it also stops anything it spawned
            **_sink_args(self._output),
        )
        self.cold_starts += 1
        return self

    def wait_ready(self, timeout: float = DEFAULT_INIT_TIMEOUT) -> float:
        """Wait until the runtime asks for its first event; returns the init time in seconds."""
        if self.process is None:
            self.start()
        assert self.started_at is not None
        if not self.server.wait_ready(timeout):
            raise InvocationTimeout("", timeout, "init")
        assert self.server.ready_at is not None
        return self.server.ready_at - self.started_at

    def invoke(
        self,
        event: Any = b"{}",
        timeout: float = DEFAULT_TIMEOUT,
        *,
        client_context: dict[str, Any] | None = None,
        cognito_identity: dict[str, Any] | None = None,
    ) -> InvocationResult:
        """Invoke once and return the result; errors and timeouts come back as ok=False.

        `event` is sent as is when it is bytes, and JSON-encoded otherwise. A timeout kills
        the process and reports Sandbox.Timedout "Task timed out after N seconds"; a runtime
        that has exited is started again first, unless its init error is still unreported.
        """
        with self._lock:
            if self.process is None or (
                self.process.poll() is not None and not self.server.has_init_error()
            ):
                self.start()
            proc = self.process
            assert proc is not None
            try:
                return self.server.invoke(
                    _encode_event(event),
                    timeout,
                    client_context=client_context,
                    cognito_identity=cognito_identity,
                    exit_status=proc.poll,
                )
            except InvocationTimeout as exc:
                _stop_process_group(proc, grace=0)
                now = time.perf_counter()
                body = {"errorType": TIMEOUT_ERROR_TYPE, "errorMessage": str(exc)}
                return InvocationResult(
                    request_id=exc.request_id,
                    ok=False,
                    payload=json.dumps(body).encode(),
                    error_type=TIMEOUT_ERROR_TYPE,
                    error_message=str(exc),
                    duration_s=exc.timeout,
                    completed_at=now,
                )

    def close(self) -> None:
        if self.process is not None:
            _stop_process_group(self.process, _STOP_GRACE_S)
        self.server.close()

    def __enter__(self) -> LocalFunction:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- aws-lambda-rie ---

RIE_BINARY = "aws-lambda-rie"
RIE_INVOKE_PATH = "/2015-03-31/functions/function/invocations"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rie_command(
    rie: str, python: str, handler: str, rie_address: str, runtime_api_address: str
) -> list[str]:
    """The RIE's own flags come first; the rest is the bootstrap it runs (last arg = handler)."""
    return [
        rie,
        "--runtime-interface-emulator-address",
        rie_address,
        "--runtime-api-address",
        runtime_api_address,
        python,
        "-m",
        "awslambdaric",
        handler,
    ]


def parse_rie_response(status: int, headers: Mapping[str, str], body: bytes) -> InvocationResult:
    """Read the RIE's answer. Its standalone handler drops X-Amz-Function-Error, so a function
    error is recognised by its body: the runtime's error document, or the timeout text."""
    now = time.perf_counter()
    error_type: str | None = None
    message = ""
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    is_error_doc = (
        isinstance(doc, dict)
        and {"errorType", "errorMessage"} <= doc.keys()
        and doc.keys() <= {"errorType", "errorMessage", "requestId", "stackTrace"}
    )
    function_error = {k.lower(): v for k, v in headers.items()}.get("x-amz-function-error")
    if function_error or status >= 300 or is_error_doc:
        if isinstance(doc, dict):
            error_type = doc.get("errorType")
            message = doc.get("errorMessage") or ""
        error_type = error_type or function_error or f"HTTP {status}"
        message = message or body.decode("utf-8", "replace")
    elif body.startswith(b"Task timed out after"):
        error_type, message = TIMEOUT_ERROR_TYPE, body.decode("utf-8", "replace")
    if error_type is None:
        return InvocationResult(request_id="", ok=True, payload=body, completed_at=now)
    return InvocationResult(
        request_id="",
        ok=False,
        payload=body,
        error_type=error_type,
        error_message=message,
        completed_at=now,
    )


def _wait_listening(address: str, proc: subprocess.Popen[bytes], limit: float) -> None:
    host, port = address.rsplit(":", 1)
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise InvokeError(f"{RIE_BINARY} exited with status {proc.returncode} before listening")
        try:
            socket.create_connection((host, int(port)), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise InvokeError(f"{RIE_BINARY} did not listen on {address} within {limit:.0f} seconds")


def invoke_with_rie(
    folder: str | os.PathLike[str],
    handler: str,
    event: bytes,
    timeout: float,
    *,
    env: Mapping[str, str] | None = None,
    output: Output = None,
    python: str = sys.executable,
) -> InvocationResult:
    """Start `aws-lambda-rie` on free 127.0.0.1 ports, POST one event, stop it."""
    rie = shutil.which(RIE_BINARY)
    if rie is None:
        raise InvokeError(
            f"--rie needs {RIE_BINARY} on PATH and it is not there "
            "(`nix develop` provides it); drop --rie to use the built-in Runtime API"
        )
    root = Path(folder).resolve()
    if not root.is_dir():
        raise InvokeError(f"handler folder {root} does not exist or is not a directory")
    rie_address = f"127.0.0.1:{free_port()}"
    runtime_address = f"127.0.0.1:{free_port()}"
    function_name = image_name(root.name)
    child_env = lambda_environment(
        root,
        check_handler(handler),
        function_name=function_name,
        memory_mb=128,
        region=default_region(),
        env=env,
    )
    child_env.pop("AWS_LAMBDA_RUNTIME_API", None)  # the RIE sets it for its child
    child_env["AWS_LAMBDA_FUNCTION_TIMEOUT"] = str(max(1, math.ceil(timeout)))
    proc = subprocess.Popen(
        rie_command(rie, python, handler, rie_address, runtime_address),
        cwd=root,
        env=child_env,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        **_sink_args(output),
    )
    try:
        _wait_listening(rie_address, proc, DEFAULT_INIT_TIMEOUT)
        request = urllib.request.Request(
            f"http://{rie_address}{RIE_INVOKE_PATH}",
            data=event,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        # The RIE runs init on the first invoke and enforces the timeout itself.
        limit = timeout + DEFAULT_INIT_TIMEOUT + 5
        try:
            with urllib.request.urlopen(request, timeout=limit) as response:
                return parse_rie_response(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as exc:
            return parse_rie_response(exc.code, dict(exc.headers), exc.read())
        except (TimeoutError, urllib.error.URLError) as exc:
            raise InvokeError(f"{RIE_BINARY} did not answer at {rie_address}: {exc}") from exc
    finally:
        _stop_process_group(proc, _STOP_GRACE_S)


# --- command line ---


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "folder", metavar="FOLDER", help="the handler folder (/var/task in the image)"
    )
    parser.add_argument(
        "--handler", default=DEFAULT_HANDLER, help=f"module.function (default {DEFAULT_HANDLER})"
    )
    parser.add_argument(
        "--event",
        metavar="FILE",
        help="JSON event file, or - for stdin (default: stdin when piped, else {})",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"function timeout (default {DEFAULT_TIMEOUT:.0f})",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment variable for the function (repeatable)",
    )
    parser.add_argument(
        "--rie", action="store_true", help=f"run under {RIE_BINARY} (must be on PATH) instead"
    )


def read_event(source: str | None, stdin: IO[bytes] | None = None) -> bytes:
    """The event bytes from a file, '-' (stdin) or, with neither, piped stdin or `{}`."""
    if source is None or source == "-":
        stdin = stdin if stdin is not None else sys.stdin.buffer
    if source == "-":
        data = stdin.read()
    elif source is not None:
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise InvokeError(f"cannot read event file {source}: {exc.strerror}") from exc
    elif stdin.isatty():
        return b"{}"
    else:
        data = stdin.read() or b"{}"
    where = "stdin" if source in (None, "-") else source
    try:
        json.loads(data)
    except ValueError as exc:
        raise InvokeError(f"the event from {where} is not valid JSON: {exc}") from exc
    return data


def parse_env(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvokeError(f"--env {pair!r} must look like KEY=VALUE")
        env[key] = value
    return env


def run(args: argparse.Namespace) -> int:
    try:
        if args.timeout <= 0:
            raise InvokeError(f"--timeout must be positive, got {args.timeout}")
        check_handler(args.handler)
        env = parse_env(args.env)
        event = read_event(args.event)
        if args.rie:
            result = invoke_with_rie(args.folder, args.handler, event, args.timeout, env=env)
        else:
            with LocalFunction(args.folder, args.handler, env=env) as fn:
                result = fn.invoke(event, args.timeout)
    except InvokeError as exc:
        print(f"plexus-lambda invoke: {exc}", file=sys.stderr)
        return 2
    if not result.ok:
        print(f"{result.error_type}: {result.error_message}", file=sys.stderr)
        return 1
    out = sys.stdout.buffer
    out.write(result.payload if result.payload.endswith(b"\n") else result.payload + b"\n")
    out.flush()
    return 0
