"""Score result attachments in S3: `scoreresults/<scoreResultId>/trace.json` and `log.txt`.

boto3 signs each PUT (`generate_presigned_url`: its credentials, endpoint resolution and
SigV4) and aiohttp sends it on the worker's event loop. boto3's own `put_object` blocks: it
took a thread per PUT, and at 64 jobs in flight those threads cost 3.1 ms of CPU a job and
held the GIL the event loop needed (bench/throughput.py at 64: 63 % of ideal with them,
83 % with the uploads stubbed out; docs/PERFORMANCE.md §5.2). boto3's client is made once
a container, before the score pool's first fork (`prepare`).

Retries are boto3's standard mode's: 3 tries, exponential backoff with full jitter (base 1 s,
at most 20 s), on a connection that failed, dropped or timed out, on 429 and 5xx, and on
S3's throttling and transient codes (plexus/clients/aws_faults.py). An outage past them
raises ServiceUnavailable (the job goes back, not the job's fault); any other answer
(NoSuchBucket, AccessDenied, a signature S3 refuses) raises AttachmentError naming the bucket,
the key and S3's code and message. A signed URL carries credentials (the signature, the
session token): it never reaches an error, a log line or a trace.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import re
import time
from typing import Any
from xml.etree import ElementTree

import aiohttp
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)
from yarl import URL

from plexus.clients.aws_faults import transient_answer
from plexus.clients.http import env_proxy, is_transient_http, send_then_retry, tls
from plexus.core.errors import AttachmentError, ServiceUnavailable

log = logging.getLogger(__name__)

# boto3's standard retry mode: 3 tries in all, backoff base 1 s, at most 20 s.
PUT_ATTEMPTS = 3
RETRY_BASE_SECONDS = 1.0
RETRY_MAX_SECONDS = 20.0
# Each try, connection included (botocore's defaults are 60 s to connect and 60 s to read).
PUT_TIMEOUT_SECONDS = 60.0
# A signed URL outlives every try of its PUT (3 x 60 s and the waits between them).
URL_SECONDS = 900
# A URL signed ahead serves a PUT begun within this long of its signing (300 s are left
# for its tries), and is forgotten after it, unused (the job failed before its upload).
SIGNED_AHEAD_SECONDS = URL_SECONDS - 300
# And at most this many are kept (about 0.7 KB each), oldest dropped first: a run of jobs
# that fail before their upload leaves its URLs behind. Two a job in flight fit many times.
SIGNED_AHEAD_MAX = 2048
TRACE_TYPE, LOG_TYPE = "application/json", "text/plain"
# The part of a signed URL that carries credentials, wherever an error might quote it.
_SIGNED_QUERY = re.compile(r"\?[^\s'\"<>]*X-Amz-[^\s'\"<>]*")


class _Transient(Exception):
    """A try that met a fault worth another (its text says which)."""


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, _Transient)


# boto3's S3 clients, by region and endpoint: made once (tens of ms, boto3's import first).
_signers: dict[tuple[str | None, str | None], Any] = {}


def _signer_key(region: str | None) -> tuple[str | None, str | None]:
    return region, os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")


def _signer(region: str | None) -> Any:
    key = _signer_key(region)
    client = _signers.get(key)
    if client is None:
        import boto3
        from botocore.config import Config

        # A session of its own: boto3's default one is not safe to make from two threads.
        client = boto3.session.Session().client(
            "s3", region_name=region, endpoint_url=key[1], config=Config(signature_version="s3v4")
        )
        _signers[key] = client
        # Made once a container, before the score pool's first fork (which freezes what is
        # alive), or later without one: its thousands of objects (the service model, the
        # endpoint rules) are frozen here too, or every full collection walks them again
        # (measured: 3 % of bench/throughput.py's jobs/s at 64 when made after the fork). As
        # at a fork, a cycle among the objects alive now is never collected; this is once.
        gc.freeze()
    return client


def attachment_keys(score_result_id: str, attempt: int = 1) -> tuple[str, str]:
    # A later attempt writes beside the first, never over it: the attempt whose lease ran
    # out may still be running, and the ScoreResult lists the keys of the one that made it.
    prefix = f"scoreresults/{score_result_id}"
    if attempt > 1:
        prefix += f"/attempt-{attempt}"
    return f"{prefix}/trace.json", f"{prefix}/log.txt"


class AttachmentStore:
    """PUTs to one bucket over one aiohttp session (opened on the first upload, in the loop
    that uses it); `close()` it when done."""

    def __init__(
        self,
        region: str | None,
        bucket: str,
        *,
        retry_base_seconds: float = RETRY_BASE_SECONDS,
        timeout_seconds: float = PUT_TIMEOUT_SECONDS,
    ) -> None:
        self.region, self.bucket = region, bucket
        self._session: aiohttp.ClientSession | None = None
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._retrying = AsyncRetrying(
            retry=retry_if_exception_type(_Transient),
            stop=stop_after_attempt(PUT_ATTEMPTS),
            wait=wait_random_exponential(multiplier=retry_base_seconds, max=RETRY_MAX_SECONDS),
            before_sleep=self._log_retry,
            reraise=True,
        )
        self.retry_count = 0
        # PUTs signed ahead, by key: (time.monotonic() when signed, URL), oldest first.
        self._signed: dict[str, tuple[float, str]] = {}

    def prepare(self) -> None:
        """Make boto3's client now (its import and the S3 model: 150 ms with bytecode, once a
        container); blocking, so from a thread. The score pool runs it before its first
        fork (plexus/worker/score_pool.py `before_fork`)."""
        _signer(self.region)

    def sign_ahead(self, score_result_id: str, attempt: int = 1) -> None:
        """Sign a result's two PUTs in the event loop's next turn. Called as its scoring
        begins, the signing (about 0.2 ms of CPU a URL) runs while the model works, rather
        than in the burst of uploads that follows a burst of answers (at 64 jobs in flight
        that burst was the upload's wait)."""
        if _signer_key(self.region) not in _signers:
            return  # not made yet: `prepare` or the first upload makes it, off the loop
        keys = attachment_keys(score_result_id, attempt)
        asyncio.get_running_loop().call_soon(self._sign_keys, keys)

    def _sign_keys(self, keys: tuple[str, str]) -> None:
        now = time.monotonic()
        while self._signed:  # forget URLs signed for results never uploaded
            oldest = next(iter(self._signed))
            young = now - self._signed[oldest][0] < SIGNED_AHEAD_SECONDS
            if young and len(self._signed) < SIGNED_AHEAD_MAX - 1:
                break
            del self._signed[oldest]
        for key, content_type in zip(keys, (TRACE_TYPE, LOG_TYPE), strict=True):
            try:
                self._signed[key] = (now, self._sign(key, content_type))
            except AttachmentError:
                return  # the upload signs again, and fails the job that needs it

    def _sign(self, key: str, content_type: str) -> str:
        try:
            url: str = _signer(self.region).generate_presigned_url(
                "put_object",
                Params={"Bucket": self.bucket, "Key": key, "ContentType": content_type},
                ExpiresIn=URL_SECONDS,
            )
        except Exception as exc:  # no credentials, a bad region: the setup's fault
            where = f"storing s3://{self.bucket}/{key} failed"
            raise AttachmentError(f"{where}: {type(exc).__name__}: {exc}") from None
        return url

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def upload(
        self, score_result_id: str, trace: dict[str, Any], log_text: str, attempt: int = 1
    ) -> list[str]:
        """Store both files (concurrently) and return their keys."""
        if _signer_key(self.region) not in _signers:
            # Not prepared before a fork (a scorer without processes): boto3's import and
            # client in a thread, so that the event loop goes on with the other jobs.
            await asyncio.to_thread(_signer, self.region)
        trace_key, log_key = attachment_keys(score_result_id, attempt)
        # Compact: json's C encoder does not indent (indent=2 took the pure-Python encoder,
        # 0.8 ms a job); whoever reads a trace parses it.
        trace_body = json.dumps(trace, default=str, separators=(",", ":")).encode()
        # Both PUTs end before an error is raised: none is left running on a session its
        # caller is about to close.
        outcomes = await asyncio.gather(
            self.put(trace_key, trace_body, TRACE_TYPE),
            self.put(log_key, log_text.encode(), LOG_TYPE),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return [trace_key, log_key]

    async def put(self, key: str, body: bytes, content_type: str) -> None:
        where = f"storing s3://{self.bucket}/{key} failed"
        signed = self._signed.pop(key, None)
        if signed is not None and time.monotonic() - signed[0] < SIGNED_AHEAD_SECONDS:
            url = signed[1]
        else:
            url = self._sign(key, content_type)
        try:
            await send_then_retry(
                self._retrying, _is_transient, self._send, url, where, body, content_type
            )
        except _Transient as exc:
            # An outage that outlasted the retries is not the job's fault: it goes back.
            raise ServiceUnavailable(f"{where}: {exc}") from None

    async def _send(self, url: str, where: str, body: bytes, content_type: str) -> None:
        session = self._open(url)
        try:
            # encoded=True: botocore signed the URL as it wrote it; yarl must not requote it.
            async with session.put(
                URL(url, encoded=True),
                data=body,
                headers={"Content-Type": content_type},
                # A redirect names another host, which the signature does not cover.
                allow_redirects=False,
            ) as response:
                status, payload = response.status, await response.read()
        except Exception as exc:
            fault = _describe(exc)
            if is_transient_http(exc):
                raise _Transient(fault) from None
            raise AttachmentError(f"{where}: {fault}") from None
        if status < 300:
            return
        code, message = _s3_error(status, payload)
        text = f"{code}: {message}"
        if transient_answer(status, code):
            raise _Transient(text)
        raise AttachmentError(f"{where}: {text}")

    def _open(self, url: str) -> aiohttp.ClientSession:
        if self._session is None:
            # The proxy is read once, for the bucket's endpoint (every URL has the same host).
            origin = str(URL(url).origin())
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(ssl=tls()),
                **env_proxy(origin),
            )
        return self._session

    def _log_retry(self, state: RetryCallState) -> None:
        self.retry_count += 1
        exc = state.outcome.exception() if state.outcome is not None else None
        where = state.args[1] if len(state.args) > 1 else "S3 PUT"
        log.warning(
            "%s: %s; retry %d of %d in %.2fs",
            where.removesuffix(" failed"),
            exc,
            state.attempt_number,
            PUT_ATTEMPTS - 1,
            state.upcoming_sleep,
        )


def _describe(exc: BaseException) -> str:
    """An aiohttp error as text, without the signed query some of them quote."""
    if isinstance(exc, TimeoutError) and not str(exc):
        return f"TimeoutError: no answer within {PUT_TIMEOUT_SECONDS:g}s"
    return _SIGNED_QUERY.sub("?…", f"{type(exc).__name__}: {exc}")


def _s3_error(status: int, payload: bytes) -> tuple[str, str]:
    """S3's error code and message from its XML answer, or the HTTP status."""
    try:
        root = ElementTree.fromstring(payload)
    except ElementTree.ParseError:
        return f"HTTP {status}", payload[:200].decode("utf-8", "replace").strip() or "no body"
    code = root.findtext("Code") or f"HTTP {status}"
    message = root.findtext("Message") or ""
    endpoint = root.findtext("Endpoint")
    if endpoint:  # PermanentRedirect: the bucket answers at another region's endpoint
        message = f"{message} (S3 names the endpoint {endpoint})"
    return code, message
