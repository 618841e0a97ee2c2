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
# A notebook pod's label naming its server's cluster of each engine: each cluster's NetworkPolicies
# admit the notebook pod carrying its name (cluster names are unique objects; a user name is not
# a credential). The drivers' PodMonitor reads the Spark one as the series' cluster label.
NOTEBOOK_CLUSTER_LABEL: dict[str, str] = {
    "spark": "hubscale.io/spark-cluster",
    "flink": "hubscale.io/flink-cluster",
}
MAX_LABEL_LENGTH = 63
HASH_LENGTH = 8
# What ``object_name`` appends to a cluster's name for each of its objects (the functions below).
CHILD_SUFFIXES = ("config", "ingress", "drivers", *HEAD_ROLE.values(), *WORKER_ROLE.values())
# The longest cluster name whose every object is ``<name>-<suffix>``, never cut and hashed again.
MAX_CLUSTER_NAME_LENGTH = MAX_LABEL_LENGTH - 1 - max(map(len, CHILD_SUFFIXES))  # 51
# Of the labels and the cluster names: 64 bits put a search for a user or server name whose label
# or cluster name is another's out of reach (32 bits: 4.4 h on one core in plain Python).
NAME_HASH_LENGTH = 16
ESCAPE_MARK = "---"  # between an escaped value's readable part and its hash; a kept one has no --
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
MAX_DNS_SUBDOMAIN_LENGTH = 253


def is_label_value(text: str) -> bool:
    """A valid Kubernetes label value (the empty one included)."""
    return len(text) <= MAX_LABEL_LENGTH and bool(_LABEL_VALUE.match(text))


def is_label_key(text: str) -> bool:
    """A valid Kubernetes label key: ``[prefix/]name``, the prefix a DNS subdomain."""
    prefix, slash, name = text.rpartition("/")
    if slash and not (len(prefix) <= MAX_DNS_SUBDOMAIN_LENGTH and _DNS_SUBDOMAIN.match(prefix)):
        return False
    return bool(name) and is_label_value(name)


def label_value(text: str) -> str:
    """``text`` if it is a valid label value without ``--``, else ``<readable>---<hash>``.

    Injective by construction (KubeSpawner's ``safe_slug`` scheme): a kept value never holds
    ``--`` and an escaped one always does, ending in the hash of the exact text, so two texts
    share a value only if 64 bits of SHA-256 collide. The readable part folds accents to ASCII
    (``José`` -> ``Jose``) and is ``x`` when nothing readable is left.
    """
    if "--" not in text and is_label_value(text):
        return text
    keep = MAX_LABEL_LENGTH - len(ESCAPE_MARK) - NAME_HASH_LENGTH
    readable = re.sub(r"[^A-Za-z0-9_.]+", "-", ascii_fold(text)).strip("-_.")
    readable = readable[:keep].rstrip("-_.") or "x"
    return f"{readable}{ESCAPE_MARK}{digest(text, NAME_HASH_LENGTH)}"


def user_label(owner: str) -> str:
    """The ``hubscale.io/user`` label of a hub user's clusters, their objects and notebook pods:
    for people and dashboards; no NetworkPolicy selects by it."""
    return label_value(owner)


def notebook_selector(cluster: str, engine: Engine) -> dict[str, str]:
    """The labels of the one notebook pod whose server ``cluster`` belongs to."""
    return {NOTEBOOK_CLUSTER_LABEL[engine]: cluster, ROLE_LABEL: NOTEBOOK_ROLE}


def ascii_fold(text: str) -> str:
    """``text`` with accents folded and anything else outside ASCII dropped."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def digest(text: str, length: int = HASH_LENGTH) -> str:
    """A short, stable hash of the exact text (any code points, lone surrogates too)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:length]


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
