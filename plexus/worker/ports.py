"""What the job processor needs of the world, as small interfaces.

The processor (plexus/worker/processor.py) is given one of each; Lambda and the CLIs give
it the real ones (the Plexus API, S3, SQS, pycurl, the process pool), the unit tests
in-memory fakes (tests/worker/unit/).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, Protocol

from plexus.worker.scoring import Scored, ScoreHost, ScoreRequest


class JobsApi(Protocol):
    """The Plexus API requests of a job's life (plexus/clients/plexus_api.py)."""

    async def account_id(self, key: str) -> str: ...

    def claimable_jobs(
        self, account_id: str, since: str, lease_cutoff: str
    ) -> AsyncGenerator[dict[str, Any], None]: ...

    async def get_job(self, job_id: str) -> dict[str, Any] | None: ...

    async def update_job(
        self, fields: dict[str, Any], condition: dict[str, Any] | None = None
    ) -> dict[str, Any]: ...

    async def job_context(
        self, item_id: str, score_id: str, scorecard_id: str
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None, dict[str, Any] | None]: ...

    async def version_and_cached_result(
        self, version_id: str, item_id: str, score_id: str
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]: ...

    async def create_score_result(self, fields: dict[str, Any]) -> dict[str, Any]: ...

    async def attached_files(self, item_id: str) -> list[str]: ...

    async def score_id_by_name(self, scorecard_id: str, name: str) -> str | None: ...

    async def newest_prediction(self, item_id: str, score_id: str) -> dict[str, Any] | None: ...


class Scorer(Protocol):
    """Runs a job's scoring step; `ends_at` (time.monotonic()) is the invocation's end."""

    async def score(
        self, request: ScoreRequest, host: ScoreHost, *, ends_at: float | None = None
    ) -> Scored: ...


class ResultFiles(Protocol):
    """Where a score result's trace.json and log.txt go; answers the attachment keys.
    `prepare` makes what the first upload needs (blocking: run it in a thread);
    `sign_ahead` is told as the scoring begins, so that work can be done while it runs."""

    def prepare(self) -> None: ...

    def sign_ahead(self, result_id: str, attempt: int) -> None: ...

    async def upload(
        self, result_id: str, trace: dict[str, Any], log_text: str, attempt: int
    ) -> list[str]: ...


class ResponseQueue(Protocol):
    async def send(self, result_id: str) -> None: ...


class OutputStore(Protocol):
    """Model outputs by score version and input (plexus/clients/model_store.py)."""

    async def get(self, score_version_id: str, text: str) -> dict[str, Any] | None: ...

    async def put(self, score_version_id: str, text: str, output: dict[str, Any]) -> None: ...


class Content(Protocol):
    """An item's text from its metadata.contentUrl."""

    async def fetch(self, item: dict[str, Any]) -> str: ...
