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
import yaml

from autoscaler.__main__ import parse_args as controller_args
from autoscaler.backends.kubernetes.manifests import (
    cluster_objects,
    driver_network_policy,
    network_policy,
)
from autoscaler.controller.wiring import cluster_settings
from hubscale.kube_conf import (
    NOTEBOOK_ACTIVITY_PORT,
    SPARK_DRIVER_BLOCK_MANAGER_PORT,
    SPARK_DRIVER_PORT,
    SPARK_DRIVER_PORT_RANGES,
    ClusterSettings,
)
from hubscale.names import USER_LABEL, user_label
from spawner.notebook_pod import pod_labels
from tests.builders import cluster, rest_tls
from tests.kube.chart import CHART, NAMESPACE, PREFIX, Manifest, find, one, render

PROMETHEUS = {"app.kubernetes.io/name": "prometheus"}  # the chart's default pod labels
METADATA = "169.254.169.254"
METADATA_IPV6 = "fd00:ec2::254"  # AWS's instance metadata service over IPv6
INTERNET = "93.184.216.34"
INTERNET_IPV6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"


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
    compute = cluster(f"{owner}-{engine}", engine, owner)
    pods, policies = {}, []
    for index, manifest in enumerate(
        cluster_objects(compute, "uid", settings, "secret", rest_tls())
    ):
        if manifest["kind"] == "NetworkPolicy":
            policies.append(manifest)
        if manifest["kind"] == "Deployment":
            labels = manifest["spec"]["template"]["metadata"]["labels"]
            role = labels["hubscale.io/role"]
            pods[role] = Endpoint(f"{owner}-{role}", f"10.1.{first_ip}.{index}", labels)
    assert network_policy(compute, "uid", settings) in policies
    if engine == "spark":
        assert driver_network_policy(compute, "uid") in policies
    return policies, pods


def controller_settings(manifests: list[Manifest]) -> ClusterSettings:
    """The controller's settings as the chart's arguments give them (its own parser reads them,
    the way ``autoscaler.wiring`` builds them)."""
    deployment = one(manifests, "Deployment", f"{PREFIX}-autoscaler")
    arguments = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    args = controller_args([a.replace("$(POD_NAMESPACE)", NAMESPACE) for a in arguments], env={})
    return cluster_settings(args)


@pytest.fixture(scope="module")
def world() -> dict[str, Any]:
    manifests = render("helm3")
    chart_policies = find(manifests, "NetworkPolicy")
    settings = controller_settings(manifests)
    policies = list(chart_policies)
    pods: dict[str, Endpoint] = {}
    for number, (owner, engine) in enumerate(
        [("alice", "spark"), ("alice", "flink"), ("bob", "spark")]
    ):
        controller_policies, cluster = cluster_pods(owner, engine, settings, number)
        policies += controller_policies
        for role, pod in cluster.items():
            pods[f"{owner}-{role}"] = pod
    components = [("hub", "10.0.0.1"), ("proxy", "10.0.0.2"), ("autoscaler", "10.0.0.3"),
                  ("usage", "10.0.0.4")]  # fmt: skip
    for component, ip in components:
        deployment = one(manifests, "Deployment", f"{PREFIX}-{component}")
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        pods[component] = Endpoint(component, ip, labels)
    for owner, ip in [("alice", "10.0.1.1"), ("bob", "10.0.1.2")]:
        labels = pod_labels(owner, {"spark": f"{owner}-spark", "flink": f"{owner}-flink"})
        pods[f"{owner}-notebook"] = Endpoint(f"{owner}-notebook", ip, labels)
    # Another user's notebook pod carrying alice's user label: on the code before issue 14,
    # finding 1, a user named like alice's escaped label got it.
    impostor = pod_labels("mallory", {"spark": "mallory-spark", "flink": "mallory-flink"})
    impostor[USER_LABEL] = user_label("alice")
    pods["impostor-notebook"] = Endpoint("impostor-notebook", "10.0.1.3", impostor)
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
    pods["other-prometheus"] = Endpoint(
        "other-prometheus",
        "10.0.4.1",
        {"app.kubernetes.io/name": "prometheus"},  # the same labels, in a user's namespace
        "team-b",
        {"kubernetes.io/metadata.name": "team-b"},
    )
    pods["metadata"] = Endpoint("metadata", METADATA)
    pods["metadata-ipv6"] = Endpoint("metadata-ipv6", METADATA_IPV6)
    pods["internet"] = Endpoint("internet", INTERNET)
    pods["internet-ipv6"] = Endpoint("internet-ipv6", INTERNET_IPV6)
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


