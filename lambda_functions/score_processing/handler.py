"""AWS Lambda entry point: score pending Plexus scoring jobs.

Events: `{}` or a schedule event drains PLEXUS_ACCOUNT_KEY's claimable jobs;
`{"scoringJobId": "..."}` processes one job; an SQS event processes each record's
`scoring_job_id` and returns `batchItemFailures` for the failed ones.
"""

import os

# The image's file system is read-only except /tmp; libraries that write caches to HOME
# (matplotlib, among others) must find it there.
os.environ.setdefault("MPLCONFIGDIR", "/tmp/matplotlib")
os.environ.setdefault("HOME", "/tmp")

from plexus.lambda_entry import handle


def handler(event, context):
    return handle(event, context)
