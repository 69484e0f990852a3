"""plexus.tooling.image_contract on synthetic docker-archives: a good pair, then one archive
per broken rule, each of which must be reported by name; then on dir: layouts converted from
them and from archives nixpkgs' real stream_layered_image.py writes."""

from __future__ import annotations

import gzip
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from plexus.tooling import image_contract, image_layout, sbom
from tests.nix.conftest import ENV_PYTHON, REPO, ArchiveSpec, handler_layer, store_dirs

Make = Callable[[str, ArchiveSpec], Path]


def run(
    capsys: pytest.CaptureFixture[str], base: Path, functions: dict[str, Path]
) -> tuple[int, str, str]:
    argv = ["--base", str(base), *(f"{name}={path}" for name, path in functions.items())]
    code = image_contract.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_good_images_pass(
    archive: Make,
    base_spec: ArchiveSpec,
    function_spec: ArchiveSpec,
    capsys: pytest.CaptureFixture[str],
) -> None:
    function_spec.gzip = False  # both plain and gzip archives are read
    code, out, err = run(
        capsys, archive("base", base_spec), {"score-processing": archive("fn", function_spec)}
    )
    assert (code, err) == (0, "")
    assert "base: 3 layers, amd64" in out
    assert "score-processing: 4 layers, amd64" in out
    assert "all images pass" in out


def test_two_handler_layers_are_allowed(
    archive: Make,
    base_spec: ArchiveSpec,
    function_spec: ArchiveSpec,
    capsys: pytest.CaptureFixture[str],
) -> None:
    function_spec.layers.append([("./", "dir", {}), ("./etc", "dir", {})])
    code, _, err = run(capsys, archive("base", base_spec), {"fn": archive("fn", function_spec)})
    assert (code, err) == (0, "")


def _break_base_layer(spec: ArchiveSpec) -> None:
    spec.layers[1].append(
        ("/nix/store/0000000000000000000000000000000b-nss-cacert/extra", "dir", {})
    )


def _three_extra_layers(spec: ArchiveSpec) -> None:
    spec.layers += [[("./", "dir", {})], [("./", "dir", {}), ("./opt", "dir", {})]]


def _no_extra_layer(spec: ArchiveSpec) -> None:
    spec.layers.pop()


def _env_again(spec: ArchiveSpec) -> None:
    spec.layers[-1] += [
        *store_dirs("/nix/store/0000000000000000000000000000000a-plexus-env"),
    ]


def _entrypoint_symlink(spec: ArchiveSpec) -> None:
    real = ENV_PYTHON.replace("python3.11", "python3.11-real")
    spec.layers[0][-1] = (real, "file", {"mode": 0o555})
    spec.layers[0].append((ENV_PYTHON, "symlink", {"target": "python3.11-real"}))


def _entrypoint_relative(spec: ArchiveSpec) -> None:
    spec.config["config"]["Entrypoint"][0] = "bin/python3.11"


def _entrypoint_missing(spec: ArchiveSpec) -> None:
    spec.config["config"]["Entrypoint"][0] = "/usr/bin/python3"


def _entrypoint_without_ric(spec: ArchiveSpec) -> None:
    spec.config["config"]["Entrypoint"] = [ENV_PYTHON]


def _set(key: str, value: object) -> Callable[[ArchiveSpec], None]:
    def change(spec: ArchiveSpec) -> None:
        spec.config["config"][key] = value

    return change


def _env(entries: list[str]) -> Callable[[ArchiveSpec], None]:
    return _set("Env", entries)


def _hardlink(spec: ArchiveSpec) -> None:
    spec.layers[-1].append(
        ("./var/task/handler2.py", "hardlink", {"target": "./var/task/handler.py"})
    )


def _orphan(spec: ArchiveSpec) -> None:
    spec.layers[-1] = [entry for entry in spec.layers[-1] if entry[0] != "./var/task/__pycache__"]


def _two_images(spec: ArchiveSpec) -> None:
    spec.extra_manifest_entries = 1


