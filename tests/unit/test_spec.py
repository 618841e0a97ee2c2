"""The ComputeCluster model: defaults, round trips, errors a person can act on, the CRD schema."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hubscale.spec import (
    QUANTITY_PATTERN,
    ComputeCluster,
    ComputeClusterSpec,
    SpecError,
    WorkerSize,
    cluster_to_yaml,
    load_cluster_yaml,
    openapi_schema,
    parse_cluster,
    parse_spec,
    show_typed,
)
from tests.builders import cluster_document

MINIMAL = {"owner": "alice", "engine": "spark"}
FULL = {
    "owner": "alice",
    "server": "gpu-box",
    "engine": "flink",
    "minWorkers": 1,
    "maxWorkers": 20,
    "worker": {"cores": 4, "memory": "8Gi"},
    "idleTimeoutSeconds": 1800,
    "userBudgetCores": 16,
    "headOnDemand": True,
}
CLUSTER_YAML = """\
apiVersion: hubscale.io/v1alpha1
kind: ComputeCluster
metadata:
  name: alice-spark
  namespace: hub
  labels: {app.kubernetes.io/name: hubscale}
  uid: 0b7a1c9e-1111-2222-3333-444455556666
  resourceVersion: "42"
  ownerReferences: [{apiVersion: v1, kind: Pod, name: jupyter-alice, uid: abc}]
spec:
  owner: alice
  engine: spark
  maxWorkers: 4
status:
  workers: 2
  desired: 3
  phase: Scaling
  lastScaleTime: "2024-05-01T12:00:00Z"
  reason: "backlog: 3 workers"
  conditions:
  - {type: Ready, status: "True", reason: Running, message: ok,
     lastTransitionTime: "2024-05-01T11:00:00Z"}
  policyState: {lastActive: 1714564800.0, pauses: [30.0, 45.5]}
