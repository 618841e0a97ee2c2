"""The Kubernetes objects of one ComputeCluster: pure functions, no I/O.

Per cluster: a Secret with the engine's configuration (Spark's holds the RPC auth secret, Flink's
the REST API's TLS credential, which the TaskManagers' pods do not mount), the
head (Spark master or Flink JobManager) as a Deployment behind a Service, the workers (Spark
workers or Flink TaskManagers) as a Deployment whose replicas only ``scale`` sets, and a
NetworkPolicy; a Spark cluster has a second one letting its pods into its server's notebook pod on
the drivers' fixed ports (executors connect back to their driver). Every object is owned by the
ComputeCluster (Kubernetes garbage-collects it with the object) and labelled with cluster, user,
engine and role. The names, labels and configuration are the ones the spawner sees too:
``hubscale.names`` and ``hubscale.kube_conf`` (the same functions as in local mode, with Kubernetes
hosts and ports).
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from hubscale.flink_conf import JOBMANAGER_MEMORY_MIB, dynamic_properties
from hubscale.flink_tls import RestTls
from hubscale.kube_conf import (
    CONF_DIR,
    FLINK_PORTS,
    FLINK_TASKMANAGER_FILES,
    FLINK_TASKMANAGER_RPC,
    NAMESPACE_NAME_LABEL,
    SPARK_DRIVER_PORT_RANGES,
    SPARK_PORTS,
    WORK_DIR,
    ClusterSettings,
    config_files,
    taskmanager_memory_mib,
)
from hubscale.names import (
    CLUSTER_LABEL,
    HEAD_ROLE,
    ROLE_LABEL,
    WORKER_ROLE,
    config_secret_name,
    driver_policy_name,
    head_name,
    labels,
    notebook_selector,
    policy_name,
    service_host,
    worker_name,
)
from hubscale.spark_conf import DECOMMISSION_TIMEOUT_S, master_url
from hubscale.spec import API_VERSION, KIND, ComputeCluster

Manifest = dict[str, Any]

MANIFEST_HASH = "hubscale.io/manifest-hash"  # what we last applied: unchanged -> no write
CONFIG_HASH = "hubscale.io/config-hash"  # on pod templates: a new configuration rolls the pods
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"

SPARK_HOME = "/opt/spark"
FLINK_HOME = "/opt/flink"
SPARK_UID = 185  # the user of the Spark and Flink images (images/)
FLINK_UID = 9999
SPARK_WORKER_UI = 8081
SPARK_DAEMON_MEMORY_MIB = 256  # master and worker JVMs; executors get the worker's memory
SPARK_WORKER_PID = 1  # the container's command is spark-class, which execs the worker JVM
SPARK_WORKER_STOP_S = 30  # after the decommission wait: the JVM's own shutdown on SIGTERM
# The worker container's preStop hook, run with the worker's PID ($0) and the longest wait in
# seconds ($1): Spark's graceful decommission as the local backend does it (SIGPWR, then wait
# while the worker still has executors); the kubelet's SIGTERM then stops the worker.
SPARK_DECOMMISSION_SCRIPT = """\
kill -PWR "$0" || exit 0
deadline=$(($(date +%s) + $1))
while [ "$(date +%s)" -lt "$deadline" ] && pgrep -P "$0" -f CoarseGrainedExecutorBackend >/dev/null
do
  sleep 1
done
"""


def owner_reference(cluster: ComputeCluster, uid: str) -> dict[str, Any]:
    """Makes the ComputeCluster the controller of a child (garbage-collected with it)."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": cluster.metadata.name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def config_secret(
    cluster: ComputeCluster,
    uid: str,
    settings: ClusterSettings,
    secret: str,
    rest_tls: RestTls | None = None,
) -> Manifest:
    files = config_files(cluster, settings, secret, rest_tls)
    return _finish(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": _metadata(
                cluster, uid, config_secret_name(cluster.metadata.name), "config"
            ),
            "type": "Opaque",
            "data": {
                key: base64.b64encode(
                    value if isinstance(value, bytes) else value.encode()
                ).decode()
                for key, value in files.items()
            },
        }
    )


def head_service(cluster: ComputeCluster, uid: str) -> Manifest:
    engine = cluster.spec.engine
    role = HEAD_ROLE[engine]
    if engine == "spark":
        ports = {"rpc": SPARK_PORTS.master, "ui": SPARK_PORTS.master_ui}
    else:
        ports = {
            "rpc": FLINK_PORTS.jobmanager_rpc,
            "blob": FLINK_PORTS.blob,
            "rest": FLINK_PORTS.rest,
        }
    return _finish(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _metadata(cluster, uid, head_name(cluster.metadata.name, engine), role),
            "spec": {
                "type": "ClusterIP",
                "selector": _selector(cluster, role),
                "ports": [
                    {"name": name, "port": port, "targetPort": port, "protocol": "TCP"}
                    for name, port in ports.items()
                ],
            },
        }
    )


