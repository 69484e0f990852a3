"""PostgresServer: a private cluster on 127.0.0.1 that psycopg reaches, and that leaves
nothing behind."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import psycopg
import pytest

from tests.support.postgres import PostgresServer, find_bindir


def test_a_table_round_trips_through_psycopg(pg):
    uri = pg.create_database("roundtrip")
    assert uri == f"postgresql://postgres@127.0.0.1:{pg.port}/roundtrip"
    with psycopg.connect(uri) as conn:
        conn.execute("CREATE TABLE outputs (key text PRIMARY KEY, value jsonb NOT NULL)")
        conn.execute("INSERT INTO outputs VALUES (%s, %s::jsonb)", ("v1:abc", '{"value": "Yes"}'))
    with psycopg.connect(uri) as conn:
        rows = conn.execute("SELECT key, value FROM outputs").fetchall()
    assert rows == [("v1:abc", {"value": "Yes"})]


def test_create_database_starts_empty_each_time(pg):
    uri = pg.create_database("fresh")
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("CREATE TABLE leftover (id int)")
        # An open session must not stop the next test from recreating the database.
        uri = pg.create_database("fresh")
    with psycopg.connect(uri) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchone()
    assert tables == (0,)


def test_bad_database_names_are_refused(pg):
    for name in ("", "drop table x; --", 'a"b', "x" * 64):
        with pytest.raises(ValueError, match="database name"):
            pg.create_database(name)


def test_settings_loopback_only_fast_and_socket_in_the_temp_dir(pg):
    with psycopg.connect(pg.uri) as conn:
        settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
                (["listen_addresses", "fsync", "unix_socket_directories", "server_version_num"],),
            ).fetchall()
        )
        user = conn.execute("SELECT current_user").fetchone()
    assert settings["listen_addresses"] == "127.0.0.1"
    assert settings["fsync"] == "off"
    assert settings["unix_socket_directories"] == str(pg.socket_dir)
    assert int(settings["server_version_num"]) >= 150000
    assert user == ("postgres",)
    # The unix socket works too, with the same trust authentication.
    with psycopg.connect(host=str(pg.socket_dir), port=pg.port, user="postgres") as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    if os.geteuid() == 0:
        # PostgreSQL refuses root: the cluster must belong to the postgres system user.
        assert pg.data.stat().st_uid != 0


def test_bindir_is_the_newest_with_initdb():
    bindir = find_bindir()
    assert (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file()


def test_bindir_override_must_hold_initdb(monkeypatch, tmp_path):
    monkeypatch.setenv("PLEXUS_TEST_PG_BINDIR", str(tmp_path))
    with pytest.raises(RuntimeError, match="holds no initdb"):
        find_bindir()


def test_stop_shuts_the_server_down_and_removes_its_files():
    server = PostgresServer().start()
    root, port = server.root, server.port
    assert isinstance(root, Path) and (root / "data" / "PG_VERSION").is_file()
    with psycopg.connect(server.uri) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    server.stop()
    assert not root.exists()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.uri
    server.stop()  # a second stop is harmless
