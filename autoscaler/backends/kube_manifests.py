"""The Kubernetes objects of one ComputeCluster: pure functions, no I/O.

Per cluster: a Secret with the engine's configuration (Spark's holds the RPC auth secret), the
head (Spark master or Flink JobManager) as a Deployment behind a Service, the workers (Spark
workers or Flink TaskManagers) as a Deployment whose replicas only ``scale`` sets, and a
NetworkPolicy; a Spark cluster has a second one letting its pods into its user's notebook pods on
the drivers' fixed ports (executors connect back to their driver). Every object is owned by the
ComputeCluster (Kubernetes garbage-collects it with the object) and labelled with cluster, user,
engine and role. The configuration comes from the same functions as in local mode
(``spark_conf``, ``flink_conf``), with Kubernetes hosts and ports.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hubscale.flink_conf import (
    JOBMANAGER_MEMORY_MIB,
    MIN_TASKMANAGER_MEMORY_MIB,
    FlinkClusterPorts,
    dynamic_properties,
    flink_config,
    render_config,
    rest_url,
)
from hubscale.spark_conf import (
    DECOMMISSION_TIMEOUT_S,
    SparkClusterPorts,
    executor_memory_mib,
    master_url,
    metrics_properties,
    render_properties,
    spark_defaults,
)
from hubscale.spec import API_VERSION, KIND, ComputeCluster, Engine

Manifest = dict[str, Any]

CLUSTER_LABEL = "hubscale.io/cluster"
USER_LABEL = "hubscale.io/user"
ENGINE_LABEL = "hubscale.io/engine"
ROLE_LABEL = "hubscale.io/role"
NOTEBOOK_ROLE = "notebook"  # the spawner labels each notebook pod with its user and this role
MANIFEST_HASH = "hubscale.io/manifest-hash"  # what we last applied: unchanged -> no write
CONFIG_HASH = "hubscale.io/config-hash"  # on pod templates: a new configuration rolls the pods
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
HEAD_ROLE: dict[str, str] = {"spark": "master", "flink": "jobmanager"}
WORKER_ROLE: dict[str, str] = {"spark": "worker", "flink": "taskmanager"}

CONF_DIR = "/etc/hubscale"  # the Secret, mounted read-only
WORK_DIR = "/var/lib/hubscale"  # an emptyDir: scratch space, Flink's logs and temporary files
SPARK_HOME = "/opt/spark"
FLINK_HOME = "/opt/flink"
SPARK_UID = 185  # the user of the Spark and Flink images (images/)
FLINK_UID = 9999
SPARK_PORTS = SparkClusterPorts(master=7077, master_ui=8080, driver_ui_first=4040)
SPARK_WORKER_UI = 8081
SPARK_DAEMON_MEMORY_MIB = 256  # master and worker JVMs; executors get the worker's memory
# The drivers of a notebook pod (one per kernel) take their RPC and block-manager ports from these
# on, as many as the UI ports (spark.port.maxRetries); only their user's cluster may connect.
SPARK_DRIVER_PORT = 7078
SPARK_DRIVER_BLOCK_MANAGER_PORT = 7100
SPARK_DRIVER_PORT_RANGES: tuple[tuple[int, int], ...] = tuple(
    (first, first + SPARK_PORTS.driver_ui_count - 1)
    for first in (SPARK_DRIVER_PORT, SPARK_DRIVER_BLOCK_MANAGER_PORT)
)
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
FLINK_PORTS = FlinkClusterPorts(
    jobmanager_rpc=6123, rest=8081, blob=6124, metrics_first=9249, metrics_last=9250
)
FLINK_TASKMANAGER_RPC = 6122
# The distribution's env.java.opts.all (conf/config.yaml of apache-flink 2.3.0; a test compares).
FLINK_JAVA_OPTS = " ".join(
    [
        "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
        *(
            f"--add-exports=jdk.compiler/com.sun.tools.javac.{part}=ALL-UNNAMED"
            for part in ("api", "file", "parser", "tree", "util")
        ),
        "--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
        *(
            f"--add-opens=java.base/{package}=ALL-UNNAMED"
            for package in (
                "java.lang",
                "java.net",
                "java.io",
                "java.nio",
                "sun.nio.ch",
                "java.lang.reflect",
                "java.text",
                "java.time",
                "java.util",
                "java.util.concurrent",
                "java.util.concurrent.atomic",
                "java.util.concurrent.locks",
            )
        ),
    ]
)
FLINK_LOG4J_CONSOLE = """\
rootLogger.level = INFO
rootLogger.appenderRef.console.ref = ConsoleAppender
appender.console.name = ConsoleAppender
appender.console.type = CONSOLE
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %-60c %x - %m%n
"""
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


@dataclass(frozen=True)
class ClusterSettings:
    """What every cluster of one installation shares: namespace, images, who may connect."""

    namespace: str
    spark_image: str
    flink_image: str
    image_pull_policy: str = "IfNotPresent"
    prometheus_pod_labels: Mapping[str, str] = field(
        default_factory=lambda: {"app.kubernetes.io/name": "prometheus"}
    )  # in any namespace
    controller_pod_labels: Mapping[str, str] = field(
        default_factory=lambda: {"app.kubernetes.io/component": "autoscaler"}
    )  # in this namespace: reads the Flink REST API
    flink_java_opts: str = FLINK_JAVA_OPTS
    flink_python: str = "python3"  # the Flink image's Python, for PyFlink UDFs


def user_label(owner: str) -> str:
    """A hub user name as a label value: itself when valid, else a readable part and a hash."""
    if len(owner) <= 63 and _LABEL_VALUE.match(owner):
        return owner
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "-", owner)[:50].strip("-_.")
    digest = hashlib.sha256(owner.encode()).hexdigest()[:8]
    return f"{readable}-{digest}" if readable else f"u-{digest}"


def object_name(cluster: str, suffix: str) -> str:
    """A child's name, valid for a Service (DNS-1035 label: a letter first, 63 at most)."""
    name = f"{cluster}-{suffix}"
    if len(name) <= 63 and name[0].isalpha():
        return name
    digest = hashlib.sha256(cluster.encode()).hexdigest()[:8]
    keep = 63 - len(suffix) - len(digest) - 3
    return f"c{cluster[:keep].rstrip('-')}-{digest}-{suffix}"


