"""The Helm chart (helm/hubscale), rendered by the real helm 3 and helm 4 binaries from PyPI wheels
(tools.kube_tools) and every manifest validated offline against the Kubernetes 1.33 OpenAPI
schemas (kubernetes-validate, strict). These prove the manifests, not a cluster."""

from __future__ import annotations

import argparse
import base64
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from autoscaler.__main__ import parse_args as controller_args
from autoscaler.backends.kubernetes.manifests import cluster_objects
from autoscaler.controller.metrics import ControllerMetrics
from hubscale.kube_conf import NOTEBOOK_ACTIVITY_PORT, ClusterSettings
from hubscale.names import CLUSTER_LABEL, NOTEBOOK_ROLE, ROLE_LABEL
from hubscale_nb.activity import ROUTE as ACTIVITY_ROUTE
from spawner.profiles import ProfileError, load_profiles
from tests.builders import cluster, rest_tls
from tests.kube.apiserver import ApiServerDouble
from tests.kube.chart import (
    CHART,
    HELMS,
    NAMESPACE,
    PREFIX,
    REPO,
    TRIAL_LOGIN,
    Manifest,
    deep_merge,
    documents,
    find,
    helm,
    one,
    render,
    template,
)
from tests.kube.schemas import assert_valid
from tools.chart_files import expected_files, stale
from usage.__main__ import parse_args as usage_args

ALERTS = CHART / "files" / "monitoring" / "alerts.yaml"
ALERTS_TEST = REPO / "tests" / "integration" / "data" / "alerts_test.yaml"
DASHBOARDS = CHART / "files" / "grafana"
DEFAULT_RUNBOOK = "https://runbooks.hubscale.invalid/RUNBOOK.md"
SCHEMA = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))

CUSTOM_PROFILES = [
    {
        "name": "tiny",
        "displayName": "Tiny",
        "description": "One small worker each.",
        "default": True,
        "idleTimeoutSeconds": 300,
        "spark": {"minWorkers": 0, "maxWorkers": 1, "worker": {"cores": 1, "memory": "1Gi"}},
        "flink": {"minWorkers": 0, "maxWorkers": 1, "worker": {"cores": 1, "memory": "1Gi"}},
        "userOptions": {"idle_timeout_seconds": {"min": 60, "max": 600}},
    },
    {
        "name": "huge",
        "displayName": "Huge",
        "spark": {"minWorkers": 1, "maxWorkers": 32, "worker": {"cores": 8, "memory": "32Gi"}},
        "flink": {"maxWorkers": 16, "worker": {"cores": 4, "memory": "16Gi"}},
    },
]
# Every option of values.yaml set to something else than its default (a test checks it covers them).
EVERYTHING: dict[str, Any] = {
    "nameOverride": "hs",
    "fullnameOverride": "team-hubscale",
    "commonLabels": {"team": "data", "example.org/cost-center": "42"},
    "imagePullSecrets": ["registry-credentials"],
    "hub": {
        "image": {
            "repository": "registry.example.org/data/hub",
            "tag": "1.2.3",
            "pullPolicy": "Always",
        },
        "port": 8090,
        "authenticatorClass": "github",
        "sharedPassword": {"acknowledgeInsecure": True},
        "adminUsers": ["alice", "bob"],
        "config": {"GitHubOAuthenticator": {"client_id": "abc", "allowed_organizations": ["data"]}},
        "extraEnv": [
            {
                "name": "OAUTH_CLIENT_SECRET",
                "valueFrom": {"secretKeyRef": {"name": "hub-oauth", "key": "client-secret"}},
            },
            {"name": "OAUTH_CALLBACK_URL", "value": "https://hub.example.org/hub/oauth_callback"},
        ],
        "profiles": CUSTOM_PROFILES,
        "clustersTimeoutSeconds": 300,
        "namedServerLimitPerUser": 5,
        "groupBudgetCores": {"data-science": 16, "interns": 4},
        "cull": {"enabled": False, "timeoutSeconds": 7200, "everySeconds": 600},
        "authenticatePrometheus": False,
        "db": {"persistent": True, "size": "5Gi", "storageClassName": "fast-ssd"},
        "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
        "nodeSelector": {"node-role.example.org/infra": "true"},
        "tolerations": [{"key": "infra", "operator": "Exists", "effect": "NoSchedule"}],
    },
    "proxy": {
        "image": {
            "repository": "registry.example.org/data/proxy",
            "tag": "9",
            "pullPolicy": "Never",
        },
        "service": {
            "type": "NodePort",
            "port": 8080,
            "nodePort": 30080,
            "annotations": {"example.org/lb": "internal"},
        },
        # Off: TLS is at the ingress below (both at once is refused).
        "https": {
            "enabled": False,
            "type": "secret",
            "secret": {"name": "hub-tls", "key": "key.pem", "crt": "cert.pem"},
            "redirectHttp": False,
        },
        "resources": {"requests": {"cpu": "200m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
    },
    "ingress": {
        "enabled": True,
        "ingressClassName": "nginx",
        "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"},
        "hosts": ["hub.example.org", "*.hub.example.org"],
        "tls": [{"secretName": "hub-tls", "hosts": ["hub.example.org", "*.hub.example.org"]}],
    },
    "singleuser": {
        "image": {
            "repository": "registry.example.org/data/singleuser",
            "tag": "@sha256:" + "a" * 64,
            "pullPolicy": "Always",
        },
        "cpu": {"request": 1, "limit": 4},
        "memory": {"request": "2Gi", "limit": "8Gi"},
        "storage": {"type": "dynamic", "capacity": "50Gi", "storageClassName": "standard"},
        "startTimeoutSeconds": 900,
    },
    "usage": {
        "enabled": True,
        "port": 9400,
        "prometheusUrl": "http://prometheus.monitoring.svc.cluster.local:9090/prom",
        "sampleEverySeconds": 10,
        "db": {
            "urlSecret": {"name": "usage-db", "key": "dsn"},
            "persistent": True,
            "size": "5Gi",
            "storageClassName": "fast-ssd",
        },
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
    },
    "autoscaler": {
        "image": {
            "repository": "registry.example.org/data/autoscaler",
            "tag": "1.2.3",
            "pullPolicy": "Always",
        },
        "replicas": 3,
        "prometheusUrl": "http://prometheus.monitoring.svc.cluster.local:9090/prom",
        "intervalSeconds": 5,
        "budgetCores": 256,
        "dryRun": True,
        "logLevel": "DEBUG",
        "metricsPort": 9400,
        "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
    },
    "clusters": {
        "headsOnDemand": True,
        "sparkImage": {"repository": "registry.example.org/data/spark", "tag": "4.3.0-1"},
        "flinkImage": {"repository": "registry.example.org/data/flink", "tag": "2.3.0-1"},
    },
    "networkPolicy": {
        "enabled": True,
        "blockedEgressCIDRs": ["169.254.169.254/32", "10.0.0.0/8", "fd00:ec2::254/128", "fc00::/7"],
        "prometheusPodLabels": {"app": "prometheus", "team": "observability"},
    },
    "monitoring": {
        "namespace": "observability",
        "enabled": True,
        "labels": {"release": "kube-prometheus-stack"},
        "scrapeInterval": "30s",
        "rules": {
            "enabled": True,
            "runbookBaseUrl": "https://wiki.example.org/hubscale/runbook",
            "idleCapacityFor": "2h",
        },
        "dashboards": {"enabled": True, "label": "grafana_dashboard", "labelValue": "hubscale"},
    },
    "tests": {"image": {"repository": "registry.example.org/tools/python", "tag": "3.11"}},
}
VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "monitoring": {"monitoring": {"enabled": True, "dashboards": {"enabled": True}}},
    "minimal": {
        "networkPolicy": {"enabled": False},
        "proxy": {"service": {"type": "ClusterIP"}},
        "hub": {"db": {"persistent": False}, "cull": {"enabled": False}},
        "singleuser": {"storage": {"type": "none"}},
        "autoscaler": {"replicas": 1},
    },
    "custom profiles and resources": {
        "hub": {"profiles": CUSTOM_PROFILES, "resources": EVERYTHING["hub"]["resources"]},
        "autoscaler": EVERYTHING["autoscaler"],
        "singleuser": {
            "cpu": {"request": 1, "limit": 4},
            "memory": {"request": "2Gi", "limit": "8Gi"},
        },
    },
    "heads always": {"clusters": {"headsOnDemand": False}, "monitoring": {"enabled": True}},
    "https": {"proxy": {"https": {"enabled": True, "secret": {"name": "hub-tls"}}}},
    "https only": {
        "proxy": {
            "https": {"enabled": True, "secret": {"name": "hub-tls"}, "redirectHttp": False},
            "service": {"type": "ClusterIP"},
        }
    },
    "everything": EVERYTHING,
}
MONITORING_KINDS = {"PodMonitor", "PrometheusRule"}


