"""The paths README.md and docs/*.md name are this repository's, and they exist: a move
(issue 23's layout) cannot leave a page pointing at a file that is gone, and no page gives a
path of one machine (/work/..., /root/..., /tmp/...) as if it were the reader's, nor a
command that puts a key on its command line."""

from __future__ import annotations

import fnmatch
import os
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = ["README.md", *sorted(p.relative_to(REPO).as_posix() for p in REPO.glob("docs/*.md"))]
NOT_THE_REPOSITORY = {".git", ".venv", "result", "node_modules", "__pycache__", ".pytest_cache"}


def _all_pages() -> list[str]:
    """Every Markdown file of the repository (the machine-path check reads them all)."""
    pages = []
    for folder, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in NOT_THE_REPOSITORY]
        pages += [
            (Path(folder) / f).relative_to(REPO).as_posix() for f in files if f.endswith(".md")
        ]
    return sorted(pages)


# Names in backticks that look like repository paths but name something else, each with why.
EXAMPLES: dict[str, str] = {
    "../shared/nix/eval": "the evaluation kit beside the checkout, not in it (README says where)",
    "trace.json": "an S3 object under scoreresults/<id>/",
    "log.txt": "an S3 object under scoreresults/<id>/",
    "Score.py": "real Plexus's plexus/scores/Score.py (issue 15's import figures)",
    "stream_layered_image.py": "nixpkgs' dockerTools script",
}
# Patterns of names that are not files: ECR repository names share the `plexus/` prefix.
EXAMPLE_PATTERNS = {r"plexus/lambda-.*": "an ECR repository name (plexus/lambda-<image>)"}

BARE_FILE = re.compile(r"^\w[\w.-]*\.(py|md|ya?ml|nix|toml|lock|json|sh|txt)$")
# An absolute path under a home, a work area or a temporary directory, with a name below it:
# `/tmp` alone is Lambda's writable directory, which the pages name on purpose.
MACHINE_PATH = re.compile(r"(?<![\w.~$}-])/(?:work|root|home|tmp|scratch|Users|mnt)/[\w./-]+")


def _top_level() -> set[str]:
    return {p.name for p in REPO.iterdir()} - NOT_THE_REPOSITORY


def _files_by_name() -> set[str]:
    names = set()
    for _, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in NOT_THE_REPOSITORY]
        names.update(dirs, files)
    return names


FENCED = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)


def _usable(span: str) -> bool:
    return bool(span) and " " not in span and "://" not in span


def named_paths(text: str, top_level: set[str]) -> list[str]:
    """The names of paths in this repository: below one of its top-level entries
    (`plexus/worker/claim.py`, `./test`, also in a fenced command), or, in inline code, a
    bare file name (`claim.py`; a fenced command's `score.yaml` is the reader's own file)."""

    def in_repository(span: str) -> bool:
        first = span.removeprefix("./").split("/", 1)[0]
        return span.startswith("../") or ("/" in span and first in top_level)

    paths = []
    for block in FENCED.findall(text):
        words = (w.strip("\"'(),;") for w in block.split())
        paths += [w for w in words if _usable(w) and in_repository(w)]
    for span in re.findall(r"`([^`\n]+)`", FENCED.sub("", text)):
        if _usable(span) and (in_repository(span) or span in top_level or BARE_FILE.match(span)):
            paths.append(span)
    return paths


def missing(path: str, names: set[str]) -> bool:
    if path in EXAMPLES or any(re.fullmatch(p, path) for p in EXAMPLE_PATTERNS):
        return False
    if "/" not in path:
        return path not in names
    # <name>, … and * stand for any one path segment's worth of name.
    pattern = re.sub(r"<[^>]*>|…|\.\.\.$", "*", path.removeprefix("./").rstrip("/"))
    if "*" not in pattern:
        return not (REPO / pattern).exists()
    parts = pattern.split("/")
    candidates = [REPO]
    for part in parts:
        candidates = [c / n.name for c in candidates if c.is_dir() for n in c.iterdir()]
        candidates = [c for c in candidates if fnmatch.fnmatch(c.name, part)]
    return not candidates


@pytest.mark.parametrize("page", PAGES)
def test_every_path_a_page_names_exists(page: str) -> None:
    text = (REPO / page).read_text()
    top_level, names = _top_level(), _files_by_name()
    paths = named_paths(text, top_level)
    assert paths, f"{page}: no path found; the test's parsing is broken"
    gone = sorted({p for p in paths if missing(p, names)})
    assert not gone, f"{page} names paths that do not exist in the repository: {gone}"


@pytest.mark.parametrize("page", _all_pages())
def test_no_page_gives_a_machine_specific_path(page: str) -> None:
    found = [
        (n, path)
        for n, line in enumerate((REPO / page).read_text().splitlines(), 1)
        for path in MACHINE_PATH.findall(line)
    ]
    assert not found, f"{page} gives paths of one machine (line, path): {found}"


def test_the_checks_catch_a_stale_and_a_machine_path() -> None:
    top_level, names = _top_level(), _files_by_name()
    page = (
        "See `plexus/processor.py`, `plexus/worker/processor.py`, `api_client.py`, `claim.py`,\n"
        "`lambda_functions/<name>/handler.py` and `plexus/lambda-base`.\n"
        "```sh\nuv run python bench/gone.py --out /work/scratch/x\n```\n"
    )
    paths = named_paths(page, top_level)
    assert sorted(p for p in paths if missing(p, names)) == [
        "api_client.py",
        "bench/gone.py",
        "plexus/processor.py",
    ]
    assert MACHINE_PATH.findall(page) == ["/work/scratch/x"]
    assert not MACHINE_PATH.search("HOME and MPLCONFIGDIR under `/tmp`, Lambda's")


def _secret_names() -> list[str]:
    from plexus.core.settings import SETTINGS

    return [
        name
        for f in SETTINGS
        if f.metadata["secret"]
        for name in (f.metadata["env"], *f.metadata["aliases"])
    ]


@pytest.mark.parametrize("page", _all_pages())
def test_no_command_puts_a_secret_on_its_command_line(page: str) -> None:
    """The README's rule for keys: a command line is visible to every user of the machine, so
    no command a page gives sets a secret setting there (`--env PLEXUS_API_KEY=…`,
    `PLEXUS_API_KEY=… cmd`); the environment carries it."""
    secret = re.compile(rf"\b(?:{'|'.join(map(re.escape, _secret_names()))})=\S")
    blocks = FENCED.findall((REPO / page).read_text())
    found = [line.strip() for block in blocks for line in block.splitlines() if secret.search(line)]
    assert not found, f"{page} puts a secret on a command line: {found}"


def test_the_secret_check_catches_the_old_invoke_example() -> None:
    secret = re.compile(rf"\b(?:{'|'.join(map(re.escape, _secret_names()))})=\S")
    assert "PLEXUS_API_KEY" in _secret_names() and "OPENAI_API_KEY" in _secret_names()
    assert secret.search("    --env PLEXUS_API_URL=https://…/graphql --env PLEXUS_API_KEY=…")
    assert not secret.search("export PLEXUS_API_URL=https://…/graphql")
