"""The Kubernetes objects of a cluster: valid for Kubernetes, labelled, owned, configured; and
the Spark workers' preStop hook, run with /bin/sh against stand-in processes."""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from autoscaler.backends.kubernetes import manifests as km
from autoscaler.backends.local.spark import LocalSparkCluster
from hubscale import kube_conf, names
from hubscale.flink_conf import shipped_java_opts
from hubscale.spark_conf import DECOMMISSION_TIMEOUT_S
from tests.builders import cluster, rest_tls
from tests.kube.schemas import assert_valid

SETTINGS = kube_conf.ClusterSettings("hub", "hubscale/spark:4.3.0", "hubscale/flink:2.3.0")
UID = "0b6c7c1e-5f2a-4a57-9d0e-3d2b1f9e8a11"
SECRET = "s3cr3t-token"
REPO = Path(__file__).resolve().parents[2]


def by_kind(objects):
    return {(o["kind"], o["metadata"]["labels"][names.ROLE_LABEL]): o for o in objects}


@pytest.mark.parametrize("engine", ["spark", "flink"])
def test_every_object_validates_strictly_against_the_kubernetes_schemas(engine):
    for manifest in km.cluster_objects(cluster(engine=engine), UID, SETTINGS, SECRET, rest_tls()):
        assert_valid(manifest)


def test_spark_cluster_is_secret_policy_service_master_and_workers():
    objects = by_kind(km.cluster_objects(cluster(), UID, SETTINGS, SECRET))
    assert set(objects) == {
        ("Secret", "config"),
        ("NetworkPolicy", "ingress"),
        ("NetworkPolicy", "drivers"),
        ("Service", "master"),
        ("Deployment", "master"),
        ("Deployment", "worker"),
    }


def test_flink_cluster_is_secret_policy_service_jobmanager_and_taskmanagers():
    objects = by_kind(
        km.cluster_objects(cluster("bob-flink", "flink"), UID, SETTINGS, SECRET, rest_tls())
    )
    assert set(objects) == {
        ("Secret", "config"),
        ("NetworkPolicy", "ingress"),
        ("Service", "jobmanager"),
        ("Deployment", "jobmanager"),
        ("Deployment", "taskmanager"),
    }


@pytest.mark.parametrize("engine", ["spark", "flink"])
def test_every_object_is_owned_by_the_compute_cluster_and_labelled(engine):
    for manifest in km.cluster_objects(cluster(engine=engine), UID, SETTINGS, SECRET, rest_tls()):
        assert manifest["metadata"]["ownerReferences"] == [
            {"apiVersion": "hubscale.io/v1alpha1", "kind": "ComputeCluster",
             "name": "alice-spark", "uid": UID, "controller": True, "blockOwnerDeletion": True}
        ]  # fmt: skip
        found = manifest["metadata"]["labels"]
        assert found[names.CLUSTER_LABEL] == "alice-spark"
        assert found[names.USER_LABEL] == "alice"
        assert found[names.ENGINE_LABEL] == engine


