"""Which Plexus API errors the client retries (plexus/clients/plexus_api.py transient_fault):
the transport's own exception classes, as gql wraps them. The faults themselves, on the
wire, are tests/reliability/test_network_faults.py's."""

from __future__ import annotations

from types import SimpleNamespace

import aiohttp
import pytest
from gql.transport.exceptions import (
    TransportConnectionFailed,
    TransportQueryError,
    TransportServerError,
)

from plexus.clients.plexus_api import transient_fault


def wrapped(cause: BaseException) -> TransportConnectionFailed:
    try:
        raise TransportConnectionFailed(str(cause)) from cause
    except TransportConnectionFailed as exc:
        return exc


@pytest.mark.parametrize(
    "cause",
    [
        aiohttp.ClientConnectorError(
            SimpleNamespace(host="api.example", port=443, ssl=True),  # type: ignore[arg-type]
            ConnectionRefusedError(111, "Connect call failed"),
        ),
        aiohttp.ConnectionTimeoutError("Connection timeout to host https://api.example"),
        aiohttp.SocketTimeoutError("Timeout on reading data from socket"),
        aiohttp.ClientOSError(104, "Connection reset by peer"),
        aiohttp.ClientOSError(32, "Broken pipe"),
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientPayloadError("Response payload is not completed"),
    ],
    ids=lambda c: type(c).__name__,
)
def test_network_faults_and_timeouts_are_retried(cause: BaseException) -> None:
    assert transient_fault(wrapped(cause)) == f"{type(cause).__name__}: {cause}"


def test_a_timeout_of_the_whole_request_is_retried() -> None:
    # aiohttp's total timeout raises a bare TimeoutError; the log line names the limit.
    expected = "TimeoutError: no answer within PLEXUS_API_TIMEOUT_SECONDS"
    assert transient_fault(wrapped(TimeoutError())) == expected


def test_what_a_retry_cannot_mend_is_not_retried() -> None:
    assert transient_fault(wrapped(RuntimeError("Session is closed"))) is None
    assert transient_fault(wrapped(aiohttp.InvalidURL("ftp://api.example"))) is None
    assert transient_fault(wrapped(ValueError("Newline or carriage return character"))) is None
    assert transient_fault(TransportServerError("bad request", 400)) is None
    assert transient_fault(TransportServerError("unauthorized", 401)) is None
    unauthorized = [{"errorType": "UnauthorizedException", "message": "no"}]
    assert transient_fault(TransportQueryError("no", errors=unauthorized)) is None
    condition = [{"errorType": "DynamoDB:ConditionalCheckFailedException", "message": "c"}]
    assert transient_fault(TransportQueryError("c", errors=condition)) is None


def test_throttling_and_server_errors_are_retried() -> None:
    assert transient_fault(TransportServerError("throttled", 429)) == "HTTP 429"
    assert transient_fault(TransportServerError("bad gateway", 502)) == "HTTP 502"
    throttled = [{"errorType": "TooManyRequestsException", "message": "Rate exceeded"}]
    assert transient_fault(TransportQueryError("t", errors=throttled)) is not None
    assert transient_fault(TimeoutError()) is not None  # gql's execute_timeout
