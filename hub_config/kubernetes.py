"""JupyterHub configuration for Kubernetes mode (the chart's hub Deployment).

The chart writes the values the hub needs into a file (``HUBSCALE_CHART_VALUES``: namespace,
Services, the notebook image and size, ...) and puts its secrets in the environment
(``helm/hubscale/templates/hub/deployment.yaml``). JupyterHub reads ``JPY_COOKIE_SECRET`` and
``CONFIGPROXY_AUTH_TOKEN`` itself; they are only checked here. ``hub.config`` is applied last,
straight to traitlets. No secret is logged or put into an error message.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

from kubernetes.utils.quantity import parse_quantity

from hub_config.access import (
    SHARED_PASSWORD,
    USAGE_SCOPES,
    USAGE_SERVICE,
    Service,
    idle_culler,
    set_services,
    shared_password,
)
from hub_config.chart_values import ChartValues, ChartValuesError
from hub_config.settings import Settings
from hubscale_nb.activity import token_digest
from spawner.budgets import check_group_budgets
from spawner.profiles import load_profiles

SPAWNER = "spawner.kube.HubscaleKubeSpawner"
METRICS_SERVICE = "prometheus"  # holds HUBSCALE_METRICS_TOKEN, scrapes /hub/metrics
HOME = "/home/jovyan"  # the singleuser image's user home (images/singleuser/Dockerfile)
HOME_VOLUME = "home"
ALWAYS_NEEDED = ("JPY_COOKIE_SECRET", "CONFIGPROXY_AUTH_TOKEN")


class SecretMissing(ValueError):
    """An environment variable the chart sets from its Secret is absent or empty."""


def configure(c: Any, settings: Settings, env: Mapping[str, str] | None = None) -> None:
    """Fill JupyterHub's config object ``c`` for Kubernetes mode from the chart's values."""
    env = os.environ if env is None else env
    values = ChartValues.load(settings.chart_values)
    load_profiles(settings.profiles_file)  # a broken profiles file stops the hub here, named
    for variable in ALWAYS_NEEDED:
        _secret(env, variable)
    settings.hub_dir.mkdir(mode=0o700, parents=True, exist_ok=True)

    port = values.get("hub.port", int)
    c.JupyterHub.hub_bind_url = f"http://:{port}"
    c.JupyterHub.hub_connect_url = f"http://{values.get('hub.service', str)}:{port}"
    c.ConfigurableHTTPProxy.api_url = values.get("proxy.apiUrl", str)
    c.ConfigurableHTTPProxy.should_start = False  # the chart runs the proxy
    c.JupyterHub.db_url = f"sqlite:///{settings.hub_dir / 'jupyterhub.sqlite'}"
    c.JupyterHub.allow_named_servers = True
    # Each named server brings a Spark master and a Flink JobManager (0: JupyterHub's no limit).
    c.JupyterHub.named_server_limit_per_user = values.get("hub.namedServerLimitPerUser", int)
    c.JupyterHub.cleanup_servers = False  # a hub restart leaves the users' pods running

    _authentication(c, values, env)
    _spawner(c, settings, values)
    _heads_on_demand(c, values, env)
    metrics = _metrics(c, values, env)
    culler = idle_culler(settings.cull_timeout_s, settings.cull_every_s)
    set_services(c, [metrics, culler, _usage(values, env)])
    _passthrough(c, values)


def _secret(env: Mapping[str, str], variable: str) -> str:
    value = env.get(variable, "").strip()
    if not value:
        raise SecretMissing(f"{variable} is not set: the chart sets it from the hub's Secret")
    return value


def _authentication(c: Any, values: ChartValues, env: Mapping[str, str]) -> None:
    authenticator = values.get("hub.authenticatorClass", str)
    admin_users = values.get("hub.adminUsers", list)
    if authenticator == SHARED_PASSWORD:
        user_password = _secret(env, "HUBSCALE_USER_PASSWORD")
        admin_password = _secret(env, "HUBSCALE_ADMIN_PASSWORD")
        shared_password(c, user_password, admin_password, admin_users)
    else:  # its own settings come through hub.config
        c.JupyterHub.authenticator_class = authenticator
        c.Authenticator.admin_users = set(admin_users)


def _spawner(c: Any, settings: Settings, values: ChartValues) -> None:
    """KubeSpawner's traits from ``singleuser``; hubscale's subclass adds the clusters."""
    single = "singleuser"
    c.JupyterHub.spawner_class = SPAWNER
    c.HubscaleKubeSpawner.profiles_file = str(settings.profiles_file)
    budgets = values.get("hub.groupBudgetCores", dict)
    try:
        c.HubscaleKubeSpawner.group_budget_cores = check_group_budgets(budgets)
    except ValueError as error:
        raise ChartValuesError(f"{values.path}: hub.groupBudgetCores: {error}") from None
    c.KubeSpawner.namespace = values.get("namespace", str)
    c.KubeSpawner.image = values.get(f"{single}.image", str)
    c.KubeSpawner.image_pull_policy = values.get(f"{single}.pullPolicy", str)
    c.KubeSpawner.image_pull_secrets = values.get(f"{single}.imagePullSecrets", list)
    c.KubeSpawner.service_account = values.get(f"{single}.serviceAccountName", str)
    c.KubeSpawner.extra_labels = values.get(f"{single}.labels", dict)
    c.KubeSpawner.cpu_guarantee = float(values.get(f"{single}.cpu.request", (int, float)))
    c.KubeSpawner.cpu_limit = float(values.get(f"{single}.cpu.limit", (int, float)))
    c.KubeSpawner.mem_guarantee = _bytes(values, f"{single}.memory.request")
    c.KubeSpawner.mem_limit = _bytes(values, f"{single}.memory.limit")
    start_s = values.get(f"{single}.startTimeoutSeconds", int)
    # The pod waits for its Spark configuration, which comes with the user's clusters.
    c.Spawner.start_timeout = int(settings.clusters_timeout_s + start_s)
    c.Spawner.http_timeout = start_s
    _storage(c, values)


def _heads_on_demand(c: Any, values: ChartValues, env: Mapping[str, str]) -> None:
    """``clusters.headsOnDemand``: the spawner gets the hash of Prometheus's activity token
    (from the hub's Secret); off: heads run from the spawn on."""
    on = values.get("clusters.headsOnDemand", bool)
    c.HubscaleKubeSpawner.heads_on_demand = on
    if on:
        token = _secret(env, "HUBSCALE_ACTIVITY_TOKEN")
        c.HubscaleKubeSpawner.activity_token_sha256 = token_digest(token)


def _storage(c: Any, values: ChartValues) -> None:
    """A claim per user (``dynamic``) or an emptyDir (``none``), mounted as the home directory."""
    kind = values.get("singleuser.storage.type", str)
    mount = {"name": HOME_VOLUME, "mountPath": HOME}
    if kind == "dynamic":
        c.KubeSpawner.storage_pvc_ensure = True
        c.KubeSpawner.storage_capacity = values.get("singleuser.storage.capacity", str)
        storage_class = values.get("singleuser.storage.storageClassName", str)
        if storage_class:
            c.KubeSpawner.storage_class = storage_class
        volume = {"name": HOME_VOLUME, "persistentVolumeClaim": {"claimName": "{pvc_name}"}}
    elif kind == "none":
        c.KubeSpawner.storage_pvc_ensure = False
        volume = {"name": HOME_VOLUME, "emptyDir": {}}
    else:
        message = f"{values.path}: singleuser.storage.type: must be dynamic or none, got {kind!r}"
        raise ChartValuesError(message)
    c.KubeSpawner.volumes = [volume]
    c.KubeSpawner.volume_mounts = [mount]


def _bytes(values: ChartValues, key: str) -> int:
    """A Kubernetes memory quantity (``4Gi``) in bytes, rounded up as Kubernetes does."""
    quantity = values.get(key, (str, int))
    try:
        return math.ceil(parse_quantity(quantity))
    except ValueError:
        raise ChartValuesError(f"{values.path}: {key}: not a quantity: {quantity!r}") from None


def _metrics(c: Any, values: ChartValues, env: Mapping[str, str]) -> Service | None:
    """Prometheus's token for /hub/metrics, when the chart asks for authentication."""
    authenticate = values.get("hub.authenticatePrometheus", bool)
    c.JupyterHub.authenticate_prometheus = authenticate
    if not authenticate:
        return None
    token = _secret(env, "HUBSCALE_METRICS_TOKEN")
    return Service(METRICS_SERVICE, ["read:metrics"], api_token=token)


def _usage(values: ChartValues, env: Mapping[str, str]) -> Service | None:
    """The usage service the chart runs as its own Deployment (``usage.enabled``): the proxy
    routes /services/hubscale/ to it, its token comes from the hub's Secret."""
    if not values.get("usage.enabled", bool):
        return None
    token = _secret(env, "HUBSCALE_USAGE_TOKEN")
    url = values.get("usage.url", str)
    return Service(USAGE_SERVICE, USAGE_SCOPES, api_token=token, url=url, for_every_user=True)


def _passthrough(c: Any, values: ChartValues) -> None:
    """``hub.config``: ``{Class: {trait: value}}`` set as is, after (over) everything above."""
    for section, traits in values.get("hub.config", dict).items():
        if not isinstance(traits, Mapping):
            raise ChartValuesError(
                f"{values.path}: hub.config.{section}: must be a mapping of traits"
            )
        for trait, value in traits.items():
            setattr(c[section], trait, value)
