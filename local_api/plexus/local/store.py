"""What a storage backend of the local Plexus API does: DynamoDB on moto
(dynamo_tables.DynamoStore, for the tests and `plexus-lambda dev`) or memory
(memory_store.MemoryStore, for the benchmarks). The resolvers (graphql_api.py) hold every
AppSync rule above this line; a backend only stores, indexes and checks conditions.

Items are plain dicts, an absent attribute an absent key. A conditional write whose
condition does not hold raises errors.ConditionFailed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from plexus.local.conditions import Condition
from plexus.local.keys import PageQuery
from plexus.local.models import Index


class Store(Protocol):
    table_prefix: str

    def create_tables(self) -> None: ...

    def get(self, model: str, item_id: str) -> dict[str, Any] | None: ...

    def put(self, model: str, item: Mapping[str, Any]) -> None:
        """Write unconditionally (seeding)."""

    def put_many(self, model: str, items: list[Mapping[str, Any]]) -> None: ...

    def create(self, model: str, item: Mapping[str, Any], condition: Condition | None) -> None:
        """Write if no item has this id and `condition` holds."""

    def update(
        self, model: str, item_id: str, changes: Mapping[str, Any], condition: Condition | None
    ) -> dict[str, Any]:
        """Set the changes (None removes) if the item exists and `condition` holds on it;
        return the new item."""

    def query(
        self, model: str, index: Index, page: PageQuery
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """One page: `page.limit` index entries after its start key, then its filter; the
        items and the LastEvaluatedKey (None on the last page)."""

    def scan(self, model: str) -> list[dict[str, Any]]: ...
