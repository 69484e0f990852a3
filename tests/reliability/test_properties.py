"""Property-based tests: no input crashes the score YAML parser (ruamel.yaml, YAML 1.2, then
the LangGraphScore graph and node checks), the completion parsers or the event parser with
anything but the project's own error (ScoreConfigError, EventError), and what they accept
is a valid result.

Besides arbitrary text and arbitrary structures, the strategies aim at the sharp edges of
the two formats: YAML tags, dates, huge numbers, anchors and deep nesting; JSON numbers
past Python's integer-string limit and deep nesting.
"""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from plexus.aws_lambda.events import (
    MAX_ID_LENGTH,
    Drain,
    EventError,
    SingleJob,
    SqsBatch,
    job_id_from_sqs_body,
    parse_event,
)
from plexus.core.errors import ScoreConfigError
from plexus.scores import parse_score_config
from plexus.scores.KeywordClassifier import KeywordClassifier
from plexus.scores.LangGraphScore import LangGraphScore
from plexus.scores.LLMClassifier import LLMClassifier
from plexus.scores.nodes import SUPPORTED_NODES
from plexus.scores.nodes.Classifier import parse_classification
from plexus.scores.RegexClassifier import RegexClassifier

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
CLASSES = ["LangGraphScore", "LLMClassifier", "KeywordClassifier", "RegexClassifier"]
config_keys = st.sampled_from(
    [
        "class",
        "graph",
        "output",
        "depends_on",
        "model_provider",
        "keywords",
        "model",
        "model_name",
        "valid_classes",
        "user_message",
        "system_message",
        "temperature",
        "rules",
        "default",
        "ignore_case",
        "name",
    ]
)
config_like = st.fixed_dictionaries(
    {"class": st.sampled_from([*CLASSES, "Other", 3, None])}
).flatmap(
    lambda base: st.dictionaries(config_keys, json_values, max_size=6).map(lambda d: {**d, **base})
)

# YAML scalars as a person (or a bad merge) might write them, most of them awkward.
TAGS = "!!int !!float !!bool !!timestamp !!binary !!str !!set !!omap !!pairs !!map !!seq !!null"
yaml_tags = st.sampled_from(["", "", "", "! ", "!!python/tuple ", *(f"{t} " for t in TAGS.split())])
yaml_scalars = st.one_of(
    st.sampled_from(
        [
            *("Yes", "No", "gpt-4o-mini", "{text}", "~", "null", "true", "=", "'", "''", '""'),
            *("0x1F", "0o17", "0b101", "1_000", "1:30:00", ".inf", "-.nan", "1e400"),
            *("<<", "*x", "&x y", "2024-02-29", "2023-02-29", "2001-13-45"),
            "2001-12-14t21:59:43.10-99:00",
        ]
    ),
    st.integers(min_value=1, max_value=6000).map(lambda n: "9" * n),
    st.text(alphabet="-+.:eE0123456789xob_", max_size=12),
    st.text(max_size=15),
)
yaml_values = st.recursive(
    st.tuples(yaml_tags, yaml_scalars).map("".join),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.lists(st.tuples(yaml_scalars, inner), max_size=3).map(
            lambda kvs: "{" + ", ".join(f"{k}: {v}" for k, v in kvs) + "}"
        ),
        st.tuples(yaml_tags, inner).map("".join),
    ),
    max_leaves=8,
)
deep_yaml = st.tuples(st.sampled_from(["[", "{a: ", "- "]), st.integers(1, 3000)).map(
    lambda t: "class: RegexClassifier\nrules: " + t[0] * t[1]
)
yaml_documents = st.one_of(
    st.lists(st.tuples(config_keys | st.text(max_size=8), yaml_values), max_size=6).map(
        lambda kvs: "\n".join(f"{k}: {v}" for k, v in kvs)
    ),
    st.tuples(st.sampled_from(CLASSES), st.lists(st.tuples(config_keys, yaml_values))).map(
        lambda t: f"class: {t[0]}\n" + "\n".join(f"{k}: {v}" for k, v in t[1])
    ),
    deep_yaml,
)


# Graph nodes: real node classes and junk, with the options they read, valid or not.
CODE = [
    "def score(parameters, input):\n    return Score.Result(parameters=parameters, value='Yes')",
    "def execute(context):\n    return {'a': 1}",
    "def score(:",
    "x = undefined_name",
    "",
    7,
]
node_values = st.one_of(
    json_values,
    st.sampled_from(CODE),
    st.sampled_from(["{{ text }}", "{% if %}", "{{ unclosed", "{{ a.b.c }} ok", "END", "n1"]),
)
node_keys = st.sampled_from(
    [
        "valid_classes",
        "system_message",
        "user_message",
        "code",
        "function_name",
        "conditions",
        "edge",
        "output",
        "input",
        "data_paths",
        "targets",
        "maximum_retry_count",
        "model_name",
        "model_provider",
        "parse_from_start",
        "batch",
    ]
)
graph_nodes = st.lists(
    st.fixed_dictionaries(
        {
            "name": st.sampled_from(["n1", "n2", "END", "", 5]),
            "class": st.sampled_from([*SUPPORTED_NODES, "BeforeAfterSlicer", "Nope", None]),
        }
    ).flatmap(
        lambda base: st.dictionaries(node_keys, node_values, max_size=5).map(
            lambda d: {**d, **base}
        )
    ),
    max_size=3,
)
graph_scores = st.fixed_dictionaries(
    {
        "class": st.just("LangGraphScore"),
        "graph": graph_nodes | json_values,
        "model_name": st.sampled_from(["gpt-4o-mini", None, 3]),
    },
    optional={
        "model_provider": st.sampled_from(["ChatOpenAI", "ChatVertexAI", "Other", None]),
        "output": json_values,
        "depends_on": json_values,
        "item": json_values,
        "parameters": json_values,
    },
)


