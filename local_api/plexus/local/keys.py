"""A list query's key: the sort-key condition of its arguments and its page tokens.

A composite sort key's condition is an object of the key's fields (`{type, scoreId}`),
compared as their values joined with `#` up to the first one left out, as Amplify stores
the key. A page token is DynamoDB's LastEvaluatedKey (typed attribute values), base64'd;
both backends produce the same keys, so a token means the same to each.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from plexus.local.conditions import Condition, Placeholders
from plexus.local.errors import ApiError
from plexus.local.models import KEY_SEPARATOR, Index

_KEY_OPERATORS = {"eq": "=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


@dataclass(frozen=True)
class SortCondition:
    attribute: str  # the index's sort-key attribute (`a#b` for a composite key)
    op: str  # eq, lt, le, gt, ge, beginsWith or between
    values: tuple[str, ...]  # one, two for between

    def expression(self, ph: Placeholders) -> str:
        name = ph.name(self.attribute)
        if self.op == "between":
            low, high = self.values
            return f"{name} BETWEEN {ph.value(low)} AND {ph.value(high)}"
        value = ph.value(self.values[0])
        if self.op == "beginsWith":
            return f"begins_with({name}, {value})"
        return f"{name} {_KEY_OPERATORS[self.op]} {value}"

    def holds(self, key: str) -> bool:
        first = self.values[0]
        match self.op:
            case "between":
                return first <= key <= self.values[1]
            case "beginsWith":
                return key.startswith(first)
            case "eq":
                return key == first
            case "lt":
                return key < first
            case "le":
                return key <= first
            case "gt":
                return key > first
            case _:
                return key >= first


@dataclass(frozen=True)
class PageQuery:
    """One page of a list query, as a store reads it."""

    hash_value: Any
    sort: SortCondition | None
    filter: Condition | None
    limit: int
    descending: bool
    start_key: dict[str, Any] | None  # the previous page's LastEvaluatedKey


def sort_condition(index: Index, condition: Mapping[str, Any] | None) -> SortCondition | None:
    """The list query's sort-key argument (`createdAt: {ge: ...}`) for `index`."""
    argument = index.sort_argument
    if not condition or argument is None or index.sort_key is None:
        return None
    given = {op: v for op, v in condition.items() if v is not None}
    if len(given) != 1:
        raise ApiError(
            "BadRequestException",
            f"{argument} takes exactly one operator, got {', '.join(sorted(given)) or 'none'}",
        )
    [(op, operand)] = given.items()
    if op == "between":
        if len(operand) != 2:
            raise ApiError("BadRequestException", f"{argument}.between takes two values")
        values = tuple(_key_text(index, v, argument) for v in operand)
    else:
        values = (_key_text(index, operand, argument),)
    return SortCondition(index.sort_key, op, values)


def _key_text(index: Index, operand: Any, argument: str) -> str:
    if not index.composite:
        return str(operand)
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
