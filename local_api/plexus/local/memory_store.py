"""The memory backend of the local Plexus API, for the benchmarks: the same operations as
`DynamoStore` (dynamo_tables.py) on dicts, with DynamoDB's rules where the worker can tell.

- Each operation holds one lock, so a conditional write's check and its write are one
  step, as DynamoDB makes them: of two racing claims, one wins.
- An index holds the items that carry its hash key and sort key (GSIs are sparse), ordered
  by sort key, then id (as moto orders ties). A page reads `limit` items after the start
  key, then filters them; a page that read `limit` items carries a LastEvaluatedKey even
  when nothing follows, as DynamoDB's does (moto's only when more follow).
- LastEvaluatedKeys are DynamoDB's typed JSON (`{"id": {"S": ...}, ...}`), so page tokens
  look the same from both backends.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from plexus.local import conditions
from plexus.local.dynamo_tables import deserialize, serialize
from plexus.local.errors import ConditionFailed
from plexus.local.keys import PageQuery
from plexus.local.models import Index, load_models, model_named


class MemoryStore:
    """Items by model and id, and each index's items by hash value."""

    table_prefix = ""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, dict[str, dict[str, Any]]] = {}
        # (model, index name) -> hash value -> id -> item
        self._indexes: dict[tuple[str, str], dict[Any, dict[str, dict[str, Any]]]] = {}
        self.create_tables()

    def create_tables(self) -> None:
        for model in load_models().values():
            self._items.setdefault(model.name, {})
            for index in model.indexes:
                self._indexes.setdefault((model.name, index.name), {})

    def _table(self, model: str) -> dict[str, dict[str, Any]]:
        return self._items[model_named(model).name]

    def _write(self, model: str, item: dict[str, Any]) -> None:
        table = self._table(model)
        old = table.get(item["id"])
        for index in model_named(model).indexes:
            buckets = self._indexes[(model, index.name)]
            if old is not None and old.get(index.hash_key) is not None:
                buckets.get(old[index.hash_key], {}).pop(old["id"], None)
            if item.get(index.hash_key) is not None and (
                index.sort_key is None or item.get(index.sort_key) is not None
            ):
                buckets.setdefault(item[index.hash_key], {})[item["id"]] = item
        table[item["id"]] = item

    def get(self, model: str, item_id: str) -> dict[str, Any] | None:
        with self._lock:
            item = self._table(model).get(item_id)
            return None if item is None else dict(item)

    def put(self, model: str, item: Mapping[str, Any]) -> None:
        with self._lock:
            self._write(model, dict(item))

    def put_many(self, model: str, items: list[Mapping[str, Any]]) -> None:
        with self._lock:
            for item in items:
                self._write(model, dict(item))

    def create(
        self, model: str, item: Mapping[str, Any], condition: conditions.Condition | None
    ) -> None:
        with self._lock:
            if item["id"] in self._table(model):
                raise ConditionFailed()
            # A create's condition sees no item: only tests of absence can hold.
            if condition is not None and not conditions.holds(condition, {}):
                raise ConditionFailed()
            self._write(model, dict(item))

    def update(
        self,
        model: str,
        item_id: str,
        changes: Mapping[str, Any],
        condition: conditions.Condition | None,
    ) -> dict[str, Any]:
        with self._lock:
            old = self._table(model).get(item_id)
            if old is None or (condition is not None and not conditions.holds(condition, old)):
                raise ConditionFailed()
            item = {k: v for k, v in old.items() if changes.get(k, v) is not None}
            item.update((k, v) for k, v in changes.items() if v is not None)
            self._write(model, item)
            return dict(item)

    def query(
        self, model: str, index: Index, page: PageQuery
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        hash_value, sort, filter, limit = page.hash_value, page.sort, page.filter, page.limit
        descending, start_key = page.descending, page.start_key
        with self._lock:
            bucket = self._indexes[(model, index.name)].get(hash_value, {})
            sort_key = index.sort_key
            keyed = [
                ((item[sort_key] if sort_key else ""), item["id"], item)
                for item in bucket.values()
                if sort is None or sort.holds(item[sort_key])  # type: ignore[index]
            ]
            keyed.sort(key=lambda k: (k[0], k[1]), reverse=descending)
            start = 0
            if start_key:
                after = (deserialize(start_key[sort_key]) if sort_key else "", start_key["id"]["S"])
                start = next(
                    (
                        i
                        for i, (key, item_id, _) in enumerate(keyed)
                        if ((key, item_id) < after if descending else (key, item_id) > after)
                    ),
                    len(keyed),
                )
            window = keyed[start : start + limit]
            items = [
                dict(item)
                for _, _, item in window
                if filter is None or conditions.holds(filter, item)
            ]
        last_key = None
        if len(window) == limit:
            last = window[-1][2]
            last_key = {"id": serialize(last["id"]), index.hash_key: serialize(hash_value)}
            if sort_key:
                last_key[sort_key] = serialize(last[sort_key])
        return items, last_key

    def scan(self, model: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(item) for item in self._table(model).values()]
