"""A Plexus API stand-in built for load: the GraphQL documents the worker sends, answered
from dicts in memory, in a process of its own, each answer delayed by a set latency
(AppSync's, about 30 ms, by default).

What it keeps of the real API (AppSync over DynamoDB), because the worker can tell:
- the documents: each distinct query text is parsed once with graphql-core and validated
  once against `plexus/local/schema.graphql`; then only its root fields, arguments and
  selection sets are used. The answer carries exactly the fields selected.
- conditional writes are atomic: one event loop, and no `await` between a condition's check
  and its write, so two claims of one job get one winner, as DynamoDB gives.
  `updateX` is conditional on the item existing, `createX` on it not existing; a failed
  condition is AppSync's `DynamoDB:ConditionalCheckFailedException`.
- list queries by index (`listXByY...`, named as the real schema's `queryField`s): `limit`
  (default 100) applies before `filter`; a page that reached its limit carries a
  `nextToken`, even when nothing follows, as DynamoDB's LastEvaluatedKey does; sort-key
  conditions, composite ones included (`typeScoreIdUpdatedAt: {beginsWith: {type, scoreId}}`),
  compare the `#`-joined key, as Amplify stores it; `sortDirection: DESC` reverses.
- `x-api-key` with AppSync's 401 body.

What it leaves out, since the tests' emulator (plexus/local/api_server.py) checks it: the
coercion of each request's variables against the schema, AWSJSON parsing (JSON strings are
stored and returned as they came), the schema's types in answers, and the resolvers' refusal
of a write that carries only part of a composite sort key.

A root field with no resolver here fails loudly: the answer is an error naming it, the
stand-in prints it on stderr, and `/_stats` lists it under `unserved`.

Filters and conditions use Amplify's input language, the one plexus/local/conditions.py
turns into DynamoDB expressions; that module builds expression strings for moto, so this one
evaluates the same inputs on dicts instead.

    PLEXUS_API_KEY=... python bench/lean_api.py [--latency 0.03] [--port 0]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import uuid
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _lean_server import LeanServer, Request, Response, serve
from graphql import (
    FieldNode,
    GraphQLError,
    OperationDefinitionNode,
    VariableNode,
    build_schema,
    parse,
    validate,
    value_from_ast_untyped,
)

SCHEMA_PATH = (
    Path(__file__).resolve().parents[1] / "local_api" / "plexus" / "local" / "schema.graphql"
)
DEFAULT_LIMIT = 100
UNAUTHORIZED = {
    "errors": [
        {
            "errorType": "UnauthorizedException",
            "message": "You are not authorized to make this call.",
        }
    ]
}

# Every list query the stand-in serves: queryField -> (model, hash key, sort key fields,
# the argument that carries the sort-key condition). From plexus-api/model-schema.graphql's
# @index directives.
INDEXES: dict[str, tuple[str, str, tuple[str, ...], str | None]] = {
    "listAccountByKey": ("Account", "key", (), None),
    "listScoringJobByAccountId": ("ScoringJob", "accountId", (), None),
    "listScoringJobByAccountIdAndCreatedAt": (
        "ScoringJob",
        "accountId",
        ("createdAt",),
        "createdAt",
    ),
    "listScoreResultByItemId": ("ScoreResult", "itemId", (), None),
    "listScoreResultByScoringJobId": ("ScoreResult", "scoringJobId", (), None),
    "listScoreResultByItemIdAndScorecardIdAndScoreId": (
        "ScoreResult",
        "itemId",
        ("scorecardId", "scoreId"),
        "scorecardIdScoreId",
    ),
    "listScoreResultByItemIdAndTypeAndScoreIdAndUpdatedAt": (
        "ScoreResult",
        "itemId",
        ("type", "scoreId", "updatedAt"),
        "typeScoreIdUpdatedAt",
    ),
}
MODELS = ("Account", "Scorecard", "Score", "ScoreVersion", "Item", "ScoringJob", "ScoreResult")


class ApiError(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


def condition_failed() -> ApiError:
    return ApiError(
        "DynamoDB:ConditionalCheckFailedException",
        "The conditional request failed (Service: DynamoDb, Status Code: 400, "
        f"Request ID: {uuid.uuid4().hex.upper()[:32]})",
    )


def now_iso() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


# --- Amplify conditions and filters, on dicts ----------------------------------------------

_MISSING = object()


def _compare(op: str, value: Any, operand: Any) -> bool:
    if op == "attributeExists":
        return (value is not _MISSING) == bool(operand)
    if value is _MISSING or value is None:
        return op == "ne"  # DynamoDB: a comparison with an absent attribute is false
    try:
        if op == "eq":
            return value == operand
        if op == "ne":
            return value != operand
        if op == "lt":
            return value < operand
        if op == "le":
            return value <= operand
        if op == "gt":
            return value > operand
        if op == "ge":
            return value >= operand
        if op == "beginsWith":
            return isinstance(value, str) and value.startswith(operand)
        if op == "between":
            return operand[0] <= value <= operand[1]
        if op == "contains":
            return operand in value
        if op == "notContains":
            return operand not in value
    except TypeError:
        return False  # DynamoDB compares values of one type only
    raise ApiError("BadRequestException", f"unsupported operator {op!r}")


def matches(record: Mapping[str, Any], condition: Mapping[str, Any] | None) -> bool:
    """Amplify's semantics: an object's entries are ANDed; `and`/`or` take lists."""
    if not condition:
        return True
    for key, value in condition.items():
        if key == "and":
            if not all(matches(record, c) for c in value):
                return False
        elif key == "or":
            if not any(matches(record, c) for c in value):
                return False
        elif key == "not":
            if matches(record, value):
                return False
        else:
            field_value = record.get(key, _MISSING)
            if not all(_compare(op, field_value, operand) for op, operand in value.items()):
                return False
    return True


# --- the store ------------------------------------------------------------------------------


class Store:
    """Records by model and id; list queries read them through their index's hash key."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, dict[str, Any]]] = {m: {} for m in MODELS}
        # (model, hash key) -> hash value -> {id: record}
        self.buckets: dict[tuple[str, str], dict[Any, dict[str, dict[str, Any]]]] = {}
        for model, hash_key, _, _ in INDEXES.values():
            self.buckets.setdefault((model, hash_key), {})

    def _table(self, model: str) -> dict[str, dict[str, Any]]:
        try:
            return self.records[model]
        except KeyError:
            raise ApiError("BadRequestException", f"no model {model!r}") from None

    def _index(self, model: str, record: dict[str, Any], add: bool) -> None:
        for (indexed, hash_key), buckets in self.buckets.items():
            if indexed == model and hash_key in record:
                bucket = buckets.setdefault(record[hash_key], {})
                if add:
                    bucket[record["id"]] = record
                else:
                    bucket.pop(record["id"], None)

    def put(self, model: str, record: dict[str, Any]) -> dict[str, Any]:
        table = self._table(model)
        old = table.get(record["id"])
        if old is not None:
            self._index(model, old, add=False)
        table[record["id"]] = record
        self._index(model, record, add=True)
        return record

    def get(self, model: str, id: str) -> dict[str, Any] | None:
        return self._table(model).get(id)

    def create(self, model: str, fields: dict[str, Any], condition: Any) -> dict[str, Any]:
        record = {k: v for k, v in fields.items() if v is not None}
        record.setdefault("id", str(uuid.uuid4()))
        now = now_iso()
        record.setdefault("createdAt", now)
        record.setdefault("updatedAt", now)
        if record["id"] in self._table(model) or not matches({}, condition):
            raise condition_failed()
        return self.put(model, record)

    def update(self, model: str, fields: dict[str, Any], condition: Any) -> dict[str, Any]:
        changes = dict(fields)
        record_id = changes.pop("id", None)
        if record_id is None:
            raise ApiError("BadRequestException", f"update{model}: input.id is required")
        old = self._table(model).get(record_id)
        if old is None or not matches(old, condition):
            raise condition_failed()
        record = dict(old)
        for key, value in changes.items():
            if value is None:
                record.pop(key, None)
            else:
                record[key] = value
        record["updatedAt"] = now_iso()
        return self.put(model, record)

    def query(self, query_field: str, args: dict[str, Any]) -> dict[str, Any]:
        model, hash_key, sort_fields, key_arg = INDEXES[query_field]
        if args.get(hash_key) is None:
            raise ApiError("BadRequestException", f"{query_field}: {hash_key} is required")
        limit = DEFAULT_LIMIT if args.get("limit") is None else int(args["limit"])
        if limit < 1:
            raise ApiError("BadRequestException", f"limit must be at least 1, got {limit}")
        bucket = self.buckets[(model, hash_key)].get(args[hash_key], {})
        # (sort key, id) per record that the index holds: GSIs are sparse.
        keyed = []
        for record in bucket.values():
            parts = [record.get(f) for f in sort_fields]
            if None not in parts:
                keyed.append(("#".join(str(p) for p in parts), record["id"], record))
        keyed.sort(key=lambda k: (k[0], k[1]))
        descending = args.get("sortDirection") == "DESC"
        if descending:
            keyed.reverse()
        if key_arg and args.get(key_arg):
            keyed = [k for k in keyed if _key_matches(k[0], args[key_arg], sort_fields)]
        start = 0
        token = args.get("nextToken")
        if token:
            last = _decode_token(token)
            positions = [(k[0], k[1]) for k in keyed]
            if descending:
                start = next((i for i, p in enumerate(positions) if p < last), len(positions))
            else:
                start = bisect_right(positions, last)
        window = keyed[start : start + limit]
        items = [r for _, _, r in window if matches(r, args.get("filter"))]
        next_token = None
        if len(window) == limit:
            next_token = _encode_token((window[-1][0], window[-1][1]))
        return {"items": items, "nextToken": next_token}


