"""A ComputeCluster's engine configuration on Kubernetes: pure functions, no I/O.

Fixed ports (Services resolve the heads by name), the files of the cluster's config Secret (built
by ``spark_conf`` and ``flink_conf`` as in local mode, with Kubernetes hosts and ports) and the
endpoints a notebook reaches the cluster at. The controller writes the Secret from these with its
own ``ClusterSettings``; the notebook pod mounts it, so the user's clients (Spark's drivers, the
PyFlink client) get what the controller gave that cluster, whatever its settings. The Secret also
carries the cluster's short status (``STATUS_FILE``), which the notebook's kernels read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import yaml

from hubscale.flink_conf import (
    MIN_TASKMANAGER_MEMORY_MIB,
    REST_KEYSTORE,
    FlinkClusterPorts,
    flink_client_config,
    flink_config,
    render_config,
    rest_tls_config,
    rest_url,
)
from hubscale.flink_tls import RestTls
from hubscale.names import config_secret_name, service_host
from hubscale.spark_conf import (
    SparkClusterPorts,
    executor_memory_mib,
    master_url,
    metrics_properties,
    render_properties,
    spark_defaults,
)
from hubscale.spec import (
    CAPACITY_LIMITED,
    HEAD_RUNNING,
    ComputeCluster,
    ComputeClusterStatus,
    Engine,
)

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # its own name, on every namespace
# The chart's networkPolicy.prometheusPodLabels default: the pods that may scrape the clusters.
PROMETHEUS_POD_LABELS: Mapping[str, str] = {"app.kubernetes.io/name": "prometheus"}
CONF_DIR = "/etc/hubscale"  # the Secret, mounted read-only
WORK_DIR = "/var/lib/hubscale"  # an emptyDir: scratch space, Flink's logs and temporary files
SPARK_PORTS = SparkClusterPorts(master=7077, master_ui=8080, driver_ui_first=4040)
# The drivers of a notebook pod (one per kernel) take their RPC and block-manager ports from these
# on, as many as the UI ports (spark.port.maxRetries); only their user's cluster may connect.
SPARK_DRIVER_PORT = 7078
SPARK_DRIVER_BLOCK_MANAGER_PORT = 7100
SPARK_DRIVER_PORT_RANGES: tuple[tuple[int, int], ...] = tuple(
    (first, first + SPARK_PORTS.driver_ui_count - 1)
    for first in (SPARK_DRIVER_PORT, SPARK_DRIVER_BLOCK_MANAGER_PORT)
)
FLINK_PORTS = FlinkClusterPorts(
    jobmanager_rpc=6123, rest=8081, blob=6124, metrics_first=9249, metrics_last=9250
)
FLINK_TASKMANAGER_RPC = 6122
# The notebook pod's activity page (hubscale_nb.activity) on a port of its own, which the chart's
# NetworkPolicy opens to Prometheus alone and its PodMonitor scrapes (heads on demand).
NOTEBOOK_ACTIVITY_PORT = 9188
# The config Secret's key with the cluster's short status: the local status file's part that the
# kernels read (spawner.kernel_notice, spawner.head_wait), where the notebook pod mounts it.
# Written by the controller when it changes (``short_status_changed``), never by ``config_files``.
STATUS_FILE = "status.yaml"
KERNEL_CONDITIONS = (CAPACITY_LIMITED, HEAD_RUNNING)  # what the short status carries of them
# The Flink Secret's key for the notebook's PyFlink client: its config.yaml, with the notebook
# pod's paths (images/singleuser/Dockerfile) — where the client keeps its files, its own Python.
FLINK_CLIENT_CONFIG = "client-config.yaml"
FLINK_CLIENT_DIR = PurePosixPath("/var/lib/hubscale/flink")
FLINK_CLIENT_PYTHON = "/opt/flink-venv/bin/python"  # PyFlink's client side runs in the kernel's env
# What a TaskManager pod mounts of the Secret: no REST credential (it reaches the JobManager over
# RPC), no client configuration.
FLINK_TASKMANAGER_FILES = ("config.yaml", "log4j-console.properties")
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


@dataclass(frozen=True)
class ClusterSettings:
    """What every cluster of one installation shares: namespace, images, who may connect."""

    namespace: str
    spark_image: str
    flink_image: str
    image_pull_policy: str = "IfNotPresent"
    prometheus_pod_labels: Mapping[str, str] = field(
        default_factory=lambda: dict(PROMETHEUS_POD_LABELS)
    )  # in monitoring_namespace only
    monitoring_namespace: str = "monitoring"  # where Prometheus runs (the chart's value)
    controller_pod_labels: Mapping[str, str] = field(
        default_factory=lambda: {"app.kubernetes.io/component": "autoscaler"}
    )  # in this namespace: reads the Flink REST API
    flink_java_opts: str = FLINK_JAVA_OPTS
    flink_python: str = "python3"  # the Flink image's Python, for PyFlink UDFs
    dry_run: bool = False  # the controller's dry run: worker Deployments start at 0 replicas


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


def rest_tls_hosts(name: str, namespace: str) -> list[str]:
    """The names on a Flink cluster's REST certificate: its JobManager Service's."""
    host = service_host(name, "flink", namespace)
    return [host, f"{host}.cluster.local", host.removesuffix(".svc")]


def config_files(
    cluster: ComputeCluster,
    settings: ClusterSettings,
    secret: str,
    rest_tls: RestTls | None = None,
) -> dict[str, str | bytes]:
    """The files of the cluster's Secret, mounted at ``CONF_DIR`` in every pod of the cluster.

    Spark's ``spark-defaults.conf`` is also the client configuration of the user's drivers, who
    add their own ``spark.driver.host`` (the notebook pod's IP); their ports are fixed ranges
    (``SPARK_DRIVER_PORT_RANGES``), which ``driver_network_policy`` opens to the cluster.
    Flink's carries the PyFlink client's ``config.yaml`` too (``FLINK_CLIENT_CONFIG``), derived
    from the cluster's own, and the cluster's REST credential ``rest_tls`` (``flink_tls.FILES``:
    the JobManager's keystore; the notebook pod copies the keystore into its client directory, as
    it does the client's config).
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
    if rest_tls is None:
        raise ValueError(f"{cluster.metadata.name}: a Flink cluster needs its REST credential")
    config.update(
        {
            "jobmanager.bind-host": "0.0.0.0",
            "taskmanager.bind-host": "0.0.0.0",
            "rest.bind-address": "0.0.0.0",
            "taskmanager.rpc.port": str(FLINK_TASKMANAGER_RPC),
            **rest_tls_config(f"{CONF_DIR}/{REST_KEYSTORE}", rest_tls.password),
        }
    )
    del config["taskmanager.host"]  # each TaskManager's own pod IP, given on its command line
    client = flink_client_config(config, FLINK_CLIENT_DIR)
    client["python.client.executable"] = FLINK_CLIENT_PYTHON
    return {
        "config.yaml": render_config(config),
        "log4j-console.properties": FLINK_LOG4J_CONSOLE,
        FLINK_CLIENT_CONFIG: render_config(client),
        **rest_tls.files(),
    }


def taskmanager_memory_mib(cluster: ComputeCluster) -> int:
    return max(MIN_TASKMANAGER_MEMORY_MIB, cluster.spec.worker.memory_mib)


def short_status(status: ComputeClusterStatus) -> str:
    """The ``STATUS_FILE`` of a status, as YAML: desired workers, reason and the conditions the
    kernels read (CapacityLimited: ``kernel_notice``; HeadRunning: ``head_wait``)."""
    document = status.model_dump(
        mode="json", by_alias=True, exclude_none=True, include={"desired", "reason", "conditions"}
    )
    document["conditions"] = [c for c in document["conditions"] if c["type"] in KERNEL_CONDITIONS]
    return yaml.safe_dump(document, sort_keys=False)


def short_status_changed(before: ComputeClusterStatus | None, after: ComputeClusterStatus) -> bool:
    """Does the Secret's short status need a write? When the desired workers, the limit or
    whether the head runs moved; not for a new reason alone, whose counts change nearly every
    loop (the text written keeps the reason of the last move)."""
    return before is None or _kernel_state(before) != _kernel_state(after)


def _kernel_state(status: ComputeClusterStatus) -> tuple[object, ...]:
    found = {c.type: c.status for c in status.conditions if c.type in KERNEL_CONDITIONS}
    return status.desired, *(found.get(kind) for kind in KERNEL_CONDITIONS)
