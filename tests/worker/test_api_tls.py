"""The Plexus API client over HTTPS (plexus/clients/http.py `tls`): it verifies the
server against the bundle SSL_CERT_FILE names (the image names Nix's), else against
certifi's, and a certificate it cannot verify is an error at once, not a retried fault."""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
import trustme
from aiohttp import web

from plexus.clients.plexus_api import ApiError, ApiUnavailable, PlexusApi
from plexus.core.settings import load_settings
from tests.support.recording_proxy import recording_proxy

T = TypeVar("T")
ACCOUNT = {"listAccountByKey": {"items": [{"id": "acc-1", "key": "k", "name": "n"}]}}


def ca_in(directory: Path) -> trustme.CA:
    """The test CA kept in `directory` (ca.pem, ca.key), made on first use."""
    cert, key = directory / "ca.pem", directory / "ca.key"
    if cert.exists():
        return trustme.CA.from_pem(cert.read_bytes(), key.read_bytes())
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(cert))
    ca.private_key_pem.write_to_path(str(key))
    return ca


def against_tls_api(tmp_path: Path, use: Callable[[PlexusApi], Awaitable[T]]) -> tuple[T, int]:
    """Run `use` with a client of a GraphQL endpoint on 127.0.0.1 whose certificate comes
    from the test CA in tmp_path; returns what `use` returned and the number of requests
    the endpoint answered."""
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca_in(tmp_path).issue_cert("127.0.0.1").configure_cert(server_context)
    answered = [0]

    async def graphql(request: web.Request) -> web.Response:
        answered[0] += 1
        return web.json_response({"data": ACCOUNT})

    async def run() -> T:
        app = web.Application()
        app.router.add_post("/graphql", graphql)
        runner = web.AppRunner(app)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_context)
            await site.start()
            port = runner.addresses[0][1]
            settings = load_settings(
                {
                    "PLEXUS_API_URL": f"https://127.0.0.1:{port}/graphql",
                    "PLEXUS_API_KEY": "test-key",
                    "PLEXUS_FETCH_SCHEMA_FROM_TRANSPORT": "0",
                    "PLEXUS_API_RETRY_SECONDS": "0.01",
                }
            )
            async with PlexusApi(settings) as api:
                return await asyncio.wait_for(use(api), 30)
        finally:
            await runner.cleanup()

    return asyncio.run(run()), answered[0]


def test_the_bundle_ssl_cert_file_names_verifies_the_api(tmp_path: Path) -> None:
    # A process started with SSL_CERT_FILE, as the image starts the worker (aiohttp reads
    # the environment's bundle when it is imported).
    code = (
        "from pathlib import Path; from tests.worker.test_api_tls import against_tls_api; "
        f"print(against_tls_api(Path({str(tmp_path)!r}), lambda api: api.account_id('k')))"
    )
    ca_in(tmp_path)
    env = {**os.environ, "SSL_CERT_FILE": str(tmp_path / "ca.pem")}
    env.pop("SSL_CERT_DIR", None)
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "('acc-1', 1)"


def test_an_unverifiable_certificate_fails_at_once_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No bundle named: certifi's, which does not hold the test CA.
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)

    async def use(api: PlexusApi) -> tuple[BaseException | None, int]:
        try:
            await api.account_id("k")
        except ApiError as exc:
            return exc, api.request_count
        return None, api.request_count

    (error, sends), answered = against_tls_api(tmp_path, use)
    assert isinstance(error, ApiError) and not isinstance(error, ApiUnavailable), error
    assert "certificate" in str(error).lower(), error
    assert sends == 1  # not retried: another try meets the same certificate
    assert answered == 0


def test_the_proxy_the_environment_names_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker behind a proxy reaches the API through it, as httpx (the transport before)
    and boto3 do: the proxy here is a recording stand-in that answers itself."""
    seen: list[str] = []

    async def proxy(request: web.Request) -> web.Response:
        seen.append(f"{request.method} {request.url}")
        return web.json_response({"data": ACCOUNT})

    async def run() -> str:
        async with recording_proxy(monkeypatch, proxy):
            settings = load_settings(
                {
                    # Resolves nowhere: only the proxy can answer for it.
                    "PLEXUS_API_URL": "http://plexus-api.invalid/graphql",
                    "PLEXUS_API_KEY": "test-key",
                    "PLEXUS_FETCH_SCHEMA_FROM_TRANSPORT": "0",
                }
            )
            async with PlexusApi(settings) as api:
                return await asyncio.wait_for(api.account_id("k"), 30)

    assert asyncio.run(run()) == "acc-1"
    assert seen == ["POST http://plexus-api.invalid/graphql"]
