"""The job processor's steps over in-memory fakes: no services, no processes, fast.

The same steps run against the real services in tests/worker/test_processor.py."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from plexus.core.settings import Secret, Settings
from plexus.scores.run import ScoringSettings
from plexus.worker.processor import JobProcessor, Outcome, score_result_id
from plexus.worker.score_pool import OutOfTime, RemoteFailure
from plexus.worker.scoring import InProcessScorer
from tests.worker.unit.fakes import FakeApi, FakeFiles, FakeResponses, RaisingScorer

KEYWORD_YAML = """
class: KeywordClassifier
rules: [{value: "Yes", keywords: [hello]}]
default: "No"
"""
SETTINGS = Settings(
    api_url="http://127.0.0.1:1/graphql",
    api_key=Secret("unit-test-key"),
    account_key="acct",
    bucket="bucket",
    openai_api_key=None,
    openai_base_url=None,
    postgres_uri=None,
    max_attempts=3,
)


def processor(api: FakeApi, scorer: Any = None, **kwargs: Any) -> JobProcessor:
    return JobProcessor(
        SETTINGS,
        api,
        scorer=scorer or InProcessScorer(ScoringSettings()),
        files=kwargs.pop("files", FakeFiles()),
        responses=kwargs.pop("responses", FakeResponses()),
        **kwargs,
    )


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_a_keyword_job_is_scored_stored_and_completed():
    api, files, responses = FakeApi(), FakeFiles(), FakeResponses()
    job_id = api.seed(KEYWORD_YAML, text="Agent: hello")

    outcome = run(processor(api, files=files, responses=responses).process_job_id(job_id))

    assert outcome.status is Outcome.COMPLETED
    result = api.results[score_result_id(job_id)]
    assert (result["value"], result["status"], result["type"]) == ("Yes", "COMPLETED", "prediction")
    assert result["attachments"] == [
        f"scoreresults/{result['id']}/trace.json",
        f"scoreresults/{result['id']}/log.txt",
    ]
    trace, log_text = files.stored[result["id"]]
    assert trace["source"] == "rules" and set(trace["seconds"]) == {"load", "score"}
    assert f"job {job_id} claimed" in log_text
    assert responses.sent == [result["id"]]
    job = api.jobs[job_id]
    assert job["status"] == "COMPLETED"
    assert json.loads(job["metadata"])["scoreResultId"] == result["id"]


def test_a_cached_result_of_the_version_completes_the_job_without_scoring():
    api = FakeApi()
    job_id = api.seed(KEYWORD_YAML)
    job = api.jobs[job_id]
    api.cached[(job["itemId"], job["scoreId"])] = {"id": "earlier-result"}

    outcome = run(
        processor(api, scorer=RaisingScorer(AssertionError("scored"))).process_job_id(job_id)
    )

    assert (outcome.status, outcome.cached, outcome.score_result_id) == (
        Outcome.COMPLETED,
        True,
        "earlier-result",
    )


def test_a_missing_item_fails_the_job_naming_it():
    api = FakeApi()
    job_id = api.seed(KEYWORD_YAML)
    api.items.clear()

    outcome = run(processor(api).process_job_id(job_id))

    assert outcome.status is Outcome.FAILED
    assert api.jobs[job_id]["errorMessage"] == f"item {api.jobs[job_id]['itemId']} not found"


def test_an_error_behind_the_boundary_keeps_its_class_name_and_message():
    api = FakeApi()
    job_id = api.seed(KEYWORD_YAML)
    scorer = RaisingScorer(RemoteFailure("ScoreConfigError", "score 'x': invalid YAML at line 2"))

    outcome = run(processor(api, scorer=scorer).process_job_id(job_id))

    assert outcome.status is Outcome.FAILED and outcome.redeliver
    job = api.jobs[job_id]
    assert job["errorMessage"] == "score 'x': invalid YAML at line 2"
    assert json.loads(job["errorDetails"])["errorType"] == "ScoreConfigError"


def test_a_secret_in_an_error_is_redacted_from_the_job():
    api = FakeApi()
    job_id = api.seed(KEYWORD_YAML)
    scorer = RaisingScorer(RemoteFailure("ModelCallError", "refused key unit-test-key"))

    run(processor(api, scorer=scorer).process_job_id(job_id))

    assert api.jobs[job_id]["errorMessage"] == "refused key ***"


def test_a_lease_lost_before_completion_is_skipped_not_completed():
    api = FakeApi(steal_on_status="COMPLETED")
    job_id = api.seed(KEYWORD_YAML)

    outcome = run(processor(api).process_job_id(job_id))

    assert outcome.status is Outcome.SKIPPED and not outcome.redeliver
    assert api.jobs[job_id]["status"] == "IN_PROGRESS"  # the other worker's to finish


def test_out_of_time_gives_the_job_back_then_fails_it_at_the_limit():
    api = FakeApi()
    job_id = api.seed(KEYWORD_YAML)
    scorer = RaisingScorer(OutOfTime("the invocation ends before the score could finish"))

    first = run(processor(api, scorer=scorer).process_job_id(job_id))

    assert first.status is Outcome.RELEASED and first.redeliver
    assert api.jobs[job_id]["status"] == "PENDING"
    assert json.loads(api.jobs[job_id]["metadata"])["releases"] == 1
    for _ in range(SETTINGS.max_attempts - 1):
        last = run(processor(api, scorer=scorer).process_job_id(job_id))
    assert last.status is Outcome.FAILED
    assert api.jobs[job_id]["errorMessage"].startswith("given back 3 times, each time unfinished")


def test_a_drain_does_not_claim_again_a_job_it_gave_back():
    api = FakeApi()
    for _ in range(2):
        api.seed(KEYWORD_YAML)

    class OneSlow:
        def __init__(self) -> None:
            self.inner = InProcessScorer(ScoringSettings())
            self.slow: str | None = None

        async def score(self, request: Any, host: Any, *, ends_at: float | None = None) -> Any:
            if self.slow in (None, request.job_id):
                self.slow = request.job_id
                raise OutOfTime("the invocation ends before the score could finish")
            return await self.inner.score(request, host)

    scorer = OneSlow()
    summary = run(processor(api, scorer=scorer).drain("acct"))

    assert sorted(o.status for o in summary.outcomes) == ["COMPLETED", "RELEASED"]
    assert api.jobs[scorer.slow]["status"] == "PENDING"


@pytest.mark.parametrize("status", list(Outcome))
def test_an_outcome_is_its_own_type_and_prints_as_the_word(status):
    assert json.dumps({"status": status}) == f'{{"status": "{status.value}"}}'