def monitoring_manifests(manifests: list[Manifest]) -> list[Manifest]:
    return [m for m in manifests if m["kind"] in MONITORING_KINDS]


def kubernetes_manifests(manifests: list[Manifest]) -> list[Manifest]:
    return [m for m in manifests if m["kind"] not in MONITORING_KINDS]


def data(manifest: Manifest) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in manifest["data"].items()}


def without_random(manifests: list[Manifest]) -> list[Manifest]:
    """The Secret's generated values differ on each render; everything else must not."""
    for manifest in manifests:
        if manifest["kind"] == "Secret":
            manifest["data"] = sorted(manifest["data"])
    return manifests


# Lint and render.


@pytest.mark.parametrize("version", HELMS)
@pytest.mark.parametrize("variant", ["defaults", "everything"])
def test_helm_lint_strict_passes(version, variant, tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(deep_merge(TRIAL_LOGIN, VARIANTS[variant])))
    done = helm(version, "lint", "--strict", str(CHART), "--values", str(values))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in done.stdout


@pytest.mark.parametrize("variant", VARIANTS)
def test_helm3_and_helm4_render_the_same_manifests(variant):
    helm3, helm4 = (without_random(render(version, VARIANTS[variant])) for version in HELMS)
    assert helm3 == helm4


def test_every_rendered_manifest_is_valid_for_the_pinned_kubernetes_version():
    """Each distinct manifest of every variant and both helms, strict (unknown fields fail)."""
    seen: set[str] = set()
    for variant in VARIANTS.values():
        for version in HELMS:
            for manifest in kubernetes_manifests(render(version, variant)):
                key = json.dumps(manifest, sort_keys=True)
                if key not in seen:
                    seen.add(key)
                    assert_valid(manifest)
    assert len(seen) > 40


def test_default_render_has_every_component_and_nothing_cluster_wide():
    manifests = render("helm3")
    names = {(m["kind"], m["metadata"]["name"]) for m in manifests}
    assert names == {
        ("CustomResourceDefinition", "computeclusters.hubscale.io"),
        ("ConfigMap", f"{PREFIX}-hub"),
        ("Secret", f"{PREFIX}-hub-secret"),
        ("PersistentVolumeClaim", f"{PREFIX}-hub-db"),
        ("Deployment", f"{PREFIX}-hub"),
        ("Service", f"{PREFIX}-hub"),
        ("ServiceAccount", f"{PREFIX}-hub"),
        ("Role", f"{PREFIX}-hub"),
        ("RoleBinding", f"{PREFIX}-hub"),
        ("ServiceAccount", f"{PREFIX}-singleuser"),
        ("Deployment", f"{PREFIX}-proxy"),
        ("Service", f"{PREFIX}-proxy-public"),
        ("Service", f"{PREFIX}-proxy-api"),
        ("Deployment", f"{PREFIX}-autoscaler"),
        ("PodDisruptionBudget", f"{PREFIX}-autoscaler"),
        ("ServiceAccount", f"{PREFIX}-autoscaler"),
        ("Role", f"{PREFIX}-autoscaler"),
        ("RoleBinding", f"{PREFIX}-autoscaler"),
        ("NetworkPolicy", f"{PREFIX}-hub"),
        ("NetworkPolicy", f"{PREFIX}-proxy"),
        ("NetworkPolicy", f"{PREFIX}-autoscaler"),
        ("NetworkPolicy", f"{PREFIX}-singleuser"),
        ("NetworkPolicy", f"{PREFIX}-clusters"),
        ("Deployment", f"{PREFIX}-usage"),
        ("Service", f"{PREFIX}-usage"),
        ("PersistentVolumeClaim", f"{PREFIX}-usage-db"),
        ("ServiceAccount", f"{PREFIX}-usage"),
        ("Role", f"{PREFIX}-usage"),
        ("RoleBinding", f"{PREFIX}-usage"),
        ("NetworkPolicy", f"{PREFIX}-usage"),
        ("Pod", f"{PREFIX}-test-hub"),
    }
    for variant in VARIANTS.values():
        kinds = {m["kind"] for m in render("helm3", variant)}
        assert not kinds & {"ClusterRole", "ClusterRoleBinding", "Namespace"}


