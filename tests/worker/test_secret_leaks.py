"""Secrets kept out of every response, log line and traceback, for each leak found in
issue 17: a Postgres password with a bad `%` escape (quoted back by libpq), an API key with a
control character (quoted by httpx's "Illegal header value") or a non-ASCII one (a raw
UnicodeEncodeError), and secrets carried by an exception's text or its chained cause."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys

import pytest

from plexus.core import job_log
from plexus.core.settings import load_settings
from plexus.tooling.invoke import LocalFunction
from tests.conftest import HANDLER_DIR
from tests.worker.test_processor import KEYWORD_YAML

PG_SECRET = "p%zzSECRET"


def test_postgres_password_with_a_bad_escape_reaches_no_response_log_or_job(
    worker_env, account, api, tmp_path
):
    job_id = account.job(account.score("Greeting words", KEYWORD_YAML))
    env = {**worker_env, "PLEXUS_POSTGRES_URI": f"postgresql://user:{PG_SECRET}@127.0.0.1/db"}
    log_path = tmp_path / "log"
    with log_path.open("wb") as log, LocalFunction(HANDLER_DIR, env=env, output=log) as fn:
        result = fn.invoke({"scoringJobId": job_id}, timeout=60)
    assert not result.ok
    assert "PLEXUS_POSTGRES_URI" in result.error_message
    everything = result.payload.decode(errors="replace") + log_path.read_text(errors="replace")
    assert "zzSECRET" not in everything
    job = api.get("ScoringJob", job_id)
    assert "SECRET" not in json.dumps(job)


@pytest.mark.parametrize(
    ("key", "shown"),
    [("PLXKEY-\x01SECRET", "SECRET"), ("da2-…SECRET", "…")],
    ids=["control character", "non-ASCII"],
)
def test_malformed_api_key_is_one_error_line_naming_the_variable(worker_env, key, shown):
    env = {**worker_env, "PLEXUS_API_KEY": key}
    done = subprocess.run(
        [sys.executable, "-m", "plexus.tooling.cli", "work", "some-job"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: PLEXUS_API_KEY"), done.stderr
    assert shown not in done.stderr and "Traceback" not in done.stderr


def _settings_with_secrets():
    return load_settings(
        {
            "PLEXUS_API_URL": "http://127.0.0.1:1/graphql",
            "PLEXUS_API_KEY": "plx-APIKEYSECRET",
            "PLEXUS_POSTGRES_URI": "postgresql://user:pw%2FPGSECRET@127.0.0.1/db",
        }
    )


def _raise_chained(message: str) -> None:
    try:
        raise ConnectionError(message)
    except ConnectionError as cause:
        raise RuntimeError("the store refused the connection") from cause


def test_traceback_and_chained_cause_are_redacted_in_every_handler():
    secrets = _settings_with_secrets().secrets()
    logger = logging.getLogger("plexus.test_secret_leaks")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        job_log.install(logger, secrets)
        with job_log.capture() as lines:
            try:
                # libpq's way: the decoded password quoted back, in the cause only.
                _raise_chained('password authentication failed: "pw/PGSECRET"')
            except RuntimeError:
                logger.exception("storing failed with key %s", "plx-APIKEYSECRET")
            try:
                raise ValueError(b"Illegal header value b'plx-APIKEYSECRET'")
            except ValueError:
                logger.error("request failed", exc_info=True, stack_info=True)
    finally:
        logger.removeHandler(handler)
    for text in (stream.getvalue(), "\n".join(lines)):
        assert "PGSECRET" not in text and "APIKEYSECRET" not in text, text
        # What happened is still there, only the secrets are gone.
        assert "password authentication failed" in text and "ConnectionError" in text
        assert "Illegal header value" in text and "storing failed with key ***" in text


def test_powertools_json_logs_have_no_secret_in_the_exception():
    from aws_lambda_powertools import Logger

    stream = io.StringIO()
    logger = Logger(service="leaks", stream=stream)
    job_log.install(logger, _settings_with_secrets().secrets())
    try:
        _raise_chained("could not connect to postgresql://user:pw%2FPGSECRET@127.0.0.1/db")
    except RuntimeError:
        logger.exception("store failed")
    text = stream.getvalue()
    assert "PGSECRET" not in text and "could not connect to ***" in text, text
