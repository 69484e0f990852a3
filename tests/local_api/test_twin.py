"""The local API against the real Plexus API's schema (../shared/plexus-api/):

- every type, field, argument and input of plexus/local/schema.graphql is the real one,
  nullability included;
- every document the worker sends validates against the real schema (and the local one);
- plexus/local/models.graphql, which the local resolvers derive their indexes and rules
  from, is the real model declarations, unchanged.
Without ../shared (a user's clone) these tests skip and say why."""

from __future__ import annotations

import re
from typing import Any

import pytest
from graphql import (
    GraphQLInputObjectType,
    GraphQLObjectType,
    GraphQLSchema,
    build_schema,
    parse,
    print_ast,
    validate,
)

from plexus.clients.plexus_api import DOCUMENTS
from plexus.local.graphql_api import SCHEMA_PATH
from plexus.local.models import model_definitions
from tests.local_api.twin import REAL_MODELS, REAL_SCHEMA, real_schema, twin_sdl

needs_shared = pytest.mark.skipif(
    not REAL_SCHEMA.exists() or not REAL_MODELS.exists(),
    reason=f"the real schema is not here ({REAL_SCHEMA.parent}): it ships beside the project, "
    "not in a clone of it",
)


@pytest.fixture(scope="module")
def real() -> GraphQLSchema:
    return real_schema()


@pytest.fixture(scope="module")
def local() -> GraphQLSchema:
    return build_schema(SCHEMA_PATH.read_text(encoding="utf-8"))


def _differences(local: GraphQLSchema, real: GraphQLSchema) -> list[str]:
    found = []
    for name, type_ in local.type_map.items():
        if name.startswith("__"):
            continue
        twin = real.type_map.get(name)
        if twin is None:
            found.append(f"{name}: not in the real schema")
            continue
        if type(twin) is not type(type_):
            found.append(f"{name}: {type(type_).__name__} here, {type(twin).__name__} there")
            continue
        if isinstance(type_, GraphQLObjectType | GraphQLInputObjectType):
            for field_name, field in type_.fields.items():
                real_field = twin.fields.get(field_name)  # type: ignore[union-attr]
                if real_field is None:
                    found.append(f"{name}.{field_name}: not in the real schema")
                    continue
                if str(field.type) != str(real_field.type):
                    found.append(f"{name}.{field_name}: {field.type} here, {real_field.type} there")
                for arg_name, arg in getattr(field, "args", {}).items():
                    real_arg = real_field.args.get(arg_name)
                    if real_arg is None or str(arg.type) != str(real_arg.type):
                        there = real_arg.type if real_arg else "absent"
                        found.append(f"{name}.{field_name}({arg_name}): {arg.type} vs {there}")
            if isinstance(type_, GraphQLInputObjectType):
                # An input lacking a real field would refuse documents the real API takes.
                for field_name in twin.fields:  # type: ignore[union-attr]
                    if field_name not in type_.fields:
                        found.append(f"{name}.{field_name}: missing here")
    return found


@needs_shared
def test_every_local_type_field_and_argument_is_the_real_one(
    local: GraphQLSchema, real: GraphQLSchema
) -> None:
    assert _differences(local, real) == []


@needs_shared
def test_the_comparison_catches_a_difference(real: GraphQLSchema) -> None:
    """The check above can fail: a nullability change and an extra field are both found."""
    sdl = SCHEMA_PATH.read_text(encoding="utf-8")
    altered = sdl.replace("  isFeatured: String\n", "  isFeatured: Boolean\n", 1)
    altered = altered.replace(
        "  configuration: String!\n", "  configuration: String!\n  x: Int\n", 1
    )
    assert set(_differences(build_schema(altered), real)) == {
        "ScoreVersion.isFeatured: Boolean here, String there",
        "ScoreVersion.x: not in the real schema",
    }


@needs_shared
def test_local_schema_is_the_generated_cut_of_the_real_one(real: GraphQLSchema) -> None:
    # Regenerate with `uv run python -m tests.local_api.twin` if the real schema moves.
    assert SCHEMA_PATH.read_text(encoding="utf-8") == twin_sdl(real)


@needs_shared
@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda d: _operation_name(d))
def test_every_document_the_worker_sends_validates(
    document: Any, real: GraphQLSchema, local: GraphQLSchema
) -> None:
    ast = parse(document.payload["query"])
    assert [e.message for e in validate(real, ast)] == []
    assert [e.message for e in validate(local, ast)] == []


def _operation_name(document: Any) -> str:
    match = re.search(r"(query|mutation)\s+(\w+)", document.payload["query"])
    return match[2] if match else "?"


@needs_shared
def test_model_declarations_are_the_real_ones() -> None:
    real_document = parse(REAL_MODELS.read_text(encoding="utf-8"))
    real_blocks = {
        d.name.value: print_ast(d)
        for d in real_document.definitions
        if getattr(d, "name", None) is not None
    }
    local_blocks = model_definitions()
    assert set(local_blocks) == {
        "Account",
        "Scorecard",
        "Score",
        "ScoreVersion",
        "Item",
        "ScoringJob",
        "ScoreResult",
    }
    for name, block in local_blocks.items():
        assert block == real_blocks[name], f"{name} differs from the real declaration"