def test_the_crd_is_the_generated_one():
    crd = one(render("helm3"), "CustomResourceDefinition", "computeclusters.hubscale.io")
    text = (CHART / "crds" / "computeclusters.yaml").read_text(encoding="utf-8")
    assert crd == yaml.safe_load(text)


def autoscaler_arguments(values: dict[str, Any], name: str) -> argparse.Namespace:
    """The autoscaler container's arguments, parsed by the controller's own parser."""
    deployment = one(render("helm3", values), "Deployment", name)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "-m", "autoscaler"]
    arguments = [a.replace("$(POD_NAMESPACE)", NAMESPACE) for a in container["args"]]
    return controller_args(arguments, env={})  # the chart's arguments alone


def test_autoscaler_runs_two_replicas_with_leader_election_probes_and_metrics():
    deployment = one(render("helm3"), "Deployment", f"{PREFIX}-autoscaler")
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    namespace = {
        "name": "POD_NAMESPACE",
        "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
    }
    assert namespace in container["env"]
    assert container["ports"] == [{"name": "metrics", "containerPort": 9310, "protocol": "TCP"}]
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    # The controller's per-cluster NetworkPolicies let in pods with these labels (Flink REST).
    for key, value in ClusterSettings("ns", "s", "f").controller_pod_labels.items():
        assert pod["metadata"]["labels"][key] == value


def test_autoscaler_arguments_are_ones_the_controller_accepts():
    args = autoscaler_arguments({}, f"{PREFIX}-autoscaler")
    assert (args.backend, args.namespace, args.leader_election) == ("kubernetes", NAMESPACE, True)
    assert args.lease_name == f"{PREFIX}-autoscaler"
    assert args.listen == "0.0.0.0:9310" and args.interval == 2
    assert (args.spark_image, args.flink_image) == ("hubscale/spark:0.1.0", "hubscale/flink:0.1.0")
    assert args.monitoring_namespace == "monitoring"
    assert args.dry_run is False
    args = autoscaler_arguments(EVERYTHING, "team-hubscale-autoscaler")
    assert args.monitoring_namespace == "observability"
    assert args.prometheus_url == EVERYTHING["autoscaler"]["prometheusUrl"]
    assert (args.interval, args.budget_cores, args.log_level) == (5, 256, "DEBUG")
    assert args.dry_run is True
    assert args.listen == "0.0.0.0:9400"
    assert args.spark_image == "registry.example.org/data/spark:4.3.0-1"
    assert args.flink_image == "registry.example.org/data/flink:2.3.0-1"


def test_the_usage_service_runs_with_arguments_it_accepts_and_reads_clusters_only():
    objects = render("helm3")
    deployment = one(objects, "Deployment", f"{PREFIX}-usage")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "-m", "usage"]
    args = usage_args([a.replace("$(POD_NAMESPACE)", NAMESPACE) for a in container["args"]])
    assert (args.backend, args.namespace, args.sample_every_s) == ("kubernetes", NAMESPACE, 5.0)
    env = {e["name"]: e for e in container["env"]}
    assert env["JUPYTERHUB_API_TOKEN"]["valueFrom"]["secretKeyRef"]["key"] == "usage-token"
    assert "HUBSCALE_USAGE_DB_URL" not in env  # SQLite on its claim
    assert one(objects, "PersistentVolumeClaim", f"{PREFIX}-usage-db")
    role = one(objects, "Role", f"{PREFIX}-usage")
    assert role["rules"] == [
        {"apiGroups": ["hubscale.io"], "resources": ["computeclusters"], "verbs": ["list"]}
    ]
    hub = yaml.safe_load(one(objects, "ConfigMap", f"{PREFIX}-hub")["data"]["values.yaml"])
    assert hub["usage"] == {"enabled": True, "url": f"http://{PREFIX}-usage:9320"}


def test_the_usage_service_takes_its_database_url_from_a_secret_or_can_be_off():
    objects = render("helm3", EVERYTHING)
    container = one(objects, "Deployment", "team-hubscale-usage")["spec"]["template"]["spec"][
        "containers"
    ][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["HUBSCALE_USAGE_DB_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "usage-db", "key": "dsn"
    }  # fmt: skip
    assert find(objects, "PersistentVolumeClaim", "team-hubscale-usage-db") == []
    off = render("helm3", {"usage": {"enabled": False}})
    assert find(off, "Deployment", f"{PREFIX}-usage") == []
    hub = yaml.safe_load(one(off, "ConfigMap", f"{PREFIX}-hub")["data"]["values.yaml"])
    assert hub["usage"]["enabled"] is False


def test_group_budgets_reach_the_hubs_values():
    config = one(render("helm3", EVERYTHING), "ConfigMap", "team-hubscale-hub")
    hub = yaml.safe_load(config["data"]["values.yaml"])["hub"]
    assert hub["groupBudgetCores"] == {"data-science": 16, "interns": 4}
    config = one(render("helm3"), "ConfigMap", f"{PREFIX}-hub")
    assert yaml.safe_load(config["data"]["values.yaml"])["hub"]["groupBudgetCores"] == {}


def test_defaults_bound_what_users_start_named_servers_and_cores():
    """Each named server brings a Spark master and a Flink JobManager, each worker a core or
    more: by default a user has at most 3 named servers and all workers together 48 cores."""
    config = one(render("helm3"), "ConfigMap", f"{PREFIX}-hub")
    assert yaml.safe_load(config["data"]["values.yaml"])["hub"]["namedServerLimitPerUser"] == 3
    assert autoscaler_arguments({}, f"{PREFIX}-autoscaler").budget_cores == 48
    unbounded = {"hub": {"namedServerLimitPerUser": 0}, "autoscaler": {"budgetCores": 0}}
    config = one(render("helm3", unbounded), "ConfigMap", f"{PREFIX}-hub")
    assert yaml.safe_load(config["data"]["values.yaml"])["hub"]["namedServerLimitPerUser"] == 0
    assert autoscaler_arguments(unbounded, f"{PREFIX}-autoscaler").budget_cores is None


def assert_unprivileged(pod: dict[str, Any], where: str) -> None:
    context = pod["spec"]["securityContext"]
    assert context["runAsNonRoot"] is True, where
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}, where
    for container in pod["spec"]["containers"] + pod["spec"].get("initContainers", []):
        assert container["securityContext"]["allowPrivilegeEscalation"] is False, where
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}, where


