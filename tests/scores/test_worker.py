"""Real scores through the worker: the job processor against the local Plexus API, the test
model server and S3 in moto."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from plexus.clients.plexus_api import PlexusApi
from plexus.worker.processor import JobProcessor
from tests.scores.conftest import data


def process(settings: Any, *job_ids: str) -> list[Any]:
    async def go() -> list[Any]:
        async with PlexusApi(settings) as client:
            processor = JobProcessor(settings, client)
            try:
                return [await processor.process_job_id(job_id) for job_id in job_ids]
            finally:
                await processor.close()

    return asyncio.run(go())


def test_dashboard_score_job_end_to_end(settings, account, api, openai, s3):
    score_id = account.score("Agent Misrepresentation", data("agent_misrepresentation.yaml"))
    job_id = account.job(score_id, text="Agent: the program is free, no cost at all.")
    openai.reply("Presents the whole offer as free. Ambiguous Cost Language", 1500, 25)

    [outcome] = process(settings, job_id)

    assert outcome.status == "COMPLETED", outcome.reason
    result = api.get("ScoreResult", outcome.score_result_id)
    assert result["value"] == "No"
    assert result["explanation"].startswith("**Ambiguous Cost Language**: Presents")
    cost = json.loads(result["cost"])
    assert cost["llm_calls"] == 1 and cost["prompt_tokens"] == 1500 and cost["total_cost"] > 0
    assert cost["components"][0]["metadata"] == {"node_name": "misrepresentation_analysis"}
    trace = json.loads(result["trace"])
    assert [n["route"] for n in trace["nodes"]] == ["final_classification", "END"]
    metadata = json.loads(result["metadata"])
    assert (metadata["source"], metadata["scoring"]) == ("Worker", "model")


def test_dependency_reuses_the_earlier_result_of_the_item(settings, account, api, openai, s3):
    first = account.score("Greeting", "class: KeywordClassifier\nkeywords: [hello]\n")
    dependent = account.score(
        "Follow-up",
        """
name: Follow-up
class: LangGraphScore
model_provider: ChatOpenAI
model_name: gpt-4o-mini
depends_on:
  Greeting:
    operator: "=="
    value: "Yes"
graph:
  - name: judge
    class: Classifier
    valid_classes: [Good, Bad]
    user_message: |
      Greeting score: {{ results["Greeting"].value }}
      {{ text }}
output:
  value: classification
""",
    )
    item_id = api.seed_item(account.id, text="Agent: hello, how can I help?")
    missing = account.job_for_item(dependent, item_id)
    [outcome] = process(settings, missing)
    assert outcome.status == "FAILED"
    assert "depends on 'Greeting', which has no result for item" in outcome.reason

    [greeting] = process(settings, account.job_for_item(first, item_id))
    assert greeting.status == "COMPLETED", greeting.reason
    openai.reply("Good")
    [outcome] = process(settings, account.job_for_item(dependent, item_id))
    assert outcome.status == "COMPLETED", outcome.reason
    assert api.get("ScoreResult", outcome.score_result_id)["value"] == "Good"
    prompt = openai.requests[0]["body"]["messages"][0]["content"]
    assert prompt.startswith("Greeting score: Yes\nAgent: hello")


def test_unsupported_score_class_fails_the_job_saying_why(settings, account, api):
    score_id = account.score("BERT", "class: BERTClassifier\nembeddings_model: bert\n")
    [outcome] = process(settings, account.job(score_id))
    assert outcome.status == "FAILED"
    assert "score class 'BERTClassifier' is not supported; this worker runs" in outcome.reason
    assert api.get("ScoringJob", outcome.job_id)["errorMessage"] == outcome.reason


def test_input_source_job_reads_the_attachment(settings, account, api, openai, s3, monkeypatch):
    import dataclasses

    import plexus.worker.score_input as support

    # The local API has no Item.attachedFiles (the query is checked against the real
    # schema in test_real_schema.py); the item's files are handed over here instead.
    async def files(api_client: Any, item: dict[str, Any]) -> list[str]:
        return [f"items/{item['id']}/call.txt"]

    monkeypatch.setattr(support, "attached_files", files)
    s3.create_bucket(Bucket="datasources-worker")
    settings = dataclasses.replace(settings, datasources_bucket="datasources-worker")
    score_id = account.score(
        "From file",
        """
class: LangGraphScore
model_provider: ChatOpenAI
model_name: gpt-4o-mini
item:
  class: TextFileInputSource
  options: {pattern: 'call\\.txt$'}
graph:
  - name: greeted
    class: Classifier
    valid_classes: ["Yes", "No"]
    user_message: "{{ text }} ({{ metadata.input_source }})"
output: {value: classification}
""",
    )
    item_id = api.seed_item(account.id, text=None)
    s3.put_object(
        Bucket="datasources-worker", Key=f"items/{item_id}/call.txt", Body=b"Agent: hello"
    )
    openai.reply("Yes")
    [outcome] = process(settings, account.job_for_item(score_id, item_id))
    assert outcome.status == "COMPLETED", outcome.reason
    assert (
        openai.requests[0]["body"]["messages"][0]["content"] == "Agent: hello (TextFileInputSource)"
    )
