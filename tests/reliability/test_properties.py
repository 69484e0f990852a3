"""Property-based tests: no input crashes the score YAML parser or the event parser with
anything but the project's own error."""

from __future__ import annotations

import json

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plexus.errors import ScoreConfigError
from plexus.events import Drain, EventError, SingleJob, SqsBatch, job_id_from_sqs_body, parse_event
from plexus.scoring.config import KeywordConfig, LlmConfig, RegexConfig, parse_score_config

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
config_keys = st.sampled_from(
    [
        "class",
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
classes = st.sampled_from(
    ["LLMClassifier", "KeywordClassifier", "RegexClassifier", "Other", 3, None]
)
config_like = st.fixed_dictionaries({"class": classes}, optional={"x": json_values}).flatmap(
    lambda base: st.dictionaries(config_keys, json_values, max_size=6).map(lambda d: {**d, **base})
)


def _parse(text: str) -> None:
    try:
        config = parse_score_config(text)
    except ScoreConfigError as exc:
        assert str(exc)
    else:
        assert isinstance(config, LlmConfig | KeywordConfig | RegexConfig)


@SETTINGS
@given(st.text(max_size=300))
def test_any_text_parses_or_raises_score_config_error(text):
    _parse(text)


@SETTINGS
@given(config_like)
def test_any_yaml_mapping_parses_or_raises_score_config_error(data):
    _parse(yaml.safe_dump(data))


events = (
    st.none()
    | json_values
    | st.dictionaries(
        st.sampled_from(["scoringJobId", "Records", "source", "detail-type", "other"]),
        json_values,
        max_size=3,
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


@SETTINGS
@given(st.one_of(st.text(max_size=200), json_values.map(json.dumps), json_values))
def test_any_sqs_body_gives_a_job_id_or_event_error(body):
    try:
        job_id = job_id_from_sqs_body(body)
    except EventError as exc:
        assert str(exc)
    else:
        assert isinstance(job_id, str) and job_id.strip() == job_id and job_id
