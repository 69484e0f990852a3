"""How handler folders, image names, ECR repositories and tags relate.

The flake (nix/images.nix) applies the same rules to name its packages; a test keeps
the two in step.
"""

from __future__ import annotations

from pathlib import Path

REPOSITORY_PREFIX = "plexus/lambda-"
BASE_IMAGE = "base"


def image_name(function_folder: str) -> str:
    """`score_processing` -> `score-processing` (the flake package and image name)."""
    return function_folder.replace("_", "-")


def repository_name(image: str, prefix: str = REPOSITORY_PREFIX) -> str:
    """`score-processing` -> `plexus/lambda-score-processing`; `base` -> `plexus/lambda-base`."""
    return f"{prefix}{image}"


def arch_tag(architecture: str, python: str = "py311") -> str:
    """The team's tag style: `py311-amd64`, `py311-arm64` (architecture as in the image config)."""
    return f"{python}-{architecture}"


def function_folders(root: Path) -> list[str]:
    """Every `lambda_functions/<name>/handler.py`, by folder name, sorted."""
    base = root / "lambda_functions"
    return sorted(p.parent.name for p in base.glob("*/handler.py"))
