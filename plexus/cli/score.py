"""`plexus-lambda score CONFIG.yaml --text ... | --text-file FILE | --item-json FILE`

Runs one score locally against the configured model endpoint (OPENAI_API_KEY and
OPENAI_BASE_URL, AZURE_API_*, AWS credentials for Bedrock, as the worker reads them) and
prints the result as JSON on stdout: value, explanation, each node's route, tokens and
cost. Progress goes to stderr. What a score author uses to try an edit before saving it.

CONFIG is a score's YAML, or a scorecard's (`scores:` or `sections:`), then `--score NAME`
picks the score and the scores it depends on run first. `--item-json -` and `--text-file -`
read stdin.

The score runs in a forked process killed past PLEXUS_SCORE_TIMEOUT_SECONDS, as the
worker's jobs do (plexus/worker/score_pool.py): a runaway regex or template loop ends with
one `error:` line naming the limit and the node, not a hung terminal. The item is read here,
before the fork, and handed to that process: the forked process's stdin is not the user's
pipe (multiprocessing points it at /dev/null).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", type=Path, help="a score's YAML, or a scorecard's")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", help="the text to score")
    source.add_argument(
        "--text-file", type=Path, help='a file holding the text to score ("-" for stdin)'
    )
    source.add_argument(
        "--item-json",
        type=Path,
        help='an item as JSON: {"text", "metadata", "attachedFiles"} ("-" for stdin)',
    )
    parser.add_argument("--metadata", help="the item's metadata as a JSON object")
    parser.add_argument("--score", help="which score of a scorecard file to run")


def _read(path: Path) -> str:
    """A file's text, or stdin's for `-`."""
    return sys.stdin.read() if str(path) == "-" else path.read_text()


def _read_item(args: argparse.Namespace) -> dict[str, Any]:
    """The item to score, from the command line: read in the parent process, before the
    fork, since only the parent's stdin is the user's."""
    if args.item_json is not None:
        item = _json_object(_read(args.item_json), "--item-json")
    elif args.text_file is not None:
        item = {"text": _read(args.text_file)}
    else:
        item = {"text": args.text}
    if isinstance(item.get("metadata"), str):
        # Plexus stores an item's metadata as a JSON string.
        item["metadata"] = _json_object(item["metadata"], "--item-json's metadata")
    if args.metadata:
        item["metadata"] = _json_object(args.metadata, "--metadata")
    item.setdefault("id", "local")
    return item


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a JSON object")
    return value


def _report(name: str | None, result: Any, dependencies: dict[str, Any]) -> dict[str, Any]:
    cost = result.cost.to_json()
    return {
        "score": name,
        "value": result.value,
        "explanation": result.explanation,
        "confidence": result.confidence,
        "nodes": [{k: v for k, v in node.items() if k != "completion"} for node in result.routes],
        "tokens": {
            "prompt": cost["prompt_tokens"],
            "completion": cost["completion_tokens"],
            "total": cost["total_tokens"],
            "cached": cost["cached_tokens"],
            "llm_calls": cost["llm_calls"],
        },
        "cost": cost,
        "dependencies": {
            k: {"value": v.value, "explanation": v.explanation} for k, v in dependencies.items()
        },
    }


async def _score(
    args: argparse.Namespace, item: dict[str, Any], progress: Callable[[str], None]
) -> dict[str, Any]:
    from plexus.clients.content import fetch_text
    from plexus.scores.config import load_yaml, score_from_mapping
    from plexus.scores.run import Run, ScoringSettings
    from plexus.scores.scorecard import parse_scorecard, score_with_dependencies, scorecard_scores

    source = str(args.config)
    data = load_yaml(args.config.read_text(), source)
    entries = scorecard_scores(data, source)
    if entries is None:
        score = score_from_mapping(data, source)
        name = score.name or "score"
        scores = {name: score}
        if score.depends_on:
            raise ValueError(
                f"{source}: this score depends on {', '.join(score.depends_on)}; "
                "run it from its scorecard's YAML with --score"
            )
    else:
        scores = parse_scorecard(entries, source)
        if args.score is None:
            raise ValueError(
                f"{source} is a scorecard; name a score with --score: {', '.join(scores)}"
            )
        if args.score not in scores:
            raise ValueError(f"{source} has no score {args.score!r}; it has {', '.join(scores)}")
        name = args.score
    settings = ScoringSettings.from_env()
    if not item.get("text") and scores[name].input_source() is None:
        url = (
            (item.get("metadata") or {}).get("contentUrl")
            if isinstance(item.get("metadata"), dict)
            else None
        )
        if url:
            item["text"] = await asyncio.to_thread(
                fetch_text,
                str(url),
                max_bytes=settings.content_max_bytes,
                timeout_seconds=settings.content_timeout_seconds,
                allowed_hosts=settings.content_allowed_hosts,
            )
    run = Run.create(settings, progress=progress)
    try:
        results = await score_with_dependencies(scores, name, item, run)
    finally:
        await run.models.close()
    result = results.pop(name)
    return _report(name, result, results)


class _Failed(Exception):
    """The score's process answered with an error line."""


