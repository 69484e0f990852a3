"""The Plexus API client: gql over its own aiohttp transport, with Amplify-named operations.

Round trips per job are kept low on purpose (see docs/PERFORMANCE.md): the item, score and
scorecard come in one request; the score version and the cached-result lookup (the real
cache index, newest first, limit 1) in another. Every document is checked against the real
AppSync schema by tests/local_api/test_twin.py.

Every request is retried through a transient fault (`transient_fault`: a refused, reset or
closed connection, a read or connect timeout, 429, 5xx, AppSync's throttling), with
exponential backoff and jitter, `PLEXUS_API_MAX_ATTEMPTS` tries at most and never past the
invocation's remaining time; each retry is logged (so it lands in the job's log.txt). A lost
answer does not say whether a write happened, so a write retried after such a fault may meet
its own earlier self: `ConditionFailed.retried` tells the caller to read the record back
(plexus/worker/claim.py). A fault that outlasts the retries raises `ApiUnavailable`, which is
never a job's fault. A failed write condition is a normal outcome (`ConditionFailed`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, cast

from gql import Client, GraphQLRequest
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.exceptions import (
    TransportConnectionFailed,
    TransportError,
    TransportQueryError,
    TransportServerError,
)
from graphql import print_ast
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)
from tenacity.stop import stop_base

from plexus.clients.http import env_proxy, is_transient_http, send_then_retry, tls
from plexus.core.errors import ServiceUnavailable
from plexus.core.settings import Settings

log = logging.getLogger(__name__)


def _operation_name(document: Any) -> str:
    for definition in document.definitions:
        name = getattr(definition, "name", None)
        if name is not None:
            return str(name.value)
    return "request"


class Document(GraphQLRequest):
    """A request whose query text is printed once. gql prints a request's document on every
    send (`GraphQLRequest.payload`), about a tenth of the worker's CPU a job
    (bench/worker_cpu.py); the transports send `payload`, so printing it here is enough."""

    def __init__(self, request: str | GraphQLRequest, **kwargs: Any) -> None:
        super().__init__(request, **kwargs)
        printed = getattr(request, "query", None)
        self.query: str = printed if printed is not None else print_ast(self.document)
        # The operation's name, for log lines (the payload carries none: AppSync needs none).
        self.name: str = getattr(request, "name", None) or _operation_name(self.document)

    def bind(self, variables: dict[str, Any]) -> Document:
        return Document(self, variable_values=variables)

    @property
    def payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"query": self.query}
        if self.operation_name:
            payload["operationName"] = self.operation_name
        if self.variable_values:
            payload["variables"] = self.variable_values
        if self.extensions:
            payload["extensions"] = self.extensions
        return payload


CONDITION_FAILED = "DynamoDB:ConditionalCheckFailedException"
RETRYABLE_ERROR_TYPES = (
    "Throttl",
    "TooManyRequests",
    "ProvisionedThroughputExceeded",
    "ServiceUnavailable",
    "InternalFailure",
    "InternalServerError",
)
JOB_FIELDS = """id status startedAt completedAt errorMessage metadata
    itemId accountId scorecardId scoreId evaluationId createdAt updatedAt"""
RESULT_FIELDS = """id value explanation confidence metadata cost code type status attachments
    itemId accountId scorecardId scoreId scoreVersionId scoringJobId createdAt updatedAt"""

Q_ACCOUNT_BY_KEY = Document(
    """query AccountByKey($key: String!) {
      listAccountByKey(key: $key, limit: 1) { items { id key name } }
    }"""
)
# Jobs of an account created since a moment, oldest first: the index's sort key bounds the
# read, so an account's finished history outside the window costs nothing.
Q_JOBS_BY_ACCOUNT = Document(
    f"""query JobsByAccount($accountId: String!, $since: String!,
        $filter: ModelScoringJobFilterInput, $limit: Int, $nextToken: String) {{
      listScoringJobByAccountIdAndCreatedAt(accountId: $accountId, createdAt: {{ge: $since}},
          sortDirection: ASC, filter: $filter, limit: $limit, nextToken: $nextToken) {{
        items {{ {JOB_FIELDS} }} nextToken
      }}
    }}"""
)
Q_JOB = Document(f"query Job($id: ID!) {{ getScoringJob(id: $id) {{ {JOB_FIELDS} }} }}")
M_UPDATE_JOB = Document(
    f"""mutation UpdateJob($input: UpdateScoringJobInput!,
        $condition: ModelScoringJobConditionInput) {{
      updateScoringJob(input: $input, condition: $condition) {{ {JOB_FIELDS} }}
    }}"""
)
# One round trip for everything a job needs before it knows the score version.
Q_JOB_CONTEXT = Document(
    """query JobContext($itemId: ID!, $scoreId: ID!, $scorecardId: ID!) {
      getItem(id: $itemId) { id accountId externalId text metadata }
      getScore(id: $scoreId) { id name key externalId championVersionId }
      getScorecard(id: $scorecardId) { id name key externalId }
    }"""
)
# The champion version and the newest prediction of this item and score, in one round trip:
# the real cache index (sort key type#scoreId#updatedAt), newest first, one item.
Q_VERSION_AND_RESULT = Document(
    f"""query VersionAndResult($versionId: ID!, $itemId: String!, $type: String!,
        $scoreId: String!) {{
      getScoreVersion(id: $versionId) {{ id scoreId configuration }}
      listScoreResultByItemIdAndTypeAndScoreIdAndUpdatedAt(itemId: $itemId,
          typeScoreIdUpdatedAt: {{beginsWith: {{type: $type, scoreId: $scoreId}}}},
          sortDirection: DESC, limit: 1) {{ items {{ {RESULT_FIELDS} }} }}
    }}"""
)
M_CREATE_RESULT = Document(
    f"""mutation CreateResult($input: CreateScoreResultInput!) {{
      createScoreResult(input: $input) {{ {RESULT_FIELDS} }}
    }}"""
)
# Only for a score with an `item:` input source: the job's context query stays lean.
Q_ITEM_FILES = Document("query ItemFiles($id: ID!) { getItem(id: $id) { id attachedFiles } }")
# A `depends_on` score of the same scorecard, by name: bounded by the name index's key.
Q_SCORES_BY_NAME = Document(
    """query ScoresByName($name: String!, $scorecardId: String!, $nextToken: String) {
      listScoreByName(name: $name, filter: {scorecardId: {eq: $scorecardId}},
          nextToken: $nextToken) { items { id name scorecardId } nextToken }
    }"""
)
# The newest prediction of an item and score: the cache index, newest first, one item.
Q_NEWEST_RESULT = Document(
    f"""query NewestResult($itemId: String!, $type: String!, $scoreId: String!) {{
      listScoreResultByItemIdAndTypeAndScoreIdAndUpdatedAt(itemId: $itemId,
          typeScoreIdUpdatedAt: {{beginsWith: {{type: $type, scoreId: $scoreId}}}},
          sortDirection: DESC, limit: 1) {{ items {{ {RESULT_FIELDS} }} }}
    }}"""
)
# Every document this client sends (tests validate each against the real schema).
DOCUMENTS = (
    Q_ACCOUNT_BY_KEY,
    Q_JOBS_BY_ACCOUNT,
    Q_JOB,
    M_UPDATE_JOB,
    Q_JOB_CONTEXT,
    Q_VERSION_AND_RESULT,
    M_CREATE_RESULT,
    Q_ITEM_FILES,
    Q_SCORES_BY_NAME,
    Q_NEWEST_RESULT,
)
PREDICTION = "prediction"
# Retries stop when the next wait would leave less of the invocation than this: enough for
# the requests that give the job back.
RETRY_RESERVE_SECONDS = 3.0


def reusable(result: dict[str, Any] | None, version_id: str) -> bool:
    """Whether the newest prediction of an item and score can stand for a job of this
    score version.

    Only a result of this very version counts: the newest result being of another version
    means the configuration changed since. One without `scoreVersionId` (the real worker
    writes none) is not reused either: nothing tells which configuration made it, and
    reusing it could carry a retired configuration's answer forward."""
    return (
        result is not None
        and result.get("scoreVersionId") == version_id
        and result.get("code") in (None, "200")
        and result.get("status") in (None, "COMPLETED")
    )


