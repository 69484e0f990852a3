"""`plexus-lambda push` against moto's ECR and a real registry through skopeo."""

from __future__ import annotations

import hashlib
from collections import Counter
from urllib.parse import parse_qs

from tests.support.docker_archive import config_bytes
from tests.support.registry import V2S2

GZIP_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def test_push_prints_the_digest_the_registry_serves(push, images, registry, proxy, aws):
    base = images.write("base")
    fn = images.write("score-processing", function="score_processing", gzip_compress=True)

    result = push(f"score-processing={fn}", f"base={base}")

    assert result.code == 0, result.err
    printed = result.images
    assert [p["image"] for p in printed] == ["base", "score-processing"]  # base first
    for image in printed:
        repository = f"plexus/lambda-{image['image']}"
        assert image["repository"] == repository
        assert image["tags"] == [images.salt[:32], "py311-amd64"]
        assert image["imageUri"] == f"{proxy.host}/{repository}@{image['digest']}"
        for tag in image["tags"]:
            assert registry.manifest_digest(repository, tag) == image["digest"]
        content_type, manifest = registry.manifest(repository, image["digest"])
        assert content_type == V2S2
        assert {layer["mediaType"] for layer in manifest["layers"]} == {GZIP_LAYER}
        assert all(layer["size"] > 0 for layer in manifest["layers"])
    # The function image is the base's layers plus its handler layer.
    _, base_manifest = registry.manifest("plexus/lambda-base", printed[0]["digest"])
    _, fn_manifest = registry.manifest("plexus/lambda-score-processing", printed[1]["digest"])
    assert fn_manifest["layers"][:-1] == base_manifest["layers"]
    # Missing repositories were created in ECR, with scan on push.
    repos = aws.ecr.describe_repositories()["repositories"]
    scan = {r["repositoryName"]: r["imageScanningConfiguration"]["scanOnPush"] for r in repos}
    assert scan == {"plexus/lambda-base": True, "plexus/lambda-score-processing": True}
    assert "created repository plexus/lambda-base" in result.err
    # Archives are converted to dir: layouts, which skopeo pushes as they are, one copy per
    # image; the architecture tag only re-tags.
    copies = [c["argv"] for c in result.skopeo_calls if "copy" in c["argv"]]
    layout_copies = [a for a in copies if any(x.startswith("dir:") for x in a)]
    assert len(layout_copies) == 2
    assert not any(x.startswith("docker-archive:") for a in copies for x in a)
    for argv in layout_copies:
        assert argv[argv.index("--format") + 1] == "v2s2"
        assert "--digestfile" in argv
        assert "--preserve-digests" in argv
    assert any("inspect" in c["argv"] and "--raw" in c["argv"] for c in result.skopeo_calls), (
        "the pushed manifest was not verified"
    )


def test_a_second_push_uploads_nothing(push, images, registry, proxy):
    archive = images.write("score-processing", function="score_processing")
    first = push(f"score-processing={archive}")
    assert first.code == 0, first.err
    assert proxy.blob_uploads(), "the first push uploaded nothing: the counter is broken"
    proxy.reset()

    second = push(f"score-processing={archive}")

    assert second.code == 0, second.err
    assert proxy.blob_uploads() == []
    assert proxy.bytes_uploaded() == 0
    assert second.images == first.images
    tag = second.images[0]["tags"][0]
    assert (
        registry.manifest_digest("plexus/lambda-score-processing", tag)
        == (first.images[0]["digest"])
    )


def test_gzip_and_plain_archives_of_one_image_push_the_same_digest(push, images, proxy):
    gz = images.write("base", gzip_compress=True)
    plain = images.write("base")
    first = push(f"base={gz}")
    assert first.code == 0, first.err
    proxy.reset()

    second = push(f"base={plain}")

    assert second.code == 0, second.err
    assert second.images[0]["digest"] == first.images[0]["digest"]
    assert proxy.blob_uploads() == []


def _completed_uploads(proxy) -> Counter[str]:
    """Blob digests whose upload was completed (PUT …/blobs/uploads/<id>?digest=…)."""
    done: Counter[str] = Counter()
    for r in proxy.snapshot():
        if r.method == "PUT" and "/blobs/uploads/" in r.path and r.status == 201:
            done.update(parse_qs(r.query).get("digest", []))
    return done


