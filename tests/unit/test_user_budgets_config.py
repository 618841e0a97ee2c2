"""Where a user's budget comes from: the profile and the user's groups, through the hub config,
into every ComputeCluster spec of theirs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from jupyterhub.objects import Hub

from hub_config.settings import Settings, SettingsError
from hubscale.store import LocalClusterStore
from spawner.budgets import check_group_budgets, parse_group_budgets, user_budget
from spawner.compute import compute_clusters, resolve_options
from spawner.local import LocalSpawner
from spawner.profiles import ProfileError, load_profiles
from tests.kube.hub import HubUser

SHIPPED = Path(__file__).resolve().parents[2] / "hub_config" / "profiles.yaml"


def profiles_file(tmp_path: Path, **first_profile) -> Path:
    data = yaml.safe_load(SHIPPED.read_text())
    data["profiles"][0].update(first_profile)
    path = tmp_path / "profiles.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_smallest_budget_that_applies_wins_and_none_applies_without_any():
    groups = {"data-science": 16, "interns": 4}

    assert user_budget(None, ["data-science"], groups) == 16
    assert user_budget(8, ["data-science"], groups) == 8
    assert user_budget(32, ["data-science", "interns"], groups) == 4
    assert user_budget(None, ["other"], groups) is None


def test_group_budgets_parse_from_the_setting_and_bad_ones_say_which():
    assert parse_group_budgets("data-science=16, interns=4,") == {"data-science": 16, "interns": 4}
    assert parse_group_budgets("") == {}
    for bad, words in [("ds", "GROUP=CORES"), ("ds=0", "1..100000"), ("a=1,a=2", "twice")]:
        with pytest.raises(ValueError, match=words):
            parse_group_budgets(bad)
    with pytest.raises(ValueError, match="whole number"):
        check_group_budgets({"ds": "16"})


def test_a_bad_local_setting_stops_the_hub_naming_the_variable():
    with pytest.raises(SettingsError, match="HUBSCALE_GROUP_BUDGETS"):
        Settings.from_env({"HUBSCALE_GROUP_BUDGETS": "ds=lots"})
    settings = Settings.from_env({"HUBSCALE_GROUP_BUDGETS": "ds=16"})
    assert Settings.from_env(settings.env()).group_budgets == "ds=16"


def test_a_profiles_budget_is_checked(tmp_path: Path):
    with pytest.raises(ProfileError, match="budgetCores"):
        load_profiles(profiles_file(tmp_path, budgetCores=0))


def test_the_budget_goes_into_every_spec_of_the_user_and_none_leaves_the_field_out(tmp_path):
    profiles = load_profiles(profiles_file(tmp_path, budgetCores=16))
    resolved = resolve_options(profiles, {})

    with_budget = compute_clusters("alice", "", replace(resolved, budget_cores=16))
    without = compute_clusters("alice", "", resolved)

    assert [c.spec.user_budget_cores for c in with_budget] == [16, 16]
    assert all("userBudgetCores" not in c.spec.to_document() for c in without)
    assert with_budget[0].to_document()["spec"]["userBudgetCores"] == 16


def test_the_local_spawner_takes_the_smallest_of_profile_and_group_budgets(tmp_path: Path):
    hub = Hub(ip="127.0.0.1", port=8081, base_url="/hub/")
    user = HubUser("alice", groups=[SimpleNamespace(name="interns")])
    spawner = LocalSpawner(
        user=user,
        hub=hub,
        state_dir=str(tmp_path),
        profiles_file=str(profiles_file(tmp_path, budgetCores=16)),
        group_budget_cores={"interns": 4, "others": 2},
    )

    resolved = spawner.apply_profile({})
    for cluster in compute_clusters("alice", "", resolved):
        LocalClusterStore(tmp_path).apply(cluster)

    assert resolved.budget_cores == 4
    stored = [s.cluster.spec.user_budget_cores for s in LocalClusterStore(tmp_path).list()]
    assert stored == [4, 4]