def config_secret_name(cluster: str) -> str:
    return object_name(cluster, "config")


def head_name(cluster: str, engine: Engine) -> str:
    return object_name(cluster, HEAD_ROLE[engine])


def worker_name(cluster: str, engine: Engine) -> str:
    return object_name(cluster, WORKER_ROLE[engine])


def policy_name(cluster: str) -> str:
    return object_name(cluster, "ingress")


def driver_policy_name(cluster: str) -> str:
    return object_name(cluster, "drivers")


def labels(cluster: ComputeCluster, role: str) -> dict[str, str]:
    return {
        CLUSTER_LABEL: cluster.metadata.name,
        USER_LABEL: user_label(cluster.spec.owner),
        ENGINE_LABEL: cluster.spec.engine,
        ROLE_LABEL: role,
        "app.kubernetes.io/part-of": "hubscale",
        "app.kubernetes.io/managed-by": "hubscale-autoscaler",
    }


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


def endpoints(name: str, engine: Engine, namespace: str) -> dict[str, str]:
    """What a notebook (and the controller) needs to reach the cluster."""
    host = service_host(name, engine, namespace)
    found = {"engine": engine, "config_secret": config_secret_name(name)}
    if engine == "spark":
        found["master_url"] = master_url(SPARK_PORTS, host)
        found["master_ui"] = f"http://{host}:{SPARK_PORTS.master_ui}"
    else:
        found["rest_url"] = rest_url(FLINK_PORTS, host)
    return found


def service_host(name: str, engine: Engine, namespace: str) -> str:
    """The head's Service as a DNS name that resolves from any namespace."""
    return f"{head_name(name, engine)}.{namespace}.svc"


