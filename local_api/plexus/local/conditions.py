"""Amplify condition and filter inputs -> DynamoDB condition expressions.

`{status: {eq: "PENDING"}, or: [{...}, {...}], not: {...}}`: the entries of one object
are ANDed, as Amplify does; `and`/`or` take lists, `not` takes one object.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from plexus.local.dynamo_tables import Placeholders

COMPARISONS = {"eq": "=", "ne": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
# ModelAttributeTypes -> DynamoDB's attribute_type codes.
ATTRIBUTE_TYPES = {
    "binary": "B",
    "binarySet": "BS",
    "bool": "BOOL",
    "list": "L",
    "map": "M",
    "number": "N",
    "numberSet": "NS",
    "string": "S",
    "stringSet": "SS",
    "_null": "NULL",
}


class InvalidConditionError(ValueError):
    """The condition or filter cannot be expressed; the message names where."""


def build_expression(
    condition: Mapping[str, Any] | None, placeholders: Placeholders, where: str
) -> str | None:
    """The expression for `condition`, or None when it is absent or `{}`."""
    if not condition:
        return None
    return _object(condition, placeholders, where)


def _object(condition: Mapping[str, Any], ph: Placeholders, where: str) -> str:
    if not isinstance(condition, Mapping):
        raise InvalidConditionError(f"{where} must be an object")
    parts: list[str] = []
    for key, value in condition.items():
        path = f"{where}.{key}"
        if value is None:
            raise InvalidConditionError(f"{path} is null; leave it out instead")
        if key in ("and", "or"):
            if not value:
                raise InvalidConditionError(f"{path} is an empty list")
            joiner = " AND " if key == "and" else " OR "
            subs = [_object(sub, ph, f"{path}[{i}]") for i, sub in enumerate(value)]
            parts.append("(" + joiner.join(subs) + ")")
        elif key == "not":
            parts.append(f"(NOT {_object(value, ph, path)})")
        else:
            parts.extend(_field(key, value, ph, path))
    if not parts:
        raise InvalidConditionError(f"{where} is empty")
    return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"


def _field(attribute: str, operators: Mapping[str, Any], ph: Placeholders, where: str) -> list[str]:
    if not operators:
        raise InvalidConditionError(f"{where} has no operator")
    name = ph.name(attribute)
    parts = []
    for op, operand in operators.items():
        path = f"{where}.{op}"
        if operand is None:
            raise InvalidConditionError(f"{path} is null; leave it out instead")
        if op in COMPARISONS:
            parts.append(f"{name} {COMPARISONS[op]} {ph.value(operand)}")
        elif op == "beginsWith":
            parts.append(f"begins_with({name}, {ph.value(operand)})")
        elif op == "contains":
            parts.append(f"contains({name}, {ph.value(operand)})")
        elif op == "notContains":
            parts.append(f"(NOT contains({name}, {ph.value(operand)}))")
        elif op == "between":
            parts.append(_between(name, operand, ph, path))
        elif op == "attributeType":
            parts.append(f"attribute_type({name}, {ph.value(ATTRIBUTE_TYPES[operand])})")
        elif op == "size":
            parts.extend(_size(name, operand, ph, path))
        elif op == "attributeExists":
            parts.append(
                f"attribute_exists({name})" if operand else f"attribute_not_exists({name})"
            )
        else:
            raise InvalidConditionError(f"{path}: unsupported operator {op!r}")
    return parts


def _between(name: str, operand: Any, ph: Placeholders, where: str) -> str:
    if not isinstance(operand, list) or len(operand) != 2 or None in operand:
        raise InvalidConditionError(f"{where} takes a list of two values")
    return f"{name} BETWEEN {ph.value(operand[0])} AND {ph.value(operand[1])}"


def _size(name: str, operators: Mapping[str, Any], ph: Placeholders, where: str) -> list[str]:
    parts = []
    for op, operand in operators.items():
        path = f"{where}.{op}"
        if operand is None:
            raise InvalidConditionError(f"{path} is null; leave it out instead")
        if op in COMPARISONS:
            parts.append(f"size({name}) {COMPARISONS[op]} {ph.value(operand)}")
        elif op == "between":
            parts.append(_between(f"size({name})", operand, ph, path))
        else:
            raise InvalidConditionError(f"{path}: unsupported operator {op!r}")
    if not parts:
        raise InvalidConditionError(f"{where} has no operator")
    return parts