class ApiError(RuntimeError):
    """The Plexus API answered with an error that is not a lost write condition."""


class ApiUnavailable(ApiError, ServiceUnavailable):
    """A transient fault (network, timeout, 429, 5xx) outlasted the retries: the API's
    trouble, not the job's. The job goes back to be claimed again."""


class ConditionFailed(Exception):
    """A conditional write found the record in another state (e.g. a job already claimed).

    `retried`: the write was sent more than once, after a fault that may have lost the
    answer of an earlier send, so the state found may be this worker's own write."""

    def __init__(self, message: str, *, retried: bool = False) -> None:
        super().__init__(message)
        self.retried = retried


def transient_fault(exc: BaseException) -> str | None:
    """A short name for a fault worth retrying, or None for one a retry cannot mend."""
    if isinstance(exc, TransportServerError):
        if exc.code is not None and (exc.code == 429 or exc.code >= 500):
            return f"HTTP {exc.code}"
        return None
    if isinstance(exc, TransportQueryError):
        # gql reports an HTTP error whose body carries GraphQL errors as a query error, so
        # throttling and server faults are recognised by AppSync's error types.
        types = " ".join(str(e.get("errorType", "")) for e in exc.errors or [])
        marker = next((m for m in RETRYABLE_ERROR_TYPES if m in types), None)
        return None if marker is None else types
    if isinstance(exc, TransportConnectionFailed):
        # gql wraps whatever aiohttp raised; "Session is closed" (a RuntimeError) is not
        # transient and must not be retried.
        cause = exc.__cause__
        if cause is not None and is_transient_http(cause):
            return f"{type(cause).__name__}: {cause}" if str(cause) else _timeout(cause)
        return None
    if isinstance(exc, TimeoutError):
        return _timeout(exc)
    return None


