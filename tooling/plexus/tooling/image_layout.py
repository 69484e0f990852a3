"""Turn a docker-archive (as dockerTools writes it) into a push-ready skopeo `dir:` layout.

`python -m plexus.tooling.image_layout ARCHIVE OUT [--base BASE_LAYOUT]`

The layout holds the final Docker v2 schema 2 `manifest.json`, the archive's image config
byte for byte, and every layer gzip-compressed here, deterministically (fixed level, no
file name and mtime 0 in the header, Python's own gzip header), each blob named by its
sha256 as skopeo's `dir:` transport expects. So the manifest digest, which is the digest
Lambda runs, is known before anything is pushed, and the same archive gives the same bytes
on any machine with the same zlib (Nix pins it). skopeo pushes this layout as it is
(`--preserve-digests` makes it fail rather than rewrite anything).

`--base` reuses the blobs of a converted base image for the layers a function image shares
with it (same diff id): they are linked, not compressed again, so a function image's base
layers are the base's blobs, whatever zlib did.

A small `plexus-image.json` beside the blobs keeps the archive's name:tag (the push tool's
content tag); skopeo ignores files it does not know.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from plexus.tooling.docker_archive import ArchiveError, manifest_entry, stream_archive, tag_of
from plexus.tooling.lambda_manifest import GZIP_LAYER, V2S2_CONFIG, V2S2_MANIFEST

# skopeo's dir: transport (containers/image) writes and checks this version file.
DIR_VERSION = b"Directory Transport Version: 1.1\n"
INFO_FILE = "plexus-image.json"
# gzip's default: a fair trade of build time for bytes; fixed, so digests do not move.
GZIP_LEVEL = 6
CHUNK = 1024 * 1024


class LayoutError(ArchiveError):
    """The layout directory is missing, incomplete or not what this module writes."""


@dataclass(frozen=True)
class Blob:
    digest: str  # sha256:<hex> of the stored (compressed) bytes
    size: int
    diff_id: str = ""  # sha256:<hex> of the uncompressed layer; config: ""


@dataclass(frozen=True)
class Layout:
    path: Path
    manifest: bytes  # manifest.json, exactly as pushed
    config: Blob
    layers: list[Blob]
    architecture: str
    os: str
    repo_tag: str | None

    @property
    def digest(self) -> str:
        """The manifest digest: what the registry will serve and Lambda will run."""
        return "sha256:" + hashlib.sha256(self.manifest).hexdigest()

    @property
    def config_digest(self) -> str:
        return self.config.digest

    @property
    def layer_count(self) -> int:
        return len(self.layers)

    @property
    def tag(self) -> str | None:
        return tag_of(self.repo_tag)

    def blob_path(self, digest: str) -> Path:
        return self.path / digest.removeprefix("sha256:")

    def blobs(self) -> list[Blob]:
        """Layers first, then the config: the order skopeo uploads them in."""
        return [*self.layers, self.config]


def blob_name(digest: str) -> str:
    return digest.removeprefix("sha256:")


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class _HashingWriter:
    """Counts and hashes what gzip writes, on its way to the file."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.out.write(data)

    def flush(self) -> None:
        self.out.flush()


def compress_layer(src: IO[bytes], dest: Path, level: int = GZIP_LEVEL) -> Blob:
    """gzip `src` into `dest`: (digest and size of the gzip, diff id of the plain tar)."""
    plain = hashlib.sha256()
    with dest.open("wb") as out:
        writer = _HashingWriter(out)
        # filename="" and mtime=0: nothing of this machine or moment in the header.
        with gzip.GzipFile(
            filename="", mode="wb", compresslevel=level, fileobj=writer, mtime=0
        ) as gz:  # type: ignore[arg-type]
            while chunk := src.read(CHUNK):
                plain.update(chunk)
                gz.write(chunk)
    return Blob("sha256:" + writer.sha.hexdigest(), writer.size, "sha256:" + plain.hexdigest())


