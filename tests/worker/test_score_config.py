import pytest

from plexus.errors import ScoreConfigError
from plexus.scoring.config import KeywordConfig, LlmConfig, RegexConfig, parse_score_config
from plexus.scoring.deterministic import classify_keywords, classify_regex

LLM = """
name: Greeting
class: LLMClassifier
model_name: gpt-4o-mini
valid_classes: ["Yes", "No"]
user_message: "Did the agent greet the caller?\\n{text}"
"""
KEYWORDS = """
class: KeywordClassifier
rules:
  - {value: Refund, keywords: [refund, money back]}
  - {value: Cancel, keywords: [cancel]}
default: Other
"""
REGEX = r"""
class: RegexClassifier
rules:
  - {value: "Yes", pattern: "\\border (number|no\\.?) \\d+"}
default: "No"
ignore_case: true
"""


def test_llm_config_accepts_model_name_alias():
    config = parse_score_config(LLM)
    assert isinstance(config, LlmConfig)
    assert config.model == "gpt-4o-mini"
    assert config.valid_classes == ["Yes", "No"]


def test_keyword_classifier_first_matching_rule_wins():
    config = parse_score_config(KEYWORDS)
    assert isinstance(config, KeywordConfig)
    assert classify_keywords(config, "I want my MONEY BACK and to cancel").value == "Refund"
    assert classify_keywords(config, "please cancel").value == "Cancel"
    other = classify_keywords(config, "hello")
    assert other.value == "Other"
    assert "default" in other.explanation


def test_regex_classifier():
    config = parse_score_config(REGEX)
    assert isinstance(config, RegexConfig)
    assert classify_regex(config, "My ORDER NUMBER 1234 is late").value == "Yes"
    assert classify_regex(config, "no order here").value == "No"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("class: [unclosed", "invalid YAML at line 1"),
        ("- just\n- a list", "must be a YAML mapping"),
        ("class: Magic", "unknown classifier class 'Magic'"),
        ("class: LLMClassifier\nvalid_classes: [A, B]", "model"),
        ("class: LLMClassifier\nmodel: m\nvalid_classes: [A]", "valid_classes"),
        ("class: LLMClassifier\nmodel: m\nvalid_classes: [A, A]", "duplicates"),
        ("class: LLMClassifier\nmodel: m\nvalid_classes: [A, B]\nuser_message: hi", "{text}"),
        (
            "class: RegexClassifier\nrules: [{value: A, pattern: '('}]\ndefault: B",
            "invalid regular",
        ),
        ("class: KeywordClassifier\nrules: []\ndefault: B", "rules"),
    ],
)
def test_invalid_configs_name_the_problem(text, message):
    with pytest.raises(
        ScoreConfigError, match=message.replace("[", "\\[").replace("{", "\\{")
    ) as info:
        parse_score_config(text, source="score 'S' version v1")
    assert str(info.value).startswith("score 'S' version v1: ")