"""


def spec_with(**changes: Any) -> dict[str, Any]:
    return {**MINIMAL, **changes}


def spec_error(data: Any) -> SpecError:
    with pytest.raises(SpecError) as caught:
        parse_spec(data)
    return caught.value


# Defaults and round trips


def test_minimal_document_gets_the_design_defaults():
    spec = parse_spec(MINIMAL)
    assert spec.to_document() == {
        "owner": "alice",
        "server": "",
        "engine": "spark",
        "minWorkers": 0,
        "maxWorkers": 8,
        "worker": {"cores": 1, "memory": "2Gi"},
        "idleTimeoutSeconds": 600,
    }
    assert (spec.min_workers, spec.max_workers, spec.idle_timeout_seconds) == (0, 8, 600)


def test_head_on_demand_is_written_only_when_on():
    assert "headOnDemand" not in parse_spec(MINIMAL).to_document()
    on = parse_spec({**MINIMAL, "headOnDemand": True})
    assert on.head_on_demand and on.to_document()["headOnDemand"] is True


def test_full_document_round_trips_unchanged():
    assert parse_spec(FULL).to_document() == FULL


def test_snake_case_names_work_in_python():
    spec = ComputeClusterSpec(owner="bob", engine="flink", max_workers=3, idle_timeout_seconds=5)
    assert spec.to_document()["maxWorkers"] == 3
    document = {"owner": "bob", "engine": "flink", "maxWorkers": 3, "idleTimeoutSeconds": 5}
    assert spec == parse_spec(document)


def test_spec_is_frozen_and_hashable():
    spec = parse_spec(MINIMAL)
    with pytest.raises(ValueError):
        spec.max_workers = 3  # type: ignore[misc]
    assert hash(spec) == hash(parse_spec(MINIMAL))


def test_worker_memory_converts_to_bytes_and_mib():
    worker = WorkerSize(cores=2, memory="1.5Gi")
    assert worker.memory_bytes == 1536 * 2**20
    assert worker.memory_mib == 1536
    assert WorkerSize(memory="1G").memory_mib == 953


def test_cluster_yaml_round_trips_and_keeps_kubernetes_metadata():
    cluster = load_cluster_yaml(CLUSTER_YAML)
    assert cluster.spec.max_workers == 4
    assert cluster.status is not None
    assert cluster.status.policy_state == {"lastActive": 1714564800.0, "pauses": (30.0, 45.5)}
    assert cluster.status.conditions[0].last_transition_time == "2024-05-01T11:00:00Z"
    document = cluster.to_document()
    assert document["metadata"]["resourceVersion"] == "42"
    assert document["metadata"]["ownerReferences"][0]["name"] == "jupyter-alice"
    assert load_cluster_yaml(cluster_to_yaml(cluster)) == cluster


def test_cluster_without_status_leaves_status_out():
    cluster = parse_cluster(cluster_document())
    assert cluster.status is None
    assert "status" not in cluster.to_document()
    assert "namespace" not in cluster.to_document()["metadata"]


def test_unquoted_yaml_timestamp_is_kept_as_rfc3339_text():
    text = CLUSTER_YAML.replace('"2024-05-01T12:00:00Z"', "2024-05-01T12:00:00Z")
    cluster = load_cluster_yaml(text)
    assert cluster.status is not None
    assert cluster.status.last_scale_time == "2024-05-01T12:00:00Z"


@given(
    low=st.integers(0, 1000),
    extra=st.integers(0, 1000),
    cores=st.integers(1, 64),
    mib=st.integers(128, 2**20),
    idle=st.integers(0, 7 * 24 * 3600),
    engine=st.sampled_from(["spark", "flink"]),
)
def test_every_valid_spec_round_trips(low, extra, cores, mib, idle, engine):
    doc = spec_with(
        engine=engine,
        minWorkers=min(low, 1000 - extra),
        maxWorkers=min(low + extra, 1000),
        worker={"cores": cores, "memory": f"{mib}Mi"},
        idleTimeoutSeconds=idle,
    )
    spec = parse_spec(doc)
    assert spec.to_document() == {**doc, "server": ""}
    assert spec.worker.memory_mib == mib


# Errors name the field


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"engine": "hadoop"}, "spec.engine", "must be one of spark, flink (got 'hadoop')"),
        ({"engine": None}, "spec.engine", "must be one of spark, flink (got null)"),
        ({"minWorkers": -1}, "spec.minWorkers", "must be at least 0, got -1"),
        ({"maxWorkers": 100000}, "spec.maxWorkers", "must be at most 1000, got 100000"),
        ({"idleTimeoutSeconds": 10**9}, "spec.idleTimeoutSeconds", "must be at most 604800"),
        ({"maxWorkers": "3"}, "spec.maxWorkers", "must be an integer, got str '3'"),
        ({"maxWorkers": True}, "spec.maxWorkers", "must be an integer, got bool true"),
        ({"maxWorkers": 2.5}, "spec.maxWorkers", "must be an integer, got float 2.5"),
        ({"worker": [1, 2]}, "spec.worker", "must be a mapping, got list [1, 2]"),
        ({"owner": ""}, "spec.owner", "must not be empty"),
        ({"owner": "a/b"}, "spec.owner", "must not contain '/'"),
        ({"owner": "x" * 254}, "spec.owner", "must be at most 253 characters"),
        ({"server": "tab\there"}, "spec.server", "must not contain '/' or control"),
        ({"foo": 1}, "spec.foo", "unknown field"),
    ],
)
def test_bad_spec_value_names_the_field(changes, field, reason):
    err = spec_error(spec_with(**changes))
    assert err.field == field
    assert err.reason.startswith(reason)
    assert str(err) == f"{field}: {err.reason}"


@pytest.mark.parametrize(
    ("worker", "field", "reason"),
    [
        ({"memory": "2 GB"}, "spec.worker.memory", "not a Kubernetes quantity: '2 GB'"),
        ({"memory": "lots"}, "spec.worker.memory", "not a Kubernetes quantity: 'lots'"),
        ({"memory": "-1Gi"}, "spec.worker.memory", "must be positive, got '-1Gi'"),
        ({"memory": "64Mi"}, "spec.worker.memory", "must be at least 128Mi, got '64Mi'"),
        ({"memory": "100Ti"}, "spec.worker.memory", "must be at most 1Ti, got '100Ti'"),
        ({"memory": 2147483648}, "spec.worker.memory", "must be a string, got int 2147483648"),
        ({"cores": 1000}, "spec.worker.cores", "must be at most 64, got 1000"),
        ({"cores": 0}, "spec.worker.cores", "must be at least 1, got 0"),
        ({"gpus": 1}, "spec.worker.gpus", "unknown field"),
    ],
)
def test_bad_worker_names_the_worker_field(worker, field, reason):
    err = spec_error(spec_with(worker=worker))
    assert (err.field, err.reason) == (field, reason)


def test_min_above_max_names_max_workers():
    err = spec_error(spec_with(minWorkers=3, maxWorkers=2))
    assert str(err) == "spec.maxWorkers: must be at least minWorkers (3), got 2"


@pytest.mark.parametrize("missing", ["owner", "engine"])
def test_missing_required_field_is_named(missing):
    doc = dict(MINIMAL)
    del doc[missing]
    err = spec_error(doc)
    assert (err.field, err.reason) == (f"spec.{missing}", "is required")


def test_several_problems_are_reported_together_first_one_as_field():
    err = spec_error({"engine": "hadoop", "maxWorkers": -1, "bogus": 1})
    assert err.field == "spec.owner"
    assert [field for field, _ in err.problems] == [
        "spec.owner",
        "spec.engine",
        "spec.maxWorkers",
        "spec.bogus",
    ]
    assert str(err) == "; ".join(f"{field}: {reason}" for field, reason in err.problems)


def test_spec_that_is_not_a_mapping_is_named_spec():
    err = spec_error(["owner", "alice"])
    assert (err.field, err.reason) == ("spec", "must be a mapping, got list ['owner', 'alice']")


def test_direct_construction_raises_spec_error_not_pydantic_error():
    with pytest.raises(SpecError) as caught:
        ComputeClusterSpec(owner="alice", engine="spark", worker={"cores": 0})
    assert str(caught.value) == "spec.worker.cores: must be at least 1, got 0"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"apiVersion": "v1"}, "apiVersion", "must be hubscale.io/v1alpha1 (got 'v1')"),
        ({"kind": "Pod"}, "kind", "must be ComputeCluster (got 'Pod')"),
        ({"metadata": {"name": "Alice_Spark"}}, "metadata.name", "must be a DNS-1123 label"),
        ({"metadata": {"name": "a" * 64}}, "metadata.name", "must be at most 63 characters"),
        ({"metadata": {}}, "metadata.name", "is required"),
        ({"metadata": {"name": "a", "labels": {"x": 1}}}, "metadata.labels.x", "must be a string"),
        ({"spec": {"owner": "alice"}}, "spec.engine", "is required"),
        ({"status": {"phase": "Done"}}, "status.phase", "must be one of Pending, Ready,"),
        ({"status": {"lastScaleTime": "yesterday"}}, "status.lastScaleTime", "must be an RFC"),
        ({"status": {"workers": -1}}, "status.workers", "must be at least 0"),
        ({"status": {"policyState": {"x": "y"}}}, "status.policyState.x", "must be a finite"),
        ({"status": {"policyState": {"x": [1, float("nan")]}}}, "status.policyState.x", "must"),
        ({"status": {"conditions": [{"type": "Ready"}]}}, "status.conditions[0].status", "is"),
        ({"status": {"surprise": 1}}, "status.surprise", "unknown field"),
    ],
)
def test_bad_cluster_document_names_the_field(changes, field, reason):
    with pytest.raises(SpecError) as caught:
        parse_cluster({**cluster_document(), **changes})
    assert caught.value.field == field
    assert caught.value.reason.startswith(reason)


def test_yaml_syntax_error_names_the_document_and_line():
    with pytest.raises(SpecError) as caught:
        load_cluster_yaml("spec: [owner: alice\nkind: x\n")
    assert caught.value.field == "<document>"
    assert caught.value.reason.startswith("not valid YAML:")
    assert "line 2" in caught.value.reason


@pytest.mark.parametrize(("text", "got"), [("- 1\n", "list [1]"), ("", "null"), ("3", "int 3")])
def test_yaml_that_is_not_a_mapping_is_rejected(text, got):
    with pytest.raises(SpecError) as caught:
        load_cluster_yaml(text)
    assert str(caught.value) == f"<document>: must be a mapping, got {got}"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


@given(
    st.dictionaries(
        st.sampled_from([*FULL, "bogus"]) | st.text(max_size=5), json_values, max_size=8
    )
)
def test_any_document_either_parses_or_raises_spec_error(doc):
    try:
        parse_spec(doc)
    except SpecError as err:
        assert err.field.startswith("spec")
        assert err.problems[0] == (err.field, err.reason)


@given(st.from_regex(QUANTITY_PATTERN, fullmatch=True))
def test_any_kubernetes_quantity_is_accepted_or_named_as_memory(memory):
    try:
        worker = WorkerSize(memory=memory)
    except SpecError as err:
        assert err.field == "spec.worker.memory"
    else:
        assert 128 * 2**20 <= worker.memory_bytes <= 2**40


# The CRD schema


def walk(node: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every schema node with its path."""
    found = [(path, node)]
    for name, sub in node.get("properties", {}).items():
        found += walk(sub, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            found += walk(node[key], f"{path}[{key}]")
    return found


def test_openapi_schema_is_structural():
    for path, node in walk(openapi_schema()):
        assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), path
        for forbidden in ("$ref", "$defs", "anyOf", "oneOf", "allOf", "not", "title", "const"):
            assert forbidden not in node, (path, forbidden)
        assert node.get("additionalProperties") is not False, path
        assert not ("properties" in node and "additionalProperties" in node), path


