"""Run the machine's Prometheus (Debian package) as a child process for local mode and tests.

Bound to 127.0.0.1, data in a directory of ours, targets from ``file_sd`` files that the local
backend writes. ``make up`` and the integration tests start it the same way.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

SCRAPE_JOB = "hubscale"


class PrometheusNotInstalled(RuntimeError):
    """No ``prometheus`` binary: ``make install`` installs Debian's package."""


def prometheus_config(file_sd_dir: Path, scrape_interval_s: float) -> dict:
    """One scrape job over every ``*.json`` target file in ``file_sd_dir``."""
    interval = f"{scrape_interval_s:g}s"
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [
            {
                "job_name": SCRAPE_JOB,
                "scrape_timeout": interval,
                "file_sd_configs": [
                    {"files": [str(file_sd_dir / "*.json")], "refresh_interval": interval}
                ],
            }
        ],
    }


def file_sd_dir(directory: Path) -> Path:
    """Where a Prometheus run in ``directory`` reads its ``file_sd`` target files."""
    return directory / "targets"


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
        self.file_sd_dir.mkdir(parents=True, exist_ok=True)
        config = self.directory / "prometheus.yml"
        config.write_text(
            yaml.safe_dump(prometheus_config(self.file_sd_dir, self.scrape_interval_s))
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
