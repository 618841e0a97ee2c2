"""What a notebook pod needs to reach its user's clusters on Kubernetes: pure functions, no I/O.

KubeSpawner builds the pod; these give it our labels (the chart's NetworkPolicies and the drivers'
PodMonitor select notebook pods by them), the Spark cluster's config Secret mounted read-only as
``SPARK_CONF_DIR`` (the pod waits until the controller has created it), the environment from
``spawner.notebook_env``, and an init container that writes the PyFlink client's own directory.

The Flink client configuration is computed here, in the hub: it follows from the cluster's
configuration, which ``hubscale.kube_conf.config_files`` builds from the ComputeCluster alone
(the controller uses the same function with the same defaults). It reaches the pod base64-encoded in
the init container's environment, which a short Python script (the image's python3) writes into
an emptyDir; the distribution's log4j files are copied beside it, as in local mode.
"""

from __future__ import annotations

import base64
import json
from pathlib import PurePosixPath
from typing import Any

import yaml

from hubscale.flink_conf import render_config
from hubscale.kube_conf import CONF_DIR, ClusterSettings, config_files, endpoints
from hubscale.names import NOTEBOOK_ROLE, ROLE_LABEL, USER_LABEL, config_secret_name, user_label
from hubscale.spec import ComputeCluster
from spawner.notebook_env import flink_client_config, flink_env, spark_env

SPARK_CLUSTER_LABEL = "hubscale.io/spark-cluster"  # the drivers' PodMonitor: label `cluster`
SPARK_CONF_VOLUME = "hubscale-spark-conf"
FLINK_CLIENT_VOLUME = "hubscale-flink-client"
FLINK_CLIENT_DIR = PurePosixPath("/var/lib/hubscale/flink")
FLINK_CLIENT_INIT = "hubscale-flink-client"
# The distribution inside the image's Flink kernel environment (images/singleuser/Dockerfile).
FLINK_LOG4J_GLOB = "/opt/flink-venv/lib/python3*/site-packages/pyflink/conf/log4j*.properties"
FLINK_CLIENT_PYTHON = "/opt/flink-venv/bin/python"  # PyFlink's client side runs in the kernel's env
FILES_VARIABLE = "HUBSCALE_CLIENT_FILES"
# No braces anywhere: KubeSpawner formats every string of init_containers with the user's names.
FLINK_CLIENT_SCRIPT = """\
import base64, glob, json, os, pathlib, shutil
root = pathlib.Path(os.environ["HUBSCALE_CLIENT_DIR"])
for sub in ("conf", "logs", "tmp"):
    (root / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
for log4j in sorted(glob.glob(os.environ["HUBSCALE_LOG4J_GLOB"])):
    shutil.copyfile(log4j, root / "conf" / os.path.basename(log4j))
files = json.loads(base64.b64decode(os.environ["HUBSCALE_CLIENT_FILES"]))
for name, text in files.items():
    (root / "conf" / name).write_text(text)
"""


def pod_labels(user: str, spark_cluster: str) -> dict[str, str]:
    """The notebook pod's labels: its user, its role and its Spark cluster."""
    return {
        USER_LABEL: user_label(user),
        ROLE_LABEL: NOTEBOOK_ROLE,
        SPARK_CLUSTER_LABEL: spark_cluster,
    }


def client_env(spark_cluster: str, flink_cluster: str, namespace: str) -> dict[str, Any]:
    """The notebook server's environment; ``SPARK_LOCAL_IP`` is the pod's IP (downward API),
    which the drivers advertise to the cluster."""
    spark = {**endpoints(spark_cluster, "spark", namespace), "conf_dir": CONF_DIR}
    flink = endpoints(flink_cluster, "flink", namespace)
    return {
        **spark_env(spark),
        **flink_env(flink, FLINK_CLIENT_DIR),
        "SPARK_LOCAL_IP": {"valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
    }


def volumes(spark_cluster: str) -> dict[str, dict[str, Any]]:
    """Volume name -> volume: the Spark config Secret (required) and the Flink client's dir."""
    secret = {"secretName": config_secret_name(spark_cluster), "optional": False}
    return {
        SPARK_CONF_VOLUME: {"name": SPARK_CONF_VOLUME, "secret": secret},
        FLINK_CLIENT_VOLUME: {"name": FLINK_CLIENT_VOLUME, "emptyDir": {}},
    }


def volume_mounts() -> dict[str, dict[str, Any]]:
    """Volume name -> the notebook container's mount. The Secret keeps the cluster's own path:
    its spark-defaults.conf names ``<CONF_DIR>/metrics.properties``."""
    return {
        SPARK_CONF_VOLUME: {"name": SPARK_CONF_VOLUME, "mountPath": CONF_DIR, "readOnly": True},
        FLINK_CLIENT_VOLUME: {"name": FLINK_CLIENT_VOLUME, "mountPath": str(FLINK_CLIENT_DIR)},
    }


def flink_client_files(flink_cluster: ComputeCluster, namespace: str) -> dict[str, str]:
    """The PyFlink client's conf files (file name -> text) for the user's Flink cluster."""
    settings = ClusterSettings(namespace, spark_image="", flink_image="")
    cluster_config = yaml.safe_load(config_files(flink_cluster, settings, "")["config.yaml"])
    client_config = flink_client_config(cluster_config, FLINK_CLIENT_DIR)
    client_config["python.client.executable"] = FLINK_CLIENT_PYTHON
    return {"config.yaml": render_config(client_config)}


def flink_client_init_container(image: str, files: dict[str, str]) -> dict[str, Any]:
    """The init container writing ``files`` into the Flink client's directory."""
    encoded = base64.b64encode(json.dumps(files, sort_keys=True).encode()).decode()
    return {
        "name": FLINK_CLIENT_INIT,
        "image": image,
        "command": ["python3", "-c", FLINK_CLIENT_SCRIPT],
        "env": [
            {"name": "HUBSCALE_CLIENT_DIR", "value": str(FLINK_CLIENT_DIR)},
            {"name": "HUBSCALE_LOG4J_GLOB", "value": FLINK_LOG4J_GLOB},
            {"name": FILES_VARIABLE, "value": encoded},
        ],
        "volumeMounts": [{"name": FLINK_CLIENT_VOLUME, "mountPath": str(FLINK_CLIENT_DIR)}],
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