def test_every_schema_property_has_a_description_for_kubectl_explain():
    for path, node in walk(openapi_schema()):
        if path.count(".") and not path.endswith("]"):
            assert node.get("description"), path


def test_openapi_spec_agrees_with_the_model():
    spec = openapi_schema()["properties"]["spec"]
    props = spec["properties"]
    assert set(props) == set(FULL)
    assert spec["required"] == ["owner", "engine"]
    assert props["engine"]["enum"] == ["spark", "flink"]
    assert (props["minWorkers"]["minimum"], props["maxWorkers"]["maximum"]) == (0, 1000)
    assert props["idleTimeoutSeconds"]["maximum"] == 7 * 24 * 3600
    cores = props["worker"]["properties"]["cores"]
    assert (cores["minimum"], cores["maximum"]) == (1, 64)
    defaults = {name: node["default"] for name, node in props.items() if "default" in node}
    model = parse_spec(MINIMAL).model_dump(mode="json", by_alias=True)
    assert defaults == {k: v for k, v in model.items() if k in defaults}
    assert set(defaults) == set(FULL) - {"owner", "engine", "userBudgetCores"}
    assert (props["userBudgetCores"]["minimum"], props["userBudgetCores"]["nullable"]) == (1, True)


def test_openapi_memory_pattern_matches_quantities_only():
    memory = openapi_schema()["properties"]["spec"]["properties"]["worker"]["properties"]["memory"]
    assert memory["type"] == "string"
    pattern = re.compile(memory["pattern"])
    assert all(pattern.match(ok) for ok in ["2Gi", "512Mi", "1.5G", "1e9", "+3Ki"])
    assert not any(pattern.match(bad) for bad in ["2 GB", "lots", "2GB", "1e3Gi", ""])


