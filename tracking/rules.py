"""Who may do what to the tracking server: a pure reading of one request, no I/O.

The team reads everything; a run is written only by its user (whom the hub names, whatever the
client says); an experiment is changed only by who created it. Anything else that would write is
refused, so an MLflow endpoint added later stays closed until a rule here opens it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

RUN_USER_TAG = "mlflow.user"  # MLflow's own tag for a run's user; the service sets it
EXPERIMENT_OWNER_TAG = "hubscale.owner"  # who created an experiment; the service sets it
PROTECTED_TAGS = frozenset({RUN_USER_TAG, EXPERIMENT_OWNER_TAG})
READ_METHODS = frozenset({"GET", "HEAD"})
# POSTs that only read (MLflow searches take their filters in a body).
READ_POSTS = frozenset(
    {
        "runs/search",
        "experiments/search",
        "experiments/search-datasets",
        "logged-models/search",
        "model-versions/search",
        "registered-models/search",
    }
)
RUN_WRITES = frozenset(
    {
        "runs/log-metric",
        "runs/log-parameter",
        "runs/log-batch",
        "runs/log-model",
        "runs/log-inputs",
        "runs/log-outputs",
        "runs/set-tag",
        "runs/delete-tag",
        "runs/update",
        "runs/delete",
        "runs/restore",
    }
)
EXPERIMENT_WRITES = frozenset(
    {
        "experiments/update",
        "experiments/delete",
        "experiments/restore",
        "experiments/set-experiment-tag",
        "experiments/delete-experiment-tag",
    }
)
# /api/2.0/mlflow/<endpoint>, also /ajax-api/ (the web UI's spelling) and /api/3.0/.
API_PATH = re.compile(r"(?:ajax-)?api/[23]\.0/mlflow/(?P<endpoint>.+)")
# Artifact writes: uploads (PUT), deletes, and multipart uploads (POST) of one path.
ARTIFACT_PATH = re.compile(
    r"(?:ajax-)?api/2\.0/mlflow-artifacts/(?:artifacts|mpu/(?:create|complete|abort))/(?P<path>.+)"
)
LOGGED_MODEL = re.compile(r"logged-models/(?P<model_id>[^/]+)(?:/.*)?")
GRAPHQL = "graphql"  # the web UI's queries; MLflow's schema has searches only


class Refused(Exception):
    """The request is not allowed (or not understood); ``status`` is the HTTP answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Read:
    """Forward as it is: any hub user may read."""


@dataclass(frozen=True, slots=True)
class CreateRun:
    """Forward with the caller as the run's user (``body`` rewritten)."""

    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CreateExperiment:
    """Forward with the caller recorded as the experiment's owner (``body`` rewritten)."""

    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RunWrite:
    """Forward if the run's user is the caller (and the run is in ``experiment_id`` if given)."""

    run_id: str
    experiment_id: str | None = None


@dataclass(frozen=True, slots=True)
class ModelWrite:
    """Forward if the logged model's source run is the caller's."""

    model_id: str


@dataclass(frozen=True, slots=True)
class CreateModel:
    """Forward if the model's source run is the caller's."""

    run_id: str


@dataclass(frozen=True, slots=True)
class ExperimentWrite:
    """Forward if the caller created the experiment."""

    experiment_id: str


Action = Read | CreateRun | CreateExperiment | RunWrite | ModelWrite | CreateModel | ExperimentWrite


def classify(method: str, path: str, body: bytes, caller: str) -> Action:
    """What a request to the tracking server (``path`` relative to the service) asks for.

    Raises ``Refused`` (400 for a malformed request, 403 for a write the model does not allow).
    """
    path = unquote(path.lstrip("/"))
    method = method.upper()
    artifact = ARTIFACT_PATH.fullmatch(path)
    if method in READ_METHODS:
        return Read()
    if artifact is not None:
        if method not in ("PUT", "DELETE", "POST"):
            raise Refused(405, f"{method} is not an artifact operation")
        return _artifact_write(artifact["path"])
    if path == GRAPHQL and method == "POST":
        return Read()
    api = API_PATH.fullmatch(path)
    if api is None:
        raise Refused(403, f"{method} /{path} is not offered through the hub's tracking service")
    return _api_write(method, api["endpoint"].rstrip("/"), body, caller)


