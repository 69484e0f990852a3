import pytest

from plexus.core.errors import ScoreConfigError
from plexus.scores import parse_score_config
from plexus.scores.KeywordClassifier import KeywordClassifier
from plexus.scores.LLMClassifier import LLMClassifier
from plexus.scores.RegexClassifier import RegexClassifier

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
    score = parse_score_config(LLM)
    assert isinstance(score, LLMClassifier)
    assert score.config.model == "gpt-4o-mini"
    assert score.config.valid_classes == ["Yes", "No"]


def test_keyword_classifier_first_matching_rule_wins():
    score = parse_score_config(KEYWORDS)
    assert isinstance(score, KeywordClassifier)
    assert score.classify("I want my MONEY BACK and to cancel").value == "Refund"
    assert score.classify("please cancel").value == "Cancel"
    other = score.classify("hello")
    assert other.value == "Other"
    assert "default" in other.explanation


def test_regex_classifier():
    score = parse_score_config(REGEX)
    assert isinstance(score, RegexClassifier)
    assert score.classify("My ORDER NUMBER 1234 is late").value == "Yes"
    assert score.classify("no order here").value == "No"


def test_plexus_keyword_classifier_format():
    # Plexus's own KeywordClassifier takes `keywords:`; any one of them means "Yes".
    score = parse_score_config("class: KeywordClassifier\nkeywords: [child, dependent]\n")
    assert score.classify("I have one CHILD").value == "Yes"
    assert score.classify("nobody else").value == "No"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("class: [unclosed", "invalid YAML at line 1"),
        ("- just\n- a list", "must be a YAML mapping"),
        ("class: Magic", "score class 'Magic' is not supported; this worker runs LangGraphScore"),
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
