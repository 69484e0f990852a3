"""`plexus-lambda score`: a real Plexus score file run on a text, JSON on stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import OPENAI_KEY
from tests.scores.conftest import DATA


def score(openai, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "OPENAI_API_KEY": OPENAI_KEY,
        "OPENAI_BASE_URL": openai.base_url,
        "PLEXUS_MODEL_MAX_RETRIES": "0",
    }
    return subprocess.run(
        [sys.executable, "-m", "plexus.tooling.cli", "score", *args],
        capture_output=True,
        text=True,
        env=env,
        input=stdin,
        timeout=60,
    )


def test_score_a_dashboard_score_on_a_text(openai):
    openai.reply("Nothing misleading. None", 300, 12)
    done = score(openai, str(DATA / "agent_misrepresentation.yaml"), "--text", "Agent: hi")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["value"] == "Yes"
    assert [(n["node"], n["route"]) for n in report["nodes"]] == [
        ("misrepresentation_analysis", "final_classification"),
        ("final_classification", "END"),
    ]
    assert report["tokens"] == {
        "prompt": 300,
        "completion": 12,
        "total": 312,
        "cached": 0,
        "llm_calls": 1,
    }
    assert report["cost"]["total_cost"] > 0
    assert "node misrepresentation_analysis (Classifier)" in done.stderr  # progress on stderr


def test_score_from_a_scorecard_file_runs_dependencies_first(openai, tmp_path: Path):
    openai.when("complexity of this text", "High")
    openai.when("clarity of this text", "Low")
    text_file = tmp_path / "t.txt"
    text_file.write_text("Some text.")
    done = score(
        openai,
        str(DATA / "test_scorecard_linear.yaml"),
        "--score",
        "Score B",
        "--text-file",
        str(text_file),
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    # Plexus's test scorecard maps no value, so each score answers "No", as Plexus's does
    # (parity case no_score_output); Score A ran first, and Score B saw its result.
    assert (report["score"], report["value"]) == ("Score B", "No")
    assert report["dependencies"]["Score A"]["value"] == "No"
    assert [n["classification"] for n in report["nodes"]] == ["Low"]


def test_item_json_with_metadata_and_errors_on_stderr(openai, tmp_path: Path):
    item = tmp_path / "item.json"
    item.write_text(json.dumps({"text": "Customer: deal", "metadata": {"customer_type": "retail"}}))
    done = score(openai, str(DATA / "edge_routing.yaml"), "--item-json", str(item))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["value"] == "NA"

    bad = tmp_path / "bad.yaml"
    bad.write_text("class: LangGraphScore\ngraph: [{name: a, class: Nope}]\n")
    done = score(openai, str(bad), "--text", "x")
    assert done.returncode == 1 and done.stdout == ""
    assert "node class 'Nope' is not supported" in done.stderr


# --- what can come from stdin: read by the command, not by the forked scoring process ---


def test_item_json_from_stdin(openai):
    # Plexus stores metadata as a JSON string; the stdin item carries it so, and the
    # LogicalClassifier routes on it: the item reached the scoring process whole.
    item = {"text": "Customer: deal", "metadata": json.dumps({"customer_type": "retail"})}
    done = score(
        openai, str(DATA / "edge_routing.yaml"), "--item-json", "-", stdin=json.dumps(item)
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["value"], report["explanation"]) == ("NA", "Not a revenue-only customer")
    assert report["nodes"][0]["classification"] == "No"


def test_text_file_from_stdin(openai, tmp_path: Path):
    config = tmp_path / "keyword.yaml"
    config.write_text(
        'class: KeywordClassifier\nrules: [{value: "Yes", keywords: [hello]}]\ndefault: "No"\n'
    )
    done = score(openai, str(config), "--text-file", "-", stdin="Agent: hello there\n")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["value"] == "Yes"
    done = score(openai, str(config), "--text-file", "-", stdin="Agent: good day\n")
    assert json.loads(done.stdout)["value"] == "No"


def test_bad_item_from_stdin_is_named(openai):
    config = str(DATA / "edge_routing.yaml")
    done = score(openai, config, "--item-json", "-", stdin="not json")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("error: --item-json is not valid JSON: Expecting value")
    done = score(openai, config, "--item-json", "-", stdin="[1, 2]")
    assert done.returncode == 1
    assert done.stderr.strip() == "error: --item-json must be a JSON object"
