"""A private PostgreSQL cluster for tests: initdb in a temp dir, 127.0.0.1, a free port.

PostgreSQL refuses to run as root, so as root (CI) the cluster belongs to the `postgres`
system user. The binaries: PLEXUS_TEST_PG_BINDIR (the Nix check sets it), else the newest of
`pg_config --bindir` and Debian's /usr/lib/postgresql/*/bin, else `initdb` on PATH.

    with PostgresServer() as pg:
        uri = pg.create_database("cache")   # postgresql://postgres@127.0.0.1:PORT/cache
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

# Durability buys nothing in a throwaway cluster and costs seconds at initdb and per commit.
_FAST_SETTINGS = {
    "fsync": "off",
    "full_page_writes": "off",
    "synchronous_commit": "off",
    "shared_preload_libraries": "''",
    "max_connections": "100",
    "log_min_messages": "warning",
}
_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def _version(bindir: Path) -> tuple[int, ...]:
    out = subprocess.run(
        [str(bindir / "initdb"), "--version"], capture_output=True, text=True, check=False
    ).stdout
    match = re.search(r"(\d+)(?:\.(\d+))?", out)
    return tuple(int(g) for g in match.groups() if g) if match else (0,)


def find_bindir() -> Path:
    """The directory holding initdb, pg_ctl and postgres."""
    if override := os.environ.get("PLEXUS_TEST_PG_BINDIR"):
        path = Path(override)
        if not (path / "initdb").is_file():
            raise RuntimeError(f"PLEXUS_TEST_PG_BINDIR={override} holds no initdb")
        return path
    candidates: list[Path] = []
    if pg_config := shutil.which("pg_config"):
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0 and out.stdout.strip():
            candidates.append(Path(out.stdout.strip()))
    candidates += Path("/usr/lib/postgresql").glob("*/bin")
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).parent)
    usable = [c for c in dict.fromkeys(candidates) if (c / "initdb").is_file()]
    if not usable:
        raise RuntimeError(
            "PostgreSQL server binaries (initdb) not found: install postgresql "
            "or set PLEXUS_TEST_PG_BINDIR"
        )
    return max(usable, key=_version)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """Start with start() or `with`; stop() shuts it down and deletes every file."""

    def __init__(self, bindir: Path | None = None) -> None:
        self.bindir = bindir or find_bindir()
        self.port = 0
        self.root: Path | None = None
        self._running = False
        self._as_root = os.geteuid() == 0
        if self._as_root:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError(
                    "running as root needs a `postgres` system user to own the test cluster"
                ) from None

    @property
    def data(self) -> Path:
        if self.root is None:
            raise RuntimeError("PostgresServer is not started")
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        if self.root is None:
            raise RuntimeError("PostgresServer is not started")
        return self.root

    @property
    def uri(self) -> str:
        return self.database_uri("postgres")

    def database_uri(self, name: str) -> str:
        if not self._running:
            raise RuntimeError("PostgresServer is not running; call start() first")
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def _run(self, *args: str, timeout: float = 60) -> None:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self._as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(
            cmd, capture_output=True, text=True, cwd=self.root, timeout=timeout, check=False
        )
        if done.returncode != 0:
            log = self._log_tail()
            raise RuntimeError(
                f"{args[0]} {args[-1]} failed ({done.returncode}): "
                f"{(done.stderr or done.stdout).strip()}{log}"
            )

    def _log_tail(self) -> str:
        log = self.root / "log" if self.root else None
        if log is None or not log.exists():
            return ""
        return "\nserver log:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])

    def start(self) -> PostgresServer:
        if self._running:
            raise RuntimeError("PostgresServer is already running")
        self.root = Path(tempfile.mkdtemp(prefix="plexus-pg-"))
        if self._as_root:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "--no-instructions",
            "-E",
            "UTF8",
            "--locale=C",
        )
        # Another process may take a free port between probe and bind; try a few.
        for attempt in range(5):
            self.port = _free_port()
            self._configure()
            try:
                self._run(
                    "pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w", "start"
                )
                break
            except RuntimeError:
                if attempt == 4 or "already in use" not in self._log_tail():
                    raise
        self._running = True
        self._wait()
        return self

    def _configure(self) -> None:
        # postgresql.auto.conf is read last, so these win over postgresql.conf.
        settings = {
            **_FAST_SETTINGS,
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
        }
        text = "".join(f"{key} = {value}\n" for key, value in settings.items())
        path = self.data / "postgresql.auto.conf"
        path.write_text(text)
        if self._as_root:
            shutil.chown(path, "postgres", "postgres")

    def _wait(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"PostgreSQL did not accept connections on port {self.port}")

    def create_database(self, name: str) -> str:
        """A fresh, empty database (dropped first if it exists); returns its URI."""
        if not isinstance(name, str) or not _DB_NAME.match(name):
            raise ValueError(
                f"database name must be letters, digits and underscores (max 63), got {name!r}"
            )
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.uri, autocommit=True, connect_timeout=10) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.database_uri(name)

    def stop(self) -> None:
        if self.root is None:
            return
        if self._running or (self.data / "postmaster.pid").exists():
            try:
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", timeout=30)
            except (RuntimeError, subprocess.TimeoutExpired):
                self._run_quietly("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")
        self._running = False
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def _run_quietly(self, *args: str) -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self._run(*args, timeout=30)

    def __enter__(self) -> PostgresServer:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
