"""Point a Lambda function at an image digest and wait until Lambda has taken it."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from plexus.tooling.aws_errors import AwsError, error_code, explain

# Image config architecture -> Lambda's name for it.
LAMBDA_ARCHITECTURES = {"amd64": "x86_64", "arm64": "arm64"}


def _check_function(lam: Any, function: str, architecture: str) -> None:
    try:
        conf = lam.get_function_configuration(FunctionName=function)
    except ClientError as e:
        if error_code(e) == "ResourceNotFoundException":
            raise AwsError(f"Lambda function {function} does not exist") from e
        raise explain(f"reading Lambda function {function}", e) from e
    except BotoCoreError as e:
        raise explain(f"reading Lambda function {function}", e) from e
    if conf.get("PackageType") != "Image":
        raise AwsError(f"Lambda function {function} is a .zip function; it cannot run an image")
    runs_on = (conf.get("Architectures") or ["x86_64"])[0]
    if LAMBDA_ARCHITECTURES.get(architecture) != runs_on:
        # Lambda would accept the update and then fail every invocation (exec format error).
        raise AwsError(f"Lambda function {function} runs on {runs_on}; the image is {architecture}")


def _wait_updated(lam: Any, function: str, delay: int, max_attempts: int) -> None:
    try:
        lam.get_waiter("function_updated_v2").wait(
            FunctionName=function, WaiterConfig={"Delay": delay, "MaxAttempts": max_attempts}
        )
    except WaiterError as e:
        last = e.last_response or {}
        if "Error" in last:
            err = last["Error"]
            raise AwsError(
                f"waiting for Lambda function {function}: {err.get('Code')}: {err.get('Message')}"
            ) from e
        conf = last.get("Configuration", {})
        status = conf.get("LastUpdateStatus", "unknown")
        if status == "InProgress":
            raise AwsError(
                f"Lambda function {function} was still updating after {delay * max_attempts} s"
            ) from e
        reason = conf.get("LastUpdateStatusReason") or "no reason given"
        code = conf.get("LastUpdateStatusReasonCode")
        raise AwsError(
            f"updating Lambda function {function} failed ({status}"
            + (f", {code}" if code else "")
            + f"): {reason}"
        ) from e


def update_function_image(
    lam: Any,
    function: str,
    image_uri: str,
    architecture: str,
    *,
    delay: int = 2,
    max_attempts: int = 450,
) -> None:
    """UpdateFunctionCode(ImageUri=`image_uri`), then wait for LastUpdateStatus Successful.

    Raises AwsError naming the function and Lambda's LastUpdateStatusReason on failure.
    """
    _check_function(lam, function, architecture)
    for attempt in (1, 2):
        try:
            lam.update_function_code(FunctionName=function, ImageUri=image_uri)
            break
        except ClientError as e:
            # Another update still running: let it finish, then try once more.
            if error_code(e) == "ResourceConflictException" and attempt == 1:
                _wait_updated(lam, function, delay, max_attempts)
                continue
            raise explain(f"updating Lambda function {function}", e) from e
        except BotoCoreError as e:
            raise explain(f"updating Lambda function {function}", e) from e
    _wait_updated(lam, function, delay, max_attempts)
