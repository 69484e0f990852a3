"""`plexus-lambda push --update-function`: Lambda (moto) pointed at the pushed digest."""

from __future__ import annotations

from typing import Any

import pytest
from moto.awslambda.models import LambdaFunction


def test_update_function_points_lambda_at_the_digest(push, images, aws):
    aws.image_function("score-processing-prod")
    aws.image_function("score-processing-dev")
    archive = images.write("score-processing", function="score_processing")

    result = push(
        f"score-processing={archive}",
        "--update-function",
        "score-processing-prod=score-processing",
        "--update-function",
        "score-processing-dev=score-processing",
    )

    assert result.code == 0, result.err
    (image,) = result.images
    assert image["imageUri"].endswith(f"/plexus/lambda-score-processing@{image['digest']}")
    for function in ("score-processing-prod", "score-processing-dev"):
        code = aws.lam.get_function(FunctionName=function)["Code"]
        assert code["ImageUri"] == image["imageUri"]
        status = aws.lam.get_function_configuration(FunctionName=function)["LastUpdateStatus"]
        assert status == "Successful"
        assert f"deploy: {function} updated" in result.err


def test_a_failed_update_names_the_function_and_the_reason(
    push, images, aws, monkeypatch: pytest.MonkeyPatch
):
    aws.image_function("score-processing-prod")
    archive = images.write("score-processing", function="score_processing")
    reason = "The image manifest, config or layer media type for the source image is not supported."
    real = LambdaFunction.get_configuration

    # Lambda reports the outcome of an image update asynchronously; moto always says
    # Successful, so make it say what Lambda says when it rejects the image.
    def failed(self: LambdaFunction, on_create: bool = False) -> dict[str, Any]:
        config = real(self, on_create)
        if self.function_name == "score-processing-prod" and not on_create:
            config["LastUpdateStatus"] = "Failed"
            config["LastUpdateStatusReason"] = reason
            config["LastUpdateStatusReasonCode"] = "ImageAccessDenied"
        return config

    monkeypatch.setattr(LambdaFunction, "get_configuration", failed)

    result = push(
        f"score-processing={archive}", "--update-function", "score-processing-prod=score-processing"
    )

    assert result.code == 1
    assert "score-processing-prod" in result.err
    assert reason in result.err
    assert "ImageAccessDenied" in result.err
    # The image itself was pushed and is reported.
    assert [image["image"] for image in result.images] == ["score-processing"]


def test_update_of_a_missing_function_fails_clearly(push, images, aws):
    archive = images.write("score-processing", function="score_processing")

    result = push(f"score-processing={archive}", "--update-function", "nope=score-processing")

    assert result.code == 1
    assert "Lambda function nope does not exist" in result.err
    assert len(result.images) == 1


def test_an_image_of_the_wrong_architecture_is_not_deployed(push, images, aws):
    aws.image_function("score-processing-arm", architecture="arm64")
    before = aws.lam.get_function(FunctionName="score-processing-arm")["Code"]["ImageUri"]
    archive = images.write("score-processing", function="score_processing")  # amd64

    result = push(
        f"score-processing={archive}", "--update-function", "score-processing-arm=score-processing"
    )

    assert result.code == 1
    assert "score-processing-arm runs on arm64; the image is amd64" in result.err
    assert aws.lam.get_function(FunctionName="score-processing-arm")["Code"]["ImageUri"] == before


def test_no_function_is_updated_when_a_push_fails(push, images, aws, proxy):
    aws.image_function("score-processing-prod")
    before = aws.lam.get_function(FunctionName="score-processing-prod")["Code"]["ImageUri"]
    base = images.write("base")
    fn = images.write("score-processing", function="score_processing")
    proxy.refuse = lambda method, path: (
        (403, {"errors": [{"code": "DENIED", "message": "denied by test"}]})
        if "lambda-base/blobs/uploads" in path
        else None
    )

    result = push(
        f"base={base}",
        f"score-processing={fn}",
        "--update-function",
        "score-processing-prod=score-processing",
    )

    assert result.code == 1
    assert result.images == []
    assert "no Lambda function was updated" in result.err
    assert aws.lam.get_function(FunctionName="score-processing-prod")["Code"]["ImageUri"] == before
