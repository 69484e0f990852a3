"""Why a job fails. Each is reported as the job's errorMessage, as it is.

They live here, apart from the modules that raise them, so that the processor can catch
them without importing those modules (and their dependencies) on the cold-start path.
"""

from __future__ import annotations


class JobFailure(Exception):
    """A job cannot be finished; the message says why, for the job's errorMessage."""

    # The graph's nodes that had finished when it failed (LangGraphScore sets it).
    nodes_done: tuple[str, ...] = ()


class ServiceUnavailable(Exception):
    """A service the job needs (the Plexus API, S3, SQS) kept failing with a transient fault
    (connection, timeout, throttling, 5xx) past its client's retries. Not the job's fault,
    so not a JobFailure: the job is given back for another claim (counted against
    PLEXUS_JOB_MAX_ATTEMPTS) rather than FAILED."""


class JobError(JobFailure, ValueError):
    """The job cannot be scored as given (missing item, score, version...)."""


class ScoreConfigError(JobFailure, ValueError):
    """The score's YAML is invalid; the message says where and why."""


class ModelCallError(JobFailure, RuntimeError):
    """The model could not be reached or refused the call (after the client's retries)."""


class ModelReplyError(JobFailure, ValueError):
    """The model answered, but not with one of the declared classes."""


class ContentError(JobFailure, RuntimeError):
    """The item's content could not be fetched."""


class AttachmentError(JobFailure, RuntimeError):
    """An attachment could not be stored; the message names the bucket and key."""
