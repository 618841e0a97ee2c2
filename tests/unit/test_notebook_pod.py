"""The notebook pod's additions on Kubernetes: labels, mounts, environment, the Flink client."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

import yaml

from hubscale.names import user_label
from hubscale.spec import parse_cluster
from spawner.notebook_pod import (
    FLINK_CLIENT_SCRIPT,
    client_env,
    flink_client_files,
    flink_client_init_container,
    pod_labels,
    volume_mounts,
    volumes,
)

FLINK = parse_cluster(
    {
        "apiVersion": "hubscale.io/v1alpha1",
        "kind": "ComputeCluster",
        "metadata": {"name": "alice-flink-12345678"},
        "spec": {"owner": "alice", "engine": "flink", "maxWorkers": 2},
    }
)


def test_the_pod_is_labelled_for_the_policies_and_the_drivers_monitor():
    assert pod_labels("Alice Smith", "alice-spark-1") == {
        "hubscale.io/user": user_label("Alice Smith"),  # as the clusters' NetworkPolicy selects
        "hubscale.io/role": "notebook",
        "hubscale.io/spark-cluster": "alice-spark-1",
    }


def test_the_spark_secret_is_mounted_read_only_where_its_config_points():
    assert volumes("alice-spark-1")["hubscale-spark-conf"] == {
        "name": "hubscale-spark-conf",
        "secret": {"secretName": "alice-spark-1-config", "optional": False},
    }
    assert volume_mounts()["hubscale-spark-conf"] == {
        "name": "hubscale-spark-conf",
        "mountPath": "/etc/hubscale",
        "readOnly": True,
    }


def test_the_environment_points_at_the_users_own_clusters():
    assert client_env("alice-spark-1", "alice-flink-1", "hub") == {
        "SPARK_CONF_DIR": "/etc/hubscale",
        "SPARK_MASTER": "spark://alice-spark-1-master.hub.svc:7077",
        "SPARK_LOCAL_IP": {"valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        "FLINK_CONF_DIR": "/var/lib/hubscale/flink/conf",
        "FLINK_LOG_DIR": "/var/lib/hubscale/flink/logs",
        "FLINK_REST_URL": "http://alice-flink-1-jobmanager.hub.svc:8081",
        "SUBMIT_ARGS": "remote",
    }


def test_the_flink_client_config_reaches_the_clusters_service_and_keeps_files_in_its_dir():
    config = yaml.safe_load(flink_client_files(FLINK, "hub")["config.yaml"])
    assert config["rest.address"] == "alice-flink-12345678-jobmanager.hub.svc"
    assert config["rest.port"] == "8081"
    assert config["execution.target"] == "remote"
    assert config["io.tmp.dirs"] == "/var/lib/hubscale/flink/tmp"
    assert "--add-opens=java.base/java.lang=ALL-UNNAMED" in config["env.java.opts.all"]
    # The client side of PyFlink runs with the kernel's own environment in the image.
    assert config["python.client.executable"] == "/opt/flink-venv/bin/python"
    assert config["python.executable"] == "python3"  # the TaskManagers' (Flink image) Python


def test_the_init_container_writes_the_client_dir(tmp_path):
    shipped = tmp_path / "dist"
    shipped.mkdir()
    (shipped / "log4j-cli.properties").write_text("rootLogger.level = INFO\n")
    files = {"config.yaml": 'rest.port: "8081"\n'}
    container = flink_client_init_container("hubscale/singleuser:test", files)
    env = {e["name"]: e["value"] for e in container["env"]}
    assert json.loads(base64.b64decode(env["HUBSCALE_CLIENT_FILES"])) == files
    assert "{" not in FLINK_CLIENT_SCRIPT  # KubeSpawner formats init containers' strings
    env |= {
        "HUBSCALE_CLIENT_DIR": str(tmp_path / "client"),
        "HUBSCALE_LOG4J_GLOB": str(shipped / "log4j*"),
    }
    subprocess.run(
        [sys.executable, "-c", FLINK_CLIENT_SCRIPT], env={**os.environ, **env}, check=True
    )
    conf = tmp_path / "client" / "conf"
    assert (conf / "config.yaml").read_text() == files["config.yaml"]
    assert (conf / "log4j-cli.properties").exists()
    assert (tmp_path / "client" / "tmp").is_dir() and (tmp_path / "client" / "logs").is_dir()
