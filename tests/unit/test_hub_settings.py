"""The platform's settings from the environment, and the local hub's generated secrets."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from hub_config import credentials
from hub_config.settings import Settings, SettingsError


def test_defaults_bind_the_hub_to_port_8000_in_local_mode():
    settings = Settings.from_env({"HUBSCALE_STATE_DIR": "/s"})
    assert (settings.mode, settings.port, settings.url) == ("local", 8000, "http://127.0.0.1:8000")
    assert settings.admin_token_file == Path("/s/admin-token")
    assert settings.cull_timeout_s == 3600


def test_the_environment_overrides_and_round_trips():
    env = {"HUBSCALE_STATE_DIR": "/s", "HUBSCALE_PORT": "18000", "HUBSCALE_CULL_TIMEOUT_S": "0"}
    settings = Settings.from_env(env)
    assert (settings.port, settings.cull_timeout_s) == (18000, 0)
    assert Settings.from_env(settings.env()) == settings


def test_named_servers_are_limited_per_user_by_default():
    """Each named server brings a Spark master and a Flink JobManager: three per user unless
    HUBSCALE_NAMED_SERVER_LIMIT says otherwise (0: JupyterHub's no limit)."""
    assert Settings.from_env({}).named_server_limit == 3
    assert Settings.from_env({"HUBSCALE_NAMED_SERVER_LIMIT": "5"}).named_server_limit == 5
    assert Settings.from_env({"HUBSCALE_NAMED_SERVER_LIMIT": "0"}).named_server_limit == 0


def test_heads_run_on_demand_unless_turned_off():
    assert Settings.from_env({}).heads_on_demand is True
    off = Settings.from_env({"HUBSCALE_HEADS_ON_DEMAND": "0"})
    assert off.heads_on_demand is False
    assert Settings.from_env(off.env()).heads_on_demand is False  # round-trips through make up


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HUBSCALE_NAMED_SERVER_LIMIT", "-1"),
        ("HUBSCALE_NAMED_SERVER_LIMIT", "three"),
        ("HUBSCALE_PORT", "80000"),
        ("HUBSCALE_PORT", "http"),
        ("HUBSCALE_MODE", "cloud"),
        ("HUBSCALE_CLUSTERS_TIMEOUT_S", "-1"),
        ("HUBSCALE_HEADS_ON_DEMAND", "sometimes"),
    ],
)
def test_a_bad_value_is_refused_with_the_variable_named(variable, value):
    with pytest.raises(SettingsError, match=f"^{variable}="):
        Settings.from_env({variable: value})


def test_secrets_are_generated_once_private_and_long_enough(tmp_path):
    password = credentials.user_password(tmp_path / "state" / "password")
    assert credentials.user_password(tmp_path / "state" / "password") == password
    assert len(password) >= 8  # JupyterHub's SharedPasswordAuthenticator minimum
    assert len(credentials.admin_password(tmp_path / "admin-password")) >= 32
    token = credentials.api_token(tmp_path / "admin-token")
    assert token != credentials.api_token(tmp_path / "other-token")
    for name in ("state/password", "admin-password", "admin-token"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o600
    assert not [path for path in tmp_path.rglob(".*") if path.is_file()]  # no temp file left


def test_an_existing_secret_is_kept_and_made_private(tmp_path):
    path = tmp_path / "admin-token"
    path.write_text("kept-token\n")
    path.chmod(0o644)
    assert credentials.api_token(path) == "kept-token"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_an_empty_secret_file_is_an_error_that_says_what_to_do(tmp_path):
    path = tmp_path / "password"
    path.write_text("")
    with pytest.raises(ValueError, match="delete it"):
        credentials.user_password(path)


def test_accounts_are_shared_unless_hubscale_accounts_says_system():
    assert Settings.from_env({}).accounts == "shared"
    assert Settings.from_env({"HUBSCALE_ACCOUNTS": "system"}).accounts == "system"
    with pytest.raises(SettingsError, match=r"ACCOUNTS=.root.: must be one of shared, system"):
        Settings.from_env({"HUBSCALE_ACCOUNTS": "root"})
