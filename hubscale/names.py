"""Kubernetes names and labels of a ComputeCluster's objects and of notebook pods: pure functions.

One spelling for the controller (which names and labels the objects it creates) and the spawner
(which labels notebook pods and finds a cluster's config Secret and Services by these names); the
chart's NetworkPolicies and PodMonitors select pods by the same labels.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from hubscale.spec import ComputeCluster, Engine

CLUSTER_LABEL = "hubscale.io/cluster"
USER_LABEL = "hubscale.io/user"  # also the annotation with the exact user name
SERVER_LABEL = "hubscale.io/server"  # the same, for the server name ("" for the default server)
ENGINE_LABEL = "hubscale.io/engine"
ROLE_LABEL = "hubscale.io/role"
PROFILE_LABEL = "hubscale.io/profile"
NOTEBOOK_ROLE = "notebook"  # the spawner labels each notebook pod with its user and this role
HEAD_ROLE: dict[str, str] = {"spark": "master", "flink": "jobmanager"}
WORKER_ROLE: dict[str, str] = {"spark": "worker", "flink": "taskmanager"}
MAX_LABEL_LENGTH = 63
HASH_LENGTH = 8
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


def label_value(text: str) -> str:
    """``text`` if it is a valid label value, else a label-safe form of it with a hash suffix.

    The readable part folds accents to ASCII (``José`` -> ``Jose``); the hash is of the exact
    text, so names that fold alike still differ.
    """
    if len(text) <= MAX_LABEL_LENGTH and _LABEL_VALUE.match(text):
        return text
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", ascii_fold(text))
    safe = safe.strip("-_.")[: MAX_LABEL_LENGTH - HASH_LENGTH - 1].rstrip("-_.")
    return f"{safe}-{digest(text)}" if safe else digest(text)


def user_label(owner: str) -> str:
    """The ``hubscale.io/user`` label of a hub user's clusters, their objects and notebook pods."""
    return label_value(owner)


def ascii_fold(text: str) -> str:
    """``text`` with accents folded and anything else outside ASCII dropped."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def digest(text: str) -> str:
    """A short, stable hash of the exact text (any code points, lone surrogates too)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_LENGTH]


def object_name(cluster: str, suffix: str) -> str:
    """A child's name, valid for a Service (DNS-1035 label: a letter first, 63 at most)."""
    name = f"{cluster}-{suffix}"
    if len(name) <= 63 and name[0].isalpha():
        return name
    hashed = digest(cluster)
    keep = 63 - len(suffix) - len(hashed) - 3
    return f"c{cluster[:keep].rstrip('-')}-{hashed}-{suffix}"


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
