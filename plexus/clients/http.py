"""What the worker's aiohttp clients (the Plexus API, S3 attachments) share: which errors
are worth another try, how a send is retried, the proxy the environment names, and the CA
bundle."""

from __future__ import annotations

import os
import ssl
from collections.abc import Awaitable, Callable
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar, cast

import aiohttp

if TYPE_CHECKING:
    from tenacity import AsyncRetrying

T = TypeVar("T")

# aiohttp's errors worth another try: a refused, reset or dropped connection, a server that
# closed it mid-exchange or mid-body, a timeout (aiohttp's are TimeoutErrors). Not
# InvalidURL, a bad header or "Session is closed": a retry sends the same thing.
TRANSIENT_HTTP = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError)
# A certificate that does not verify (or a TLS handshake refused) meets the next try too.
NOT_TRANSIENT_HTTP = (aiohttp.ClientSSLError,)


def is_transient_http(exc: BaseException) -> bool:
    return isinstance(exc, TRANSIENT_HTTP) and not isinstance(exc, NOT_TRANSIENT_HTTP)


def env_proxy(url: str) -> dict[str, Any]:
    """The proxy HTTPS_PROXY / HTTP_PROXY name for `url` (none where NO_PROXY says so), as
    httpx and boto3 honour them, as a ClientSession's `proxy`/`proxy_auth`. Read once, with
    aiohttp's own reading of the variables: its `trust_env` reads them again on every
    request, in a thread (+320 µs of CPU a request, measured)."""
    from aiohttp.helpers import get_env_proxy_for_url
    from yarl import URL

    try:
        proxy, auth = get_env_proxy_for_url(URL(url))
    except LookupError:
        return {}
    return {"proxy": proxy, "proxy_auth": auth}


def tls() -> ssl.SSLContext | bool:
    """The CA bundle: the one SSL_CERT_FILE or SSL_CERT_DIR names (the image names Nix's),
    through aiohttp's default context (made at its import, from the environment then), else
    certifi's, as httpx and botocore have it: a Python without system certificates
    (python.org's on macOS) still verifies the server."""
    if os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR"):
        return True
    return _certifi_context()


@cache
def _certifi_context() -> ssl.SSLContext:
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


async def send_then_retry(
    retrying: AsyncRetrying,
    retryable: Callable[[BaseException], bool],
    send: Callable[..., Awaitable[T]],
    *args: Any,
) -> T:
    """One send; tenacity only once it failed with a fault worth retrying (its loop around
    every request cost a fifth of the API client's CPU: it inspects each strategy for a
    coroutine on every attempt). The first failure is replayed to tenacity as its first
    attempt, so the attempts, waits, deadline and log lines (`state.args` are `args`) are
    its own."""
    try:
        return await send(*args)
    except Exception as exc:
        if not retryable(exc):
            raise
        first: list[BaseException] = [exc]

    async def attempt(*args: Any) -> T:
        if first:
            raise first.pop()
        return await send(*args)

    return cast("T", await retrying(attempt, *args))
