"""What the controller runs against: the local backend or Kubernetes, built from the CLI flags."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoscaler.backends.base import Backend
from autoscaler.backends.local import flink, spark
from autoscaler.backends.local.accounts import SystemAccounts
from autoscaler.backends.local.backend import LocalBackend
from autoscaler.controller.loop import ClusterObjects
from hubscale.accounts import ACCOUNTS_VARIABLE, account_mode
from hubscale.kube_conf import ClusterSettings
from hubscale.state_dir import targets_dir
from hubscale.store import LocalClusterStore


@dataclass
class Wiring:
    """The controller's objects and backend, whether it leads, and what runs beside it."""

    objects: ClusterObjects
    backend: Backend
    leading: Callable[[], bool] | None = None  # None: no leader election, always acts
    companions: list[Coroutine[Any, Any, None]] = field(default_factory=list)
    ready: asyncio.Event | None = None  # set once the objects are known (None: at once)


def local_engines() -> dict:
    """The engines the local backend can run: adapter factory and port allocator per engine."""
    return {
        "spark": (spark.engine_for, spark.allocate_ports),
        "flink": (flink.engine_for, flink.allocate_ports),
    }


def system_accounts() -> SystemAccounts | None:
    """Clusters run as their owners' accounts when ``HUBSCALE_ACCOUNTS=system`` (as the hub's
    servers do); else as the controller's own user."""
    mode = account_mode(os.environ.get(ACCOUNTS_VARIABLE) or "shared")
    if mode != "system":
        return None
    os.umask(0o077)  # the logs and records it writes are its own; accounts get what is given
    return SystemAccounts()


@contextlib.asynccontextmanager
async def local(args: argparse.Namespace, stop: asyncio.Event) -> AsyncIterator[Wiring]:
    """Objects in a state directory, clusters as processes on this machine."""
    file_sd_dir = Path(args.file_sd_dir or targets_dir(args.state_dir))
    accounts = system_accounts()
    status_group = accounts.status_group if accounts is not None else None
    yield Wiring(
        LocalClusterStore(args.state_dir, status_group),
        LocalBackend(args.state_dir, file_sd_dir, local_engines(), accounts=accounts),
    )


def cluster_settings(args: argparse.Namespace) -> ClusterSettings:
    """What every cluster's Kubernetes objects share, from the controller's options."""
    return ClusterSettings(
        args.namespace,
        args.spark_image,
        args.flink_image,
        prometheus_pod_labels=args.prometheus_pod_labels,
        monitoring_namespace=args.monitoring_namespace,
        dry_run=args.dry_run,
    )


@contextlib.asynccontextmanager
async def kubernetes(args: argparse.Namespace, stop: asyncio.Event) -> AsyncIterator[Wiring]:
    """ComputeCluster custom resources and Deployments in one namespace; optionally one leader."""
    from kubernetes_asyncio import client, config

    from autoscaler.backends.kubernetes.backend import KubernetesBackend
    from autoscaler.backends.kubernetes.leader import LeaderElection
    from autoscaler.backends.kubernetes.objects import KubeClusterObjects

    try:
        config.load_incluster_config()
    except config.ConfigException:
        await config.load_kube_config()  # outside a cluster: the user's kubeconfig
    async with client.ApiClient() as api:
        objects = KubeClusterObjects(api, args.namespace)
        settings = cluster_settings(args)
        backend = KubernetesBackend(api, settings)
        wiring = Wiring(
            objects,
            backend,
            companions=[objects.run(stop), backend.run(stop)],  # backend: the pods' watch
            ready=objects.reflector.synced,
        )
        if args.leader_election:
            identity = f"{socket.gethostname()}_{os.getpid()}"  # the pod name on Kubernetes
            election = LeaderElection(
                api,
                args.namespace,
                args.lease_name,
                identity,
                lease_duration_s=args.lease_duration,
                renew_every_s=args.lease_duration / 3,
            )
            wiring.leading = lambda: election.leading
            wiring.companions.append(election.run(stop))
        yield wiring


BACKENDS = {"local": local, "kubernetes": kubernetes}
