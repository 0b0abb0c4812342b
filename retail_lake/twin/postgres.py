"""A real PostgreSQL server on 127.0.0.1 for the twin: the retailer's operational store, the DMS source.

    with LocalPostgres() as pg:                 # initdb into a temporary directory, start on a free port
        with psycopg.connect(pg.dsn) as conn:   # password authentication (scram-sha-256), loopback only
            ...
    # stopped (fast shutdown) and its data directory removed

The server binaries come from Debian's PostgreSQL packages: `find_postgres_bin()` looks, in order, at
`RETAIL_LAKE_PG_BIN`, the project-local extraction `build/postgres/usr/lib/postgresql/<v>/bin` (written by
`scripts/install_postgres.sh` with `apt-get download` + `dpkg -x` when the machine has no server and no root),
`/usr/lib/postgresql/<v>/bin` and `PATH`. The server runs with `wal_level=logical` (logical decoding for the DMS
executor), its socket in the temporary directory, and `fsync` off (a throw-away cluster). PostgreSQL refuses to
run as root: as root, the data directory is handed to the `postgres` user (else `nobody`) and the server
processes run as that user.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCAL_EXTRACTION = REPO_ROOT / "build" / "postgres"
INSTALL_HINT = ("install PostgreSQL's server (as root: `apt-get install postgresql`; otherwise "
                "`scripts/install_postgres.sh` extracts Debian's packages into build/postgres), or set "
                "RETAIL_LAKE_PG_BIN to a directory holding initdb, pg_ctl and postgres")
SUPERUSER = "retail"
DATABASE = "retail"
_SERVER_USERS = ("postgres", "nobody")


class PostgresNotInstalled(RuntimeError):
    pass


class PostgresStartError(RuntimeError):
    pass


def _has_server(directory: Path) -> bool:
    return all((directory / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres"))


def _versioned_bins(root: Path) -> list[Path]:
    base = root / "usr" / "lib" / "postgresql" if (root / "usr").is_dir() else root
    found = [p / "bin" for p in base.glob("*") if p.name.isdigit() and _has_server(p / "bin")]
    return sorted(found, key=lambda p: int(p.parent.name), reverse=True)


def find_postgres_bin() -> Path:
    """The directory holding initdb, pg_ctl and postgres; `PostgresNotInstalled` with what to do otherwise."""
    override = os.environ.get("RETAIL_LAKE_PG_BIN")
    if override:
        if not _has_server(Path(override)):
            raise PostgresNotInstalled(f"RETAIL_LAKE_PG_BIN={override} holds no initdb/pg_ctl/postgres; {INSTALL_HINT}")
        return Path(override)
    for candidate in [*_versioned_bins(LOCAL_EXTRACTION), *_versioned_bins(Path("/usr/lib/postgresql"))]:
        return candidate
    on_path = shutil.which("pg_ctl")
    if on_path and _has_server(Path(on_path).resolve().parent):
        return Path(on_path).resolve().parent
    raise PostgresNotInstalled(f"no PostgreSQL server found; {INSTALL_HINT}")


def _library_path(bin_dir: Path) -> str | None:
    """For a project-local extraction: its shared libraries (libpq and friends) first on LD_LIBRARY_PATH."""
    if LOCAL_EXTRACTION not in bin_dir.parents:
        return None
    libs = [str(p) for p in (LOCAL_EXTRACTION / "usr" / "lib").glob("*-linux-gnu") if p.is_dir()]
    libs.append(str(LOCAL_EXTRACTION / "usr" / "lib"))
    current = os.environ.get("LD_LIBRARY_PATH")
    return ":".join(libs + ([current] if current else []))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalPostgres:
    """One throw-away cluster; a context manager (`start()`/`stop()` also callable directly)."""

    port: int | None = None
    settings: dict[str, str] = field(default_factory=dict)  # extra `-c name=value` server settings
    start_timeout: float = 60.0
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    host: str = "127.0.0.1"
    user: str = SUPERUSER
    database: str = DATABASE
    bin_dir: Path | None = None
    _workdir: Path | None = None
    _run_as: pwd.struct_passwd | None = None

    # ------------------------------------------------------------------ connection details
    @property
    def dsn(self) -> str:
        return (f"host={self.host} port={self.port} dbname={self.database} user={self.user} "
                f"password={self.password} connect_timeout=10")

    def connection_info(self) -> dict[str, Any]:
        """The secret a DMS source endpoint reads: host, port, username, password, dbname, engine."""
        return {"engine": "postgres", "host": self.host, "port": self.port, "username": self.user,
                "password": self.password, "dbname": self.database}

    @property
    def data_dir(self) -> Path:
        assert self._workdir is not None, "the server is not started"
        return self._workdir / "data"

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> LocalPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = env["LANG"] = "C.UTF-8"
        assert self.bin_dir is not None
        library_path = _library_path(self.bin_dir)
        if library_path:
            env["LD_LIBRARY_PATH"] = library_path
        return env

    def _run(self, args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        preexec = None
        if self._run_as is not None:
            uid, gid = self._run_as.pw_uid, self._run_as.pw_gid

            def preexec() -> None:  # drop root for the server tools, which refuse to run as root
                os.setgroups([])
                os.setgid(gid)
                os.setuid(uid)
        return subprocess.run(args, env=self._env(), capture_output=True, text=True, preexec_fn=preexec,
                              cwd=str(self._workdir), **kwargs)

    def start(self) -> LocalPostgres:
        self.bin_dir = self.bin_dir or find_postgres_bin()
        self.port = self.port or free_port()
        self._workdir = Path(tempfile.mkdtemp(prefix="retail-lake-pg-"))
        if os.geteuid() == 0:
            self._run_as = next((pwd.getpwnam(n) for n in _SERVER_USERS if _user_exists(n)), None)
            if self._run_as is None:
                raise PostgresStartError("running as root and neither a 'postgres' nor a 'nobody' user exists to run "
                                         "the server as (PostgreSQL refuses to run as root)")
        password_file = self._workdir / "pwfile"
        password_file.write_text(self.password + "\n")
        password_file.chmod(0o600)
        if self._run_as is not None:
            for path in (self._workdir, password_file):
                os.chown(path, self._run_as.pw_uid, self._run_as.pw_gid)
        try:
            init = self._run([str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", self.user,
                              "--pwfile", str(password_file), "--auth=scram-sha-256", "--encoding=UTF8",
                              "--locale=C", "--no-sync"], timeout=120)
            password_file.unlink()
            if init.returncode != 0:
                raise PostgresStartError(f"initdb failed ({init.returncode}): {init.stderr.strip() or init.stdout}")
            options = {
                "listen_addresses": self.host, "port": str(self.port), "unix_socket_directories": str(self._workdir),
                "wal_level": "logical", "max_replication_slots": "10", "max_wal_senders": "10",
                "fsync": "off", "full_page_writes": "off",
                "shared_buffers": "64MB", "max_connections": "40", **self.settings,
            }
            opts = " ".join(f"-c {k}={v}" for k, v in options.items())
            started = self._run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-l",
                                 str(self._workdir / "server.log"), "-o", opts, "-w", "-t",
                                 str(int(self.start_timeout)), "start"], timeout=self.start_timeout + 10)
            if started.returncode != 0:
                raise PostgresStartError(f"pg_ctl start failed ({started.returncode}): {started.stderr.strip()}; "
                                         f"server log: {self._server_log()}")
            self._create_database()
        except BaseException:
            self.stop()
            raise
        return self

    def _create_database(self) -> None:
        import psycopg

        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                admin = psycopg.connect(self.dsn.replace(f"dbname={self.database}", "dbname=postgres"),
                                        autocommit=True)
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        with admin:
            admin.execute(f'CREATE DATABASE "{self.database}"')

    def _server_log(self) -> str:
        if self._workdir is None:
            return ""
        log = self._workdir / "server.log"
        return log.read_text()[-2000:] if log.exists() else "(none)"

    def stop(self) -> None:
        if self._workdir is None:
            return
        try:
            if (self.data_dir / "postmaster.pid").exists() and self.bin_dir is not None:
                self._run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"],
                          timeout=60)
        finally:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