@pytest.mark.parametrize("source", OWN_PODS)
def test_no_pod_reaches_the_metadata_service_over_ipv6_but_the_ipv6_internet_works(world, source):
    """Both address families alike: the metadata service blocked (fd00:ec2::254/128 by default),
    the rest of the world open."""
    policies, pods = world["policies"], world["pods"]
    for port in (80, 443):
        assert not connects(policies, pods[source], pods["metadata-ipv6"], port)
    assert connects(policies, pods[source], pods["internet-ipv6"], 443)


def test_the_metadata_service_is_blocked_in_both_families_by_default():
    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    assert values["networkPolicy"]["blockedEgressCIDRs"] == [
        "169.254.169.254/32",
        "fd00:ec2::254/128",
    ]
    for policy in find(render("helm3"), "NetworkPolicy"):
        blocks = [
            peer["ipBlock"]
            for rule in policy["spec"]["egress"]
            for peer in rule.get("to", [])
            if "ipBlock" in peer
        ]
        assert {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]} in blocks
        assert {"cidr": "::/0", "except": ["fd00:ec2::254/128"]} in blocks


@pytest.mark.parametrize(
    ("target", "port"),
    [
        ("alice-notebook", 4040),
        ("alice-notebook", 4047),
        ("alice-notebook", NOTEBOOK_ACTIVITY_PORT),
        ("hub", 8081),
        ("autoscaler", 9310),
        ("alice-master", 8080),
        ("alice-worker", 8081),
        ("alice-jobmanager", 9249),
        ("alice-taskmanager", 9250),
    ],
)
def test_prometheus_pods_scrape_from_the_monitoring_namespace_only(world, target, port):
    """A pod a user labels as Prometheus in another namespace reaches no metrics port, of the
    chart's pods or of the clusters' (the controller's policies): the Spark UIs (executor logs,
    environment) stay with their user."""
    policies, pods = world["policies"], world["pods"]
    assert connects(policies, pods["prometheus"], pods[target], port)
    assert not connects(policies, pods["other-prometheus"], pods[target], port)


def test_the_monitoring_namespace_is_the_values():
    """The chart's policies and, through the controller's arguments, the clusters' ones."""
    manifests = render("helm4", {"monitoring": {"namespace": "observability"}})
    policies = find(manifests, "NetworkPolicy")
    hub = one(manifests, "Deployment", f"{PREFIX}-hub")["spec"]["template"]["metadata"]["labels"]
    hub_pod = Endpoint("hub", "10.0.0.1", hub)
    settings = controller_settings(manifests)
    cluster_policies, cluster = cluster_pods("alice", "spark", settings, 0)
    policies += cluster_policies
    for namespace, allowed in (("observability", True), ("monitoring", False)):
        prometheus = Endpoint(
            "prometheus",
            "10.0.2.1",
            {"app.kubernetes.io/name": "prometheus"},
            namespace,
            {"kubernetes.io/metadata.name": namespace},
        )
        assert connects(policies, prometheus, hub_pod, 8081) is allowed, namespace
        assert connects(policies, prometheus, cluster["worker"], 8081) is allowed, namespace


