"""Pushes from an empty skopeo blob-info cache (every `push` run here gets a new one, as a
fresh CI runner has): only what the repository lacks is sent, mounts come from the base's
repository, and the digest the registry serves is the one the layout was built with."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import Counter
from urllib.parse import parse_qs

from plexus.tooling.image_layout import convert
from tests.support.docker_archive import config_bytes
from tests.support.registry import V2S2


def _completed(proxy) -> Counter[str]:
    """Blob digests whose upload completed (PUT …/blobs/uploads/<id>?digest=…)."""
    done: Counter[str] = Counter()
    for r in proxy.snapshot():
        if r.method == "PUT" and "/blobs/uploads/" in r.path and r.status == 201:
            done.update(parse_qs(r.query).get("digest", []))
    return done


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_the_shim_gives_each_push_an_empty_cache(push, images, skopeo_shim, tmp_path):
    result = push(f"base={images.write('base')}")
    assert result.code == 0, result.err
    caches = {c["env"]["PLEXUS_TEST_BLOBINFO_CACHE"] for c in result.skopeo_calls}
    assert len(caches) == 1
    (cache,) = caches
    # skopeo wrote its cache there, not in the machine's.
    assert any(p.name.endswith(".sqlite") or p.suffix == ".boltdb" for p in _walk(cache))
    again = push(f"base={images.write('base')}")
    assert {c["env"]["PLEXUS_TEST_BLOBINFO_CACHE"] for c in again.skopeo_calls} != caches


def _walk(folder):
    from pathlib import Path

    return [p for p in Path(folder).rglob("*") if p.is_file()]


def test_a_layout_is_pushed_byte_for_byte(push, images, registry, proxy, tmp_path):
    layout = convert(images.write("base"), tmp_path / "base-layout")

    result = push(f"base={layout.path}")

    assert result.code == 0, result.err
    (image,) = result.images
    assert image["digest"] == layout.digest  # known before the push
    for tag in image["tags"]:
        assert registry.manifest_digest("plexus/lambda-base", tag) == layout.digest
    content_type, served = registry.manifest("plexus/lambda-base", layout.digest)
    assert content_type == V2S2
    assert served == json.loads(layout.manifest)
    assert "1 mounted" not in result.err


def test_re_push_from_an_empty_cache_uploads_no_layer_bytes(push, images, proxy):
    base = images.write("base")
    fn = images.write("score-processing", function="score_processing")
    first = push(f"base={base}", f"score-processing={fn}")
    assert first.code == 0, first.err
    assert proxy.bytes_uploaded() > 0
    proxy.reset()

    second = push(f"base={base}", f"score-processing={fn}")

    assert second.code == 0, second.err
    assert proxy.blob_uploads() == []
    assert proxy.bytes_uploaded() == 0
    assert second.images == first.images
    assert "already in plexus/lambda-score-processing, 0 mounted, 0 to upload" in second.err


def test_a_changed_handler_uploads_only_its_layer_and_config(
    push, images, registry, proxy, tmp_path
):
    base = images.write("base")
    first = push(
        f"base={base}", f"score-processing={images.write('score-processing', function='v1')}"
    )
    assert first.code == 0, first.err
    proxy.reset()
    changed = images.write("score-processing", function="v2")

    result = push(f"score-processing={changed}")

    assert result.code == 0, result.err
    layout = convert(changed, tmp_path / "changed-layout")
    handler = layout.layers[-1]
    assert gzip.decompress(layout.blob_path(handler.digest).read_bytes()) == (
        images.handler_layer("v2")
    )
    config = config_bytes(
        [*images.base_layers(), images.handler_layer("v2")],
        {
            "architecture": "amd64",
            "config": {"Cmd": ["handler.handler"], "WorkingDir": "/var/task"},
        },
    )
    assert layout.config_digest == _sha(config)
    assert set(_completed(proxy)) == {handler.digest, layout.config_digest}
    assert proxy.bytes_uploaded() == handler.size + len(config)
    # New blobs are in no repository: nothing to mount them from, nothing tried.
    assert [r for r in proxy.snapshot() if r.is_mount] == []


def test_a_new_function_repository_mounts_the_base(push, images, registry, proxy):
    base = push(f"base={images.write('base')}")
    assert base.code == 0, base.err
    proxy.reset()

    result = push(f"score-processing={images.write('score-processing', function='sp')}")

    assert result.code == 0, result.err
    _, manifest = registry.manifest("plexus/lambda-base", base.images[0]["digest"])
    base_layers = {layer["digest"] for layer in manifest["layers"]}
    mounts = [r for r in proxy.snapshot() if r.is_mount and r.status == 201]
    assert {parse_qs(r.query)["mount"][0] for r in mounts} == base_layers
    assert {parse_qs(r.query)["from"][0] for r in mounts} == {"plexus/lambda-base"}
    uploaded = _completed(proxy)
    assert not base_layers & set(uploaded)  # 0 base bytes
    assert len(uploaded) == 2  # the handler layer and the config
    base_bytes = sum(layer["size"] for layer in manifest["layers"])
    assert proxy.bytes_uploaded() < 4096 < base_bytes
    assert "2 mounted, 2 to upload" in result.err


def test_without_mounts_the_base_is_uploaded_once(push, images, registry, proxy):
    """A registry that declines mounts (ECR with BLOB_MOUNTING off) answers 202 and an upload
    session: the push says so, stops asking, and uploads each blob once."""
    base = push(f"base={images.write('base')}")
    assert base.code == 0, base.err
    proxy.reset()
    proxy.no_mount = True

    one = images.write("score-processing", function="sp")
    two = images.write("report-processing", function="rp")
    result = push(f"score-processing={one}", f"report-processing={two}")

    assert result.code == 0, result.err
    assert result.err.count("does not mount blobs across repositories") == 1
    assert "BLOB_MOUNTING" in result.err
    # The push tried once, then not again (skopeo may still try what it learnt in this run).
    from_base = [r for r in proxy.snapshot() if r.is_mount and "lambda-base" in r.query]
    assert len(from_base) == 1
    uploaded = _completed(proxy)
    _, manifest = registry.manifest("plexus/lambda-base", base.images[0]["digest"])
    for layer in manifest["layers"]:
        assert uploaded[layer["digest"]] == 2  # once per new repository, as there is no mount
    assert max(uploaded.values()) == 2
    # The declined mount's upload session was cancelled, not left open.
    assert any(r.method == "DELETE" and "/blobs/uploads/" in r.path for r in proxy.snapshot())


def test_the_push_fails_when_the_registry_serves_another_manifest(push, images, registry, proxy):
    archive = images.write("base")
    other = json.dumps({"schemaVersion": 2, "mediaType": V2S2, "layers": []}).encode()
    proxy.answer = lambda method, path: (
        (200, [("Content-Type", V2S2), ("Docker-Content-Digest", _sha(other))], other)
        if method == "GET" and "/manifests/sha256:" in path
        else None
    )

    result = push(f"base={archive}")

    assert result.code == 1
    assert f"the registry serves {_sha(other)} for digest sha256:" in result.err
    assert "failed: base" in result.err
    assert result.out == ""