def test_worker_pods_are_labelled_scraped_and_sized_from_the_spec():
    worker = by_kind(
        km.cluster_objects(
            cluster(worker={"cores": 3, "memory": "4Gi"}, minWorkers=2),
            UID,
            SETTINGS,
            SECRET,
        )
    )[("Deployment", "worker")]
    template = worker["spec"]["template"]
    assert template["metadata"]["labels"][names.ROLE_LABEL] == "worker"
    assert worker["spec"]["selector"]["matchLabels"] == {
        names.CLUSTER_LABEL: "alice-spark", names.ROLE_LABEL: "worker"
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


def test_in_a_dry_run_worker_deployments_are_created_at_zero_whatever_minworkers_says():
    dry = replace(SETTINGS, dry_run=True)
    for engine in ("spark", "flink"):
        spec = cluster(engine=engine, minWorkers=2)
        objects = by_kind(km.cluster_objects(spec, UID, dry, SECRET, rest_tls()))
        assert objects[("Deployment", names.WORKER_ROLE[engine])]["spec"]["replicas"] == 0


@pytest.mark.parametrize("engine", ["spark", "flink"])
def test_without_its_head_a_cluster_has_no_head_replica_and_no_worker_whatever_minworkers(engine):
    """Heads on demand: only the replicas differ, so a head stopped and started again is no
    change of the manifests (their hash leaves the replicas out)."""
    spec = cluster(engine=engine, minWorkers=2)
    running = by_kind(km.cluster_objects(spec, UID, SETTINGS, SECRET, rest_tls()))
    stopped = by_kind(km.cluster_objects(spec, UID, SETTINGS, SECRET, rest_tls(), head=False))
    head = ("Deployment", names.HEAD_ROLE[engine])
    worker = ("Deployment", names.WORKER_ROLE[engine])
    assert (running[head]["spec"]["replicas"], running[worker]["spec"]["replicas"]) == (1, 2)
    assert (stopped[head]["spec"]["replicas"], stopped[worker]["spec"]["replicas"]) == (0, 0)
    for key, manifest in running.items():
        hashes = (manifest, stopped[key])
        assert len({m["metadata"]["annotations"][km.MANIFEST_HASH] for m in hashes}) == 1, key


def test_spark_secret_holds_the_auth_secret_and_a_client_configuration():
    secret = km.config_secret(cluster(), UID, SETTINGS, SECRET)
    files = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert files["secret"] == SECRET
    defaults = dict(line.split(" ", 1) for line in files["spark-defaults.conf"].splitlines())
    assert defaults["spark.master"] == "spark://alice-spark-master.hub.svc:7077"
    assert defaults["spark.authenticate"] == "true"
    assert defaults["spark.authenticate.secret"] == SECRET
    assert "spark.driver.host" not in defaults  # each notebook sets its own pod IP


def test_drivers_take_their_ports_from_the_ranges_the_notebook_policy_opens():
    secret = km.config_secret(cluster(), UID, SETTINGS, SECRET)
    text = base64.b64decode(secret["data"]["spark-defaults.conf"]).decode()
    defaults = dict(line.split(" ", 1) for line in text.splitlines())
    tries = int(defaults["spark.port.maxRetries"]) + 1  # Spark tries port, port+1, ...
    wanted = [
        (int(defaults[key]), int(defaults[key]) + tries - 1)
        for key in ("spark.driver.port", "spark.driver.blockManager.port")
    ]
    assert wanted == list(kube_conf.SPARK_DRIVER_PORT_RANGES) == [(7078, 7085), (7100, 7107)]
    ui_first = int(defaults["spark.ui.port"])
    ranges = [*wanted, (ui_first, ui_first + tries - 1)]
    ports = [port for first, last in ranges for port in range(first, last + 1)]
    assert len(ports) == len(set(ports))  # several drivers in one pod never collide


def test_driver_policy_admits_only_the_clusters_pods_to_its_users_notebooks_driver_ports():
    policy = km.driver_network_policy(cluster("bob-spark", owner="bob"), UID)
    assert policy["metadata"]["name"] == "bob-spark-drivers"
    assert policy["spec"] == {
        "podSelector": {
            "matchLabels": {"hubscale.io/spark-cluster": "bob-spark", names.ROLE_LABEL: "notebook"}
        },
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [{"podSelector": {"matchLabels": {names.CLUSTER_LABEL: "bob-spark"}}}],
                "ports": [
                    {"protocol": "TCP", "port": 7078, "endPort": 7085},
                    {"protocol": "TCP", "port": 7100, "endPort": 7107},
                ],
            }
        ],
    }


@pytest.mark.parametrize("engine", ["spark", "flink"])
def test_no_policy_selects_notebook_pods_by_the_user_label(engine):
    """A user label comes from a name a user may choose; the policies name the notebook pod of
    the cluster's own server by its cluster label (issue 14, finding 1)."""
    owner = "jane doe"
    compute = cluster(f"jane-{engine}", engine, owner)
    objects = km.cluster_objects(compute, UID, SETTINGS, SECRET, rest_tls())
    for policy in (o for o in objects if o["kind"] == "NetworkPolicy"):
        selectors = [policy["spec"]["podSelector"]] + [
            peer["podSelector"]
            for rule in policy["spec"]["ingress"]
            for peer in rule["from"]
            if "podSelector" in peer
        ]
        for selector in selectors:
            assert names.USER_LABEL not in selector.get("matchLabels", {}), policy["metadata"]


