"""The model-output store on a real PostgreSQL: workers that start together on a new
database all open it (the table is created once, under an advisory lock), and an output
put by one is read by the others."""

from __future__ import annotations

import asyncio
from typing import Any

from plexus.clients.model_store import ModelOutputStore


def test_stores_opened_at_once_on_a_new_database_all_open(postgres: Any) -> None:
    uri = postgres.create_database("store_race")

    async def one(i: int) -> dict[str, Any] | None:
        async with ModelOutputStore(uri) as store:
            await store.put("version-1", "the same input", {"completion": "Yes", "by": 0})
            return await store.get("version-1", "the same input")

    async def many() -> list[dict[str, Any] | None]:
        return await asyncio.gather(*(one(i) for i in range(16)))

    # Without the lock, CREATE TABLE IF NOT EXISTS from concurrent sessions fails some of
    # them with a duplicate key in pg_type.
    assert asyncio.run(many()) == [{"completion": "Yes", "by": 0}] * 16
