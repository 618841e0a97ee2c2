"""Flink configuration for a user's session cluster: loopback-only, elastic and scrapeable."""

from __future__ import annotations

from pathlib import PurePath

import pytest
import yaml

from hubscale.flink_conf import (
    PROMETHEUS_REPORTER_FACTORY,
    FlinkClusterPorts,
    dynamic_properties,
    flink_client_config,
    flink_config,
    lookup,
    render_config,
    rest_keystore,
    rest_tls_config,
    rest_url,
    shipped_java_opts,
)

PORTS = FlinkClusterPorts(
    jobmanager_rpc=6123, rest=8081, blob=6124, metrics_first=9250, metrics_last=9258
)
JAVA_OPTS = "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED --add-opens=java.base/java.lang=A"


def config(**overrides) -> dict[str, str]:
    arguments = {
        "ports": PORTS,
        "directory": "/srv/c1",
        "python": "/opt/flink-venv/bin/python",
        "java_opts": JAVA_OPTS,
        "slots_per_taskmanager": 2,
        "taskmanager_memory_mib": 2048,
    }
    return flink_config(**{**arguments, **overrides})


def test_every_listener_and_advertised_address_is_loopback():
    conf = config()
    for key in (
        "jobmanager.rpc.address",
        "jobmanager.bind-host",
        "taskmanager.bind-host",
        "taskmanager.host",
        "rest.address",
        "rest.bind-address",
    ):
        assert conf[key] == "127.0.0.1", key
    assert conf["jobmanager.rpc.port"] == "6123"
    assert conf["rest.port"] == "8081"
    assert conf["blob.server.port"] == "6124"
    assert rest_url(PORTS) == "https://127.0.0.1:8081"


def test_jobs_rescale_with_the_adaptive_scheduler_and_restart_after_losing_a_taskmanager():
    conf = config(restart_attempts=7, restart_delay_s=4, rescale_cooldown_s=12)
    assert conf["jobmanager.scheduler"] == "adaptive"
    cooldown = "jobmanager.adaptive-scheduler.executing.cooldown-after-rescaling"
    assert conf[cooldown] == "12 s"
    assert config()[cooldown] == "30 s"
    assert conf["restart-strategy.type"] == "fixed-delay"
    assert conf["restart-strategy.fixed-delay.attempts"] == "7"
    assert conf["restart-strategy.fixed-delay.delay"] == "4 s"


def test_a_taskmanager_has_one_slot_per_core_and_the_workers_memory():
    conf = config(slots_per_taskmanager=3, taskmanager_memory_mib=4096)
    assert conf["taskmanager.numberOfTaskSlots"] == "3"
    assert conf["taskmanager.memory.process.size"] == "4096m"
    assert conf["jobmanager.memory.process.size"] == "768m"


def test_unworkable_sizes_and_paths_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="below the 1024 MiB"):
        config(taskmanager_memory_mib=512)
    with pytest.raises(ValueError, match="at least 1"):
        config(slots_per_taskmanager=0)
    with pytest.raises(ValueError, match="split paths on spaces"):
        config(directory="/srv/my clusters/c1")


def test_the_jobmanager_reporter_has_its_own_port_and_taskmanagers_share_the_rest_of_the_range():
    conf = config()
    assert conf["metrics.reporter.prom.factory.class"] == PROMETHEUS_REPORTER_FACTORY
    assert conf["metrics.reporter.prom.port"] == "9251-9258"
    assert PORTS.jobmanager_metrics == 9250
    with pytest.raises(ValueError, match="at least one for TaskManagers"):
        FlinkClusterPorts(6123, 8081, 6124, metrics_first=9250, metrics_last=9250)


def test_files_stay_in_the_cluster_directory_and_python_is_the_flink_environments():
    conf = config()
    assert conf["env.log.dir"] == "/srv/c1/logs"
    assert conf["env.pid.dir"] == "/srv/c1/run"
    assert conf["io.tmp.dirs"] == "/srv/c1/tmp"
    assert conf["web.tmpdir"] == "/srv/c1/web"
    assert conf["python.executable"] == "/opt/flink-venv/bin/python"
    assert conf["python.client.executable"] == "/opt/flink-venv/bin/python"


def test_the_distributions_java_17_options_are_kept():
    opts = config()["env.java.opts.all"]
    assert opts.startswith(JAVA_OPTS + " ")
    assert opts.endswith("-Djava.io.tmpdir=/srv/c1/tmp")


def test_java_options_are_read_from_nested_or_flat_shipped_config():
    nested = yaml.safe_load("env:\n  java:\n    opts:\n      all: --add-opens=x\n")
    assert shipped_java_opts(nested) == "--add-opens=x"
    assert shipped_java_opts({"env.java.opts.all": "--flat"}) == "--flat"
    assert shipped_java_opts({"env": {"java.opts": {"all": "--mixed"}}}) == "--mixed"
    assert shipped_java_opts({"env": {"log": {"dir": "/x"}}}) == ""
    assert lookup({"a": {"b": 1}}, "a.b.c") is None


