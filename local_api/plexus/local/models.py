"""The served models and their indexes, read from `models.graphql` (a copy of the real
model declarations), and the rule the real resolvers apply to composite sort keys.

Amplify turns `@index(name, sortKeyFields, queryField)` into a global secondary index and a
list query. A sort key of two or more fields is one DynamoDB attribute named by the fields
joined with `#` (`status#updatedAt`), holding their values joined the same way; a create or
update that carries any of those fields must carry all of them, after the resolver has added
`createdAt`/`updatedAt` itself (see ../shared/plexus-api/README.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from graphql import (
    FieldDefinitionNode,
    ListTypeNode,
    ListValueNode,
    NamedTypeNode,
    ObjectTypeDefinitionNode,
    StringValueNode,
    parse,
    print_ast,
)

from plexus.local.errors import CompositeKeyError

MODELS_PATH = Path(__file__).with_name("models.graphql")
KEY_SEPARATOR = "#"
# Scalars Amplify stores as DynamoDB numbers; everything else a key can hold is a string.
NUMERIC_SCALARS = {"Int", "Float", "AWSTimestamp"}


@dataclass(frozen=True)
class Index:
    name: str
    hash_key: str
    sort_key_fields: tuple[str, ...]
    query_field: str | None

    @property
    def composite(self) -> bool:
        return len(self.sort_key_fields) >= 2

    @property
    def sort_key(self) -> str | None:
        """The DynamoDB attribute the index sorts on (`a#b` for a composite key)."""
        if not self.sort_key_fields:
            return None
        return KEY_SEPARATOR.join(self.sort_key_fields)

    @property
    def sort_argument(self) -> str | None:
        """The list query's argument for the sort key: `createdAt`, or `statusUpdatedAt`."""
        if not self.sort_key_fields:
            return None
        first, *rest = self.sort_key_fields
        return first + "".join(f[0].upper() + f[1:] for f in rest)


@dataclass(frozen=True)
class Model:
    name: str
    # Scalar fields and their GraphQL named types (relationships left out).
    fields: Mapping[str, str]
    indexes: tuple[Index, ...]

    def key_type(self, attribute: str) -> str:
        if KEY_SEPARATOR in attribute:
            return "S"
        return "N" if self.fields.get(attribute) in NUMERIC_SCALARS else "S"

    def with_composite_keys(self, values: dict[str, Any], operation: str) -> dict[str, Any]:
        """`values` (defaults and input merged, as the resolver's `$mergedValues`) plus the
        composite sort key attributes; CompositeKeyError as the real resolver words it.

        `operation` is "create" or "update". A field counts as present when its key is
        there, as in the VTL's `containsKey`."""
        out = dict(values)
        for index in self.indexes:
            if not index.composite:
                continue
            if not any(f in values for f in index.sort_key_fields):
                continue
            for field in index.sort_key_fields:
                if field not in values:
                    raise CompositeKeyError(
                        f"When {operation[:-1]}ing any part of the composite sort key for "
                        f"@index '{index.name}', you must provide all fields for the key. "
                        f"Missing key: '{field}'."
                    )
            assert index.sort_key is not None
            out[index.sort_key] = KEY_SEPARATOR.join(
                _key_text(values[f]) for f in index.sort_key_fields
            )
        return out


def _key_text(value: Any) -> str:
    # VTL interpolation of a missing-but-present (null) value prints "null"; mirror that.
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def model_named(name: str) -> Model:
    models = load_models()
    try:
        return models[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(models)}") from None


def _named_type(node: Any) -> tuple[str, bool]:
    """(named type, is a list) of a field's type node."""
    is_list = False
    while not isinstance(node, NamedTypeNode):
        is_list = is_list or isinstance(node, ListTypeNode)
        node = node.type
    return node.name.value, is_list


def _argument(directive: Any, name: str) -> Any:
    for argument in directive.arguments or ():
        if argument.name.value == name:
            value = argument.value
            if isinstance(value, StringValueNode):
                return value.value
            if isinstance(value, ListValueNode):
                return tuple(v.value for v in value.values if isinstance(v, StringValueNode))
    return None


def _indexes(model: str, field: FieldDefinitionNode) -> list[Index]:
    found = []
    for directive in field.directives or ():
        if directive.name.value != "index":
            continue
        sort_fields = _argument(directive, "sortKeyFields") or ()
        query_field = _argument(directive, "queryField")
        name = _argument(directive, "name")
        if name is None:
            # Unnamed indexes get a name no client sees; derive one that is unique per model.
            name = "by" + (query_field or field.name.value)[len("list" + model + "By") :]
        found.append(Index(name, field.name.value, tuple(sort_fields), query_field))
    return found


@cache
def load_models() -> dict[str, Model]:
    document = parse(MODELS_PATH.read_text(encoding="utf-8"))
    object_types = [d for d in document.definitions if isinstance(d, ObjectTypeDefinitionNode)]
    names = {d.name.value for d in object_types}
    models: dict[str, Model] = {}
    for definition in object_types:
        model = definition.name.value
        fields: dict[str, str] = {"id": "ID"}
        indexes: list[Index] = []
        for field in definition.fields or ():
            type_name, _ = _named_type(field.type)
            if type_name in names or any(
                d.name.value in ("hasMany", "belongsTo", "hasOne") for d in field.directives or ()
            ):
                continue
            fields[field.name.value] = type_name
            indexes.extend(_indexes(model, field))
        # @model adds these when the model does not declare them.
        fields.setdefault("createdAt", "AWSDateTime")
        fields.setdefault("updatedAt", "AWSDateTime")
        models[model] = Model(model, fields, tuple(indexes))
    return models


def model_definitions() -> dict[str, str]:
    """Each served model's definition, printed canonically (for the twin test)."""
    document = parse(MODELS_PATH.read_text(encoding="utf-8"))
    return {
        d.name.value: print_ast(d)
        for d in document.definitions
        if isinstance(d, ObjectTypeDefinitionNode)
    }
