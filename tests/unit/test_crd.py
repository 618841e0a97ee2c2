"""The ComputeCluster CRD: generated from the model, valid for Kubernetes, what kubectl shows."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from hubscale import crd
from hubscale.spec import ComputeCluster, parse_cluster
from tests.kube.schemas import assert_valid

EXAMPLE = {
    "apiVersion": "hubscale.io/v1alpha1",
    "kind": "ComputeCluster",
    "metadata": {"name": "alice-spark", "namespace": "hub"},
    "spec": {"owner": "alice@example.org", "engine": "spark", "maxWorkers": 4},
    "status": {
        "workers": 2,
        "desired": 3,
        "phase": "Scaling",
        "lastScaleTime": "2024-05-01T12:00:00Z",
        "reason": "backlog needs 3 workers",
        "conditions": [
            {"type": "Ready", "status": "False", "reason": "Scaling",
             "lastTransitionTime": "2024-05-01T12:00:00Z"}
        ],
        "policyState": {"below_since": 1714564800.0, "history": [1.0, 2.0]},
    },
}  # fmt: skip


def _validator() -> jsonschema.Validator:
    return jsonschema.Draft4Validator(crd.schema())


def test_committed_crd_is_the_generated_one():
    assert crd.CHART_PATH.read_text(encoding="utf-8") == crd.render(), (
        "helm/hubscale/crds/computeclusters.yaml is stale: run python -m hubscale.crd --write"
    )


def test_check_flag_reports_a_stale_file(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "computeclusters.yaml"
    stale.write_text("# old\n")
    monkeypatch.setattr(crd, "CHART_PATH", stale)
    assert crd.main(["--check"]) == 1
    assert "stale" in capsys.readouterr().err
    assert crd.main(["--write"]) == 0
    assert crd.main(["--check"]) == 0


def test_crd_validates_strictly_against_the_kubernetes_schema():
    assert_valid(crd.crd())


def test_crd_is_namespaced_with_short_name_status_subresource_and_category():
    spec = crd.crd()["spec"]
    version = spec["versions"][0]
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["shortNames"] == ["cc"]
    assert "hubscale" in spec["names"]["categories"]
    assert version["subresources"] == {"status": {}}
    assert version["name"] == "v1alpha1" and version["storage"] is True


def _resolve(document: dict[str, Any], json_path: str) -> Any:
    node: Any = document
    for part in json_path.strip(".").split("."):
        node = node[part]
    return node


def test_printer_columns_show_user_engine_workers_desired_phase_head_reason_age():
    columns = {c["name"]: c for c in crd.PRINTER_COLUMNS}
    assert list(columns) == [
        "User", "Engine", "Workers", "Desired", "Phase", "Head", "Reason", "Age"
    ]  # fmt: skip
    assert columns["Reason"]["priority"] == 1  # only with -o wide
    document = {**EXAMPLE, "metadata": {**EXAMPLE["metadata"], "creationTimestamp": "x"}}
    # the HeadRunning condition's status (kubectl against the double resolves the filter)
    assert columns["Head"]["jsonPath"] == '.status.conditions[?(@.type=="HeadRunning")].status'
    shown = {
        name: _resolve(document, c["jsonPath"])
        for name, c in columns.items()
        if "[" not in c["jsonPath"]
    }
    assert shown["User"] == "alice@example.org"
    assert (shown["Workers"], shown["Desired"], shown["Phase"]) == (2, 3, "Scaling")


def test_a_document_the_model_accepts_passes_the_crd_schema():
    document = parse_cluster(EXAMPLE).to_document()
    _validator().validate(document)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("spec", "engine"), "hadoop"),
        (("spec", "worker"), {"cores": 0, "memory": "2Gi"}),
        (("spec", "worker"), {"cores": 1, "memory": "lots"}),
        (("metadata", "name"), "Alice_Spark"),
        (("status", "phase"), "Running"),
    ],
)
def test_the_crd_schema_refuses_what_the_model_refuses(path, value):
    document = {**EXAMPLE, path[0]: {**EXAMPLE[path[0]], path[1]: value}}
    with pytest.raises(jsonschema.ValidationError):
        _validator().validate(document)
    with pytest.raises(ValueError):
        ComputeCluster.model_validate(document)


def test_cross_field_rules_are_cel_rules_the_api_server_enforces():
    spec = crd.schema()["properties"]["spec"]
    assert spec["x-kubernetes-validations"][0]["rule"] == "self.minWorkers <= self.maxWorkers"
    engine = spec["properties"]["engine"]
    assert engine["x-kubernetes-validations"][0]["rule"] == "self == oldSelf"
