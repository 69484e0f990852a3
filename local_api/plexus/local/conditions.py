"""Amplify's condition and filter language, parsed once into a tree that each storage
backend reads its own way: `expression` renders a DynamoDB condition expression (the moto
backend), `holds` evaluates it on a stored item with DynamoDB's rules (the memory backend).

`{status: {eq: "PENDING"}, or: [{...}, {...}], not: {...}}`: the entries of one object
are ANDed, as Amplify does; `and`/`or` take lists, `not` takes one object. A malformed
input is an InvalidConditionError that names where, whichever backend serves it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from plexus.local.errors import InvalidConditionError

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


class Placeholders(Protocol):
    """Where a rendered expression's attribute names and values go (dynamo_tables.py)."""

    def name(self, attribute: str) -> str: ...

    def value(self, value: Any) -> str: ...


# --- the tree ------------------------------------------------------------------------------


@dataclass(frozen=True)
class All:
    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    part: Condition


@dataclass(frozen=True)
class Compare:
    """`attribute <op> operand`; on the attribute's size when `size`."""

    attribute: str
    op: str  # a key of COMPARISONS
    operand: Any
    size: bool = False


@dataclass(frozen=True)
class Between:
    attribute: str
    low: Any
    high: Any
    size: bool = False


@dataclass(frozen=True)
class Function:
    """begins_with, contains, attribute_type (operand: a DynamoDB type code), or
    attribute_exists / attribute_not_exists (operand: None)."""

    name: str
    attribute: str
    operand: Any = None


Condition = All | AnyOf | Not | Compare | Between | Function


def parse(condition: Mapping[str, Any] | None, where: str) -> Condition | None:
    """The tree for an Amplify condition or filter input; None when it is absent or `{}`."""
    if not condition:
        return None
    return _object(condition, where)


def _object(condition: Any, where: str) -> Condition:
    if not isinstance(condition, Mapping):
        raise InvalidConditionError(f"{where} must be an object")
    parts: list[Condition] = []
    for key, value in condition.items():
        path = f"{where}.{key}"
        if value is None:
            raise InvalidConditionError(f"{path} is null; leave it out instead")
        if key in ("and", "or"):
            if not value:
                raise InvalidConditionError(f"{path} is an empty list")
            subs = tuple(_object(sub, f"{path}[{i}]") for i, sub in enumerate(value))
            parts.append(All(subs) if key == "and" else AnyOf(subs))
        elif key == "not":
            parts.append(Not(_object(value, path)))
        else:
            parts.extend(_field(key, value, path))
    if not parts:
        raise InvalidConditionError(f"{where} is empty")
    return parts[0] if len(parts) == 1 else All(tuple(parts))


def _operators(operators: Any, where: str) -> Iterator[tuple[str, Any, str]]:
    """(operator, operand, where) of one attribute's operator object."""
    if not isinstance(operators, Mapping) or not operators:
        raise InvalidConditionError(f"{where} has no operator")
    for op, operand in operators.items():
        path = f"{where}.{op}"
        if operand is None:
            raise InvalidConditionError(f"{path} is null; leave it out instead")
        yield op, operand, path


def _field(attribute: str, operators: Any, where: str) -> list[Condition]:
    parts: list[Condition] = []
    for op, operand, path in _operators(operators, where):
        if op in COMPARISONS:
            parts.append(Compare(attribute, op, operand))
        elif op == "beginsWith":
            parts.append(Function("begins_with", attribute, operand))
        elif op == "contains":
            parts.append(Function("contains", attribute, operand))
        elif op == "notContains":
            parts.append(Not(Function("contains", attribute, operand)))
        elif op == "between":
            low, high = _pair(operand, path)
            parts.append(Between(attribute, low, high))
        elif op == "attributeType":
            if operand not in ATTRIBUTE_TYPES:
                raise InvalidConditionError(
                    f"{path}: {operand!r} is not one of {', '.join(ATTRIBUTE_TYPES)}"
                )
            parts.append(Function("attribute_type", attribute, ATTRIBUTE_TYPES[operand]))
        elif op == "size":
            parts.extend(_size(attribute, operand, path))
        elif op == "attributeExists":
            name = "attribute_exists" if operand else "attribute_not_exists"
            parts.append(Function(name, attribute))
        else:
            raise InvalidConditionError(f"{path}: unsupported operator {op!r}")
    return parts


def _pair(operand: Any, where: str) -> tuple[Any, Any]:
    if not isinstance(operand, list) or len(operand) != 2 or None in operand:
        raise InvalidConditionError(f"{where} takes a list of two values")
    return operand[0], operand[1]


