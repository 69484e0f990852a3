"""`plexus-lambda invoke`: the local Runtime API and real awslambdaric processes against it.

Handler folders are written to a temporary directory. A warm echo process is shared by the
tests that do not kill it; each awslambdaric start costs a fraction of a second.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from plexus.tooling import cli, invoke
from plexus.tooling.invoke import LocalFunction, parse_rie_response, rie_command
from plexus.tooling.runtime_api import InvocationTimeout, RuntimeApiServer

ECHO_HANDLER = """
import os, sys, time

CALLS = 0


def handler(event, context):
    global CALLS
    CALLS += 1
    if "sleep" in event:
        time.sleep(event["sleep"])
    if "raise" in event:
        raise ValueError(event["raise"])
    if "exit" in event:
        sys.stdout.flush()
        os._exit(event["exit"])
    print("handled", context.aws_request_id)
    cc = context.client_context
    return {
        "event": event,
        "calls": CALLS,
        "pid": os.getpid(),
        "cwd": os.getcwd(),
        "request_id": context.aws_request_id,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "function_name": context.function_name,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "function_version": context.function_version,
        "log_group_name": context.log_group_name,
        "invoked_function_arn": context.invoked_function_arn,
        "custom": getattr(cc, "custom", None),
        "cognito_identity_id": context.identity.cognito_identity_id,
        "trace_id": os.environ.get("_X_AMZN_TRACE_ID"),
        "env": {k: os.environ.get(k) for k in (
            "LAMBDA_TASK_ROOT", "_HANDLER", "AWS_REGION", "AWS_LAMBDA_RUNTIME_API",
            "AWS_LAMBDA_LOG_STREAM_NAME", "EXTRA", "PYTHONPATH",
        )},
    }
