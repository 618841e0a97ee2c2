"""Rebuilding a trace from Prometheus's answers: whatever comes back, a trace or a clear error.

A broken Prometheus cannot run here, so its answers are served by httpx's MockTransport; the
real Prometheus is in tests/integration/test_replay_prometheus.py.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from autoscaler.readers.prometheus import PrometheusClient, PrometheusError
from autoscaler.sim.__main__ import main
from autoscaler.sim.from_prometheus import Reconstruction, parse_duration_s, reconstruct, runs
from autoscaler.sim.trace import SparkJob, event_to_json, read_trace
from tests.support import free_port

START, STEP_S = 1_000_020.0, 15.0

values = st.one_of(
    st.none(),
    st.integers(),
    st.floats(),
    st.text(max_size=6),
    st.sampled_from(["NaN", "+Inf", "-1", "3", "1e400", str(START + 30)]),
)
points = st.lists(st.lists(values, min_size=0, max_size=3) | values, max_size=6)
series = st.fixed_dictionaries(
    {
        "metric": st.dictionaries(
            st.sampled_from(["cluster", "user"]), values | st.text(), max_size=2
        ),
        "values": points | values,
    }
)
bodies = st.fixed_dictionaries(
    {
        "status": st.sampled_from(["success", "error"]),
        "data": st.fixed_dictionaries(
            {
                "resultType": st.sampled_from(["matrix", "vector"]),
                "result": st.lists(series, max_size=3) | values,
            }
        ),
    }
).map(lambda body: json.dumps(body).encode()) | st.binary(max_size=32)


def rebuild(body: bytes, status: int = 200, end: float = START + 300) -> Reconstruction:
    transport = httpx.MockTransport(lambda request: httpx.Response(status, content=body))

    async def ask() -> Reconstruction:
        async with PrometheusClient("http://prometheus.test", transport=transport) as client:
            return await reconstruct(client, START, end, STEP_S)

    return asyncio.run(ask())


def matrix(*items: dict) -> bytes:
    return json.dumps(
        {"status": "success", "data": {"resultType": "matrix", "result": list(items)}}
    ).encode()


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([200, 400, 503]), bodies)
@example(200, matrix({"metric": {"cluster": "c", "user": "u"}, "values": [["NaN", "1"]]}))
@example(200, matrix({"metric": {"cluster": "c", "user": "u"}, "values": [[1e400, "1"]]}))
def test_any_answer_is_a_valid_trace_or_a_prometheus_error(status, body):
    try:
        rebuilt = rebuild(body, status)
    except PrometheusError:
        return
    lines = [json.dumps(event_to_json(event)) for event in rebuilt.events]
    assert read_trace(lines) == rebuilt.events  # the simulator accepts what was rebuilt


def test_garbage_samples_and_unlabelled_series_are_skipped_and_counted():
    good = {"cluster": "c", "user": "u"}
    at = [START + STEP_S * i for i in range(6)]
    rebuilt = rebuild(
        matrix(
            {"metric": good, "values": [[at[0], "2"], [at[1], "NaN"], [at[2], "2"], [at[3], "-1"]]},
            {"metric": {"cluster": "c"}, "values": [[at[0], "1"]]},
        )
    )
    # Same answer for the three queries: two jobs per query that runs them, NaN and -1 skipped.
    assert rebuilt.skipped_samples == 3 * 2 and rebuilt.skipped_series == 3
    jobs = [event for event in rebuilt.events if isinstance(event, SparkJob)]
    assert [(job.job, job.t) for job in jobs] == [("c-1", 0.0), ("c-2", 2 * STEP_S)]
    assert "skipped 6 samples" in rebuilt.describe()


def test_a_missing_step_ends_a_run():
    points = [(0.0, 1.0), (15.0, 1.0), (45.0, 1.0), (60.0, 0.0), (75.0, 2.0)]
    assert [len(run) for run in runs(points, STEP_S)] == [2, 1, 1]
    assert [len(run) for run in runs(points, STEP_S, positive=False)] == [2, 3]


@pytest.mark.parametrize("text", ["", "7", "7x", "-1d", "0s", "1d2h", "nan"])
def test_a_bad_duration_names_what_is_expected(text):
    with pytest.raises(ValueError, match="positive duration such as 30s"):
        parse_duration_s(text)


def test_durations_in_prometheus_units():
    assert [parse_duration_s(text) for text in ("30s", "90m", "1.5h", "7d", "1w")] == [
        30,
        5400,
        5400,
        604800,
        604800,
    ]


def test_a_window_of_too_many_steps_is_refused_before_any_query():
    with pytest.raises(ValueError, match="use a larger step"):
        rebuild(b"never asked", end=START + 10**9)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--since", "7x"], "expected a positive duration"),
        (["--step", "0s"], "expected a positive duration"),
        ([], "Prometheus"),  # nothing listens at the URL
    ],
)
def test_the_cli_says_what_is_wrong_and_exits_2(argv, message, capsys):
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["--from-prometheus", url, *argv]) == 2
    assert message in capsys.readouterr().err
