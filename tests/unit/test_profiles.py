"""The profiles file: the shipped one loads, and every mistake names its key path."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from jupyterhub.objects import Hub

from spawner.kube import profile_list
from spawner.local import LocalSpawner
from spawner.profiles import (
    OPTIONS,
    NotebookSize,
    OptionBounds,
    ProfileError,
    UserOptionBounds,
    load_profiles,
)
from tests.kube.hub import HubUser

SHIPPED = Path(__file__).resolve().parents[2] / "hub_config" / "profiles.yaml"
SHIPPED_DATA = yaml.safe_load(SHIPPED.read_text())


def changed(path: str, value: Any) -> str:
    """The shipped file as YAML text with the value at a dotted path (list indexes as ints)."""
    data = copy.deepcopy(SHIPPED_DATA)
    *parents, last = [int(part) if part.isdigit() else part for part in path.split(".")]
    node = data
    for part in parents:
        node = node[part]
    node[last] = value
    return yaml.safe_dump(data, sort_keys=False)


def profile_error(text: str) -> ProfileError:
    with pytest.raises(ProfileError) as caught:
        load_profiles(text)
    return caught.value


# The shipped file


def test_shipped_profiles_load_with_small_as_default():
    profiles = load_profiles(SHIPPED)
    assert profiles.names == ["small", "large"]
    assert profiles.default.name == "small"
    small, large = profiles.profiles
    assert small.display_name == "Small" and small.description
    assert small.spec_document("spark") == {
        "minWorkers": 0,
        "maxWorkers": 4,
        "worker": {"cores": 1, "memory": "2Gi"},
        "idleTimeoutSeconds": 600,
    }
    assert small.spec_document("flink")["maxWorkers"] == 2
    assert large.spec_document("spark")["worker"] == {"cores": 2, "memory": "4Gi"}
    assert large.spec_document("flink")["maxWorkers"] == 4


def test_shipped_profiles_let_users_lower_workers_and_set_idle_timeout():
    profiles = load_profiles(SHIPPED)
    assert profiles.default.allowed_options() == {
        "spark_max_workers": OptionBounds(min=0, max=4),
        "flink_max_workers": OptionBounds(min=0, max=2),
        "idle_timeout_seconds": OptionBounds(min=60, max=3600),
    }
    large = profiles.get("large")
    assert large is not None
    assert large.allowed_options()["spark_max_workers"] == OptionBounds(min=0, max=8)
    assert {name: large.default_value(name) for name in OPTIONS} == {
        "spark_max_workers": 8,
        "flink_max_workers": 4,
        "idle_timeout_seconds": 600,
    }


def test_shipped_large_profile_sizes_its_notebook_server_and_small_keeps_the_hubs_size():
    small, large = load_profiles(SHIPPED).profiles
    assert small.notebook is None
    assert large.notebook == NotebookSize(cores=2, memory="8Gi")
    assert large.notebook.spawner_traits() == {
        "cpu_guarantee": 2.0,
        "cpu_limit": 2.0,
        "mem_guarantee": 8 * 2**30,
        "mem_limit": 8 * 2**30,
    }


def test_notebook_size_takes_fractional_cores_and_any_memory_quantity():
    profiles = load_profiles(changed("profiles.0.notebook", {"cores": 0.5, "memory": "1500M"}))
    assert profiles.default.notebook is not None
    assert profiles.default.notebook.spawner_traits() == {
        "cpu_guarantee": 0.5,
        "cpu_limit": 0.5,
        "mem_guarantee": 1_500_000_000,
        "mem_limit": 1_500_000_000,
    }


def test_profile_list_overrides_the_notebook_size_only_where_a_profile_sets_it():
    small, large = profile_list(load_profiles(SHIPPED))
    assert (small["slug"], small["default"], small["kubespawner_override"]) == ("small", True, {})
    assert (large["slug"], large["default"]) == ("large", False)
    assert large["kubespawner_override"] == {
        "cpu_guarantee": 2.0,
        "cpu_limit": 2.0,
        "mem_guarantee": 8 * 2**30,
        "mem_limit": 8 * 2**30,
    }


def test_local_spawner_passes_a_profile_s_notebook_size_to_the_server_else_the_configured(
    tmp_path,
):
    hub = Hub(ip="127.0.0.1", port=8081, base_url="/hub/")
    spawner = LocalSpawner(user=HubUser("zoe"), hub=hub, state_dir=str(tmp_path), mem_limit="1G")
    spawner.api_token = "token"
    sizes = {}
    for name in ("large", "small"):  # small after large: the configured size comes back
        spawner._size_notebook(spawner.profiles.get(name))
        env = spawner.get_env()
        sizes[name] = {key: env.get(key) for key in ("MEM_LIMIT", "CPU_LIMIT", "CPU_GUARANTEE")}
    assert sizes == {
        "large": {"MEM_LIMIT": str(8 * 2**30), "CPU_LIMIT": "2.0", "CPU_GUARANTEE": "2.0"},
        "small": {"MEM_LIMIT": str(2**30), "CPU_LIMIT": None, "CPU_GUARANTEE": None},
    }


def test_text_and_path_load_the_same_profiles():
    assert load_profiles(SHIPPED.read_text()) == load_profiles(SHIPPED)


def test_every_user_option_has_a_bounds_field():
    assert list(UserOptionBounds.model_fields) == list(OPTIONS)


def test_first_profile_is_the_default_when_none_is_marked():
    profiles = load_profiles(changed("profiles.0.default", False))
    assert profiles.default.name == "small"
    data = copy.deepcopy(SHIPPED_DATA)
    data["profiles"].reverse()
    data["profiles"][1]["default"] = False
    assert load_profiles(yaml.safe_dump(data)).default.name == "large"


def test_options_left_out_are_fixed_and_spec_document_applies_the_rest():
    profiles = load_profiles(changed("profiles.0.userOptions", {}))
    small = profiles.default
    assert small.allowed_options() == {}
    document = small.spec_document("flink", {"spark_max_workers": 1, "idle_timeout_seconds": 99})
    assert (document["maxWorkers"], document["idleTimeoutSeconds"]) == (2, 99)


def test_profiles_are_frozen():
    profiles = load_profiles(SHIPPED)
    with pytest.raises(ValueError):
        profiles.default.name = "other"  # type: ignore[misc]


# Errors name the key path


@pytest.mark.parametrize(
    ("path", "value", "field", "reason"),
    [
        ("profiles.0.name", "Small", "profiles[0].name", "must be a DNS-1123 label"),
        ("profiles.0.name", "x" * 64, "profiles[0].name", "must be at most 63 characters"),
        (
            "profiles.1.name",
            "small",
            "profiles[1].name",
            "duplicate name 'small', also profiles[0]",
        ),
        ("profiles.1.default", True, "profiles[1].default", "only one profile may be the default"),
        ("profiles.0.displayName", "", "profiles[0].displayName", "must not be empty"),
        ("profiles.0.description", 3, "profiles[0].description", "must be a string, got int 3"),
        ("profiles.0.gpus", 1, "profiles[0].gpus", "unknown field"),
        ("profiles.0.spark.maxWorkers", "4", "profiles[0].spark.maxWorkers", "must be an integer"),
        ("profiles.0.spark.maxWorkers", True, "profiles[0].spark.maxWorkers", "must be an integer"),
        (
            "profiles.0.spark.maxWorkers",
            5000,
            "profiles[0].spark.maxWorkers",
            "must be at most 1000",
        ),
        ("profiles.0.spark.minWorkers", 5, "profiles[0].spark.maxWorkers", "must be at least minW"),
        ("profiles.0.spark.worker.memory", "lots", "profiles[0].spark.worker.memory", "not a Kub"),
        (
            "profiles.1.flink.worker.cores",
            0,
            "profiles[1].flink.worker.cores",
            "must be at least 1",
        ),
        ("profiles.0.flink.worker", {"cores": 1}, "profiles[0].flink.worker.memory", "is required"),
        (
            "profiles.0.idleTimeoutSeconds",
            -1,
            "profiles[0].idleTimeoutSeconds",
            "must be at least 0",
        ),
        (
            "profiles.0.userOptions.spark_maxworkers",
            {"min": 0, "max": 1},
            "profiles[0].userOptions.spark_maxworkers",
            "unknown user option (known: spark_max_workers, flink_max_workers, idle_timeout",
        ),
        (
            "profiles.0.userOptions.spark_max_workers",
            {"min": 3, "max": 2},
            "profiles[0].userOptions.spark_max_workers.max",
            "must be at least min (3), got 2",
        ),
        (
            "profiles.0.userOptions.spark_max_workers",
            {"min": 0, "max": 3},
            "profiles[0].userOptions.spark_max_workers",
            "must include the profile's own value 4, got 0..3",
        ),
        (
            "profiles.0.userOptions.idle_timeout_seconds",
            {"min": 60, "max": 10**9},
            "profiles[0].userOptions.idle_timeout_seconds.max",
            "must be at most 604800",
        ),
        (
            "profiles.0.userOptions.flink_max_workers",
            {"min": "0", "max": 2},
            "profiles[0].userOptions.flink_max_workers.min",
            "must be an integer, got str '0'",
        ),
        (
            "profiles.1.notebook.memory",
            "lots",
            "profiles[1].notebook.memory",
            "not a Kubernetes quantity: 'lots'",
        ),
        (
            "profiles.1.notebook.memory",
            "64Mi",
            "profiles[1].notebook.memory",
            "must be at least 128Mi, got '64Mi'",
        ),
        ("profiles.1.notebook.cores", 0, "profiles[1].notebook.cores", "must be at least 0.001"),
        ("profiles.1.notebook.cores", "2", "profiles[1].notebook.cores", "must be a number"),
        ("profiles.1.notebook.gpus", 1, "profiles[1].notebook.gpus", "unknown field"),
        ("profiles.0.notebook", {"cores": 1}, "profiles[0].notebook.memory", "is required"),
        ("profiles", [], "profiles", "must list at least one profile"),
        ("extra", 1, "extra", "unknown field"),
    ],
)
def test_bad_profiles_file_names_the_key_path(path, value, field, reason):
    err = profile_error(changed(path, value))
    assert err.field == field
    assert err.reason.startswith(reason)
    assert str(err).startswith(f"{field}: {reason}")


def test_bound_below_min_workers_names_the_bound():
    text = changed("profiles.0.spark.minWorkers", 1)
    err = profile_error(text)
    assert str(err) == (
        "profiles[0].userOptions.spark_max_workers.min: must be at least minWorkers (1), got 0"
    )


@pytest.mark.parametrize("missing", ["name", "displayName", "spark", "flink"])
def test_missing_profile_key_is_required(missing):
    data = copy.deepcopy(SHIPPED_DATA)
    del data["profiles"][1][missing]
    err = profile_error(yaml.safe_dump(data))
    assert (err.field, err.reason) == (f"profiles[1].{missing}", "is required")


def test_several_type_problems_are_reported_together():
    data = copy.deepcopy(SHIPPED_DATA)
    data["profiles"][0]["name"] = 1
    data["profiles"][1]["spark"]["maxWorkers"] = "8"
    err = profile_error(yaml.safe_dump(data))
    assert [field for field, _ in err.problems] == [
        "profiles[0].name",
        "profiles[1].spark.maxWorkers",
    ]
    assert str(err) == "; ".join(f"{field}: {reason}" for field, reason in err.problems)


def test_yaml_syntax_error_names_the_line():
    err = profile_error("profiles:\n  - name: [small\n")
    assert err.field == "<document>"
    assert err.reason.startswith("not valid YAML:")
    assert "line 3" in err.reason


@pytest.mark.parametrize(("text", "got"), [("", "null"), ("- 1\n", "list [1]")])
def test_document_that_is_not_a_mapping_is_rejected(text, got):
    assert str(profile_error(text)) == f"<document>: must be a mapping, got {got}"


def test_path_given_as_text_gets_a_hint():
    err = profile_error("hub_config/profiles.yaml")
    assert err.reason.endswith("(pass a pathlib.Path to read a file)")


def test_errors_from_a_file_name_the_file(tmp_path):
    bad = tmp_path / "profiles.yaml"
    bad.write_text(changed("profiles.0.name", "Bad Name"))
    with pytest.raises(ProfileError) as caught:
        load_profiles(bad)
    assert caught.value.source == str(bad)
    assert str(caught.value).startswith(f"{bad}: profiles[0].name: must be a DNS-1123 label")


def test_missing_file_is_named():
    missing = Path("/nonexistent/profiles.yaml")
    with pytest.raises(ProfileError) as caught:
        load_profiles(missing)
    assert str(caught.value) == f"{missing}: <file>: cannot read: No such file or directory"
