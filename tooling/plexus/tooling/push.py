"""`plexus-lambda push`: push images to Amazon ECR, optionally deploy them to Lambda.

For each NAME=IMAGE (NAME is `base` or a function image such as `score-processing`; IMAGE
is the push-ready `dir:` layout the flake builds, or a docker-archive, converted first by
plexus.tooling.image_layout): create the repository `<prefix><NAME>` if missing (scan on
push); ask the repository for each blob and mount the missing ones from a repository that
holds them (the base's, or one pushed earlier in the run), so nothing the registry has is
uploaded whatever skopeo's cache knows; push the layout with skopeo as it is; check that
the registry serves the build's manifest byte for byte; add the architecture tag
(`py311-amd64`) and any --tag; print one JSON line
`{"image","repository","tags","digest","imageUri"[,"sbom"]}`. Progress goes to stderr.

Tags, in order: the content tag (the archive's own tag, which dockerTools sets to the Nix
output hash; `cfg-<12 hex of the config digest>` when the archive has none or `latest`),
then the architecture tag, then every --tag.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plexus.tooling import naming
from plexus.tooling.aws_errors import NO_CREDENTIALS, AwsError, explain
from plexus.tooling.deploy import LAMBDA_ARCHITECTURES, update_function_image
from plexus.tooling.docker_archive import ArchiveError, read_archive
from plexus.tooling.ecr import ensure_repository, registry_credentials
from plexus.tooling.image_layout import Layout, convert, read_layout
from plexus.tooling.lambda_manifest import ManifestError, check_manifest
from plexus.tooling.registry_api import RegistryApi
from plexus.tooling.sbom import SbomError, subject_digest
from plexus.tooling.skopeo import Skopeo, SkopeoError, find_skopeo

PROG = "plexus-lambda push"
IMAGE_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
# ECR's repository name rule.
REPOSITORY = re.compile(r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*")


class UsageError(Exception):
    """Bad arguments (exit 2)."""


@dataclass(frozen=True)
class ImagePlan:
    name: str
    layout: Layout
    repository: str
    tags: list[str]
    sbom: Path | None = None


@dataclass(frozen=True)
class Pushed:
    name: str
    repository: str
    tags: list[str]
    digest: str
    image_uri: str
    sbom: Path | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "image": self.name,
            "repository": self.repository,
            "tags": self.tags,
            "digest": self.digest,
            "imageUri": self.image_uri,
        }
        if self.sbom is not None:
            out["sbom"] = str(self.sbom)
        return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "images",
        nargs="+",
        metavar="NAME=IMAGE",
        help="image name (`base` or a function image like `score-processing`) and its "
        "push-ready dir: layout (`nix build .#<name>`), or a docker-archive (.tar, .tar.gz)",
    )
    parser.add_argument(
        "--sbom",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="the image's CycloneDX SBOM: checked against the image digest, printed with it",
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


def _content_tag(layout: Layout) -> str:
    tag = layout.tag
    if tag and tag != "latest" and TAG.fullmatch(tag):
        return tag
    return "cfg-" + layout.config_digest.removeprefix("sha256:")[:12]


def _load(name: str, path: Path, workdir: Path, base: Layout | None) -> Layout:
    """The image's layout: as given, or converted from a docker-archive into `workdir`."""
    if path.is_dir():
        return read_layout(path)
    archive = read_archive(path)  # names what is wrong with a bad archive before converting
    if archive.os != "linux" or archive.architecture not in LAMBDA_ARCHITECTURES:
        raise ArchiveError(
            f"{path}: image is {archive.os}/{archive.architecture}; Lambda runs "
            "linux/amd64 and linux/arm64 only"
        )
    progress(f"push: {name}: converting {path} to a dir: layout (gzip layers)")
    try:
        return convert(path, workdir / name, base=base.path if base else None)
    except ArchiveError as e:
        raise ArchiveError(f"{path}: {e}") from e


def plan_images(
    args: argparse.Namespace, workdir: Path
) -> tuple[list[ImagePlan], list[tuple[str, str]]]:
    """Validate the arguments and images (archives are converted into `workdir`); return the
    images to push (base first) and the (function, image) deployments."""
    given: dict[str, str] = {}
    for name, archive in _pairs(args.images, "NAME=IMAGE"):
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
    sboms = dict(_pairs(args.sbom, "--sbom NAME=FILE"))
    for name in sboms:
        if name not in given:
            raise UsageError(f"--sbom {name}: no such image (given: {', '.join(given)})")
    deployments = _pairs(args.update_function, "--update-function FUNCTION=NAME")
    for function, name in deployments:
        if name not in selected:
            raise UsageError(
                f"--update-function {function}={name}: image {name} is not being pushed"
            )

    repositories = {}
    for name in selected:
        repository = naming.repository_name(name, args.prefix)
        if not (2 <= len(repository) <= 256 and REPOSITORY.fullmatch(repository)):
            raise UsageError(f"repository name {repository!r} is not valid for ECR")
        repositories[name] = repository

    plans = []
    base: Layout | None = None
    for name in selected:
        layout = _load(name, Path(given[name]), workdir, base)
        if name == naming.BASE_IMAGE:
            base = layout
        if layout.os != "linux" or layout.architecture not in LAMBDA_ARCHITECTURES:
            raise ArchiveError(
                f"{layout.path}: image is {layout.os}/{layout.architecture}; Lambda runs "
                "linux/amd64 and linux/arm64 only"
            )
        sbom = Path(sboms[name]) if name in sboms else None
        if sbom is not None:
            described = subject_digest(sbom)
            if described != layout.digest:
                raise SbomError(f"{sbom} describes {described}, not this image ({layout.digest})")
        tags = [_content_tag(layout), naming.arch_tag(layout.architecture), *args.tags]
        plans.append(ImagePlan(name, layout, repositories[name], list(dict.fromkeys(tags)), sbom))
    return plans, deployments


