"""``python -m autoscaler``'s options: one table (FLAGS), each reachable by its flag and by its
environment variable, a bad value of either a clear error naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from autoscaler.__main__ import FLAGS, parse_args, parser
from autoscaler.controller.shard import Shard
from hubscale.state_dir import default_state_dir

# Per flag: a text to give and the value the controller gets from it.
GIVEN = {
    "state-dir": ("/srv/hubscale", Path("/srv/hubscale")),
    "file-sd-dir": ("/srv/targets", Path("/srv/targets")),
    "prometheus-url": ("http://prometheus:9090", "http://prometheus:9090"),
    "interval": ("5", 5.0),
    "listen": ("0.0.0.0:9400", "0.0.0.0:9400"),
    "budget-cores": ("64", 64),
    "dry-run": ("yes", True),
    "backend": ("kubernetes", "kubernetes"),
    "namespace": ("team-a", "team-a"),
    "spark-image": ("registry/spark:1", "registry/spark:1"),
    "flink-image": ("registry/flink:1", "registry/flink:1"),
    "monitoring-namespace": ("observability", "observability"),
    "prometheus-pod-labels": (
        "app.kubernetes.io/name=prometheus, team.example.com/scraper=yes",
        {"app.kubernetes.io/name": "prometheus", "team.example.com/scraper": "yes"},
    ),
    "leader-election": ("yes", True),
    "lease-name": ("team-a-autoscaler", "team-a-autoscaler"),
    "lease-duration": ("30", 30.0),
    "shard": ("1/3", Shard(1, 3)),
    "log-level": ("debug", "DEBUG"),
}
DEFAULTS = {
    "state_dir": default_state_dir(),
    "file_sd_dir": None,
    "prometheus_url": "http://127.0.0.1:9090",
    "interval": 2.0,
    "listen": "127.0.0.1:9310",
    "budget_cores": None,
    "dry_run": False,
    "backend": "local",
    "namespace": "default",
    "spark_image": "hubscale/spark:4.3.0",
    "flink_image": "hubscale/flink:2.3.0",
    "monitoring_namespace": "monitoring",
    "prometheus_pod_labels": {"app.kubernetes.io/name": "prometheus"},
    "leader_election": False,
    "lease_name": "hubscale-autoscaler",
    "lease_duration": 15.0,
    "shard": None,
    "log_level": "INFO",
}


def argument(flag, text: str) -> list[str]:
    if flag.name in ("leader-election", "dry-run"):
        return [f"--{flag.name}" if text == "yes" else f"--no-{flag.name}"]
    return [f"--{flag.name}={text}"]


def test_every_option_is_in_the_table_once():
    assert [flag.name for flag in FLAGS] == list(GIVEN)
    assert sorted(flag.dest for flag in FLAGS) == sorted(DEFAULTS)
    variables = [variable for flag in FLAGS for variable in flag.env]
    assert len(variables) == len(set(variables))


def test_with_nothing_set_every_option_has_its_default():
    assert vars(parse_args([], env={})) == DEFAULTS


@pytest.mark.parametrize("flag", FLAGS, ids=lambda flag: flag.name)
def test_the_environment_variable_reaches_the_config(flag):
    text, value = GIVEN[flag.name]
    args = parse_args([], env={flag.env[0]: text})
    assert getattr(args, flag.dest) == value
    assert {k: v for k, v in vars(args).items() if k != flag.dest} == {
        k: v for k, v in DEFAULTS.items() if k != flag.dest
    }


@pytest.mark.parametrize("flag", FLAGS, ids=lambda flag: flag.name)
def test_the_flag_reaches_the_config_and_wins_over_the_variable(flag):
    text, value = GIVEN[flag.name]
    args = parse_args(argument(flag, text), env={flag.env[0]: "not-read-at-all"})
    assert getattr(args, flag.dest) == value


def test_the_namespace_falls_back_to_the_pods_own():
    assert parse_args([], env={"POD_NAMESPACE": "ns"}).namespace == "ns"
    both = {"HUBSCALE_NAMESPACE": "mine", "POD_NAMESPACE": "ns"}
    assert parse_args([], env=both).namespace == "mine"
    assert parse_args([], env={**both, "HUBSCALE_NAMESPACE": " "}).namespace == "ns"


def test_a_budget_of_zero_cores_means_no_budget_either_way():
    assert parse_args([], env={"HUBSCALE_BUDGET_CORES": "0"}).budget_cores is None
    assert parse_args(["--budget-cores=0"], env={"HUBSCALE_BUDGET_CORES": "8"}).budget_cores is None


def test_leader_election_can_be_switched_off_by_flag_or_variable():
    on = {"HUBSCALE_LEADER_ELECTION": "true"}
    assert parse_args(["--no-leader-election"], env=on).leader_election is False
    assert parse_args([], env={"HUBSCALE_LEADER_ELECTION": "0"}).leader_election is False


PAIRS = "must be KEY=VALUE pairs, separated by commas, each key once"
LABELS = "must be valid Kubernetes label keys and values"
BAD = [
    ("HUBSCALE_INTERVAL_S", "soon", "must be a number of seconds above 0"),
    ("HUBSCALE_INTERVAL_S", "0", "must be a number of seconds above 0"),
    ("HUBSCALE_LEASE_DURATION_S", "-15", "must be a number of seconds above 0"),
    ("HUBSCALE_BUDGET_CORES", "-1", "must be a whole number of cores, 0 for no limit"),
    ("HUBSCALE_BACKEND", "nomad", "must be one of kubernetes, local"),
    ("HUBSCALE_CONTROLLER_LISTEN", "9310", "must be HOST:PORT, the port 1..65535"),
    ("HUBSCALE_LEADER_ELECTION", "maybe", "must be 1, true, yes or on; or 0, false, no or off"),
    ("HUBSCALE_LOG_LEVEL", "LOUD", "must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
    ("HUBSCALE_PROMETHEUS_POD_LABELS", "prometheus", PAIRS),
    ("HUBSCALE_PROMETHEUS_POD_LABELS", "a=1,a=2", PAIRS),
    ("HUBSCALE_PROMETHEUS_POD_LABELS", "app=prom etheus", LABELS),
    ("HUBSCALE_PROMETHEUS_POD_LABELS", "Example.com/app=x", LABELS),
    ("HUBSCALE_PROMETHEUS_POD_LABELS", "=x", LABELS),
    ("HUBSCALE_SHARD", "2/2", "needs 0 <= I < N, got 2/2"),
    ("HUBSCALE_SHARD", "half", "must be I/N with whole numbers, e.g. 0/2"),
]


@pytest.mark.parametrize(("variable", "text", "why"), BAD)
def test_a_bad_variable_is_an_error_naming_it(capsys, variable, text, why):
    with pytest.raises(SystemExit) as exited:
        parse_args([], env={variable: text})
    assert exited.value.code == 2
    assert f"error: {variable}={text!r}: {why}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("variable", "text", "why"), [b for b in BAD if b[0] != "HUBSCALE_LEADER_ELECTION"]
)
def test_a_bad_flag_is_an_error_naming_it(capsys, variable, text, why):
    flag = next(flag for flag in FLAGS if variable in flag.env)
    with pytest.raises(SystemExit) as exited:
        parse_args([f"--{flag.name}={text}"], env={})
    assert exited.value.code == 2
    assert f"error: argument --{flag.name}: {text!r}: {why}" in capsys.readouterr().err


def test_help_names_every_variable():
    text = " ".join(parser().format_help().split())
    for flag in FLAGS:
        assert f"(env {' or '.join(flag.env)}" in text
