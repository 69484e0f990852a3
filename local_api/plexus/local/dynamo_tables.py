"""The DynamoDB tables behind the local Plexus API: one table per model, as Amplify lays
them out, with the secondary indexes its @index declarations give (plexus/local/models.py).

moto checks a write's condition and applies the write in separate steps without a lock,
so two racing conditional updates can both succeed there, and a query can iterate a table
while a put changes it. DynamoDB makes each item operation atomic; `DynamoStore` restores
that by sending its calls one at a time. Everything that writes these tables goes
through one store, so that is enough.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config

from plexus.local.models import Index, Model, load_models


def now_iso() -> str:
    """AWSDateTime as Amplify writes it: UTC, milliseconds, `Z`."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def new_id() -> str:
    return str(uuid.uuid4())


def model_named(name: str) -> Model:
    models = load_models()
    try:
        return models[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(models)}") from None


@dataclass
class Placeholders:
    """ExpressionAttributeNames/Values for one request; every name goes through a
    placeholder, because `key`, `name`, `status`, `value` and `type` are reserved words."""

    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    def name(self, attribute: str) -> str:
        for placeholder, existing in self.names.items():
            if existing == attribute:
                return placeholder
        placeholder = f"#n{len(self.names)}"
        self.names[placeholder] = attribute
        return placeholder

    def value(self, value: Any) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = value
        return placeholder

    def request_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {}
        if self.names:
            args["ExpressionAttributeNames"] = dict(self.names)
        if self.values:
            args["ExpressionAttributeValues"] = {k: _serialize(v) for k, v in self.values.items()}
        return args


_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_dynamo_value(value: Any) -> Any:
    """Python value -> what boto3's serializer accepts (it rejects float)."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, Mapping):
        return {str(k): to_dynamo_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_dynamo_value(v) for v in value]
    return value


def from_dynamo_value(value: Any) -> Any:
    """Deserialized DynamoDB value -> plain Python (numbers become int or float)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {k: from_dynamo_value(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [from_dynamo_value(v) for v in value]
    return value


def _serialize(value: Any) -> dict[str, Any]:
    return _serializer.serialize(to_dynamo_value(value))


def _serialize_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _serialize(v) for k, v in item.items()}


def _deserialize_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: from_dynamo_value(_deserializer.deserialize(v)) for k, v in item.items()}


