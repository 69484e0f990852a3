"""TactusScore jobs through the worker: the job processor against the local Plexus API, the
test model server and S3 in moto, with the real tactus runtime."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from plexus.clients.plexus_api import PlexusApi
from plexus.worker.processor import JobProcessor
from tests.scores.test_worker import process

pytestmark = pytest.mark.slow

GREETING = """
name: Greeting
class: TactusScore
valid_classes: ['Yes', 'No']
code: |-
  default_model "{model}"
  ClassifyProcedure {{
    classes = {{"Yes", "No"}},
    system_message = [[You review sales calls.]],
    user_message = [[Did the agent greet the caller? <transcript>{{{{ text }}}}</transcript>]]
  }}
"""


def test_tactus_job_end_to_end(settings, account, api, openai, s3):
    score_id = account.score("Greeting", GREETING.format(model="openai/gpt-5.4-nano"))
    job_id = account.job(score_id, text="Agent: good morning, thanks for calling.")
    openai.reply("The agent said good morning.\nYES", 140, 9)

    [outcome] = process(settings, job_id)

    assert outcome.status == "COMPLETED", outcome.reason
    result = api.get("ScoreResult", outcome.score_result_id)
    assert (result["value"], result["explanation"]) == ("Yes", "The agent said good morning.")
    cost = json.loads(result["cost"])
    assert (cost["llm_calls"], cost["prompt_tokens"], cost["completion_tokens"]) == (1, 140, 9)
    assert cost["components"][0]["model"] == "openai/gpt-5.4-nano" and cost["total_cost"] > 0
    trace = json.loads(result["trace"])
    assert trace["tactus"]["output"]["value"] == "Yes"
    assert json.loads(result["metadata"])["scoring"] == "model"
    [request] = openai.requests
    assert json.loads(request["body"]["messages"][1]["content"]) == {
        "text": "Did the agent greet the caller? "
        "<transcript>Agent: good morning, thanks for calling.</transcript>"
    }


def test_tactus_score_depends_on_a_langgraph_result(settings, account, api, openai, s3):
    first = account.score(
        "Tone",
        """
name: Tone
class: LangGraphScore
model_provider: ChatOpenAI
model_name: gpt-4o-mini
graph:
  - name: tone
    class: Classifier
    valid_classes: [Friendly, Rude]
    system_message: You judge the agent's tone.
    user_message: "{{ text }}"
output:
  value: classification
  explanation: explanation
""",
    )
    dependent = account.score(
        "Tone check",
        """
name: Tone check
class: TactusScore
depends_on: [Tone]
code: |-
  Procedure {
    input = { text = field.string{required = true}, results = field.array{} },
    output = { value = field.string{required = true}, explanation = field.string{} },
    function(input)
      local tone = input.results[1]
      if tone.value == "Friendly" then
        return {value = "Yes", explanation = "tone was " .. tone.value}
      end
      return {value = "No", explanation = "tone was " .. tone.value}
    end
  }
""",
    )
    item_id = api.seed_item(account.id, text="Agent: hello there, happy to help!")
    openai.reply("Friendly")
    [tone] = process(settings, account.job_for_item(first, item_id))
    assert tone.status == "COMPLETED", tone.reason
    assert api.get("ScoreResult", tone.score_result_id)["value"] == "Friendly"

    [outcome] = process(settings, account.job_for_item(dependent, item_id))
    assert outcome.status == "COMPLETED", outcome.reason
    result = api.get("ScoreResult", outcome.score_result_id)
    assert (result["value"], result["explanation"]) == ("Yes", "tone was Friendly")
    assert len(openai.requests) == 1  # the Lua called no model


def test_failed_procedure_fails_the_job_with_tactus_message_and_its_cost(
    settings, account, api, openai, s3
):
    score_id = account.score(
        "Broken",
        """
class: TactusScore
code: |-
  default_model "openai/gpt-4o-mini"
  Procedure {
    input = { text = field.string{required = true} },
    output = { value = field.string{required = true} },
    function(input)
      local r = Classify { classes = {"Yes", "No"}, prompt = "Q?", input = input.text }
      error("cannot decide after " .. r.value)
    end
  }
""",
    )
    openai.reply("ok\nNo", 77, 3)
    [outcome] = process(settings, account.job(score_id))
    assert outcome.status == "FAILED"
    assert "cannot decide after No" in outcome.reason
    job = api.get("ScoringJob", outcome.job_id)
    assert job["errorMessage"] == outcome.reason
    details = json.loads(job["errorDetails"])
    assert details["errorType"] == "TactusProcedureError"
    assert (details["cost"]["llm_calls"], details["cost"]["prompt_tokens"]) == (1, 77)


def test_concurrent_tactus_jobs_of_one_drain_each_use_their_model(
    settings, account, api, openai, s3
):
    models = ["openai/gpt-4o-mini", "openai/gpt-4.1", "openai/gpt-5.4-nano", "openai/gpt-4o"]
    jobs = {}
    for i, model in enumerate(models):
        score_id = account.score(f"Greeting {i}", GREETING.format(model=model))
        jobs[account.job(score_id, text=f"Agent: hello {i}")] = model
    openai.set_default(lambda body: "Greeted.\nYes")
    openai.latency = 0.3  # so the jobs' calls overlap (PLEXUS_CONCURRENCY is 4)

    async def go() -> Any:
        async with PlexusApi(settings) as client:
            processor = JobProcessor(settings, client)
            try:
                return await processor.drain(account.key)
            finally:
                await processor.close()

    try:
        summary = asyncio.run(go())
    finally:
        openai.latency = 0.0
    assert sorted(o.status for o in summary.outcomes) == ["COMPLETED"] * 4
    for o in summary.outcomes:
        cost = json.loads(api.get("ScoreResult", o.score_result_id)["cost"])
        assert cost["components"][0]["model"] == jobs[o.job_id]
    sent = {
        json.loads(r["body"]["messages"][1]["content"])["text"][-20:]: r["body"]["model"]
        for r in openai.requests
    }
    for i, model in enumerate(models):
        [(text, sent_model)] = [(t, m) for t, m in sent.items() if f"hello {i}<" in t]
        assert sent_model == model.split("/")[1], (text, sent_model)


def test_plexus_lambda_score_runs_a_tactus_score(openai, tmp_path):
    import os
    import subprocess
    import sys

    from tests.conftest import OPENAI_KEY

    path = tmp_path / "greeting.yaml"
    path.write_text(GREETING.format(model="openai/gpt-4o-mini"))
    openai.reply("Said hello.\nYes", 90, 4)
    done = subprocess.run(
        [sys.executable, "-m", "plexus.tooling.cli", "score", str(path), "--text", "Agent: hi"],
        capture_output=True,
        text=True,
        env={**os.environ, "OPENAI_API_KEY": OPENAI_KEY, "OPENAI_BASE_URL": openai.base_url},
        timeout=280,  # tactus's import takes seconds, many on a loaded machine
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert (report["value"], report["explanation"]) == ("Yes", "Said hello.")
    assert report["cost"]["llm_calls"] == 1 and report["cost"]["prompt_tokens"] == 90