def _child(args: argparse.Namespace, item: dict[str, Any], conn: Connection) -> None:
    """The forked process: run the score, send progress and the answer as JSON frames (not
    pickle: the parent runs nothing the score's process sends)."""
    from plexus.cli.errors import one_line
    from plexus.core.errors import JobFailure
    from plexus.core.settings import SettingsError

    def send(message: dict[str, Any]) -> None:
        conn.send_bytes(json.dumps(message, default=str).encode())

    try:
        send({"done": asyncio.run(_score(args, item, lambda line: send({"progress": line})))})
    except (JobFailure, SettingsError, ValueError, OSError) as exc:
        send({"error": one_line(str(exc))})
    except Exception as exc:  # a bug, still one line: the traceback helps no score author
        send({"error": f"internal error: {type(exc).__name__}: {one_line(str(exc))}"})
    finally:
        conn.close()


def _score_within(
    args: argparse.Namespace, item: dict[str, Any], limit_seconds: float
) -> dict[str, Any]:
    """The score of `item` in a forked process, killed past `limit_seconds`."""
    from plexus.worker.score_pool import WorkerDied, node_started, overran

    # Fork and a pipe only, as the worker's pool: no semaphore, so no /dev/shm needed.
    context = multiprocessing.get_context("fork")
    ours, theirs = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(args, item, theirs), daemon=True, name="score")
    child.start()
    theirs.close()
    deadline = time.monotonic() + limit_seconds
    nodes: list[str] = []
    try:
        while True:
            if not ours.poll(max(0.0, deadline - time.monotonic())):
                raise overran(limit_seconds, nodes[-1] if nodes else None)
            try:
                message = json.loads(ours.recv_bytes())
            except EOFError:
                child.join(1)
                raise WorkerDied(
                    f"the score's process ended while scoring (exit status {child.exitcode})"
                ) from None
            if "progress" in message:
                line = str(message["progress"])
                print(line, file=sys.stderr, flush=True)
                if (node := node_started(line)) is not None:
                    nodes.append(node)
            elif "done" in message:
                return dict(message["done"])
            else:
                raise _Failed(str(message.get("error")))
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        ours.close()


def run(args: argparse.Namespace) -> int:
    from plexus.cli.errors import FAILURE, one_line
    from plexus.core.errors import JobFailure
    from plexus.core.settings import SettingsError, read_settings

    try:
        limit = read_settings(["score_timeout_seconds"])["score_timeout_seconds"]
        item = _read_item(args)
        report = _score_within(args, item, limit)
    except _Failed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return FAILURE
    # ValueError: the item is not JSON; OSError: its file, the fork or the pipe.
    except (JobFailure, SettingsError, ValueError, OSError) as exc:
        print(f"error: {one_line(str(exc))}", file=sys.stderr)
        return FAILURE
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    print(json.dumps(report, indent=2, default=str))
    return 0
