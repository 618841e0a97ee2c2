"""The Kubernetes objects of a cluster: valid for Kubernetes, labelled, owned, configured."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from autoscaler.backends import kube_manifests as km
from autoscaler.backends.flink_conf import shipped_java_opts
from autoscaler.spec import parse_cluster
from tests.kube.schemas import assert_valid

SETTINGS = km.ClusterSettings("hub", "hubscale/spark:4.3.0", "hubscale/flink:2.3.0")
UID = "0b6c7c1e-5f2a-4a57-9d0e-3d2b1f9e8a11"
SECRET = "s3cr3t-token"


def cluster(engine: str, name: str = "alice-spark", owner: str = "alice", **spec):
    return parse_cluster(
        {
            "apiVersion": "hubscale.io/v1alpha1",
            "kind": "ComputeCluster",
            "metadata": {"name": name, "namespace": "hub"},
            "spec": {"owner": owner, "engine": engine, **spec},
        }
    )


def by_kind(objects):
    return {(o["kind"], o["metadata"]["labels"][km.ROLE_LABEL]): o for o in objects}


@pytest.mark.parametrize("engine", ["spark", "flink"])
def test_every_object_validates_strictly_against_the_kubernetes_schemas(engine):
    for manifest in km.cluster_objects(cluster(engine), UID, SETTINGS, SECRET):
        assert_valid(manifest)


def test_spark_cluster_is_secret_policy_service_master_and_workers():
    objects = by_kind(km.cluster_objects(cluster("spark"), UID, SETTINGS, SECRET))
    assert set(objects) == {
        ("Secret", "config"),
        ("NetworkPolicy", "ingress"),
        ("Service", "master"),
        ("Deployment", "master"),
        ("Deployment", "worker"),
    }


def test_flink_cluster_is_secret_policy_service_jobmanager_and_taskmanagers():
    objects = by_kind(km.cluster_objects(cluster("flink", "bob-flink"), UID, SETTINGS, SECRET))
    assert set(objects) == {
        ("Secret", "config"),
        ("NetworkPolicy", "ingress"),
        ("Service", "jobmanager"),
        ("Deployment", "jobmanager"),
        ("Deployment", "taskmanager"),
    }


@pytest.mark.parametrize("engine", ["spark", "flink"])
def test_every_object_is_owned_by_the_compute_cluster_and_labelled(engine):
    for manifest in km.cluster_objects(cluster(engine), UID, SETTINGS, SECRET):
        assert manifest["metadata"]["ownerReferences"] == [
            {"apiVersion": "hubscale.io/v1alpha1", "kind": "ComputeCluster",
             "name": "alice-spark", "uid": UID, "controller": True, "blockOwnerDeletion": True}
        ]  # fmt: skip
        found = manifest["metadata"]["labels"]
        assert found[km.CLUSTER_LABEL] == "alice-spark"
        assert found[km.USER_LABEL] == "alice"
        assert found[km.ENGINE_LABEL] == engine


def test_worker_pods_are_labelled_scraped_and_sized_from_the_spec():
    worker = by_kind(
        km.cluster_objects(
            cluster("spark", worker={"cores": 3, "memory": "4Gi"}, minWorkers=2),
            UID,
            SETTINGS,
            SECRET,
        )
    )[("Deployment", "worker")]
    template = worker["spec"]["template"]
    assert template["metadata"]["labels"][km.ROLE_LABEL] == "worker"
    assert worker["spec"]["selector"]["matchLabels"] == {
        km.CLUSTER_LABEL: "alice-spark", km.ROLE_LABEL: "worker"
    }  # fmt: skip
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert (annotations["prometheus.io/port"], annotations["prometheus.io/path"]) == (
        "8081", "/metrics/prometheus/"
    )  # fmt: skip
    container = template["spec"]["containers"][0]
    assert container["resources"]["requests"] == {"cpu": "3", "memory": f"{4096 + 512}Mi"}
    assert "--cores" in container["command"] and "3" in container["command"]
    assert worker["spec"]["replicas"] == 2  # created at minWorkers; ``scale`` owns it afterwards


def test_spark_secret_holds_the_auth_secret_and_a_client_configuration():
    secret = km.config_secret(cluster("spark"), UID, SETTINGS, SECRET)
    files = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert files["secret"] == SECRET
    defaults = dict(line.split(" ", 1) for line in files["spark-defaults.conf"].splitlines())
    assert defaults["spark.master"] == "spark://alice-spark-master.hub.svc:7077"
    assert defaults["spark.authenticate"] == "true"
    assert defaults["spark.authenticate.secret"] == SECRET
    assert "spark.driver.host" not in defaults  # each notebook sets its own pod IP


def test_flink_config_binds_all_interfaces_and_names_the_jobmanager_service():
    secret = km.config_secret(cluster("flink", "bob-flink", worker={"cores": 2}), UID, SETTINGS, "")
    config = yaml.safe_load(base64.b64decode(secret["data"]["config.yaml"]))
    assert config["jobmanager.rpc.address"] == "bob-flink-jobmanager.hub.svc"
    assert config["rest.bind-address"] == "0.0.0.0"
    assert config["taskmanager.numberOfTaskSlots"] == "2"
    assert "taskmanager.host" not in config
    assert "secret" not in secret["data"]


def test_taskmanagers_use_their_pod_name_as_resource_id():
    workers = km.worker_deployment(cluster("flink", "bob-flink"), UID, SETTINGS, "h")
    command = workers["spec"]["template"]["spec"]["containers"][0]["command"]
    assert "taskmanager.resource-id=$(POD_NAME)" in command
    assert "taskmanager.host=$(POD_IP)" in command


def test_network_policy_admits_own_pods_the_users_notebook_and_prometheus_on_metrics():
    policy = km.network_policy(cluster("flink", "bob-flink", owner="bob"), UID, SETTINGS)
    spec = policy["spec"]
    assert spec["podSelector"] == {"matchLabels": {km.CLUSTER_LABEL: "bob-flink"}}
    assert spec["policyTypes"] == ["Ingress"]
    sources = [(rule["from"][0], rule.get("ports")) for rule in spec["ingress"]]
    assert ({"podSelector": {"matchLabels": {km.CLUSTER_LABEL: "bob-flink"}}}, None) in sources
    notebook = {km.USER_LABEL: "bob", km.ROLE_LABEL: km.NOTEBOOK_ROLE}
    assert ({"podSelector": {"matchLabels": notebook}}, None) in sources
    prometheus = next(ports for source, ports in sources if "namespaceSelector" in source)
    assert {p["port"] for p in prometheus} == {9249, 9250}
    controller = next(
        ports for source, ports in sources
        if source.get("podSelector", {}).get("matchLabels") == SETTINGS.controller_pod_labels
    )  # fmt: skip
    assert [p["port"] for p in controller] == [8081]


def test_a_new_configuration_changes_the_pod_template():
    small = km.cluster_objects(cluster("spark"), UID, SETTINGS, SECRET)
    other = km.cluster_objects(cluster("spark", worker={"memory": "3Gi"}), UID, SETTINGS, SECRET)
    annotation = lambda objs: objs[3]["spec"]["template"]["metadata"]["annotations"][km.CONFIG_HASH]  # noqa: E731
    assert annotation(small) != annotation(other)


def test_manifest_hash_ignores_replicas():
    workers = km.worker_deployment(cluster("spark"), UID, SETTINGS, "h")
    resized = {**workers, "spec": {**workers["spec"], "replicas": 7}}
    assert km.manifest_hash(workers) == km.manifest_hash(resized)


@pytest.mark.parametrize(
    ("owner", "expected"),
    [("alice", "alice"), ("Bob.Smith_2", "Bob.Smith_2")],
)
def test_valid_user_names_are_their_own_label(owner, expected):
    assert km.user_label(owner) == expected


@pytest.mark.parametrize("owner", ["alice@example.org", "-x-", "ü", "a" * 80, "a b"])
def test_other_user_names_become_distinct_valid_labels(owner):
    label = km.user_label(owner)
    assert len(label) <= 63 and km._LABEL_VALUE.match(label)
    assert label != km.user_label(owner + "x")


def test_long_or_digit_first_cluster_names_still_give_valid_service_names():
    long_name = "1" + "a" * 62
    manifest = km.head_service(cluster("spark", long_name), UID)
    assert_valid(manifest)
    name = manifest["metadata"]["name"]
    assert len(name) <= 63 and name[0].isalpha() and name.endswith("-master")
    assert km.object_name("alice-spark", "master") == "alice-spark-master"


def test_flink_java_opts_are_the_shipped_distributions():
    venv = Path(__file__).resolve().parents[2] / ".venv-flink"
    found = sorted(venv.glob("lib/python3*/site-packages/pyflink/conf/config.yaml"))
    if not found:
        pytest.skip("apache-flink is not installed in .venv-flink")
    shipped = shipped_java_opts(yaml.safe_load(found[-1].read_text()))
    assert shipped == km.FLINK_JAVA_OPTS, "update FLINK_JAVA_OPTS for the new Flink version"
