"""The one client for the Prometheus HTTP API: instant queries, batched by cluster label.

One query per signal per controller loop covers every cluster (``max by (cluster) (...)``), never
one query per cluster. Results keep three cases apart: a cluster missing from the answer (no
data), a NaN or negative value (garbage: the policy holds), and a real zero. Each failure is
wrapped in a ``PrometheusError`` subclass that says what to do.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from autoscaler.readers.http_api import HttpApi, json_body

DEFAULT_TIMEOUT_S = 5.0


class PrometheusError(Exception):
    """Prometheus could not answer usefully; the controller holds and retries later."""


class PrometheusUnavailable(PrometheusError):
    """Not reachable, timed out, or answered 5xx: a temporary error, retry with backoff."""


class PrometheusQueryError(PrometheusError):
    """Prometheus rejected the query (4xx): a bug in the query, not worth retrying fast."""


class PrometheusBadResponse(PrometheusError):
    """The answer is not the Prometheus API's JSON: wrong URL, a proxy page, or garbage."""


@dataclass(frozen=True, slots=True)
class Series:
    """One element of an instant vector."""

    labels: Mapping[str, str]
    value: float  # may be NaN or +-Inf: Prometheus sends them as strings
    timestamp: float  # evaluation time (seconds since the epoch)


@dataclass(frozen=True, slots=True)
class RangeSeries:
    """One element of a range vector: its labels and (time, value) points, time ascending."""

    labels: Mapping[str, str]
    points: tuple[tuple[float, float], ...]  # values may be NaN or +-Inf


@dataclass(frozen=True, slots=True)
class Reading:
    """One signal for every cluster that has data; a cluster not in ``values`` has none."""

    values: Mapping[str, float]
    evaluated_at: float

    def get(self, cluster: str) -> float:
        """The cluster's value, or NaN when Prometheus has no data for it."""
        return self.values.get(cluster, math.nan)


class PrometheusClient(HttpApi):
    """Instant queries against ``url`` (e.g. http://127.0.0.1:9090), each with a timeout."""

    default_timeout_s = DEFAULT_TIMEOUT_S

    async def vector(self, promql: str, at: float | None = None) -> list[Series]:
        """An instant query that must return a vector (wrap scalars in ``vector()``)."""
        params = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = await self._get("/api/v1/query", params)
        if data.get("resultType") != "vector" or not isinstance(data.get("result"), list):
            raise PrometheusBadResponse(f"expected a vector for {promql!r}, got {_short(data)}")
        return [_series(item, promql) for item in data["result"]]

    async def matrix(
        self, promql: str, start: float, end: float, step_s: float
    ) -> list[RangeSeries]:
        """A range query (``/api/v1/query_range``) evaluated every ``step_s`` from start to end."""
        params = {
            "query": promql,
            "start": f"{start:.3f}",
            "end": f"{end:.3f}",
            "step": f"{step_s:g}",
        }
        data = await self._get("/api/v1/query_range", params)
        if data.get("resultType") != "matrix" or not isinstance(data.get("result"), list):
            raise PrometheusBadResponse(f"expected a matrix for {promql!r}, got {_short(data)}")
        return [_range_series(item, promql) for item in data["result"]]

    async def by_label(
        self, promql: str, label: str = "cluster", at: float | None = None
    ) -> Reading:
        """The query's value per ``label`` value; the query must aggregate by that label."""
        series = await self.vector(promql, at)
        values: dict[str, float] = {}
        evaluated_at = at if at is not None else 0.0
        for item in series:
            key = item.labels.get(label)
            if key is None:
                continue  # a series without the label belongs to no cluster
            if key in values:
                raise PrometheusQueryError(
                    f"{promql!r} returned several series for {label}={key!r}: aggregate by {label}"
                )
            values[key] = item.value
            evaluated_at = item.timestamp
        return Reading(values, evaluated_at)

    async def ready(self) -> bool:
        """True when Prometheus answers its readiness endpoint."""
        try:
            response = await self._http.get("/-/ready")
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        try:
            response = await self._http.get(path, params=params)
        except httpx.TimeoutException as error:
            raise PrometheusUnavailable(f"{self.url}: timed out ({error!r})") from error
        except httpx.HTTPError as error:
            raise PrometheusUnavailable(f"{self.url}: {error!r}") from error
        if response.status_code >= 500:
            raise PrometheusUnavailable(f"{self.url}: HTTP {response.status_code}")
        try:
            body = json_body(response)
        except ValueError:
            raise PrometheusBadResponse(
                f"{self.url}{path}: HTTP {response.status_code}, not JSON: {response.text[:80]!r}"
            ) from None
        if not isinstance(body, dict) or "status" not in body:
            raise PrometheusBadResponse(
                f"{self.url}{path}: not a Prometheus answer: {_short(body)}"
            )
        if body["status"] != "success":
            message = f"{body.get('errorType', 'error')}: {body.get('error', '')}"
            if 400 <= response.status_code < 500:
                raise PrometheusQueryError(f"{params.get('query')!r}: {message}")
            raise PrometheusUnavailable(message)
        data = body.get("data")
        if not isinstance(data, dict):
            raise PrometheusBadResponse(f"{self.url}{path}: no data in {_short(body)}")
        return data


def _series(item: Any, promql: str) -> Series:
    try:
        labels = item["metric"]
        timestamp, text = item["value"]
        value = float(text)  # "NaN", "+Inf" and "-Inf" parse too
        if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
            raise TypeError("labels")  # Prometheus's label values are strings
        return Series(labels, value, float(timestamp))
    except (KeyError, TypeError, ValueError, OverflowError):
        raise PrometheusBadResponse(f"malformed sample for {promql!r}: {_short(item)}") from None


def _range_series(item: Any, promql: str) -> RangeSeries:
    try:
        labels = item["metric"]
        if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
            raise TypeError("labels")
        points = tuple((float(at), float(text)) for at, text in item["values"])
        if not all(math.isfinite(at) for at, _ in points):
            raise ValueError("timestamp")
        return RangeSeries(labels, points)
    except (KeyError, TypeError, ValueError, OverflowError):
        raise PrometheusBadResponse(f"malformed series for {promql!r}: {_short(item)}") from None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."
