"""schema.graphql, executable: resolvers over `DynamoStore` with AppSync's semantics and
AppSync's error shape.

Resolvers are bound by field name, following Amplify's naming: `getX(id)`,
`createX(input, condition)` and `updateX(input, condition)` for the models of
`models.graphql`, and each @index's `queryField(hashKey, sortKeyArgument, sortDirection,
filter, limit, nextToken)`. Create and update apply the real resolvers' composite-sort-key
rule, derived from the same declarations (plexus/local/models.py).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from graphql import (
    GraphQLError,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    OperationDefinitionNode,
    StringValueNode,
    build_schema,
    graphql_sync,
    parse,
)
from graphql.language import FieldNode

from plexus.local.conditions import InvalidConditionError, build_expression
from plexus.local.dynamo_tables import (
    DynamoStore,
    Placeholders,
    from_dynamo_value,
    model_named,
    new_id,
    now_iso,
)
from plexus.local.models import KEY_SEPARATOR, CompositeKeyError, Index, load_models

log = logging.getLogger(__name__)

SCHEMA_PATH = Path(__file__).with_name("schema.graphql")
DEFAULT_LIMIT = 100

Resolver = Callable[..., Any]


class ApiError(Exception):
    """A resolver error that reaches the client with AppSync's `errorType`."""

    def __init__(self, error_type: str | None, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


# --- scalars -----------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _preview(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def json_input(value: Any) -> Any:
    # AppSync takes AWSJSON only as a string holding JSON, in variables and literals alike.
    if not isinstance(value, str):
        raise GraphQLError(
            f"Unable to parse {_preview(value)} as valid JSON: AWSJSON must be a string."
        )
    try:
        return json.loads(value, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise GraphQLError(f"Unable to parse {_preview(value)} as valid JSON: {exc}") from None


def json_output(value: Any) -> str:
    return json.dumps(from_dynamo_value(value), separators=(",", ":"), ensure_ascii=False)


_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}(:\d{2})?)"
)


def datetime_input(value: Any) -> str:
    if isinstance(value, str) and _DATETIME.fullmatch(value):
        try:
            datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return value
    raise GraphQLError(
        f"Unable to parse {_preview(value)} as AWSDateTime: expected ISO 8601 with a time zone, "
        "such as 2025-01-31T12:00:00.000Z"
    )


def _literal(parse_string: Callable[[Any], Any]) -> Callable[..., Any]:
    def coerce(node: Any, _variables: Any = None) -> Any:
        if not isinstance(node, StringValueNode):
            raise GraphQLError("expected a string literal")
        return parse_string(node.value)

    return coerce


def _configure_scalar(
    scalar: GraphQLScalarType, output: Callable[[Any], Any], input_value: Callable[[Any], Any]
) -> None:
    # Set both graphql-core 3.3's coercers and the legacy names it still falls back to.
    literal = _literal(input_value)
    scalar.serialize = output  # type: ignore[method-assign]
    scalar.coerce_output_value = output
    scalar.parse_value = input_value  # type: ignore[method-assign]
    scalar.coerce_input_value = input_value
    scalar.parse_literal = literal  # type: ignore[method-assign]
    scalar.coerce_input_literal = literal


# --- resolvers ---------------------------------------------------------------------------


