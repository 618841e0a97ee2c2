"""jupyterhub_config.py as JupyterHub loads it: local mode fully set, Kubernetes mode refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from traitlets.config.loader import PyFileConfigLoader

from hub_config.kubernetes import ModeNotAvailable
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
    assert [s["name"] for s in c.JupyterHub.services] == ["hubscale-admin"]


def test_kubernetes_mode_says_it_is_not_there_yet(monkeypatch, tmp_path):
    with pytest.raises(ModeNotAvailable, match="Kubernetes issue"):
        load(monkeypatch, tmp_path, HUBSCALE_MODE="kubernetes")
