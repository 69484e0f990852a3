"""The AppSync emulator without its HTTP: schema.graphql executable over a storage backend,
and the seeding and reading that tests and benchmarks do beside the API. Two front ends
serve it: api_server.LocalPlexusApi (threads, for the tests and `plexus-lambda dev`) and
bench/lean_api.py (one event loop, for the benchmarks).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import GraphQLError, GraphQLObjectType, get_named_type

from plexus.local.fast_path import fast_execute
from plexus.local.graphql_api import (
    build_plexus_schema,
    datetime_input,
    execute,
    json_input,
    json_output,
    prepare_create,
    public,
)
from plexus.local.models import model_named
from plexus.local.store import Store


class Emulator:
    """`fast`: execute with fast_path.py (the benchmarks') rather than graphql-core's
    executor (the tests')."""

    def __init__(self, store: Store, *, fast: bool = False) -> None:
        self.store = store
        self.schema = build_plexus_schema(store)
        self._execute = fast_execute if fast else execute

    def execute(self, request: Any) -> dict[str, Any]:
        """One decoded GraphQL request body -> AppSync's response (BadRequest if malformed)."""
        return self._execute(self.schema, request)

    def put(self, model: str, item: Mapping[str, Any]) -> str:
        """Write one item as a create would (no condition): id/createdAt/updatedAt filled
        when absent, the composite-sort-key rule applied (CompositeKeyError).

        Fields must be the model's fields in schema.graphql. AWSJSON fields take the decoded
        value (dict, list, ...) or a JSON string, as the API does; AWSDateTime fields take
        ISO 8601 strings. None values are left out, as a create does."""
        name = model_named(model).name
        fields = prepare_create(name, self._check_fields(name, item))
        self.store.put(name, fields)
        return str(fields["id"])

    def put_many(self, model: str, items: list[Mapping[str, Any]]) -> list[str]:
        """`put` for many items at once; returns their ids."""
        name = model_named(model).name
        prepared = [prepare_create(name, self._check_fields(name, item)) for item in items]
        self.store.put_many(name, prepared)
        return [str(item["id"]) for item in prepared]

    def get(self, model: str, id: str) -> dict[str, Any] | None:
        """The stored item as the API would return it (AWSJSON fields as JSON strings), or
        None. Absent attributes are absent keys."""
        name = model_named(model).name
        item = self.store.get(name, id)
        return None if item is None else self._present(name, item)

    def scan(self, model: str) -> list[dict[str, Any]]:
        """Every stored item of `model`, shaped as `get` returns it, in no particular order."""
        name = model_named(model).name
        return [self._present(name, item) for item in self.store.scan(name)]

    def _present(self, model: str, item: dict[str, Any]) -> dict[str, Any]:
        json_fields = self._scalar_fields(model, "AWSJSON")
        return {k: json_output(v) if k in json_fields else v for k, v in public(item).items()}

    def _scalar_fields(self, model: str, scalar: str) -> set[str]:
        object_type = self.schema.type_map[model]
        assert isinstance(object_type, GraphQLObjectType)
        return {
            name
            for name, field in object_type.fields.items()
            if get_named_type(field.type).name == scalar
        }

    def _check_fields(self, model: str, item: Mapping[str, Any]) -> dict[str, Any]:
        object_type = self.schema.type_map[model]
        assert isinstance(object_type, GraphQLObjectType)
        unknown = sorted(set(item) - set(object_type.fields))
        if unknown:
            raise ValueError(f"{model} has no field(s) {', '.join(unknown)}")
        json_fields = self._scalar_fields(model, "AWSJSON")
        datetime_fields = self._scalar_fields(model, "AWSDateTime")
        fields = {}
        for name, value in item.items():
            if value is None:
                continue
            try:
                if name in json_fields and isinstance(value, str):
                    value = json_input(value)
                elif name in datetime_fields:
                    datetime_input(value)
            except GraphQLError as exc:
                raise ValueError(f"{model}.{name}: {exc.message}") from None
            fields[name] = value
        return fields
