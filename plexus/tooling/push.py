"""`plexus-lambda push`: push image archives to Amazon ECR, optionally deploy them to Lambda.

For each NAME=ARCHIVE (NAME is `base` or a function image such as `score-processing`):
create the repository `<prefix><NAME>` if missing (scan on push), push the archive with
skopeo as Docker v2 schema 2 under its content tag, verify the manifest the registry
serves, add the architecture tag (`py311-amd64`) and any --tag, and print one JSON line
`{"image","repository","tags","digest","imageUri"}`. Progress goes to stderr.

Tags, in order: the content tag (the archive's own tag, which dockerTools sets to the Nix
output hash; `cfg-<12 hex of the config digest>` when the archive has none or `latest`),
then the architecture tag, then every --tag.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plexus.tooling import naming
from plexus.tooling.aws_errors import NO_CREDENTIALS, AwsError, explain
from plexus.tooling.deploy import LAMBDA_ARCHITECTURES, update_function_image
from plexus.tooling.docker_archive import ArchiveError, ArchiveImage, decompress, read_archive
from plexus.tooling.ecr import ensure_repository, registry_credentials
from plexus.tooling.lambda_manifest import ManifestError, check_manifest
from plexus.tooling.skopeo import Skopeo, SkopeoError, find_skopeo

PROG = "plexus-lambda push"
IMAGE_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
# ECR's repository name rule.
REPOSITORY = re.compile(r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*")


class UsageError(Exception):
    """Bad arguments (exit 2)."""


class PushFailed(Exception):
    """One image could not be pushed."""


@dataclass(frozen=True)
class ImagePlan:
    name: str
    archive: ArchiveImage
    repository: str
    tags: list[str]


@dataclass(frozen=True)
class Pushed:
    name: str
    repository: str
    tags: list[str]
    digest: str
    image_uri: str

    def as_json(self) -> dict[str, Any]:
        return {
            "image": self.name,
            "repository": self.repository,
            "tags": self.tags,
            "digest": self.digest,
            "imageUri": self.image_uri,
        }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "images",
        nargs="+",
        metavar="NAME=ARCHIVE",
        help="image name (`base` or a function image like `score-processing`) and its "
        "docker-archive (.tar or .tar.gz, as dockerTools writes it)",
    )
    parser.add_argument(
        "--only", action="append", default=[], metavar="NAME", help="push only this image"
    )
    parser.add_argument(
        "--prefix",
        default=naming.REPOSITORY_PREFIX,
        help=f"repository name prefix (default {naming.REPOSITORY_PREFIX})",
    )
    parser.add_argument(
        "--tag", action="append", default=[], dest="tags", metavar="TAG", help="an extra tag"
    )
    parser.add_argument(
        "--update-function",
        action="append",
        default=[],
        metavar="FUNCTION=NAME",
        help="after pushing, point Lambda FUNCTION at image NAME's digest and wait",
    )
    parser.add_argument("--region", help="AWS region (default: the AWS configuration's)")
    parser.add_argument(
        "--registry",
        metavar="HOST[:PORT]",
        help="push to this registry instead of ECR's proxy endpoint (mirrors, tests)",
    )
    parser.add_argument(
        "--dest-tls-verify",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="require HTTPS with a verified certificate (default: yes)",
    )


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _pairs(values: list[str], what: str) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        left, sep, right = value.partition("=")
        if not sep or not left or not right:
            raise UsageError(f"{what} expected, got {value!r}")
        pairs.append((left, right))
    return pairs


def _content_tag(archive: ArchiveImage) -> str:
    tag = archive.tag
    if tag and tag != "latest" and TAG.fullmatch(tag):
        return tag
    return "cfg-" + archive.config_digest.removeprefix("sha256:")[:12]


def plan_images(args: argparse.Namespace) -> tuple[list[ImagePlan], list[tuple[str, str]]]:
    """Validate the arguments and archives; return the images to push (base first) and the
    (function, image) deployments."""
    given: dict[str, str] = {}
    for name, archive in _pairs(args.images, "NAME=ARCHIVE"):
        if not IMAGE_NAME.fullmatch(name):
            raise UsageError(f"image name {name!r} must be lowercase letters, digits and dashes")
        if name in given:
            raise UsageError(f"image {name} given twice")
        given[name] = archive
    for name in args.only:
        if name not in given:
            raise UsageError(f"--only {name}: no such image (given: {', '.join(given)})")
    selected = [n for n in given if not args.only or n in args.only]
    # The base first: function images then mount its layers instead of uploading them.
    selected.sort(key=lambda n: n != naming.BASE_IMAGE)
    for tag in args.tags:
        if not TAG.fullmatch(tag):
            raise UsageError(f"--tag {tag!r} is not a valid tag")
    deployments = _pairs(args.update_function, "--update-function FUNCTION=NAME")
    for function, name in deployments:
        if name not in selected:
            raise UsageError(
                f"--update-function {function}={name}: image {name} is not being pushed"
            )

    plans = []
    for name in selected:
        repository = naming.repository_name(name, args.prefix)
        if not (2 <= len(repository) <= 256 and REPOSITORY.fullmatch(repository)):
            raise UsageError(f"repository name {repository!r} is not valid for ECR")
        archive = read_archive(Path(given[name]))
        if archive.os != "linux" or archive.architecture not in LAMBDA_ARCHITECTURES:
            raise ArchiveError(
                f"{archive.path}: image is {archive.os}/{archive.architecture}; Lambda runs "
                "linux/amd64 and linux/arm64 only"
            )
        tags = [_content_tag(archive), naming.arch_tag(archive.architecture), *args.tags]
        plans.append(ImagePlan(name, archive, repository, list(dict.fromkeys(tags))))
    return plans, deployments


def push_image(plan: ImagePlan, ecr: Any, skopeo: Skopeo) -> Pushed:
    host = skopeo.credentials.host
    archive = plan.archive
    progress(
        f"push: {plan.name}: {archive.path} ({archive.layer_count} layers, "
        f"{archive.architecture}) -> {host}/{plan.repository}"
    )
    if ensure_repository(ecr, plan.repository):
        progress(f"push: created repository {plan.repository} (scan on push)")
    source = archive.path
    if archive.compressed:
        progress(f"push: {plan.name}: decompressing the archive for skopeo")
        source = decompress(archive.path, skopeo.workdir / f"{plan.name}.tar")
    try:
        first = f"{host}/{plan.repository}:{plan.tags[0]}"
        digest = skopeo.push_archive(source, first)
    finally:
        if source != archive.path:
            source.unlink(missing_ok=True)
    by_digest = f"{host}/{plan.repository}@{digest}"
    check_manifest(
        skopeo.inspect_raw(by_digest), digest, archive.config_digest, archive.layer_count
    )
    for tag in plan.tags[1:]:
        tagged = skopeo.retag(by_digest, f"{host}/{plan.repository}:{tag}")
        if tagged != digest:
            raise ManifestError(f"tag {tag} got {tagged}, not {digest}")
    progress(f"push: {plan.name}: {by_digest} tagged {', '.join(plan.tags)}")
    return Pushed(plan.name, plan.repository, plan.tags, digest, by_digest)


def _aws_session(region: str | None) -> Any:
    import boto3
    from botocore.exceptions import BotoCoreError

    try:
        session = boto3.Session(region_name=region)
        if session.region_name is None:
            raise AwsError("no AWS region: pass --region or set AWS_REGION")
        if session.get_credentials() is None:
            raise AwsError(NO_CREDENTIALS)
    except BotoCoreError as e:
        raise explain("reading the AWS configuration", e) from e
    return session


@contextmanager
def _cleanup_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into SystemExit so the auth file is removed as on Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _error(message: str) -> None:
    progress(f"{PROG}: error: {message}")


def run(args: argparse.Namespace) -> int:
    try:
        plans, deployments = plan_images(args)
    except UsageError as e:
        _error(str(e))
        return 2
    except ArchiveError as e:
        _error(str(e))
        return 1
    with _cleanup_on_sigterm():
        return _push_and_deploy(args, plans, deployments)


def _push_and_deploy(
    args: argparse.Namespace, plans: list[ImagePlan], deployments: list[tuple[str, str]]
) -> int:
    try:
        binary = find_skopeo()
        session = _aws_session(args.region)
        ecr = session.client("ecr")
        credentials = registry_credentials(ecr, args.registry)
    except (SkopeoError, AwsError) as e:
        _error(str(e))
        return 1

    pushed: list[Pushed] = []
    with Skopeo(binary, credentials, tls_verify=args.dest_tls_verify, progress=progress) as sk:
        for index, plan in enumerate(plans):
            try:
                result = push_image(plan, ecr, sk)
            except (SkopeoError, AwsError, ArchiveError, ManifestError) as e:
                _error(f"{plan.name}: {e}")
                _report_partial(pushed, plan, plans[index + 1 :], deployments)
                return 1
            pushed.append(result)
            print(json.dumps(result.as_json()), flush=True)

    if deployments:
        by_name = {p.name: p for p in pushed}
        architectures = {p.name: p.archive.architecture for p in plans}
        lam = session.client("lambda")
        for done, (function, name) in enumerate(deployments):
            image = by_name[name]
            progress(f"deploy: {function} -> {image.image_uri}")
            try:
                update_function_image(lam, function, image.image_uri, architectures[name])
            except AwsError as e:
                _error(str(e))
                updated = [f for f, _ in deployments[:done]]
                untouched = [f for f, _ in deployments[done + 1 :]]
                if updated:
                    progress(f"{PROG}: updated before the failure: {', '.join(updated)}")
                if untouched:
                    progress(f"{PROG}: not updated: {', '.join(untouched)}")
                return 1
            progress(f"deploy: {function} updated (LastUpdateStatus Successful)")
    return 0


def _report_partial(
    pushed: list[Pushed],
    failed: ImagePlan,
    not_attempted: list[ImagePlan],
    deployments: list[tuple[str, str]],
) -> None:
    if pushed:
        names = ", ".join(p.name for p in pushed)
        progress(f"{PROG}: pushed before the failure (on stdout): {names}")
    progress(f"{PROG}: failed: {failed.name}")
    if not_attempted:
        progress(f"{PROG}: not attempted: {', '.join(p.name for p in not_attempted)}")
    if deployments:
        progress(f"{PROG}: no Lambda function was updated")
