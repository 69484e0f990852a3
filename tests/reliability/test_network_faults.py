"""Issue 22: the network fails, no job does.

A TCP-level fault proxy (tests/reliability/fault_proxy.py) sits between the worker's real
Plexus API client and an API that enforces the real schema's rules: the lean in-memory one
(bench/lean_api.py) and the emulator on moto's DynamoDB (plexus/local). Each fault kind
(tests/reliability/api_faults.py FAULTS: refused, reset, closed before or after the API acted,
a read timeout, 429, 503, a 504 after the write landed) meets each write the worker sends
(the claim, the ScoreResult, the COMPLETED and FAILED updates, the give-back) once; then a
fault that outlasts the retries, and drains whose listing or claim fails, or whose
connections a load balancer keeps ending.

Each test asserts: no job lost (it ends COMPLETED, FAILED for its own fault, or PENDING to be
claimed again, never IN_PROGRESS), no job with two ScoreResults, and the log's account of
what was retried and what was read back.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from plexus.clients.plexus_api import PlexusApi
from plexus.core.settings import Settings, load_settings
from plexus.scores.run import ScoringSettings
from plexus.worker.processor import DrainSummary, JobOutcome, JobProcessor, score_result_id
from plexus.worker.scoring import InProcessScorer
from tests.conftest import PLEXUS_KEY
from tests.reliability.api_faults import (
    APPLIED,
    BROKEN_YAML,
    FAULTS,
    Backend,
    ScriptedFaults,
)
from tests.reliability.fault_proxy import CLOSE, FORWARD, HOLD, FaultProxy
from tests.worker.unit.fakes import FakeFiles, FakeResponses

MAX_ATTEMPTS = 6
STALL_SECONDS = 0.8
# Short waits so that a test takes a fraction of a second; a refused connection's retries
# (0.02, 0.04, 0.08, 0.16 s plus jitter) outlast the proxy's 0.15 s down time.
WORKER_ENV = {
    "PLEXUS_API_KEY": PLEXUS_KEY,
    "PLEXUS_FETCH_SCHEMA_FROM_TRANSPORT": "0",
    "PLEXUS_API_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
    "PLEXUS_API_RETRY_SECONDS": "0.02",
    "PLEXUS_API_TIMEOUT_SECONDS": "0.5",
    "PLEXUS_CONCURRENCY": "2",
    "PLEXUS_JOB_MAX_ATTEMPTS": "3",
}
MUTATION_FAULTS = sorted(FAULTS)


@pytest.fixture(scope="module")
def lean_backend() -> Iterator[Backend]:
    from tests.bench_support.conftest import BENCH

    assert BENCH.is_dir()  # importing it put bench/ on sys.path
    from _lean_server import StandIn

    env = {**os.environ, "PLEXUS_API_KEY": PLEXUS_KEY}
    with StandIn("lean_api.py", "--latency", "0", env=env) as lean:
        backend = Backend(
            "lean",
            f"{lean.url}/graphql",
            PLEXUS_KEY,
            lambda records: lean.control("/_seed", records),
        )
        yield backend
        backend.close()


@pytest.fixture(params=["lean", "emulator"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "lean":
        yield request.getfixturevalue("lean_backend")
        return
    local = request.getfixturevalue("plexus_api")
    backend = Backend("emulator", local.url, PLEXUS_KEY, lambda r: _put(local, r))
    yield backend
    backend.close()


def worker_settings(proxy: FaultProxy, backend: Backend, **overrides: str) -> Settings:
    path = backend.url.split("/", 3)[3]
    return load_settings({**WORKER_ENV, "PLEXUS_API_URL": f"{proxy.url}/{path}", **overrides})


def processor(settings: Settings, api: PlexusApi, files: FakeFiles | None = None) -> JobProcessor:
    return JobProcessor(
        settings,
        api,
        scorer=InProcessScorer(ScoringSettings()),
        files=files or FakeFiles(),
        responses=FakeResponses(),
    )


def process(settings: Settings, job_id: str, files: FakeFiles | None = None) -> JobOutcome:
    async def go() -> JobOutcome:
        async with PlexusApi(settings) as api, processor(settings, api, files) as worker:
            return await worker.process_job_id(job_id)

    return asyncio.run(go())


def drain(settings: Settings, account_key: str, api_class: type[PlexusApi] = PlexusApi) -> Any:
    async def go() -> DrainSummary:
        async with api_class(settings) as api, processor(settings, api) as worker:
            return await worker.drain(account_key)

    return asyncio.run(go())


def retries_logged(caplog: pytest.LogCaptureFixture, job_id: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "plexus.clients.plexus_api" and job_id in r.getMessage()
    ]


def messages(caplog: pytest.LogCaptureFixture, job_id: str) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if job_id in r.getMessage())


def assert_fault_named(fault: str, retried: list[str]) -> None:
    """The retry log line names what went wrong, as the client saw it."""
    expected = {
        "refused": "ClientConnectorError",
        "reset": "Error",  # ClientOSError (reset) or ServerDisconnectedError, by timing
        "closed_before": "ServerDisconnectedError",
        "closed_after": "ServerDisconnectedError",
        "read_timeout": "Timeout",
        "429": "TooManyRequestsException",
        "503": "HTTP 503",
        "504_after": "HTTP 504",
    }[fault]
    # Where the proxy waits on the API first, a loaded machine may let the client's own
    # timeout (0.5 s) fire before the fault: a lost answer all the same.
    timed_out = fault in APPLIED and any("Timeout" in line for line in retried)
    assert timed_out or any(expected in line for line in retried), (fault, retried)


@pytest.mark.parametrize("fault", MUTATION_FAULTS)
@pytest.mark.parametrize("mutation", ["claim", "result", "complete"])
def test_a_fault_on_a_write_of_a_completing_job_is_retried(
    backend: Backend, fault: str, mutation: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="plexus")
    _, (job_id,) = backend.seed(1)
    faults = ScriptedFaults({mutation: [FAULTS[fault]]})
    files = FakeFiles()
    with FaultProxy(backend.url, faults, stall_seconds=STALL_SECONDS) as proxy:
        outcome = process(worker_settings(proxy, backend), job_id, files)

    assert faults.injected[mutation] == 1
    assert outcome.status == "COMPLETED", (outcome, messages(caplog, job_id))
    assert backend.job(job_id)["status"] == "COMPLETED"
    assert [r["id"] for r in backend.results(job_id)] == [score_result_id(job_id)]
    retried = retries_logged(caplog, job_id)
    assert len(retried) >= 1 and "retry 1 of 5" in retried[0], retried
    assert_fault_named(fault, retried)
    log = messages(caplog, job_id)
    if fault in APPLIED:  # the retry met the write's own result and knew it
        expected = {
            "claim": "the claim's answer was lost; read back, the claim is this worker's",
            "result": "already exists (this create's earlier send)",
            "complete": "the COMPLETED update's answer was lost; read back, it landed",
        }[mutation]
        assert expected in log, log
    assert "lease lost" not in log and "claimed by another worker" not in log
    if mutation == "claim":  # before the upload: in the job's log.txt too
        ((_, log_txt),) = files.stored.values()
        assert retried[0] in log_txt, log_txt


@pytest.mark.parametrize("fault", MUTATION_FAULTS)
def test_a_fault_on_the_failed_update_is_retried(
    backend: Backend, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="plexus")
    _, (job_id,) = backend.seed(1, configuration=BROKEN_YAML)
    faults = ScriptedFaults({"fail": [FAULTS[fault]]})
    with FaultProxy(backend.url, faults, stall_seconds=STALL_SECONDS) as proxy:
        outcome = process(worker_settings(proxy, backend), job_id)

    assert faults.injected["fail"] == 1
    assert outcome.status == "FAILED"
    job = backend.job(job_id)
    # FAILED for its own fault (its configuration), not the network's.
    assert job["status"] == "FAILED" and "NoSuchClassifier" in job["errorMessage"], job
    assert "Plexus API" not in job["errorMessage"]
    assert backend.results(job_id) == []
    retried = retries_logged(caplog, job_id)
    assert_fault_named(fault, retried)
    if fault in APPLIED:
        assert "the FAILED update's answer was lost; read back, it landed" in messages(
            caplog, job_id
        )


@pytest.mark.parametrize("fault", MUTATION_FAULTS)
def test_a_fault_on_the_give_back_is_retried_and_the_job_is_claimed_again(
    backend: Backend, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="plexus")
    _, (job_id,) = backend.seed(1)
    # The ScoreResult cannot be written through any retry: the job is given back, and the
    # give-back itself meets the fault.
    faults = ScriptedFaults({"result": [CLOSE] * MAX_ATTEMPTS, "give_back": [FAULTS[fault]]})
    with FaultProxy(backend.url, faults, stall_seconds=STALL_SECONDS) as proxy:
        settings = worker_settings(proxy, backend)
        outcome = process(settings, job_id)
        assert outcome.status == "RELEASED", outcome
        assert "Plexus API fault, not the job's" in str(outcome.reason)
        job = backend.job(job_id)
        assert job["status"] == "PENDING" and not job.get("errorMessage"), job
        assert json.loads(job["metadata"])["releases"] == 1
        assert backend.results(job_id) == []
        assert faults.injected == {"result": MAX_ATTEMPTS, "give_back": 1}
        retried = retries_logged(caplog, job_id)
        assert sum("CreateResult" in line for line in retried) == MAX_ATTEMPTS - 1
        assert_fault_named(fault, [line for line in retried if "-> PENDING" in line])
        log = messages(caplog, job_id)
        assert "given back to PENDING" in log or "already PENDING" in log, log

        # Not lost: the next claim finishes it, with one result.
        again = process(settings, job_id)
    assert again.status == "COMPLETED", again
    assert backend.job(job_id)["status"] == "COMPLETED"
    assert [r["id"] for r in backend.results(job_id)] == [score_result_id(job_id)]


def test_a_claim_whose_answers_are_all_lost_is_left_to_a_later_claim(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """Past every retry, the claim may have landed: the job is left (IN_PROGRESS until its
    lease runs out, then claimed again), reported RELEASED so SQS redelivers the record."""
    caplog.set_level(logging.INFO, logger="plexus")
    _, (job_id,) = backend.seed(1)
    faults = ScriptedFaults({"claim": [FAULTS["closed_after"]] * MAX_ATTEMPTS})
    with FaultProxy(backend.url, faults) as proxy:
        settings = worker_settings(proxy, backend, PLEXUS_JOB_LEASE_SECONDS="0.5")
        outcome = process(settings, job_id)
        assert outcome.status == "RELEASED" and outcome.redeliver, outcome
        assert "claim not answered, left to a later claim" in str(outcome.reason)
        assert f"(after {MAX_ATTEMPTS} tries)" in str(outcome.reason)
        assert backend.job(job_id)["status"] == "IN_PROGRESS"
        # Once the lease has run out, the next claim takes it over and finishes it.
        asyncio.run(asyncio.sleep(0.6))
        again = process(settings, job_id)
    assert again.status == "COMPLETED", again
    assert [r["id"] for r in backend.results(job_id)] == [score_result_id(job_id)]


class SmallPages(PlexusApi):
    """Listing pages of two jobs, so that a drain reads its next page with jobs in flight."""

    def claimable_jobs(self, account_id: str, since: str, lease_cutoff: str, page_size: int = 2):  # type: ignore[no-untyped-def]
        return super().claimable_jobs(account_id, since, lease_cutoff, page_size=2)


def now_iso() -> str:
    """A second ago, to the second: seeded jobs are a millisecond apart from it."""
    return (datetime.now(UTC) - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.mark.parametrize("step", ["listing", "claim"])
def test_a_failed_drain_step_finishes_the_jobs_in_flight_then_reports(
    backend: Backend, step: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="plexus")
    account_key, job_ids = backend.seed(6, created_at=now_iso())
    # The second page of the listing, or the third job's claim, fails through every retry.
    if step == "claim":
        faults = ScriptedFaults({"claim": [CLOSE] * MAX_ATTEMPTS}, job_id=job_ids[2])
    else:
        faults = ScriptedFaults({"listing": [FORWARD] + [CLOSE] * MAX_ATTEMPTS})
    with FaultProxy(backend.url, faults) as proxy:
        settings = worker_settings(proxy, backend)
        summary = drain(settings, account_key, SmallPages)
        assert summary.error is not None and "Plexus API unreachable" in summary.error, summary
        assert f"after {MAX_ATTEMPTS} tries" in summary.error
        statuses = {j: backend.job(j)["status"] for j in job_ids}
        # The jobs it held were finished; it took no new ones; none is left IN_PROGRESS.
        assert "IN_PROGRESS" not in statuses.values(), statuses
        completed = [o.job_id for o in summary.outcomes if o.status == "COMPLETED"]
        assert len(completed) >= 2 and all(statuses[j] == "COMPLETED" for j in completed)
        assert all(statuses[j] == "PENDING" for j in job_ids if j not in completed)
        assert any("drain stopped" in r.getMessage() for r in caplog.records)

        # Nothing lost: the next drain does the rest, one result each.
        again = drain(settings, account_key, SmallPages)
    assert again.error is None
    assert {backend.job(j)["status"] for j in job_ids} == {"COMPLETED"}
    assert all(len(backend.results(j)) == 1 for j in job_ids)


def test_a_load_balancer_ending_keep_alive_costs_retries_not_jobs(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="plexus")
    account_key, job_ids = backend.seed(8, created_at=now_iso())
    with FaultProxy(backend.url, ScriptedFaults({}), keepalive_answers=3) as proxy:
        summary = drain(worker_settings(proxy, backend, PLEXUS_CONCURRENCY="4"), account_key)
        ended = proxy.keepalive_ends
    assert summary.error is None
    assert {backend.job(j)["status"] for j in job_ids} == {"COMPLETED"}
    assert all(len(backend.results(j)) == 1 for j in job_ids)
    assert ended > 0
    retried = [r.getMessage() for r in caplog.records if "; retry " in r.getMessage()]
    # One retry per ended connection (and, on a loaded machine, maybe a timeout's).
    closed = [line for line in retried if "ServerDisconnectedError" in line]
    assert len(closed) == ended, (ended, retried)
    assert all(line in closed or "Timeout" in line for line in retried), retried


@pytest.mark.parametrize("mode", ["raise", "report"])
def test_sqs_a_record_whose_job_was_given_back_is_redelivered(
    backend: Backend, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from plexus.aws_lambda.entry import (
        JobFailedError,
        _process_sqs_raising,
        _process_sqs_reporting,
    )
    from plexus.aws_lambda.events import SqsBatch
    from tests.support.lambda_events import sqs_event

    _, (unlucky, fine) = backend.seed(2)
    # The unlucky job's ScoreResult cannot get through any retry: it is given back.
    faults = ScriptedFaults({"result": [CLOSE] * MAX_ATTEMPTS}, job_id=unlucky)
    event = sqs_event(*(json.dumps({"scoring_job_id": j}) for j in (unlucky, fine)))
    # As in Lambda (LAMBDA_TASK_ROOT set), powertools runs the batch on the handler's loop.
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    with FaultProxy(backend.url, faults) as proxy:
        settings = worker_settings(proxy, backend, PLEXUS_SQS_FAILURE_MODE=mode)
        api = PlexusApi(settings)
        worker = processor(settings, api)
        loop.run_until_complete(api.__aenter__())
        try:
            if mode == "report":
                answer = _process_sqs_reporting(event, None, worker, settings)
                assert answer == {"batchItemFailures": [{"itemIdentifier": "msg-0"}]}, answer
            else:
                with pytest.raises(JobFailedError, match=f"1 of 2 SQS record.*job {unlucky}"):
                    loop.run_until_complete(
                        _process_sqs_raising(SqsBatch(event["Records"]), worker, settings)
                    )
        finally:
            loop.run_until_complete(worker.close())
            loop.run_until_complete(api.__aexit__(None, None, None))
            loop.close()
            asyncio.set_event_loop(None)
    assert backend.job(unlucky)["status"] == "PENDING"
    assert backend.job(fine)["status"] == "COMPLETED"
    assert backend.results(unlucky) == [] and len(backend.results(fine)) == 1


def test_plexus_lambda_work_reports_a_stopped_drain_after_finishing_its_jobs(
    plexus_api: Any, aws_env: dict[str, str], s3: Any, tmp_path: Any
) -> None:
    """The issue's run: `plexus-lambda work` against a failing network. A claim that fails
    through every retry stops the drain; the jobs held are finished; nothing is left
    IN_PROGRESS; the exit status and the error line say the drain stopped."""
    from tests.conftest import BUCKET
    from tests.reliability.workers import start_worker

    backend = Backend("emulator", plexus_api.url, PLEXUS_KEY, lambda r: _put(plexus_api, r))
    account_key, job_ids = backend.seed(5, created_at=now_iso())
    faults = ScriptedFaults({"claim": [CLOSE] * MAX_ATTEMPTS}, job_id=job_ids[2])
    with FaultProxy(backend.url, faults) as proxy:
        env = {
            **os.environ,
            **aws_env,
            **WORKER_ENV,
            "PLEXUS_API_URL": f"{proxy.url}/{backend.url.split('/', 3)[3]}",
            "PLEXUS_ACCOUNT_KEY": account_key,
            "AMPLIFY_STORAGE_SCORERESULTATTACHMENTS_BUCKET_NAME": BUCKET,
        }
        worker = start_worker("work", env, tmp_path)
        assert worker.wait(timeout=120) == 1
    stderr = worker.stderr.read_text()
    assert "error: Plexus API unreachable" in stderr and "after 6 tries" in stderr, stderr
    assert "client has been closed" not in stderr
    printed = {o["job"]: o["status"] for o in worker.outcomes()}
    statuses = {j: backend.job(j)["status"] for j in job_ids}
    assert "IN_PROGRESS" not in statuses.values(), statuses
    assert printed[job_ids[2]] == "RELEASED" and statuses[job_ids[2]] == "PENDING"
    assert [statuses[j] for j in job_ids[:2]] == ["COMPLETED", "COMPLETED"]
    backend.close()


def _put(local: Any, records: dict[str, list[dict[str, Any]]]) -> None:
    for model, items in records.items():
        local.put_many(model, items)


def test_retries_stop_short_of_the_invocations_end(lean_backend: Backend) -> None:
    """With less of the invocation left than a retry's wait plus the time to give a job
    back (3 s), the client stops retrying at once."""
    from plexus.clients.plexus_api import ApiUnavailable

    faults = ScriptedFaults({"read": [CLOSE] * MAX_ATTEMPTS})
    with FaultProxy(lean_backend.url, faults) as proxy:
        settings = worker_settings(proxy, lean_backend)

        async def go(seconds_left: float) -> int:
            async with PlexusApi(settings, remaining_seconds=lambda: seconds_left) as api:
                with pytest.raises(ApiUnavailable):
                    await api.get_job("any")
                return api.request_count

        assert asyncio.run(go(3.0)) == 1
        faults.script["read"] = [CLOSE] * MAX_ATTEMPTS
        assert asyncio.run(go(60.0)) == MAX_ATTEMPTS


def test_the_listing_reads_one_page_ahead_and_a_caller_that_stops_ends_the_read(
    lean_backend: Backend,
) -> None:
    """The next page is on its way while the caller holds this one's jobs (its wait held
    back every slot that freed meanwhile); a caller that stops early leaves no read behind."""
    from contextlib import aclosing

    from plexus.worker.claim import lease_cutoff

    account_key, _ = lean_backend.seed(6, created_at=now_iso())
    listings: list[bytes] = []

    def decide(method: str, path: str, body: bytes) -> Any:
        if b"listScoringJobByAccountIdAndCreatedAt" in body:
            listings.append(body)
            if len(listings) == 3:
                return HOLD  # the third page's read is still in flight when the caller stops
        return FORWARD

    async def go() -> tuple[int, int, list[asyncio.Task[Any]]]:
        with FaultProxy(lean_backend.url, decide) as proxy:
            async with SmallPages(worker_settings(proxy, lean_backend)) as api:
                account_id = await api.account_id(account_key)
                jobs = api.claimable_jobs(account_id, "2000-01-01T00:00:00.000Z", lease_cutoff(60))
                async with aclosing(jobs):
                    await anext(jobs)  # the first page's first job, held
                    await asyncio.sleep(0.3)
                    read_while_held = len(listings)
                    await anext(jobs)
                    await anext(jobs)  # the second page's first job: the third page is asked
                    await asyncio.sleep(0.3)
                    asked = len(listings)
                left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                return read_while_held, asked, left

    read_while_held, asked, left = asyncio.run(go())
    assert read_while_held == 2  # page 1, and page 2 before the caller asked for it
    assert asked == 3
    assert left == []  # the third page's read was cancelled with the iterator