def test_the_prometheus_pod_labels_are_the_values():
    """An admin's own Prometheus labels reach the clusters' policies too (through the
    controller's arguments), not only the chart's: else their workers go unscraped and hold."""
    scraper = {"app.kubernetes.io/name": "prometheus", "prometheus": "team-a"}  # helm merges maps
    manifests = render("helm4", {"networkPolicy": {"prometheusPodLabels": scraper}})
    policies = find(manifests, "NetworkPolicy")
    hub = one(manifests, "Deployment", f"{PREFIX}-hub")["spec"]["template"]["metadata"]["labels"]
    cluster_policies, cluster = cluster_pods("alice", "spark", controller_settings(manifests), 0)
    policies += cluster_policies
    monitoring = {"kubernetes.io/metadata.name": "monitoring"}
    for labels, allowed in ((scraper, True), ({"app.kubernetes.io/name": "prometheus"}, False)):
        prometheus = Endpoint("prometheus", "10.0.2.1", labels, "monitoring", monitoring)
        assert connects(policies, prometheus, Endpoint("hub", "10.0.0.1", hub), 8081) is allowed
        assert connects(policies, prometheus, cluster["worker"], 8081) is allowed, labels


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
        ("proxy", "usage", 9320),
        ("usage", "hub", 8081),
        ("usage", "prometheus", 9090),
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
        # The activity page's own port (heads on demand) for Prometheus alone; Prometheus
        # never reaches the notebook server itself.
        ("prometheus", "alice-notebook", 8888),
        ("autoscaler", "alice-notebook", NOTEBOOK_ACTIVITY_PORT),
        ("bob-notebook", "alice-notebook", NOTEBOOK_ACTIVITY_PORT),
        ("alice-worker", "alice-notebook", NOTEBOOK_ACTIVITY_PORT),
        ("hub", "alice-notebook", NOTEBOOK_ACTIVITY_PORT),
        # The usage service only through the proxy; it reaches no user's cluster or server.
        ("alice-notebook", "usage", 9320),
        ("internet", "usage", 9320),
        ("usage", "alice-master", 8080),
        ("usage", "alice-notebook", 8888),
    ],
)
def test_other_users_clusters_and_internal_apis_are_closed(world, source, target, port):
    assert not connects(world["policies"], world["pods"][source], world["pods"][target], port)


def test_blocked_cidrs_of_the_values_apply_to_every_pod():
    manifests = render("helm4", {"networkPolicy": {"blockedEgressCIDRs": ["10.0.0.0/8"]}})
    policies = find(manifests, "NetworkPolicy")
    assert len(policies) == 6
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


@pytest.mark.parametrize(
    ("target", "port"),
    [
        ("alice-master", 7077),
        ("alice-master", 8080),
        ("alice-worker", 8081),
        ("alice-jobmanager", 8081),
        ("alice-jobmanager", 6123),
        ("alice-taskmanager", 9250),
    ],
)
def test_a_pod_with_another_users_label_reaches_none_of_that_users_clusters(world, target, port):
    """The clusters admit the notebook pod of their own server (its cluster labels), whatever
    user label a pod carries."""
    policies, pods = world["policies"], world["pods"]
    assert connects(policies, pods["alice-notebook"], pods[target], port)
    assert not connects(policies, pods["impostor-notebook"], pods[target], port)


@pytest.mark.parametrize("port", DRIVER_PORTS)
def test_a_users_executors_reach_no_driver_of_a_pod_with_that_users_label(world, port):
    policies, pods = world["policies"], world["pods"]
    assert connects(policies, pods["alice-worker"], pods["alice-notebook"], port)
    assert not connects(policies, pods["alice-worker"], pods["impostor-notebook"], port)
    assert not connects(policies, pods["alice-master"], pods["impostor-notebook"], port)


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


def test_without_heads_on_demand_no_one_reaches_the_activity_port():
    policies = find(render("helm3", {"clusters": {"headsOnDemand": False}}), "NetworkPolicy")
    monitoring = {"kubernetes.io/metadata.name": "monitoring"}
    prometheus = Endpoint("prometheus", "10.0.2.1", PROMETHEUS, "monitoring", monitoring)
    notebook = Endpoint("notebook", "10.0.1.1", pod_labels("alice", {"spark": "s", "flink": "f"}))
    assert connects(policies, prometheus, notebook, 4040)  # the drivers' metrics as before
    assert not connects(policies, prometheus, notebook, NOTEBOOK_ACTIVITY_PORT)
