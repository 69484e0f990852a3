"""Four worker processes over 300 jobs with faults injected: model 429s, timeouts and replies
outside the classes in 10% of calls, S3 errors in 5% of uploads, and one worker killed in
the middle of a job. Afterwards every job is COMPLETED or FAILED with its reason, none was
scored twice, none is left IN_PROGRESS past its lease, every COMPLETED job has its result
and attachments, and no secret is anywhere."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import BUCKET, OPENAI_KEY, PLEXUS_KEY
from tests.reliability.s3_fault_proxy import S3FaultProxy

JOBS = 300
WORKERS = 4
LEASE = 3.0
LLM_YAML = """
class: LLMClassifier
model: gpt-4o-mini
valid_classes: ["Yes", "No"]
user_message: "Did the agent greet the caller?\\n{text}"
"""


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "plexus.cli", "work"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


@pytest.mark.slow
def test_four_workers_with_faults_and_a_kill(
    worker_env, account, api, openai, s3, postgres, tmp_path
):
    pg_uri = postgres.create_database("reliability")
    score_id = account.score("Greeting", LLM_YAML)
    jobs = [account.job(score_id, text=f"Agent: hello, caller number {i}") for i in range(JOBS)]
    openai.latency = 0.02
    openai.set_fault_rates(
        rate_429=0.04, rate_timeout=0.03, rate_bad_class=0.03, seed=7, timeout_seconds=1.5
    )

    with S3FaultProxy(worker_env["AWS_ENDPOINT_URL"], rate=0.05) as s3_proxy:
        env = {
            **os.environ,
            **worker_env,
            "AWS_ENDPOINT_URL_S3": s3_proxy.url,
            "PLEXUS_POSTGRES_URI": pg_uri,
            "PLEXUS_JOB_LEASE_SECONDS": str(LEASE),
            "PLEXUS_MODEL_TIMEOUT_SECONDS": "0.5",
            "PLEXUS_MODEL_MAX_RETRIES": "1",
            "PLEXUS_CONCURRENCY": "4",
        }
        logs = [tmp_path / f"worker-{i}.log" for i in range(WORKERS + 1)]
        started = time.monotonic()
        workers = [start_worker(env, logs[i]) for i in range(WORKERS)]
        # Kill one worker in the middle of a job: once the model has seen 40 calls, every
        # worker has jobs in flight.
        deadline = time.monotonic() + 60
        while len(openai.requests) < 40 and time.monotonic() < deadline:
            time.sleep(0.02)
        workers[0].send_signal(signal.SIGKILL)
        for worker in workers[1:]:
            assert worker.wait(timeout=240) in (0, 1)
        workers[0].wait(timeout=10)
        left = [j for j in jobs if api.get("ScoringJob", j)["status"] == "IN_PROGRESS"]
        # After the lease, a new worker picks up what the killed one left.
        time.sleep(LEASE + 0.5)
        rescuer = start_worker(env, logs[WORKERS])
        assert rescuer.wait(timeout=120) in (0, 1)
        seconds = time.monotonic() - started

    records = {j: api.get("ScoringJob", j) for j in jobs}
    statuses = Counter(r["status"] for r in records.values())
    assert set(statuses) <= {"COMPLETED", "FAILED"}, statuses
    results_by_job = Counter(
        r["scoringJobId"] for r in api.scan("ScoreResult") if r.get("scoringJobId") in records
    )
    assert all(n == 1 for n in results_by_job.values()), "a job was scored twice"
    reasons: Counter[str] = Counter()
    for job_id, job in records.items():
        if job["status"] == "FAILED":
            assert job["errorMessage"], job
            assert results_by_job[job_id] == 0
            reasons[classify(job["errorMessage"])] += 1
        else:
            metadata = json.loads(job["metadata"])
            assert results_by_job[job_id] == 1
            result = api.get("ScoreResult", metadata["scoreResultId"])
            assert result["value"] in ("Yes", "No")
            for key in result["attachments"]:
                assert s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"] > 0

    # Each fault shows up, each with its own reason; most jobs still complete.
    # The killed worker's jobs were claimed again once their lease ran out.
    reclaimed = [
        j
        for j, r in records.items()
        if json.loads(r.get("metadata") or "{}").get("attempts", 1) > 1
    ]
    assert reclaimed, "the killed worker left no job in flight"
    assert reasons["reply outside the classes"] > 0
    assert reasons["S3"] > 0 and s3_proxy.failed_keys
    assert statuses["COMPLETED"] >= JOBS * 0.8

    # No secret in worker output, job errors, results or attachments.
    texts = [log.read_text(errors="replace") for log in logs]
    texts += [json.dumps(r) for r in records.values()]
    texts += [json.dumps(r) for r in api.scan("ScoreResult")]
    sample = [r for r in api.scan("ScoreResult") if r.get("scoringJobId") in records][:30]
    texts += [
        s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
        for r in sample
        for key in r["attachments"]
    ]
    for text in texts:
        for secret in (PLEXUS_KEY, OPENAI_KEY, pg_uri):
            assert secret not in text

    summary = {
        "jobs": JOBS,
        "seconds": round(seconds, 1),
        "statuses": dict(statuses),
        "failed_by_reason": dict(reasons),
        "model_requests": len(openai.requests),
        "s3_result_prefixes_failed": len({k.rsplit("/", 1)[0] for k in s3_proxy.failed_keys}),
        "reclaimed_after_lease": len(reclaimed),
        "in_progress_when_the_workers_stopped": len(left),
    }
    print("\nRELIABILITY", json.dumps(summary))


def classify(message: str) -> str:
    if "not one of" in message:
        return "reply outside the classes"
    if "storing s3://" in message:
        return "S3"
    if "timed out" in message:
        return "model timeout"
    if "429" in message or "throttled" in message:
        return "model throttled"
    return message[:60]
