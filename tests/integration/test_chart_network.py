"""What the NetworkPolicies allow, evaluated with the NetworkPolicy rules of the Kubernetes API
(a connection needs the source's egress and the destination's ingress; a pod no policy selects
for a direction is open in it; ipBlock peers match addresses, podSelector/namespaceSelector peers
match pods): the chart's policies together with the controller's per-cluster ones
(autoscaler.backends.kubernetes.manifests.network_policy, and driver_network_policy on the
notebook pods). This proves the policies' meaning, not a network plugin."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

import pytest

from autoscaler.backends.kubernetes.manifests import (
    cluster_objects,
    driver_network_policy,
    network_policy,
)
from hubscale.kube_conf import (
    SPARK_DRIVER_BLOCK_MANAGER_PORT,
    SPARK_DRIVER_PORT,
    SPARK_DRIVER_PORT_RANGES,
    ClusterSettings,
)
from hubscale.spec import parse_cluster
from tests.kube.chart import NAMESPACE, PREFIX, Manifest, find, one, render

METADATA = "169.254.169.254"
INTERNET = "93.184.216.34"


@dataclass(frozen=True)
class Endpoint:
    """A pod (labels, namespace) or an address outside the cluster (no labels)."""

    name: str
    ip: str
    labels: dict[str, str] | None = None
    namespace: str = NAMESPACE
    namespace_labels: dict[str, str] = field(default_factory=dict)


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values", [])
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
    return True


def peer_matches(peer: dict[str, Any], other: Endpoint) -> bool:
    if "ipBlock" in peer:
        address = ipaddress.ip_address(other.ip)
        block = peer["ipBlock"]
        if address not in ipaddress.ip_network(block["cidr"]):
            return False
        return not any(address in ipaddress.ip_network(cidr) for cidr in block.get("except", []))
    if other.labels is None:
        return False  # pod and namespace selectors match pods only
    if "namespaceSelector" in peer:
        if not selects(peer["namespaceSelector"], other.namespace_labels):
            return False
    elif other.namespace != NAMESPACE:
        return False
    return selects(peer.get("podSelector", {}), other.labels)


def port_matches(ports: list[dict[str, Any]] | None, port: int, protocol: str) -> bool:
    if not ports:
        return True
    for entry in ports:
        first = entry.get("port")
        last = entry.get("endPort", first)
        if entry.get("protocol", "TCP") == protocol and (first is None or first <= port <= last):
            return True
    return False


def allowed(
    policies: list[Manifest], pod: Endpoint, other: Endpoint, port: int, protocol: str, way: str
) -> bool:
    """Does ``pod`` allow the connection in direction ``way`` (Ingress or Egress)?"""
    if pod.labels is None:
        return True  # outside the cluster: no policy applies
    applying = [
        p
        for p in policies
        if way in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], pod.labels)
    ]
    if not applying:
        return True
    key, peers = ("ingress", "from") if way == "Ingress" else ("egress", "to")
    for policy in applying:
        for rule in policy["spec"].get(key, []):
            if rule.get(peers) is not None and not any(
                peer_matches(peer, other) for peer in rule[peers]
            ):
                continue
            if port_matches(rule.get("ports"), port, protocol):
                return True
    return False


def connects(
    policies: list[Manifest], source: Endpoint, target: Endpoint, port: int, protocol: str = "TCP"
) -> bool:
    return allowed(policies, source, target, port, protocol, "Egress") and allowed(
        policies, target, source, port, protocol, "Ingress"
    )


def cluster_pods(owner: str, engine: str, settings: ClusterSettings, first_ip: int):
    """The controller's NetworkPolicies and pods (by role) of one user's cluster."""
    cluster = parse_cluster(
        {
            "apiVersion": "hubscale.io/v1alpha1",
            "kind": "ComputeCluster",
            "metadata": {"name": f"{owner}-{engine}"},
            "spec": {"owner": owner, "engine": engine},
        }
    )
    pods, policies = {}, []
    for index, manifest in enumerate(cluster_objects(cluster, "uid", settings, "secret")):
        if manifest["kind"] == "NetworkPolicy":
            policies.append(manifest)
        if manifest["kind"] == "Deployment":
            labels = manifest["spec"]["template"]["metadata"]["labels"]
            role = labels["hubscale.io/role"]
            pods[role] = Endpoint(f"{owner}-{role}", f"10.1.{first_ip}.{index}", labels)
    assert network_policy(cluster, "uid", settings) in policies
    if engine == "spark":
        assert driver_network_policy(cluster, "uid") in policies
    return policies, pods


@pytest.fixture(scope="module")
def world() -> dict[str, Any]:
    manifests = render("helm3")
    chart_policies = find(manifests, "NetworkPolicy")
    settings = ClusterSettings(NAMESPACE, "spark:1", "flink:1")
    policies = list(chart_policies)
    pods: dict[str, Endpoint] = {}
    for number, (owner, engine) in enumerate(
        [("alice", "spark"), ("alice", "flink"), ("bob", "spark")]
    ):
        controller_policies, cluster = cluster_pods(owner, engine, settings, number)
        policies += controller_policies
        for role, pod in cluster.items():
            pods[f"{owner}-{role}"] = pod
    for component, ip in [("hub", "10.0.0.1"), ("proxy", "10.0.0.2"), ("autoscaler", "10.0.0.3")]:
        deployment = one(manifests, "Deployment", f"{PREFIX}-{component}")
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        pods[component] = Endpoint(component, ip, labels)
    for owner, ip in [("alice", "10.0.1.1"), ("bob", "10.0.1.2")]:
        labels = {"hubscale.io/user": owner, "hubscale.io/role": "notebook"}
        pods[f"{owner}-notebook"] = Endpoint(f"{owner}-notebook", ip, labels)
    pods["prometheus"] = Endpoint(
        "prometheus",
        "10.0.2.1",
        {"app.kubernetes.io/name": "prometheus"},
        "monitoring",
        {"kubernetes.io/metadata.name": "monitoring"},
    )
    pods["dns"] = Endpoint(
        "dns",
        "10.0.3.1",
        {"k8s-app": "kube-dns"},
        "kube-system",
        {"kubernetes.io/metadata.name": "kube-system"},
    )
    pods["metadata"] = Endpoint("metadata", METADATA)
    pods["internet"] = Endpoint("internet", INTERNET)
    return {"policies": policies, "pods": pods}


OWN_PODS = [
    "hub",
    "proxy",
    "autoscaler",
    "alice-notebook",
    "alice-master",
    "alice-worker",
    "alice-jobmanager",
    "alice-taskmanager",
]


@pytest.mark.parametrize("source", OWN_PODS)
def test_no_pod_reaches_the_cloud_metadata_service_but_the_internet_and_dns_work(world, source):
    policies, pods = world["policies"], world["pods"]
    for port in (80, 443):
        assert not connects(policies, pods[source], pods["metadata"], port)
    assert connects(policies, pods[source], pods["internet"], 443)
    assert connects(policies, pods[source], pods["dns"], 53, "UDP")


@pytest.mark.parametrize(
    ("source", "target", "port"),
    [
        ("alice-notebook", "alice-master", 7077),
        ("alice-notebook", "alice-jobmanager", 8081),
        ("alice-worker", "alice-master", 7077),
        ("alice-taskmanager", "alice-jobmanager", 6123),
        ("autoscaler", "alice-jobmanager", 8081),
        ("prometheus", "alice-master", 8080),
        ("prometheus", "alice-worker", 8081),
        ("prometheus", "alice-taskmanager", 9250),
        ("prometheus", "autoscaler", 9310),
        ("prometheus", "hub", 8081),
        ("prometheus", "alice-notebook", 4040),
        ("internet", "proxy", 8000),
        ("proxy", "hub", 8081),
        ("proxy", "alice-notebook", 8888),
        ("hub", "proxy", 8001),
        ("hub", "alice-notebook", 8888),
        ("alice-notebook", "hub", 8081),
    ],
)
def test_paths_the_platform_needs_are_open(world, source, target, port):
    assert connects(world["policies"], world["pods"][source], world["pods"][target], port)


@pytest.mark.parametrize(
    ("source", "target", "port"),
    [
        # Another user's cluster, from the user's notebook or from the user's own cluster.
        ("bob-notebook", "alice-master", 7077),
        ("bob-notebook", "alice-master", 8080),
        ("bob-notebook", "alice-jobmanager", 8081),
        ("bob-master", "alice-master", 7077),
        ("bob-worker", "alice-worker", 8081),
        # Another user's notebook server.
        ("bob-notebook", "alice-notebook", 8888),
        ("alice-worker", "bob-notebook", 8888),
        # The hub's API and the proxy's route table from outside.
        ("internet", "hub", 8081),
        ("internet", "proxy", 8001),
        ("alice-notebook", "proxy", 8001),
        # Prometheus only on the metrics ports.
        ("prometheus", "alice-master", 7077),
        ("prometheus", "alice-jobmanager", 8081),
    ],
)
def test_other_users_clusters_and_internal_apis_are_closed(world, source, target, port):
    assert not connects(world["policies"], world["pods"][source], world["pods"][target], port)


def test_blocked_cidrs_of_the_values_apply_to_every_pod():
    manifests = render("helm4", {"networkPolicy": {"blockedEgressCIDRs": ["10.0.0.0/8"]}})
    policies = find(manifests, "NetworkPolicy")
    assert len(policies) == 5
    private = Endpoint("database", "10.200.0.5")
    for policy in policies:
        assert "Egress" in policy["spec"]["policyTypes"]
    for labels in ({"hubscale.io/role": "notebook"}, {"hubscale.io/cluster": "c"}):
        pod = Endpoint("pod", "10.0.9.9", labels)
        assert not connects(policies, pod, private, 5432)
        assert connects(policies, pod, Endpoint("metadata", METADATA), 80)  # not blocked now


# The first and last ports of the drivers' RPC and block-manager ranges (spark.driver.port and
# spark.driver.blockManager.port, then up to spark.port.maxRetries more: several kernels of one
# notebook pod each run a driver).
DRIVER_PORTS = [7078, 7085, 7100, 7107]


@pytest.mark.parametrize("port", DRIVER_PORTS)
def test_only_the_users_own_executors_reach_its_driver(world, port):
    policies, pods = world["policies"], world["pods"]
    assert [p for first_last in SPARK_DRIVER_PORT_RANGES for p in first_last] == DRIVER_PORTS
    assert connects(policies, pods["alice-worker"], pods["alice-notebook"], port)
    assert connects(policies, pods["alice-master"], pods["alice-notebook"], port)
    assert not connects(policies, pods["bob-worker"], pods["alice-notebook"], port)
    assert not connects(policies, pods["bob-master"], pods["alice-notebook"], port)
    assert not connects(policies, pods["alice-taskmanager"], pods["alice-notebook"], port)
    assert not connects(policies, pods["bob-notebook"], pods["alice-notebook"], port)
    assert connects(policies, pods["bob-worker"], pods["bob-notebook"], port)


@pytest.mark.parametrize("port", [SPARK_DRIVER_PORT - 1, 7090, SPARK_DRIVER_BLOCK_MANAGER_PORT + 8])
def test_the_users_executors_reach_no_other_port_of_its_notebook_pod(world, port):
    assert not connects(
        world["policies"], world["pods"]["alice-worker"], world["pods"]["alice-notebook"], port
    )