def test_every_pod_of_the_chart_and_of_the_controller_runs_unprivileged():
    """The hub, the proxy, the autoscaler and the helm test pod (the chart), and the Spark and
    Flink pods the controller builds (kube_manifests). Notebook pods: test_kube_spawner_security."""
    for variant in VARIANTS.values():
        for manifest in render("helm3", variant):
            if manifest["kind"] == "Deployment":
                assert_unprivileged(manifest["spec"]["template"], manifest["metadata"]["name"])
            if manifest["kind"] == "Pod":
                assert_unprivileged(manifest, manifest["metadata"]["name"])
    settings = ClusterSettings(NAMESPACE, "spark:1", "flink:1")
    for engine in ("spark", "flink"):
        compute = cluster(f"alice-{engine}", engine)
        for manifest in cluster_objects(compute, "uid-1", settings, "secret", rest_tls()):
            if manifest["kind"] == "Deployment":
                assert_unprivileged(manifest["spec"]["template"], manifest["metadata"]["name"])


def test_default_prometheus_labels_are_the_controllers():
    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    expected = dict(ClusterSettings("ns", "s", "f").prometheus_pod_labels)
    assert values["networkPolicy"]["prometheusPodLabels"] == expected


def test_image_tags_default_to_the_app_version_and_digests_are_kept():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    hub = one(render("helm3"), "Deployment", f"{PREFIX}-hub")
    assert hub["spec"]["template"]["spec"]["containers"][0]["image"] == (
        f"hubscale/hub:{chart['appVersion']}"
    )
    config = one(render("helm3", EVERYTHING), "ConfigMap", "team-hubscale-hub")
    singleuser = yaml.safe_load(config["data"]["values.yaml"])["singleuser"]
    assert singleuser["image"] == "registry.example.org/data/singleuser@sha256:" + "a" * 64
    proxy = one(render("helm3"), "Deployment", f"{PREFIX}-proxy")
    assert proxy["spec"]["template"]["spec"]["containers"][0]["image"].startswith("hubscale/hub:")


# The hub's configuration.


def test_hub_configmap_carries_hub_config_and_the_shipped_profiles():
    config = one(render("helm3"), "ConfigMap", f"{PREFIX}-hub")["data"]
    hub_config = REPO / "hub_config"
    assert config["jupyterhub_config.py"] == (hub_config / "jupyterhub_config.py").read_text()
    assert config["profiles.yaml"] == (hub_config / "profiles.yaml").read_text()


def test_custom_profiles_render_as_a_file_the_spawner_loads():
    config = one(
        render("helm4", VARIANTS["custom profiles and resources"]), "ConfigMap", f"{PREFIX}-hub"
    )["data"]
    profiles = load_profiles(config["profiles.yaml"])
    assert profiles.names == ["tiny", "huge"]
    assert profiles.default.name == "tiny"
    assert profiles.get("huge").spark.worker.cores == 8


def test_chart_copies_and_generated_schema_are_up_to_date():
    assert stale(expected_files()) == [], "run: python -m tools.chart_files --write"


def test_hub_gets_its_secrets_and_settings_from_the_chart():
    manifests = render("helm3")
    container = one(manifests, "Deployment", f"{PREFIX}-hub")["spec"]["template"]["spec"][
        "containers"
    ][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["HUBSCALE_MODE"]["value"] == "kubernetes"
    secret_keys = set(one(manifests, "Secret", f"{PREFIX}-hub-secret")["data"])
    for name, key in {
        "JPY_COOKIE_SECRET": "cookie-secret",
        "CONFIGPROXY_AUTH_TOKEN": "proxy-token",
        "HUBSCALE_METRICS_TOKEN": "metrics-token",
    }.items():
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": f"{PREFIX}-hub-secret", "key": key} and key in secret_keys
    mounted = {m["mountPath"] for m in container["volumeMounts"]}
    assert {env["HUBSCALE_STATE_DIR"]["value"], "/usr/local/etc/jupyterhub"} <= mounted
    assert env["HUBSCALE_PROFILES"]["value"] == "/usr/local/etc/jupyterhub/profiles.yaml"


def test_heads_on_demand_are_on_by_default_and_the_hub_gets_the_activity_token():
    manifests = render("helm3")
    hub_values = yaml.safe_load(one(manifests, "ConfigMap", f"{PREFIX}-hub")["data"]["values.yaml"])
    assert hub_values["clusters"] == {"headsOnDemand": True}
    container = one(manifests, "Deployment", f"{PREFIX}-hub")["spec"]["template"]["spec"][
        "containers"
    ][0]
    env = {e["name"]: e for e in container["env"]}
    ref = env["HUBSCALE_ACTIVITY_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": f"{PREFIX}-hub-secret", "key": "activity-token"}
    token = data(one(manifests, "Secret", f"{PREFIX}-hub-secret"))["activity-token"]
    assert re.fullmatch(r"[0-9a-f]{64}", token)

    off = render("helm3", VARIANTS["heads always"])
    hub_values = yaml.safe_load(one(off, "ConfigMap", f"{PREFIX}-hub")["data"]["values.yaml"])
    assert hub_values["clusters"] == {"headsOnDemand": False}
    container = one(off, "Deployment", f"{PREFIX}-hub")["spec"]["template"]["spec"]["containers"]
    assert "HUBSCALE_ACTIVITY_TOKEN" not in {e["name"] for e in container[0]["env"]}
    assert find(off, "PodMonitor", f"{PREFIX}-notebooks") == []


def test_the_notebooks_podmonitor_scrapes_the_activity_page_where_the_spawner_serves_it():
    """Port and path are the spawner's (NOTEBOOK_ACTIVITY_PORT, hubscale_nb.activity's ROUTE),
    the token the hub's Secret's, and the user and server labels KubeSpawner's exact names."""
    manifests = render("helm3", VARIANTS["monitoring"])
    monitor = one(manifests, "PodMonitor", f"{PREFIX}-notebooks")
    assert_podmonitor_shape(monitor)
    assert monitor["spec"]["selector"] == {"matchLabels": {ROLE_LABEL: NOTEBOOK_ROLE}}
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["path"] == ACTIVITY_ROUTE
    assert endpoint["authorization"]["credentials"] == {
        "name": f"{PREFIX}-hub-secret",
        "key": "activity-token",
    }
    rules = endpoint["relabelings"]
    address = next(r for r in rules if r.get("targetLabel") == "__address__")
    assert address["replacement"] == f"${{1}}:{NOTEBOOK_ACTIVITY_PORT}"
    by_target = {r["targetLabel"]: r for r in rules}
    user, server = by_target["user"], by_target["server"]
    assert user["sourceLabels"] == ["__meta_kubernetes_pod_annotation_hub_jupyter_org_username"]
    assert server["sourceLabels"] == ["__meta_kubernetes_pod_annotation_hub_jupyter_org_servername"]
    assert by_target["role"]["replacement"] == "notebook"  # what the activity queries select


def test_a_new_hub_configuration_restarts_the_hub():
    def checksum(values: dict[str, Any]) -> str:
        hub = one(render("helm3", values), "Deployment", f"{PREFIX}-hub")
        return hub["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    assert checksum({}) == checksum({"autoscaler": {"replicas": 3}})
    assert checksum({}) != checksum({"hub": {"profiles": CUSTOM_PROFILES}})


# The Secret: generated once, kept on upgrades.


def secret_only_chart(directory: Path) -> Path:
    """A copy of the chart with only the Secret's template: helm 4's server-side dry run maps
    every kind through discovery, and the API-server double serves only some kinds."""
    copy = directory / "hubscale"
    shutil.copytree(CHART, copy, ignore=shutil.ignore_patterns("templates", "crds"))
    (copy / "templates" / "hub").mkdir(parents=True)
    shutil.copy(CHART / "templates" / "_helpers.tpl", copy / "templates")
    shutil.copy(CHART / "templates" / "hub" / "secret.yaml", copy / "templates" / "hub")
    return copy


def kubeconfig(path: Path, server: str) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "double", "cluster": {"server": server}}],
                "users": [{"name": "tester", "user": {"token": "not-checked"}}],
                "contexts": [
                    {
                        "name": "double",
                        "context": {"cluster": "double", "user": "tester", "namespace": NAMESPACE},
                    }
                ],
                "current-context": "double",
            }
        )
    )
    return path


