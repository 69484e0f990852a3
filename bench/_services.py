"""The local services every benchmark runs against, all on 127.0.0.1: moto (its own
process), the local Plexus API and the OpenAI-compatible test server."""

from __future__ import annotations

import contextlib
import os
import platform
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from plexus.local.api_server import LocalPlexusApi  # noqa: E402
from plexus.local.aws import start_moto_process  # noqa: E402
from tests.support.fake_openai import FakeOpenAI  # noqa: E402

PLEXUS_KEY = "bench-plexus-key"
OPENAI_KEY = "sk-bench-openai-key"
BUCKET = "bench-attachments"
REGION = "us-east-1"
HANDLER_DIR = ROOT / "lambda_functions" / "score_processing"
KEYWORD_YAML = (
    'class: KeywordClassifier\nrules: [{value: "Yes", keywords: [hello]}]\ndefault: "No"\n'
)
LLM_YAML = (
    'class: LLMClassifier\nmodel: gpt-4o-mini\nvalid_classes: ["Yes", "No"]\n'
    'user_message: "Did the agent greet the caller?\\n{text}"\n'
)


@dataclass
class Services:
    api: LocalPlexusApi
    openai: FakeOpenAI
    env: dict[str, str]
    moto_pid: int | None

    def account(self, key: str) -> tuple[str, str]:
        account_id = self.api.seed_account(key)
        return account_id, self.api.seed_scorecard(account_id, key=f"{key}-card")


@contextlib.contextmanager
def services() -> Iterator[Services]:
    with start_moto_process() as moto:
        aws = moto.env(REGION)
        moto.client("s3", REGION).create_bucket(Bucket=BUCKET)
        with LocalPlexusApi(moto.endpoint_url, PLEXUS_KEY) as api, FakeOpenAI(OPENAI_KEY) as ai:
            env = {
                **aws,
                "PLEXUS_API_URL": api.url,
                "PLEXUS_API_KEY": PLEXUS_KEY,
                "PLEXUS_FETCH_SCHEMA_FROM_TRANSPORT": "0",
                "OPENAI_API_KEY": OPENAI_KEY,
                "OPENAI_BASE_URL": ai.base_url,
                "AMPLIFY_STORAGE_SCORERESULTATTACHMENTS_BUCKET_NAME": BUCKET,
                "PLEXUS_MIN_REMAINING_SECONDS": "5",
                "POWERTOOLS_LOG_LEVEL": "WARNING",
            }
            saved = {k: os.environ.get(k) for k in env}
            os.environ.update(env)
            try:
                yield Services(api, ai, env, moto.pid)
            finally:
                for key, value in saved.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value


def machine() -> str:
    return (
        f"{datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.machine()}, PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')}"
    )


def verdict(ok: bool, what: str) -> str:
    return f"{'PASS' if ok else 'MISS'}: {what}"


def table(rows: list[tuple[Any, ...]], header: tuple[str, ...]) -> str:
    cells = [tuple(str(c) for c in header)] + [tuple(str(c) for c in r) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