def test_rendered_config_reads_back_as_the_same_flat_yaml():
    conf = config()
    conf["pipeline.name"] = 'odd: "quotes" # not a comment, ünïcode, yes, 0x10, ~'
    text = render_config(conf)
    assert yaml.safe_load(text) == conf
    assert text.splitlines()[0].startswith("blob.server.port: ")  # sorted, one key per line


def test_rendering_refuses_values_that_would_inject_lines_or_bad_keys():
    with pytest.raises(ValueError, match="newline"):
        render_config({"rest.address": "127.0.0.1\nrest.bind-address: 0.0.0.0"})
    with pytest.raises(ValueError, match="not a Flink config key"):
        render_config({"rest address": "x"})


def test_dynamic_properties_are_separate_words_as_the_start_scripts_expect():
    assert dynamic_properties({"taskmanager.resource-id": "tm-1"}) == [
        "-D",
        "taskmanager.resource-id=tm-1",
    ]


A_CLUSTERS_CONFIG = {
    "rest.address": "127.0.0.1",
    "rest.port": "38081",
    "rest.bind-address": "127.0.0.1",
    "jobmanager.memory.process.size": "768m",
    "python.executable": "/venvs/flink/bin/python",
    "python.client.executable": "/venvs/flink/bin/python",
    "parallelism.default": "1",
    "env.java.opts.all": "--add-opens=java.base/java.util=ALL-UNNAMED "
    "-Djava.io.tmpdir=/clusters/alice-flink/tmp",
}


def test_the_flink_client_targets_the_users_remote_session_cluster():
    config = flink_client_config(A_CLUSTERS_CONFIG, PurePath("/clients/alice-flink"))
    assert config == {
        "rest.address": "127.0.0.1",
        "rest.port": "38081",
        "python.executable": "/venvs/flink/bin/python",
        "python.client.executable": "/venvs/flink/bin/python",
        "parallelism.default": "1",
        "execution.target": "remote",
        "env.log.dir": "/clients/alice-flink/logs",
        "io.tmp.dirs": "/clients/alice-flink/tmp",
        "env.java.opts.all": "--add-opens=java.base/java.util=ALL-UNNAMED "
        "-Djava.io.tmpdir=/clients/alice-flink/tmp",
    }


def test_the_rest_api_asks_every_client_for_the_clusters_certificate():
    tls = rest_tls_config("/srv/c1/tls/rest.p12", "pw")
    assert tls["security.ssl.rest.enabled"] == "true"
    assert tls["security.ssl.rest.authentication-enabled"] == "true"  # mutual: clients too
    # One file: the cluster's own certificate is the only one either side trusts.
    assert tls["security.ssl.rest.keystore"] == tls["security.ssl.rest.truststore"]
    assert tls["security.ssl.rest.keystore-type"] == tls["security.ssl.rest.truststore-type"]
    assert tls["security.ssl.protocol"] == "TLSv1.3"
    assert rest_keystore({**A_CLUSTERS_CONFIG, **tls}) == "/srv/c1/tls/rest.p12"
    assert rest_keystore(A_CLUSTERS_CONFIG) is None


def test_the_flink_client_presents_the_clusters_credential_from_its_own_keystore_copy():
    cluster = {**A_CLUSTERS_CONFIG, **rest_tls_config("/clusters/alice-flink/tls/rest.p12", "pw")}
    config = flink_client_config(cluster, PurePath("/clients/alice-flink"))
    copy = "/clients/alice-flink/conf/rest.p12"
    assert config["security.ssl.rest.keystore"] == config["security.ssl.rest.truststore"] == copy
    tls = {key: value for key, value in config.items() if key.startswith("security.ssl.")}
    expected = rest_tls_config(copy, "pw")
    assert tls == expected
    nested = yaml.safe_load("security:\n  ssl:\n    rest:\n      enabled: true\n")
    client = flink_client_config({**A_CLUSTERS_CONFIG, **nested}, PurePath("/c"))
    assert client["security.ssl.rest.enabled"] == "true"  # Flink's spelling, not Python's


def test_the_flink_client_reads_nested_yaml_keys_too():
    nested = yaml.safe_load("rest:\n  address: 127.0.0.1\n  port: 38081\n")
    config = flink_client_config(nested, PurePath("/c"))
    assert (config["rest.address"], config["rest.port"]) == ("127.0.0.1", "38081")
    assert config["env.java.opts.all"] == "-Djava.io.tmpdir=/c/tmp"


def test_a_cluster_config_without_its_rest_port_is_refused_by_name():
    with pytest.raises(ValueError, match=r"rest\.port"):
        flink_client_config({"rest.address": "127.0.0.1"}, PurePath("/c"))