@pytest.mark.parametrize("version", HELMS)
def test_hub_secret_keeps_the_values_of_the_installed_one(version, tmp_path):
    """helm's real `lookup`, against the API-server double holding the Secret of an earlier
    install (`--dry-run=server`): kept keys come back unchanged, missing ones are generated."""
    chart = secret_only_chart(tmp_path)
    earlier = {"cookie-secret": "ab" * 32, "proxy-token": "proxy-token-of-the-first-install"}
    with ApiServerDouble() as double:
        double.create(
            "secrets",
            NAMESPACE,
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": f"{PREFIX}-hub-secret",
                    # What the earlier `helm install` left: the release owns the Secret.
                    "labels": {"app.kubernetes.io/managed-by": "Helm"},
                    "annotations": {
                        "meta.helm.sh/release-name": "hs",
                        "meta.helm.sh/release-namespace": NAMESPACE,
                    },
                },
                "data": {k: base64.b64encode(v.encode()).decode() for k, v in earlier.items()},
            },
        )
        config = kubeconfig(tmp_path / "kubeconfig", double.url)
        done = template(
            version,
            {},
            "--dry-run=server",
            "--disable-openapi-validation",
            chart=chart,
            env={"KUBECONFIG": str(config)},
        )
        assert done.returncode == 0, done.stderr
        assert double.count("GET", f"/namespaces/{NAMESPACE}/secrets/{PREFIX}-hub-secret") >= 1
    upgraded = data(one(documents(done.stdout), "Secret", f"{PREFIX}-hub-secret"))
    assert {k: upgraded[k] for k in earlier} == earlier
    assert re.fullmatch(r"[0-9a-f]{64}", upgraded["metrics-token"])
    assert len(upgraded["user-password"]) == 16 and len(upgraded["admin-password"]) == 40


@pytest.mark.parametrize("version", HELMS)
def test_hub_secret_of_a_first_install_is_random(version):
    """No cluster (helm template): every key generated, differently on each render."""
    first, second = (
        data(one(documents(template(version).stdout), "Secret", f"{PREFIX}-hub-secret"))
        for _ in range(2)
    )
    for key in ("cookie-secret", "proxy-token", "metrics-token"):
        # JupyterHub reads JPY_COOKIE_SECRET as hex: 32 bytes.
        assert re.fullmatch(r"[0-9a-f]{64}", first[key]), key
        assert first[key] != second[key]
    assert first["user-password"] != second["user-password"]