def head_deployment(
    cluster: ComputeCluster, uid: str, settings: ClusterSettings, config_hash: str, run: bool = True
) -> Manifest:
    """The Spark master or the Flink JobManager: one replica, replaced (never two at once); none
    while ``run`` is false (heads on demand: the Service, Secret and policies stay)."""
    engine = cluster.spec.engine
    if engine == "spark":
        container = _spark_container(
            settings,
            "master",
            [
                "org.apache.spark.deploy.master.Master",
                "--host",
                "$(POD_IP)",
                "--port",
                str(SPARK_PORTS.master),
                "--webui-port",
                str(SPARK_PORTS.master_ui),
            ],
            {"rpc": SPARK_PORTS.master, "ui": SPARK_PORTS.master_ui},
            {"cpu": "250m", "memory": f"{2 * SPARK_DAEMON_MEMORY_MIB}Mi"},
        )
        scrape = (SPARK_PORTS.master_ui, "/metrics/master/prometheus/")
    else:
        container = _flink_container(
            settings,
            "jobmanager",
            {"metrics.reporter.prom.port": str(FLINK_PORTS.jobmanager_metrics)},
            {
                "rpc": FLINK_PORTS.jobmanager_rpc,
                "blob": FLINK_PORTS.blob,
                "rest": FLINK_PORTS.rest,
                "metrics": FLINK_PORTS.jobmanager_metrics,
            },
            {"cpu": "500m", "memory": f"{JOBMANAGER_MEMORY_MIB}Mi"},
        )
        scrape = (FLINK_PORTS.jobmanager_metrics, "/metrics")
    name = head_name(cluster.metadata.name, engine)
    replicas = 1 if run else 0
    return _deployment(
        cluster, uid, settings, name, HEAD_ROLE[engine], replicas, container, scrape, config_hash
    )


def worker_deployment(
    cluster: ComputeCluster,
    uid: str,
    settings: ClusterSettings,
    config_hash: str,
    head: bool = True,
) -> Manifest:
    """Spark workers or Flink TaskManagers; created at minWorkers (none without a ``head``), then
    sized by ``scale`` alone."""
    engine = cluster.spec.engine
    worker = cluster.spec.worker
    if engine == "spark":
        memory_mib = worker.memory_mib + 2 * SPARK_DAEMON_MEMORY_MIB  # executor + worker daemon
        container = _spark_container(
            settings,
            "worker",
            [
                "org.apache.spark.deploy.worker.Worker",
                "--host",
                "$(POD_IP)",
                "--cores",
                str(worker.cores),
                "--memory",
                f"{worker.memory_mib}m",
                "--webui-port",
                str(SPARK_WORKER_UI),
                "--work-dir",
                f"{WORK_DIR}/spark",
                master_url(
                    SPARK_PORTS, service_host(cluster.metadata.name, "spark", settings.namespace)
                ),
            ],
            {"ui": SPARK_WORKER_UI},
            {"cpu": str(worker.cores), "memory": f"{memory_mib}Mi"},
        )
        container["lifecycle"] = decommission_hook()
        grace_s: int | None = DECOMMISSION_TIMEOUT_S + SPARK_WORKER_STOP_S
        scrape = (SPARK_WORKER_UI, "/metrics/prometheus/")
    else:
        container = _flink_container(
            settings,
            "taskmanager",
            {"taskmanager.resource-id": "$(POD_NAME)", "taskmanager.host": "$(POD_IP)"},
            {"rpc": FLINK_TASKMANAGER_RPC, "metrics": FLINK_PORTS.metrics_last},
            {"cpu": str(worker.cores), "memory": f"{taskmanager_memory_mib(cluster)}Mi"},
        )
        grace_s = None
        scrape = (FLINK_PORTS.metrics_last, "/metrics")
    name = worker_name(cluster.metadata.name, engine)
    role = WORKER_ROLE[engine]
    # dry run: nothing added; no head: no workers
    replicas = cluster.spec.min_workers if head and not settings.dry_run else 0
    files = FLINK_TASKMANAGER_FILES if engine == "flink" else None
    return _deployment(
        cluster, uid, settings, name, role, replicas, container, scrape, config_hash, grace_s, files
    )


