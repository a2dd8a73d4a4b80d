"""A throwaway PostgreSQL server for the tests, and a fresh database per test.

Where the server comes from, in order:
1. ``VIGIL_TEST_POSTGRES_URL``: a server given as a URL whose user may create databases;
2. a Docker engine that answers: testcontainers starts ``postgres:15``;
3. otherwise Debian's PostgreSQL binaries (``/usr/lib/postgresql/*/bin``, package
   ``postgresql-15``): ``initdb`` in a temporary folder and ``pg_ctl start`` on a free
   loopback port. ``initdb`` refuses to run as root, so as root the server runs as the
   ``postgres`` user (else ``nobody``) through ``runuser``.

The local server listens on 127.0.0.1 only, with a random password (scram-sha-256), and no
durability (``fsync=off``): it lives for one test session.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from control.users.db_postgres import postgres_tool
from vigil.local.servers import free_port

START_TIMEOUT_S = 60


def _server_user() -> list[str]:
    """The command prefix that runs a server command as a non-root user (none if not root)."""
    if os.geteuid() != 0:
        return []
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return ["runuser", "-u", name, "--"]
    raise RuntimeError("running as root and neither a postgres nor a nobody user exists")


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=START_TIMEOUT_S,
                            check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}): "
                           f"{result.stderr.strip() or result.stdout.strip()}")


def postgres_bin_dir() -> Path | None:
    """The folder of the PostgreSQL server programs (initdb, pg_ctl), or None."""
    initdb = postgres_tool("initdb")
    return initdb.parent if initdb is not None else None


@contextmanager
def local_server(bin_dir: Path) -> Iterator[str]:
    """Start a server from ``bin_dir`` in a temporary folder; yields its admin URL."""
    base = Path(tempfile.mkdtemp(prefix="vigil-pg-"))
    prefix = _server_user()
    if prefix:
        owner = pwd.getpwnam(prefix[2])
        os.chown(base, owner.pw_uid, owner.pw_gid)
    password, port, user = secrets.token_hex(16), free_port(), "vigil_test"
    pwfile = base / "pw"
    pwfile.write_text(password + "\n")
    if prefix:
        os.chown(pwfile, owner.pw_uid, owner.pw_gid)
    data = base / "data"
    try:
        _run([*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", user, "-E", "UTF8",
              "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}",
              "--no-sync"])
        options = (f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={base}"
                   " -c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        _run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(base / "log"),
              "-o", options, "-w", "-t", str(START_TIMEOUT_S), "start"])
        try:
            yield f"postgresql://{user}:{password}@127.0.0.1:{port}/postgres"
        finally:
            _run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w",
                  "stop"])
    finally:
        shutil.rmtree(base, ignore_errors=True)


def with_database(url: str, name: str) -> str:
    """The same server and credentials, another database."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    """A new, empty database on the server for one test; dropped afterwards."""
    name = f"vigil_t{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_database(admin_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                          .format(sql.Identifier(name)))
