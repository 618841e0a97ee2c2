"""The kernels' wait for their cluster's head (spawner.head_wait), against real sockets; in a
notebook pod, with its Service names and the short status of its cluster's Secret."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from autoscaler.controller.status import head_condition
from hubscale.kube_conf import short_status, short_status_changed
from hubscale.names import service_host
from hubscale.spec import ComputeClusterStatus
from spawner.head_wait import (
    STATUS_VARIABLES,
    HeadNotReady,
    _status_reason,
    answers,
    head_address,
    wait_for_head,
)
from spawner.notebook_pod import cluster_env

NOW = 1_700_000_000.0


def test_head_addresses_come_from_the_engines_urls():
    assert head_address("spark://127.0.0.1:7077") == ("127.0.0.1", 7077)
    assert head_address("https://127.0.0.1:8081") == ("127.0.0.1", 8081)
    assert head_address("spark://127.0.0.1") is None
    assert head_address("spark://127.0.0.1:notaport") is None
    assert head_address("") is None


def test_the_wait_says_so_once_and_returns_when_the_head_answers():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    address = probe.getsockname()
    said: list[str] = []

    def head_starts() -> None:
        time.sleep(0.6)
        probe.listen()

    threading.Thread(target=head_starts, daemon=True).start()
    try:
        wait_for_head("spark", address, 10.0, said.append)
    finally:
        probe.close()
    assert said[0].startswith("hubscale: waiting for your Spark master to start")
    assert said[1].startswith("hubscale: your Spark master is up after")


def test_a_head_that_answers_is_not_waited_for():
    with socket.create_server(("127.0.0.1", 0)) as head:
        said: list[str] = []
        wait_for_head("flink", head.getsockname(), 1.0, said.append)
    assert said == []


def test_a_head_that_never_comes_fails_with_the_clusters_reason():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        address = unused.getsockname()  # bound, never listening: refused
        with pytest.raises(
            HeadNotReady, match=r"JobManager did not start within 0\.5 s: no kernel"
        ):
            wait_for_head("flink", address, 0.5, lambda _: None, lambda: "no kernel")


def test_in_a_notebook_pod_the_kernels_wait_for_their_heads_service(monkeypatch, tmp_path):
    """Kubernetes: the pod's environment names each head by its Service (which stays while the
    head is stopped), and a wait that times out gives the HeadRunning message from the short
    status the controller writes into the cluster's Secret (mounted where the pod's env says)."""
    env = cluster_env("alice-spark", "alice-flink", "hub")
    spark = service_host("alice-spark", "spark", "hub")
    flink = service_host("alice-flink", "flink", "hub")
    assert head_address(env["SPARK_MASTER"]) == (spark, 7077)
    assert head_address(env["FLINK_REST_URL"]) == (flink, 8081)
    assert not answers((spark, 7077), timeout_s=0.5)  # a name that does not resolve: not up

    stopped = ComputeClusterStatus(desired=0, phase="Idle", reason="idle")
    message = "Spark master stopped: no Spark kernel, no workers; starts with one"
    stopped = head_condition(stopped, False, message, NOW)
    mounted = tmp_path / "status.yaml"  # the Secret's STATUS_FILE, as the kubelet writes it
    mounted.write_text(short_status(stopped))
    monkeypatch.setenv(STATUS_VARIABLES["spark"], str(mounted))
    assert STATUS_VARIABLES["spark"] in env
    assert _status_reason("spark") == message
    started = head_condition(stopped, True, "Spark master runs: 1 Spark kernels are open", NOW)
    assert short_status_changed(stopped, started)  # the head's state moved: a Secret write
    again = head_condition(started, True, "Spark master runs: 2 Spark kernels are open", NOW)
    assert not short_status_changed(started, again)  # its message alone: no write