def _timeout(exc: BaseException) -> str:
    # aiohttp's total timeout (PLEXUS_API_TIMEOUT_SECONDS) raises a TimeoutError that says
    # nothing; say which limit it was.
    if isinstance(exc, TimeoutError):
        return "TimeoutError: no answer within PLEXUS_API_TIMEOUT_SECONDS"
    return type(exc).__name__


def _is_retryable(exc: BaseException) -> bool:
    return transient_fault(exc) is not None


class stop_before_deadline(stop_base):
    """Stop when the next wait would leave less than `reserve` seconds of the invocation:
    a job given back in time is worth more than one more try."""

    def __init__(self, remaining: Callable[[], float], reserve: float) -> None:
        self.remaining, self.reserve = remaining, reserve

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.remaining() - retry_state.upcoming_sleep < self.reserve


def _subject(request: Document) -> str:
    """The operation and the record it concerns, for the retry log line."""
    variables = request.variable_values or {}
    fields = variables.get("input")
    name = request.name
    if isinstance(fields, dict):
        if fields.get("scoringJobId"):
            return f"{name} (job {fields['scoringJobId']}, score result {fields.get('id')})"
        if fields.get("id"):
            status = f" -> {fields['status']}" if fields.get("status") else ""
            return f"{name} (job {fields['id']}{status})"
    if variables.get("id"):
        return f"{name} ({variables['id']})"
    return name


def _error_types(exc: TransportQueryError) -> set[str]:
    return {str(e.get("errorType", "")) for e in exc.errors or []}


def parse_json(value: Any) -> dict[str, Any]:
    """AWSJSON arrives as a JSON string (or null); return a dict."""
    if value is None or value == "":
        return {}
    if isinstance(value, dict):
        return value
    parsed = json.loads(value)
    return parsed if isinstance(parsed, dict) else {"value": parsed}