def _translating(resolver: Resolver) -> Resolver:
    """Turn store and input errors into AppSync-style errors."""

    def resolve(*args: Any, **kwargs: Any) -> Any:
        try:
            return resolver(*args, **kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = error.get("Code", "DynamoDbException")
            if code == "ConditionalCheckFailedException":
                request_id = exc.response.get("ResponseMetadata", {}).get("RequestId")
                message = (
                    "The conditional request failed (Service: DynamoDb, Status Code: 400, "
                    f"Request ID: {request_id})"
                )
            else:
                message = error.get("Message", str(exc))
            raise ApiError(f"DynamoDB:{code}", message) from None
        except InvalidConditionError as exc:
            raise ApiError("BadRequestException", str(exc)) from None
        except CompositeKeyError as exc:
            # The VTL raises it with $util.error(message), which sets no errorType.
            raise ApiError(None, str(exc)) from None

    return resolve


def encode_next_token(last_key: dict[str, Any] | None) -> str | None:
    if not last_key:
        return None
    raw = json.dumps(last_key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_next_token(token: str | None) -> dict[str, Any] | None:
    if token is None:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error):
        key = None
    if not isinstance(key, dict) or not all(isinstance(v, dict) for v in key.values()):
        raise ApiError("BadRequestException", "Invalid nextToken: not a token this API issued")
    return key


def _get_resolver(store: DynamoStore, model: str) -> Resolver:
    def resolve(_root: Any, _info: Any, id: str) -> dict[str, Any] | None:
        return store.get(model, id)

    return resolve


_KEY_OPERATORS = {"eq": "=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def _sort_key_text(index: Index, operand: Any, argument: str) -> str:
    """One operand of a key condition: a string, or for a composite key an object whose
    fields, in the key's order up to the first one left out, are joined with `#`."""
    if not index.composite:
        return operand
    parts = []
    for key_field in index.sort_key_fields:
        if operand.get(key_field) is None:
            break
        parts.append(str(operand[key_field]))
    if not parts:
        raise ApiError(
            "BadRequestException",
            f"{argument} needs at least {index.sort_key_fields[0]!r}, the key's first field",
        )
    return KEY_SEPARATOR.join(parts)


def _sort_condition(
    index: Index, condition: dict[str, Any] | None, placeholders: Placeholders
) -> str | None:
    argument = index.sort_argument
    if not condition:
        return None
    given = {op: v for op, v in condition.items() if v is not None}
    if len(given) != 1:
        raise ApiError(
            "BadRequestException",
            f"{argument} takes exactly one operator, got {', '.join(sorted(given)) or 'none'}",
        )
    [(op, operand)] = given.items()
    assert index.sort_key is not None and argument is not None
    name = placeholders.name(index.sort_key)
    if op == "between":
        if len(operand) != 2:
            raise ApiError("BadRequestException", f"{argument}.between takes two values")
        low, high = (_sort_key_text(index, v, argument) for v in operand)
        return f"{name} BETWEEN {placeholders.value(low)} AND {placeholders.value(high)}"
    value = placeholders.value(_sort_key_text(index, operand, argument))
    if op == "beginsWith":
        return f"begins_with({name}, {value})"
    return f"{name} {_KEY_OPERATORS[op]} {value}"


def _list_resolver(store: DynamoStore, model: str, index: Index) -> Resolver:
    def resolve(_root: Any, _info: Any, **args: Any) -> dict[str, Any]:
        limit = DEFAULT_LIMIT if args.get("limit") is None else args["limit"]
        if limit < 1:
            raise ApiError("BadRequestException", f"limit must be at least 1, got {limit}")
        placeholders = Placeholders()
        sort_condition = None
        if index.sort_argument is not None:
            sort_condition = _sort_condition(index, args.get(index.sort_argument), placeholders)
        items, last_key = store.query(
            model,
            index,
            args[index.hash_key],
            limit=limit,
            descending=args.get("sortDirection") == "DESC",
            sort_condition=sort_condition,
            filter_expression=build_expression(args.get("filter"), placeholders, "filter"),
            placeholders=placeholders,
            start_key=decode_next_token(args.get("nextToken")),
        )
        return {
            "items": [_public(model, i) for i in items],
            "nextToken": encode_next_token(last_key),
        }

    return resolve


def _public(model: str, item: dict[str, Any]) -> dict[str, Any]:
    """A stored item without the composite key attributes the resolvers add."""
    return {k: v for k, v in item.items() if KEY_SEPARATOR not in k}


def _with_condition(guard: str, condition: Any, placeholders: Placeholders) -> str:
    extra = build_expression(condition, placeholders, "condition")
    return guard if extra is None else f"{guard} AND {extra}"


def prepare_create(model: str, input: dict[str, Any]) -> dict[str, Any]:
    """What the real create resolver stores: `createdAt`/`updatedAt` defaulted, the
    composite-sort-key rule applied (CompositeKeyError), null fields left out."""
    now = now_iso()
    merged = {"createdAt": now, "updatedAt": now, **input}
    item = model_named(model).with_composite_keys(merged, "create")
    item = {k: v for k, v in item.items() if v is not None}
    if item.get("id") is None:
        item["id"] = new_id()
    return item


def _create_resolver(store: DynamoStore, model: str) -> Resolver:
    def resolve(_root: Any, _info: Any, input: dict[str, Any], condition: Any = None) -> Any:
        item = prepare_create(model, input)
        placeholders = Placeholders()
        guard = f"attribute_not_exists({placeholders.name('id')})"
        store.put(model, item, _with_condition(guard, condition, placeholders), placeholders)
        return _public(model, from_dynamo_value(item))

    return resolve


def _update_resolver(store: DynamoStore, model: str) -> Resolver:
    def resolve(_root: Any, _info: Any, input: dict[str, Any], condition: Any = None) -> Any:
        merged = {"updatedAt": now_iso(), **input}
        changes = model_named(model).with_composite_keys(merged, "update")
        item_id = changes.pop("id")
        placeholders = Placeholders()
        # AppSync's update is conditional on the item existing; without this, UpdateItem
        # would create a partial item.
        guard = f"attribute_exists({placeholders.name('id')})"
        updated = store.update(
            model, item_id, changes, _with_condition(guard, condition, placeholders), placeholders
        )
        return _public(model, updated)

    return resolve


def _resolver_for(store: DynamoStore, field_name: str) -> Resolver | None:
    models = load_models()
    for prefix, make in (
        ("get", _get_resolver),
        ("create", _create_resolver),
        ("update", _update_resolver),
    ):
        if field_name.startswith(prefix) and field_name[len(prefix) :] in models:
            return make(store, field_name[len(prefix) :])
    for model in models.values():
        for index in model.indexes:
            if index.query_field == field_name:
                return _list_resolver(store, model.name, index)
    return None


def _bind(store: DynamoStore, root: GraphQLObjectType | None) -> None:
    for field_name, field in (root.fields if root else {}).items():
        resolver = _resolver_for(store, field_name)
        if resolver is None:
            raise RuntimeError(f"schema field {field_name} ({field.type}) has no resolver")
        field.resolve = _translating(resolver)


def build_plexus_schema(store: DynamoStore) -> GraphQLSchema:
    schema = build_schema(SCHEMA_PATH.read_text(encoding="utf-8"))
    for name, output, input_value in (
        ("AWSJSON", json_output, json_input),
        ("AWSDateTime", str, datetime_input),
    ):
        scalar = schema.type_map[name]
        assert isinstance(scalar, GraphQLScalarType)
        _configure_scalar(scalar, output, input_value)
    _bind(store, schema.query_type)
    _bind(store, schema.mutation_type)
    return schema


# --- execution ---------------------------------------------------------------------------


def _format_error(error: GraphQLError) -> dict[str, Any]:
    original = error.original_error
    if isinstance(original, ApiError):
        error_type: str | None = original.error_type
    elif original is not None and not isinstance(original, GraphQLError):
        log.error("resolver failed at %s", error.path, exc_info=original)
        error_type = "InternalFailure"
    elif error.path is None:
        error_type = "ValidationError"
    else:
        error_type = None
    return {
        "path": error.path,
        "data": None,
        "errorType": error_type,
        "errorInfo": None,
        "locations": [
            {"line": loc.line, "column": loc.column, "sourceName": None}
            for loc in error.locations or ()
        ],
        "message": error.message,
    }


class BadRequest(ValueError):
    """The HTTP body is not a GraphQL request; the message says why."""


def execute(schema: GraphQLSchema, request: Any) -> dict[str, Any]:
    """Run one GraphQL request body (already JSON-decoded); AppSync's response shape."""
    if not isinstance(request, dict) or not isinstance(request.get("query"), str):
        raise BadRequest("the request body must be a JSON object with a string 'query'")
    variables = request.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise BadRequest("'variables' must be a JSON object")
    operation_name = request.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise BadRequest("'operationName' must be a string")
    result = graphql_sync(
        schema,
        request["query"],
        variable_values=variables,
        operation_name=operation_name,
    )
    response: dict[str, Any] = {"data": result.data}
    if result.errors:
        response["errors"] = [_format_error(e) for e in result.errors]
    return response


def root_fields(request: Any) -> tuple[str, ...]:
    """The root field names a request asks for (aliases ignored); () when unparsable."""
    if not isinstance(request, dict) or not isinstance(request.get("query"), str):
        return ()
    try:
        document = parse(request["query"])
    except GraphQLError:
        return ()
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    wanted = request.get("operationName")
    if wanted is not None:
        operations = [o for o in operations if o.name and o.name.value == wanted]
    if len(operations) != 1:
        return ()
    return tuple(
        s.name.value for s in operations[0].selection_set.selections if isinstance(s, FieldNode)
    )


__all__ = [
    "ApiError",
    "BadRequest",
    "build_plexus_schema",
    "datetime_input",
    "decode_next_token",
    "encode_next_token",
    "execute",
    "json_input",
    "json_output",
    "root_fields",
]
