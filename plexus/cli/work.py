"""`plexus-lambda work`: the worker outside Lambda (a container, a laptop, a test).

Drains the account's claimable jobs once, or processes the given job ids, with the same
settings as the Lambda function, and prints one JSON line per job.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys

from plexus.cli.errors import FAILURE, USAGE, one_line, positive_int
from plexus.clients.plexus_api import ApiError, PlexusApi
from plexus.core import job_log
from plexus.core.settings import SettingsError, load_settings, require
from plexus.worker.processor import JobOutcome, JobProcessor, Outcome, finish_all


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "job_ids", nargs="*", metavar="JOB_ID", help="jobs to process (default: drain)"
    )
    parser.add_argument("--account", help="account key to drain (default: PLEXUS_ACCOUNT_KEY)")
    parser.add_argument(
        "--concurrency", type=positive_int, help="jobs at once (default: PLEXUS_CONCURRENCY)"
    )


async def _work(args: argparse.Namespace) -> tuple[list[JobOutcome], str | None]:
    settings = load_settings()
    if args.concurrency is not None:
        from dataclasses import replace

        settings = replace(settings, concurrency=args.concurrency)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    job_log.redact_handlers(logging.getLogger(), settings.secrets())
    async with PlexusApi(settings) as api:
        processor = JobProcessor(settings, api)
        try:
            if args.job_ids:
                outcomes = await finish_all(processor.process_job_id(j) for j in args.job_ids)
                return outcomes, None
            account = args.account or require(
                settings.account_key,
                "PLEXUS_ACCOUNT_KEY",
                "draining needs an account (or pass --account)",
            )
            summary = await processor.drain(account)
            return summary.outcomes, summary.error
        finally:
            await processor.close()


def _redacted(message: str) -> str:
    try:
        secrets = load_settings().secrets()
    except SettingsError:
        secrets = []
    return one_line(job_log.RedactingFilter(secrets).redact(message))


def run(args: argparse.Namespace) -> int:
    try:
        outcomes, error = asyncio.run(_work(args))
    except SettingsError as exc:
        print(f"error: {one_line(str(exc))}", file=sys.stderr)
        return USAGE
    except ApiError as exc:  # unreachable, refused: already redacted by the client
        print(f"error: {one_line(str(exc))}", file=sys.stderr)
        return FAILURE
    except Exception as exc:
        print(
            f"error: internal error: {_redacted(type(exc).__name__ + ': ' + str(exc))}",
            file=sys.stderr,
        )
        return FAILURE
    for outcome in outcomes:
        print(
            json.dumps(
                {
                    "job": outcome.job_id,
                    "status": outcome.status,
                    "reason": outcome.reason,
                    "scoreResultId": outcome.score_result_id,
                    "cached": outcome.cached,
                }
            )
        )
    if error is not None:
        # The drain stopped on a fault past the retries, after finishing the jobs it held.
        print(f"error: {one_line(error)}", file=sys.stderr)
        return FAILURE
    unfinished = [o for o in outcomes if o.status == Outcome.RELEASED]
    if unfinished:
        # Not the jobs' fault (the API or AWS past their retries, the time running out):
        # said once, last, as every other way this command ends badly.
        print(
            f"error: {len(unfinished)} of {len(outcomes)} job(s) not finished here, given back "
            f"or left to a later claim: {one_line(unfinished[0].reason or '')}",
            file=sys.stderr,
        )
        return FAILURE
    return 1 if any(o.redeliver for o in outcomes) else 0