def _no_architecture(spec: ArchiveSpec) -> None:
    del spec.config["architecture"]


def _wrong_diff_ids(spec: ArchiveSpec) -> None:
    spec.diff_id_override = ["sha256:" + "0" * 64] * len(spec.layers)


def _tmp_not_sticky(spec: ArchiveSpec) -> None:
    spec.layers[2][3] = ("./tmp", "dir", {"mode": 0o755})


GOOD_ENV = [
    "LAMBDA_TASK_ROOT=/var/task",
    "PYTHONPATH=/var/task",
    "HOME=/tmp",
    "MPLCONFIGDIR=/tmp/matplotlib",
]


BROKEN_RULES = [
    (_break_base_layer, "first layers are not the base image's layers"),
    (_three_extra_layers, "adds 3 layers to the base's 3; expected 1 to 2"),
    (_no_extra_layer, "adds 0 layers"),
    (_env_again, "its own layers repeat store paths"),
    (_entrypoint_symlink, "goes through a symlink"),
    (_entrypoint_relative, "is not an absolute path"),
    (_entrypoint_missing, "/usr/bin/python3 is not a file in the image"),
    (_entrypoint_without_ric, "not [<python>, '-m', 'awslambdaric']"),
    (_set("Cmd", ["app.handler"]), "Cmd is ['app.handler']"),
    (_set("WorkingDir", "/"), "WorkingDir is '/'"),
    (_env(GOOD_ENV), "Env lacks SSL_CERT_FILE"),
    (
        _env([*GOOD_ENV[:2], "HOME=/root", GOOD_ENV[3], "SSL_CERT_FILE=/etc/x"]),
        "HOME is '/root'",
    ),
    (_hardlink, "var/task/handler2.py is a hardlink"),
    (_orphan, "__pycache__/handler.cpython-311.pyc has no entry for its directory"),
    (_two_images, "manifest.json lists 2 images"),
    (_no_architecture, "architecture None"),
    (_wrong_diff_ids, "are not the config's rootfs.diff_ids"),
    (_tmp_not_sticky, "/tmp is not a directory with mode 1777"),
]


@pytest.mark.parametrize(("change", "expected"), BROKEN_RULES)
def test_each_broken_rule_is_reported(
    archive: Make,
    base_spec: ArchiveSpec,
    function_spec: ArchiveSpec,
    capsys: pytest.CaptureFixture[str],
    change: Callable[[ArchiveSpec], None],
    expected: str,
) -> None:
    change(function_spec)
    code, _, err = run(
        capsys, archive("base", base_spec), {"score-processing": archive("fn", function_spec)}
    )
    assert code == 1
    assert expected in err
    assert all(
        line.startswith(("score-processing: ", "image contract: ")) for line in err.splitlines()
    )


def test_a_broken_base_is_reported_as_base(
    archive: Make, base_spec: ArchiveSpec, capsys: pytest.CaptureFixture[str]
) -> None:
    _set("Cmd", [])(base_spec)
    code, _, err = run(capsys, archive("base", base_spec), {})
    assert code == 1
    assert "base: Cmd is []" in err


def test_secret_looking_env_names_the_variable_not_the_value(
    archive: Make,
    base_spec: ArchiveSpec,
    function_spec: ArchiveSpec,
    capsys: pytest.CaptureFixture[str],
) -> None:
    secret = "sk-" + "a1B2" * 8
    env = function_spec.config["config"]["Env"]
    env += [f"OPENAI_API_KEY={secret}", "DATABASE_URL=postgresql://app:hunter22@db/x"]
    code, _, err = run(capsys, archive("base", base_spec), {"fn": archive("fn", function_spec)})
    assert code == 1
    assert "OPENAI_API_KEY looks like it holds a secret" in err
    assert "DATABASE_URL looks like it holds a secret" in err
    assert secret not in err and "hunter22" not in err