def decommission_hook() -> dict[str, Any]:
    """A Spark worker pod being deleted decommissions its worker first."""
    command = [
        "/bin/sh",
        "-c",
        SPARK_DECOMMISSION_SCRIPT,
        str(SPARK_WORKER_PID),
        str(DECOMMISSION_TIMEOUT_S),
    ]
    return {"preStop": {"exec": {"command": command}}}


def network_policy(cluster: ComputeCluster, uid: str, settings: ClusterSettings) -> Manifest:
    """Ingress only from the cluster's own pods, its server's notebook pod (labelled with this
    cluster's name: never by a user label, which a user name chooses), the autoscaler (the Flink
    REST API) and Prometheus in the monitoring namespace (the metrics ports)."""
    engine = cluster.spec.engine
    name = cluster.metadata.name
    notebook = notebook_selector(name, engine)
    if engine == "spark":
        metrics = [SPARK_PORTS.master_ui, SPARK_WORKER_UI]
        controller_ports: list[int] = []
    else:
        metrics = [FLINK_PORTS.jobmanager_metrics, FLINK_PORTS.metrics_last]
        controller_ports = [FLINK_PORTS.rest]
    rules: list[dict[str, Any]] = [
        {"from": [{"podSelector": {"matchLabels": {CLUSTER_LABEL: name}}}]},
        {"from": [{"podSelector": {"matchLabels": notebook}}]},
        {
            "from": [
                {
                    "namespaceSelector": {
                        "matchLabels": {NAMESPACE_NAME_LABEL: settings.monitoring_namespace}
                    },
                    "podSelector": {"matchLabels": dict(settings.prometheus_pod_labels)},
                }
            ],
            "ports": [{"protocol": "TCP", "port": port} for port in metrics],
        },
    ]
    if controller_ports:
        rules.append(
            {
                "from": [{"podSelector": {"matchLabels": dict(settings.controller_pod_labels)}}],
                "ports": [{"protocol": "TCP", "port": port} for port in controller_ports],
            }
        )
    return _policy(cluster, uid, policy_name(name), "ingress", {CLUSTER_LABEL: name}, rules)


def driver_network_policy(cluster: ComputeCluster, uid: str) -> Manifest:
    """Ingress to its server's notebook pod (labelled with this cluster's name) from this Spark
    cluster's pods (the master and the executors connect back to the drivers) on the drivers'
    RPC and block-manager ports only."""
    name = cluster.metadata.name
    notebook = notebook_selector(name, cluster.spec.engine)
    rule = {
        "from": [{"podSelector": {"matchLabels": {CLUSTER_LABEL: name}}}],
        "ports": [
            {"protocol": "TCP", "port": first, "endPort": last}
            for first, last in SPARK_DRIVER_PORT_RANGES
        ],
    }
    return _policy(cluster, uid, driver_policy_name(name), "drivers", notebook, [rule])


def _policy(
    cluster: ComputeCluster,
    uid: str,
    name: str,
    role: str,
    pods: dict[str, str],
    rules: list[dict[str, Any]],
) -> Manifest:
    """An ingress NetworkPolicy for the ``pods`` selected, owned by the cluster."""
    return _finish(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": _metadata(cluster, uid, name, role),
            "spec": {
                "podSelector": {"matchLabels": pods},
                "policyTypes": ["Ingress"],
                "ingress": rules,
            },
        }
    )


def cluster_objects(
    cluster: ComputeCluster,
    uid: str,
    settings: ClusterSettings,
    secret: str,
    rest_tls: RestTls | None = None,
    head: bool = True,
) -> list[Manifest]:
    """Everything ``ensure`` applies, in order: config first, workers last. ``secret``: a Spark
    cluster's RPC secret; ``rest_tls``: a Flink cluster's REST credential; ``head``: whether the
    master/JobManager runs (its Deployment at 1 replica, else 0)."""
    config = config_secret(cluster, uid, settings, secret, rest_tls)
    config_hash = config["metadata"]["annotations"][MANIFEST_HASH]
    drivers = [driver_network_policy(cluster, uid)] if cluster.spec.engine == "spark" else []
    return [
        config,
        network_policy(cluster, uid, settings),
        *drivers,
        head_service(cluster, uid),
        head_deployment(cluster, uid, settings, config_hash, head),
        worker_deployment(cluster, uid, settings, config_hash, head),
    ]