def manifest_bytes(config: Blob, layers: list[Blob]) -> bytes:
    """The Docker v2 schema 2 manifest, serialized one fixed way."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": V2S2_MANIFEST,
        "config": {"mediaType": V2S2_CONFIG, "size": config.size, "digest": config.digest},
        "layers": [
            {"mediaType": GZIP_LAYER, "size": layer.size, "digest": layer.digest}
            for layer in layers
        ],
    }
    return json.dumps(manifest, indent=3).encode() + b"\n"


def _base_blobs(base: Layout | None) -> dict[str, Blob]:
    if base is None:
        return {}
    return {layer.diff_id: layer for layer in base.layers}


def convert(
    archive: Path | str,
    dest: Path | str,
    *,
    base: Path | str | None = None,
    level: int = GZIP_LEVEL,
) -> Layout:
    """Write the `dir:` layout of the docker-archive `archive` (plain or gzip) at `dest`."""
    archive, dest = Path(archive), Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise LayoutError(f"{dest}: exists and is not empty")
    base_layout = read_layout(base) if base is not None else None
    reuse = _base_blobs(base_layout)
    dest.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".convert-", dir=dest))
    try:
        json_blobs, by_member = stream_archive(
            archive,
            lambda _, data: _layer_blob(data, work, reuse, base_layout, level),
            lambda name: name.removeprefix("./"),
        )
        layout = _finish(archive, dest, work, by_member, json_blobs, base_layout)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    shutil.rmtree(work, ignore_errors=True)
    return layout


def _layer_blob(
    data: IO[bytes], work: Path, reuse: dict[str, Blob], base: Layout | None, level: int
) -> Blob:
    """Compress one layer into `work`, or name the base's blob when the layer is the base's."""
    if reuse:
        # Hash first (the stream cannot be rewound), then only compress what the base lacks.
        spool = tempfile.SpooledTemporaryFile(max_size=64 * CHUNK, dir=work)  # noqa: SIM115
        plain = hashlib.sha256()
        while chunk := data.read(CHUNK):
            plain.update(chunk)
            spool.write(chunk)
        diff_id = "sha256:" + plain.hexdigest()
        if diff_id in reuse and base is not None:
            spool.close()
            found = reuse[diff_id]
            return Blob(found.digest, found.size, diff_id)
        spool.seek(0)
        with spool:
            return _store(spool, work, level)
    return _store(data, work, level)


def _store(data: IO[bytes], work: Path, level: int) -> Blob:
    fd, tmp = tempfile.mkstemp(dir=work, suffix=".gz")
    os.close(fd)
    blob = compress_layer(data, Path(tmp), level)
    os.chmod(tmp, 0o644)
    os.replace(tmp, work / blob_name(blob.digest))
    return blob


def _finish(
    archive: Path,
    dest: Path,
    work: Path,
    by_member: dict[str, Blob],
    json_blobs: dict[str, bytes],
    base: Layout | None,
) -> Layout:
    entry = manifest_entry(archive, json_blobs)
    config_name = str(entry.get("Config", "")).removeprefix("./")
    if config_name not in json_blobs:
        raise ArchiveError(f"{archive}: config {config_name!r} listed in manifest.json is missing")
    config_raw = json_blobs[config_name]
    try:
        config = json.loads(config_raw)
    except ValueError as e:
        raise ArchiveError(f"{archive}: the image config is not JSON ({e})") from e
    layers = []
    for name in entry.get("Layers") or []:
        key = str(name).removeprefix("./")
        if key not in by_member:
            raise ArchiveError(f"{archive}: layer {name} listed in manifest.json is missing")
        layers.append(by_member[key])
    if not layers:
        raise ArchiveError(f"{archive}: manifest.json lists no layers")
    diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
    if [layer.diff_id for layer in layers] != diff_ids:
        raise ArchiveError(
            f"{archive}: the layers' sha256 sums are not the config's rootfs.diff_ids, in order"
        )
    config_blob = Blob(_sha(config_raw), len(config_raw))

    # Blobs the base holds are symlinked (absolute: Nix store paths stay valid anywhere).
    for layer in layers:
        target = dest / blob_name(layer.digest)
        if target.exists() or target.is_symlink():
            continue
        made = work / blob_name(layer.digest)
        if made.exists():
            os.replace(made, target)
        elif base is not None:
            os.symlink(base.blob_path(layer.digest).resolve(), target)
    (dest / blob_name(config_blob.digest)).write_bytes(config_raw)
    repo_tags = entry.get("RepoTags") or []
    repo_tag = repo_tags[0] if repo_tags and isinstance(repo_tags[0], str) else None
    (dest / INFO_FILE).write_text(json.dumps({"repoTag": repo_tag}) + "\n")
    (dest / "manifest.json").write_bytes(manifest_bytes(config_blob, layers))
    (dest / "version").write_bytes(DIR_VERSION)
    return read_layout(dest)


def read_layout(path: Path | str, *, verify: bool = False) -> Layout:
    """Read a layout this module wrote; `verify` recomputes every blob's sha256."""
    path = Path(path)
    if not path.is_dir():
        raise LayoutError(f"{path}: not a directory (expected a dir: image layout)")
    try:
        version = (path / "version").read_bytes()
        raw = (path / "manifest.json").read_bytes()
    except FileNotFoundError as e:
        missing = Path(str(e.filename)).name
        raise LayoutError(f"{path}: not a dir: image layout ({missing} missing)") from e
    if version != DIR_VERSION:
        raise LayoutError(f"{path}/version is {version[:60]!r}, not skopeo's dir: version")
    try:
        manifest = json.loads(raw)
    except ValueError as e:
        raise LayoutError(f"{path}/manifest.json is not JSON ({e})") from e
    if manifest.get("mediaType") != V2S2_MANIFEST or manifest.get("schemaVersion") != 2:
        raise LayoutError(f"{path}/manifest.json is not a Docker v2 schema 2 manifest")
    config_ref = manifest.get("config") or {}
    if config_ref.get("mediaType") != V2S2_CONFIG:
        raise LayoutError(f"{path}/manifest.json: config has type {config_ref.get('mediaType')}")
    config_blob = Blob(str(config_ref.get("digest")), int(config_ref.get("size", -1)))
    config_raw = _read_blob(path, config_blob, verify=True)
    config = json.loads(config_raw)
    diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
    refs = manifest.get("layers") or []
    if len(refs) != len(diff_ids) or not refs:
        raise LayoutError(
            f"{path}: manifest lists {len(refs)} layers, the config {len(diff_ids)} diff ids"
        )
    layers = []
    for ref, diff_id in zip(refs, diff_ids, strict=True):
        if ref.get("mediaType") != GZIP_LAYER:
            raise LayoutError(f"{path}: layer {ref.get('digest')} is {ref.get('mediaType')}")
        blob = Blob(str(ref.get("digest")), int(ref.get("size", -1)), diff_id)
        _check_blob(path, blob, verify=verify)
        layers.append(blob)
    try:
        info = json.loads((path / INFO_FILE).read_text())
    except (FileNotFoundError, ValueError):
        info = {}
    return Layout(
        path=path,
        manifest=raw,
        config=config_blob,
        layers=layers,
        architecture=str(config.get("architecture")),
        os=str(config.get("os")),
        repo_tag=info.get("repoTag"),
    )