"""


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("handlers")
    sources = {
        "echo_fn": ECHO_HANDLER,
        "broken_fn": "import module_that_is_not_there  # fails at import\n",
        "crash_fn": "raise RuntimeError('config missing at import')\n",
    }
    out = {}
    for name, source in sources.items():
        (root / name).mkdir()
        (root / name / "handler.py").write_text(textwrap.dedent(source))
        out[name] = root / name
    return out


@pytest.fixture(scope="module")
def log_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs") / "runtime.log"


@pytest.fixture(scope="module")
def warm(folders: dict[str, Path], log_path: Path) -> Iterator[LocalFunction]:
    with (
        log_path.open("wb") as log,
        LocalFunction(
            folders["echo_fn"], env={"EXTRA": "yes"}, region="eu-west-1", output=log
        ) as fn,
    ):
        yield fn


# --- a warm awslambdaric process ---


def test_echo_round_trip_and_context(warm: LocalFunction, folders: dict[str, Path]) -> None:
    result = warm.invoke({"hello": "world", "n": [1, 2]}, timeout=30)
    assert result.ok, result.error_message
    body = result.json()
    assert body["event"] == {"hello": "world", "n": [1, 2]}
    assert body["request_id"] == result.request_id
    assert 25_000 < body["remaining_ms"] <= 30_000
    assert body["function_name"] == "echo-fn"
    assert body["memory_limit_in_mb"] == "128"
    assert body["function_version"] == "$LATEST"
    assert body["log_group_name"] == "/aws/lambda/echo-fn"
    assert body["invoked_function_arn"].startswith("arn:aws:lambda:eu-west-1:")
    assert body["invoked_function_arn"].endswith(":function:echo-fn")
    assert body["trace_id"].startswith("Root=1-")
    folder = str(folders["echo_fn"].resolve())
    assert body["cwd"] == folder
    env = body["env"]
    assert env["LAMBDA_TASK_ROOT"] == folder
    assert env["PYTHONPATH"].split(os.pathsep)[0] == folder
    assert env["_HANDLER"] == "handler.handler"
    assert env["AWS_REGION"] == "eu-west-1"
    assert env["AWS_LAMBDA_RUNTIME_API"] == warm.server.address
    assert env["AWS_LAMBDA_RUNTIME_API"].startswith("127.0.0.1:")
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"].count("[$LATEST]") == 1
    assert env["EXTRA"] == "yes"
    assert 0 < result.duration_s < 5
    assert warm.started_at is not None and warm.ready_at is not None
    assert warm.started_at < warm.ready_at < result.completed_at


def test_raw_bytes_event_passes_untouched(warm: LocalFunction) -> None:
    result = warm.invoke(b'{"raw": true}', timeout=30)
    assert result.ok and result.json()["event"] == {"raw": True}


def test_two_invokes_share_one_warm_process(warm: LocalFunction) -> None:
    first = warm.invoke({}, timeout=30).json()
    second = warm.invoke({}, timeout=30).json()
    assert second["pid"] == first["pid"] == warm.process.pid
    assert second["calls"] == first["calls"] + 1  # module state survived: the same interpreter
    assert second["request_id"] != first["request_id"]
    assert warm.cold_starts == 1


def test_handler_error_is_reported_and_process_keeps_serving(
    warm: LocalFunction, log_path: Path
) -> None:
    pid = warm.invoke({}, timeout=30).json()["pid"]
    failed = warm.invoke({"raise": "bad input 42"}, timeout=30)
    assert not failed.ok
    assert failed.error_type == "ValueError"
    assert failed.error_message == "bad input 42"
    doc = failed.json()
    assert doc["requestId"] == failed.request_id
    assert any("raise ValueError" in line for line in doc["stackTrace"])
    after = warm.invoke({"again": 1}, timeout=30)
    assert after.ok and after.json()["pid"] == pid
    assert "[ERROR] ValueError: bad input 42" in log_path.read_text()


def test_client_context_and_cognito_identity_reach_the_handler(warm: LocalFunction) -> None:
    result = warm.invoke(
        {},
        timeout=30,
        client_context={"custom": {"tenant": "t1"}, "env": {}, "client": {}},
        cognito_identity={"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"},
    )
    body = result.json()
    assert body["custom"] == {"tenant": "t1"}
    assert body["cognito_identity_id"] == "id-1"


# --- processes that fail or get killed ---


def test_import_failure_is_an_init_error(folders: dict[str, Path]) -> None:
    with LocalFunction(folders["broken_fn"], output=subprocess.DEVNULL) as fn:
        result = fn.invoke({}, timeout=30)
        assert not result.ok
        assert result.error_type == "Runtime.ImportModuleError"
        assert "Unable to import module 'handler'" in result.error_message
        assert "module_that_is_not_there" in result.error_message
        assert fn.process.wait(timeout=10) == 1  # awslambdaric exits after an init error


def test_exception_at_import_is_an_init_error_even_before_the_first_invoke(
    folders: dict[str, Path],
) -> None:
    with LocalFunction(folders["crash_fn"], output=subprocess.DEVNULL) as fn:
        fn.process.wait(timeout=10)  # init failed and exited before anything was invoked
        result = fn.invoke({}, timeout=30)
        assert (result.ok, result.error_type) == (False, "RuntimeError")
        assert result.error_message == "config missing at import"
        assert fn.cold_starts == 1  # the pending init error was reported, not a restart


def test_timeout_kills_the_process_and_the_next_invoke_starts_a_new_one(
    folders: dict[str, Path],
) -> None:
    with LocalFunction(folders["echo_fn"], output=subprocess.DEVNULL) as fn:
        first_pid = fn.process.pid
        began = time.monotonic()
        result = fn.invoke({"sleep": 60}, timeout=0.5)
        assert time.monotonic() - began < 10
        assert not result.ok
        assert result.error_type == "Sandbox.Timedout"
        assert result.error_message == "Task timed out after 0.50 seconds"
        assert fn.process.poll() is not None  # killed, as Lambda does

        again = fn.invoke({"fresh": True}, timeout=30)
        assert again.ok, again.error_message
        assert again.json()["pid"] != first_pid
        assert again.json()["calls"] == 1  # a cold start: module state is new
        assert fn.cold_starts == 2


def test_runtime_exit_is_reported_as_exit_error(folders: dict[str, Path]) -> None:
    with LocalFunction(folders["echo_fn"], output=subprocess.DEVNULL) as fn:
        result = fn.invoke({"exit": 3}, timeout=30)
        assert (result.ok, result.error_type) == (False, "Runtime.ExitError")
        assert "Runtime exited with error: exit status 3" in result.error_message


def test_wait_ready_measures_init(folders: dict[str, Path]) -> None:
    with LocalFunction(folders["echo_fn"], output=subprocess.DEVNULL) as fn:
        init_s = fn.wait_ready(timeout=30)
        assert 0 < init_s < 30
        result = fn.invoke({}, timeout=30)
        assert result.completed_at - fn.started_at > init_s


def test_close_stops_the_process(folders: dict[str, Path]) -> None:
    fn = LocalFunction(folders["echo_fn"], output=subprocess.DEVNULL).start()
    assert fn.invoke({}, timeout=30).ok
    fn.close()
    assert fn.process.poll() is not None


# --- the Runtime API protocol, driven by hand ---


class _Invoker(threading.Thread):
    def __init__(self, server: RuntimeApiServer, event: bytes, timeout: float) -> None:
        super().__init__(daemon=True)
        self.server, self.event, self.timeout = server, event, timeout
        self.result = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.server.invoke(self.event, self.timeout)
        except BaseException as exc:
            self.error = exc


def _request(
    server: RuntimeApiServer,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(server.address, timeout=10)
    conn.request(method, path, body, headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, dict(resp.getheaders()), data


def test_protocol_next_headers_and_response() -> None:
    with RuntimeApiServer(function_name="f", region="eu-central-1") as server:
        invoker = _Invoker(server, b'{"k": 1}', timeout=60)
        invoker.start()
        status, headers, body = _request(server, "GET", "/2018-06-01/runtime/invocation/next")
        assert status == 200 and body == b'{"k": 1}'
        request_id = headers["Lambda-Runtime-Aws-Request-Id"]
        deadline = int(headers["Lambda-Runtime-Deadline-Ms"])
        assert 55_000 < deadline - time.time() * 1000 <= 60_000
        assert headers["Lambda-Runtime-Invoked-Function-Arn"].startswith(
            "arn:aws:lambda:eu-central-1:"
        )
        assert headers["Lambda-Runtime-Trace-Id"].startswith("Root=1-")
        assert "Lambda-Runtime-Client-Context" not in headers

        status, _, _ = _request(
            server, "POST", f"/2018-06-01/runtime/invocation/{request_id}/response", b'"done"'
        )
        assert status == 202
        invoker.join(10)
        assert invoker.result.ok and invoker.result.payload == b'"done"'
        assert invoker.result.request_id == request_id

        # A second answer for the same request, or any unknown id, is refused.
        status, _, _ = _request(
            server, "POST", f"/2018-06-01/runtime/invocation/{request_id}/response", b"{}"
        )
        assert status == 400


def test_protocol_error_type_header_wins_over_body() -> None:
    with RuntimeApiServer() as server:
        invoker = _Invoker(server, b"{}", timeout=60)
        invoker.start()
        _, headers, _ = _request(server, "GET", "/2018-06-01/runtime/invocation/next")
        request_id = headers["Lambda-Runtime-Aws-Request-Id"]
        error = {"errorMessage": "nope", "errorType": "BodyType", "stackTrace": []}
        status, _, _ = _request(
            server,
            "POST",
            f"/2018-06-01/runtime/invocation/{request_id}/error",
            json.dumps(error).encode(),
            {"Lambda-Runtime-Function-Error-Type": "HeaderType"},
        )
        assert status == 202
        invoker.join(10)
        assert (invoker.result.ok, invoker.result.error_type) == (False, "HeaderType")
        assert invoker.result.error_message == "nope"


def test_protocol_init_error_before_invoke_is_reported_once() -> None:
    with RuntimeApiServer() as server:
        error = {"errorMessage": "broken", "errorType": "Runtime.HandlerNotFound"}
        status, _, _ = _request(
            server, "POST", "/2018-06-01/runtime/init/error", json.dumps(error).encode()
        )
        assert status == 202
        assert server.has_init_error()
        result = server.invoke(b"{}", timeout=5)
        assert (result.ok, result.error_type, result.error_message) == (
            False,
            "Runtime.HandlerNotFound",
            "broken",
        )
        assert not server.has_init_error()


def test_protocol_timeouts_name_the_phase() -> None:
    with RuntimeApiServer(init_timeout=0.2) as server:
        with pytest.raises(InvocationTimeout, match=r"Init timed out after 0\.20 seconds"):
            server.invoke(b"{}", timeout=5)
        invoker = _Invoker(server, b"{}", timeout=0.3)
        invoker.start()
        status, _, _ = _request(server, "GET", "/2018-06-01/runtime/invocation/next")
        assert status == 200
        invoker.join(10)
        assert isinstance(invoker.error, InvocationTimeout)
        assert str(invoker.error) == "Task timed out after 0.30 seconds"
        assert invoker.error.phase == "invoke"


def test_protocol_unknown_route_is_404() -> None:
    with RuntimeApiServer() as server:
        assert _request(server, "GET", "/2018-06-01/runtime/nothing")[0] == 404


# --- the command line ---


def _cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "plexus.tooling.cli", "invoke", *args],
        input=stdin,
        capture_output=True,
        timeout=120,
        check=False,
    )


def test_cli_event_file_and_env(folders: dict[str, Path], tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text('{"from": "file"}')
    done = _cli(str(folders["echo_fn"]), "--event", str(event), "--env", "EXTRA=a=b")
    assert done.returncode == 0, done.stderr.decode()
    body = json.loads(done.stdout)  # stdout holds the payload alone; logs went to stderr
    assert body["event"] == {"from": "file"}
    assert body["env"]["EXTRA"] == "a=b"
    assert b"handled " + body["request_id"].encode() in done.stderr


def test_cli_event_from_stdin(folders: dict[str, Path]) -> None:
    done = _cli(str(folders["echo_fn"]), stdin=b'{"from": "stdin"}')
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout)["event"] == {"from": "stdin"}


def test_cli_error_response_exits_1_with_type_and_message(folders: dict[str, Path]) -> None:
    done = _cli(str(folders["echo_fn"]), "--event", "-", stdin=b'{"raise": "boom"}')
    assert done.returncode == 1
    assert done.stdout == b""
    assert b"ValueError: boom" in done.stderr.splitlines()[-1]


def test_cli_timeout(folders: dict[str, Path]) -> None:
    done = _cli(str(folders["echo_fn"]), "--timeout", "0.5", stdin=b'{"sleep": 60}')
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == b"Sandbox.Timedout: Task timed out after 0.50 seconds"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{folder}", "--event", "{bad}"], "is not valid JSON"),
        (["{folder}", "--event", "{missing}"], "cannot read event file"),
        (["{missing}", "--event", "{good}"], "does not exist or is not a directory"),
        (["{folder}", "--event", "{good}", "--env", "NOEQUALS"], "must look like KEY=VALUE"),
        (
            ["{folder}", "--event", "{good}", "--handler", "handler"],
            "must look like module.function",
        ),
        (["{folder}", "--event", "{good}", "--timeout", "0"], "--timeout must be positive"),
    ],
)
def test_cli_bad_input_is_named(
    args: list[str],
    message: str,
    folders: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "good.json").write_text("{}")
    names = {
        "folder": str(folders["echo_fn"]),
        "bad": str(tmp_path / "bad.json"),
        "good": str(tmp_path / "good.json"),
        "missing": str(tmp_path / "missing"),
    }
    assert cli.main(["invoke", *(a.format(**names) for a in args)]) == 2
    assert message in capsys.readouterr().err


# --- aws-lambda-rie ---


def test_rie_missing_is_a_clear_error(
    folders: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory
    (tmp_path / "e.json").write_text("{}")
    code = cli.main(
        ["invoke", str(folders["echo_fn"]), "--rie", "--event", str(tmp_path / "e.json")]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "aws-lambda-rie" in err and "not there" in err


def test_rie_command_puts_its_flags_before_the_bootstrap() -> None:
    cmd = rie_command("/bin/rie", "/py/python3", "handler.handler", "127.0.0.1:1", "127.0.0.1:2")
    assert cmd == [
        "/bin/rie",
        "--runtime-interface-emulator-address",
        "127.0.0.1:1",
        "--runtime-api-address",
        "127.0.0.1:2",
        "/py/python3",
        "-m",
        "awslambdaric",
        "handler.handler",  # the RIE takes the last argument as the handler
    ]


def test_rie_responses_are_read_like_lambda_reports_them() -> None:
    ok = parse_rie_response(200, {}, b'{"statusCode": 200}')
    assert ok.ok and ok.payload == b'{"statusCode": 200}'
    error_doc = (
        b'{"errorMessage": "boom", "errorType": "ValueError", "requestId": "r", "stackTrace": []}'
    )
    failed = parse_rie_response(200, {}, error_doc)
    assert (failed.ok, failed.error_type, failed.error_message) == (False, "ValueError", "boom")
    timed_out = parse_rie_response(200, {}, b"Task timed out after 3.00 seconds")
    assert (timed_out.ok, timed_out.error_type) == (False, "Sandbox.Timedout")
    init = parse_rie_response(
        502, {}, b'{"errorMessage": "x", "errorType": "Runtime.ImportModuleError"}'
    )
    assert (init.ok, init.error_type) == (False, "Runtime.ImportModuleError")
    flagged = parse_rie_response(200, {"X-Amz-Function-Error": "Unhandled"}, b"{}")
    assert (flagged.ok, flagged.error_type) == (False, "Unhandled")


# A stand-in for aws-lambda-rie: it parses the flags as the real one does (its own options,
# then the bootstrap command, handler last), runs the bootstrap against a Runtime API on the
# given address and serves the invoke path. It checks our side of the contract, not the RIE.
FAKE_RIE = """
import http.server, json, os, subprocess, sys
sys.path[:0] = {paths!r}
from plexus.tooling.runtime_api import RuntimeApiServer

