"""`finish_all`: one job's error is raised only once every other job has finished, so that
no caller closes the API client under jobs still in flight."""

from __future__ import annotations

import asyncio

import pytest

from plexus.worker.processor import finish_all


def test_the_first_error_is_raised_after_every_job_finished() -> None:
    finished: list[str] = []

    async def fails() -> str:
        raise RuntimeError("first")

    async def slow(name: str) -> str:
        await asyncio.sleep(0.05)
        finished.append(name)
        return name

    with pytest.raises(RuntimeError, match="first"):
        asyncio.run(finish_all([fails(), slow("a"), slow("b")]))
    assert sorted(finished) == ["a", "b"]
    assert asyncio.run(finish_all([slow("c"), slow("d")])) == ["c", "d"]
