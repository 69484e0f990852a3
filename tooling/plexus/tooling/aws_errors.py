"""Turn botocore exceptions into one-line messages that say what was refused and why."""

from __future__ import annotations

import re

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
)

ACCESS_DENIED = {"AccessDenied", "AccessDeniedException", "403"}
BAD_CREDENTIALS = {
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
}

NO_CREDENTIALS = (
    "no AWS credentials found: set AWS_PROFILE (and run `aws sso login` if it uses SSO) or "
    "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
)


class AwsError(Exception):
    """An AWS call failed; the message names the action and AWS's reason."""


def error_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def _message(err: ClientError) -> str:
    message = str(err.response.get("Error", {}).get("Message", "")) or str(err)
    # Some endpoints (and moto) send an XML error document as the message.
    inner = re.search(r"<Message>(.*?)</Message>", message, re.S)
    return inner.group(1).strip() if inner else message.strip()


def explain(action: str, err: Exception) -> AwsError:
    """An AwsError for `err` raised while doing `action` (e.g. "creating repository x")."""
    if isinstance(err, NoCredentialsError):
        return AwsError(NO_CREDENTIALS)
    if isinstance(err, NoRegionError):
        return AwsError("no AWS region: pass --region or set AWS_REGION")
    if isinstance(err, EndpointConnectionError):
        return AwsError(f"{action}: cannot reach AWS ({err})")
    if isinstance(err, ClientError):
        code = error_code(err)
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in BAD_CREDENTIALS:
            return AwsError(f"{action}: AWS rejected the credentials ({code}): {_message(err)}")
        if code in ACCESS_DENIED or status == 403:
            return AwsError(f"{action}: access denied by AWS: {_message(err)}")
        return AwsError(f"{action}: {code}: {_message(err)}")
    if isinstance(err, BotoCoreError):
        return AwsError(f"{action}: {err}")
    return AwsError(f"{action}: {err}")
