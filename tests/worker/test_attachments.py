"""The S3 attachments (plexus/clients/attachments.py): boto3 signs each PUT, aiohttp sends it
on the event loop. Against moto's S3 on 127.0.0.1, with tests/reliability/fault_proxy.py in
between for the faults: boto3's standard-mode retries, the errors' wording, and no signed
URL (signature, session token) in an error or a log line."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from aiohttp import web

from plexus.clients.attachments import PUT_ATTEMPTS, AttachmentStore
from plexus.core.errors import AttachmentError, ServiceUnavailable
from tests.conftest import BUCKET, REGION
from tests.reliability.fault_proxy import CLOSE, FORWARD, RESET, Action, FaultProxy, Refuse
from tests.support.recording_proxy import recording_proxy

TOKEN = "session-token-that-must-stay-secret"
SLOW_DOWN = (
    b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
)
INTERNAL = (
    b"<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>"
)


@pytest.fixture
def aws(use_aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    # Lambda's credentials carry a session token, which a presigned URL carries too.
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    return use_aws_env


@pytest.fixture
def through(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Points S3 at a fault proxy in front of moto; `through(decide)` starts it."""
    with ExitStack() as stack:

        def start(decide: Any) -> FaultProxy:
            proxy = stack.enter_context(FaultProxy(aws["AWS_ENDPOINT_URL"], decide))
            monkeypatch.setenv("AWS_ENDPOINT_URL_S3", proxy.url)
            return proxy

        yield start


def upload(store: AttachmentStore, result_id: str, attempt: int = 1) -> list[str]:
    async def go() -> list[str]:
        try:
            return await store.upload(result_id, {"value": "Yes"}, "line one\n", attempt)
        finally:
            await store.close()

    return asyncio.run(go())


def store(bucket: str = BUCKET) -> AttachmentStore:
    return AttachmentStore(REGION, bucket, retry_base_seconds=0.01)


def test_both_files_are_stored_with_their_types_and_keys(aws: dict[str, str], s3: Any) -> None:
    keys = upload(store(), "result-1")
    assert keys == ["scoreresults/result-1/trace.json", "scoreresults/result-1/log.txt"]
    trace = s3.get_object(Bucket=BUCKET, Key=keys[0])
    assert trace["ContentType"] == "application/json"
    assert json.loads(trace["Body"].read()) == {"value": "Yes"}
    text = s3.get_object(Bucket=BUCKET, Key=keys[1])
    assert (text["ContentType"], text["Body"].read()) == ("text/plain", b"line one\n")
    # A later attempt writes beside the first, never over it.
    assert upload(store(), "result-1", attempt=2)[0] == (
        "scoreresults/result-1/attempt-2/trace.json"
    )


