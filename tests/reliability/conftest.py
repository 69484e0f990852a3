"""Fixtures of the reliability suite; the services themselves come from tests/conftest.py."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import pytest


@pytest.fixture
def pg_uri_with_password(postgres: Any) -> tuple[str, str]:
    """A database owned by a role with a password, so that the URI carries a secret.

    The test cluster trusts every local connection and ignores the password; what matters
    is that the worker is handed one and must keep it to itself.
    """
    import psycopg
    from psycopg import sql

    name = f"rel_{uuid.uuid4().hex[:10]}"
    password = f"pgpw-{secrets.token_hex(12)}"
    with psycopg.connect(postgres.uri, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(name), sql.Literal(password)
            )
        )
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(name)
            )
        )
    return f"postgresql://{name}:{password}@127.0.0.1:{postgres.port}/{name}", password
