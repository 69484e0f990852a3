import pytest

from plexus.core.settings import SettingsError, load_settings

BASE = {"PLEXUS_API_URL": "https://api.example.test/graphql", "PLEXUS_API_KEY": "da2-secretkey"}


def test_minimal_settings_load_with_defaults():
    settings = load_settings(BASE)
    assert settings.api_url == BASE["PLEXUS_API_URL"]
    assert settings.api_key.get() == "da2-secretkey"
    assert settings.fetch_schema is False
    assert settings.concurrency == 4
    assert settings.account_key is None
    # The real stack's SQS mapping has no ReportBatchItemFailures: failures raise.
    assert settings.sqs_failure_mode == "raise"
    assert settings.drain_window_hours == 24.0
    assert settings.response_queue_url is None and settings.request_queue_url is None


def test_queue_settings():
    settings = load_settings(
        {
            **BASE,
            "PLEXUS_SQS_FAILURE_MODE": "Report",
            "PLEXUS_DRAIN_WINDOW_HOURS": "168",
            "PLEXUS_RESPONSE_WORKER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/r",
            "PLEXUS_SCORING_WORKER_REQUEST_STANDARD_QUEUE_URL": "https://sqs.test/1/q",
            "PLEXUS_SQS_POLL_WAIT_SECONDS": "0",
        }
    )
    assert settings.sqs_failure_mode == "report"
    assert settings.drain_window_hours == 168.0
    assert settings.response_queue_url == "https://sqs.us-east-1.amazonaws.com/1/r"
    assert settings.request_queue_url == "https://sqs.test/1/q"
    assert settings.sqs_poll_wait_seconds == 0


@pytest.mark.parametrize("missing", ["PLEXUS_API_URL", "PLEXUS_API_KEY"])
def test_missing_setting_names_the_variable(missing):
    env = {k: v for k, v in BASE.items() if k != missing}
    with pytest.raises(SettingsError, match=missing):
        load_settings(env)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PLEXUS_CONCURRENCY", "many"),
        ("PLEXUS_CONCURRENCY", "0"),
        ("PLEXUS_JOB_LEASE_SECONDS", "-5"),
        ("PLEXUS_FETCH_SCHEMA_FROM_TRANSPORT", "maybe"),
        ("PLEXUS_API_URL", "ftp://x"),
        ("PLEXUS_POSTGRES_URI", "mysql://u:pw@h/db"),
        ("PLEXUS_SQS_FAILURE_MODE", "ignore"),
        ("PLEXUS_DRAIN_WINDOW_HOURS", "0"),
        ("PLEXUS_RESPONSE_WORKER_QUEUE_URL", "sqs://queue"),
        ("PLEXUS_SQS_POLL_WAIT_SECONDS", "21"),
    ],
)
def test_malformed_setting_names_the_variable(name, value):
    with pytest.raises(SettingsError, match=name):
        load_settings({**BASE, name: value})


def test_malformed_url_error_does_not_echo_credentials():
    with pytest.raises(SettingsError) as info:
        load_settings({**BASE, "PLEXUS_POSTGRES_URI": "mysql://user:hunter22@db/x"})
    assert "hunter22" not in str(info.value)


def test_account_key_accepts_the_old_name_and_prefers_the_new():
    assert load_settings({**BASE, "ACCOUNT_KEY": "old"}).account_key == "old"
    both = {**BASE, "ACCOUNT_KEY": "old", "PLEXUS_ACCOUNT_KEY": "new"}
    assert load_settings(both).account_key == "new"


def test_secrets_never_show_in_repr_or_str():
    env = {
        **BASE,
        "OPENAI_API_KEY": "sk-topsecret",
        "PLEXUS_POSTGRES_URI": "postgresql://u:pgpass@127.0.0.1/db",
    }
    settings = load_settings(env)
    for text in (
        repr(settings),
        str(settings),
        repr(settings.api_key),
        f"{settings.openai_api_key}",
    ):
        for secret in ("da2-secretkey", "sk-topsecret", "pgpass"):
            assert secret not in text
    assert sorted(settings.secrets()) == sorted(
        ["da2-secretkey", "sk-topsecret", "postgresql://u:pgpass@127.0.0.1/db", "pgpass"]
    )


def test_fetch_schema_switch():
    assert load_settings({**BASE, "PLEXUS_FETCH_SCHEMA_FROM_TRANSPORT": "1"}).fetch_schema is True
    assert load_settings({**BASE, "PLEXUS_FETCH_SCHEMA_FROM_TRANSPORT": "0"}).fetch_schema is False


