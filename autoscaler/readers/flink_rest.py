"""A small client for a Flink JobManager's REST API: slots, jobs and their parallelism bounds.

No metric says how many slots a job wants; the JobManager says it differently per scheduler
(``/jobs/overview`` names each job's ``schedulerType``):
- streaming jobs run under the adaptive scheduler: each job vertex has parallelism bounds
  (``GET /jobs/<id>/resource-requirements``); with slot sharing (the default) a job needs as many
  slots as its largest upper bound, and ``PUT`` on the same resource changes the bounds at runtime
  (FLIP-291), which rescales the job without resubmitting it;
- batch jobs run under the adaptive batch scheduler, which answers that resource with HTTP 500
  (UnsupportedOperationException); it schedules stage by stage, each task in a slot of its own, so
  its demand is the tasks that run or wait for a slot now (the overview's own task counts).
Each failure is wrapped in a ``FlinkError`` subclass that says what to do.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from autoscaler.readers.http_api import HttpApi, json_body

DEFAULT_TIMEOUT_S = 5.0
T = TypeVar("T")
# States in which a job holds or waits for slots (RECONCILING: recovered after a failover).
_ID = re.compile(r"^[0-9a-f]{32}$")  # job and vertex ids
DEMANDING_STATES = frozenset({"INITIALIZING", "CREATED", "RUNNING", "RESTARTING", "RECONCILING"})
# The scheduler whose jobs answer /resource-requirements; others (AdaptiveBatch, Default) do not.
ADAPTIVE_SCHEDULER = "Adaptive"
# Task states (the overview's lower-case keys) in which a task holds or waits for a slot.
SLOT_TASK_STATES = ("scheduled", "deploying", "initializing", "running", "reconciling")


class FlinkError(Exception):
    """The JobManager could not answer usefully; the controller holds and retries later."""


class FlinkUnavailable(FlinkError):
    """Not reachable, timed out, or answered 5xx: a temporary error, retry with backoff."""


class FlinkBadResponse(FlinkError):
    """The answer is not the JSON Flink's REST API sends: wrong URL, a proxy page, or garbage."""


class FlinkRequestRejected(FlinkError):
    """Flink refused the request (4xx): an unknown job, or bounds it does not accept."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class FlinkJobNotFound(FlinkRequestRejected):
    """No such job (any more): Flink says 404, or 500 with FlinkJobNotFoundException."""


@dataclass(frozen=True, slots=True)
class Overview:
    taskmanagers: int
    slots_total: int
    slots_available: int
    jobs_running: int


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    state: str  # Flink's JobStatus: RUNNING, CREATED, RESTARTING, CANCELED, ...
    name: str
    scheduler: str = ADAPTIVE_SCHEDULER  # schedulerType: Adaptive, AdaptiveBatch or Default
    slot_tasks: int = 0  # tasks running or waiting for a slot (SLOT_TASK_STATES)

    @property
    def has_requirements(self) -> bool:
        """Its demand is in ``/resource-requirements`` (adaptive scheduler: streaming jobs)."""
        return self.scheduler == ADAPTIVE_SCHEDULER


@dataclass(frozen=True, slots=True)
class SlotDemand:
    """Slots a cluster's live jobs want: streaming (declared bounds) and batch (tasks now)."""

    streaming: int
    batch: int

    @property
    def total(self) -> int:
        return self.streaming + self.batch


@dataclass(frozen=True, slots=True)
class TaskManagerSlots:
    id: str  # the TaskManager's resource id: our worker name when we set taskmanager.resource-id
    slots_total: int
    slots_free: int


Bounds = tuple[int, int]  # (lowerBound, upperBound) of one job vertex's parallelism