class BlobSources:
    """Which repositories hold which blobs, for cross-repository mounts: what this run pushed,
    and the base image's repository, which function images are built on."""

    def __init__(self, base_repository: str) -> None:
        self.base_repository = base_repository
        self.known: dict[str, list[str]] = {}
        self.mounting = True  # until the registry shows it does not mount

    def add(self, repository: str, layout: Layout) -> None:
        for blob in layout.blobs():
            self.known.setdefault(blob.digest, [])
            if repository not in self.known[blob.digest]:
                self.known[blob.digest].append(repository)

    def candidates(self, digest: str, repository: str) -> list[str]:
        found = [r for r in self.known.get(digest, []) if r != repository]
        if self.base_repository != repository and self.base_repository not in found:
            found.append(self.base_repository)
        return found


def send_missing(plan: ImagePlan, api: RegistryApi, sources: BlobSources) -> None:
    """Mount what the repository lacks from where it is; skopeo then uploads only the rest."""
    present = mounted = 0
    upload: list[int] = []
    for blob in plan.layout.blobs():
        if api.has_blob(plan.repository, blob.digest):
            present += 1
        elif sources.mounting and _mount(api, sources, plan.repository, blob.digest):
            mounted += 1
        else:
            upload.append(blob.size)
    progress(
        f"push: {plan.name}: {len(plan.layout.blobs())} blobs: {present} already in "
        f"{plan.repository}, {mounted} mounted, {len(upload)} to upload ({sum(upload):,} bytes)"
    )


def _mount(api: RegistryApi, sources: BlobSources, repository: str, digest: str) -> bool:
    """Mount `digest` from the first candidate repository that holds it."""
    for source in sources.candidates(digest, repository):
        try:
            held = api.has_blob(source, digest, strict=False)
        except SkopeoError:  # no pull permission on the source, say
            held = False
        if not held:
            continue
        if api.mount(repository, digest, source).mounted:
            return True
        # The source holds it and the registry still declined: it does not mount.
        sources.mounting = False
        progress(
            f"push: {api.credentials.host} does not mount blobs across repositories; "
            "uploading them (ECR: enable the registry setting BLOB_MOUNTING)"
        )
        return False
    return False


def push_image(
    plan: ImagePlan, ecr: Any, skopeo: Skopeo, api: RegistryApi, sources: BlobSources
) -> Pushed:
    host = skopeo.credentials.host
    layout = plan.layout
    progress(
        f"push: {plan.name}: {layout.path} ({layout.layer_count} layers, "
        f"{layout.architecture}, {layout.digest}) -> {host}/{plan.repository}"
    )
    if ensure_repository(ecr, plan.repository):
        progress(f"push: created repository {plan.repository} (scan on push)")
    send_missing(plan, api, sources)
    first = f"{host}/{plan.repository}:{plan.tags[0]}"
    digest = skopeo.push_layout(layout.path, first)
    if digest != layout.digest:
        raise ManifestError(f"skopeo pushed {digest}, not the build's {layout.digest}")
    by_digest = f"{host}/{plan.repository}@{digest}"
    served = skopeo.inspect_raw(by_digest)
    check_manifest(served, digest, layout.config_digest, layout.layer_count)
    if served != layout.manifest:
        raise ManifestError(f"the registry serves a manifest for {digest} that is not the build's")
    for tag in plan.tags[1:]:
        tagged = skopeo.retag(by_digest, f"{host}/{plan.repository}:{tag}")
        if tagged != digest:
            raise ManifestError(f"tag {tag} got {tagged}, not {digest}")
    sources.add(plan.repository, layout)
    progress(f"push: {plan.name}: {by_digest} tagged {', '.join(plan.tags)}")
    if plan.sbom is not None:
        progress(f"push: {plan.name}: SBOM {plan.sbom}")
    return Pushed(plan.name, plan.repository, plan.tags, digest, by_digest, plan.sbom)


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
    with _cleanup_on_sigterm():
        workdir = Path(tempfile.mkdtemp(prefix="plexus-push-layouts-"))
        try:
            try:
                plans, deployments = plan_images(args, workdir)
            except UsageError as e:
                _error(str(e))
                return 2
            except (ArchiveError, SbomError) as e:
                _error(str(e))
                return 1
            return _push_and_deploy(args, plans, deployments)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


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
    sources = BlobSources(naming.repository_name(naming.BASE_IMAGE, args.prefix))
    with (
        Skopeo(binary, credentials, tls_verify=args.dest_tls_verify, progress=progress) as sk,
        RegistryApi(credentials, tls_verify=args.dest_tls_verify) as api,
    ):
        for index, plan in enumerate(plans):
            try:
                result = push_image(plan, ecr, sk, api, sources)
            except (SkopeoError, AwsError, ArchiveError, ManifestError) as e:
                _error(f"{plan.name}: {e}")
                _report_partial(pushed, plan, plans[index + 1 :], deployments)
                return 1
            pushed.append(result)
            print(json.dumps(result.as_json()), flush=True)

    if deployments:
        by_name = {p.name: p for p in pushed}
        architectures = {p.name: p.layout.architecture for p in plans}
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