def test_readme_configuration_table_is_the_declarations():
    from pathlib import Path

    from plexus.core.settings import markdown_table

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert markdown_table() in readme, (
        "README's configuration table differs from plexus/core/settings.py; "
        "put this one in its place:\n" + markdown_table()
    )


def test_every_setting_is_declared_with_a_variable_parser_and_description():
    from plexus.core.settings import SETTINGS

    names = [f.metadata["env"] for f in SETTINGS]
    assert len(names) == len(set(names))
    for f in SETTINGS:
        assert f.metadata["description"] and callable(f.metadata["parse"]), f.name


def test_engine_settings_come_from_the_same_declarations():
    from plexus.scores.run import ScoringSettings

    env = {
        **BASE,
        "PLEXUS_MODEL_TIMEOUT_SECONDS": "7",
        "AMPLIFY_STORAGE_SCORERESULTATTACHMENTS_BUCKET_NAME": "results",
        "PLEXUS_CONTENT_ALLOWED_HOSTS": "Intranet.Test, [::1]",
    }
    assert ScoringSettings.from_env(env) == ScoringSettings.from_settings(load_settings(env))
    engine = ScoringSettings.from_env(env)
    assert engine.model_timeout_seconds == 7.0 and engine.attachments_bucket == "results"
    assert engine.content_allowed_hosts == ("intranet.test", "::1")
    assert ScoringSettings().model_max_retries == load_settings(BASE).model_max_retries
    with pytest.raises(SettingsError, match="PLEXUS_MODEL_MAX_RETRIES"):
        ScoringSettings.from_env({"PLEXUS_MODEL_MAX_RETRIES": "-1"})


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        # libpq would refuse it quoting the token: invalid percent-encoded token: "p%zzSECRET"
        ("PLEXUS_POSTGRES_URI", "postgresql://user:p%zzSECRET@host/db", "SECRET"),
        ("PLEXUS_POSTGRES_URI", "postgresql://user:pw%4SECRET@host/db", "SECRET"),
        # httpx: Illegal header value b'PLXKEY-...'
        ("PLEXUS_API_KEY", "PLXKEY-\x01SECRET", "SECRET"),
        # README's own placeholder: a raw UnicodeEncodeError showing the character
        ("PLEXUS_API_KEY", "da2-…SECRET", "…"),
        ("OPENAI_API_KEY", "sk-…SECRET", "…"),
        ("OPENAI_API_KEY", "sk-SE CRET", "SE CRET"),
        ("AZURE_API_KEY", "az\x7fSECRET", "SECRET"),
    ],
)
def test_malformed_secret_is_refused_at_start_naming_the_variable_not_the_value(name, value, shown):
    with pytest.raises(SettingsError) as info:
        load_settings({**BASE, name: value})
    message = str(info.value)
    assert message.startswith(name)
    assert shown not in message and value.strip() not in message


def test_secrets_include_the_parts_of_a_postgres_uri():
    settings = load_settings({**BASE, "PLEXUS_POSTGRES_URI": "postgresql://u:p%41SECRET@h/db"})
    secrets = settings.secrets()
    assert "p%41SECRET" in secrets and "pASECRET" in secrets
    assert "postgresql://u:p%41SECRET@h/db" in secrets


def test_concurrency_is_lowered_to_what_the_function_memory_holds(caplog, monkeypatch):
    from plexus.core import settings as settings_module
    from plexus.core import sizing

    monkeypatch.setattr(settings_module, "_warned", set())
    monkeypatch.setattr(sizing, "cores", lambda: 6)
    env = {**BASE, "PLEXUS_CONCURRENCY": "1000", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "2048"}
    fits = sizing.jobs_that_fit(2048, sizing.vcpus(2048))

    first, again = load_settings(env), load_settings(env)

    assert first.concurrency == again.concurrency == fits < 1000
    # Score processes follow the function's vCPUs (1 per 1,769 MB), not the concurrency.
    assert first.processes == 2
    assert load_settings({**env, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "10240"}).processes == 6
    warnings = [r.getMessage() for r in caplog.records if "2048 MB" in r.getMessage()]
    assert len(warnings) == 1, warnings  # once a process, not once an invocation
    assert "PLEXUS_CONCURRENCY=1000" in warnings[0] and f"{fits} jobs at once" in warnings[0]


def test_a_concurrency_that_fits_is_kept_and_processes_can_be_set():
    env = {**BASE, "PLEXUS_CONCURRENCY": "64", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "2048"}
    assert load_settings(env).concurrency == 64
    assert load_settings({**env, "PLEXUS_SCORE_PROCESSES": "3"}).processes == 3
    # Outside Lambda (no memory size) nothing is lowered.
    assert load_settings({**BASE, "PLEXUS_CONCURRENCY": "5000"}).concurrency == 5000
