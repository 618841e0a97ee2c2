"""From the chart to a spawner: helm renders the hub's ConfigMap and Deployment, the hub's own
``jupyterhub_config.py`` (as the ConfigMap carries it) loads with the Deployment's environment,
and hubscale's KubeSpawner subclass built from that configuration has what the chart asked for.
This proves the configuration path, not a running hub on a cluster."""

from __future__ import annotations

import asyncio
import math

import pytest
from jupyterhub.objects import Hub
from kubernetes.utils.quantity import parse_quantity
from traitlets.config.loader import PyFileConfigLoader

from hubscale_nb.activity import token_digest
from spawner.kube import HubscaleKubeSpawner
from spawner.notebook_env import ACTIVITY_EXTENSION, REVIEW_EXTENSION
from tests.kube.chart import NAMESPACE, PREFIX, one, render
from tests.kube.hub import HubUser, stop_reflectors

CONFIG_DIR = "/usr/local/etc/jupyterhub"  # where the Deployment mounts the ConfigMap
SECRETS = {  # what the chart's Secret holds; test values
    "JPY_COOKIE_SECRET": "00" * 32,
    "CONFIGPROXY_AUTH_TOKEN": "proxy-token-for-the-test",
    "HUBSCALE_METRICS_TOKEN": "metrics-token-for-the-test",
    "HUBSCALE_USER_PASSWORD": "user-password-for-the-test",
    "HUBSCALE_ADMIN_PASSWORD": "admin-password-for-the-test",
    "HUBSCALE_USAGE_TOKEN": "usage-token-for-the-test",
    "HUBSCALE_ACTIVITY_TOKEN": "activity-token-for-the-test",
}


@pytest.fixture
def hub_config(tmp_path, monkeypatch):
    """The hub's configuration as its pod would load it, files and environment from the chart."""
    manifests = render("helm3", {"singleuser": {"cpu": {"limit": 3}, "memory": {"limit": "6Gi"}}})
    files = one(manifests, "ConfigMap", f"{PREFIX}-hub")["data"]
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    container = one(manifests, "Deployment", f"{PREFIX}-hub")["spec"]["template"]["spec"][
        "containers"
    ][0]
    for variable in container["env"]:
        if "value" in variable:
            value = variable["value"].replace(CONFIG_DIR, str(tmp_path))
            monkeypatch.setenv(variable["name"], value)
    monkeypatch.setenv("HUBSCALE_STATE_DIR", str(tmp_path / "state"))
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    return PyFileConfigLoader("jupyterhub_config.py", path=str(tmp_path)).load_config()


def test_the_charts_hub_config_builds_the_spawner_the_chart_describes(
    hub_config, spawner_apiserver
):
    assert hub_config.JupyterHub.spawner_class == "spawner.kube.HubscaleKubeSpawner"
    assert hub_config.JupyterHub.named_server_limit_per_user == 3  # the chart's default

    async def built() -> tuple[HubscaleKubeSpawner, list[str]]:
        try:
            spawner = HubscaleKubeSpawner(
                user=HubUser("alice"),
                hub=Hub(ip="127.0.0.1", port=8081, base_url="/hub/"),
                config=hub_config,
                k8s_api_host=spawner_apiserver.url,
            )
            return spawner, spawner.get_args()
        finally:
            await stop_reflectors()

    spawner, args = asyncio.run(built())
    assert spawner.namespace == NAMESPACE
    assert spawner.image.startswith("hubscale/singleuser:")
    assert spawner.service_account == f"{PREFIX}-singleuser"
    assert spawner.extra_labels["hubscale.io/role"] == "notebook"
    assert spawner.cpu_limit == 3.0
    assert spawner.mem_limit == math.ceil(parse_quantity("6Gi"))
    assert spawner.storage_pvc_ensure is True
    assert [p["slug"] for p in spawner.profile_list] == ["small", "large"]
    assert f"--ServerApp.jpserver_extensions={REVIEW_EXTENSION}=True" in args
    # Heads on demand, the chart's default: the pods publish their activity, given its hash only.
    assert spawner.heads_on_demand is True and spawner.activity_published
    assert spawner.activity_token_sha256 == token_digest(SECRETS["HUBSCALE_ACTIVITY_TOKEN"])
    assert f"--ServerApp.jpserver_extensions={ACTIVITY_EXTENSION}=True" in args
