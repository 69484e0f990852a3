"""Check that a pushed manifest is one Lambda can run."""

from __future__ import annotations

import hashlib
import json

V2S2_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
V2S2_CONFIG = "application/vnd.docker.container.image.v1+json"
GZIP_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


class ManifestError(Exception):
    """The registry holds something other than the single-architecture image we pushed."""


def check_manifest(raw: bytes, digest: str, config_digest: str, layer_count: int) -> None:
    """`raw` must be the Docker v2 schema 2 manifest with digest `digest` of our image:
    not a list or index, our config blob, gzip layers (Lambda rejects uncompressed ones in
    a Docker manifest) with real sizes, as many as the archive has."""
    actual = "sha256:" + hashlib.sha256(raw).hexdigest()
    if actual != digest:
        raise ManifestError(f"the registry serves {actual} for digest {digest}")
    try:
        manifest = json.loads(raw)
    except ValueError as e:
        raise ManifestError(f"manifest {digest} is not JSON") from e
    media_type = manifest.get("mediaType")
    if "manifests" in manifest or media_type != V2S2_MANIFEST:
        raise ManifestError(
            f"manifest {digest} is {media_type or 'untyped'}, not a single-architecture "
            f"{V2S2_MANIFEST}"
        )
    if manifest.get("schemaVersion") != 2:
        raise ManifestError(f"manifest {digest} has schemaVersion {manifest.get('schemaVersion')}")
    config = manifest.get("config") or {}
    if config.get("mediaType") != V2S2_CONFIG or config.get("digest") != config_digest:
        raise ManifestError(
            f"manifest {digest} names config {config.get('digest')}, not the archive's "
            f"{config_digest}"
        )
    layers = manifest.get("layers") or []
    if len(layers) != layer_count:
        raise ManifestError(
            f"manifest {digest} has {len(layers)} layers, the archive {layer_count}"
        )
    for layer in layers:
        if layer.get("mediaType") != GZIP_LAYER or not layer.get("size"):
            raise ManifestError(
                f"manifest {digest} has layer {layer.get('digest')} of type "
                f"{layer.get('mediaType')} and size {layer.get('size')}"
            )
