"""`plexus-lambda dev`: the whole worker, offline, on this machine.

Starts moto's server (DynamoDB and S3) and the local Plexus API on 127.0.0.1, seeds an
account, a scorecard with a keyword score and a few pending jobs (one of them with a broken
score, to show a failure), invokes the score_processing handler through the real
awslambdaric with `{}`, and prints what happened to each job. No network, keys or Docker.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from pathlib import Path
from typing import Any

REGION = "us-east-1"
BUCKET = "scoreresultattachments-dev"
KEYWORDS = """\
name: Greeting
class: KeywordClassifier
rules:
  - {value: "Yes", keywords: [hello, good morning, good afternoon, welcome]}
default: "No"
"""
BROKEN = "class: KeywordClassifier\nrules: [{value: Yes, keywords: [hello]\n"
TRANSCRIPTS = [
    "Agent: Good morning, thanks for calling Acme. Caller: Hi, my order is late.",
    "Agent: Account number? Caller: 1234. Agent: One moment.",
    "Agent: Hello and welcome! Caller: I'd like a refund.",
    "Caller: Is anyone there? Agent: Yes. What do you need?",
]


def default_folder() -> Path:
    """lambda_functions/score_processing beside the package (a checkout), else under cwd."""
    for root in (Path(__file__).resolve().parents[2], Path.cwd()):
        candidate = root / "lambda_functions" / "score_processing"
        if (candidate / "handler.py").is_file():
            return candidate
    return Path.cwd() / "lambda_functions" / "score_processing"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--folder",
        type=Path,
        default=None,
        help="handler folder to run (default: lambda_functions/score_processing)",
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="invocation timeout, s")


def run(args: argparse.Namespace) -> int:
    try:
        from plexus.local.aws import start_moto_server
    except ImportError:
        print(
            "plexus-lambda dev: needs the dev dependencies (moto); run it with `uv run` "
            "or inside `nix develop`",
            file=sys.stderr,
        )
        return 2
    from plexus.local.api_server import LocalPlexusApi
    from plexus.tooling.invoke import LocalFunction

    folder = args.folder or default_folder()
    if not (folder / "handler.py").is_file():
        print(f"plexus-lambda dev: no handler.py in {folder}; pass --folder", file=sys.stderr)
        return 2
    api_key = f"local-{secrets.token_hex(8)}"
    log = sys.stderr
    with start_moto_server() as moto:
        aws_env = moto.env(REGION)
        moto.client("s3", REGION).create_bucket(Bucket=BUCKET)
        with LocalPlexusApi(moto.endpoint_url, api_key, region=REGION) as api:
            jobs = _seed(api)
            print(f"local Plexus API at {api.url}; {len(jobs)} pending jobs seeded", file=log)
            env = {
                **aws_env,
                "PLEXUS_API_URL": api.url,
                "PLEXUS_API_KEY": api_key,
                "PLEXUS_ACCOUNT_KEY": "dev",
                "PLEXUS_FETCH_SCHEMA_FROM_TRANSPORT": "0",
                "AMPLIFY_STORAGE_SCORERESULTATTACHMENTS_BUCKET_NAME": BUCKET,
                "POWERTOOLS_LOG_LEVEL": "WARNING",
                "POWERTOOLS_METRICS_DISABLED": "true",
            }
            print(f"invoking {folder} with {{}} under awslambdaric ...", file=log)
            with LocalFunction(folder, env=env) as function:
                result = function.invoke(b"{}", timeout=args.timeout)
                seconds = result.completed_at - (function.started_at or result.completed_at)
            if not result.ok:
                print(f"invocation failed: {result.error_type}: {result.error_message}", file=log)
                return 1
            print(f"invocation answered in {seconds:.2f}s (cold start included)\n", file=log)
            return _report(api, jobs)


def _seed(api: Any) -> dict[str, str]:
    """Seed the dev account; return job id -> the text it scores."""
    account = api.seed_account("dev", name="Local development")
    card = api.seed_scorecard(account, key="call-quality", name="Call quality")
    score, _ = api.seed_score(card, "Greeting", KEYWORDS, key="greeting")
    broken, _ = api.seed_score(card, "Broken score", BROKEN, key="broken")
    jobs = {}
    for text in TRANSCRIPTS:
        item = api.seed_item(account, text=text)
        jobs[api.seed_job(account, card, score, item)] = text
    item = api.seed_item(account, text=TRANSCRIPTS[0])
    jobs[api.seed_job(account, card, broken, item)] = TRANSCRIPTS[0]
    return jobs


def _report(api: Any, jobs: dict[str, str]) -> int:
    ok = True
    for job_id, text in jobs.items():
        job = api.get("ScoringJob", job_id) or {}
        status = job.get("status")
        line = {"job": job_id, "status": status, "text": text[:60]}
        if status == "COMPLETED":
            result_id = json.loads(job.get("metadata") or "{}").get("scoreResultId")
            result = api.get("ScoreResult", result_id) or {}
            line.update(value=result.get("value"), explanation=result.get("explanation"))
            line.update(attachments=result.get("attachments"))
        else:
            line["error"] = job.get("errorMessage")
            ok = ok and status == "FAILED"
        print(json.dumps(line))
    return 0 if ok else 1