def manifest_hash(manifest: Manifest) -> str:
    """A digest of what we manage in an object (replicas excluded: ``scale`` owns them)."""
    managed = json.loads(json.dumps(manifest))
    managed["metadata"].get("annotations", {}).pop(MANIFEST_HASH, None)
    managed.get("spec", {}).pop("replicas", None)
    text = json.dumps(managed, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _finish(manifest: Manifest) -> Manifest:
    manifest["metadata"]["annotations"][MANIFEST_HASH] = manifest_hash(manifest)
    return manifest


def _metadata(cluster: ComputeCluster, uid: str, name: str, role: str) -> dict[str, Any]:
    return {
        "name": name,
        "labels": labels(cluster, role),
        "annotations": {},
        "ownerReferences": [owner_reference(cluster, uid)],
    }


def _selector(cluster: ComputeCluster, role: str) -> dict[str, str]:
    return {CLUSTER_LABEL: cluster.metadata.name, ROLE_LABEL: role}


def _deployment(
    cluster: ComputeCluster,
    uid: str,
    settings: ClusterSettings,
    name: str,
    role: str,
    replicas: int,
    container: dict[str, Any],
    scrape: tuple[int, str],
    config_hash: str,
    termination_grace_s: int | None = None,
    config_items: tuple[str, ...] | None = None,
) -> Manifest:
    """``config_items``: the Secret's files the pods mount (None: all of them)."""
    uid_gid = SPARK_UID if cluster.spec.engine == "spark" else FLINK_UID
    port, path = scrape
    pod_annotations = {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(port),
        "prometheus.io/path": path,
        CONFIG_HASH: config_hash,
    }
    secret_name = config_secret_name(cluster.metadata.name)
    grace = {"terminationGracePeriodSeconds": termination_grace_s} if termination_grace_s else {}
    items = {"items": [{"key": key, "path": key} for key in config_items]} if config_items else {}
    return _finish(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _metadata(cluster, uid, name, role),
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": _selector(cluster, role)},
                "strategy": {"type": "Recreate" if role in HEAD_ROLE.values() else "RollingUpdate"},
                "template": {
                    "metadata": {"labels": labels(cluster, role), "annotations": pod_annotations},
                    "spec": {
                        "automountServiceAccountToken": False,
                        "enableServiceLinks": False,
                        **grace,
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": uid_gid,
                            "runAsGroup": uid_gid,
                            "fsGroup": uid_gid,
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "containers": [container],
                        "volumes": [
                            {
                                "name": "config",
                                "secret": {
                                    "secretName": secret_name,
                                    "defaultMode": 0o440,
                                    **items,
                                },
                            },
                            {"name": "work", "emptyDir": {}},
                        ],
                    },
                },
            },
        }
    )


def _spark_container(
    settings: ClusterSettings,
    name: str,
    arguments: list[str],
    ports: dict[str, int],
    resources: dict[str, str],
) -> dict[str, Any]:
    command = [
        f"{SPARK_HOME}/bin/spark-class",
        *arguments,
        "--properties-file",
        f"{CONF_DIR}/spark-defaults.conf",
    ]
    env = {"SPARK_DAEMON_MEMORY": f"{SPARK_DAEMON_MEMORY_MIB}m", "SPARK_CONF_DIR": CONF_DIR}
    return _container(settings.spark_image, settings, name, command, ports, resources, env)


def _flink_container(
    settings: ClusterSettings,
    name: str,
    properties: dict[str, str],
    ports: dict[str, int],
    resources: dict[str, str],
) -> dict[str, Any]:
    """Flink's start-foreground script, after creating the directories its config names."""
    directory = f"{WORK_DIR}/flink"
    command = [
        "/bin/sh",
        "-c",
        'mkdir -p "$0/logs" "$0/run" "$0/tmp" "$0/web" && exec "$@"',
        directory,
        f"{FLINK_HOME}/bin/{name}.sh",
        "start-foreground",
        *dynamic_properties(properties),
    ]
    env = {"FLINK_CONF_DIR": CONF_DIR}
    return _container(settings.flink_image, settings, name, command, ports, resources, env)


def _container(
    image: str,
    settings: ClusterSettings,
    name: str,
    command: list[str],
    ports: dict[str, int],
    resources: dict[str, str],
    env: dict[str, str],
) -> dict[str, Any]:
    first_port = next(iter(ports.values()))
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": command,
        "env": [
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            *({"name": key, "value": value} for key, value in env.items()),
        ],
        "ports": [
            {"name": port_name, "containerPort": port, "protocol": "TCP"}
            for port_name, port in ports.items()
        ],
        "readinessProbe": {"tcpSocket": {"port": first_port}, "periodSeconds": 5},
        "resources": {"requests": resources, "limits": {"memory": resources["memory"]}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "config", "mountPath": CONF_DIR, "readOnly": True},
            {"name": "work", "mountPath": WORK_DIR},
        ],
    }
