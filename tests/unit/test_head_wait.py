"""The kernels' wait for their cluster's head (spawner.head_wait), against real sockets."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from spawner.head_wait import HeadNotReady, head_address, wait_for_head


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
