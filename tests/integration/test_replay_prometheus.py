"""Replaying history: a scripted day backfilled into a real Prometheus (Debian's promtool
``tsdb create-blocks-from openmetrics``), read back with range queries into a simulator trace.

The series are the ones the platform scrapes, written as the local backend labels them; real
Spark and Flink clusters running such a day would take tens of minutes of JVM time here, so
the day is scripted (see the README, "Replaying your team's day").
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from autoscaler.readers.prometheus import PrometheusClient
from autoscaler.sim import from_prometheus
from autoscaler.sim.__main__ import main
from autoscaler.sim.from_prometheus import Reconstruction, reconstruct
from autoscaler.sim.trace import FlinkJob, Session, SparkJob, load_trace
from hubscale.prometheus_server import PrometheusServer
from tests.support import free_port

DEMAND = (
    "metrics_hubscale_driver_ExecutorAllocationManager_executors_numberMaxNeededExecutors_Value"
)
SAMPLE_S = 5  # the scripted scrape interval
STEP_S = 15.0
DAY_S = 7200
# The day started 3 h ago, on a whole minute (so the query grid lines up with the script).
BASE = int(time.time() // 60 * 60) - 3 * 3600
SPARK = {"cluster": "alice-spark", "user": "alice", "role": "driver"}
FLINK = {"cluster": "bob-flink", "user": "bob", "role": "jobmanager"}


def alice_demand(at: int) -> float:
    """Two jobs: 4 executors for 300 s then 1 for 60 s; later 8 for 120 s. A NaN sample (on the
    query's grid: a range query reads only the samples at its steps)."""
    if at == 150:
        return float("nan")
    if 600 <= at < 900:
        return 4
    if 900 <= at < 960:
        return 1
    return 8 if 3000 <= at < 3120 else 0


def bob_running(at: int) -> int:
    return 1 if 1200 <= at < 4800 else 0


def bob_slots_used(at: int) -> int:
    return (3 if 2400 <= at < 3600 else 2) * bob_running(at)


def openmetrics_day() -> str:
    """The scripted day as OpenMetrics text, one family after another, samples in time order."""
    times = range(0, DAY_S, SAMPLE_S)
    families: dict[str, list[tuple[dict[str, str], list[tuple[int, float]]]]] = {
        DEMAND: [
            (SPARK, [(at, alice_demand(at)) for at in times]),
            # No user label: skipped and counted.
            ({"cluster": "orphan", "role": "driver"}, [(at, 2) for at in times]),
        ],
        "flink_jobmanager_numRunningJobs": [(FLINK, [(at, bob_running(at)) for at in times])],
        "flink_jobmanager_taskSlotsTotal": [(FLINK, [(at, 4) for at in times])],
        "flink_jobmanager_taskSlotsAvailable": [
            (FLINK, [(at, 4 - bob_slots_used(at)) for at in times])
        ],
        "hubscale_cluster_workers": [
            ({"cluster": "alice-spark", "user": "alice", "engine": "spark"},
             [(at, 1) for at in range(0, 3600, SAMPLE_S)]),
            ({"cluster": "bob-flink", "user": "bob", "engine": "flink"},
             [(at, 2) for at in range(1000, 5000, SAMPLE_S)]),
        ],
    }  # fmt: skip
    lines = []
    for name, series in families.items():
        lines.append(f"# TYPE {name} gauge")
        for labels, points in series:
            text = ",".join(f'{key}="{value}"' for key, value in labels.items())
            lines += [f"{name}{{{text}}} {value} {BASE + at}" for at, value in points]
    return "\n".join([*lines, "# EOF", ""])


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    """A real Prometheus opening a TSDB that promtool backfilled with the scripted day."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not found: `make install` installs Debian's prometheus package")
    directory = tmp_path_factory.mktemp("history")
    source = directory / "day.om"
    source.write_text(openmetrics_day())
    subprocess.run(
        [
            promtool,
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            str(source),
            str(directory / "data"),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    server = PrometheusServer(directory, free_port()).start()
    yield server
    server.stop()


def read_history(url: str) -> Reconstruction:
    async def read() -> Reconstruction:
        async with PrometheusClient(url, timeout_s=30.0) as prometheus:
            return await reconstruct(prometheus, BASE, BASE + DAY_S, STEP_S)

    return asyncio.run(read())


@pytest.fixture(scope="module")
def rebuilt(history: PrometheusServer) -> Reconstruction:
    return read_history(history.url)


def test_spark_jobs_come_back_with_their_start_width_and_duration(rebuilt: Reconstruction):
    jobs = [event for event in rebuilt.events if isinstance(event, SparkJob)]
    assert [(job.user, job.job) for job in jobs] == [
        ("alice", "alice-spark-1"),
        ("alice", "alice-spark-2"),
    ]
    first, second = jobs
    assert abs(first.t - 600) <= STEP_S and abs(second.t - 3000) <= STEP_S
    assert [stage.tasks for stage in first.stages] == [4, 1]
    assert abs(first.stages[0].task_seconds - 300) <= STEP_S
    assert abs(first.stages[1].task_seconds - 60) <= STEP_S
    assert [stage.tasks for stage in second.stages] == [8]
    assert abs(second.stages[0].task_seconds - 120) <= STEP_S


def test_a_flink_stream_comes_back_as_the_slots_it_held(rebuilt: Reconstruction):
    (stream,) = [event for event in rebuilt.events if isinstance(event, FlinkJob)]
    assert stream.user == "bob" and stream.max_parallelism == 3
    assert abs(stream.t - 1200) <= STEP_S and abs(stream.end - 4800) <= STEP_S
    assert stream.rate_at(stream.t + 600) == 2 and stream.rate_at(3000) == 3


def test_sessions_and_what_was_skipped(rebuilt: Reconstruction):
    sessions = [
        (event.user, event.state, event.t) for event in rebuilt.events if isinstance(event, Session)
    ]
    expected = [("alice", "start", 0), ("bob", "start", 1000), ("alice", "end", 3600),
                ("bob", "end", 5000)]  # fmt: skip
    assert [(user, state) for user, state, _ in sessions] == [(u, s) for u, s, _ in expected]
    # A series' end shows up to 1.5 steps late (Prometheus echoes its last sample).
    times = zip(sessions, expected, strict=True)
    assert all(abs(t - want) <= 2 * STEP_S for (_, _, t), (_, _, want) in times)
    assert rebuilt.skipped_samples == 1 and rebuilt.skipped_series == 1


def test_a_window_read_in_many_chunks_gives_the_same_trace(
    history: PrometheusServer, rebuilt: Reconstruction, monkeypatch
):
    monkeypatch.setattr(from_prometheus, "MAX_POINTS_PER_QUERY", 37)  # 13 queries per signal
    assert read_history(history.url) == rebuilt


def test_the_cli_replays_the_history_under_every_policy(
    history: PrometheusServer, tmp_path: Path, capsys
):
    since_s = int(time.time()) - BASE + 60
    trace = tmp_path / "rebuilt.jsonl"
    argv = ["--from-prometheus", history.url, "--since", f"{since_s}s", "--step", "15s"]
    out_json = tmp_path / "out.json"
    argv += ["--trace-out", str(trace), "--json", str(out_json), "--worker-start-s", "5"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "reconstructed 2 Spark jobs, 1 Flink streams and 2 sessions of 2 users" in out
    assert "hubscale" in out and "oracle" in out
    assert len(load_trace(trace)) == 7
    written = json.loads(out_json.read_text())
    assert written["trace"]["source"] == "prometheus" and written["trace"]["users"] == 2
    assert history.url not in out_json.read_text()  # a URL may carry credentials


def test_a_window_without_jobs_is_said_and_not_simulated(history: PrometheusServer, capsys):
    assert main(["--from-prometheus", history.url, "--since", "10m", "--step", "15s"]) == 1
    assert "no Spark job nor Flink stream in the last 10m" in capsys.readouterr().err
