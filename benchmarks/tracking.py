"""What the hub's tracking service costs a request: a read, and a run write (owner checked).

Runs the real local platform (``make up``'s stack, with its MLflow server) in a temporary
directory, makes a user and a token with a notebook server's scopes, then times ``--requests``
calls of ``runs/get`` (forwarded as it is) and of ``runs/log-metric`` (the owner check, then
forwarded) through ``/services/mlflow/``, one after another as a training loop logs.
``python -m benchmarks.tracking [--requests 200] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from benchmarks.results import write_json
from hub_config.access import SERVER_TOKEN_SCOPES
from tests.integration.hub_fixtures import run_platform

USER = "bench-user"


def timed(requests: int, call: Callable[[int], httpx.Response]) -> dict[str, float]:
    """p50 / p95 / max milliseconds of ``requests`` calls, each checked to be a 200."""
    times = []
    for step in range(requests):
        started = time.perf_counter()
        response = call(step)
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{response.request.url}: {response.status_code} {response.text}")
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(len(times) * 0.95) - 1], 1),
        "max_ms": round(times[-1], 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tracking", description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hubscale-tracking-bench-") as directory:
        platform = run_platform(Path(directory))
        hub = next(platform)
        try:
            hub.create_user(USER)
            scopes = {"scopes": SERVER_TOKEN_SCOPES}
            token = hub.api("POST", f"/users/{USER}/tokens", json=scopes).json()["token"]
            api = f"{hub.settings.url}/services/mlflow/api/2.0/mlflow"
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(headers=headers, timeout=60) as client:
                created = client.post(f"{api}/runs/create", json={"experiment_id": "0"})
                run_id = created.json()["run"]["info"]["run_id"]
                figures = {
                    "requests": args.requests,
                    "read_runs_get": timed(
                        args.requests,
                        lambda _: client.get(f"{api}/runs/get", params={"run_id": run_id}),
                    ),
                    "write_log_metric": timed(
                        args.requests,
                        lambda step: client.post(
                            f"{api}/runs/log-metric",
                            json={"run_id": run_id, "key": "m", "value": step, "step": step,
                                  "timestamp": step},
                        ),
                    ),
                }  # fmt: skip
        finally:
            for _ in platform:  # stops the platform and checks nothing is left
                pass
    for name in ("read_runs_get", "write_log_metric"):
        print(f"{name}: " + " ".join(f"{k}={v}" for k, v in figures[name].items()))
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