# Values: documented, validated, refused with the path.


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = SCHEMA["definitions"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def leaf_paths(values: Any, schema: dict[str, Any], prefix: str = "") -> set[str]:
    """Paths of the options in ``values``: a mapping the schema lists properties of is walked,
    anything else (labels, lists, free-form config) is one option."""
    schema = resolve(schema)
    if isinstance(values, dict) and values and "properties" in schema:
        return {
            path
            for key, value in values.items()
            for path in leaf_paths(value, schema["properties"][key], f"{prefix}{key}.")
        }
    return {prefix.rstrip(".")}


def test_the_everything_values_set_every_option():
    defaults = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    covered = leaf_paths(EVERYTHING, SCHEMA)
    missing = [
        path
        for path in sorted(leaf_paths(defaults, SCHEMA))
        if not any(c == path or c.startswith(path + ".") for c in covered)
    ]
    assert missing == []


def test_every_value_has_a_comment_above_it():
    lines = (CHART / "values.yaml").read_text(encoding="utf-8").splitlines()
    undocumented = []
    for number, line in enumerate(lines):
        if re.match(r"^\s*[A-Za-z][\w.-]*:", line):
            above = lines[number - 1].strip() if number else ""
            if not above.startswith("#"):
                undocumented.append(f"values.yaml:{number + 1}: {line.strip()}")
    assert undocumented == []


def test_every_schema_property_is_described_and_objects_are_closed():
    problems = []

    def walk(node: Any, path: str) -> None:
        if not isinstance(node, dict):
            return
        for key, child in node.get("properties", {}).items():
            where = f"{path}.{key}"
            if "$ref" not in child and "description" not in child:
                problems.append(f"{where}: no description")
            closed = child.get("additionalProperties") is False
            if child.get("type") == "object" and "properties" in child and not closed:
                problems.append(f"{where}: additionalProperties is not false")
            walk(child, where)

    walk(SCHEMA, "values")
    for name, definition in SCHEMA["definitions"].items():
        if "description" not in definition:
            problems.append(f"definitions.{name}: no description")
        walk(definition, f"definitions.{name}")
    assert problems == []


def test_the_default_values_and_profiles_satisfy_the_schema():
    validator = jsonschema.Draft7Validator(SCHEMA)
    validator.validate(yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8")))
    validator.validate(deep_merge(yaml.safe_load((CHART / "values.yaml").read_text()), EVERYTHING))
    shipped = yaml.safe_load((REPO / "hub_config" / "profiles.yaml").read_text())["profiles"]
    profile = {**SCHEMA["definitions"]["profile"], "definitions": SCHEMA["definitions"]}
    for entry in shipped:
        jsonschema.Draft7Validator(profile).validate(entry)


@pytest.mark.parametrize(
    "change",
    [
        {"spark": {"maxWorkers": 5000, "worker": {"cores": 1, "memory": "1Gi"}}},
        {"spark": {"maxWorkers": 2, "worker": {"cores": 0, "memory": "1Gi"}}},
        {"spark": {"maxWorkers": 2, "worker": {"cores": 1, "memory": "lots"}}},
        {"spark": {"maxWorkers": 2, "workers": 1, "worker": {"cores": 1, "memory": "1Gi"}}},
        {"userOptions": {"executor_count": {"min": 0, "max": 1}}},
        {"name": "Not A Label"},
        {"idleTimeoutSeconds": -1},
    ],
)
def test_a_profile_the_spawner_refuses_is_refused_by_the_schema(change):
    profile = {**CUSTOM_PROFILES[0], **change}
    with pytest.raises(ProfileError):
        load_profiles(yaml.safe_dump({"profiles": [profile]}))
    schema = {**SCHEMA["definitions"]["profile"], "definitions": SCHEMA["definitions"]}
    assert list(jsonschema.Draft7Validator(schema).iter_errors(profile))


BAD_VALUES = {
    # --set value -> what both helms' messages must name
    "autoscaler.replicas=0": r"autoscaler[./]replicas",
    "autoscaler.replicas=two": r"autoscaler[./]replicas",
    "autoscaler.intervalSeconds=0": r"autoscaler[./]intervalSeconds",
    "autoscaler.logLevel=LOUD": r"autoscaler[./]logLevel",
    "autoscaler.prometheusUrl=prometheus:9090": r"autoscaler[./]prometheusUrl",
    "hub.colour=blue": r"hub\W.*colour",
    "hub.port=70000": r"hub[./]port",
    "hub.cull.timeoutSeconds=-5": r"hub[./]cull[./]timeoutSeconds",
    "singleuser.storage.type=nfs": r"singleuser[./]storage[./]type",
    "singleuser.memory.limit=lots": r"singleuser[./]memory[./]limit",
    "proxy.service.type=Ingress": r"proxy[./]service[./]type",
    "networkPolicy.blockedEgressCIDRs={10.0.0.0/33}": r"networkPolicy[./]blockedEgressCIDRs",
    "networkPolicy.blockedEgressCIDRs={fd00::/129}": r"networkPolicy[./]blockedEgressCIDRs",
    "monitoring.namespace=Monitoring": r"monitoring[./]namespace",
    "monitoring.scrapeInterval=often": r"monitoring[./]scrapeInterval",
    "hub.profiles[0].name=x": r"hub[./]profiles[./]0",
    "clusters.sparkImage.tag=no spaces": r"clusters[./]sparkImage[./]tag",
    # Checked by the templates (no schema can say it), with the value's path.
    "proxy.service.nodePort=30080": r"proxy\.service\.nodePort: set to 30080",
}


@pytest.mark.parametrize("version", HELMS)
@pytest.mark.parametrize("setting", BAD_VALUES)
def test_bad_values_are_refused_naming_the_value(version, setting):
    done = template(version, {}, "--set", setting)
    assert done.returncode != 0
    assert re.search(BAD_VALUES[setting], done.stderr), done.stderr


@pytest.mark.parametrize("version", HELMS)
def test_duplicate_profile_names_are_refused_naming_the_value(version):
    twice = [CUSTOM_PROFILES[1], {**CUSTOM_PROFILES[1], "displayName": "Again"}]
    done = template(version, {"hub": {"profiles": twice}})
    assert done.returncode != 0
    assert 'hub.profiles[1].name: duplicate name "huge", also hub.profiles[0]' in done.stderr


# Monitoring.


def test_monitoring_objects_exist_only_when_enabled():
    assert monitoring_manifests(render("helm3")) == []
    assert find(render("helm3"), "ConfigMap", f"{PREFIX}-dashboards") == []
    kinds = sorted(m["kind"] for m in monitoring_manifests(render("helm3", VARIANTS["monitoring"])))
    assert kinds == ["PodMonitor"] * 5 + ["PrometheusRule"]  # the notebooks' activity too


RELABEL_KEYS = {
    "sourceLabels",
    "separator",
    "targetLabel",
    "regex",
    "modulus",
    "replacement",
    "action",
}


def assert_podmonitor_shape(monitor: Manifest) -> None:
    """The PodMonitor fields we use, in the Prometheus Operator's monitoring.coreos.com/v1 shape
    (not in the Kubernetes schemas: checked here by hand)."""
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    spec = monitor["spec"]
    assert set(spec) == {"selector", "namespaceSelector", "podMetricsEndpoints"}
    assert set(spec["selector"]) <= {"matchLabels", "matchExpressions"} and spec["selector"]
    assert spec["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    for endpoint in spec["podMetricsEndpoints"]:
        assert set(endpoint) <= {"port", "path", "interval", "relabelings", "authorization"}
        assert endpoint["path"].startswith("/")
        assert re.fullmatch(r"\d+(ms|s|m|h)", endpoint["interval"])
        for rule in endpoint["relabelings"]:
            assert set(rule) <= RELABEL_KEYS, rule
            assert rule.get("action", "replace") in {"replace", "keep", "drop", "labelmap"}
            assert isinstance(rule.get("sourceLabels", []), list)
        if "authorization" in endpoint:
            assert endpoint["authorization"]["type"] == "Bearer"
            assert set(endpoint["authorization"]["credentials"]) == {"name", "key"}


def test_podmonitors_have_the_operators_shape_and_scrape_ports_the_pods_have():
    manifests = render("helm4", EVERYTHING)
    monitors = {m["metadata"]["name"]: m for m in find(manifests, "PodMonitor")}
    for monitor in monitors.values():
        assert_podmonitor_shape(monitor)
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    # The chart's own pods: the named port exists in the selected pod.
    for component, port, path in [
        ("autoscaler", "metrics", "/metrics"),
        ("hub", "http", "/hub/metrics"),
    ]:
        endpoint = monitors[f"team-hubscale-{component}"]["spec"]["podMetricsEndpoints"][0]
        assert (endpoint["port"], endpoint["path"]) == (port, path)
        pod = one(manifests, "Deployment", f"team-hubscale-{component}")["spec"]["template"]
        assert port in {p["name"] for p in pod["spec"]["containers"][0]["ports"]}
        selector = monitors[f"team-hubscale-{component}"]["spec"]["selector"]["matchLabels"]
        assert selector.items() <= pod["metadata"]["labels"].items()


def test_cluster_podmonitor_scrapes_each_role_where_the_controller_says():
    """Ports and paths of the PodMonitor against the controller's own Deployments
    (autoscaler/backends/kubernetes/manifests.py): each role's port exists and its path is the
    pod's prometheus.io/path."""
    monitor = one(render("helm3", VARIANTS["monitoring"]), "PodMonitor", f"{PREFIX}-clusters")
    by_role = {}
    for endpoint in monitor["spec"]["podMetricsEndpoints"]:
        keep = [r for r in endpoint["relabelings"] if r.get("action") == "keep"]
        assert keep[0]["sourceLabels"] == ["__meta_kubernetes_pod_label_hubscale_io_role"]
        by_role[keep[0]["regex"]] = endpoint
        targets = {r["targetLabel"] for r in endpoint["relabelings"] if "targetLabel" in r}
        assert {"cluster", "user", "engine", "role", "worker", "job"} <= targets
    settings = ClusterSettings(NAMESPACE, "spark:1", "flink:1")
    pods = []
    for engine in ("spark", "flink"):
        compute = cluster(f"alice-{engine}", engine)
        for manifest in cluster_objects(compute, "uid-1", settings, "secret", rest_tls()):
            if manifest["kind"] == "Deployment":
                pods.append(manifest["spec"]["template"])
    assert len(pods) == 4
    for pod in pods:
        role = pod["metadata"]["labels"][ROLE_LABEL]
        endpoint = by_role.pop(role)
        ports = {p["name"]: p["containerPort"] for p in pod["spec"]["containers"][0]["ports"]}
        annotations = pod["metadata"]["annotations"]
        assert ports[endpoint["port"]] == int(annotations["prometheus.io/port"])
        assert endpoint["path"] == annotations["prometheus.io/path"]
        assert CLUSTER_LABEL in pod["metadata"]["labels"]
    assert by_role == {}


def prometheus_rule(values: dict[str, Any]) -> Manifest:
    (rule,) = find(render("helm3", values), "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(rule["spec"]) == {"groups"}
    return rule


def test_prometheus_rule_is_the_promtool_tested_file_with_the_runbook_base_of_the_values():
    plain = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    assert prometheus_rule(VARIANTS["monitoring"])["spec"]["groups"] == plain["groups"]
    custom = prometheus_rule(EVERYTHING)["spec"]["groups"]
    base = EVERYTHING["monitoring"]["rules"]["runbookBaseUrl"]
    text = ALERTS.read_text(encoding="utf-8").replace(DEFAULT_RUNBOOK, base)
    text = text.replace("30m  # monitoring.rules.idleCapacityFor", "2h")
    assert custom == yaml.safe_load(text)["groups"]
    [idle] = [r for g in custom for r in g["rules"] if r.get("alert") == "HubscaleIdleCapacityHeld"]
    assert idle["for"] == "2h"


def test_alerts_follow_the_mixin_conventions():
    runbook = (CHART / "RUNBOOK.md").read_text(encoding="utf-8")
    sections = {line[3:].strip().lower() for line in runbook.splitlines() if line.startswith("## ")}
    rules = [r for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]]
    rules = [r for r in rules if "alert" in r]  # recording rules (hubscale:...) have no alert
    assert len(rules) >= 6
    for rule in rules:
        name = rule["alert"]
        assert re.fullmatch(r"Hubscale[A-Z][A-Za-z]+", name)
        assert re.fullmatch(r"\d+m", rule["for"]), name
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
        annotations = rule["annotations"]
        assert set(annotations) == {"summary", "description", "runbook_url"}, name
        assert annotations["runbook_url"] == f"{DEFAULT_RUNBOOK}#{name.lower()}"
        assert name.lower() in sections, f"RUNBOOK.md has no section for {name}"


SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def controller_metric_names() -> set[str]:
    """Every series name the controller's registry can export (children or not)."""
    return {
        family.name + suffix
        for family in ControllerMetrics().registry.collect()
        for suffix in SUFFIXES[family.type]
    }


def hubscale_metrics(expr: str) -> set[str]:
    return set(re.findall(r"\bhubscale_[a-z_]+", expr))


def test_alerts_and_dashboards_use_metrics_the_controller_exports():
    exported = controller_metric_names()
    used: set[str] = set()
    for group in yaml.safe_load(ALERTS.read_text())["groups"]:
        for rule in group["rules"]:
            used |= hubscale_metrics(rule["expr"])
    for path in DASHBOARDS.glob("*.json"):
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                used |= hubscale_metrics(target["expr"])
    assert used, "no hubscale metric used"
    assert used - exported == set()


def test_dashboards_use_only_recording_rules_the_chart_ships():
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    recorded = {r["record"] for g in groups for r in g["rules"] if "record" in r}
    used: set[str] = set()
    for path in DASHBOARDS.glob("*.json"):
        for panel in json.loads(path.read_text(encoding="utf-8"))["panels"]:
            for target in panel["targets"]:
                used |= set(re.findall(r"\bhubscale:[a-z_]+", target["expr"]))
    assert used and used <= recorded


# Grafana's variables, as a dashboard at "last hour" would replace them.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__range_s": "3600", "$__range": "1h",
                     "$namespace": "hub", "$engine": ".*"}  # fmt: skip


def test_every_dashboard_query_parses_as_promql(tmp_path):
    """Each panel's query, its variables replaced, checked by promtool as a recording rule."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool comes with Debian's prometheus package (make install)"
    rules = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        for panel in json.loads(path.read_text(encoding="utf-8"))["panels"]:
            for target in panel["targets"]:
                expr = target["expr"]
                for variable, value in GRAFANA_VARIABLES.items():
                    expr = expr.replace(variable, value)
                rules.append({"record": f"dashboard:{path.stem.replace('-', '_')}", "expr": expr})
    file = tmp_path / "dashboards.yaml"
    file.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    checked = subprocess.run(
        [promtool, "check", "rules", str(file)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_dashboard_configmap_carries_the_dashboards_for_the_grafana_sidecar():
    config = one(render("helm3", EVERYTHING), "ConfigMap", "team-hubscale-dashboards")
    assert config["metadata"]["labels"]["grafana_dashboard"] == "hubscale"
    files = sorted(p.name for p in DASHBOARDS.glob("*.json"))
    assert sorted(config["data"]) == files and files
    for name in files:
        dashboard = json.loads(config["data"][name])
        assert dashboard["uid"] and dashboard["title"]
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(ids) == len(set(ids))


def test_alert_rules_pass_promtool_check_and_their_unit_tests(tmp_path):
    promtool = shutil.which("promtool")
    assert promtool, "promtool comes with Debian's prometheus package (make install)"
    checked = subprocess.run(
        [promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    rules = len([r for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]])
    assert f"SUCCESS: {rules} rules found" in checked.stdout
    tested = subprocess.run(
        [promtool, "test", "rules", str(ALERTS_TEST)], capture_output=True, text=True, timeout=120
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    # Every alert has a test where it fires and one where it stays silent.
    cases = yaml.safe_load(ALERTS_TEST.read_text())["tests"]
    checks = [t for c in cases for t in c.get("alert_rule_test", [])]  # or promql_expr_test
    fired = {t["alertname"] for t in checks if t["exp_alerts"]}
    silent = {t["alertname"] for t in checks if not t["exp_alerts"]}
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    alerts = {r["alert"] for g in groups for r in g["rules"] if "alert" in r}
    assert fired == alerts
    assert alerts - silent <= {"HubscaleHubDown", "HubscaleBackendErrors"}
    # The rules as shipped in the PrometheusRule (another runbook base) pass promtool too.
    shipped = tmp_path / "shipped.yaml"
    shipped.write_text(yaml.safe_dump({"groups": prometheus_rule(EVERYTHING)["spec"]["groups"]}))
    checked = subprocess.run(
        [promtool, "check", "rules", str(shipped)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


# NOTES.txt and the helm test hook.


def notes(version: str, values: dict[str, Any], tmp_path: Path) -> str:
    """NOTES.txt rendered by helm. helm 4: as `helm install --dry-run=client` prints it. helm 3.17
    asks a cluster for its kinds even then, so it renders NOTES.txt's text, unchanged, as a
    ConfigMap's data in a copy of the chart (`helm template`)."""
    file = tmp_path / "values.yaml"
    file.write_text(yaml.safe_dump(deep_merge(TRIAL_LOGIN, values)))
    if version == "helm4":
        done = helm(
            version,
            "install",
            "hs",
            str(CHART),
            "--namespace",
            NAMESPACE,
            "--dry-run=client",
            "--values",
            str(file),
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.split("\nNOTES:\n", 1)[1]
    copy = tmp_path / "hubscale"
    if not copy.exists():
        shutil.copytree(CHART, copy)
        text = (CHART / "templates" / "NOTES.txt").read_text(encoding="utf-8")
        (copy / "templates" / "_notes.tpl").write_text(
            '{{- define "notes" -}}\n' + text + "{{- end -}}\n"
        )
        (copy / "templates" / "notes.yaml").write_text(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\n"
            'data:\n  notes: {{ include "notes" . | toJson }}\n'
        )
    done = template(version, values, "--show-only", "templates/notes.yaml", chart=copy)
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)["data"]["notes"]


@pytest.mark.parametrize("version", HELMS)
def test_notes_say_how_to_log_in_and_where_the_clusters_are(version, tmp_path):
    text = notes(version, {}, tmp_path)
    assert "kubectl get cc -A" in text
    assert f"kubectl get secret {PREFIX}-hub-secret -n {NAMESPACE}" in text
    assert "{.data.user-password}" in text and "{.data.admin-password}" in text
    assert f"helm test hs -n {NAMESPACE}" in text
    assert "kubectl apply -f crds/" in text  # helm never upgrades a CRD
    assert "<no value>" not in text
    other = notes(version, VARIANTS["minimal"], tmp_path)
    assert f"kubectl port-forward -n {NAMESPACE} service/{PREFIX}-proxy-public" in other
    assert "NetworkPolicies are off" in other and "<no value>" not in other


@pytest.mark.parametrize("version", HELMS)
def test_notes_warn_of_clear_text_and_say_https_when_tls_is_on(version, tmp_path):
    plain = notes(version, {}, tmp_path)
    assert "http://<that address>:80/" in plain
    assert "WARNING: no TLS (proxy.https or ingress.tls)" in plain
    assert "a trial only: anyone who has it can log in as any" in plain
    https = notes(version, VARIANTS["https"], tmp_path)
    assert "https://<that address>:443/" in https and "WARNING" not in https
    assert f"kubectl rollout restart deployment/{PREFIX}-proxy -n {NAMESPACE}" in https
    production = {
        "hub": {"authenticatorClass": "generic-oauth"},
        "proxy": {"service": {"type": "ClusterIP"}},
        "ingress": EVERYTHING["ingress"],
    }
    ingress = notes(version, production, tmp_path)
    assert "browse to https://hub.example.org/" in ingress and "WARNING" not in ingress
    assert "with generic-oauth, as configured in hub.config" in ingress
    assert "user-password" not in ingress and "<no value>" not in ingress


def test_helm_test_hook_checks_the_hub_through_the_public_proxy():
    pod = one(render("helm3"), "Pod", f"{PREFIX}-test-hub")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    container = pod["spec"]["containers"][0]
    assert container["command"][-1] == f"http://{PREFIX}-proxy-public:80/hub/api"
    compile(container["command"][2], "helm-test", "exec")  # the check is valid Python
