"""The Prometheus client's answer parsing, fuzzed: whatever bytes or JSON come back, the
controller sees a ``PrometheusError`` (the loop holds) or a reading, never another exception."""

from __future__ import annotations

import asyncio
import base64
import json
import math

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from autoscaler.readers.prometheus import PrometheusBadResponse, PrometheusClient, PrometheusError

HUGE = 10**400  # valid JSON; float() of it overflows

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([HUGE, -HUGE])
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(["NaN", "+Inf", "-Inf", "1e400", "0x1p3", "cluster"])
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)
samples = st.fixed_dictionaries(
    {
        "metric": st.dictionaries(st.sampled_from(["cluster", "job"]), json_values, max_size=2)
        | json_values,
        "value": st.tuples(json_values, json_values).map(list) | json_values,
    }
)
answers = st.fixed_dictionaries(
    {
        "status": st.sampled_from(["success", "error"]) | json_values,
        "data": st.fixed_dictionaries(
            {
                "resultType": st.sampled_from(["vector", "matrix"]) | json_values,
                "result": st.lists(samples | json_values, max_size=4) | json_values,
            }
        )
        | json_values,
    }
)
bodies = (
    answers.map(lambda answer: json.dumps(answer).encode())
    | json_values.map(lambda value: json.dumps(value).encode())
    | st.binary(max_size=64)
)


def by_cluster(status: int, body: bytes):
    """Ask the batched by-cluster query of a Prometheus answering ``status`` with ``body``."""
    transport = httpx.MockTransport(lambda request: httpx.Response(status, content=body))

    async def ask():
        async with PrometheusClient("http://prometheus.test", transport=transport) as client:
            return await client.by_label("max by (cluster) (up)")

    return asyncio.run(ask())


def answer(*samples: object) -> bytes:
    result = {"resultType": "vector", "result": list(samples)}
    return json.dumps({"status": "success", "data": result}).encode()


@given(st.sampled_from([200, 400, 404, 422, 500, 503]), bodies)
@example(200, answer({"metric": {"cluster": "a"}, "value": [HUGE, "1"]}))
@example(200, answer({"metric": {"cluster": ["a"]}, "value": [1.0, "1"]}))
@example(200, answer({"metric": {"cluster": {"a": 1}}, "value": [1.0, "1"]}))
@example(200, b"[" * 100_000)
def test_any_answer_is_a_reading_or_a_prometheus_error(status, body):
    try:
        reading = by_cluster(status, body)
    except PrometheusError:
        return
    assert all(isinstance(cluster, str) for cluster in reading.values)
    assert all(isinstance(value, float) for value in reading.values.values())


@pytest.mark.parametrize(
    "sample",
    [
        {"metric": {"cluster": "a"}, "value": [HUGE, "1"]},
        {"metric": {"cluster": ["a"]}, "value": [1.0, "1"]},
    ],
    ids=["timestamp overflows a float", "cluster label not a string"],
)
def test_a_malformed_sample_is_a_bad_response_naming_the_query(sample):
    with pytest.raises(PrometheusBadResponse, match="malformed sample for 'max by"):
        by_cluster(200, answer(sample))


def test_nan_and_infinite_values_stay_values_for_the_policy_to_hold_on():
    reading = by_cluster(
        200,
        answer(
            {"metric": {"cluster": "a"}, "value": [1.0, "NaN"]},
            {"metric": {"cluster": "b"}, "value": [1.0, "+Inf"]},
        ),
    )
    assert math.isnan(reading.get("a")) and reading.get("b") == math.inf


def test_credentials_in_the_url_are_sent_but_never_in_an_error():
    """An admin's Prometheus behind basic auth (``--prometheus-url https://user:secret@host``):
    the request carries them, the error the controller logs does not."""
    seen: list[str] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization", ""))
        return httpx.Response(503)

    async def ask():
        url = "https://hub:s3cret@prometheus.test:9090"
        async with PrometheusClient(url, transport=httpx.MockTransport(refuse)) as client:
            return await client.by_label("up")

    with pytest.raises(PrometheusError) as raised:
        asyncio.run(ask())
    assert seen == ["Basic " + base64.b64encode(b"hub:s3cret").decode()]
    assert "s3cret" not in str(raised.value) and "prometheus.test:9090" in str(raised.value)
