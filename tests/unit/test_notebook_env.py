"""The notebook server's environment: Spark and Flink client settings from client descriptions."""

from __future__ import annotations

from pathlib import PurePath

import pytest
from jupyter_server.serverapp import ServerApp

from spawner.notebook_env import ClientError, flink_env, server_args, spark_env


def test_pyflink_runs_its_gateway_against_the_cluster_in_the_client_conf():
    env = flink_env({"rest_url": "http://127.0.0.1:38081"}, PurePath("/clients/x"))
    assert env == {
        "FLINK_CONF_DIR": "/clients/x/conf",
        "FLINK_LOG_DIR": "/clients/x/logs",
        "FLINK_REST_URL": "http://127.0.0.1:38081",
        "SUBMIT_ARGS": "remote",
    }


def test_spark_reads_master_and_secret_from_the_clusters_conf_dir():
    client = {"master_url": "spark://127.0.0.1:7077", "conf_dir": "/clusters/a/conf"}
    assert spark_env(client) == {
        "SPARK_CONF_DIR": "/clusters/a/conf",
        "SPARK_MASTER": "spark://127.0.0.1:7077",
    }
    with pytest.raises(ClientError, match="master_url"):
        spark_env({"conf_dir": "/c"})


def test_the_server_is_told_where_the_spark_master_ui_is_to_forward_it():
    client = {"master_url": "spark://h:7077", "master_ui": "http://h:8080", "conf_dir": "/c"}
    assert spark_env(client)["SPARK_MASTER_UI"] == "http://h:8080"


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


def test_the_server_forwards_only_its_cluster_uis_not_any_port():
    """jupyter-server-proxy's own extension (``/proxy/<port>/``: any port) is off."""
    app = ServerApp()
    app.parse_command_line(server_args())
    assert app.jpserver_extensions.get("hubscale_lab.server") is True
    assert app.jpserver_extensions.get("jupyter_server_proxy") is False


def test_servers_with_heads_on_demand_also_load_the_activity_extension_beside_the_review_page():
    app = ServerApp()
    app.parse_command_line(server_args(activity=True))
    assert app.jpserver_extensions.get("hubscale_nb.server") is True
    assert app.jpserver_extensions.get("hubscale_nb.activity") is True
    always = ServerApp()  # heads from the spawn on: no activity page asked for
    always.parse_command_line(server_args())
    assert "hubscale_nb.activity" not in always.jpserver_extensions
