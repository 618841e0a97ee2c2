"""Kubernetes names and labels of a ComputeCluster's objects and of notebook pods: pure functions.

One spelling for the controller (which names and labels the objects it creates) and the spawner
(which labels notebook pods and finds a cluster's config Secret and Services by these names); the
chart's NetworkPolicies and PodMonitors select pods by the same labels.
"""

from __future__ import annotations

import hashlib
import re

from hubscale.spec import ComputeCluster, Engine

CLUSTER_LABEL = "hubscale.io/cluster"
USER_LABEL = "hubscale.io/user"
ENGINE_LABEL = "hubscale.io/engine"
ROLE_LABEL = "hubscale.io/role"
NOTEBOOK_ROLE = "notebook"  # the spawner labels each notebook pod with its user and this role
HEAD_ROLE: dict[str, str] = {"spark": "master", "flink": "jobmanager"}
WORKER_ROLE: dict[str, str] = {"spark": "worker", "flink": "taskmanager"}
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


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


def service_host(name: str, engine: Engine, namespace: str) -> str:
    """The head's Service as a DNS name that resolves from any namespace."""
    return f"{head_name(name, engine)}.{namespace}.svc"
