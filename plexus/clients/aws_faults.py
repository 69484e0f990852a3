"""Which AWS errors are a service's passing trouble rather than the request's fault.

boto3's standard retry mode has already retried these when the caller sees them (the S3
attachments, sent by aiohttp, retry them the same way: plexus/clients/attachments.py); what
is left is an outage that outlasted the retries, which must not fail the job (core.errors
ServiceUnavailable). Anything else (a missing bucket, denied access, a bad parameter) is the
request's own fault and fails it.
"""

from __future__ import annotations

# botocore's standard retry mode treats these as throttling or transient (its
# retries/standard.py); a 5xx answer is transient whatever its code.
_TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "ServiceUnavailable",
    }
)


def transient_answer(status: int, code: str | None) -> bool:
    """An answer worth another try: a 5xx, 429, or a throttling or transient error code."""
    return status >= 500 or status == 429 or code in _TRANSIENT_CODES


def is_transient(exc: Exception) -> bool:
    """A connection that failed, dropped or timed out, throttling, or a 5xx answer."""
    from botocore.exceptions import ClientError, HTTPClientError
    from botocore.exceptions import ConnectionError as BotoConnectionError

    # EndpointConnectionError and ConnectTimeoutError are ConnectionErrors;
    # ReadTimeoutError and ConnectionClosedError are HTTPClientErrors.
    if isinstance(exc, BotoConnectionError | HTTPClientError):
        return True
    if isinstance(exc, ClientError):
        response = exc.response
        status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return transient_answer(status, response.get("Error", {}).get("Code"))
    return False
