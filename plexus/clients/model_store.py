"""A PostgreSQL store of model outputs, keyed by score version and input hash (the text,
and when a score sees them, the item's metadata and the values of the scores it depends on:
plexus/scores/worker_support.py's `input_key`).

A job retried after a timeout or a crash finds the model's earlier answer here and does not
pay for the same call twice. Enabled by PLEXUS_POSTGRES_URI; psycopg is imported only then.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from psycopg import AsyncConnection

SCHEMA = """
CREATE TABLE IF NOT EXISTS plexus_model_outputs (
    score_version_id text NOT NULL,
    input_sha256 text NOT NULL,
    output jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (score_version_id, input_sha256)
)
"""


# Workers starting together would race in CREATE TABLE IF NOT EXISTS (PostgreSQL can fail
# the loser with a duplicate pg_type row); this advisory lock lets one create it at a time.
SCHEMA_LOCK = 0x706C7873_6D6F6F75  # "plxs" "moou"


def input_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ModelOutputStore:
    """Use as `async with ModelOutputStore(uri) as store`."""

    def __init__(self, uri: str) -> None:
        self._uri = uri
        self._conn: AsyncConnection | None = None

    async def __aenter__(self) -> ModelOutputStore:
        import psycopg

        try:
            self._conn = await psycopg.AsyncConnection.connect(self._uri, autocommit=True)
        except psycopg.OperationalError as exc:
            # The driver's message can include the host but never the password.
            raise RuntimeError(f"PLEXUS_POSTGRES_URI: cannot connect: {_first_line(exc)}") from None
        async with self._conn.transaction():
            await self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            await self._conn.execute(SCHEMA)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._conn is not None:
            await self._conn.close()

    async def get(self, score_version_id: str, text: str) -> dict[str, Any] | None:
        assert self._conn is not None
        cursor = await self._conn.execute(
            "SELECT output FROM plexus_model_outputs"
            " WHERE score_version_id = %s AND input_sha256 = %s",
            (score_version_id, input_hash(text)),
        )
        row = await cursor.fetchone()
        return row[0] if row else None

    async def put(self, score_version_id: str, text: str, output: dict[str, Any]) -> None:
        assert self._conn is not None
        await self._conn.execute(
            "INSERT INTO plexus_model_outputs (score_version_id, input_sha256, output)"
            " VALUES (%s, %s, %s::jsonb) ON CONFLICT DO NOTHING",
            (score_version_id, input_hash(text), json.dumps(output)),
        )


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
