"""schema.graphql, executable: resolvers over `DynamoStore` with AppSync's semantics and
AppSync's error shape.

Resolvers are bound by field name, following Amplify's naming: `getX(id)`,
`listXByY(y, filter, limit, nextToken, sortDirection)`, `createX(input, condition)` and
`updateX(input, condition)`, for the models in `dynamo_tables.MODELS`.
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
    MODELS,
    DynamoStore,
    Placeholders,
    from_dynamo_value,
    new_id,
    now_iso,
)

log = logging.getLogger(__name__)

SCHEMA_PATH = Path(__file__).with_name("schema.graphql")
DEFAULT_LIMIT = 100

Resolver = Callable[..., Any]


class ApiError(Exception):
    """A resolver error that reaches the client with AppSync's `errorType`."""

    def __init__(self, error_type: str, message: str) -> None:
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


def _list_resolver(store: DynamoStore, model: str, hash_key: str) -> Resolver:
    index = MODELS[model].index_on(hash_key)

    def resolve(_root: Any, _info: Any, **args: Any) -> dict[str, Any]:
        limit = DEFAULT_LIMIT if args.get("limit") is None else args["limit"]
        if limit < 1:
            raise ApiError("BadRequestException", f"limit must be at least 1, got {limit}")
        placeholders = Placeholders()
        items, last_key = store.query(
            model,
            index,
            args[hash_key],
            limit=limit,
            descending=args.get("sortDirection") == "DESC",
            filter_expression=build_expression(args.get("filter"), placeholders, "filter"),
            placeholders=placeholders,
            start_key=decode_next_token(args.get("nextToken")),
        )
        return {"items": items, "nextToken": encode_next_token(last_key)}

    return resolve


def _with_condition(guard: str, condition: Any, placeholders: Placeholders) -> str:
    extra = build_expression(condition, placeholders, "condition")
    return guard if extra is None else f"{guard} AND {extra}"


def _create_resolver(store: DynamoStore, model: str) -> Resolver:
    def resolve(_root: Any, _info: Any, input: dict[str, Any], condition: Any = None) -> Any:
        item = {k: v for k, v in input.items() if v is not None}
        if item.get("id") is None:
            item["id"] = new_id()
        item["createdAt"] = item["updatedAt"] = now_iso()
        placeholders = Placeholders()
        guard = f"attribute_not_exists({placeholders.name('id')})"
        store.put(model, item, _with_condition(guard, condition, placeholders), placeholders)
        return from_dynamo_value(item)

    return resolve


def _update_resolver(store: DynamoStore, model: str) -> Resolver:
    def resolve(_root: Any, _info: Any, input: dict[str, Any], condition: Any = None) -> Any:
        changes = dict(input)
        item_id = changes.pop("id")
        changes["updatedAt"] = now_iso()
        placeholders = Placeholders()
        # AppSync's update is conditional on the item existing; without this, UpdateItem
        # would create a partial item.
        guard = f"attribute_exists({placeholders.name('id')})"
        return store.update(
            model, item_id, changes, _with_condition(guard, condition, placeholders), placeholders
        )

    return resolve


_FIELD_PATTERNS: list[tuple[re.Pattern[str], Callable[[DynamoStore, re.Match[str]], Resolver]]] = [
    (re.compile(r"get(\w+)"), lambda s, m: _get_resolver(s, m[1])),
    (
        re.compile(r"list(\w+?)By(\w+)"),
        lambda s, m: _list_resolver(s, m[1], m[2][0].lower() + m[2][1:]),
    ),
    (re.compile(r"create(\w+)"), lambda s, m: _create_resolver(s, m[1])),
    (re.compile(r"update(\w+)"), lambda s, m: _update_resolver(s, m[1])),
]


def _bind(store: DynamoStore, root: GraphQLObjectType | None) -> None:
    for field_name, field in (root.fields if root else {}).items():
        for pattern, make in _FIELD_PATTERNS:
            match = pattern.fullmatch(field_name)
            if match and match[1] in MODELS:
                field.resolve = _translating(make(store, match))
                break
        else:
            raise RuntimeError(f"schema field {field_name} ({field.type}) has no resolver")


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
