"""The notebook server's environment: Spark and Flink client settings from client descriptions."""

from __future__ import annotations

from pathlib import PurePath

import pytest
import yaml
from jupyter_server.serverapp import ServerApp

from spawner.notebook_env import (
    ClientError,
    flink_client_config,
    flink_env,
    server_args,
    spark_env,
)

CLUSTER_CONFIG = {
    "rest.address": "127.0.0.1",
    "rest.port": "38081",
    "rest.bind-address": "127.0.0.1",
    "jobmanager.memory.process.size": "768m",
    "python.executable": "/venvs/flink/bin/python",
    "python.client.executable": "/venvs/flink/bin/python",
    "parallelism.default": "1",
    "env.java.opts.all": "--add-opens=java.base/java.util=ALL-UNNAMED "
    "-Djava.io.tmpdir=/state/runtime/alice-flink/tmp",
}


def test_the_flink_client_targets_the_users_remote_session_cluster():
    config = flink_client_config(CLUSTER_CONFIG, PurePath("/state/servers/alice-flink"))
    assert config == {
        "rest.address": "127.0.0.1",
        "rest.port": "38081",
        "python.executable": "/venvs/flink/bin/python",
        "python.client.executable": "/venvs/flink/bin/python",
        "parallelism.default": "1",
        "execution.target": "remote",
        "env.log.dir": "/state/servers/alice-flink/logs",
        "io.tmp.dirs": "/state/servers/alice-flink/tmp",
        "env.java.opts.all": "--add-opens=java.base/java.util=ALL-UNNAMED "
        "-Djava.io.tmpdir=/state/servers/alice-flink/tmp",
    }


def test_the_flink_client_reads_nested_yaml_keys_too():
    nested = yaml.safe_load("rest:\n  address: 127.0.0.1\n  port: 38081\n")
    config = flink_client_config(nested, PurePath("/c"))
    assert (config["rest.address"], config["rest.port"]) == ("127.0.0.1", "38081")
    assert config["env.java.opts.all"] == "-Djava.io.tmpdir=/c/tmp"


def test_a_cluster_config_without_its_rest_port_is_refused_by_name():
    with pytest.raises(ClientError, match=r"rest\.port"):
        flink_client_config({"rest.address": "127.0.0.1"}, PurePath("/c"))


def test_pyflink_runs_its_gateway_against_the_cluster_in_the_client_conf():
    env = flink_env({"rest_url": "http://127.0.0.1:38081"}, PurePath("/state/servers/x"))
    assert env == {
        "FLINK_CONF_DIR": "/state/servers/x/conf",
        "FLINK_LOG_DIR": "/state/servers/x/logs",
        "FLINK_REST_URL": "http://127.0.0.1:38081",
        "SUBMIT_ARGS": "remote",
    }


def test_spark_reads_master_and_secret_from_the_clusters_conf_dir():
    client = {"master_url": "spark://127.0.0.1:7077", "conf_dir": "/state/runtime/a/conf"}
    assert spark_env(client) == {
        "SPARK_CONF_DIR": "/state/runtime/a/conf",
        "SPARK_MASTER": "spark://127.0.0.1:7077",
    }
    with pytest.raises(ClientError, match="master_url"):
        spark_env({"conf_dir": "/c"})


def test_the_server_offers_only_the_engine_kernels_spark_first():
    app = ServerApp()
    app.parse_command_line(server_args())
    assert app.config.KernelSpecManager.allowed_kernelspecs == {"spark", "flink"}
    assert app.config.KernelSpecManager.ensure_native_kernel is False
    assert app.config.MappingKernelManager.default_kernel_name == "spark"


def test_the_server_loads_the_review_page_extension():
    app = ServerApp()
    app.parse_command_line(server_args())
    assert app.jpserver_extensions.get("hubscale_nb.server") is True
