"""The JobManager REST client's demand per kind of job, against answers shaped as Flink 2.3's.

The answers are recorded from a real session cluster (a batch SQL query and a streaming one, see
tests/integration/test_workloads.py for them running for real), served through httpx's
MockTransport so each case can also be made to fail.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from autoscaler.readers.flink_rest import (
    FlinkBadResponse,
    FlinkError,
    FlinkRest,
    FlinkUnavailable,
    Overview,
    SlotDemand,
)

BATCH_ID = "de66a99123f27d7a8c82fe918712971f"
STREAM_ID = "ecff87263b5bac054cfb2b31f871964d"
UNSUPPORTED = (
    "java.lang.UnsupportedOperationException: The AdaptiveBatchScheduler does not support "
    "changing the parallelism without a job restart."
)


def tasks(**counts: int) -> dict[str, int]:
    states = ("running", "canceling", "canceled", "total", "created", "scheduled", "deploying")
    more = ("reconciling", "finished", "initializing", "failed")
    return {state: counts.get(state, 0) for state in (*states, *more)}


def job(jid: str, scheduler: str, state: str = "RUNNING", **counts: int) -> dict:
    job_type = "BATCH" if scheduler == "AdaptiveBatch" else "STREAMING"
    return {
        "jid": jid,
        "name": "SELECT ...",
        "jobType": job_type,
        "schedulerType": scheduler,
        "state": state,
        "tasks": tasks(**counts),
        "pending-operators": 0,
    }


def jobmanager(jobs: list[dict], requirements: dict[str, httpx.Response]):
    """A MockTransport for /jobs/overview and /jobs/<id>/resource-requirements; records paths."""
    asked: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        if request.url.path == "/jobs/overview":
            return httpx.Response(200, json={"jobs": jobs})
        job_id = request.url.path.split("/")[2]
        return requirements[job_id]

    return httpx.MockTransport(handle), asked


def demand(transport: httpx.MockTransport) -> SlotDemand:
    async def ask() -> SlotDemand:
        async with FlinkRest("http://jobmanager.test", transport=transport) as rest:
            return await rest.slot_demand()

    return asyncio.run(ask())


def test_a_batch_job_wants_a_slot_per_task_running_or_waiting_and_is_never_asked_for_bounds():
    """AdaptiveBatch answers /resource-requirements with a 500: it must not be asked."""
    refused = httpx.Response(500, json={"errors": ["Internal server error.", UNSUPPORTED]})
    transport, asked = jobmanager(
        [job(BATCH_ID, "AdaptiveBatch", scheduled=3, running=1, finished=2)], {BATCH_ID: refused}
    )
    assert demand(transport) == SlotDemand(streaming=0, batch=4)
    assert asked == ["/jobs/overview"]


def test_a_batch_job_between_stages_still_wants_one_slot():
    transport, _ = jobmanager([job(BATCH_ID, "AdaptiveBatch", created=2, finished=4)], {})
    assert demand(transport) == SlotDemand(streaming=0, batch=1)


def test_a_streaming_job_wants_its_largest_upper_bound_beside_a_batch_job():
    vertex = "cbc357ccb763df2852fee8c4fc7d55f2"
    bounds = {vertex: {"parallelism": {"lowerBound": 1, "upperBound": 3}}}
    transport, asked = jobmanager(
        [job(STREAM_ID, "Adaptive", state="CREATED"), job(BATCH_ID, "AdaptiveBatch", scheduled=2)],
        {STREAM_ID: httpx.Response(200, json=bounds)},
    )
    assert demand(transport) == SlotDemand(streaming=3, batch=2)
    assert asked == ["/jobs/overview", f"/jobs/{STREAM_ID}/resource-requirements"]


def test_finished_jobs_want_nothing():
    transport, _ = jobmanager([job(BATCH_ID, "AdaptiveBatch", state="FINISHED", finished=4)], {})
    assert demand(transport).total == 0


def test_a_streaming_jobs_failing_requirements_are_a_temporary_error():
    transport, _ = jobmanager(
        [job(STREAM_ID, "Adaptive")], {STREAM_ID: httpx.Response(503, text="busy")}
    )
    with pytest.raises(FlinkUnavailable, match="HTTP 503"):
        demand(transport)


@pytest.mark.parametrize(
    "entry",
    [
        {**job(BATCH_ID, "AdaptiveBatch"), "jid": "../../taskmanagers"},
        {**job(BATCH_ID, "AdaptiveBatch"), "tasks": {"scheduled": "many"}},
        {**job(BATCH_ID, "AdaptiveBatch"), "schedulerType": 7},
    ],
    ids=["job id not Flink's", "task count not a number", "scheduler not a string"],
)
def test_garbage_in_the_overview_is_a_bad_response_not_a_crash(entry):
    transport, _ = jobmanager([entry], {})
    with pytest.raises(FlinkBadResponse, match="/jobs/overview: unexpected answer"):
        demand(transport)


# Fuzzed answers: one JobManager's garbage is a FlinkError for that cluster, never a crash.

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from([BATCH_ID, STREAM_ID, "RUNNING", "CREATED", "AdaptiveBatch", "Adaptive"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)
job_entries = st.fixed_dictionaries(
    {"jid": json_values, "state": json_values, "name": json_values},
    optional={"schedulerType": json_values, "tasks": json_values},
)
shaped = st.fixed_dictionaries(
    {
        "jobs": st.lists(job_entries | json_values, max_size=3) | json_values,
        "taskmanagers": st.lists(json_values, max_size=3) | json_values,
        "vertices": st.lists(json_values, max_size=3) | json_values,
        "errors": json_values,
    }
)
bodies = (
    shaped.map(lambda body: json.dumps(body).encode())
    | st.dictionaries(st.text(max_size=8), json_values).map(lambda b: json.dumps(b).encode())
    | st.binary(max_size=64)
)
CALLS: dict[str, Callable[[FlinkRest], Awaitable[object]]] = {
    "overview": lambda rest: rest.overview(),
    "slot_demand": lambda rest: rest.slot_demand(),
    "taskmanagers": lambda rest: rest.taskmanagers(),
    "resource_requirements": lambda rest: rest.resource_requirements(STREAM_ID),
    "vertex_parallelism": lambda rest: rest.vertex_parallelism(STREAM_ID),
    "cancel": lambda rest: rest.cancel(STREAM_ID),
}


@given(
    call=st.sampled_from(sorted(CALLS)),
    status=st.sampled_from([200, 202, 400, 404, 500, 503]),
    body=bodies,
)
@example(call="overview", status=500, body=b'{"errors": 5}')
@example(call="overview", status=200, body=b"[" * 100_000)
def test_any_answer_is_a_value_or_a_flink_error(call, status, body):
    transport = httpx.MockTransport(lambda request: httpx.Response(status, content=body))

    async def ask() -> object:
        async with FlinkRest("http://jobmanager.test", transport=transport) as rest:
            return await CALLS[call](rest)

    try:
        answer = asyncio.run(ask())
    except FlinkError:
        return
    expected = {"overview": Overview, "slot_demand": SlotDemand, "cancel": type(None)}
    assert isinstance(answer, expected.get(call, list if call == "taskmanagers" else dict))


def test_an_error_answer_whose_errors_are_not_a_list_is_still_unavailable():
    transport = httpx.MockTransport(lambda request: httpx.Response(500, json={"errors": 5}))
    with pytest.raises(FlinkUnavailable, match="HTTP 500"):
        demand(transport)
