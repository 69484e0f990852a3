"""The job processor against the local Plexus API (DynamoDB through moto), the fake OpenAI
server, S3 in moto, PostgreSQL and an HTTPS server, all on 127.0.0.1."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from plexus.clients.plexus_api import PlexusApi
from plexus.core.settings import Secret, Settings
from plexus.worker.claim import utc_iso
from plexus.worker.processor import JobOutcome, JobProcessor, score_result_id
from tests.conftest import BUCKET, OPENAI_KEY, PLEXUS_KEY

LLM_YAML = """
name: Greeting
class: LLMClassifier
model: gpt-4o-mini
valid_classes: ["Yes", "No"]
system_message: You review call transcripts.
user_message: "Did the agent greet the caller?\\n\\n{text}"
"""
KEYWORD_YAML = """
class: KeywordClassifier
rules: [{value: "Yes", keywords: [hello, good morning]}]
default: "No"
"""


def answer(value: str, explanation: str = "because", confidence: float = 0.9) -> dict[str, Any]:
    return {"value": value, "explanation": explanation, "confidence": confidence}


async def _process(settings: Settings, job_ids: list[str]) -> list[JobOutcome]:
    async with PlexusApi(settings) as client:
        processor = JobProcessor(settings, client)
        try:
            return [await processor.process_job_id(job_id) for job_id in job_ids]
        finally:
            await processor.close()


def process(settings: Settings, *job_ids: str) -> list[JobOutcome]:
    return asyncio.run(_process(settings, list(job_ids)))


def drain(settings: Settings, account_key: str, remaining: Any = None) -> Any:
    async def go() -> Any:
        async with PlexusApi(settings) as client:
            processor = JobProcessor(settings, client, remaining_seconds=remaining)
            try:
                return await processor.drain(account_key)
            finally:
                await processor.close()

    return asyncio.run(go())


def s3_text(s3: Any, key: str) -> str:
    return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()


def test_llm_job_end_to_end(settings, account, api, openai, s3):
    score_id = account.score("Greeting", LLM_YAML)
    job_id = account.job(score_id, text="Agent: Good morning! How can I help?")
    openai.reply(answer("Yes", "the agent said good morning", 0.95))
    api.reset_counters()

    [outcome] = process(settings, job_id)

    assert outcome.status == "COMPLETED", outcome.reason
    job = api.get("ScoringJob", job_id)
    assert job["status"] == "COMPLETED"
    assert job["completedAt"] >= job["startedAt"]
    result = api.get("ScoreResult", outcome.score_result_id)
    assert result["id"] == score_result_id(job_id)
    assert result["value"] == "Yes"
    assert result["explanation"] == "the agent said good morning"
    assert float(result["confidence"]) == pytest.approx(0.95)
    assert result["type"] == "prediction"
    assert result["code"] == "200"
    # The real resolvers refuse a create without it (byTypeStatusUpdated: status#updatedAt).
    assert result["status"] == "COMPLETED"
    metadata = json.loads(result["metadata"])
    assert metadata["source"] == "Worker"  # the real worker's keys, which the dashboard reads
    assert metadata["explanation"] == "the agent said good morning"
    assert (
        metadata["external_id"] is None and metadata["cached_at"] and metadata["scoring"] == "model"
    )
    assert json.loads(result["trace"]) is not None
    assert result["scoringJobId"] == job_id
    assert result["itemId"] == job["itemId"]
    assert result["accountId"] == account.id
    assert result["scorecardId"] == account.scorecard_id
    assert result["scoreId"] == score_id
    assert result["scoreVersionId"] == account.scores[score_id][1]
    # Plexus's cost format, which the dashboard sums.
    cost = json.loads(result["cost"])
    assert cost["prompt_tokens"] > 0 and cost["completion_tokens"] > 0
    assert cost["total_tokens"] == cost["prompt_tokens"] + cost["completion_tokens"]
    assert cost["llm_calls"] == 1
    assert cost["total_cost"] == pytest.approx(cost["input_cost"] + cost["output_cost"])
    assert cost["total_cost"] > 0
    assert cost["components"][0]["model"] == "gpt-4o-mini"
    assert json.loads(job["metadata"])["scoreResultId"] == outcome.score_result_id
    # Both attachments exist under the result's prefix and are recorded on it.
    prefix = f"scoreresults/{outcome.score_result_id}"
    assert sorted(result["attachments"]) == [f"{prefix}/log.txt", f"{prefix}/trace.json"]
    trace = json.loads(s3_text(s3, f"{prefix}/trace.json"))
    assert trace["classification"]["value"] == "Yes"
    assert trace["scoringJobId"] == job_id
    assert "claimed" in s3_text(s3, f"{prefix}/log.txt")
    # The model saw the item's text through the score's template.
    [request] = openai.requests
    assert "Good morning! How can I help?" in json.dumps(request["body"]["messages"])
    # Round trips: claim, context, version+cache, create result, complete.
    assert api.requests == [
        ("updateScoringJob",),
        ("getItem", "getScore", "getScorecard"),
        ("getScoreVersion", "listScoreResultByItemIdAndTypeAndScoreIdAndUpdatedAt"),
        ("createScoreResult",),
        ("updateScoringJob",),
    ]


def test_deterministic_job_needs_no_model(settings, account, api, openai):
    score_id = account.score("Greeting words", KEYWORD_YAML)
    yes, no = account.job(score_id, text="hello there"), account.job(score_id, text="bye")
    outcomes = process(settings, yes, no)
    assert [o.status for o in outcomes] == ["COMPLETED", "COMPLETED"]
    assert api.get("ScoreResult", outcomes[0].score_result_id)["value"] == "Yes"
    assert api.get("ScoreResult", outcomes[1].score_result_id)["value"] == "No"
    assert openai.requests == []


def test_cached_result_is_reused_without_a_model_call(settings, account, api, openai):
    score_id = account.score("Greeting", LLM_YAML)
    first = account.job(score_id, text="Hi, welcome!")
    item_id = api.get("ScoringJob", first)["itemId"]
    openai.reply(answer("Yes"))
    [one] = process(settings, first)
    second = account.job_for_item(score_id, item_id)
    api.reset_counters()

    [two] = process(settings, second)

    assert two.status == "COMPLETED" and two.cached
    assert two.score_result_id == one.score_result_id
    assert len(openai.requests) == 1
    assert json.loads(api.get("ScoringJob", second)["metadata"])["cached"] is True
    # Claim, context, version+cache, complete.
    assert api.request_count == 4


def test_new_champion_version_is_not_served_from_the_old_cache(settings, account, api, openai):
    score_id = account.score("Greeting", LLM_YAML)
    first = account.job(score_id, text="Hi")
    item_id = api.get("ScoringJob", first)["itemId"]
    openai.reply(answer("Yes"))
    process(settings, first)
    api.add_score_version(score_id, LLM_YAML.replace("Greeting", "Greeting v2"), champion=True)
    openai.reply(answer("No"))
    [outcome] = process(settings, account.job_for_item(score_id, item_id))
    assert not outcome.cached
    assert api.get("ScoreResult", outcome.score_result_id)["value"] == "No"
    assert len(openai.requests) == 2


def test_postgres_store_saves_the_model_call_across_a_crash(
    settings, account, api, openai, postgres, monkeypatch
):
    settings = dataclasses.replace(
        settings,
        postgres_uri=Secret(postgres.create_database("crash")),
        lease_seconds=0.5,
    )
    score_id = account.score("Greeting", LLM_YAML)
    job_id = account.job(score_id, text="Hello and welcome")
    openai.reply(answer("Yes"))

    class Crash(BaseException):
        """Stands for the process dying: nothing in the worker catches it."""

    async def crash(*args: Any, **kwargs: Any) -> Any:
        raise Crash

    with monkeypatch.context() as patch:
        patch.setattr(JobProcessor, "_upload", crash)
        with pytest.raises(Crash):
            process(settings, job_id)
    assert api.get("ScoringJob", job_id)["status"] == "IN_PROGRESS"
    assert len(openai.requests) == 1

    import time

    time.sleep(0.6)  # the lease runs out
    [outcome] = process(settings, job_id)

    assert outcome.status == "COMPLETED", outcome.reason
    assert len(openai.requests) == 1, "the retried job called the model again"
    result = api.get("ScoreResult", outcome.score_result_id)
    assert result["value"] == "Yes"
    metadata = json.loads(result["metadata"])
    assert (metadata["source"], metadata["scoring"], metadata["attempt"]) == ("Worker", "store", 2)
    assert json.loads(api.get("ScoringJob", job_id)["metadata"])["attempts"] == 2


@pytest.mark.slow
def test_two_processors_racing_score_each_job_exactly_once(settings, account, api, openai):
    score_id = account.score("Greeting", LLM_YAML)
    jobs = [account.job(score_id, text=f"transcript {i}") for i in range(50)]
    openai.set_default(lambda body: openai.make_reply(answer("Yes")))
    fast = dataclasses.replace(settings, concurrency=8)

    async def race() -> list[Any]:
        async def one() -> Any:
            async with PlexusApi(fast) as client:
                processor = JobProcessor(fast, client)
                try:
                    return await processor.drain(account.key)
                finally:
                    await processor.close()

        return list(await asyncio.gather(one(), one()))

    summaries = asyncio.run(race())

    completed = [o.job_id for s in summaries for o in s.outcomes if o.status == "COMPLETED"]
    assert sorted(completed) == sorted(jobs), "every job completed by exactly one processor"
    assert all(s.count("COMPLETED") > 0 for s in summaries), "both processors took part"
    assert len(openai.requests) == 50
    results = [r for r in api.scan("ScoreResult") if r.get("scoringJobId") in set(jobs)]
    assert len(results) == 50
    assert {api.get("ScoringJob", j)["status"] for j in jobs} == {"COMPLETED"}


def results_of(api: Any, job_id: str) -> list[dict[str, Any]]:
    return [r for r in api.scan("ScoreResult") if r.get("scoringJobId") == job_id]


def failed_reason(api: Any, job_id: str) -> str:
    job = api.get("ScoringJob", job_id)
    assert job["status"] == "FAILED", job
    return job["errorMessage"]


def test_unknown_score_fails_the_job(settings, account, api):
    job_id = account.job("no-such-score")
    [outcome] = process(settings, job_id)
    assert outcome.status == "FAILED"
    assert failed_reason(api, job_id) == "score no-such-score not found"


def test_missing_item_fails_the_job(settings, account, api):
    score_id = account.score("Greeting", KEYWORD_YAML)
    job_id = account.job_for_item(score_id, "no-such-item")
    process(settings, job_id)
    assert failed_reason(api, job_id) == "item no-such-item not found"


def test_invalid_yaml_fails_the_job_with_the_line(settings, account, api):
    score_id = account.score("Broken", "class: LLMClassifier\nvalid_classes: [Yes, No\n")
    job_id = account.job(score_id)
    process(settings, job_id)
    reason = failed_reason(api, job_id)
    assert reason.startswith("score 'Broken' version ")
    assert "invalid YAML at line" in reason


def test_reply_outside_the_classes_fails_the_job(settings, account, api, openai):
    score_id = account.score("Greeting", LLM_YAML)
    job_id = account.job(score_id)
    openai.reply(answer("Perhaps"))
    process(settings, job_id)
    assert "the model answered 'Perhaps', which is not one of ['Yes', 'No']" in failed_reason(
        api, job_id
    )
    assert results_of(api, job_id) == []


def test_throttled_model_is_retried_then_succeeds(settings, account, api, openai):
    score_id = account.score("Greeting", LLM_YAML)
    job_id = account.job(score_id)
    openai.error(429, "Rate limit reached", retry_after_ms=50)
    openai.reply(answer("No"))
    [outcome] = process(settings, job_id)
    assert outcome.status == "COMPLETED", outcome.reason
    assert len(openai.requests) == 2


def test_model_timeout_fails_the_job_with_the_reason(settings, account, api, openai):
    score_id = account.score("Greeting", LLM_YAML)
    job_id = account.job(score_id)
    fast = dataclasses.replace(settings, model_timeout_seconds=0.3, model_max_retries=0)
    openai.delay(2.0, then=openai.make_reply(answer("Yes")))
    [outcome] = process(fast, job_id)
    assert outcome.status == "FAILED"
    assert "model gpt-4o-mini timed out" in failed_reason(api, job_id)


def test_s3_failure_fails_the_job_and_stores_no_result(settings, account, api):
    score_id = account.score("Greeting words", KEYWORD_YAML)
    job_id = account.job(score_id)
    no_bucket = dataclasses.replace(settings, bucket="bucket-that-does-not-exist")
    process(no_bucket, job_id)
    reason = failed_reason(api, job_id)
    assert "storing s3://bucket-that-does-not-exist/scoreresults/" in reason
    assert "NoSuchBucket" in reason
    assert results_of(api, job_id) == []


def test_one_bad_job_does_not_stop_the_others(settings, account, api):
    good = account.score("Greeting words", KEYWORD_YAML)
    bad = account.score("Broken", "class: Nonsense")
    jobs = [account.job(good), account.job(bad), account.job(good), account.job("missing")]
    summary = drain(settings, account.key)
    statuses = {o.job_id: o.status for o in summary.outcomes}
    assert statuses == {
        jobs[0]: "COMPLETED",
        jobs[1]: "FAILED",
        jobs[2]: "COMPLETED",
        jobs[3]: "FAILED",
    }


def test_content_from_https_url_through_pycurl(settings, account, api, https_content, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", https_content.ca_pem_path)
    https_content.add("/transcripts/1.txt", b"Agent: hello, thanks for calling")
    score_id = account.score("Greeting words", KEYWORD_YAML)
    job_id = account.job(
        score_id, text=None, metadata={"contentUrl": https_content.url("/transcripts/1.txt")}
    )
    [outcome] = process(settings, job_id)
    assert outcome.status == "COMPLETED", outcome.reason
    assert api.get("ScoreResult", outcome.score_result_id)["value"] == "Yes"


def test_content_limits_and_tls_verification(settings, account, api, https_content, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", https_content.ca_pem_path)
    score_id = account.score("Greeting words", KEYWORD_YAML)
    small = dataclasses.replace(settings, content_max_bytes=1000, content_timeout_seconds=1.0)
    https_content.add("/big.txt", b"x" * 5000)
    https_content.add("/slow.txt", b"late", delay=3.0)
    https_content.add("/plain.txt", b"hello")
    cases = {
        account.job(
            score_id, text=None, metadata={"contentUrl": https_content.url("/big.txt")}
        ): "larger than 1000 bytes",
        account.job(
            score_id, text=None, metadata={"contentUrl": https_content.url("/slow.txt")}
        ): "timed out",
        account.job(
            score_id, text=None, metadata={"contentUrl": https_content.untrusted_url("/plain.txt")}
        ): "failed",
        account.job(
            score_id,
            text=None,
            metadata={"contentUrl": https_content.url("/plain.txt").replace("https:", "http:")},
        ): "must be https",
        account.job(score_id, text=None): "has no text and no metadata.contentUrl",
    }
    for job_id, expected in cases.items():
        [outcome] = process(small, job_id)
        assert outcome.status == "FAILED"
        assert expected in failed_reason(api, job_id)


def test_stale_claim_is_reclaimed_and_gives_up_at_the_attempt_limit(settings, account, api):
    score_id = account.score("Greeting words", KEYWORD_YAML)
    old = utc_iso(__import__("datetime").datetime(2020, 1, 1, tzinfo=__import__("datetime").UTC))
    stale = account.job_for_item(
        score_id, api.seed_item(account.id, text="hello"), status="IN_PROGRESS", startedAt=old
    )
    worn = account.job_for_item(
        score_id,
        api.seed_item(account.id, text="hello"),
        status="IN_PROGRESS",
        startedAt=old,
        metadata=json.dumps({"attempts": settings.max_attempts}),
    )
    fresh = account.job_for_item(
        score_id, api.seed_item(account.id, text="hello"), status="IN_PROGRESS", startedAt=utc_iso()
    )
    summary = drain(settings, account.key)
    statuses = {o.job_id: o.status for o in summary.outcomes}
    assert statuses[stale] == "COMPLETED"
    assert json.loads(api.get("ScoringJob", stale)["metadata"])["attempts"] == 2
    assert "abandoned: 3 attempts" in failed_reason(api, worn)
    assert fresh not in statuses, "a job under a live lease is left alone"
    assert api.get("ScoringJob", fresh)["status"] == "IN_PROGRESS"


def test_no_new_claims_when_time_runs_short(settings, account, api):
    score_id = account.score("Greeting words", KEYWORD_YAML)
    jobs = [account.job(score_id) for _ in range(3)]
    summary = drain(settings, account.key, remaining=lambda: 5.0)
    assert summary.stopped_for_time
    assert summary.outcomes == []
    assert {api.get("ScoringJob", j)["status"] for j in jobs} == {"PENDING"}


def test_job_already_done_is_skipped(settings, account, api):
    score_id = account.score("Greeting words", KEYWORD_YAML)
    job_id = account.job(score_id)
    process(settings, job_id)
    [again] = process(settings, job_id)
    assert again.status == "SKIPPED"
    assert again.reason == "already COMPLETED"
    assert again.already_finished
    assert len(results_of(api, job_id)) == 1


def test_api_throttling_is_retried(settings, account, api):
    score_id = account.score("Greeting words", KEYWORD_YAML)
    job_id = account.job(score_id)
    api.inject_http_errors(429, 2)
    [outcome] = process(settings, job_id)
    assert outcome.status == "COMPLETED", outcome.reason
    api.inject_http_errors(503, 1)
    [outcome] = process(settings, account.job(score_id))
    assert outcome.status == "COMPLETED", outcome.reason


def test_api_client_errors_are_not_retried(settings, account, api):
    bad_key = dataclasses.replace(settings, api_key=Secret("wrong-key"))
    with pytest.raises(Exception, match="UnauthorizedException"):
        process(bad_key, "any-job")
    assert api.request_count == 1


def test_secrets_stay_out_of_logs_results_and_attachments(
    settings, account, api, openai, s3, caplog, postgres
):
    pg_uri = postgres.create_database("secrets")
    settings = dataclasses.replace(settings, postgres_uri=Secret(pg_uri))
    caplog.set_level(logging.DEBUG)
    score_id = account.score("Greeting", LLM_YAML)
    ok = account.job(score_id, text="hello")
    bad = account.job(score_id, text="hello again")
    openai.reply(answer("Yes"))
    openai.error(401, f"Incorrect API key provided: {OPENAI_KEY}")
    outcomes = process(settings, ok, bad)
    assert [o.status for o in outcomes] == ["COMPLETED", "FAILED"]

    secrets = [PLEXUS_KEY, OPENAI_KEY, pg_uri]
    texts = [caplog.text]
    texts += [json.dumps(api.get("ScoringJob", j)) for j in (ok, bad)]
    result = api.get("ScoreResult", outcomes[0].score_result_id)
    texts.append(json.dumps(result))
    texts += [s3_text(s3, key) for key in result["attachments"]]
    for text in texts:
        for secret in secrets:
            assert secret not in text


def seed_result(api: Any, account: Any, score_id: str, item_id: str, **fields: Any) -> str:
    """A ScoreResult as a worker writes it (the real one leaves scoreVersionId out)."""
    return api.put(
        "ScoreResult",
        {
            "value": "Old",
            "itemId": item_id,
            "accountId": account.id,
            "scorecardId": account.scorecard_id,
            "scoreId": score_id,
            "type": "prediction",
            "status": "COMPLETED",
            "code": "200",
            **fields,
        },
    )


def test_cache_hit_is_one_request_however_many_results_the_item_has(settings, account, api, openai):
    score_id = account.score("Greeting", LLM_YAML)
    version_id = account.scores[score_id][1]
    first = account.job(score_id, text="Hi, welcome!")
    item_id = api.get("ScoringJob", first)["itemId"]
    for second in range(120):  # older results of this and other versions
        stamp = f"2025-01-01T00:{second // 60:02d}:{second % 60:02d}.000Z"
        seed_result(
            api,
            account,
            score_id,
            item_id,
            scoreVersionId="retired-version" if second % 2 else version_id,
            createdAt=stamp,
            updatedAt=stamp,
        )
    openai.reply(answer("Yes"))
    [one] = process(settings, first)
    assert not one.cached
    api.reset_counters()

    [two] = process(settings, account.job_for_item(score_id, item_id))

    assert two.cached and two.score_result_id == one.score_result_id
    assert api.requests == [
        ("updateScoringJob",),
        ("getItem", "getScore", "getScorecard"),
        ("getScoreVersion", "listScoreResultByItemIdAndTypeAndScoreIdAndUpdatedAt"),
        ("updateScoringJob",),
    ]
    assert len(openai.requests) == 1


def test_result_without_score_version_is_not_reused(settings, account, api, openai):
    """The real worker writes no scoreVersionId: its results cannot show which
    configuration made them, so they are scored again rather than trusted."""
    score_id = account.score("Greeting", LLM_YAML)
    job = account.job(score_id, text="Hello")
    item_id = api.get("ScoringJob", job)["itemId"]
    seed_result(api, account, score_id, item_id)
    openai.reply(answer("Yes"))
    [outcome] = process(settings, job)
    assert outcome.status == "COMPLETED" and not outcome.cached
    assert len(openai.requests) == 1


def test_drain_reads_only_the_window_not_the_history(settings, account, api):
    score_id = account.score("Greeting words", KEYWORD_YAML)
    item = api.seed_item(account.id, text="hello")

    def drained() -> tuple[int, list[tuple[str, ...]]]:
        pending = [account.job(score_id, text="hello") for _ in range(5)]
        api.reset_counters()
        summary = drain(settings, account.key)
        assert sorted(o.job_id for o in summary.outcomes if o.status == "COMPLETED") == sorted(
            pending
        )
        return api.request_count, api.requests

    quiet_count, _ = drained()
    old = utc_iso(datetime.now(UTC) - timedelta(days=30))
    for _ in range(300):  # finished long ago: outside the 24-hour window
        account.job_for_item(score_id, item, status="COMPLETED", createdAt=old)
    busy_count, requests = drained()
    assert busy_count == quiet_count
    # The account, one listing that finds the 5, one that finds nothing left; 5 per job.
    assert requests.count(("listScoringJobByAccountIdAndCreatedAt",)) == 2
    assert busy_count == 1 + 2 + 5 * 5


def test_drain_window_is_a_setting(settings, account, api):
    score_id = account.score("Greeting words", KEYWORD_YAML)
    item = api.seed_item(account.id, text="hello")
    recent = utc_iso(datetime.now(UTC) - timedelta(hours=1))
    for _ in range(30):
        account.job_for_item(score_id, item, status="COMPLETED", createdAt=recent)
    account.job_for_item(score_id, item)
    narrow = dataclasses.replace(settings, drain_window_hours=0.5)
    api.reset_counters()
    summary = drain(narrow, account.key)
    assert summary.count("COMPLETED") == 1
    assert api.requests.count(("listScoringJobByAccountIdAndCreatedAt",)) == 2


@pytest.fixture
def response_queue(moto_server: Any) -> Any:
    sqs = moto_server.client("sqs")
    url = sqs.create_queue(QueueName=f"responses-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    return sqs, url


def received(sqs: Any, url: str) -> list[dict[str, Any]]:
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def test_each_finished_job_sends_its_result_to_the_response_queue(
    settings, account, api, response_queue
):
    sqs, url = response_queue
    with_queue = dataclasses.replace(settings, response_queue_url=url)
    score_id = account.score("Greeting words", KEYWORD_YAML)
    job = account.job(score_id, text="hello")
    [outcome] = process(with_queue, job)
    assert received(sqs, url) == [{"score_result_id": outcome.score_result_id}]
    item_id = api.get("ScoringJob", job)["itemId"]
    [hit] = process(with_queue, account.job_for_item(score_id, item_id))
    assert hit.cached
    assert received(sqs, url) == [{"score_result_id": outcome.score_result_id}]


def test_unreachable_response_queue_fails_the_job_naming_it(settings, account, api, moto_server):
    gone = f"{moto_server.endpoint_url}/123456789012/no-such-queue"
    score_id = account.score("Greeting words", KEYWORD_YAML)
    [outcome] = process(
        dataclasses.replace(settings, response_queue_url=gone), account.job(score_id)
    )
    assert outcome.status == "FAILED"
    assert "PLEXUS_RESPONSE_WORKER_QUEUE_URL" in failed_reason(api, outcome.job_id)


def test_redelivered_failed_job_is_reported_failed_not_scored_again(settings, account, api):
    job = account.job("no-such-score")
    [first] = process(settings, job)
    assert first.status == "FAILED"
    api.reset_counters()
    [again] = process(settings, job)
    assert again.status == "FAILED" and again.already_finished
    assert again.reason == "already FAILED: score no-such-score not found"
    # Tried to claim (refused: not PENDING), read the job; nothing written.
    assert api.requests == [("updateScoringJob",), ("getScoringJob",)]


def test_history_inside_the_window_is_paged_once_not_every_pass(settings, account, api):
    score_id = account.score("Greeting words", KEYWORD_YAML)
    item = api.seed_item(account.id, text="hello")
    recent = utc_iso(datetime.now(UTC) - timedelta(hours=1))
    api.put_many(
        "ScoringJob",
        [
            {
                "accountId": account.id,
                "scorecardId": account.scorecard_id,
                "scoreId": score_id,
                "itemId": item,
                "status": "COMPLETED",
                "createdAt": recent,
            }
            for _ in range(150)
        ],
    )
    pending = account.job(score_id, text="hello")
    api.reset_counters()
    summary = drain(settings, account.key)
    assert [o.job_id for o in summary.outcomes if o.status == "COMPLETED"] == [pending]
    # Pass 1 pages through the 151 jobs (2 pages of 100); pass 2 starts at the pending job.
    assert api.requests.count(("listScoringJobByAccountIdAndCreatedAt",)) == 3