class FlinkRest(HttpApi):
    """Calls against one JobManager at ``url`` (e.g. https://127.0.0.1:8081), each with a timeout;
    ``tls`` presents the cluster's client certificate (``hubscale.flink_tls.client_context``)."""

    default_timeout_s = DEFAULT_TIMEOUT_S

    async def overview(self) -> Overview:
        body = await self._request("GET", "/overview")
        return _parse(
            "/overview",
            body,
            lambda b: Overview(
                _int(b["taskmanagers"]),
                _int(b["slots-total"]),
                _int(b["slots-available"]),
                _int(b["jobs-running"]),
            ),
        )

    async def jobs(self) -> list[Job]:
        """Every job the cluster knows, finished ones included."""
        body = await self._request("GET", "/jobs/overview")
        return _parse("/jobs/overview", body, lambda b: [_job(j) for j in b["jobs"]])

    async def taskmanagers(self) -> list[TaskManagerSlots]:
        body = await self._request("GET", "/taskmanagers")
        return _parse(
            "/taskmanagers",
            body,
            lambda b: [
                TaskManagerSlots(_str(t["id"]), _int(t["slotsNumber"]), _int(t["freeSlots"]))
                for t in b["taskmanagers"]
            ],
        )

    async def resource_requirements(self, job_id: str) -> dict[str, Bounds]:
        """Each job vertex's parallelism bounds (adaptive scheduler)."""
        path = f"{_job_path(job_id)}/resource-requirements"
        body = await self._request("GET", path, job_id=job_id)
        return _parse(path, body, _bounds)

    async def set_resource_requirements(self, job_id: str, bounds: Mapping[str, Bounds]) -> None:
        """New bounds for the job's vertices; the adaptive scheduler rescales within them."""
        payload = {
            _checked_id(vertex): {"parallelism": {"lowerBound": lower, "upperBound": upper}}
            for vertex, (lower, upper) in bounds.items()
        }
        path = f"{_job_path(job_id)}/resource-requirements"
        await self._request("PUT", path, job_id=job_id, json=payload)

    async def vertex_parallelism(self, job_id: str) -> dict[str, int]:
        """The parallelism each vertex of the job runs with now."""
        path = _job_path(job_id)
        body = await self._request("GET", path, job_id=job_id)
        return _parse(
            path, body, lambda b: {_str(v["id"]): _int(v["parallelism"]) for v in b["vertices"]}
        )

    async def job_demand_slots(self) -> int:
        """Slots the cluster's live jobs want, streaming and batch together (``slot_demand``)."""
        return (await self.slot_demand()).total

    async def slot_demand(self) -> SlotDemand:
        """Slots the cluster's live jobs want, per kind of job.

        A streaming job (adaptive scheduler) wants the largest upper bound of its vertices. A
        vertex without a positive upper bound (none set; Flink's -1 means "no limit") counts its
        lower bound: a job that takes any number of slots must not grow the cluster to its cap. A
        job without requirements yet counts one slot (an INITIALIZING job's JobMaster answers 500
        for ~1 s); a job gone meanwhile counts none. A batch job wants a slot per task running or
        waiting for one, and at least one between its stages.
        """
        streaming = batch = 0
        for job in await self.jobs():
            if job.state not in DEMANDING_STATES:
                continue
            if not job.has_requirements:
                batch += max(1, job.slot_tasks)
                continue
            try:
                bounds = await self.resource_requirements(job.id)
            except FlinkJobNotFound:
                continue
            except FlinkUnavailable:
                if job.state != "INITIALIZING":
                    raise
                bounds = {}
            streaming += job_slots(bounds)
        return SlotDemand(streaming, batch)

    async def cancel(self, job_id: str) -> None:
        """Ask Flink to cancel the job; it reaches CANCELED shortly after."""
        path = _job_path(job_id)
        await self._request("PATCH", path, job_id=job_id, params={"mode": "cancel"})

    async def _request(
        self, method: str, path: str, job_id: str | None = None, **kwargs: Any
    ) -> Any:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as error:
            raise FlinkUnavailable(f"{method} {self.url}{path}: timed out ({error!r})") from error
        except httpx.HTTPError as error:
            raise FlinkUnavailable(f"{method} {self.url}{path}: {error!r}") from error
        except ssl.SSLError as error:  # a TLS alert on reading (TLS 1.3) escapes httpx unwrapped
            raise FlinkUnavailable(f"{method} {self.url}{path}: TLS: {error!r}") from error
        if job_id is not None and (
            response.status_code == 404 or "FlinkJobNotFoundException" in response.text
        ):
            raise FlinkJobNotFound(f"{self.url}: no job {job_id}", 404)
        if response.status_code >= 500:
            raise FlinkUnavailable(
                f"{method} {self.url}{path}: HTTP {response.status_code} {_errors(response)}"
            )
        if response.status_code >= 400:
            raise FlinkRequestRejected(
                f"{method} {self.url}{path}: HTTP {response.status_code} {_errors(response)}",
                response.status_code,
            )
        if not response.content:
            return None
        try:
            return json_body(response)
        except ValueError:
            raise FlinkBadResponse(
                f"{method} {self.url}{path}: HTTP {response.status_code}, not JSON: "
                f"{response.text[:80]!r}"
            ) from None


def job_slots(bounds: Mapping[str, Bounds]) -> int:
    """Slots one job wants with slot sharing: its largest upper bound (see ``job_demand_slots``)."""
    if not bounds:
        return 1
    return max(upper if upper > 0 else max(lower, 1) for lower, upper in bounds.values())


def _job_path(job_id: str) -> str:
    return f"/jobs/{_checked_id(job_id)}"


def _checked_id(value: str) -> str:
    """Flink's ids are 32 hex digits; anything else is a caller's bug, not a request to send."""
    if not _ID.match(value):
        raise ValueError(f"not a Flink job or vertex id: {value!r}")
    return value


def _job(entry: Any) -> Job:
    """One job of ``/jobs/overview``; a server's id that is not Flink's is a bad answer."""
    job_id = _str(entry["jid"])
    if not _ID.match(job_id):
        raise ValueError(f"not a Flink job id: {job_id!r}")
    tasks = entry.get("tasks", {})
    return Job(
        job_id,
        _str(entry["state"]),
        _str(entry["name"]),
        _str(entry.get("schedulerType", ADAPTIVE_SCHEDULER)),
        sum(_int(tasks.get(state, 0)) for state in SLOT_TASK_STATES),
    )


def _bounds(body: Any) -> dict[str, Bounds]:
    result: dict[str, Bounds] = {}
    for vertex, requirement in body.items():
        parallelism = requirement["parallelism"]
        lower = _int(parallelism.get("lowerBound", 1))
        upper = _int(parallelism.get("upperBound", -1))
        result[_str(vertex)] = (lower, upper)
    return result


def _parse(path: str, body: Any, parse: Callable[[Any], T]) -> T:
    try:
        return parse(body)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise FlinkBadResponse(f"{path}: unexpected answer {_short(body)}") from None


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"not an integer: {value!r}")
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"not a string: {value!r}")
    return value


def _errors(response: httpx.Response) -> str:
    """The gist of Flink's ``{"errors": [...]}`` (messages and stack traces) for the log."""
    try:
        errors = json_body(response).get("errors", [])
    except (ValueError, AttributeError):
        return repr(response.text[:80])
    if not isinstance(errors, list):
        return repr(response.text[:80])
    errors = [str(error) for error in errors]
    gist = []
    for error in errors:
        lines = error.splitlines() or [""]
        gist.append(next((line for line in lines if "Exception: " in line), lines[0]))
    return "; ".join(gist)[:300]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."