def _api_write(method: str, endpoint: str, body: bytes, caller: str) -> Action:
    if method == "POST" and endpoint in READ_POSTS:
        return Read()
    model = LOGGED_MODEL.fullmatch(endpoint)
    if model is not None and endpoint != "logged-models/search":
        return ModelWrite(_identifier(model["model_id"], "model_id"))
    if method != "POST":
        raise Refused(403, f"{method} {endpoint} is not offered through the hub's tracking service")
    fields = _json_object(body)
    if endpoint == "runs/create":
        return CreateRun(attributed_run(fields, caller))
    if endpoint in RUN_WRITES:
        _no_protected_tags(endpoint, fields)
        run_id = fields.get("run_id") or fields.get("run_uuid")
        return RunWrite(_identifier(run_id, "run_id"))
    if endpoint == "logged-models":
        source_run = fields.get("source_run_id")
        if not source_run:
            raise Refused(403, "a logged model needs its source_run_id: a run of yours")
        return CreateModel(_identifier(source_run, "source_run_id"))
    if endpoint == "experiments/create":
        return CreateExperiment(owned_experiment(fields, caller))
    if endpoint in EXPERIMENT_WRITES:
        _no_protected_tags(endpoint, fields)
        return ExperimentWrite(_identifier(fields.get("experiment_id"), "experiment_id"))
    raise Refused(403, f"POST {endpoint} is not offered through the hub's tracking service")


def _artifact_write(path: str) -> Action:
    """``<experiment>/<run>/artifacts/...`` (a run's) or ``<experiment>/models/<id>/...``."""
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise Refused(400, f"artifact path {path!r} has an empty, '.' or '..' part")
    if len(parts) >= 4 and parts[2] == "artifacts":
        return RunWrite(parts[1], experiment_id=parts[0])
    if len(parts) >= 4 and parts[1] == "models":
        return ModelWrite(parts[2])
    raise Refused(403, f"artifact path {path!r} is not a run's nor a logged model's")


def attributed_run(fields: dict[str, Any], caller: str) -> dict[str, Any]:
    """``runs/create``'s body with the caller as ``user_id`` and ``mlflow.user`` tag."""
    tags = [tag for tag in _tags(fields) if tag.get("key") != RUN_USER_TAG]
    return {**fields, "user_id": caller, "tags": [*tags, {"key": RUN_USER_TAG, "value": caller}]}


def owned_experiment(fields: dict[str, Any], caller: str) -> dict[str, Any]:
    """``experiments/create``'s body with the caller as owner; artifacts stay where the
    platform keeps them (a location of the client's choosing could name the server's files)."""
    if fields.get("artifact_location"):
        raise Refused(400, "artifact_location is set by the platform, not by the client")
    tags = [tag for tag in _tags(fields) if tag.get("key") != EXPERIMENT_OWNER_TAG]
    owner = {"key": EXPERIMENT_OWNER_TAG, "value": caller}
    return {**fields, "tags": [*tags, owner]}


def _tags(fields: dict[str, Any]) -> list[dict[str, Any]]:
    tags = fields.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(tag, dict) for tag in tags):
        raise Refused(400, "tags must be a list of {key, value} objects")
    return tags


def _no_protected_tags(endpoint: str, fields: dict[str, Any]) -> None:
    keys = {fields.get("key"), *(tag.get("key") for tag in _tags(fields))}
    touched = sorted(PROTECTED_TAGS & keys)
    if touched:
        raise Refused(403, f"{endpoint}: tag {touched[0]!r} is set by the hub, not by clients")


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        fields = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise Refused(400, "the request body is not JSON") from None
    if not isinstance(fields, dict):
        raise Refused(400, "the request body is not a JSON object")
    return fields


def _identifier(value: object, name: str) -> str:
    if not isinstance(value, str) or not value or "/" in value:
        raise Refused(400, f"{name} must be a non-empty string without '/': {value!r}")
    return value
