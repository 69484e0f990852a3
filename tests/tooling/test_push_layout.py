"""plexus.tooling.image_layout: docker-archives to push-ready dir: layouts, deterministically."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from plexus.tooling.docker_archive import ArchiveError
from plexus.tooling.image_layout import (
    GZIP_LAYER,
    V2S2_CONFIG,
    V2S2_MANIFEST,
    LayoutError,
    convert,
    main,
    read_layout,
)
from tests.support.docker_archive import config_bytes, make_layer, write_docker_archive
from tests.support.registry import SKOPEO_BINARY

LAYERS = [
    make_layer({"nix/store/aaaa-env/lib/site.py": os.urandom(64 * 1024), "tmp": None}),
    make_layer({"etc/passwd": b"root:x:0:0::/root:/bin/sh\n"}),
]
CONFIG = {"architecture": "arm64", "config": {"Cmd": ["handler.handler"]}}


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("gzip_compress", [False, True])
def test_same_archive_same_bytes_twice(tmp_path: Path, gzip_compress: bool):
    archive = write_docker_archive(
        tmp_path / "a.tar", LAYERS, CONFIG, "lambda-base:t1", gzip_compress=gzip_compress
    )
    one = convert(archive, tmp_path / "one")
    two = convert(archive, tmp_path / "two")
    assert _files(one.path) == _files(two.path)
    assert one.digest == two.digest
    # Whether dockerTools gzipped the whole archive does not matter either.
    other = write_docker_archive(
        tmp_path / "b.tar", LAYERS, CONFIG, "lambda-base:t1", gzip_compress=not gzip_compress
    )
    assert convert(other, tmp_path / "three").digest == one.digest


def test_digests_recomputed_from_the_files(tmp_path: Path):
    archive = write_docker_archive(tmp_path / "a.tar", LAYERS, CONFIG, "lambda-base:t1")
    layout = convert(archive, tmp_path / "out")
    raw = (layout.path / "manifest.json").read_bytes()
    assert layout.digest == "sha256:" + hashlib.sha256(raw).hexdigest()
    manifest = json.loads(raw)
    assert manifest["schemaVersion"] == 2 and manifest["mediaType"] == V2S2_MANIFEST
    # The config is the archive's, byte for byte: the image ID does not change.
    config = (layout.path / manifest["config"]["digest"].removeprefix("sha256:")).read_bytes()
    assert config == config_bytes(LAYERS, CONFIG)
    assert manifest["config"] == {
        "mediaType": V2S2_CONFIG,
        "size": len(config),
        "digest": "sha256:" + hashlib.sha256(config).hexdigest(),
    }
    for ref, plain in zip(manifest["layers"], LAYERS, strict=True):
        blob = (layout.path / ref["digest"].removeprefix("sha256:")).read_bytes()
        assert ref["mediaType"] == GZIP_LAYER
        assert ref["size"] == len(blob)
        assert ref["digest"] == "sha256:" + hashlib.sha256(blob).hexdigest()
        # gzip, no file name (FLG 0), mtime 0: nothing of this machine or moment.
        assert blob[:4] == b"\x1f\x8b\x08\x00" and blob[4:8] == b"\0\0\0\0"
        assert gzip.decompress(blob) == plain
    assert (layout.path / "version").read_bytes() == b"Directory Transport Version: 1.1\n"
    assert read_layout(layout.path, verify=True).digest == layout.digest
    assert (layout.architecture, layout.tag) == ("arm64", "t1")


def test_skopeo_reads_the_layout_as_it_is(tmp_path: Path):
    layout = convert(
        write_docker_archive(tmp_path / "a.tar", LAYERS, CONFIG, "x:1"), tmp_path / "out"
    )
    raw = subprocess.run(
        [SKOPEO_BINARY, "inspect", "--raw", f"dir:{layout.path}"],
        capture_output=True,
        check=True,
    ).stdout
    assert raw == layout.manifest


def test_a_function_image_reuses_the_base_blobs(tmp_path: Path):
    handler = make_layer({"var/task/handler.py": b"def handler(e, c):\n    return 1\n"})
    base = convert(
        write_docker_archive(tmp_path / "base.tar", LAYERS, CONFIG, "b:1"), tmp_path / "base"
    )
    fn_archive = write_docker_archive(tmp_path / "fn.tar", [*LAYERS, handler], CONFIG, "f:1")
    linked = convert(fn_archive, tmp_path / "fn", base=base.path)
    alone = convert(fn_archive, tmp_path / "fn-alone")
    assert linked.digest == alone.digest  # the same bytes either way
    for layer in linked.layers[:-1]:
        blob = linked.blob_path(layer.digest)
        assert blob.is_symlink() and blob.resolve() == base.blob_path(layer.digest).resolve()
    assert not linked.blob_path(linked.layers[-1].digest).is_symlink()
    read_layout(linked.path, verify=True)


def test_the_cli_prints_the_digest(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    archive = write_docker_archive(tmp_path / "a.tar", LAYERS, CONFIG, "x:1")
    assert main([str(archive), str(tmp_path / "out")]) == 0
    digest = read_layout(tmp_path / "out").digest
    assert capsys.readouterr().out.startswith(f"{digest} 2 layers arm64 ")
    assert main([str(archive), str(tmp_path / "out")]) == 1
    assert "exists and is not empty" in capsys.readouterr().err


def test_bad_inputs_are_named(tmp_path: Path):
    with pytest.raises(ArchiveError, match="no such file"):
        convert(tmp_path / "missing.tar", tmp_path / "o1")
    bad = write_docker_archive(tmp_path / "bad.tar", LAYERS, CONFIG, "x:1")
    # One hex digit of the first diff id changed, in place: the config no longer matches.
    data = bytearray(bad.read_bytes())
    at = data.index(b'"diff_ids": ["sha256:') + len(b'"diff_ids": ["sha256:')
    data[at] = ord("0") if data[at] != ord("0") else ord("1")
    bad.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match=r"not the config's rootfs\.diff_ids"):
        convert(bad, tmp_path / "o2")
    layout = convert(
        write_docker_archive(tmp_path / "a.tar", LAYERS, CONFIG, "x:1"), tmp_path / "o3"
    )
    layout.blob_path(layout.layers[1].digest).write_bytes(b"tampered")
    with pytest.raises(LayoutError, match="holds 8 bytes"):
        read_layout(layout.path)
    with pytest.raises(LayoutError, match="not a dir: image layout"):
        read_layout(tmp_path)
