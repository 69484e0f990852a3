"""Hostile or careless input to the engine and the CLIs (issue 17): each answered with a
clear error naming the problem, and from a CLI as one `error: ...` line, exit code 2 for a
usage error and 1 for a failure, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from plexus.core.errors import ScoreConfigError
from plexus.scores.config import load_yaml as _load_yaml
from plexus.scores.config import score_from_mapping
from plexus.scores.scorecard import parse_scorecard, scorecard_scores
from tests.conftest import OPENAI_KEY
from tests.worker.test_processor import answer


def load_yaml(text: str):
    return _load_yaml(text, "s.yaml")


KEYWORD = "class: KeywordClassifier\nkeywords: [hello]\n"


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "plexus.tooling.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


def assert_one_error_line(done: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert done.returncode == code, (done.returncode, done.stderr)
    # Progress lines (`score 'X'`) may come first; the error is the one last line.
    lines = done.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert errors == lines[-1:], done.stderr
    assert "Traceback" not in done.stderr
    for word in words:
        assert word in errors[0], errors[0]


def test_keywords_nested_in_a_list_are_a_config_error_not_a_keyword():
    with pytest.raises(ScoreConfigError, match="keywords must be a list of words"):
        score_from_mapping(load_yaml("class: KeywordClassifier\nkeywords: [[hello]]\n"), "s")


@pytest.mark.parametrize(
    "document",
    [
        "sections: hello\n",
        "sections: [hello]\n",
        "sections: [{scores: hello}]\n",
        "scores: hello\n",
    ],
)
def test_a_scorecard_of_the_wrong_shape_is_a_config_error(document):
    with pytest.raises(ScoreConfigError, match="must be a"):
        scorecard_scores(load_yaml(document), "card.yaml")


@pytest.mark.parametrize("kind", ["KeywordClassifier", "RegexClassifier", "LLMClassifier"])
def test_depends_on_is_read_for_every_score_class(kind):
    body = {
        "KeywordClassifier": "keywords: [hello]",
        "RegexClassifier": "rules: [{value: Yes, pattern: hello}]\ndefault: No",
        "LLMClassifier": "model: m\nvalid_classes: [Yes, No]\nuser_message: '{text}'",
    }[kind]
    score = score_from_mapping(
        load_yaml(
            f"name: B\nclass: {kind}\n{body}\ndepends_on:\n  A: {{operator: '!=', value: No}}\n"
        ),
        "s",
    )
    assert score.depends_on == {"A": {"operator": "!=", "value": "No"}}


def test_depends_on_cycles_are_refused_when_the_scorecard_is_read():
    card = load_yaml(
        "scores:\n"
        "  - {name: A, class: KeywordClassifier, keywords: [a], depends_on: [B]}\n"
        "  - {name: B, class: RegexClassifier, rules: [{value: Yes, pattern: b}], default: No,"
        " depends_on: [A]}\n"
        "  - {name: C, class: KeywordClassifier, keywords: [c]}\n"
    )
    with pytest.raises(ScoreConfigError, match="cycle: A -> B -> A"):
        parse_scorecard(scorecard_scores(card, "card.yaml"), "card.yaml")
    with pytest.raises(ScoreConfigError, match="cycle: A -> A"):
        score_from_mapping(load_yaml(f"name: A\n{KEYWORD}depends_on: [A]\n"), "s")


def test_a_simple_score_that_depends_on_another_runs_only_when_its_condition_holds(
    tmp_path: Path,
):
    card = tmp_path / "card.yaml"
    card.write_text(
        "scores:\n"
        "  - {name: Greets, class: KeywordClassifier, keywords: [hello]}\n"
        "  - {name: Thanks, class: KeywordClassifier, keywords: [thanks],"
        " depends_on: {Greets: Yes}}\n"
    )
    done = cli("score", str(card), "--score", "Thanks", "--text", "hello and thanks")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["dependencies"]["Greets"]["value"] == "Yes"
    skipped = cli("score", str(card), "--score", "Thanks", "--text", "thanks only")
    assert skipped.returncode == 0, skipped.stderr
    assert json.loads(skipped.stdout)["value"] == "SKIPPED"  # as Plexus's Scorecard answers


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ("sections: hello\n", ["sections must be a list"]),
        ("class: KeywordClassifier\nkeywords: [[hello]]\n", ["keywords must be a list"]),
        ("a: [unclosed\n", []),
    ],
)
def test_score_cli_bad_config_is_one_error_line(tmp_path: Path, document, words):
    config = tmp_path / "s.yaml"
    config.write_text(document)
    assert_one_error_line(cli("score", str(config), "--text", "hello"), 1, *words)


def test_score_cli_usage_errors_are_one_line_with_code_2(tmp_path: Path):
    assert_one_error_line(cli("score"), 2, "required")
    assert_one_error_line(cli("score", "x.yaml"), 2, "--text")
    assert_one_error_line(cli("score", "missing.yaml", "--text", "hi"), 1, "missing.yaml")


def test_item_json_accepts_metadata_as_plexus_stores_it_a_json_string(tmp_path: Path):
    config = tmp_path / "s.yaml"
    config.write_text(
        "class: LLMClassifier\nmodel: m\nvalid_classes: [Yes, No]\n"
        "user_message: '{{ metadata.agent }} {{ text }}'\n"
    )
    item = tmp_path / "item.json"
    item.write_text(json.dumps({"text": "hi", "metadata": json.dumps({"contentUrl": 5})}))
    # The URL is not fetched (the item has text); the metadata is read, not ignored.
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"text": "hi", "metadata": "{not json"}))
    assert_one_error_line(cli("score", str(config), "--item-json", str(broken)), 1, "metadata")
    listed = tmp_path / "listed.json"
    listed.write_text(json.dumps({"text": "hi", "metadata": "[1]"}))
    assert_one_error_line(cli("score", str(config), "--item-json", str(listed)), 1, "JSON object")


def test_item_json_metadata_string_reaches_the_prompt(openai, tmp_path: Path):
    config = tmp_path / "s.yaml"
    config.write_text(
        "class: LLMClassifier\nmodel: gpt-4o-mini\nvalid_classes: [Yes, No]\n"
        "user_message: 'Agent {{ metadata.agent }} said: {{ text }}'\n"
    )
    openai.when("Agent Ana said: hi", answer("Yes", "greeted"))
    item = tmp_path / "item.json"
    item.write_text(json.dumps({"text": "hi", "metadata": json.dumps({"agent": "Ana"})}))
    env = {
        "OPENAI_API_KEY": OPENAI_KEY,
        "OPENAI_BASE_URL": openai.base_url,
        "PLEXUS_MODEL_MAX_RETRIES": "0",
    }
    done = cli("score", str(config), "--item-json", str(item), env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["value"] == "Yes"


@pytest.mark.parametrize("value", ["-1", "0", "many"])
def test_work_cli_refuses_a_bad_concurrency_in_one_line(value):
    assert_one_error_line(cli("work", "--concurrency", value, "job"), 2, "--concurrency")


def test_work_cli_unreachable_api_is_one_line_with_code_1():
    env = {"PLEXUS_API_URL": "http://127.0.0.1:9/graphql", "PLEXUS_API_KEY": "plx-key"}
    assert_one_error_line(cli("work", "some-job", env=env), 1, "unreachable")


def test_work_cli_missing_setting_is_one_line_with_code_2():
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLEXUS_")}
    done = subprocess.run(
        [sys.executable, "-m", "plexus.tooling.cli", "work"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert_one_error_line(done, 2, "PLEXUS_API_URL is not set")
