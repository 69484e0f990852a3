"""nixpkgs' real stream_layered_image.py (the kit's stream-test.sh) over a fake store, then
the project's image contract on what it wrote.

The kit makes confs shaped like the ones nix/images.nix has dockerTools write (a base, and a
function image `fromImage` the base); the store paths in them are hand-made, not the flake's.
The `stream_archives` fixture (tests/nix/conftest.py) hands the archives on, so each stage
the flake adds after dockerTools (today the push-ready layout, below; it runs once
plexus.tooling.image_layout is in the tree) is tested on real dockerTools output.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from plexus.tooling import image_contract, naming
from tests.nix.nixeval import StreamTest


def test_the_real_stream_script_writes_images_that_pass_the_contract(
    stream_archives: StreamTest,
) -> None:
    tail = "\n".join(stream_archives.output.splitlines()[-30:])
    assert stream_archives.returncode == 0, tail
    assert "stream-test: PASS" in stream_archives.output, tail
    assert "image contract: all images pass" in stream_archives.output
    # What the fixture hands on: the base and a function image made fromImage it.
    assert naming.BASE_IMAGE in stream_archives.archives
    assert len(stream_archives.archives) >= 2, stream_archives.archives


def test_the_streamed_images_as_push_ready_layouts_pass_the_contract(
    stream_archives: StreamTest, tmp_path: Path
) -> None:
    """The next stage the flake builds: each archive made a skopeo `dir:` layout
    (plexus.tooling.image_layout, function images reusing the base's blobs), then the
    contract on the layouts, as the flake's image-contract check runs it."""
    image_layout = pytest.importorskip(
        "plexus.tooling.image_layout",
        reason="plexus.tooling.image_layout (the push-ready layout) is not in this tree yet",
    )
    archives = dict(stream_archives.archives)
    base = tmp_path / naming.BASE_IMAGE
    assert image_layout.main([str(archives.pop(naming.BASE_IMAGE)), str(base)]) == 0
    layouts = {}
    for name, archive in archives.items():
        layouts[name] = tmp_path / name
        assert image_layout.main([str(archive), str(layouts[name]), "--base", str(base)]) == 0
    argv = ["--base", str(base), *(f"{name}={path}" for name, path in layouts.items())]
    assert image_contract.main(argv) == 0