def _key_value(value: Any, sort_fields: tuple[str, ...]) -> str:
    """A sort-key operand: a plain value, or a composite key's fields in the index's order."""
    if isinstance(value, Mapping):
        parts = []
        for name in sort_fields:
            if name not in value:
                break  # a prefix of the composite key
            parts.append(str(value[name]))
        return "#".join(parts)
    return str(value)


def _key_matches(key: str, condition: Mapping[str, Any], sort_fields: tuple[str, ...]) -> bool:
    for op, operand in condition.items():
        if op == "between":
            low, high = (_key_value(v, sort_fields) for v in operand)
            if not low <= key <= high:
                return False
            continue
        value = _key_value(operand, sort_fields)
        if op == "beginsWith":
            ok = key.startswith(value)
        elif op in ("eq", "lt", "le", "gt", "ge"):
            ok = _compare(op, key, value)
        else:
            raise ApiError("BadRequestException", f"unsupported sort-key operator {op!r}")
        if not ok:
            return False
    return True


def _encode_token(last: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(last).encode()).decode()


def _decode_token(token: str) -> tuple[str, str]:
    try:
        key, record_id = json.loads(base64.urlsafe_b64decode(token.encode()))
        return str(key), str(record_id)
    except (ValueError, TypeError):
        raise ApiError("BadRequestException", "Invalid nextToken") from None