def test_function_must_carry_the_base_env(
    archive: Make,
    base_spec: ArchiveSpec,
    function_spec: ArchiveSpec,
    capsys: pytest.CaptureFixture[str],
) -> None:
    base_spec.config["config"]["Env"].append("TZDIR=/nix/store/0-tzdata/share/zoneinfo")
    code, _, err = run(capsys, archive("base", base_spec), {"fn": archive("fn", function_spec)})
    assert code == 1
    assert "fn: it does not carry the base image's TZDIR" in err


def test_function_without_handler_is_reported(
    archive: Make,
    base_spec: ArchiveSpec,
    function_spec: ArchiveSpec,
    capsys: pytest.CaptureFixture[str],
) -> None:
    function_spec.layers[-1] = [e for e in handler_layer() if "handler" not in e[0]]
    code, _, err = run(capsys, archive("base", base_spec), {"fn": archive("fn", function_spec)})
    assert code == 1
    assert "fn: /var/task/handler.py is not a file in the image" in err


def test_unreadable_archive_is_a_usage_error(
    tmp_path: Path, archive: Make, base_spec: ArchiveSpec, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not an archive at all")
    code, _, err = run(capsys, archive("base", base_spec), {"fn": junk})
    assert code == 2
    assert f"{junk}: not a readable docker-archive" in err

    code, _, err = run(capsys, tmp_path / "missing.tar", {})
    assert code == 2
    assert "missing.tar: no such file" in err


def test_bad_name_archive_argument(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        image_contract.main(["--base", "b.tar", "just-a-path.tar"])
    assert exit_info.value.code == 2
    assert "'just-a-path.tar' is not NAME=ARCHIVE" in capsys.readouterr().err


# --- push-ready dir: layouts (plexus.tooling.image_layout) ---------------------------------


def _layouts(tmp_path: Path, archive: Make, base_spec: ArchiveSpec, function_spec: ArchiveSpec):
    base = image_layout.convert(archive("base", base_spec), tmp_path / "base-layout")
    fn = image_layout.convert(
        archive("fn", function_spec), tmp_path / "fn-layout", base=tmp_path / "base-layout"
    )
    return base, fn


def test_converted_layouts_pass(
    tmp_path: Path,
    archive: Make,
    base_spec: ArchiveSpec,
    function_spec: ArchiveSpec,
    capsys: pytest.CaptureFixture[str],
) -> None:
    base, fn = _layouts(tmp_path, archive, base_spec, function_spec)
    code, out, err = run(capsys, base.path, {"score-processing": fn.path})
    assert (code, err) == (0, "")
    assert "base: 3 layers, amd64" in out
    assert "score-processing: 4 layers, amd64" in out


# What the converter itself refuses (two images, diff ids that are not the layers') cannot
# reach a layout; every other rule must be reported on the layout just as on the archive.
LAYOUT_RULES = [r for r in BROKEN_RULES if r[0] not in (_two_images, _wrong_diff_ids)]


@pytest.mark.parametrize(("change", "expected"), LAYOUT_RULES)
def test_each_broken_rule_is_reported_on_layouts(
    tmp_path: Path,
    archive: Make,
    base_spec: ArchiveSpec,
    function_spec: ArchiveSpec,
    capsys: pytest.CaptureFixture[str],
    change: Callable[[ArchiveSpec], None],
    expected: str,
) -> None:
    change(function_spec)
    base, fn = _layouts(tmp_path, archive, base_spec, function_spec)
    code, _, err = run(capsys, base.path, {"score-processing": fn.path})
    assert code == 1
    assert expected in err
    assert all(
        line.startswith(("score-processing: ", "image contract: ")) for line in err.splitlines()
    )


def test_a_layout_blob_that_does_not_hash_to_its_name(
    tmp_path: Path,
    archive: Make,
    base_spec: ArchiveSpec,
    function_spec: ArchiveSpec,
    capsys: pytest.CaptureFixture[str],
) -> None:
    base, fn = _layouts(tmp_path, archive, base_spec, function_spec)
    handler = fn.blob_path(fn.layers[-1].digest)
    # Same content, another compression: still gzip and the same diff id, another blob.
    plain = gzip.decompress(handler.read_bytes())
    handler.write_bytes(gzip.compress(plain, compresslevel=1, mtime=0))
    code, _, err = run(capsys, base.path, {"fn": fn.path})
    assert code == 1
    assert f"fn: layer {fn.layers[-1].digest}: the blob does not hash to its name" in err
    assert "the blob holds" in err  # and its size is not the manifest's


def test_a_layout_layer_with_a_time_in_its_gzip_header(
    tmp_path: Path,
    archive: Make,
    base_spec: ArchiveSpec,
    function_spec: ArchiveSpec,
    capsys: pytest.CaptureFixture[str],
) -> None:
    layout = image_layout.convert(archive("base", base_spec), tmp_path / "base-layout")
    blob = layout.blob_path(layout.layers[0].digest)
    data = bytearray(blob.read_bytes())
    data[4:8] = (1700000000).to_bytes(4, "little")  # what `gzip` without -n writes
    blob.write_bytes(bytes(data))
    code, _, err = run(capsys, layout.path, {})
    assert code == 1
    assert "gzip header carries a file name or a time" in err


def test_a_function_layout_must_reuse_the_base_blobs(
    tmp_path: Path,
    archive: Make,
    base_spec: ArchiveSpec,
    function_spec: ArchiveSpec,
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = image_layout.convert(archive("base", base_spec), tmp_path / "base-layout")
    # Converted at another gzip level: same layers (diff ids), different blobs.
    fn = image_layout.convert(archive("fn", function_spec), tmp_path / "fn-layout", level=1)
    code, _, err = run(capsys, base.path, {"fn": fn.path})
    assert code == 1
    assert "fn: its first layers are the base's but not the base's blobs (no mount)" in err


KIT = REPO / ".." / "shared" / "nix" / "eval"


@pytest.mark.slow
@pytest.mark.skipif(not (KIT / "stream-test.sh").exists(), reason="no nixeval kit beside the repo")
def test_stream_layered_image_archives_convert_and_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Archives from nixpkgs' real stream_layered_image.py (the kit's stream-test.sh, which
    also checks them as archives), converted to layouts, twice, then checked as layouts."""
    env = {**os.environ, "NIXEVAL_WORK": str(tmp_path / "nixeval")}
    proc = subprocess.run(
        ["bash", str(KIT / "stream-test.sh"), str(REPO)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    stream = tmp_path / "nixeval" / "stream"
    layouts = {}
    for attempt in ("a", "b"):
        base = image_layout.convert(stream / "lambda-base.tar.gz", tmp_path / f"base-{attempt}")
        fn = image_layout.convert(
            stream / "lambda-score-processing.tar.gz",
            tmp_path / f"fn-{attempt}",
            base=base.path,
        )
        layouts[attempt] = (base, fn)
    (base_a, fn_a), (base_b, fn_b) = layouts["a"], layouts["b"]
    assert (base_a.digest, fn_a.digest) == (base_b.digest, fn_b.digest)
    assert [la.digest for la in fn_a.layers[:-1]] == [la.digest for la in base_a.layers]
    code, out, err = run(capsys, base_a.path, {"score-processing": fn_a.path})
    assert (code, err) == (0, ""), err
    assert "all images pass" in out

    # The SBOM generator reads these layers too: every store path the stream put in them.
    contents = sbom.scan_image(fn_a)
    assert {Path(p).name.split("-", 1)[1] for p in contents.store_paths} == {
        "plexus-env",
        "python3-3.11.14",
        "nss-cacert-3.115",
        "tzdata-2025b",
        "fake-nss",
    }
    closure = {p: sbom.StorePath(p) for p in contents.store_paths}
    bom = sbom.build_bom(fn_a, closure, {}, "plexus/lambda-score-processing", contents)
    names = {(c.name, c.version) for c in bom.components}
    assert {("python3", "3.11.14"), ("tzdata", "2025b"), ("/var/task/handler.py", None)} <= names
    assert sbom.render(bom)  # validates against CycloneDX 1.6