def test_function_images_sharing_a_base_upload_it_once(push, images, registry, proxy):
    base = images.write("base")
    one = images.write("score-processing", function="score_processing")
    two = images.write("report-processing", function="report_processing")

    result = push(f"base={base}", f"score-processing={one}", f"report-processing={two}")

    assert result.code == 0, result.err
    digests = {p["image"]: p["digest"] for p in result.images}
    _, base_manifest = registry.manifest("plexus/lambda-base", digests["base"])
    base_layers = [layer["digest"] for layer in base_manifest["layers"]]
    uploaded = _completed_uploads(proxy)
    for layer in base_layers:
        assert uploaded[layer] == 1, f"base layer {layer} uploaded {uploaded[layer]} times"
    assert max(uploaded.values()) == 1
    # The other repositories got the base layers by cross-repository mount.
    mounts = [r for r in proxy.snapshot() if r.is_mount and r.status == 201]
    assert len(mounts) == 2 * len(base_layers)
    # Bytes sent: the unique blobs once, not the base three times.
    base_size = sum(layer["size"] for layer in base_manifest["layers"])
    assert base_size <= proxy.bytes_uploaded() < 2 * base_size
    for name in ("score-processing", "report-processing"):
        _, manifest = registry.manifest(f"plexus/lambda-{name}", digests[name])
        assert [layer["digest"] for layer in manifest["layers"][:-1]] == base_layers


def test_function_images_share_layers_without_the_base_being_pushed(push, images, proxy):
    one = images.write("score-processing", function="score_processing")
    two = images.write("report-processing", function="report_processing")

    result = push(f"score-processing={one}", f"report-processing={two}")

    assert result.code == 0, result.err
    uploaded = _completed_uploads(proxy)
    assert len(uploaded) == 2 + 2 + 2  # 2 shared layers, 2 handler layers, 2 configs
    assert max(uploaded.values()) == 1


def test_only_and_extra_tags(push, images, registry, aws):
    base = images.write("base")
    fn = images.write("score-processing", function="score_processing")

    result = push(
        f"base={base}",
        f"score-processing={fn}",
        "--only",
        "score-processing",
        "--tag",
        "release-7",
        "--tag",
        "latest",
    )

    assert result.code == 0, result.err
    (image,) = result.images
    assert image["image"] == "score-processing"
    assert image["tags"] == [images.salt[:32], "py311-amd64", "release-7", "latest"]
    for tag in image["tags"]:
        assert registry.manifest_digest("plexus/lambda-score-processing", tag) == image["digest"]
    names = [r["repositoryName"] for r in aws.ecr.describe_repositories()["repositories"]]
    assert names == ["plexus/lambda-score-processing"]


def test_prefix_arm64_and_an_archive_without_its_own_tag(push, images, registry):
    archive = images.write("base", architecture="arm64", tag="latest")

    result = push(f"base={archive}", "--prefix", "team/img-")

    assert result.code == 0, result.err
    (image,) = result.images
    layers = images.base_layers()
    config_digest = hashlib.sha256(config_bytes(layers, {"architecture": "arm64", "config": {}}))
    content_tag = "cfg-" + config_digest.hexdigest()[:12]
    assert image["repository"] == "team/img-base"
    assert image["tags"] == [content_tag, "py311-arm64"]
    assert registry.manifest_digest("team/img-base", "py311-arm64") == image["digest"]


def test_the_registry_login_comes_from_ecr(push, images, proxy, skopeo_shim):
    """The proxy answers 401 without moto's ECR password, so a push proves skopeo got it from
    the auth file (the push fixture checks the file's modes and that it is gone)."""
    archive = images.write("base")

    result = push(f"base={archive}")

    assert result.code == 0, result.err
    seen = proxy.snapshot()
    assert any(r.method == "PUT" and "/manifests/" in r.path and r.status == 201 for r in seen)
    assert all(r.status != 401 for r in seen if r.path != "/v2/")
    # One private auth file served every skopeo call of the run.
    authfiles = {path for call in result.skopeo_calls for path in call["authfiles"]}
    assert len(authfiles) == 1
