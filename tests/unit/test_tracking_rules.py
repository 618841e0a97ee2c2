"""The tracking service's permission model, read from requests alone (``tracking.rules``)."""

from __future__ import annotations

import json

import pytest

from tracking.rules import (
    CreateExperiment,
    CreateModel,
    CreateRun,
    ExperimentWrite,
    ModelWrite,
    Read,
    Refused,
    RunWrite,
    classify,
)
from tracking.service import RunOwners

RUN = "0123456789abcdef0123456789abcdef"


def body(**fields: object) -> bytes:
    return json.dumps(fields).encode()


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        ("GET", "api/2.0/mlflow/runs/get?run_id=x", b""),
        ("GET", "", b""),
        ("GET", "static-files/static/js/main.js", b""),
        ("POST", "api/2.0/mlflow/runs/search", body(experiment_ids=["0"])),
        ("POST", "ajax-api/2.0/mlflow/experiments/search", body()),
        ("POST", "graphql", body(query="{ mlflowGetRun }")),
    ],
)
def test_reads_are_anyones(method: str, path: str, payload: bytes):
    assert classify(method, path, payload, "bob") == Read()


def test_a_created_run_is_the_callers_whatever_the_client_claimed():
    claimed = body(
        experiment_id="0",
        user_id="alice",
        tags=[{"key": "mlflow.user", "value": "alice"}, {"key": "team", "value": "x"}],
    )

    action = classify("POST", "api/2.0/mlflow/runs/create", claimed, "mallory")

    assert action == CreateRun(
        {
            "experiment_id": "0",
            "user_id": "mallory",
            "tags": [{"key": "team", "value": "x"}, {"key": "mlflow.user", "value": "mallory"}],
        }
    )


@pytest.mark.parametrize(
    ("method", "path", "payload", "expected"),
    [
        ("POST", "api/2.0/mlflow/runs/log-metric", body(run_id=RUN, key="m"), RunWrite(RUN)),
        ("POST", "ajax-api/2.0/mlflow/runs/delete", body(run_id=RUN), RunWrite(RUN)),
        ("POST", "api/2.0/mlflow/runs/update", body(run_uuid=RUN), RunWrite(RUN)),
        (
            "PUT",
            f"api/2.0/mlflow-artifacts/artifacts/3/{RUN}/artifacts/notes/a.txt",
            b"hello",
            RunWrite(RUN, experiment_id="3"),
        ),
        (
            "POST",
            f"api/2.0/mlflow-artifacts/mpu/create/3/{RUN}/artifacts/big.bin",
            body(),
            RunWrite(RUN, experiment_id="3"),
        ),
        (
            "PUT",
            "api/2.0/mlflow-artifacts/artifacts/3/models/m-1/artifacts/MLmodel",
            b"x",
            ModelWrite("m-1"),
        ),
        ("PATCH", "api/2.0/mlflow/logged-models/m-1", body(), ModelWrite("m-1")),
        ("POST", "api/2.0/mlflow/logged-models", body(source_run_id=RUN), CreateModel(RUN)),
        (
            "POST",
            "api/2.0/mlflow/experiments/delete",
            body(experiment_id="3"),
            ExperimentWrite("3"),
        ),
    ],
)
def test_writes_name_what_they_change(method: str, path: str, payload: bytes, expected: object):
    assert classify(method, path, payload, "bob") == expected


def test_a_created_experiment_records_its_creator():
    action = classify("POST", "api/2.0/mlflow/experiments/create", body(name="e"), "bob")

    assert action == CreateExperiment(
        {"name": "e", "tags": [{"key": "hubscale.owner", "value": "bob"}]}
    )


@pytest.mark.parametrize(
    ("method", "path", "payload", "status"),
    [
        ("POST", "api/2.0/mlflow/runs/log-batch", b"{not json", 400),
        ("POST", "api/2.0/mlflow/runs/log-metric", body(key="m"), 400),
        ("POST", "api/2.0/mlflow/runs/set-tag", body(run_id=RUN, key="mlflow.user"), 403),
        (
            "POST",
            "api/2.0/mlflow/runs/log-batch",
            body(run_id=RUN, tags=[{"key": "mlflow.user", "value": "alice"}]),
            403,
        ),
        ("POST", "api/2.0/mlflow/experiments/create", body(name="e", artifact_location="/"), 400),
        ("PUT", f"api/2.0/mlflow-artifacts/artifacts/3/{RUN}/artifacts/../x", b"x", 400),
        ("PUT", "api/2.0/mlflow-artifacts/artifacts/3/%2e%2e/x/y", b"x", 400),
        ("PUT", "api/2.0/mlflow-artifacts/artifacts/elsewhere.txt", b"x", 403),
        ("POST", "api/2.0/mlflow/registered-models/create", body(name="m"), 403),
        ("POST", "ajax-api/2.0/mlflow/upload-artifact", body(), 403),
        ("POST", "api/2.0/mlflow/logged-models", body(experiment_id="3"), 403),
        ("DELETE", "anything/else", b"", 403),
    ],
)
def test_anything_else_is_refused_with_a_reason(
    method: str, path: str, payload: bytes, status: int
):
    with pytest.raises(Refused) as refused:
        classify(method, path, payload, "bob")

    assert refused.value.status == status
    assert refused.value.message


def test_the_service_remembers_the_owners_of_the_most_recently_used_runs():
    owners = RunOwners(size=2)
    owners.put("r1", "ana", "0")
    owners.put("r2", "ben", "0")
    owners.get("r1")
    owners.put("r3", "ana", "3")

    assert (owners.get("r1"), owners.get("r2"), owners.get("r3")) == (
        ("ana", "0"),
        None,
        ("ana", "3"),
    )