def test_a_reset_a_closed_connection_and_a_slow_down_are_retried(
    through: Any, s3: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # aiohttp sends an idempotent request again, once, when its connection is reset or
    # closed; the second fault in a row is this client's to retry.
    faults: dict[str, list[Action]] = {
        "trace.json": [RESET, RESET, Refuse(503, SLOW_DOWN)],
        "log.txt": [CLOSE, CLOSE],
    }
    seen: list[str] = []

    def decide(method: str, path: str, body: bytes) -> Action:
        name = path.split("?")[0].rsplit("/", 1)[-1]
        seen.append(f"{method} {name}")
        plan = faults.get(name, [])
        return plan.pop(0) if method == "PUT" and plan else FORWARD

    through(decide)
    uploader = store()
    with caplog.at_level(logging.WARNING, logger="plexus.clients.attachments"):
        keys = upload(uploader, "result-2")
    assert sorted(seen) == ["PUT log.txt"] * 3 + ["PUT trace.json"] * 4
    assert uploader.retry_count == 3
    assert s3.get_object(Bucket=BUCKET, Key=keys[0])["Body"].read() == b'{"value":"Yes"}'
    assert "SlowDown: Please reduce your request rate.; retry 2 of 2" in caplog.text
    assert "ServerDisconnectedError" in caplog.text or "ClientOSError" in caplog.text
    assert TOKEN not in caplog.text and "X-Amz-Signature" not in caplog.text


def test_an_outage_past_the_retries_gives_the_job_back(through: Any) -> None:
    seen: list[str] = []

    def decide(method: str, path: str, body: bytes) -> Action:
        seen.append(path)
        return Refuse(500, INTERNAL)

    through(decide)
    with pytest.raises(ServiceUnavailable) as raised:
        upload(store(), "result-3")
    # boto3's standard mode: three tries of each file, then the outage is not the job's fault.
    assert len(seen) == 2 * PUT_ATTEMPTS
    message = str(raised.value)
    assert message.startswith(f"storing s3://{BUCKET}/scoreresults/result-3/"), message
    assert "InternalError: We encountered an internal error." in message


def test_a_missing_bucket_fails_at_once_naming_it(through: Any) -> None:
    seen: list[str] = []

    def decide(method: str, path: str, body: bytes) -> Action:
        seen.append(path)
        return FORWARD

    through(decide)
    with pytest.raises(AttachmentError) as raised:
        upload(store("no-such-bucket"), "result-4")
    assert "storing s3://no-such-bucket/scoreresults/result-4/" in str(raised.value)
    assert "NoSuchBucket: The specified bucket does not exist" in str(raised.value)
    assert len(seen) == 2  # not retried: the bucket is missing on every try
    assert not isinstance(raised.value, ServiceUnavailable)


def test_an_error_that_quotes_the_url_keeps_its_credentials_out(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """aiohttp quotes the URL in a refused answer's error (here two `Server` headers): the
    signature and the session token in its query stay out of the job's error."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{listener.getsockname()[1]}")

        def serve() -> None:
            for _ in range(2):
                conn, _ = listener.accept()
                with conn:
                    conn.recv(65536)
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nServer: a\r\nServer: b\r\nContent-Length: 0\r\n\r\n"
                    )

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        with (
            caplog.at_level(logging.DEBUG, logger="plexus"),
            pytest.raises(AttachmentError) as raised,
        ):
            upload(store(), "result-5")
        thread.join(5)
    message = str(raised.value)
    assert "Duplicate 'Server' header" in message, message
    for secret in (TOKEN, "X-Amz-Signature", "X-Amz-Credential"):
        assert secret not in message and secret not in caplog.text


def test_the_proxy_the_environment_names_is_used(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As boto3 did: the PUT goes through HTTP_PROXY (a recording stand-in that answers)."""
    seen: list[str] = []

    async def proxy(request: web.Request) -> web.Response:
        seen.append(f"{request.method} {request.url.path}")
        return web.Response(status=200)

    async def run() -> list[str]:
        async with recording_proxy(monkeypatch, proxy):
            # Resolves nowhere: only the proxy can answer for it.
            monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://s3.invalid")
            uploader = store()
            try:
                return await uploader.upload("result-6", {}, "", 1)
            finally:
                await uploader.close()

    keys = asyncio.run(run())
    assert sorted(seen) == sorted(f"PUT /{BUCKET}/{key}" for key in keys)


def test_urls_signed_ahead_serve_the_upload_once_and_are_forgotten_unused(
    aws: dict[str, str], s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A result's PUTs are signed as its scoring begins (in the loop's next turn); its upload
    uses them, and URLs of results never uploaded are dropped, oldest first, past a bound."""
    from plexus.clients import attachments

    signed: list[str] = []
    sign = AttachmentStore._sign

    def counting(self: AttachmentStore, key: str, content_type: str) -> str:
        signed.append(key)
        return sign(self, key, content_type)

    monkeypatch.setattr(AttachmentStore, "_sign", counting)
    monkeypatch.setattr(attachments, "SIGNED_AHEAD_MAX", 4)
    monkeypatch.setattr(attachments, "_signers", {})  # a new container: no boto3 client yet
    uploader = store()

    async def go() -> None:
        try:
            # Nothing is signed ahead before the first upload has made boto3's client (in a
            # thread): a cold start's first job does not wait for boto3 on the event loop.
            uploader.sign_ahead("result-6")
            await asyncio.sleep(0)
            assert signed == []
            await uploader.upload("result-6", {}, "", 1)
            assert len(signed) == 2
            uploader.sign_ahead("result-7")
            assert len(signed) == 2  # not in the caller's turn: its scoring goes out first
            await asyncio.sleep(0)
            assert len(signed) == 4
            keys = await uploader.upload("result-7", {"value": "No"}, "", 1)
            assert len(signed) == 4  # the upload used them
            assert s3.get_object(Bucket=BUCKET, Key=keys[0])["Body"].read() == b'{"value":"No"}'
            for result in ("result-8", "result-9", "result-10"):  # never uploaded
                uploader.sign_ahead(result)
                await asyncio.sleep(0)
            assert len(uploader._signed) <= 4
            assert not any("result-8/" in key for key in uploader._signed)
            # Past its age a URL signed ahead is not used: the upload signs anew.
            monkeypatch.setattr(attachments, "SIGNED_AHEAD_SECONDS", 0)
            await uploader.upload("result-10", {}, "", 1)
            assert (
                signed[-2:]
                == [
                    "scoreresults/result-10/trace.json",
                    "scoreresults/result-10/log.txt",
                ]
                and len(signed) == 4 + 6 + 2
            )
        finally:
            await uploader.close()

    asyncio.run(go())