def _size(attribute: str, operators: Any, where: str) -> list[Condition]:
    parts: list[Condition] = []
    for op, operand, path in _operators(operators, where):
        if op in COMPARISONS:
            parts.append(Compare(attribute, op, operand, size=True))
        elif op == "between":
            low, high = _pair(operand, path)
            parts.append(Between(attribute, low, high, size=True))
        else:
            raise InvalidConditionError(f"{path}: unsupported operator {op!r}")
    return parts


# --- DynamoDB expressions ----------------------------------------------------------------


def expression(condition: Condition, ph: Placeholders) -> str:
    """`condition` as a DynamoDB condition expression, names and values as placeholders."""
    match condition:
        case All(parts) | AnyOf(parts):
            joiner = " AND " if isinstance(condition, All) else " OR "
            return "(" + joiner.join(expression(p, ph) for p in parts) + ")"
        case Not(part):
            return f"(NOT {expression(part, ph)})"
        case Compare(attribute, op, operand, size):
            return f"{_operand_name(attribute, size, ph)} {COMPARISONS[op]} {ph.value(operand)}"
        case Between(attribute, low, high, size):
            name = _operand_name(attribute, size, ph)
            return f"{name} BETWEEN {ph.value(low)} AND {ph.value(high)}"
        case Function(name, attribute, None):
            return f"{name}({ph.name(attribute)})"
        case Function(name, attribute, operand):
            return f"{name}({ph.name(attribute)}, {ph.value(operand)})"
    raise AssertionError(condition)


def _operand_name(attribute: str, size: bool, ph: Placeholders) -> str:
    return f"size({ph.name(attribute)})" if size else ph.name(attribute)


# --- evaluation on an item, by DynamoDB's rules ------------------------------------------

_MISSING = object()


def dynamo_type(value: Any) -> str:
    """The DynamoDB type code a stored Python value has."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "BOOL"
    if isinstance(value, int | float | Decimal):
        return "N"
    if isinstance(value, str):
        return "S"
    if isinstance(value, bytes | bytearray):
        return "B"
    if isinstance(value, Mapping):
        return "M"
    if isinstance(value, set | frozenset):
        members = {dynamo_type(v) for v in value}
        return {"N": "NS", "B": "BS"}.get(members.pop() if len(members) == 1 else "S", "SS")
    return "L"


def holds(condition: Condition, item: Mapping[str, Any]) -> bool:
    """Whether `condition` is true of `item` (absent attributes are absent keys)."""
    match condition:
        case All(parts):
            return all(holds(p, item) for p in parts)
        case AnyOf(parts):
            return any(holds(p, item) for p in parts)
        case Not(part):
            return not holds(part, item)
        case Compare(attribute, op, operand, size):
            return _compare(op, _value(item, attribute, size), operand)
        case Between(attribute, low, high, size):
            value = _value(item, attribute, size)
            return _compare("ge", value, low) and _compare("le", value, high)
        case Function(name, attribute, operand):
            return _FUNCTIONS[name](item.get(attribute, _MISSING), operand)
    raise AssertionError(condition)


def _value(item: Mapping[str, Any], attribute: str, size: bool) -> Any:
    value = item.get(attribute, _MISSING)
    if not size or value is _MISSING:
        return value
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bytes | bytearray | list | tuple | set | frozenset | Mapping):
        return len(value)
    return _MISSING  # size() of a number or boolean matches nothing


def _compare(op: str, value: Any, operand: Any) -> bool:
    # An absent attribute, or one of another type, is unequal to everything and ordered
    # with nothing, as DynamoDB compares.
    if value is _MISSING or dynamo_type(value) != dynamo_type(operand):
        return op == "ne"
    if op == "eq":
        return bool(value == operand)
    if op == "ne":
        return bool(value != operand)
    if dynamo_type(value) not in ("N", "S", "B"):
        return False
    return bool(_ORDER[op](value, operand))


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
}


def _begins_with(value: Any, prefix: Any) -> bool:
    if isinstance(value, str) and isinstance(prefix, str):
        return value.startswith(prefix)
    return False


def _contains(value: Any, operand: Any) -> bool:
    if isinstance(value, str):
        return isinstance(operand, str) and operand in value
    if isinstance(value, list | tuple | set | frozenset):
        return operand in value
    return False


_FUNCTIONS: dict[str, Callable[[Any, Any], bool]] = {
    "begins_with": _begins_with,
    "contains": _contains,
    "attribute_type": lambda value, code: value is not _MISSING and dynamo_type(value) == code,
    "attribute_exists": lambda value, _: value is not _MISSING,
    "attribute_not_exists": lambda value, _: value is _MISSING,
}