def test_flink_clusters_open_nothing_on_the_notebook_pod():
    objects = km.cluster_objects(cluster("bob-flink", "flink"), UID, SETTINGS, "", rest_tls())
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    assert [p["metadata"]["name"] for p in policies] == ["bob-flink-ingress"]


def test_flink_config_binds_all_interfaces_and_names_the_jobmanager_service():
    secret = km.config_secret(
        cluster("bob-flink", "flink", worker={"cores": 2}), UID, SETTINGS, "", rest_tls()
    )
    config = yaml.safe_load(base64.b64decode(secret["data"]["config.yaml"]))
    assert config["jobmanager.rpc.address"] == "bob-flink-jobmanager.hub.svc"
    assert config["rest.bind-address"] == "0.0.0.0"
    assert config["taskmanager.numberOfTaskSlots"] == "2"
    assert "taskmanager.host" not in config
    assert "secret" not in secret["data"]


def test_the_flink_secret_carries_the_rest_credential_and_the_config_the_mounted_keystore():
    """Issue 14, finding 2: the JobManager's REST API asks for the cluster's client certificate;
    the keystore is in the config Secret, where the JobManager's pod mounts it (``CONF_DIR``)."""
    tls = rest_tls()
    objects = by_kind(km.cluster_objects(cluster("bob-flink", "flink"), UID, SETTINGS, "", tls))
    data = {
        key: base64.b64decode(value) for key, value in objects[("Secret", "config")]["data"].items()
    }
    assert data["rest.p12"] == tls.keystore
    assert (data["rest.crt"], data["rest.key"]) == (tls.certificate, tls.private_key)
    assert data["rest.password"] == tls.password.encode()
    config = yaml.safe_load(data["config.yaml"])
    assert config["security.ssl.rest.enabled"] == "true"
    assert config["security.ssl.rest.authentication-enabled"] == "true"
    keystore = f"{kube_conf.CONF_DIR}/rest.p12"
    assert (
        config["security.ssl.rest.keystore"] == config["security.ssl.rest.truststore"] == keystore
    )
    assert config["security.ssl.rest.keystore-password"] == tls.password
    assert config["security.ssl.rest.key-password"] == tls.password
    assert config["security.ssl.rest.truststore-password"] == tls.password

    def mounts(role: str) -> tuple[dict, dict]:
        pod = objects[("Deployment", role)]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        (mount,) = [m for m in container["volumeMounts"] if m["name"] == "config"]
        (volume,) = [v for v in pod["volumes"] if v["name"] == "config"]
        return mount, volume["secret"]

    mount, secret = mounts("jobmanager")
    assert mount["mountPath"] == kube_conf.CONF_DIR and "items" not in secret  # all of it
    # The TaskManagers reach the JobManager over RPC: they get no REST credential.
    mount, secret = mounts("taskmanager")
    assert mount["mountPath"] == kube_conf.CONF_DIR
    assert [item["key"] for item in secret["items"]] == ["config.yaml", "log4j-console.properties"]


def test_a_flink_cluster_without_its_rest_credential_is_refused():
    with pytest.raises(ValueError, match="REST credential"):
        km.cluster_objects(cluster("bob-flink", "flink"), UID, SETTINGS, "")


def test_the_jobmanagers_certificate_names_its_service():
    assert kube_conf.endpoints("bob-flink", "flink", "hub")["rest_url"] == (
        "https://bob-flink-jobmanager.hub.svc:8081"
    )
    assert "bob-flink-jobmanager.hub.svc" in kube_conf.rest_tls_hosts("bob-flink", "hub")


def test_taskmanagers_use_their_pod_name_as_resource_id():
    workers = km.worker_deployment(cluster("bob-flink", "flink"), UID, SETTINGS, "h")
    command = workers["spec"]["template"]["spec"]["containers"][0]["command"]
    assert "taskmanager.resource-id=$(POD_NAME)" in command
    assert "taskmanager.host=$(POD_IP)" in command


