"""A moto server on loopback that stands in for AWS in tests and in `plexus-lambda dev`.

moto is a dev-only dependency (the Lambda image does not ship it), so it is imported only
when a server is started; importing this module never needs it.

moto keeps its state in process-global backends: every moto server started in one process
sees the same resources, and a `moto.mock_aws()` context in the same process resets them.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import threading
import time
from types import TracebackType
from typing import Any, Self

# Dummy values: moto accepts any credentials, and these can never reach a real account.
DUMMY_ACCESS_KEY_ID = "testing"
DUMMY_SECRET_ACCESS_KEY = "testing"
DEFAULT_REGION = "us-east-1"


class MotoServer:
    """A running moto server; stop it with `stop()` or by leaving its `with` block."""

    def __init__(self, server: Any, host: str, port: int) -> None:
        self._server = server
        self._stop_lock = threading.Lock()
        self._stopped = False
        self.host = host
        self.port = port

    @property
    def pid(self) -> int | None:
        """The server's own process (start_moto_process), or None for a thread of this one."""
        return getattr(self._server, "pid", None)

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def env(self, region: str = DEFAULT_REGION) -> dict[str, str]:
        """Environment that points boto3/botocore (and the AWS CLI) at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": DUMMY_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET_ACCESS_KEY,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
        }

    def client(self, service: str, region: str = DEFAULT_REGION) -> Any:
        """A boto3 client for `service` on this server."""
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=region,
            aws_access_key_id=DUMMY_ACCESS_KEY_ID,
            aws_secret_access_key=DUMMY_SECRET_ACCESS_KEY,
        )

    def stop(self) -> None:
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
        self._server.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_moto_server(host: str = "127.0.0.1", port: int = 0) -> MotoServer:
    """Start moto's server in a thread of this process; port 0 lets the OS pick a free port."""
    if port:
        _check_port_free(host, port)
    # werkzeug logs every request at INFO to stderr unless told otherwise; one line per AWS
    # call drowns test and `dev` output. Leave a level someone configured alone.
    werkzeug_logger = logging.getLogger("werkzeug")
    if werkzeug_logger.level == logging.NOTSET:
        werkzeug_logger.setLevel(logging.WARNING)
    server = _make_server(host, port)
    thread = threading.Thread(target=server.serve_forever, name="moto", daemon=True)
    thread.start()
    bound_host, bound_port = server.server_address[:2]
    return MotoServer(_MotoThread(server, thread), str(bound_host), bound_port)


def _make_server(host: str, port: int) -> Any:
    """moto's app behind werkzeug, as `moto.server` serves it, with one `Server` header."""
    try:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "moto is not installed; it is a dev dependency (run `uv sync --group dev`)"
        ) from exc

    class OneServerHeader(MotoRequestHandler):
        """werkzeug sends its own `Server` before the app's headers, and moto's error
        answers carry `server: amazon.com` too; S3 sends one, and aiohttp (the attachments'
        client) refuses an answer with two."""

        def send_header(self, keyword: str, value: str) -> None:
            if keyword.lower() == "server" and value == self.version_string():
                return
            super().send_header(keyword, value)

    app = DomainDispatcherApplication(create_backend_app)
    return make_server(host, port, app, threaded=True, request_handler=OneServerHeader)


class _MotoThread:
    def __init__(self, server: Any, thread: threading.Thread) -> None:
        self._server, self._thread = server, thread

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join()


def _check_port_free(host: str, port: int) -> None:
    # ThreadedMotoServer.start() waits forever when its thread cannot bind; fail fast instead.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise RuntimeError(f"cannot start moto on {host}:{port}: {exc.strerror}") from exc


class _MotoProcess:
    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self._proc = proc
        self.pid = proc.pid

    def stop(self) -> None:
        self._proc.terminate()
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


def start_moto_process(host: str = "127.0.0.1", startup_timeout: float = 30.0) -> MotoServer:
    """Start moto's server in a process of its own.

    Its state is then its own: a `mock_aws()` elsewhere in this process cannot wipe it, and
    its request handling does not compete with this process for the GIL.
    """
    with socket.socket() as probe:
        probe.bind((host, 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "plexus.local.aws", host, str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + startup_timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"moto's server exited with status {proc.returncode} at start")
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"moto's server did not listen on {host}:{port}") from None
            time.sleep(0.05)
    return MotoServer(_MotoProcess(proc), host, port)


if __name__ == "__main__":  # start_moto_process's server: python -m plexus.local.aws HOST PORT
    _make_server(sys.argv[1], int(sys.argv[2])).serve_forever()
