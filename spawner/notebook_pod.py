"""What a notebook pod needs to reach its user's clusters on Kubernetes: pure functions, no I/O.

KubeSpawner builds the pod; these give it our labels (its clusters' NetworkPolicies, the chart's
and the drivers' PodMonitor select notebook pods by them), the environment from
``spawner.notebook_env``, and the clusters' config Secrets, which the controller writes
(``hubscale.kube_conf.config_files``) and the pod waits for: Spark's mounted read-only as
``SPARK_CONF_DIR``; Flink's carries the PyFlink client's ``config.yaml``, which an init container
copies into the client's own directory (an emptyDir), beside the distribution's log4j files from
the image and the client's writable ``logs/`` and ``tmp/``, as in local mode
(``spawner.flink_client``), with the cluster's REST keystore (mode 0600), the credential its
JobManager asks of every client. So the kernels use what the controller gave their clusters,
whatever its settings. Each Secret's short status (``STATUS_FILE``) is mounted on its own, without
``subPath`` so the kubelet refreshes it, where ``HUBSCALE_<ENGINE>_STATUS_FILE`` names it for the
kernels' notice (``spawner.kernel_notice``), as the local status files are.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from hubscale.flink_conf import REST_KEYSTORE, client_keystore
from hubscale.kube_conf import (
    CONF_DIR,
    FLINK_CLIENT_CONFIG,
    FLINK_CLIENT_DIR,
    STATUS_FILE,
    endpoints,
)
from hubscale.names import (
    NOTEBOOK_CLUSTER_LABEL,
    NOTEBOOK_ROLE,
    ROLE_LABEL,
    USER_LABEL,
    config_secret_name,
    user_label,
)
from hubscale.spec import Engine
from spawner.kernel_notice import status_file_variable
from spawner.notebook_env import flink_env, spark_env
from spawner.profiles import ENGINES

SPARK_CONF_VOLUME = "hubscale-spark-conf"
FLINK_CONF_VOLUME = "hubscale-flink-conf"  # the Flink cluster's Secret, in the init container
FLINK_CONF_MOUNT = PurePosixPath("/etc/hubscale-flink")
FLINK_CLIENT_VOLUME = "hubscale-flink-client"
FLINK_CLIENT_INIT = "hubscale-flink-client"
STATUS_MOUNT = PurePosixPath("/etc/hubscale-status")  # one directory per engine below it
# The distribution inside the image's Flink kernel environment (images/singleuser/Dockerfile).
FLINK_LOG4J_GLOB = "/opt/flink-venv/lib/python3*/site-packages/pyflink/conf/log4j*.properties"
# No braces anywhere: KubeSpawner formats every string of init_containers with the user's names.
FLINK_CLIENT_SCRIPT = """\
import glob, os, pathlib, shutil
root = pathlib.Path(os.environ["HUBSCALE_CLIENT_DIR"])
for sub in ("conf", "logs", "tmp"):
    (root / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
for log4j in sorted(glob.glob(os.environ["HUBSCALE_LOG4J_GLOB"])):
    shutil.copyfile(log4j, root / "conf" / os.path.basename(log4j))
shutil.copyfile(os.environ["HUBSCALE_CLIENT_CONFIG"], root / "conf" / "config.yaml")
flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
with open(os.environ["HUBSCALE_KEYSTORE"], "rb") as source:
    with os.fdopen(os.open(os.environ["HUBSCALE_CLIENT_KEYSTORE"], flags, 0o600), "wb") as copy:
        shutil.copyfileobj(source, copy)
"""


def pod_labels(user: str, clusters: Mapping[str, str]) -> dict[str, str]:
    """The notebook pod's labels: its user, its role and its server's cluster of each engine
    (``clusters``: engine -> name), which that cluster's NetworkPolicies admit."""
    return {
        USER_LABEL: user_label(user),
        ROLE_LABEL: NOTEBOOK_ROLE,
        **{NOTEBOOK_CLUSTER_LABEL[engine]: name for engine, name in clusters.items()},
    }


def cluster_env(spark_cluster: str, flink_cluster: str, namespace: str) -> dict[str, Any]:
    """The notebook pod's environment that points its kernels at the user's clusters (the local
    spawner's ``cluster_env`` in a pod); ``SPARK_LOCAL_IP`` is the pod's IP (downward API),
    which the drivers advertise to the cluster."""
    spark = {**endpoints(spark_cluster, "spark", namespace), "conf_dir": CONF_DIR}
    flink = endpoints(flink_cluster, "flink", namespace)
    return {
        **spark_env(spark),
        **flink_env(flink, FLINK_CLIENT_DIR),
        "SPARK_LOCAL_IP": {"valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        **{status_file_variable(engine): str(status_file(engine)) for engine in ENGINES},
    }


def status_volume(engine: Engine) -> str:
    """The volume with the short status of the notebook's cluster of ``engine``."""
    return f"hubscale-{engine}-status"


def status_file(engine: Engine) -> PurePosixPath:
    """Where the notebook container reads the short status of its cluster of ``engine``."""
    return STATUS_MOUNT / engine / STATUS_FILE


def volumes(spark_cluster: str, flink_cluster: str) -> dict[str, dict[str, Any]]:
    """Volume name -> volume: both clusters' config Secrets (required: the pod waits for them),
    the Flink client's directory and each Secret's short status alone: optional, as the
    controller writes it after the Secret, and the kubelet refuses a missing required key."""
    clusters: dict[Engine, str] = {"spark": spark_cluster, "flink": flink_cluster}
    statuses = {
        status_volume(engine): {
            "name": status_volume(engine),
            "secret": {
                "secretName": config_secret_name(name),
                "optional": True,
                "items": [{"key": STATUS_FILE, "path": STATUS_FILE}],
            },
        }
        for engine, name in clusters.items()
    }
    return {
        SPARK_CONF_VOLUME: {
            "name": SPARK_CONF_VOLUME,
            "secret": {"secretName": config_secret_name(spark_cluster), "optional": False},
        },
        FLINK_CONF_VOLUME: {
            "name": FLINK_CONF_VOLUME,
            "secret": {
                "secretName": config_secret_name(flink_cluster),
                "optional": False,
                "items": [
                    {"key": FLINK_CLIENT_CONFIG, "path": "config.yaml"},
                    {"key": REST_KEYSTORE, "path": REST_KEYSTORE},
                ],
            },
        },
        FLINK_CLIENT_VOLUME: {"name": FLINK_CLIENT_VOLUME, "emptyDir": {}},
        **statuses,
    }


def volume_mounts() -> dict[str, dict[str, Any]]:
    """Volume name -> the notebook container's mount. The Secret keeps the cluster's own path:
    its spark-defaults.conf names ``<CONF_DIR>/metrics.properties``. No ``subPath`` anywhere:
    the kubelet updates a Secret's files in place only in a whole mount."""
    statuses = {
        status_volume(engine): {
            "name": status_volume(engine),
            "mountPath": str(status_file(engine).parent),
            "readOnly": True,
        }
        for engine in ENGINES
    }
    return {
        SPARK_CONF_VOLUME: {"name": SPARK_CONF_VOLUME, "mountPath": CONF_DIR, "readOnly": True},
        FLINK_CLIENT_VOLUME: {"name": FLINK_CLIENT_VOLUME, "mountPath": str(FLINK_CLIENT_DIR)},
        **statuses,
    }


def flink_client_init_container(image: str) -> dict[str, Any]:
    """The init container filling the Flink client's directory from the cluster's Secret.

    A copy, not the Secret itself as ``FLINK_CONF_DIR``: the client's conf dir also holds the
    image's log4j files, and its logs and scratch files go beside it.
    """
    return {
        "name": FLINK_CLIENT_INIT,
        "image": image,
        "command": ["python3", "-c", FLINK_CLIENT_SCRIPT],
        "env": [
            {"name": "HUBSCALE_CLIENT_DIR", "value": str(FLINK_CLIENT_DIR)},
            {"name": "HUBSCALE_LOG4J_GLOB", "value": FLINK_LOG4J_GLOB},
            {"name": "HUBSCALE_CLIENT_CONFIG", "value": str(FLINK_CONF_MOUNT / "config.yaml")},
            {"name": "HUBSCALE_KEYSTORE", "value": str(FLINK_CONF_MOUNT / REST_KEYSTORE)},
            {"name": "HUBSCALE_CLIENT_KEYSTORE", "value": str(client_keystore(FLINK_CLIENT_DIR))},
        ],
        "volumeMounts": [
            {"name": FLINK_CLIENT_VOLUME, "mountPath": str(FLINK_CLIENT_DIR)},
            {"name": FLINK_CONF_VOLUME, "mountPath": str(FLINK_CONF_MOUNT), "readOnly": True},
        ],
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
    }


def pod_owner_reference(pod: dict[str, Any]) -> dict[str, Any]:
    """The notebook pod as owner of the user's ComputeClusters: they go when it goes."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "name": pod["metadata"]["name"],
        "uid": pod["metadata"]["uid"],
        "blockOwnerDeletion": False,
    }
