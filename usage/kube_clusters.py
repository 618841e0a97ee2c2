"""The users' clusters on Kubernetes: the ComputeCluster custom resources of one namespace.

One list call per sampling round (the service samples every few seconds; the objects are few
per user), through the official ``kubernetes`` client, with a read-only Role (get, list). An
object that does not parse is skipped and logged once per round: the controller flags it.
"""

from __future__ import annotations

import logging
from typing import Any

from kubernetes import client, config

from hubscale.crd import GROUP, PLURAL, VERSION
from hubscale.spec import ComputeClusterStatus, SpecError, parse_cluster
from usage.clusters import ClusterView, view_of

log = logging.getLogger(__name__)


def api_client() -> client.ApiClient:
    """In a pod: its service account; elsewhere: the kubeconfig (``KUBECONFIG``)."""
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return client.ApiClient()


class KubeClusters:
    """Lists the namespace's ComputeClusters, each as a ``ClusterView``."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.objects = client.CustomObjectsApi(api)
        self.namespace = namespace

    def clusters(self) -> list[ClusterView]:
        listed = self.objects.list_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, _request_timeout=10
        )
        views = []
        bad = []
        for item in listed.get("items", []):
            view = _view(item)
            if view is None:
                bad.append(item.get("metadata", {}).get("name", "?"))
            else:
                views.append(view)
        if bad:
            log.warning("clusters-skipped invalid=%s", ",".join(bad))
        return views


def _view(item: dict[str, Any]) -> ClusterView | None:
    """The object as a view; None when its spec does not parse (an unreadable status is taken
    as none yet: the controller rewrites it)."""
    document = {key: value for key, value in item.items() if key != "status"}
    try:
        cluster = parse_cluster(document)
    except SpecError:
        return None
    return view_of(cluster.metadata.name, cluster, _status(item.get("status")))


def _status(raw: object) -> ComputeClusterStatus | None:
    if not isinstance(raw, dict) or not raw:
        return None
    try:
        return ComputeClusterStatus(**raw)
    except (SpecError, TypeError):
        return None
