"""An HTTP proxy stand-in on 127.0.0.1 that answers every request itself, for the tests that
check a client goes through the proxy the environment names (HTTP_PROXY, no NO_PROXY)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from aiohttp import web


@asynccontextmanager
async def recording_proxy(
    monkeypatch: pytest.MonkeyPatch, answer: Callable[[web.Request], Awaitable[web.Response]]
) -> AsyncIterator[None]:
    """Serve `answer` for every request, with HTTP_PROXY naming it, while the block runs."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{runner.addresses[0][1]}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        yield
    finally:
        await runner.cleanup()
