"""schema.graphql, executable: resolvers over `DynamoStore` with AppSync's semantics and
AppSync's error shape.

Resolvers are bound by field name, following Amplify's naming: `getX(id)`,
`createX(input, condition)` and `updateX(input, condition)` for the models of
`models.graphql`, and each @index's `queryField(hashKey, sortKeyArgument, sortDirection,
filter, limit, nextToken)`. Create and update apply the real resolvers' composite-sort-key
rule, derived from the same declarations (plexus/local/models.py).
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    OperationDefinitionNode,
    StringValueNode,
    build_schema,
    execute_sync,
    parse,
    validate,
)
from graphql.language import DocumentNode, FieldNode

from plexus.core.timestamps import utc_iso
from plexus.local import conditions
from plexus.local.dynamo_tables import from_dynamo_value
from plexus.local.errors import (
    ApiError,
    BadRequest,
    CompositeKeyError,
    ConditionFailed,
    InvalidConditionError,
    condition_failed_error,
)
from plexus.local.keys import PageQuery, decode_next_token, encode_next_token, sort_condition
from plexus.local.models import KEY_SEPARATOR, Index, load_models, model_named
from plexus.local.store import Store

log = logging.getLogger(__name__)

SCHEMA_PATH = Path(__file__).with_name("schema.graphql")
DEFAULT_LIMIT = 100

Resolver = Callable[..., Any]


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
        except ConditionFailed as exc:
            raise condition_failed_error(exc) from None
        except InvalidConditionError as exc:
            raise ApiError("BadRequestException", str(exc)) from None
        except CompositeKeyError as exc:
            # The VTL raises it with $util.error(message), which sets no errorType.
            raise ApiError(None, str(exc)) from None

    return resolve


def _get_resolver(store: Store, model: str) -> Resolver:
    def resolve(_root: Any, _info: Any, id: str) -> dict[str, Any] | None:
        item = store.get(model, id)
        return None if item is None else public(item)

    return resolve


def _list_resolver(store: Store, model: str, index: Index) -> Resolver:
    def resolve(_root: Any, _info: Any, **args: Any) -> dict[str, Any]:
        limit = DEFAULT_LIMIT if args.get("limit") is None else args["limit"]
        if limit < 1:
            raise ApiError("BadRequestException", f"limit must be at least 1, got {limit}")
        sort = None
        if index.sort_argument is not None:
            sort = sort_condition(index, args.get(index.sort_argument))
        page = PageQuery(
            hash_value=args[index.hash_key],
            sort=sort,
            filter=conditions.parse(args.get("filter"), "filter"),
            limit=limit,
            descending=args.get("sortDirection") == "DESC",
            start_key=decode_next_token(args.get("nextToken")),
        )
        items, last_key = store.query(model, index, page)
        return {"items": [public(i) for i in items], "nextToken": encode_next_token(last_key)}

    return resolve


def public(item: dict[str, Any]) -> dict[str, Any]:
    """A stored item without the composite key attributes the resolvers add."""
    return {k: v for k, v in item.items() if KEY_SEPARATOR not in k}


def prepare_create(model: str, input: dict[str, Any]) -> dict[str, Any]:
    """What the real create resolver stores: `createdAt`/`updatedAt` defaulted, the
    composite-sort-key rule applied (CompositeKeyError), null fields left out."""
    now = utc_iso()
    merged = {"createdAt": now, "updatedAt": now, **input}
    item = model_named(model).with_composite_keys(merged, "create")
    item = {k: v for k, v in item.items() if v is not None}
    if item.get("id") is None:
        item["id"] = str(uuid.uuid4())
    return item


def _create_resolver(store: Store, model: str) -> Resolver:
    def resolve(_root: Any, _info: Any, input: dict[str, Any], condition: Any = None) -> Any:
        item = prepare_create(model, input)
        store.create(model, item, conditions.parse(condition, "condition"))
        return public(from_dynamo_value(item))

    return resolve


def _update_resolver(store: Store, model: str) -> Resolver:
    def resolve(_root: Any, _info: Any, input: dict[str, Any], condition: Any = None) -> Any:
        merged = {"updatedAt": utc_iso(), **input}
        changes = model_named(model).with_composite_keys(merged, "update")
        item_id = changes.pop("id")
        parsed = conditions.parse(condition, "condition")
        return public(store.update(model, item_id, changes, parsed))

    return resolve


def _resolver_for(store: Store, field_name: str) -> Resolver | None:
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


def _bind(store: Store, root: GraphQLObjectType | None) -> None:
    for field_name, field in (root.fields if root else {}).items():
        resolver = _resolver_for(store, field_name)
        if resolver is None:
            raise RuntimeError(f"schema field {field_name} ({field.type}) has no resolver")
        field.resolve = _translating(resolver)


def build_plexus_schema(store: Store) -> GraphQLSchema:
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


def format_error(error: GraphQLError) -> dict[str, Any]:
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


@lru_cache(maxsize=512)
def validated_document(
    schema: GraphQLSchema, query: str
) -> tuple[DocumentNode | None, tuple[GraphQLError, ...]]:
    """A query text parsed and validated once: clients send few distinct documents."""
    try:
        document = parse(query)
    except GraphQLError as exc:
        return None, (exc,)
    return document, tuple(validate(schema, document))


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
    document, errors = validated_document(schema, request["query"])
    if errors:
        return {"data": None, "errors": [format_error(e) for e in errors]}
    assert document is not None
    result = execute_sync(
        schema, document, variable_values=variables, operation_name=operation_name
    )
    response: dict[str, Any] = {"data": result.data}
    if result.errors:
        response["errors"] = [format_error(e) for e in result.errors]
    return response


@lru_cache(maxsize=512)
def _parsed(query: str) -> DocumentNode | None:
    try:
        return parse(query)
    except GraphQLError:
        return None


def root_fields(request: Any) -> tuple[str, ...]:
    """The root field names a request asks for (aliases ignored); () when unparsable."""
    if not isinstance(request, dict) or not isinstance(request.get("query"), str):
        return ()
    document = _parsed(request["query"])
    if document is None:
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
    "execute",
    "json_input",
    "json_output",
    "root_fields",
]
