"""`plexus-lambda push` failures: a clear message, exit code 1, nothing half-done unreported."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
from pathlib import Path

import pytest
from moto.core.authorization import enable_iam_authentication

from tests.support.docker_archive import make_layer, write_docker_archive
from tests.support.registry import free_port


def test_no_aws_credentials(push, images, proxy, monkeypatch: pytest.MonkeyPatch):
    archive = images.write("base")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    result = push(f"base={archive}")

    assert result.code == 1
    assert "no AWS credentials found" in result.err
    assert result.out == ""
    assert result.skopeo_calls == []
    assert proxy.snapshot() == []


def test_no_aws_region(push, images, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION")

    result = push(f"base={images.write('base')}")

    assert result.code == 1
    assert "no AWS region: pass --region or set AWS_REGION" in result.err


def test_registry_unreachable(push, images, aws):
    archive = images.write("base")
    closed = f"127.0.0.1:{free_port()}"

    result = push(f"base={archive}", registry=closed)

    assert result.code == 1
    assert f"registry {closed} is unreachable" in result.err
    assert "connection refused" in result.err.lower()
    assert "failed: base" in result.err
    assert result.out == ""


def test_skopeo_missing(push, images, no_skopeo, aws):
    result = push(f"base={images.write('base')}")

    assert result.code == 1
    assert "skopeo is not on PATH" in result.err
    assert aws.ecr.describe_repositories()["repositories"] == []


def _tar(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _two_images(path: Path) -> None:
    layer = make_layer({"a": b"a"})
    write_docker_archive(path, [layer], {}, "x:1")
    with tarfile.open(path) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]
    manifest = json.loads(members["manifest.json"])
    members["manifest.json"] = json.dumps(manifest * 2).encode()
    path.write_bytes(_tar(members))


def _missing_layer(path: Path) -> None:
    write_docker_archive(path, [make_layer({"a": b"a"})], {}, "x:1")
    with tarfile.open(path) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]
    path.write_bytes(_tar({k: v for k, v in members.items() if not k.endswith("layer.tar")}))


def _truncated_gzip(path: Path) -> None:
    layer = make_layer({"blob": os.urandom(64 * 1024)})
    data = gzip.compress(_tar({"manifest.json": b"[]", "layer.tar": layer}))
    path.write_bytes(data[: len(data) // 2])


BAD_ARCHIVES = {
    "missing": (lambda p: None, "no such file"),
    "directory": (lambda p: p.mkdir(), "not a dir: image layout (version missing)"),
    "text": (lambda p: p.write_text("not an archive\n" * 100), "not a readable tar archive"),
    "truncated-gzip": (_truncated_gzip, "not a readable gzip-compressed tar archive"),
    "no-manifest": (
        lambda p: p.write_bytes(_tar({"hello.txt": b"hi"})),
        "not a docker-archive (no manifest.json)",
    ),
    "two-images": (_two_images, "must describe exactly one image, not 2"),
    "missing-layer": (_missing_layer, "layers listed in manifest.json are missing"),
    "windows": (
        lambda p: write_docker_archive(p, [make_layer({"a": b"a"})], {"os": "windows"}, "x:1"),
        "Lambda runs linux/amd64 and linux/arm64 only",
    ),
}


@pytest.mark.parametrize("kind", sorted(BAD_ARCHIVES))
def test_bad_archive(kind: str, push, images, proxy, aws, tmp_path: Path):
    make, message = BAD_ARCHIVES[kind]
    bad = tmp_path / f"{kind}.tar"
    make(bad)
    good = images.write("base")

    result = push(f"base={good}", f"score-processing={bad}")

    assert result.code == 1
    assert str(bad) in result.err
    assert message in result.err
    # Archives are checked before anything is created or pushed.
    assert result.out == ""
    assert result.skopeo_calls == []
    assert aws.ecr.describe_repositories()["repositories"] == []


def test_ecr_denies_creating_a_repository(push, images, aws, monkeypatch: pytest.MonkeyPatch):
    """An IAM user that may push to existing repositories but not create one: the image
    whose repository exists is pushed and printed; the failure names the other and why."""
    aws.ecr.create_repository(repositoryName="plexus/lambda-base")
    aws.iam.create_user(UserName="pusher")
    actions = [
        "ecr:GetAuthorizationToken",
        "ecr:DescribeRepositories",
        "ecr:BatchCheckLayerAvailability",
        "ecr:InitiateLayerUpload",
        "ecr:UploadLayerPart",
        "ecr:CompleteLayerUpload",
        "ecr:PutImage",
    ]
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
    }
    aws.iam.put_user_policy(UserName="pusher", PolicyName="push", PolicyDocument=json.dumps(policy))
    key = aws.iam.create_access_key(UserName="pusher")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    base = images.write("base")
    one = images.write("score-processing", function="score_processing")
    two = images.write("report-processing", function="report_processing")

    with enable_iam_authentication():
        result = push(f"base={base}", f"score-processing={one}", f"report-processing={two}")

    assert result.code == 1
    assert "creating ECR repository plexus/lambda-score-processing: access denied" in result.err
    assert "not authorized to perform: ecr:CreateRepository" in result.err
    assert [image["image"] for image in result.images] == ["base"]
    assert "pushed before the failure (on stdout): base" in result.err
    assert "failed: score-processing" in result.err
    assert "not attempted: report-processing" in result.err


def test_ecr_denies_the_authorization_token(push, images, aws, monkeypatch: pytest.MonkeyPatch):
    aws.iam.create_user(UserName="nobody")
    key = aws.iam.create_access_key(UserName="nobody")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])

    with enable_iam_authentication():
        result = push(f"base={images.write('base')}")

    assert result.code == 1
    assert "getting an ECR authorization token: access denied" in result.err
    assert result.skopeo_calls == []


def test_repository_policy_refuses_the_push(push, images, proxy, registry):
    """ECR answers 403 DENIED when a repository policy forbids the upload."""
    base = images.write("base")
    one = images.write("score-processing", function="score_processing")
    two = images.write("report-processing", function="report_processing")
    denial = (
        "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: "
        "ecr:InitiateLayerUpload on resource: plexus/lambda-score-processing because no "
        "resource-based policy allows the ecr:InitiateLayerUpload action"
    )
    proxy.refuse = lambda method, path: (
        (403, {"errors": [{"code": "DENIED", "message": denial}]})
        if path.startswith("/v2/plexus/lambda-score-processing/blobs/uploads")
        else None
    )

    result = push(f"base={base}", f"score-processing={one}", f"report-processing={two}")

    assert result.code == 1
    assert "registry" in result.err and "refused pushing" in result.err
    assert "no resource-based policy allows" in result.err
    assert [image["image"] for image in result.images] == ["base"]
    assert "failed: score-processing" in result.err
    assert "not attempted: report-processing" in result.err
    assert images.salt[:32] not in registry.tags("plexus/lambda-score-processing")


def test_a_wrong_registry_password_is_refused(push, images, proxy):
    """As with an expired ECR token: the registry answers 401 and the push says so."""
    proxy.basic_auth = ("AWS", "some-other-password")
    try:
        result = push(f"base={images.write('base')}")
    finally:
        proxy.basic_auth = ("AWS", "123456789012-auth-token")

    assert result.code == 1
    assert "refused pushing" in result.err
    assert "unauthorized" in result.err.lower()
    assert result.out == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["base"], "NAME=IMAGE expected, got 'base'"),
        (["Base=x.tar"], "image name 'Base' must be lowercase"),
        (["base=x.tar", "base=y.tar"], "image base given twice"),
        (["base=x.tar", "--only", "score"], "--only score: no such image (given: base)"),
        (["base=x.tar", "--tag", "bad tag"], "--tag 'bad tag' is not a valid tag"),
        (["base=x.tar", "--update-function", "fn"], "FUNCTION=NAME expected, got 'fn'"),
        (
            ["base=x.tar", "a=y.tar", "--only", "a", "--update-function", "fn=base"],
            "image base is not being pushed",
        ),
        (["base=x.tar", "--prefix", "Bad/"], "repository name 'Bad/base' is not valid for ECR"),
    ],
)
def test_usage_errors(args: list[str], message: str, push):
    result = push(*args)

    assert result.code == 2
    assert message in result.err
    assert result.skopeo_calls == []
