"""jupyterhub_config.py as JupyterHub loads it: local mode, and Kubernetes mode from the chart's
values file and the Secret's environment variables."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml
from traitlets.config.loader import PyFileConfigLoader

from hub_config.chart_values import ChartValuesError
from hub_config.kubernetes import SecretMissing
from hub_config.settings import HUB_CONFIG_DIR


def load(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str):
    monkeypatch.setenv("HUBSCALE_STATE_DIR", str(tmp_path / "state"))
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    return PyFileConfigLoader("jupyterhub_config.py", path=str(HUB_CONFIG_DIR)).load_config()


def test_local_mode_binds_to_loopback_with_generated_secrets(monkeypatch, tmp_path):
    c = load(monkeypatch, tmp_path, HUBSCALE_PORT="18000")
    state = tmp_path / "state"
    assert (c.JupyterHub.ip, c.JupyterHub.port, c.JupyterHub.hub_ip) == (
        "127.0.0.1",
        18000,
        "127.0.0.1",
    )
    assert c.ConfigurableHTTPProxy.api_url.startswith("http://127.0.0.1:")
    assert c.JupyterHub.spawner_class == "spawner.local.LocalSpawner"
    assert c.LocalSpawner.state_dir == str(state)
    password = (state / "password").read_text().strip()
    assert c.SharedPasswordAuthenticator.user_password == password
    assert c.JupyterHub.authenticate_prometheus is False


def test_local_mode_limits_named_servers_per_user(monkeypatch, tmp_path):
    c = load(monkeypatch, tmp_path)
    assert c.JupyterHub.allow_named_servers is True
    assert c.JupyterHub.named_server_limit_per_user == 3
    c = load(monkeypatch, tmp_path, HUBSCALE_NAMED_SERVER_LIMIT="1")
    assert c.JupyterHub.named_server_limit_per_user == 1


def test_the_admin_token_is_a_service_with_the_scopes_scripts_need(monkeypatch, tmp_path):
    c = load(monkeypatch, tmp_path)
    token = (tmp_path / "state" / "admin-token").read_text().strip()
    services = {service["name"]: service for service in c.JupyterHub.services}
    assert services["hubscale-admin"]["api_token"] == token
    roles = {role["name"]: role for role in c.JupyterHub.load_roles}
    assert {"admin:users", "admin:servers", "access:servers", "tokens"} <= set(
        roles["hubscale-admin"]["scopes"]
    )
    assert roles["hubscale-admin"]["services"] == ["hubscale-admin"]


def test_the_idle_culler_is_on_by_default_and_can_be_turned_off(monkeypatch, tmp_path):
    c = load(monkeypatch, tmp_path)
    culler = next(s for s in c.JupyterHub.services if s["name"] == "idle-culler")
    assert "--timeout=3600" in culler["command"]
    assert (
        "delete:servers"
        in next(r for r in c.JupyterHub.load_roles if r["name"] == "idle-culler")["scopes"]
    )
    c = load(monkeypatch, tmp_path, HUBSCALE_CULL_TIMEOUT_S="0")
    assert [s["name"] for s in c.JupyterHub.services] == ["hubscale-admin", "hubscale", "mlflow"]


# What the chart's hub ConfigMap renders (templates/hub/configmap.yaml) for release "hs".
CHART_VALUES = {
    "namespace": "hub",
    "release": "hs",
    "hub": {
        "service": "hs-hubscale-hub",
        "port": 8081,
        "authenticatorClass": "shared-password",
        "adminUsers": ["admin"],
        "authenticatePrometheus": True,
        "namedServerLimitPerUser": 3,
        "groupBudgetCores": {"data-science": 16},
        "config": {},
    },
    "usage": {"enabled": True, "url": "http://hs-hubscale-usage:9320"},
    "clusters": {"headsOnDemand": True},
    "proxy": {"apiUrl": "http://hs-hubscale-proxy-api:8001", "publicService": "hs-hubscale"},
    "singleuser": {
        "image": "hubscale/singleuser:0.1.0",
        "pullPolicy": "IfNotPresent",
        "imagePullSecrets": [],
        "cpu": {"request": 0.5, "limit": 2},
        "memory": {"request": "1Gi", "limit": "4Gi"},
        "storage": {"type": "dynamic", "capacity": "10Gi", "storageClassName": ""},
        "startTimeoutSeconds": 600,
        "serviceAccountName": "hs-hubscale-singleuser",
        "labels": {"hubscale.io/role": "notebook", "app.kubernetes.io/part-of": "hubscale"},
    },
}
SECRETS = {
    "JPY_COOKIE_SECRET": "ab" * 32,
    "CONFIGPROXY_AUTH_TOKEN": "proxy-token-value",
    "HUBSCALE_USER_PASSWORD": "user-password-value",
    "HUBSCALE_ADMIN_PASSWORD": "admin-password-value-0123456789abcdef",
    "HUBSCALE_METRICS_TOKEN": "metrics-token-value",
    "HUBSCALE_USAGE_TOKEN": "usage-token-value",
    "HUBSCALE_ACTIVITY_TOKEN": "activity-token-value",
}


def load_kubernetes(
    monkeypatch, tmp_path, text: str | None = yaml.safe_dump(CHART_VALUES), secrets=SECRETS
):
    """Load the config file in Kubernetes mode; ``text`` None: no values file at all."""
    path = tmp_path / "values.yaml"
    if text is not None:
        path.write_text(text)
    for variable in SECRETS:
        monkeypatch.delenv(variable, raising=False)
    env = {**secrets, "HUBSCALE_CHART_VALUES": str(path)}
    return load(monkeypatch, tmp_path, HUBSCALE_MODE="kubernetes", **env)


def test_kubernetes_mode_runs_kubespawner_with_the_chart_values(monkeypatch, tmp_path):
    c = load_kubernetes(monkeypatch, tmp_path)
    assert c.JupyterHub.spawner_class == "spawner.kube.HubscaleKubeSpawner"
    assert c.JupyterHub.hub_connect_url == "http://hs-hubscale-hub:8081"
    assert c.JupyterHub.hub_bind_url == "http://:8081"
    assert c.ConfigurableHTTPProxy.api_url == "http://hs-hubscale-proxy-api:8001"
    assert c.ConfigurableHTTPProxy.should_start is False
    assert c.JupyterHub.cleanup_servers is False
    assert c.KubeSpawner.namespace == "hub"
    assert c.KubeSpawner.image == "hubscale/singleuser:0.1.0"
    assert c.KubeSpawner.service_account == "hs-hubscale-singleuser"
    assert (c.KubeSpawner.cpu_guarantee, c.KubeSpawner.cpu_limit) == (0.5, 2.0)
    assert (c.KubeSpawner.mem_guarantee, c.KubeSpawner.mem_limit) == (2**30, 4 * 2**30)
    assert c.KubeSpawner.extra_labels["hubscale.io/role"] == "notebook"
    assert c.KubeSpawner.storage_pvc_ensure is True
    assert c.KubeSpawner.storage_capacity == "10Gi"
    assert c.KubeSpawner.volume_mounts == [{"name": "home", "mountPath": "/home/jovyan"}]
    assert c.Spawner.start_timeout == 180 + 600  # the clusters, then the pod


def test_kubernetes_mode_limits_named_servers_per_user_as_the_chart_says(monkeypatch, tmp_path):
    c = load_kubernetes(monkeypatch, tmp_path)
    assert c.JupyterHub.allow_named_servers is True
    assert c.JupyterHub.named_server_limit_per_user == 3
    hub = {**CHART_VALUES["hub"], "namedServerLimitPerUser": 0}
    c = load_kubernetes(monkeypatch, tmp_path, yaml.safe_dump({**CHART_VALUES, "hub": hub}))
    assert c.JupyterHub.named_server_limit_per_user == 0


def test_kubernetes_mode_gives_the_spawner_the_charts_group_budgets(monkeypatch, tmp_path):
    c = load_kubernetes(monkeypatch, tmp_path)
    assert c.HubscaleKubeSpawner.group_budget_cores == {"data-science": 16}
    hub = {**CHART_VALUES["hub"], "groupBudgetCores": {"data-science": 0}}
    with pytest.raises(ChartValuesError, match=r"hub.groupBudgetCores: group 'data-science'"):
        load_kubernetes(monkeypatch, tmp_path, yaml.safe_dump({**CHART_VALUES, "hub": hub}))


def test_kubernetes_mode_lists_the_charts_usage_service_for_every_user(monkeypatch, tmp_path):
    c = load_kubernetes(monkeypatch, tmp_path)
    services = {service["name"]: service for service in c.JupyterHub.services}
    usage = services["hubscale"]
    assert (usage["url"], usage["api_token"], usage["display"]) == (
        "http://hs-hubscale-usage:9320", "usage-token-value", True
    )  # fmt: skip
    assert "command" not in usage  # the chart runs it, not the hub
    roles = {role["name"]: role for role in c.JupyterHub.load_roles}
    assert roles["hubscale"]["scopes"] == ["read:users"]
    assert "access:services!service=hubscale" in roles["user"]["scopes"]
    off = yaml.safe_dump({**CHART_VALUES, "usage": {"enabled": False, "url": "x"}})
    c = load_kubernetes(monkeypatch, tmp_path, off)
    assert "hubscale" not in {service["name"] for service in c.JupyterHub.services}


def test_kubernetes_mode_runs_heads_on_demand_with_the_activity_tokens_hash_only(
    monkeypatch, tmp_path
):
    c = load_kubernetes(monkeypatch, tmp_path)
    assert c.HubscaleKubeSpawner.heads_on_demand is True
    digest = hashlib.sha256(b"activity-token-value").hexdigest()
    assert c.HubscaleKubeSpawner.activity_token_sha256 == digest
    off = yaml.safe_dump({**CHART_VALUES, "clusters": {"headsOnDemand": False}})
    without_token = {k: v for k, v in SECRETS.items() if k != "HUBSCALE_ACTIVITY_TOKEN"}
    c = load_kubernetes(monkeypatch, tmp_path, off, secrets=without_token)
    assert c.HubscaleKubeSpawner.heads_on_demand is False
    assert "activity_token_sha256" not in c.HubscaleKubeSpawner
    with pytest.raises(SecretMissing, match="HUBSCALE_ACTIVITY_TOKEN is not set"):
        load_kubernetes(monkeypatch, tmp_path, secrets=without_token)


def test_kubernetes_mode_takes_its_secrets_from_the_environment(monkeypatch, tmp_path):
    c = load_kubernetes(monkeypatch, tmp_path)
    assert c.JupyterHub.authenticator_class == "shared-password"
    assert c.SharedPasswordAuthenticator.user_password == SECRETS["HUBSCALE_USER_PASSWORD"]
    assert c.SharedPasswordAuthenticator.admin_password == SECRETS["HUBSCALE_ADMIN_PASSWORD"]
    assert c.Authenticator.admin_users == {"admin"}
    services = {service["name"]: service for service in c.JupyterHub.services}
    assert services["prometheus"]["api_token"] == SECRETS["HUBSCALE_METRICS_TOKEN"]
    assert "--timeout=3600" in services["idle-culler"]["command"]
    roles = {role["name"]: role for role in c.JupyterHub.load_roles}
    assert roles["prometheus"]["scopes"] == ["read:metrics"]
    assert c.JupyterHub.authenticate_prometheus is True


def test_hub_config_values_go_to_traitlets_last(monkeypatch, tmp_path):
    hub = {
        **CHART_VALUES["hub"],
        "authenticatorClass": "dummy",
        "config": {"KubeSpawner": {"cpu_limit": 4.0}, "DummyAuthenticator": {"password": "x"}},
    }
    c = load_kubernetes(monkeypatch, tmp_path, yaml.safe_dump({**CHART_VALUES, "hub": hub}))
    assert c.KubeSpawner.cpu_limit == 4.0
    assert c.JupyterHub.authenticator_class == "dummy"
    assert c.DummyAuthenticator.password == "x"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, r"values\.yaml: cannot read the chart values"),
        (": not yaml: [", r"values\.yaml: not valid YAML"),
        ("[1, 2]", r"values\.yaml: must be a mapping, got list"),
        (yaml.safe_dump({**CHART_VALUES, "proxy": {}}), r"values\.yaml: proxy\.apiUrl: missing"),
        (
            yaml.safe_dump({**CHART_VALUES, "hub": {**CHART_VALUES["hub"], "port": "8081"}}),
            r"values\.yaml: hub\.port: must be int, got",
        ),
    ],
)
def test_a_missing_or_garbage_values_file_names_the_file_and_key(
    monkeypatch, tmp_path, text, message
):
    with pytest.raises(ChartValuesError, match=message):
        load_kubernetes(monkeypatch, tmp_path, text)


def test_a_missing_secret_is_named_and_no_secret_is_shown(monkeypatch, tmp_path):
    secrets = {k: v for k, v in SECRETS.items() if k != "HUBSCALE_METRICS_TOKEN"}
    with pytest.raises(SecretMissing, match="HUBSCALE_METRICS_TOKEN") as missing:
        load_kubernetes(monkeypatch, tmp_path, secrets=secrets)
    assert not any(value in str(missing.value) for value in SECRETS.values())


def test_local_mode_runs_the_usage_service_in_the_services_menu_with_read_users_only(
    monkeypatch, tmp_path
):
    c = load(monkeypatch, tmp_path, HUBSCALE_USAGE_PORT="19320", HUBSCALE_PROMETHEUS_PORT="19090")

    usage = next(s for s in c.JupyterHub.services if s["name"] == "hubscale")
    role = next(r for r in c.JupyterHub.load_roles if r["name"] == "hubscale")
    assert usage["url"] == "http://127.0.0.1:19320"
    assert (usage["display"], usage["oauth_no_confirm"]) == (True, True)
    assert usage["command"][1:] == [
        "-m",
        "usage",
        f"--state-dir={tmp_path / 'state'}",
        "--prometheus-url=http://127.0.0.1:19090",
    ]
    assert role["scopes"] == ["read:users"]
    users = next(r for r in c.JupyterHub.load_roles if r["name"] == "user")
    assert users["scopes"] == [
        "self",
        "access:services!service=hubscale",
        "access:services!service=mlflow",
    ]


def test_local_mode_puts_mlflow_behind_a_service_the_servers_own_token_may_reach(
    monkeypatch, tmp_path
):
    """The tracking service forwards to MLflow's socket and holds no scope of its own;
    a notebook server's token (its kernels' MLflow credential) may reach it and nothing more."""
    c = load(monkeypatch, tmp_path, HUBSCALE_PORT="18000")

    service = next(s for s in c.JupyterHub.services if s["name"] == "mlflow")
    role = next(r for r in c.JupyterHub.load_roles if r["name"] == "mlflow")
    socket = tmp_path / "state" / "mlflow" / "mlflow.sock"
    assert service["command"][1:] == ["-m", "tracking", f"--mlflow-socket={socket}"]
    assert role["scopes"] == []
    assert c.LocalSpawner.tracking_url == "http://127.0.0.1:18000/services/mlflow"
    assert c.Spawner.server_token_scopes == [
        "users:activity!user",
        "access:servers!server",
        "access:services!service=mlflow",
    ]
