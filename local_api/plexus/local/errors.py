"""The emulator's errors and the bodies AppSync answers with, for every backend and server."""

from __future__ import annotations

import uuid
from typing import Any

# AppSync's answer to a missing or wrong `x-api-key` (HTTP 401).
UNAUTHORIZED_BODY: dict[str, Any] = {
    "errors": [
        {
            "errorType": "UnauthorizedException",
            "message": "You are not authorized to make this call.",
        }
    ]
}


def error_body(error_type: str, message: str) -> dict[str, Any]:
    """An AppSync error body outside GraphQL execution (bad HTTP request, injected fault)."""
    return {"errors": [{"errorType": error_type, "message": message}]}


class ApiError(Exception):
    """A resolver error that reaches the client with AppSync's `errorType`."""

    def __init__(self, error_type: str | None, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


class BadRequest(ValueError):
    """The HTTP body is not a GraphQL request; the message says why."""


class InvalidConditionError(ValueError):
    """The condition or filter cannot be expressed; the message names where."""


class CompositeKeyError(ValueError):
    """A write names part of a composite sort key but not all of it; the real wording."""


class ConditionFailed(Exception):
    """A store's conditional write found the item in another state."""

    def __init__(self, request_id: str | None = None) -> None:
        super().__init__("the conditional request failed")
        self.request_id = request_id or uuid.uuid4().hex.upper()[:32]


def condition_failed_error(failure: ConditionFailed) -> ApiError:
    """What AppSync answers for a DynamoDB write whose condition did not hold."""
    return ApiError(
        "DynamoDB:ConditionalCheckFailedException",
        "The conditional request failed (Service: DynamoDb, Status Code: 400, "
        f"Request ID: {failure.request_id})",
    )
