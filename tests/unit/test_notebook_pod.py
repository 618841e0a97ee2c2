"""The notebook pod's additions on Kubernetes: labels, mounts, environment, the Flink client."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from hubscale.kube_conf import FLINK_CLIENT_DIR, ClusterSettings, config_files
from hubscale.names import user_label
from spawner.notebook_pod import (
    FLINK_CLIENT_SCRIPT,
    FLINK_CONF_VOLUME,
    cluster_env,
    flink_client_init_container,
    pod_labels,
    volume_mounts,
    volumes,
)
from tests.builders import cluster, rest_tls

FLINK = cluster("alice-flink-12345678", "flink", maxWorkers=2)


def test_the_pod_is_labelled_for_the_policies_and_the_drivers_monitor():
    """Each cluster's NetworkPolicy admits the notebook pod labelled with its name; the user
    label is for people and dashboards."""
    clusters = {"spark": "alice-spark-1", "flink": "alice-flink-1"}
    assert pod_labels("Alice Smith", clusters) == {
        "hubscale.io/user": user_label("Alice Smith"),
        "hubscale.io/role": "notebook",
        "hubscale.io/spark-cluster": "alice-spark-1",
        "hubscale.io/flink-cluster": "alice-flink-1",
    }


def test_the_clusters_secrets_are_mounted_read_only_and_the_pod_waits_for_them():
    found = volumes("alice-spark-1", "alice-flink-1")
    assert found["hubscale-spark-conf"] == {
        "name": "hubscale-spark-conf",
        "secret": {"secretName": "alice-spark-1-config", "optional": False},
    }
    assert found["hubscale-flink-conf"] == {
        "name": "hubscale-flink-conf",
        "secret": {
            "secretName": "alice-flink-1-config",
            "optional": False,
            "items": [
                {"key": "client-config.yaml", "path": "config.yaml"},
                {"key": "rest.p12", "path": "rest.p12"},  # the cluster's REST credential
            ],
        },
    }
    assert volume_mounts()["hubscale-spark-conf"] == {
        "name": "hubscale-spark-conf",
        "mountPath": "/etc/hubscale",
        "readOnly": True,
    }


def test_the_environment_points_at_the_users_own_clusters():
    assert cluster_env("alice-spark-1", "alice-flink-1", "hub") == {
        "SPARK_CONF_DIR": "/etc/hubscale",
        "SPARK_MASTER": "spark://alice-spark-1-master.hub.svc:7077",
        "SPARK_MASTER_UI": "http://alice-spark-1-master.hub.svc:8080",  # the server forwards it
        "SPARK_LOCAL_IP": {"valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        "FLINK_CONF_DIR": "/var/lib/hubscale/flink/conf",
        "FLINK_LOG_DIR": "/var/lib/hubscale/flink/logs",
        "FLINK_REST_URL": "https://alice-flink-1-jobmanager.hub.svc:8081",
        "SUBMIT_ARGS": "remote",
        "HUBSCALE_SPARK_STATUS_FILE": "/etc/hubscale-status/spark/status.yaml",
        "HUBSCALE_FLINK_STATUS_FILE": "/etc/hubscale-status/flink/status.yaml",
    }


def test_each_clusters_short_status_is_mounted_whole_where_the_kernels_look():
    """Optional (the controller writes the key after creating the Secret), no subPath (the
    kubelet refreshes only whole mounts), at the path the kernels' environment names."""
    found, mounts = volumes("alice-spark-1", "alice-flink-1"), volume_mounts()
    env = cluster_env("alice-spark-1", "alice-flink-1", "hub")
    for engine in ("spark", "flink"):
        volume = found[f"hubscale-{engine}-status"]
        assert volume["secret"] == {
            "secretName": f"alice-{engine}-1-config",
            "optional": True,
            "items": [{"key": "status.yaml", "path": "status.yaml"}],
        }
        mount = mounts[volume["name"]]
        assert "subPath" not in mount and mount["readOnly"] is True
        path = env[f"HUBSCALE_{engine.upper()}_STATUS_FILE"]
        assert path == f"{mount['mountPath']}/status.yaml"