def _check_blob(path: Path, blob: Blob, *, verify: bool) -> None:
    file = path / blob_name(blob.digest)
    try:
        size = file.stat().st_size
    except FileNotFoundError as e:
        raise LayoutError(f"{path}: blob {blob.digest} is missing") from e
    if size != blob.size:
        raise LayoutError(
            f"{path}: blob {blob.digest} holds {size} bytes, the manifest {blob.size}"
        )
    if verify:
        sha = hashlib.sha256()
        with file.open("rb") as f:
            while chunk := f.read(CHUNK):
                sha.update(chunk)
        if "sha256:" + sha.hexdigest() != blob.digest:
            raise LayoutError(f"{path}: blob {blob.digest} does not hash to its name")


def _read_blob(path: Path, blob: Blob, *, verify: bool) -> bytes:
    _check_blob(path, blob, verify=verify)
    return (path / blob_name(blob.digest)).read_bytes()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m plexus.tooling.image_layout", description=__doc__.splitlines()[0]
    )
    parser.add_argument("archive", type=Path, help="docker-archive (.tar or .tar.gz)")
    parser.add_argument("out", type=Path, help="the layout directory to write (new or empty)")
    parser.add_argument("--base", type=Path, help="the base image's layout, to reuse its blobs")
    args = parser.parse_args(argv)
    try:
        layout = convert(args.archive, args.out, base=args.base)
    except ArchiveError as e:
        print(f"image layout: {e}", file=sys.stderr)
        return 1
    print(f"{layout.digest} {layout.layer_count} layers {layout.architecture} {layout.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
