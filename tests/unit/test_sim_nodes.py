"""The simulator's node pool: bin-packing, cluster-autoscaler timing, node-hours per run."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.sim.engine import SimConfig, oracle, simulate
from autoscaler.sim.nodes import NodePool, NodePoolSettings
from autoscaler.sim.trace import SparkJob, Stage
from tests.builders import FixedPolicy

KUBE_NODES = NodePoolSettings(node_cores=4, provision_s=210.0, image_pull_s=45.0)


def test_workers_fill_the_fullest_node_before_a_new_one_is_added():
    pool = NodePool(NodePoolSettings(node_cores=4))
    placed = [pool.place(1, 0.0)[0] for _ in range(4)]
    assert len({node.name for node in placed}) == 1 and pool.added == 1
    fifth, _ = pool.place(1, 0.0)
    assert fifth is not placed[0] and pool.added == 2
    pool.free(placed[0], 1, 5.0)  # room on the first node again: the next worker goes there
    assert pool.place(1, 6.0)[0] is placed[0] and pool.added == 2


def test_a_worker_needing_a_new_node_waits_for_scan_provisioning_and_image_pull():
    pool = NodePool(KUBE_NODES)
    node, start = pool.place(1, 3.0)
    # Seen at the autoscaler's next scan (10 s), provisioned 210 s later, image pulled in 45 s.
    assert node.ready_at == 220.0 and start == 265.0
    assert pool.place(1, 100.0) == (node, 265.0)  # the next waits for the same node and pull
    assert pool.place(1, 300.0) == (node, 300.0)  # once pulled, a worker starts at once


def test_an_empty_node_goes_after_scale_down_unneeded_time_at_a_scan():
    pool = NodePool(NodePoolSettings(node_cores=4, scale_down_delay_after_add_s=0.0))
    node, _ = pool.place(1, 0.0)
    pool.free(node, 1, 95.0)
    assert pool.removal_at(node) == 700.0  # 95 + 600, at the next 10 s scan
    pool.finish(2000.0)
    assert pool.held_node_s == 700.0


def test_no_node_goes_within_scale_down_delay_after_add():
    pool = NodePool(NodePoolSettings(node_cores=1))
    first, _ = pool.place(1, 0.0)
    pool.place(1, 590.0)  # first is full: a second node, a scale-up at 590
    pool.free(first, 1, 5.0)  # unneeded from 5: due at 605, inside 590's 10 min window
    assert pool.removal_at(first) == 1190.0


def test_an_empty_node_is_reused_instead_of_adding_one():
    pool = NodePool(KUBE_NODES)
    node, _ = pool.place(1, 0.0)
    pool.free(node, 1, 300.0)
    again, start = pool.place(1, 400.0)  # still there (removal due at 900): no provisioning
    assert again is node and start == 400.0 and pool.added == 1


def test_a_worker_larger_than_a_node_is_a_clear_error():
    with pytest.raises(ValueError, match="fits no node of 4"):
        NodePool(NodePoolSettings(node_cores=4)).place(5, 0.0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0, 5000), st.floats(1, 3000), st.integers(1, 4)),
        min_size=1,
        max_size=40,
    ),
    st.integers(4, 16),
)
def test_nodes_hold_at_least_the_cores_their_workers_hold(workers, node_cores):
    """Whatever the arrivals: no node over-full, and node-seconds x cores per node cover the
    workers' core-seconds (a worker holds a node's cores from placement to its release)."""
    pool = NodePool(NodePoolSettings(node_cores=node_cores))
    events = []  # (time, kind, index): places before frees at the same time
    for index, (at, length, _) in enumerate(workers):
        events += [(at, 0, index), (at + length, 1, index)]
    placed = {}
    for at, kind, index in sorted(events):
        cores = workers[index][2]
        if kind == 0:
            placed[index] = pool.place(cores, at)[0]
            assert all(node.used <= node_cores for node in pool.nodes)
        else:
            pool.free(placed[index], cores, at)
    end = max(at + length for at, length, _ in workers)
    pool.finish(end)
    worker_core_s = sum(length * cores for _, length, cores in workers)
    assert pool.held_node_s * node_cores >= worker_core_s - 1e-6


def test_a_run_reports_node_hours_and_the_oracle_packs_its_cores_exactly():
    events = [SparkJob(0.0, "alice", "j1", (Stage(4, 100.0),))]
    config = SimConfig(worker_start_s=10.0, node_cores=4)
    run = simulate(FixedPolicy(4), events, config)
    # One node from 0 (4 workers fit) held until the end of the run at 110 s.
    assert run.held_node_s == pytest.approx(110.0) and run.nodes_added == 1
    best = oracle(events, config, simulate(FixedPolicy(4, name="static"), events, config))
    assert best.held_node_s == pytest.approx(400.0 / 4)
