"""Run the machine's Prometheus (Debian package) as a child process for local mode and tests.

Bound to 127.0.0.1, data in a directory of ours, targets from ``file_sd`` files that the local
backend writes. ``make up`` and the integration tests start it the same way. A second job
scrapes the notebook servers' activity pages (``hubscale_nb.activity``) with a bearer token of its
own, generated in the directory (0600): the spawner registers each server under
``targets/notebooks/`` and gives the server only the token's hash.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

SCRAPE_JOB = "hubscale"
NOTEBOOKS_JOB = "hubscale-notebooks"
NOTEBOOKS = "notebooks"
ACTIVITY_TOKEN = "activity-token"


class PrometheusNotInstalled(RuntimeError):
    """No ``prometheus`` binary: ``make install`` installs Debian's package."""


def prometheus_config(
    file_sd_dir: Path, scrape_interval_s: float, activity_token: Path | None = None
) -> dict:
    """One scrape job over every ``*.json`` target file in ``file_sd_dir``; with
    ``activity_token``, one more over ``notebooks/*.json`` presenting that token."""
    interval = f"{scrape_interval_s:g}s"

    def job(name: str, files: Path) -> dict:
        return {
            "job_name": name,
            "scrape_timeout": interval,
            "file_sd_configs": [{"files": [str(files)], "refresh_interval": interval}],
        }

    jobs = [job(SCRAPE_JOB, file_sd_dir / "*.json")]
    if activity_token is not None:
        notebooks = job(NOTEBOOKS_JOB, notebook_targets_dir(file_sd_dir) / "*.json")
        notebooks["authorization"] = {"credentials_file": str(activity_token)}
        jobs.append(notebooks)
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": jobs,
    }


def file_sd_dir(directory: Path) -> Path:
    """Where a Prometheus run in ``directory`` reads its ``file_sd`` target files."""
    return directory / "targets"


def notebook_targets_dir(targets: Path) -> Path:
    """Where the spawner registers notebook servers' activity pages, under ``targets``."""
    return targets / NOTEBOOKS


def activity_token_file(directory: Path) -> Path:
    """The bearer token a Prometheus run in ``directory`` presents to notebook servers."""
    return directory / ACTIVITY_TOKEN


def ensure_activity_token(path: Path) -> str:
    """The scrape token, generated on first use (0600) and kept across restarts."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


@dataclass
class PrometheusServer:
    """A Prometheus child process; ``start`` returns once it answers ``/-/ready``."""

    directory: Path
    port: int
    scrape_interval_s: float = 5.0
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def file_sd_dir(self) -> Path:
        return file_sd_dir(self.directory)

    def start(self, timeout_s: float = 30.0) -> PrometheusServer:
        binary = shutil.which("prometheus")
        if binary is None:
            raise PrometheusNotInstalled("prometheus not found on PATH: run `make install`")
        notebook_targets_dir(self.file_sd_dir).mkdir(parents=True, exist_ok=True)
        token = activity_token_file(self.directory)
        ensure_activity_token(token)
        config = self.directory / "prometheus.yml"
        config.write_text(
            yaml.safe_dump(prometheus_config(self.file_sd_dir, self.scrape_interval_s, token))
        )
        log = open(self.directory / "prometheus.log", "ab")  # noqa: SIM115 - the child keeps it
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={self.directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-lifecycle",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        self._wait_ready(timeout_s)
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited: see {self.directory / 'prometheus.log'}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"prometheus not ready after {timeout_s:g} s on {self.url}")

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it does not exit in time."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