def test_network_policy_admits_own_pods_the_users_notebook_and_prometheus_on_metrics():
    policy = km.network_policy(cluster("bob-flink", "flink", owner="bob"), UID, SETTINGS)
    spec = policy["spec"]
    assert spec["podSelector"] == {"matchLabels": {names.CLUSTER_LABEL: "bob-flink"}}
    assert spec["policyTypes"] == ["Ingress"]
    sources = [(rule["from"][0], rule.get("ports")) for rule in spec["ingress"]]
    assert ({"podSelector": {"matchLabels": {names.CLUSTER_LABEL: "bob-flink"}}}, None) in sources
    notebook = {"hubscale.io/flink-cluster": "bob-flink", names.ROLE_LABEL: "notebook"}
    assert ({"podSelector": {"matchLabels": notebook}}, None) in sources
    prometheus = next(ports for source, ports in sources if "namespaceSelector" in source)
    assert {p["port"] for p in prometheus} == {9249, 9250}
    controller = next(
        ports for source, ports in sources
        if source.get("podSelector", {}).get("matchLabels") == SETTINGS.controller_pod_labels
    )  # fmt: skip
    assert [p["port"] for p in controller] == [8081]


@pytest.mark.parametrize("engine", ["spark", "flink"])
def test_prometheus_is_admitted_from_the_monitoring_namespace_only(engine):
    """A pod a user labels as Prometheus in another namespace reaches no metrics port (the
    workers' UIs serve executor logs)."""
    settings = kube_conf.ClusterSettings("hub", "s", "f", monitoring_namespace="observability")
    policy = km.network_policy(cluster(f"bob-{engine}", engine, owner="bob"), UID, settings)
    peers = [
        peer
        for rule in policy["spec"]["ingress"]
        for peer in rule["from"]
        if peer.get("podSelector", {}).get("matchLabels") == settings.prometheus_pod_labels
    ]
    assert [peer["namespaceSelector"] for peer in peers] == [
        {"matchLabels": {"kubernetes.io/metadata.name": "observability"}}
    ]
    assert kube_conf.ClusterSettings("hub", "s", "f").monitoring_namespace == "monitoring"


def test_a_new_configuration_changes_the_pod_template():
    small = km.cluster_objects(cluster(), UID, SETTINGS, SECRET)
    other = km.cluster_objects(cluster(worker={"memory": "3Gi"}), UID, SETTINGS, SECRET)
    for role in ("master", "worker"):
        assert config_hash(small, role) != config_hash(other, role)


def config_hash(objects: list[dict], role: str) -> str:
    template = by_kind(objects)[("Deployment", role)]["spec"]["template"]
    return template["metadata"]["annotations"][km.CONFIG_HASH]


def test_manifest_hash_ignores_replicas():
    workers = km.worker_deployment(cluster(), UID, SETTINGS, "h")
    resized = {**workers, "spec": {**workers["spec"], "replicas": 7}}
    assert km.manifest_hash(workers) == km.manifest_hash(resized)


@pytest.mark.parametrize(
    ("owner", "expected"),
    [("alice", "alice"), ("Bob.Smith_2", "Bob.Smith_2")],
)
def test_valid_user_names_are_their_own_label(owner, expected):
    assert names.user_label(owner) == expected


@pytest.mark.parametrize("owner", ["alice@example.org", "-x-", "ü", "a" * 80, "a b"])
def test_other_user_names_become_distinct_valid_labels(owner):
    label = names.user_label(owner)
    assert len(label) <= 63 and names._LABEL_VALUE.match(label)
    assert label != names.user_label(owner + "x")


def test_long_or_digit_first_cluster_names_still_give_valid_service_names():
    long_name = "1" + "a" * 62
    manifest = km.head_service(cluster(long_name), UID)
    assert_valid(manifest)
    name = manifest["metadata"]["name"]
    assert len(name) <= 63 and name[0].isalpha() and name.endswith("-master")
    assert names.object_name("alice-spark", "master") == "alice-spark-master"


def test_flink_java_opts_are_the_shipped_distributions():
    venv = Path(__file__).resolve().parents[2] / ".venv-flink"
    found = sorted(venv.glob("lib/python3*/site-packages/pyflink/conf/config.yaml"))
    if not found:
        pytest.skip("apache-flink is not installed in .venv-flink")
    shipped = shipped_java_opts(yaml.safe_load(found[-1].read_text()))
    assert shipped == kube_conf.FLINK_JAVA_OPTS, "update FLINK_JAVA_OPTS for the new Flink version"


def spark_worker_pod() -> dict:
    workers = km.worker_deployment(cluster(), UID, SETTINGS, "h")
    return workers["spec"]["template"]["spec"]