# --- resolvers: one per root field name ----------------------------------------------------

Resolver = Callable[[Store, dict[str, Any]], Any]


def _resolvers() -> dict[str, Resolver]:
    table: dict[str, Resolver] = {}
    for model in MODELS:
        table[f"get{model}"] = lambda s, a, m=model: s.get(m, a["id"])
        if model in ("ScoringJob", "ScoreResult"):
            table[f"create{model}"] = lambda s, a, m=model: s.create(
                m, a["input"], a.get("condition")
            )
            table[f"update{model}"] = lambda s, a, m=model: s.update(
                m, a["input"], a.get("condition")
            )
    for query_field in INDEXES:
        table[query_field] = lambda s, a, q=query_field: s.query(q, a)
    return table


RESOLVERS = _resolvers()


# --- documents: parsed and validated once ---------------------------------------------------

Selection = list[tuple[str, str, "Selection | None"]]  # (response key, field name, sub-selection)


@dataclass
class RootField:
    key: str  # alias or name
    name: str
    args: list[tuple[str, Any]]  # (name, value node)
    selection: Selection | None
    location: dict[str, Any]


def _selection(node: Any) -> Selection | None:
    if node is None:
        return None
    fields: Selection = []
    for s in node.selections:
        if not isinstance(s, FieldNode):
            raise GraphQLError("the lean API serves no fragments; spell the fields out")
        fields.append(((s.alias or s.name).value, s.name.value, _selection(s.selection_set)))
    return fields


def _project(value: Any, selection: Selection | None, typename: str) -> Any:
    if selection is None or value is None:
        return value
    if isinstance(value, list):
        return [_project(v, selection, typename) for v in value]
    out = {}
    for key, name, sub in selection:
        if name == "__typename":
            out[key] = typename
        else:
            out[key] = _project(value.get(name), sub, typename)
    return out


class Documents:
    """Each distinct query text, parsed and validated on first sight."""

    def __init__(self) -> None:
        self.schema = build_schema(SCHEMA_PATH.read_text(encoding="utf-8"))
        self._cache: dict[tuple[str, str | None], tuple[list[RootField], dict[str, Any]]] = {}

    def get(self, query: str, operation_name: str | None) -> tuple[list[RootField], dict[str, Any]]:
        key = (query, operation_name)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = self._compile(query, operation_name)
        return cached

    def _compile(
        self, query: str, operation_name: str | None
    ) -> tuple[list[RootField], dict[str, Any]]:
        document = parse(query)
        errors = validate(self.schema, document)
        if errors:
            raise errors[0]
        operations = [
            d
            for d in document.definitions
            if isinstance(d, OperationDefinitionNode)
            and (operation_name is None or (d.name and d.name.value == operation_name))
        ]
        if len(operations) != 1:
            raise GraphQLError("the request must name exactly one operation")
        operation = operations[0]
        defaults = {
            v.variable.name.value: value_from_ast_untyped(v.default_value)
            for v in operation.variable_definitions or ()
            if v.default_value is not None
        }
        fields = []
        for s in operation.selection_set.selections:
            if not isinstance(s, FieldNode):
                raise GraphQLError("the lean API serves no fragments; spell the fields out")
            location = s.loc.source.get_location(s.loc.start) if s.loc else None
            fields.append(
                RootField(
                    (s.alias or s.name).value,
                    s.name.value,
                    [(a.name.value, a.value) for a in s.arguments],
                    _selection(s.selection_set),
                    {"line": location.line, "column": location.column, "sourceName": None}
                    if location
                    else {},
                )
            )
        return fields, defaults


