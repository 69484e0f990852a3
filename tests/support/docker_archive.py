"""Write docker-archive tarballs shaped like the ones Nix's dockerTools produces.

`dockerTools.buildLayeredImage` (through `stream_layered_image.py`) writes a tar holding
`<diff_id>/layer.tar` per layer (uncompressed), the image config as `<config digest>.json`,
and `manifest.json` = `[{"Config", "RepoTags", "Layers"}]`. Every entry has a fixed mtime and
every file's parent directories have their own entries (Lambda's unpacker insists on that),
so the same inputs always give the same bytes and the same digests.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path, PurePosixPath
from typing import Any

# dockerTools stamps store paths with mtime 1 and leaves `created` at the epoch.
FIXED_MTIME = 1
FIXED_CREATED = "1970-01-01T00:00:01Z"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _tar_info(name: str, *, directory: bool, size: int, mode: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.size = size
    info.mode = mode
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def make_layer(
    files: dict[str, bytes | None],
    *,
    modes: dict[str, int] | None = None,
    mtime: int = FIXED_MTIME,
) -> bytes:
    """An uncompressed layer tar. `files` maps paths to contents, None meaning a directory.

    Parent directories get entries of their own (mode 0755) even when not listed; entries
    are written in sorted order with a fixed mtime. `modes` overrides a path's mode
    (default 0644 for files, 0755 for directories).
    """
    modes = modes or {}
    entries: dict[str, bytes | None] = {}
    for raw_path, content in files.items():
        path = PurePosixPath(raw_path.lstrip("/"))
        if not path.parts or ".." in path.parts:
            raise ValueError(f"bad layer path: {raw_path!r}")
        for parent in reversed(path.parents[:-1]):  # skip "."
            entries.setdefault(str(parent), None)
        entries[str(path)] = content
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name in sorted(entries):
            content = entries[name]
            directory = content is None
            default_mode = 0o755 if directory else 0o644
            mode = modes.get(name, modes.get("/" + name, default_mode))
            info = _tar_info(
                name,
                directory=directory,
                size=0 if content is None else len(content),
                mode=mode,
                mtime=mtime,
            )
            tar.addfile(info, None if content is None else io.BytesIO(content))
    return buffer.getvalue()


def image_config(layers: list[bytes], config: dict[str, Any]) -> dict[str, Any]:
    """`config` completed as dockerTools would: os, architecture, created, rootfs.diff_ids."""
    full = copy.deepcopy(config)
    full.setdefault("architecture", "amd64")
    full.setdefault("os", "linux")
    full.setdefault("created", FIXED_CREATED)
    full.setdefault("config", {})
    full["rootfs"] = {"type": "layers", "diff_ids": [f"sha256:{sha256_hex(la)}" for la in layers]}
    return full


def config_bytes(layers: list[bytes], config: dict[str, Any]) -> bytes:
    """The exact config blob write_docker_archive stores; its sha256 is the image ID."""
    return json.dumps(image_config(layers, config), sort_keys=True).encode()


def write_docker_archive(
    path: Path | str,
    layers: list[bytes],
    config: dict[str, Any],
    repo_tag: str,
    *,
    gzip_compress: bool = False,
) -> Path:
    """Write a docker-archive at `path` (gzip-compressed as a whole when asked) and return it.

    `layers` are uncompressed layer tars (see make_layer), bottom first; `config` is the
    image config, completed by image_config; `repo_tag` is `name:tag` as in RepoTags.
    """
    path = Path(path)
    blob = config_bytes(layers, config)
    config_name = f"{sha256_hex(blob)}.json"
    layer_names = [f"{sha256_hex(layer)}/layer.tar" for layer in layers]
    manifest = [{"Config": config_name, "RepoTags": [repo_tag], "Layers": layer_names}]
    members: list[tuple[str, bytes | None]] = []
    seen: set[str] = set()
    for name, layer in zip(layer_names, layers, strict=True):
        if name in seen:  # the same layer twice in one image is stored once
            continue
        seen.add(name)
        members += [(name.split("/")[0], None), (name, layer)]
    members += [(config_name, blob), ("manifest.json", json.dumps(manifest).encode())]

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, content in members:
            info = _tar_info(
                name,
                directory=content is None,
                size=0 if content is None else len(content),
                mode=0o755 if content is None else 0o444,
                mtime=FIXED_MTIME,
            )
            tar.addfile(info, None if content is None else io.BytesIO(content))
    data = buffer.getvalue()
    if gzip_compress:
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path
