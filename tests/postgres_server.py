"""A real PostgreSQL (Debian's ``postgresql``) in a temporary directory, for database tests.

Unix socket only (no TCP), trust authentication; run as the ``postgres`` system user when the
tests run as root (``initdb`` refuses root), in a directory of its own under the system's temp
directory (pytest's are root's alone). Skips if the package is absent.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import free_port

PG_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
START_S = 60


def _as_postgres(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def postgres_server() -> Iterator[str]:
    """A running server, removed afterwards; yields a URL template ``...{database}...``."""
    if not PG_BIN or shutil.which("runuser") is None:
        pytest.skip("Debian's postgresql is not installed")
    directory = Path(tempfile.mkdtemp(prefix="hubscale-postgres-"))
    try:
        yield from _run(PG_BIN[-1], directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _run(bin_dir: Path, directory: Path) -> Iterator[str]:
    data, sockets = directory / "data", directory / "sockets"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres")
        shutil.chown(sockets, "postgres")
    subprocess.run(
        _as_postgres([str(bin_dir / "initdb"), "-D", str(data), "--auth=trust", "-U", "postgres"]),
        check=True,
        capture_output=True,
    )
    port = free_port()
    log_file = directory / "postgres.log"
    options = f"-k {sockets} -p {port} -c listen_addresses=''"
    start = [str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log_file)]
    subprocess.run(_as_postgres([*start, "-w", "-t", str(START_S), "start"]), check=True)
    try:
        yield f"postgresql+psycopg://postgres@/{{database}}?host={sockets}&port={port}"
    finally:
        stop = [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]
        subprocess.run(_as_postgres(stop), check=False)


def fresh_database(url_template: str) -> str:
    """A new empty database on that server; its SQLAlchemy URL."""
    import psycopg

    name = f"t_{secrets.token_hex(4)}"
    admin = url_template.format(database="postgres").replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return url_template.format(database=name)