def config_files(cluster: ComputeCluster, settings: ClusterSettings, secret: str) -> dict[str, str]:
    """The files of the cluster's Secret, mounted at ``CONF_DIR`` in every pod of the cluster.

    Spark's ``spark-defaults.conf`` is also the client configuration of the user's drivers, who
    add their own ``spark.driver.host`` (the notebook pod's IP); their ports are fixed ranges
    (``SPARK_DRIVER_PORT_RANGES``), which ``driver_network_policy`` opens to the cluster.
    """
    host = service_host(cluster.metadata.name, cluster.spec.engine, settings.namespace)
    worker = cluster.spec.worker
    if cluster.spec.engine == "spark":
        defaults = spark_defaults(
            SPARK_PORTS,
            secret,
            worker.cores,
            executor_memory_mib(worker.memory_mib),
            f"{CONF_DIR}/metrics.properties",
            host=host,
        )
        for driver_only in ("spark.driver.host", "spark.driver.bindAddress"):
            del defaults[driver_only]
        defaults["spark.driver.port"] = str(SPARK_DRIVER_PORT)
        defaults["spark.driver.blockManager.port"] = str(SPARK_DRIVER_BLOCK_MANAGER_PORT)
        return {
            "secret": secret,
            "spark-defaults.conf": render_properties(defaults),
            "metrics.properties": metrics_properties(),
        }
    config = flink_config(
        FLINK_PORTS,
        f"{WORK_DIR}/flink",
        settings.flink_python,
        settings.flink_java_opts,
        worker.cores,
        taskmanager_memory_mib(cluster),
        host=host,
    )
    config.update(
        {
            "jobmanager.bind-host": "0.0.0.0",
            "taskmanager.bind-host": "0.0.0.0",
            "rest.bind-address": "0.0.0.0",
            "taskmanager.rpc.port": str(FLINK_TASKMANAGER_RPC),
        }
    )
    del config["taskmanager.host"]  # each TaskManager's own pod IP, given on its command line
    return {"config.yaml": render_config(config), "log4j-console.properties": FLINK_LOG4J_CONSOLE}


def taskmanager_memory_mib(cluster: ComputeCluster) -> int:
    return max(MIN_TASKMANAGER_MEMORY_MIB, cluster.spec.worker.memory_mib)


def config_secret(
    cluster: ComputeCluster, uid: str, settings: ClusterSettings, secret: str
) -> Manifest:
    files = config_files(cluster, settings, secret)
    return _finish(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": _metadata(
                cluster, uid, config_secret_name(cluster.metadata.name), "config"
            ),
            "type": "Opaque",
            "data": {
                key: base64.b64encode(value.encode()).decode() for key, value in files.items()
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
    cluster: ComputeCluster, uid: str, settings: ClusterSettings, config_hash: str
) -> Manifest:
    """The Spark master or the Flink JobManager: one replica, replaced (never two at once)."""
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
    return _deployment(
        cluster, uid, settings, name, HEAD_ROLE[engine], 1, container, scrape, config_hash
    )


def worker_deployment(
    cluster: ComputeCluster, uid: str, settings: ClusterSettings, config_hash: str
) -> Manifest:
    """Spark workers or Flink TaskManagers; created at minWorkers, then sized by ``scale`` alone."""
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
    replicas = cluster.spec.min_workers
    return _deployment(
        cluster, uid, settings, name, role, replicas, container, scrape, config_hash, grace_s
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
    """Ingress only from the cluster's own pods, its user's notebook pod, the autoscaler (the
    Flink REST API) and Prometheus (the metrics ports)."""
    engine = cluster.spec.engine
    name = cluster.metadata.name
    notebook = {USER_LABEL: user_label(cluster.spec.owner), ROLE_LABEL: NOTEBOOK_ROLE}
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
                    "namespaceSelector": {},
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
    """Ingress to the user's notebook pods from this Spark cluster's pods (the master and the
    executors connect back to the drivers) on the drivers' RPC and block-manager ports only."""
    name = cluster.metadata.name
    notebook = {USER_LABEL: user_label(cluster.spec.owner), ROLE_LABEL: NOTEBOOK_ROLE}
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
    cluster: ComputeCluster, uid: str, settings: ClusterSettings, secret: str
) -> list[Manifest]:
    """Everything ``ensure`` applies, in order: config first, workers last."""
    config = config_secret(cluster, uid, settings, secret)
    config_hash = config["metadata"]["annotations"][MANIFEST_HASH]
    drivers = [driver_network_policy(cluster, uid)] if cluster.spec.engine == "spark" else []
    return [
        config,
        network_policy(cluster, uid, settings),
        *drivers,
        head_service(cluster, uid),
        head_deployment(cluster, uid, settings, config_hash),
        worker_deployment(cluster, uid, settings, config_hash),
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
) -> Manifest:
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
                                "secret": {"secretName": secret_name, "defaultMode": 0o440},
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