args = sys.argv[1:]
opts = {{}}
while args and args[0].startswith("--"):
    opts[args[0]] = args[1]
    args = args[2:]
rie_host, rie_port = opts["--runtime-interface-emulator-address"].rsplit(":", 1)
_, api_port = opts["--runtime-api-address"].rsplit(":", 1)
api = RuntimeApiServer(port=int(api_port))
env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=api.address, SEEN_HANDLER=args[-1])
runtime = subprocess.Popen(args, env=env)
timeout = float(os.environ["AWS_LAMBDA_FUNCTION_TIMEOUT"])

class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        assert self.path == "/2015-03-31/functions/function/invocations", self.path
        event = self.rfile.read(int(self.headers["Content-Length"]))
        result = api.invoke(event, timeout)
        self.send_response(200)
        self.send_header("Content-Length", str(len(result.payload)))
        self.end_headers()
        self.wfile.write(result.payload)

try:
    http.server.HTTPServer((rie_host, int(rie_port)), H).serve_forever()
finally:
    runtime.kill()
"""


def test_rie_path_end_to_end_with_a_stand_in(
    folders: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "aws-lambda-rie"
    paths = [p for p in sys.path if p]
    fake.write_text(f"#!{sys.executable}\n" + FAKE_RIE.format(paths=paths))
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    result = invoke.invoke_with_rie(
        folders["echo_fn"], "handler.handler", b'{"via": "rie"}', 30, output=subprocess.DEVNULL
    )
    assert result.ok, result.payload
    body = result.json()
    assert body["event"] == {"via": "rie"}
    assert body["cwd"] == str(folders["echo_fn"].resolve())
    failed = invoke.invoke_with_rie(
        folders["echo_fn"], "handler.handler", b'{"raise": "x"}', 30, output=subprocess.DEVNULL
    )
    assert (failed.ok, failed.error_type, failed.error_message) == (False, "ValueError", "x")


def test_cli_event_dash_reads_stdin(folders: dict[str, Path]) -> None:
    done = _cli(str(folders["echo_fn"]), "--event", "-", stdin=b'{"from": "dash"}')
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout)["event"] == {"from": "dash"}


@pytest.mark.parametrize("dash", [True, False])
def test_cli_bad_event_on_stdin_is_named(folders: dict[str, Path], dash: bool) -> None:
    args = [str(folders["echo_fn"]), *(["--event", "-"] if dash else [])]
    done = _cli(*args, stdin=b"{not json")
    assert done.returncode == 2 and done.stdout == b""
    assert b"the event from stdin is not valid JSON" in done.stderr
