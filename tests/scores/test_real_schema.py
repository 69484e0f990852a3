"""The worker's score queries (an item's attachedFiles, a score's name, an item's results)
are valid against the real Plexus AppSync schema: the local API serves only a subset, so
the input-source path's query could not be checked end to end against it."""

from __future__ import annotations

import pytest
from graphql import build_schema, parse, validate

from plexus.api_client import Q_RESULTS_BY_ITEM
from plexus.scores.worker_support import Q_ATTACHED_FILES, Q_SCORE_NAME
from tests.scores.conftest import DATA

# AppSync's own scalars and directives, which its printed schema leaves out.
APPSYNC_PRELUDE = """
scalar AWSDate
scalar AWSTime
scalar AWSDateTime
scalar AWSTimestamp
scalar AWSEmail
scalar AWSJSON
scalar AWSURL
scalar AWSPhone
scalar AWSIPAddress
directive @aws_api_key on FIELD_DEFINITION | OBJECT
directive @aws_iam on FIELD_DEFINITION | OBJECT
directive @aws_cognito_user_pools(cognito_groups: [String]) on FIELD_DEFINITION | OBJECT
directive @aws_subscribe(mutations: [String]) on FIELD_DEFINITION
"""


@pytest.fixture(scope="module")
def schema():
    return build_schema(APPSYNC_PRELUDE + (DATA / "appsync-schema.graphql").read_text())


@pytest.mark.parametrize("query", [Q_ATTACHED_FILES, Q_SCORE_NAME])
def test_score_queries_are_valid_against_the_real_schema(schema, query):
    assert validate(schema, parse(query)) == []


def test_the_results_query_takes_a_scorecard_filter_in_the_real_schema(schema):
    # The real filter input has scorecardId (the local one does not; the worker filters by
    # scorecard after the query so it works against both).
    assert validate(schema, Q_RESULTS_BY_ITEM.document) == []
    fields = schema.type_map["ModelScoreResultFilterInput"].fields
    assert {"scorecardId", "scoreId", "type"} <= set(fields)
    assert "attachedFiles" in schema.type_map["Item"].fields


def test_a_wrong_field_is_caught(schema):
    assert validate(schema, parse('query { getItem(id: "x") { id noSuchField } }'))