def _arguments(field: RootField, variables: dict[str, Any]) -> dict[str, Any]:
    args = {}
    for name, node in field.args:
        if isinstance(node, VariableNode):
            args[name] = variables.get(node.name.value)
        else:
            args[name] = value_from_ast_untyped(node, variables)
    return args


def _typename(field_name: str) -> str:
    for prefix in ("get", "create", "update"):
        if field_name.startswith(prefix):
            return field_name[len(prefix) :]
    if field_name in INDEXES:
        return f"Model{INDEXES[field_name][0]}Connection"
    return field_name


class LeanApi:
    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.store = Store()
        self.documents = Documents()
        self.operations: Counter[str] = Counter()
        self.unserved: Counter[str] = Counter()

    def stats(self) -> dict[str, Any]:
        return {
            "operations": dict(self.operations),
            "unserved": dict(self.unserved),
            "documents": len(self.documents._cache),
        }

    def reset(self) -> None:
        self.operations.clear()
        self.unserved.clear()

    async def handle(self, request: Request) -> Response:
        if request.path != "/graphql":
            return Response.of_json(404, {"errors": [{"message": f"no path {request.path}"}]})
        if request.headers.get("x-api-key") != self.api_key:
            return Response.of_json(401, UNAUTHORIZED)
        return Response.of_json(200, self.execute(request.json()))

    def seed(self, request: Request) -> Response:
        """`/_seed`, `{model: [record, ...]}`: written as they are (ids and timestamps
        filled in when absent), for the models the schema subset cannot create."""
        count = 0
        for model, records in (request.json() or {}).items():
            for record in records:
                now = now_iso()
                self.store.put(
                    model,
                    {"id": str(uuid.uuid4()), "createdAt": now, "updatedAt": now, **record},
                )
                count += 1
        return Response.of_json(200, {"seeded": count})

    def execute(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return _errors("BadRequestException", "the body must be a JSON object with a 'query'")
        try:
            fields, defaults = self.documents.get(body["query"], body.get("operationName"))
        except GraphQLError as exc:
            return _errors("ValidationError", exc.message)
        variables = {**defaults, **(body.get("variables") or {})}
        self.operations[" + ".join(f.name for f in fields)] += 1
        data: dict[str, Any] = {}
        errors = []
        for field in fields:
            resolver = RESOLVERS.get(field.name)
            if resolver is None:
                self.unserved[field.name] += 1
                message = (
                    f"the lean API stand-in (bench/lean_api.py) serves no root field "
                    f"{field.name!r}; add a resolver for it"
                )
                print(message, file=sys.stderr, flush=True)
                data[field.key] = None
                errors.append(_error(field, "UnservedRootField", message))
                continue
            try:
                value = resolver(self.store, _arguments(field, variables))
            except ApiError as exc:
                data[field.key] = None
                errors.append(_error(field, exc.error_type, exc.message))
                continue
            data[field.key] = _project(value, field.selection, _typename(field.name))
        response: dict[str, Any] = {"data": data}
        if errors:
            response["errors"] = errors
        return response


def _error(field: RootField, error_type: str, message: str) -> dict[str, Any]:
    return {
        "path": [field.key],
        "data": None,
        "errorType": error_type,
        "errorInfo": None,
        "locations": [field.location] if field.location else [],
        "message": message,
    }


def _errors(error_type: str, message: str) -> dict[str, Any]:
    return {"data": None, "errors": [{"errorType": error_type, "message": message}]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.03, help="seconds per answer")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    # From the environment, not argv: other users can read a process's arguments.
    api = LeanApi(os.environ["PLEXUS_API_KEY"])
    server = LeanServer(api.handle, args.latency)
    server.extra_stats = api.stats
    server.reset_hook = api.reset
    server.control_paths["/_seed"] = api.seed
    serve(server, args.port)


if __name__ == "__main__":
    main()