def run_init_container(container: dict, secret_files: dict[str, str | bytes], root: Path) -> Path:
    """The init container's script with its mounts under ``root``: the Flink Secret's items as
    files, the image's log4j files from a stand-in distribution. Returns the client's conf dir."""
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volume = volumes("alice-spark-1", FLINK.metadata.name)[FLINK_CONF_VOLUME]
    secret_dir = root / "secret"
    secret_dir.mkdir()
    for item in volume["secret"]["items"]:
        content = secret_files[item["key"]]
        data = content.encode() if isinstance(content, str) else content
        (secret_dir / item["path"]).write_bytes(data)
    shipped = root / "dist"
    shipped.mkdir()
    (shipped / "log4j-cli.properties").write_text("rootLogger.level = INFO\n")
    env = {e["name"]: e["value"] for e in container["env"]}
    client_dir = root / "client"
    env |= {
        "HUBSCALE_CLIENT_DIR": str(client_dir),
        "HUBSCALE_LOG4J_GLOB": str(shipped / "log4j*"),
        **{
            name: env[name].replace(mounts[FLINK_CONF_VOLUME], str(secret_dir))
            for name in ("HUBSCALE_CLIENT_CONFIG", "HUBSCALE_KEYSTORE")
        },
        "HUBSCALE_CLIENT_KEYSTORE": env["HUBSCALE_CLIENT_KEYSTORE"].replace(
            str(FLINK_CLIENT_DIR), str(client_dir)
        ),
    }
    subprocess.run(
        [sys.executable, "-c", FLINK_CLIENT_SCRIPT], env={**os.environ, **env}, check=True
    )
    return client_dir / "conf"


SETTINGS = ClusterSettings(  # a controller's, not the defaults
    "hub",
    "spark:1",
    "flink:1",
    flink_java_opts="--add-opens=java.base/java.lang=ALL-UNNAMED -Dhubscale.site=eu",
    flink_python="/opt/udf-env/bin/python3.12",
)


def test_the_flink_secret_carries_the_client_config_from_the_controllers_settings():
    files = config_files(FLINK, SETTINGS, "", rest_tls())  # what the controller writes
    config = yaml.safe_load(files["client-config.yaml"])
    assert config["python.executable"] == "/opt/udf-env/bin/python3.12"  # the TaskManagers'
    assert config["env.java.opts.all"] == (
        "--add-opens=java.base/java.lang=ALL-UNNAMED -Dhubscale.site=eu"
        " -Djava.io.tmpdir=/var/lib/hubscale/flink/tmp"
    )
    assert config["rest.address"] == "alice-flink-12345678-jobmanager.hub.svc"
    assert config["rest.port"] == "8081"
    assert config["execution.target"] == "remote"
    assert config["io.tmp.dirs"] == "/var/lib/hubscale/flink/tmp"
    # The client side of PyFlink runs with the kernel's own environment in the image.
    assert config["python.client.executable"] == "/opt/flink-venv/bin/python"


def test_the_init_container_copies_the_secrets_client_config_beside_the_images_log4j(tmp_path):
    files = config_files(FLINK, SETTINGS, "", rest_tls())
    container = flink_client_init_container("hubscale/singleuser:test")
    assert "{" not in FLINK_CLIENT_SCRIPT  # KubeSpawner formats init containers' strings

    conf = run_init_container(container, files, tmp_path)

    assert (conf / "config.yaml").read_text() == files["client-config.yaml"]
    assert (conf / "log4j-cli.properties").exists()
    assert (conf.parent / "tmp").is_dir() and (conf.parent / "logs").is_dir()
    # The cluster's REST keystore, where the client's config says, for the kernel's user only.
    assert (conf / "rest.p12").read_bytes() == rest_tls().keystore
    assert (conf / "rest.p12").stat().st_mode & 0o777 == 0o600


def test_the_notebooks_pyflink_client_presents_the_clusters_rest_credential():
    """Issue 14, finding 2: the client config in the Flink Secret, copied into the notebook pod,
    speaks mutual TLS with the keystore the init container copies into the client's conf dir."""
    config = yaml.safe_load(config_files(FLINK, SETTINGS, "", rest_tls())["client-config.yaml"])
    keystore = "/var/lib/hubscale/flink/conf/rest.p12"
    assert config["security.ssl.rest.enabled"] == "true"
    assert config["security.ssl.rest.authentication-enabled"] == "true"
    assert (
        config["security.ssl.rest.keystore"] == config["security.ssl.rest.truststore"] == keystore
    )
    assert config["security.ssl.rest.keystore-password"] == rest_tls().password
    assert config["security.ssl.rest.key-password"] == rest_tls().password
    assert config["security.ssl.rest.truststore-password"] == rest_tls().password
    env = {e["name"]: e["value"] for e in flink_client_init_container("i")["env"]}
    assert env["HUBSCALE_CLIENT_KEYSTORE"] == keystore
