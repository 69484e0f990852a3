"""AWS Lambda entry point: score pending Plexus scoring jobs.

Events (README, "Events"): a schedule event, or `{}` without
PLEXUS_SCORING_WORKER_REQUEST_STANDARD_QUEUE_URL, drains PLEXUS_ACCOUNT_KEY's claimable
jobs; `{}` with it set receives one message from that queue; `{"scoringJobId": "..."}`
processes one job; an SQS event processes each record's `scoring_job_id` and raises on a
failure (PLEXUS_SQS_FAILURE_MODE=raise, the real stack) or returns `batchItemFailures`
(`report`); the real fan-out event processes its message's job, then deletes the message.
"""

import os

# The image's file system is read-only except /tmp; libraries that write caches to HOME
# (matplotlib, among others) must find it there.
os.environ.setdefault("MPLCONFIGDIR", "/tmp/matplotlib")
os.environ.setdefault("HOME", "/tmp")

from plexus.aws_lambda.entry import handle


def handler(event, context):
    return handle(event, context)
