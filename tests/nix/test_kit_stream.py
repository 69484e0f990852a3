"""nixpkgs' real stream_layered_image.py (the kit's stream-test.sh) over a fake store, then
the project's image contract on what it wrote.

The kit makes confs shaped like the ones nix/images.nix has dockerTools write (a base, and a
function image `fromImage` the base); the store paths in them are hand-made, not the flake's.
The `stream_archives` fixture (tests/nix/conftest.py) hands the archives on, so a test of
what the flake makes of an archive next starts from real dockerTools output, e.g.

    def test_push_ready_layout_of_streamed_images(stream_archives, tmp_path):
        base = stream_archives.archives["base"]          # docker-archive, .tar.gz
        function = stream_archives.archives["score-processing"]
        ...convert each, then check the result as the flake's check will...
"""

from __future__ import annotations

from plexus.tooling import naming
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
