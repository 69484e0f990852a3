import json

import pytest

from plexus.core.errors import ModelReplyError
from plexus.scores.LLMClassifier import parse_reply, response_schema
from plexus.scores.providers import price_usd


def test_schema_restricts_value_to_the_classes():
    schema = response_schema(["Yes", "No"])["json_schema"]["schema"]
    assert schema["properties"]["value"]["enum"] == ["Yes", "No"]
    assert set(schema["required"]) == {"value", "explanation", "confidence"}


def test_reply_in_classes_is_accepted():
    reply = json.dumps({"value": "Yes", "explanation": "greeted", "confidence": 0.9})
    assert parse_reply(reply, ["Yes", "No"]) == ("Yes", "greeted", 0.9)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            json.dumps({"value": "Maybe", "explanation": "", "confidence": 1}),
            "'Maybe', which is not one of",
        ),
        ("Yes", "not JSON"),
        ("", "empty"),
        (json.dumps({"explanation": "x"}), "no 'value'"),
    ],
)
def test_reply_outside_the_classes_is_an_error(content, message):
    with pytest.raises(ModelReplyError, match=message):
        parse_reply(content, ["Yes", "No"])


def test_confidence_out_of_range_is_dropped_not_trusted():
    reply = json.dumps({"value": "No", "explanation": "", "confidence": 7})
    assert parse_reply(reply, ["Yes", "No"])[2] is None


def test_price_from_the_bundled_table():
    prices = price_usd("gpt-4o-mini", 1_000_000, 1_000)
    assert prices is not None
    input_usd, output_usd = prices
    assert input_usd > 0 and output_usd > 0
    assert price_usd("no-such-model-anywhere", 10, 10) is None
