"""The DynamoDB backend of the local Plexus API (moto in the tests and `plexus-lambda dev`):
one table per model, as Amplify lays them out, with the secondary indexes its @index
declarations give (plexus/local/models.py). memory_store.py is the other backend.

moto checks a write's condition and applies the write in separate steps without a lock,
so two racing conditional updates can both succeed there, and a query can iterate a table
while a put changes it. DynamoDB makes each item operation atomic; `DynamoStore` restores
that by sending its calls one at a time. Everything that writes these tables goes
through one store, so that is enough.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import ClientError

from plexus.local import conditions
from plexus.local.errors import ApiError, ConditionFailed
from plexus.local.keys import PageQuery
from plexus.local.models import Index, Model, load_models, model_named


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
            args["ExpressionAttributeValues"] = {k: serialize(v) for k, v in self.values.items()}
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


def serialize(value: Any) -> dict[str, Any]:
    """One value as DynamoDB's typed JSON (`{"S": "..."}`), as in a LastEvaluatedKey."""
    return _serializer.serialize(to_dynamo_value(value))


def _serialize_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: serialize(v) for k, v in item.items()}


def deserialize(value: Mapping[str, Any]) -> Any:
    return from_dynamo_value(_deserializer.deserialize(value))


def _deserialize_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: from_dynamo_value(_deserializer.deserialize(v)) for k, v in item.items()}


def _guarded(guard: str, condition: conditions.Condition | None, ph: Placeholders) -> str:
    return guard if condition is None else f"{guard} AND {conditions.expression(condition, ph)}"


class DynamoStore:
    """The model tables on a DynamoDB endpoint, one call at a time (see the module doc)."""

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
        self._call("create_table", **args)

    def _call(self, operation: str, **args: Any) -> dict[str, Any]:
        """One DynamoDB call under the lock; a failed condition is ConditionFailed, any
        other refusal an ApiError with AppSync's `DynamoDB:<code>` errorType."""
        try:
            with self._lock:
                return getattr(self._client, operation)(**args)  # type: ignore[no-any-return]
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = error.get("Code", "DynamoDbException")
            if code == "ConditionalCheckFailedException":
                request_id = exc.response.get("ResponseMetadata", {}).get("RequestId")
                raise ConditionFailed(request_id) from None
            raise ApiError(f"DynamoDB:{code}", error.get("Message", str(exc))) from None

    def get(self, model: str, item_id: str) -> dict[str, Any] | None:
        response = self._call(
            "get_item", TableName=self.table_name(model), Key={"id": {"S": item_id}}
        )
        item = response.get("Item")
        return None if item is None else _deserialize_item(item)

    def put(self, model: str, item: Mapping[str, Any]) -> None:
        self._call("put_item", TableName=self.table_name(model), Item=_serialize_item(item))

    def create(
        self, model: str, item: Mapping[str, Any], condition: conditions.Condition | None
    ) -> None:
        ph = Placeholders()
        self._call(
            "put_item",
            TableName=self.table_name(model),
            Item=_serialize_item(item),
            ConditionExpression=_guarded(f"attribute_not_exists({ph.name('id')})", condition, ph),
            **ph.request_args(),
        )

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
                response = self._call("batch_write_item", RequestItems=pending)
                pending = response.get("UnprocessedItems") or {}

    def update(
        self,
        model: str,
        item_id: str,
        changes: Mapping[str, Any],
        condition: conditions.Condition | None,
    ) -> dict[str, Any]:
        """SET each change, REMOVE each change whose value is None, if the item exists and
        `condition` holds; return the new item."""
        ph = Placeholders()
        sets = [f"{ph.name(k)} = {ph.value(v)}" for k, v in changes.items() if v is not None]
        removes = [ph.name(k) for k, v in changes.items() if v is None]
        expression = []
        if sets:
            expression.append("SET " + ", ".join(sets))
        if removes:
            expression.append("REMOVE " + ", ".join(removes))
        # Without the guard, UpdateItem would create a partial item.
        guard = _guarded(f"attribute_exists({ph.name('id')})", condition, ph)
        response = self._call(
            "update_item",
            TableName=self.table_name(model),
            Key={"id": {"S": item_id}},
            UpdateExpression=" ".join(expression),
            ReturnValues="ALL_NEW",
            ConditionExpression=guard,
            **ph.request_args(),
        )
        return _deserialize_item(response["Attributes"])

    def query(
        self, model: str, index: Index, page: PageQuery
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """One Query page: `limit` items are read, then filtered. Returns the items and the
        LastEvaluatedKey (None on the last page)."""
        ph = Placeholders()
        key_condition = f"{ph.name(index.hash_key)} = {ph.value(page.hash_value)}"
        if page.sort is not None:
            key_condition += f" AND {page.sort.expression(ph)}"
        args: dict[str, Any] = {
            "TableName": self.table_name(model),
            "IndexName": index.name,
            "KeyConditionExpression": key_condition,
            "Limit": page.limit,
            "ScanIndexForward": not page.descending,
        }
        if page.filter is not None:
            args["FilterExpression"] = conditions.expression(page.filter, ph)
        if page.start_key:
            args["ExclusiveStartKey"] = page.start_key
        response = self._call("query", **args, **ph.request_args())
        items = [_deserialize_item(item) for item in response.get("Items", [])]
        return items, response.get("LastEvaluatedKey")

    def scan(self, model: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        args: dict[str, Any] = {"TableName": self.table_name(model)}
        while True:
            response = self._call("scan", **args)
            items.extend(_deserialize_item(item) for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return items
            args["ExclusiveStartKey"] = response["LastEvaluatedKey"]