class PlexusApi:
    """One connected session to the Plexus API; use `async with PlexusApi(settings) as api`."""

    def __init__(
        self,
        settings: Settings,
        *,
        max_attempts: int | None = None,
        remaining_seconds: Callable[[], float] | None = None,
    ) -> None:
        transport = AIOHTTPTransport(
            url=settings.api_url,
            headers={"x-api-key": settings.api_key.get()},
            timeout=settings.api_timeout_seconds,  # type: ignore[arg-type]  # gql says int
            ssl=tls(),
            client_session_args=env_proxy(settings.api_url),
        )
        self._client = Client(
            transport=transport,
            fetch_schema_from_transport=settings.fetch_schema,
            # The transport's timeout bounds each request, connection wait included; gql's
            # own (anyio's fail_after around every request) would add CPU, not a bound.
            execute_timeout=None,
        )
        self._session: Any = None
        self.max_attempts = max_attempts or settings.api_max_attempts
        base = settings.api_retry_seconds
        stop: stop_base = stop_after_attempt(self.max_attempts)
        if remaining_seconds is not None:
            stop = stop | stop_before_deadline(remaining_seconds, RETRY_RESERVE_SECONDS)
        self._retrying = AsyncRetrying(
            retry=retry_if_exception(_is_retryable),
            stop=stop,
            wait=wait_exponential_jitter(multiplier=base, max=base * 16, jitter=base),
            before_sleep=self._log_retry,
            reraise=True,
        )
        self.request_count = 0
        # Sends that met a transient fault and were tried again, over this session.
        self.retry_count = 0

    async def __aenter__(self) -> PlexusApi:
        self._session = await self._client.connect_async()  # type: ignore[no-untyped-call]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.close_async()  # type: ignore[no-untyped-call]

    def _log_retry(self, state: RetryCallState) -> None:
        self.retry_count += 1
        exc = state.outcome.exception() if state.outcome is not None else None
        request = state.args[0] if state.args else None
        log.warning(
            "Plexus API %s: %s; retry %d of %d in %.2fs",
            _subject(request) if isinstance(request, Document) else "request",
            transient_fault(exc) if exc is not None else "fault",
            state.attempt_number,
            self.max_attempts - 1,
            state.upcoming_sleep,
        )

    async def _execute(self, request: Document, **variables: Any) -> dict[str, Any]:
        bound = request.bind(variables)
        sends = [0]
        try:
            return await send_then_retry(self._retrying, _is_retryable, self._send, bound, sends)
        except TransportQueryError as exc:
            if CONDITION_FAILED in _error_types(exc):
                raise ConditionFailed(str(exc), retried=sends[0] > 1) from None
            if transient_fault(exc) is not None:
                raise ApiUnavailable(_gave_up(sends[0], f"Plexus API error: {exc}")) from None
            raise ApiError(f"Plexus API error: {exc}") from None
        except TransportServerError as exc:
            if transient_fault(exc) is not None:
                message = f"Plexus API HTTP {exc.code}: {exc}"
                raise ApiUnavailable(_gave_up(sends[0], message)) from None
            raise ApiError(f"Plexus API HTTP {exc.code}: {exc}") from None
        except (TransportError, TimeoutError) as exc:
            fault = transient_fault(exc) or f"{type(exc).__name__}: {exc}"
            message = f"Plexus API unreachable: {fault}"
            if transient_fault(exc) is not None:
                raise ApiUnavailable(_gave_up(sends[0], message)) from None
            raise ApiError(message) from None

    async def _send(self, request: Document, sends: list[int]) -> dict[str, Any]:
        self.request_count += 1
        sends[0] += 1
        result: dict[str, Any] = await self._session.execute(request)
        return result

    # Accounts and jobs -------------------------------------------------------------

    async def account_id(self, key: str) -> str:
        data = await self._execute(Q_ACCOUNT_BY_KEY, key=key)
        items = data["listAccountByKey"]["items"]
        if not items:
            raise ApiError(f"no account with key {key!r}")
        return str(items[0]["id"])

    async def claimable_jobs(
        self, account_id: str, since: str, lease_cutoff: str, page_size: int = 100
    ) -> AsyncGenerator[dict[str, Any], None]:
        """PENDING jobs, and IN_PROGRESS jobs whose lease ended before `lease_cutoff`, of
        those created at or after `since`, oldest first. Pages are read one ahead of the
        caller, and kept small: a listing goes stale while its jobs are worked, and each
        stale entry costs a refused claim, while workers race for the same account. A
        caller that stops early closes the iterator (`contextlib.aclosing`), which cancels
        the read ahead."""
        job_filter = {
            "or": [
                {"status": {"eq": "PENDING"}},
                {"and": [{"status": {"eq": "IN_PROGRESS"}}, {"startedAt": {"lt": lease_cutoff}}]},
            ]
        }

        def page(token: str | None) -> Awaitable[dict[str, Any]]:
            return self._execute(
                Q_JOBS_BY_ACCOUNT,
                accountId=account_id,
                since=since,
                filter=job_filter,
                limit=page_size,
                nextToken=token,
            )

        data = await page(None)
        following: asyncio.Future[dict[str, Any]] | None = None
        try:
            while True:
                listing = data["listScoringJobByAccountIdAndCreatedAt"]
                token = listing.get("nextToken")
                # The next page is read while this one's jobs are claimed (one page ahead,
                # no more): waiting for it after the last job held back every slot that
                # freed meanwhile, a round trip per page.
                following = asyncio.ensure_future(page(token)) if token else None
                for job in listing["items"]:
                    if job is not None:
                        yield job
                if following is None:
                    return
                data = await following
                following = None
        finally:
            if following is not None:  # the caller stopped early: the read is not wanted
                following.cancel()
                await asyncio.wait([following])  # ended before the caller closes the client
                if not following.cancelled():
                    following.exception()  # retrieved: a read that failed is not reported

    async def get_job(self, job_id: str) -> dict[str, Any] | None:
        return _record((await self._execute(Q_JOB, id=job_id))["getScoringJob"])

    async def update_job(
        self, fields: dict[str, Any], condition: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """updateScoringJob; raises ConditionFailed when `condition` does not hold."""
        data = await self._execute(M_UPDATE_JOB, input=fields, condition=condition)
        job = data["updateScoringJob"]
        if job is None:
            raise ConditionFailed(f"job {fields['id']} was not updated")
        return _record(job) or {}

    # What a job needs ----------------------------------------------------------------

    async def job_context(
        self, item_id: str, score_id: str, scorecard_id: str
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None, dict[str, Any] | None]:
        data = await self._execute(
            Q_JOB_CONTEXT, itemId=item_id, scoreId=score_id, scorecardId=scorecard_id
        )
        return data["getItem"], data["getScore"], data["getScorecard"]

    async def version_and_cached_result(
        self, version_id: str, item_id: str, score_id: str
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The score version, and the newest prediction of this item and score when it is
        reusable for this version (`reusable`), else None. One request."""
        data = await self._execute(
            Q_VERSION_AND_RESULT,
            versionId=version_id,
            itemId=item_id,
            type=PREDICTION,
            scoreId=score_id,
        )
        items = data["listScoreResultByItemIdAndTypeAndScoreIdAndUpdatedAt"]["items"]
        newest = next((r for r in items if r is not None), None)
        return data["getScoreVersion"], newest if reusable(newest, version_id) else None

    async def create_score_result(self, fields: dict[str, Any]) -> dict[str, Any]:
        """createScoreResult; ConditionFailed when a result with this id already exists."""
        data = await self._execute(M_CREATE_RESULT, input=fields)
        return _record(data["createScoreResult"]) or {}

    async def attached_files(self, item_id: str) -> list[str]:
        data = await self._execute(Q_ITEM_FILES, id=item_id)
        return [str(f) for f in (data["getItem"] or {}).get("attachedFiles") or [] if f]

    async def score_id_by_name(self, scorecard_id: str, name: str) -> str | None:
        """The id of the scorecard's score called `name` (Score names are not unique across
        scorecards, hence the filter; pages are bounded by the name index's key)."""
        token = None
        while True:
            data = await self._execute(
                Q_SCORES_BY_NAME, name=name, scorecardId=scorecard_id, nextToken=token
            )
            listing = data["listScoreByName"]
            found = next((s for s in listing["items"] if s), None)
            token = listing.get("nextToken")
            if found is not None or not token:
                return found["id"] if found else None

    async def newest_prediction(self, item_id: str, score_id: str) -> dict[str, Any] | None:
        data = await self._execute(
            Q_NEWEST_RESULT, itemId=item_id, type=PREDICTION, scoreId=score_id
        )
        items = data["listScoreResultByItemIdAndTypeAndScoreIdAndUpdatedAt"]["items"]
        return next((r for r in items if r is not None), None)


def _gave_up(sends: int, message: str) -> str:
    return f"{message} (after {sends} tries)" if sends > 1 else message


def _record(value: Any) -> dict[str, Any] | None:
    """A record the API answered (a JSON object), or None where it answered null."""
    return cast("dict[str, Any] | None", value)