class DynamoStore:
    """Item operations on the model tables, one DynamoDB call at a time (see module doc)."""

    def __init__(self, endpoint_url: str, region: str, table_prefix: str) -> None:
        self.table_prefix = table_prefix
        self._lock = threading.Lock()
        # Dummy credentials: this store only ever talks to a local endpoint.
        self._client = boto3.client(
            "dynamodb",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id="local",
            aws_secret_access_key="local",
            config=Config(retries={"mode": "standard", "max_attempts": 3}),
        )

    def table_name(self, model: str) -> str:
        return f"{self.table_prefix}{model_named(model).name}"

    def create_tables(self) -> None:
        """Create every model table; a table that already exists is reused."""
        existing = set(self._all_table_names())
        for model in load_models().values():
            name = self.table_name(model.name)
            if name not in existing:
                self._create_table(name, model)

    def _all_table_names(self) -> Iterator[str]:
        for page in self._client.get_paginator("list_tables").paginate():
            yield from page["TableNames"]

    def _create_table(self, name: str, model: Model) -> None:
        attributes = {"id"}
        indexes = []
        for index in model.indexes:
            key_schema = [{"AttributeName": index.hash_key, "KeyType": "HASH"}]
            attributes.add(index.hash_key)
            if index.sort_key:
                key_schema.append({"AttributeName": index.sort_key, "KeyType": "RANGE"})
                attributes.add(index.sort_key)
            indexes.append(
                {
                    "IndexName": index.name,
                    "KeySchema": key_schema,
                    "Projection": {"ProjectionType": "ALL"},
                }
            )
        args: dict[str, Any] = {
            "TableName": name,
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "AttributeDefinitions": [
                {"AttributeName": a, "AttributeType": model.key_type(a)} for a in sorted(attributes)
            ],
            "BillingMode": "PAY_PER_REQUEST",
        }
        if indexes:
            args["GlobalSecondaryIndexes"] = indexes
        with self._lock:
            self._client.create_table(**args)

    def get(self, model: str, item_id: str) -> dict[str, Any] | None:
        with self._lock:
            response = self._client.get_item(
                TableName=self.table_name(model), Key={"id": {"S": item_id}}
            )
        item = response.get("Item")
        return None if item is None else _deserialize_item(item)

    def put(
        self,
        model: str,
        item: Mapping[str, Any],
        condition: str | None = None,
        placeholders: Placeholders | None = None,
    ) -> None:
        args: dict[str, Any] = {"TableName": self.table_name(model), "Item": _serialize_item(item)}
        if condition:
            args["ConditionExpression"] = condition
            args.update((placeholders or Placeholders()).request_args())
        with self._lock:
            self._client.put_item(**args)

    def put_many(self, model: str, items: list[Mapping[str, Any]]) -> None:
        """Unconditional puts in batches of 25 (BatchWriteItem), for seeding large tables."""
        table = self.table_name(model)
        for start in range(0, len(items), 25):
            requests = [
                {"PutRequest": {"Item": _serialize_item(item)}}
                for item in items[start : start + 25]
            ]
            pending: dict[str, Any] = {table: requests}
            while pending:
                with self._lock:
                    response = self._client.batch_write_item(RequestItems=pending)
                pending = response.get("UnprocessedItems") or {}

    def update(
        self,
        model: str,
        item_id: str,
        changes: Mapping[str, Any],
        condition: str | None,
        placeholders: Placeholders,
    ) -> dict[str, Any]:
        """SET each change, REMOVE each change whose value is None; return the new item."""
        sets = [
            f"{placeholders.name(k)} = {placeholders.value(v)}"
            for k, v in changes.items()
            if v is not None
        ]
        removes = [placeholders.name(k) for k, v in changes.items() if v is None]
        expression = []
        if sets:
            expression.append("SET " + ", ".join(sets))
        if removes:
            expression.append("REMOVE " + ", ".join(removes))
        args: dict[str, Any] = {
            "TableName": self.table_name(model),
            "Key": {"id": {"S": item_id}},
            "UpdateExpression": " ".join(expression),
            "ReturnValues": "ALL_NEW",
        }
        if condition:
            args["ConditionExpression"] = condition
        args.update(placeholders.request_args())
        with self._lock:
            response = self._client.update_item(**args)
        return _deserialize_item(response["Attributes"])

    def query(
        self,
        model: str,
        index: Index,
        hash_value: str,
        *,
        limit: int,
        descending: bool,
        sort_condition: str | None = None,
        filter_expression: str | None,
        placeholders: Placeholders,
        start_key: dict[str, Any] | None,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """One DynamoDB Query page: `limit` items are read, then filtered.

        Returns the items and the raw LastEvaluatedKey (None on the last page)."""
        key_condition = f"{placeholders.name(index.hash_key)} = {placeholders.value(hash_value)}"
        if sort_condition:
            key_condition += f" AND {sort_condition}"
        args: dict[str, Any] = {
            "TableName": self.table_name(model),
            "IndexName": index.name,
            "KeyConditionExpression": key_condition,
            "Limit": limit,
            "ScanIndexForward": not descending,
        }
        if filter_expression:
            args["FilterExpression"] = filter_expression
        if start_key:
            args["ExclusiveStartKey"] = start_key
        args.update(placeholders.request_args())
        with self._lock:
            response = self._client.query(**args)
        items = [_deserialize_item(item) for item in response.get("Items", [])]
        return items, response.get("LastEvaluatedKey")

    def scan(self, model: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        args: dict[str, Any] = {"TableName": self.table_name(model)}
        while True:
            with self._lock:
                response = self._client.scan(**args)
            items.extend(_deserialize_item(item) for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return items
            args["ExclusiveStartKey"] = response["LastEvaluatedKey"]