def dump(data: object) -> str:
    from ruamel.yaml import YAML

    stream = io.StringIO()
    YAML(typ="safe", pure=True).dump(data, stream)
    return stream.getvalue()


def check_score_config(text: str) -> None:
    try:
        config = parse_score_config(text)
    except ScoreConfigError as exc:
        assert str(exc).startswith("score configuration: ")
    else:
        assert isinstance(
            config, LangGraphScore | LLMClassifier | KeywordClassifier | RegexClassifier
        )
        if isinstance(config, LLMClassifier):
            assert len(config.config.valid_classes) >= 2
        if isinstance(config, LangGraphScore):
            assert config.nodes and len(config.index) == len(config.nodes)


@SETTINGS
@given(st.text(max_size=300))
def test_any_text_parses_or_raises_score_config_error(text):
    check_score_config(text)


@SETTINGS
@given(st.one_of(config_like, json_values))
def test_any_yaml_structure_parses_or_raises_score_config_error(data):
    check_score_config(dump(data))


@SETTINGS
@given(graph_scores)
def test_any_graph_parses_or_raises_score_config_error(data):
    check_score_config(dump(data))


GRAPH = "graph: [{name: a, class: LogicalNode, code: 'def execute(c): return 1'}]"


@SETTINGS
@given(
    yaml_values, st.sampled_from(["depends_on", "item", "output", "model_provider", "parameters"])
)
@example("{a: {operator: [1]}}", "depends_on")  # found crashing: unhashable operator
@example("{processors: [1, {class: X}]}", "item")
@example("{class: DeepgramInputSource, options: {pattern: x, time_range_start: .nan}}", "item")
@example("[1]", "model_provider")
@example("{validation: {value: {patterns: ['(']}}}", "parameters")
def test_any_score_level_value_parses_or_raises_score_config_error(value, key):
    check_score_config(f"class: LangGraphScore\n{key}: {value}\n{GRAPH}")


@SETTINGS
@given(
    st.text(max_size=200),
    st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=5, unique=True),
    st.booleans(),
)
def test_classifier_parser_returns_a_valid_class_or_none(completion, classes, from_start):
    value = parse_classification(completion, classes, from_start)
    assert value is None or value in classes


@SETTINGS
@given(
    st.sampled_from(["Yes", "No", "Not Relevant", "Relevant", "Copay Guarantee"]),
    st.sampled_from(["{}", "{}.", "**{}**", "Answer: {}", "{}!", "  {}  ", "_{}_"]),
    st.booleans(),
)
def test_classifier_parser_finds_the_class_whatever_case_and_punctuation(cls, frame, upper):
    classes = ["Yes", "No", "Not Relevant", "Relevant", "Copay Guarantee"]
    text = frame.format(cls.upper() if upper else cls.lower())
    assert parse_classification(f"I thought about it.\n{text}", classes) == cls


@pytest.mark.slow
@SETTINGS
@given(yaml_documents)
@example("class: LLMClassifier\nmodel: 2023-02-29")  # a date that does not exist
@example("class: LLMClassifier\ntemperature: " + "9" * 5000)  # over the 4300-digit limit
@example("class: KeywordClassifier\nrules: " + "[" * 3000)  # nesting past the stack
@example("class: KeywordClassifier\ndefault: !!bool maybe")
@example("class: []")  # found crashing: an unhashable class
def test_awkward_yaml_parses_or_raises_score_config_error(text):
    check_score_config(text)


events = (
    st.none()
    | json_values
    | st.dictionaries(
        st.sampled_from(["scoringJobId", "Records", "source", "detail-type", "other"]),
        json_values,
        max_size=3,
    )
    | st.fixed_dictionaries(
        {
            "Records": st.lists(
                st.fixed_dictionaries(
                    {"eventSource": st.sampled_from(["aws:sqs", "aws:s3", None])},
                    optional={"messageId": json_values, "body": json_values},
                )
                | json_values,
                max_size=4,
            )
        }
    )
)


@SETTINGS
@given(events)
def test_any_event_is_understood_or_raises_event_error(event):
    try:
        request = parse_event(event)
    except EventError as exc:
        assert str(exc)
    else:
        assert isinstance(request, Drain | SingleJob | SqsBatch)
        if isinstance(request, SingleJob):
            assert request.job_id and request.job_id.isprintable()
        if isinstance(request, SqsBatch):
            assert request.records


json_texts = st.one_of(
    st.text(max_size=200),
    json_values.map(json.dumps),
    json_values,
    st.integers(min_value=1, max_value=6000).map(lambda n: '{"scoring_job_id": ' + "7" * n + "}"),
    st.integers(min_value=1, max_value=100_000).map(lambda n: "[" * n),
    st.text(max_size=250).map(lambda s: json.dumps({"scoring_job_id": s})),
)


@SETTINGS
@given(json_texts)
@example("1" * 5000)  # a JSON number over Python's 4300-digit limit
@example('{"scoring_job_id": "' + "x" * (MAX_ID_LENGTH + 1) + '"}')
def test_any_sqs_body_gives_a_job_id_or_event_error(body):
    try:
        job_id = job_id_from_sqs_body(body)
    except EventError as exc:
        assert str(exc)
    else:
        assert isinstance(job_id, str) and job_id.strip() == job_id
        assert 0 < len(job_id) <= MAX_ID_LENGTH and job_id.isprintable()
