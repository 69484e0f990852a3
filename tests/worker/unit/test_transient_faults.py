"""Which Plexus API errors the client retries (plexus/clients/plexus_api.py transient_fault):
the transport's own exception classes, as gql wraps them. The faults themselves, on the
wire, are tests/reliability/test_network_faults.py's."""

from __future__ import annotations

from typing import Any

import pytest
from gql.transport import httpx as gql_httpx
from gql.transport.exceptions import (
    TransportConnectionFailed,
    TransportQueryError,
    TransportServerError,
)

from plexus.clients.plexus_api import transient_fault

http: Any = vars(gql_httpx)["httpx"]  # httpx2 when installed, as gql uses it


def wrapped(cause: BaseException) -> TransportConnectionFailed:
    try:
        raise TransportConnectionFailed(str(cause)) from cause
    except TransportConnectionFailed as exc:
        return exc


@pytest.mark.parametrize(
    "cause",
    [
        http.ConnectError("[Errno 111] Connection refused"),
        http.ConnectTimeout("timed out"),
        http.ReadTimeout("timed out"),
        http.WriteTimeout("timed out"),
        http.PoolTimeout("timed out"),
        http.ReadError("[Errno 104] Connection reset by peer"),
        http.WriteError("[Errno 32] Broken pipe"),
        http.RemoteProtocolError("Server disconnected without sending a response."),
    ],
    ids=lambda c: type(c).__name__,
)
def test_network_faults_and_timeouts_are_retried(cause: BaseException) -> None:
    assert transient_fault(wrapped(cause)) == f"{type(cause).__name__}: {cause}"


def test_what_a_retry_cannot_mend_is_not_retried() -> None:
    closed = RuntimeError("Cannot send a request, as the client has been closed.")
    assert transient_fault(wrapped(closed)) is None
    assert transient_fault(wrapped(http.UnsupportedProtocol("ftp"))) is None
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