def test_spark_workers_decommission_before_their_pod_goes_for_as_long_as_locally():
    pod = spark_worker_pod()
    (container,) = pod["containers"]
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command == [
        "/bin/sh", "-c", km.SPARK_DECOMMISSION_SCRIPT, "1", str(DECOMMISSION_TIMEOUT_S)
    ]  # fmt: skip
    assert pod["terminationGracePeriodSeconds"] == DECOMMISSION_TIMEOUT_S + km.SPARK_WORKER_STOP_S
    assert LocalSparkCluster.drain_timeout_s == DECOMMISSION_TIMEOUT_S == 600
    flink = km.worker_deployment(cluster("bob-flink", "flink"), UID, SETTINGS, "h")
    assert "lifecycle" not in flink["spec"]["template"]["spec"]["containers"][0]


def test_the_spark_worker_is_pid_1_of_its_container_and_pgrep_is_in_the_image():
    pod = spark_worker_pod()
    assert "shareProcessNamespace" not in pod
    assert pod["containers"][0]["command"][0] == f"{km.SPARK_HOME}/bin/spark-class"
    dockerfile = (REPO / "images" / "spark" / "Dockerfile").read_text()
    assert re.search(r"apt-get install[^&]*\bprocps\b", dockerfile)  # pgrep
    found = sorted(REPO.glob(".venv-spark/lib/python3*/site-packages/pyspark/bin/spark-class"))
    if not found:
        pytest.skip("pyspark is not installed in .venv-spark")
    assert found[-1].read_text().rstrip().endswith('exec "${CMD[@]}"')  # the JVM replaces it


EXECUTOR_ARGV0 = "java -cp /opt/spark/jars/* org.apache.spark.executor.CoarseGrainedExecutorBackend"
# A Spark worker stand-in: notes SIGPWR in $0, runs an "executor" child (its pid in $1) and, like
# the JVM, other children (here its sleeps) that are not executors.
FAKE_WORKER = f"""\
trap 'echo decommissioned >> "$0"' PWR
(exec -a "{EXECUTOR_ARGV0}" sleep 120) &
echo "$!" > "$1"
while :; do sleep 0.1; done
"""


def eventually(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.fixture
def fake_worker(tmp_path: Path) -> Iterator[tuple[int, int, Path]]:
    """(worker pid, executor pid, the worker's signal log)."""
    log, executor_pid = tmp_path / "signals", tmp_path / "executor.pid"
    worker = subprocess.Popen(
        ["bash", "-c", FAKE_WORKER, str(log), str(executor_pid)], start_new_session=True
    )
    try:
        eventually(lambda: executor_pid.exists() and executor_pid.read_text().strip() != "")
        yield worker.pid, int(executor_pid.read_text()), log
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()


def pre_stop(worker_pid: int, wait_s: int) -> subprocess.Popen:
    """The hook's own command, pointed at another PID and wait."""
    command = spark_worker_pod()["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]
    return subprocess.Popen([*command[:-2], str(worker_pid), str(wait_s)])


def test_pre_stop_decommissions_the_worker_and_waits_until_its_executor_exits(fake_worker):
    worker, executor, log = fake_worker
    hook = pre_stop(worker, 60)
    try:
        eventually(lambda: log.exists() and log.read_text() == "decommissioned\n")
        time.sleep(1.5)  # the executor still runs: so must the hook
        assert hook.poll() is None
        os.kill(executor, signal.SIGTERM)
        assert hook.wait(timeout=30) == 0
    finally:
        hook.kill()


def test_pre_stop_gives_up_at_its_deadline_while_an_executor_still_runs(fake_worker):
    worker, executor, log = fake_worker
    started = time.monotonic()
    assert pre_stop(worker, 1).wait(timeout=60) == 0
    assert time.monotonic() - started < 30  # its 1 s, not the executor's 120 s (loaded: slower)
    assert log.read_text() == "decommissioned\n"
    os.kill(executor, 0)  # still running: the kubelet's SIGTERM and Spark take over


def test_pre_stop_returns_at_once_when_the_worker_is_gone():
    gone = subprocess.Popen(["true"])
    gone.wait()
    started = time.monotonic()
    assert pre_stop(gone.pid, 60).wait(timeout=60) == 0
    assert time.monotonic() - started < 30  # not its 60 s wait (a loaded machine is slower)
