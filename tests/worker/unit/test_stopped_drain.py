"""A Lambda drain stopped by an API fault past the retries fails the invocation, naming
how many jobs it held and finished first; one that was not stopped answers its summary."""

from __future__ import annotations

import pytest

from plexus.aws_lambda.entry import _drain_answer
from plexus.clients.plexus_api import ApiError
from plexus.worker.processor import DrainSummary, JobOutcome, Outcome


def test_a_stopped_drain_raises_after_its_jobs() -> None:
    done = [JobOutcome("a", Outcome.COMPLETED), JobOutcome("b", Outcome.RELEASED, "claim")]
    stopped = DrainSummary(
        done, error="Plexus API unreachable: ClientConnectorError (after 6 tries)"
    )
    with pytest.raises(ApiError, match=r"finishing the 2 job\(s\) it held: Plexus API unreach"):
        _drain_answer(stopped)
    answer = _drain_answer(DrainSummary(done))
    assert (answer["completed"], answer["released"]) == (1, 1)
