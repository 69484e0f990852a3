"""Read what the push needs from a docker-archive tarball (as Nix's dockerTools writes it).

A docker-archive holds `manifest.json` (`[{"Config", "RepoTags", "Layers"}]`), the image
config JSON and one uncompressed tar per layer; dockerTools may gzip the whole archive.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

GZIP_MAGIC = b"\x1f\x8b"
# Lambda caps the image config at 16 KB; anything much larger is not an image config.
MAX_JSON_MEMBER = 4 * 1024 * 1024

T = TypeVar("T")


class ArchiveError(Exception):
    """The file is missing, unreadable or not a single-image docker-archive."""


@dataclass(frozen=True)
class ArchiveImage:
    path: Path
    compressed: bool
    repo_tag: str | None  # `name:tag` from RepoTags, if any
    config_digest: str  # `sha256:<hex>` of the config blob: the image ID
    architecture: str  # as in the image config: amd64, arm64
    os: str
    layer_count: int

    @property
    def tag(self) -> str | None:
        return tag_of(self.repo_tag)


def tag_of(repo_tag: str | None) -> str | None:
    """The tag part of a RepoTags entry `name:tag` (dockerTools uses the Nix output hash)."""
    if not repo_tag:
        return None
    name, sep, tag = repo_tag.rpartition(":")
    return tag if sep and "/" not in tag and name else None


def is_gzip(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(2) == GZIP_MAGIC


def _open_tar(path: Path, compressed: bool) -> tarfile.TarFile:
    # Uncompressed: seekable, so listing skips layer data. Gzip: one streaming pass.
    return tarfile.open(path, "r|gz") if compressed else tarfile.open(path, "r:")


def _read_small(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    f: IO[bytes] | None = tar.extractfile(member)
    if f is None:
        raise ArchiveError(f"{member.name} is not a regular file")
    return f.read()


def stream_archive(
    path: Path, on_layer: Callable[[str, IO[bytes]], T], name: Callable[[str], str]
) -> tuple[dict[str, bytes], dict[str, T]]:
    """One streaming pass over a docker-archive (plain or gzip): its top-level JSON members
    (up to MAX_JSON_MEMBER bytes), and `on_layer(name, data)` of each `.tar` member, by the
    member names that `name` normalizes. ArchiveError when it is not a readable tar."""
    json_blobs: dict[str, bytes] = {}
    layers: dict[str, T] = {}
    try:
        with tarfile.open(path, mode="r|*") as outer:
            for member in outer:
                member_name = name(member.name)
                if not member.isfile():
                    continue
                data = outer.extractfile(member)
                if data is None:
                    continue
                top_json = member_name.endswith(".json") and "/" not in member_name
                if top_json and member.size <= MAX_JSON_MEMBER:
                    json_blobs[member_name] = data.read()
                elif member_name.endswith(".tar"):
                    layers[member_name] = on_layer(member_name, data)
    except FileNotFoundError as e:
        raise ArchiveError(f"{path}: no such file") from e
    except (OSError, EOFError, tarfile.TarError, zlib.error) as e:
        raise ArchiveError(f"{path}: not a readable docker-archive ({e})") from e
    return json_blobs, layers


def manifest_entry(path: Path, json_blobs: dict[str, bytes]) -> dict[str, Any]:
    """The one image a docker-archive's `manifest.json` describes (its top-level JSON
    members in `json_blobs`), or ArchiveError naming what is wrong."""
    if "manifest.json" not in json_blobs:
        raise ArchiveError(f"{path}: not a docker-archive (no manifest.json)")
    try:
        manifest = json.loads(json_blobs["manifest.json"])
    except ValueError as e:
        raise ArchiveError(f"{path}: manifest.json is not JSON ({e})") from e
    if not isinstance(manifest, list) or len(manifest) != 1 or not isinstance(manifest[0], dict):
        count = len(manifest) if isinstance(manifest, list) else "no"
        raise ArchiveError(f"{path}: manifest.json must describe exactly one image, not {count}")
    return manifest[0]


def read_archive(path: Path | str) -> ArchiveImage:
    """Check that `path` is a single-image docker-archive and describe the image."""
    path = Path(path)
    compressed = False
    try:
        if not path.exists():
            raise ArchiveError(f"{path}: no such file")
        if not path.is_file():
            raise ArchiveError(f"{path}: not a regular file")
        compressed = is_gzip(path)
        members: dict[str, int] = {}
        json_blobs: dict[str, bytes] = {}
        with _open_tar(path, compressed) as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                members[name] = member.size
                top_json = name.endswith(".json") and "/" not in name
                if member.isfile() and top_json and member.size <= MAX_JSON_MEMBER:
                    json_blobs[name] = _read_small(tar, member)
    except ArchiveError:
        raise
    except PermissionError as e:
        raise ArchiveError(f"{path}: cannot read it ({e.strerror})") from e
    except (tarfile.ReadError, gzip.BadGzipFile, zlib.error, EOFError) as e:
        kind = "gzip-compressed tar" if compressed else "tar"
        raise ArchiveError(f"{path}: not a readable {kind} archive ({e})") from e
    except OSError as e:
        raise ArchiveError(f"{path}: cannot read it ({e})") from e

    entry = manifest_entry(path, json_blobs)
    config_name, layers = entry.get("Config"), entry.get("Layers")
    if not isinstance(config_name, str) or not isinstance(layers, list) or not layers:
        raise ArchiveError(f"{path}: manifest.json lacks Config or Layers")
    missing = [name for name in layers if name not in members]
    if missing:
        raise ArchiveError(f"{path}: layers listed in manifest.json are missing: {missing[:3]}")
    if config_name not in json_blobs:
        raise ArchiveError(f"{path}: config {config_name} listed in manifest.json is missing")
    config_blob = json_blobs[config_name]
    try:
        config = json.loads(config_blob)
    except ValueError as e:
        raise ArchiveError(f"{path}: image config {config_name} is not JSON ({e})") from e
    architecture, os_name = config.get("architecture"), config.get("os")
    if not isinstance(architecture, str) or not isinstance(os_name, str):
        raise ArchiveError(f"{path}: image config names no architecture/os")
    diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
    if len(diff_ids) != len(layers):
        raise ArchiveError(
            f"{path}: image config lists {len(diff_ids)} layers, manifest.json {len(layers)}"
        )
    repo_tags = entry.get("RepoTags") or []
    return ArchiveImage(
        path=path,
        compressed=compressed,
        repo_tag=repo_tags[0] if repo_tags and isinstance(repo_tags[0], str) else None,
        config_digest="sha256:" + hashlib.sha256(config_blob).hexdigest(),
        architecture=architecture,
        os=os_name,
        layer_count=len(layers),
    )
