"""The benchmarks' executor: the emulator's own resolvers (graphql_api.py), without
graphql-core's per-request execution machinery.

graphql-core spends about 0.8 ms a request coercing variables and completing values, as
much as the worker under load spends on a request; a benchmark would measure that. Here a
document is parsed, validated against the schema and compiled once (its root fields, their
argument nodes, its selections with each field's type); a request then calls the bound
resolvers and projects their answers onto the selections. What this leaves out, and the
tests' path (`execute`) keeps: the coercion of variables (an AWSJSON input is stored as the
JSON string it came as, and answered as it is), and the non-null checks of the answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    VariableNode,
    get_named_type,
    value_from_ast_untyped,
)

from plexus.local.errors import ApiError, BadRequest
from plexus.local.graphql_api import format_error, json_output, validated_document


@dataclass(frozen=True)
class _Field:
    key: str  # alias or name
    name: str
    typename: str  # the named type of the field's value
    is_json: bool
    selection: tuple[_Field, ...] | None


@dataclass(frozen=True)
class _Root:
    field: _Field
    resolve: Callable[..., Any]
    arguments: tuple[tuple[str, Any], ...]  # (name, value node)
    location: dict[str, Any]


@dataclass(frozen=True)
class _Plan:
    roots: tuple[_Root, ...]
    defaults: dict[str, Any]


def _fields(parent: GraphQLObjectType, node: Any) -> tuple[_Field, ...] | None:
    if node is None:
        return None
    fields = []
    for selection in node.selections:
        if not isinstance(selection, FieldNode):
            raise GraphQLError("the benchmarks' executor takes no fragments; spell fields out")
        name = selection.name.value
        key = (selection.alias or selection.name).value
        if name == "__typename":
            fields.append(_Field(key, name, parent.name, False, None))
            continue
        named = get_named_type(parent.fields[name].type)
        sub = (
            _fields(named, selection.selection_set)
            if isinstance(named, GraphQLObjectType)
            else None
        )
        fields.append(_Field(key, name, named.name, named.name == "AWSJSON", sub))
    return tuple(fields)


@lru_cache(maxsize=512)
def _plan(schema: GraphQLSchema, query: str, operation_name: str | None) -> _Plan:
    document, errors = validated_document(schema, query)
    if errors:
        raise errors[0]
    assert document is not None
    operations = [
        d
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode)
        and (operation_name is None or (d.name is not None and d.name.value == operation_name))
    ]
    if len(operations) != 1:
        raise GraphQLError("the request must name exactly one operation")
    operation = operations[0]
    root_type = schema.mutation_type if operation.operation.value == "mutation" else None
    root_type = root_type or schema.query_type
    assert root_type is not None
    roots = []
    for node in operation.selection_set.selections:
        if not isinstance(node, FieldNode):
            raise GraphQLError("the benchmarks' executor takes no fragments; spell fields out")
        [field] = _fields(root_type, _Selection((node,))) or ()
        resolve = root_type.fields[node.name.value].resolve
        assert resolve is not None
        location = node.loc.source.get_location(node.loc.start) if node.loc else None
        roots.append(
            _Root(
                field,
                resolve,
                tuple((a.name.value, a.value) for a in node.arguments),
                {"line": location.line, "column": location.column, "sourceName": None}
                if location
                else {},
            )
        )
    defaults = {
        v.variable.name.value: value_from_ast_untyped(v.default_value)
        for v in operation.variable_definitions or ()
        if v.default_value is not None
    }
    return _Plan(tuple(roots), defaults)


@dataclass(frozen=True)
class _Selection:
    selections: tuple[FieldNode, ...]


def _project(value: Any, field: _Field) -> Any:
    if value is None:
        return None
    if isinstance(value, list):
        return [_project(v, field) for v in value]
    if field.selection is None:
        return json_output(value) if field.is_json and not isinstance(value, str) else value
    out = {}
    for sub in field.selection:
        if sub.name == "__typename":
            out[sub.key] = field.typename
        else:
            out[sub.key] = _project(value.get(sub.name), sub)
    return out


def fast_execute(schema: GraphQLSchema, request: Any) -> dict[str, Any]:
    """`graphql_api.execute` for the benchmarks: the same answers to well-formed requests."""
    if not isinstance(request, dict) or not isinstance(request.get("query"), str):
        raise BadRequest("the request body must be a JSON object with a string 'query'")
    try:
        plan = _plan(schema, request["query"], request.get("operationName"))
    except GraphQLError as exc:
        return {"data": None, "errors": [format_error(exc)]}
    variables = {**plan.defaults, **(request.get("variables") or {})}
    data: dict[str, Any] = {}
    errors = []
    for root in plan.roots:
        args = {
            name: variables.get(node.name.value)
            if isinstance(node, VariableNode)
            else value_from_ast_untyped(node, variables)
            for name, node in root.arguments
        }
        try:
            value = root.resolve(None, None, **args)
        except ApiError as exc:
            data[root.field.key] = None
            errors.append(
                {
                    "path": [root.field.key],
                    "data": None,
                    "errorType": exc.error_type,
                    "errorInfo": None,
                    "locations": [root.location] if root.location else [],
                    "message": exc.message,
                }
            )
            continue
        data[root.field.key] = _project(value, root.field)
    response: dict[str, Any] = {"data": data}
    if errors:
        response["errors"] = errors
    return response
