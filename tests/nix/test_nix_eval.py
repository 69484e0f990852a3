"""What can be checked of the flake with plain `nix-instantiate` (Debian's nix-bin 2.8), from
the checkout alone, kit or no kit: every .nix file parses, flake.nix's inputs are what
flake.lock pins, and functions come from the lambda_functions folder under the names the
tools and the README use (nix/functions.nix needs only builtins). What the flake makes of
them (images, apps, derivations) is evaluated for real in test_flake_eval.py.

The flake's pytest check leaves this file out: in the sandbox the flake's own evaluation has
already parsed these files and checked the lock."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from plexus.tooling import naming
from tests.nix.conftest import REPO, Nix

SKIP_DIRS = {".git", ".venv", "node_modules", "result"}


def nix_files() -> list[Path]:
    return sorted(
        path
        for path in REPO.rglob("*.nix")
        if not SKIP_DIRS.intersection(path.relative_to(REPO).parts)
    )


def test_every_nix_file_parses(nix: Nix) -> None:
    files = nix_files()
    assert REPO / "flake.nix" in files and REPO / "nix" / "default.nix" in files
    for path in files:
        nix.run("--parse", str(path))


def test_a_broken_nix_file_does_not_parse(nix: Nix, tmp_path: Path) -> None:
    broken = tmp_path / "broken.nix"
    broken.write_text("{ a = 1; b = undefinedName; }")
    proc = nix.run("--parse", str(broken), check=False)
    assert proc.returncode != 0
    assert "undefined variable 'undefinedName'" in proc.stderr


def flake_url(original: dict[str, Any]) -> str:
    """A lock entry's `original` as the URL flake.nix writes: github:owner/repo[/ref]."""
    assert original["type"] == "github", original
    url = f"github:{original['owner']}/{original['repo']}"
    return f"{url}/{original['ref']}" if "ref" in original else url


def test_flake_inputs_are_what_the_lock_pins(nix: Nix) -> None:
    inputs = nix.eval_json(f"(import {REPO}/flake.nix).inputs")
    lock = json.loads((REPO / "flake.lock").read_text())
    nodes = lock["nodes"]
    root = nodes[lock["root"]]
    assert lock["version"] == 7
    assert sorted(root["inputs"]) == sorted(inputs)
    for name, declared in inputs.items():
        node = nodes[root["inputs"][name]]
        locked = node["locked"]
        assert re.fullmatch(r"[0-9a-f]{40}", locked["rev"]), name
        assert re.fullmatch(r"sha256-[A-Za-z0-9+/]{43}=", locked["narHash"]), name
        assert (locked["type"], locked["owner"], locked["repo"]) == (
            node["original"]["type"],
            node["original"]["owner"],
            node["original"]["repo"],
        ), name
        assert flake_url(node["original"]) == declared["url"], name
        follows = {
            sub: spec["follows"].split("/") for sub, spec in declared.get("inputs", {}).items()
        }
        assert node.get("inputs", {}) == follows, name


def discovered(nix: Nix, root: Path) -> dict[str, Any]:
    return nix.eval_json(
        "builtins.mapAttrs (_: fn: fn // { handler = toString fn.handler; }) "
        f"(import {REPO}/nix/functions.nix {{ root = {root}; }})"
    )


def test_the_repository_functions_have_image_names(nix: Nix) -> None:
    folders = naming.function_folders(REPO)
    assert folders, "lambda_functions/ holds no handler"
    functions = discovered(nix, REPO)
    assert functions == {
        naming.image_name(folder): {
            "name": naming.image_name(folder),
            "folder": folder,
            "handler": str(REPO / "lambda_functions" / folder / "handler.py"),
        }
        for folder in folders
    }


def make_root(tmp_path: Path, folders: list[str], without_handler: tuple[str, ...] = ()) -> Path:
    root = tmp_path / "checkout"
    for folder in folders:
        path = root / "lambda_functions" / folder
        path.mkdir(parents=True)
        if folder not in without_handler:
            (path / "handler.py").write_text("def handler(event, context):\n    return event\n")
    (root / "lambda_functions" / "notes.md").write_text("not a function\n")
    return root


def test_functions_are_read_from_the_folder(nix: Nix, tmp_path: Path) -> None:
    root = make_root(tmp_path, ["score_processing", "nightly_report_v2", "draft"], ("draft",))
    assert sorted(discovered(nix, root)) == ["nightly-report-v2", "score-processing"]
    assert naming.function_folders(root) == ["nightly_report_v2", "score_processing"]


@pytest.mark.parametrize(
    ("folder", "message"),
    [
        ("Score_Processing", "lowercase letters and digits joined by single underscores"),
        ("score__processing", "lowercase letters and digits joined by single underscores"),
        ("base", "the image name base is taken by the base image"),
        ("lambda_base", "the image name lambda-base is taken by the base image"),
    ],
)
def test_unusable_folder_names_are_refused(
    nix: Nix, tmp_path: Path, folder: str, message: str
) -> None:
    root = make_root(tmp_path, [folder])
    proc = nix.run(
        "--eval",
        "--strict",
        "-E",
        f"import {REPO}/nix/functions.nix {{ root = {root}; }}",
        check=False,
    )
    assert proc.returncode != 0
    assert f"lambda_functions/{folder}: " in proc.stderr and message in proc.stderr


def test_readme_documents_the_images() -> None:
    readme = (REPO / "README.md").read_text()
    names = [naming.image_name(folder) for folder in naming.function_folders(REPO)]
    for name in ["lambda-base", *names]:
        assert f"nix build .#{name}" in readme, name
    for name in [naming.BASE_IMAGE, *names]:
        assert naming.repository_name(name) in readme, name
    for command in ("nix run .#push", "nix develop", "nix flake check", "nix flake update"):
        assert command in readme, command
    assert "--rebuild" in readme


def test_ci_has_nix_instantiate() -> None:
    # The tests above need it; ./test installs Debian's nix-bin (.ci/setup.sh).
    assert shutil.which("nix-instantiate"), "nix-instantiate is not on PATH"
    assert "nix-bin" in (REPO / ".ci" / "setup.sh").read_text()