def test_openapi_status_shapes():
    status = openapi_schema()["properties"]["status"]["properties"]
    assert status["phase"]["enum"] == ["Pending", "Ready", "Scaling", "Idle", "Error"]
    assert status["lastScaleTime"] == {
        "type": "string",
        "format": "date-time",
        "nullable": True,
        "description": status["lastScaleTime"]["description"],
    }
    condition = status["conditions"]["items"]
    assert condition["properties"]["status"]["enum"] == ["True", "False", "Unknown"]
    assert set(condition["required"]) == {"type", "status", "lastTransitionTime"}
    assert status["policyState"]["type"] == "object"
    assert status["policyState"]["additionalProperties"] == {
        "x-kubernetes-preserve-unknown-fields": True
    }


def test_openapi_schema_top_level_is_spec_and_status():
    schema = openapi_schema()
    assert schema["type"] == "object"
    assert set(schema["properties"]) == {"spec", "status"}
    assert schema["required"] == ["spec"]
    assert ComputeCluster.__doc__ == schema["description"]


def test_an_error_quotes_any_value_in_bounded_work():
    """A value's repr is built only as far as the message shows it: a shared graph of 10**30
    leaves (what nested YAML aliases give) is quoted at once, not walked."""
    value: object = [0] * 10
    for _ in range(30):
        value = [value] * 10
    quoted: list[str] = []
    worker = threading.Thread(target=lambda: quoted.append(show_typed(value)), daemon=True)
    worker.start()
    worker.join(timeout=60)  # the full repr would take longer than the universe has
    assert quoted and quoted[0].startswith("list [[[") and len(quoted[0]) <= 65


yaml_texts = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=200).map(lambda raw: raw.decode("utf-8", "replace")),
    st.lists(st.sampled_from(list(CLUSTER_YAML.splitlines())), max_size=30).map("\n".join),
    st.sampled_from(["&a [*a]", "!!python/object:os.system x", "{" * 5000, "- " * 3000]),
)


@given(yaml_texts)
def test_any_yaml_text_either_loads_or_raises_spec_error(text):
    """A file in the clusters directory is whatever a user or a crash left there."""
    try:
        load_cluster_yaml(text)
    except SpecError as err:
        assert len(str(err)) < 1000


@pytest.mark.parametrize(
    "text", ["[" * 5000, "- " * 3000, "a:\n" + "".join(" " * i + "b:\n" for i in range(1, 400))]
)
def test_yaml_nested_too_deeply_is_a_spec_error_not_a_recursion_error(text):
    with pytest.raises(SpecError, match="nested deeper than 64 levels"):
        load_cluster_yaml(text)
