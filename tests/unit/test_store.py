"""The local state store: round trips, file modes, atomic writes, bad files, status helpers."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from autoscaler.controller.status import state_from_status, status_after
from autoscaler.policy.decision import ClusterState, Decision
from hubscale.spec import ClusterConflict, ComputeClusterStatus
from hubscale.state_dir import clusters_dir
from hubscale.store import LOCK_FILE, LocalClusterStore
from tests.builders import cluster

T0 = 1_714_564_800.0  # 2024-05-01T12:00:00Z


def cluster_yaml(name: str) -> str:
    return (
        "apiVersion: hubscale.io/v1alpha1\n"
        "kind: ComputeCluster\n"
        f"metadata: {{name: {name}}}\n"
        "spec: {owner: bob, engine: spark, maxWorkers: 8}\n"
    )


def decision(target: int, memo: dict[str, Any] | None = None) -> Decision:
    return Decision(target, f"want {target}", "backlog", memo=memo or {})


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def store(tmp_path: Path) -> LocalClusterStore:
    return LocalClusterStore(tmp_path / "state")


def test_applied_cluster_comes_back_from_list_and_get(store: LocalClusterStore):
    applied = store.apply(cluster(maxWorkers=4, worker={"cores": 2, "memory": "4Gi"}))

    (listed,) = store.list()
    assert listed.name == "alice-spark"
    assert listed.cluster == applied
    assert listed.error is None
    assert listed.status is None
    assert store.get("alice-spark") == listed
    assert applied.spec.max_workers == 4


def test_list_is_sorted_by_name(store: LocalClusterStore):
    for name in ("carol-flink", "alice-spark", "bob-spark"):
        store.apply(cluster(name))
    assert [item.name for item in store.list()] == ["alice-spark", "bob-spark", "carol-flink"]


def test_apply_replaces_the_document(store: LocalClusterStore):
    store.apply(cluster(maxWorkers=4))
    store.apply(cluster(maxWorkers=2))
    stored = store.get("alice-spark")
    assert stored is not None and stored.cluster is not None
    assert stored.cluster.spec.max_workers == 2


def test_list_reads_again_only_the_files_that_changed(store: LocalClusterStore):
    """Issue 17: the controller lists every loop; steady objects are not parsed again."""
    store.settled_ns = 0  # every file counts as settled at once (the default waits 2 s)
    for name in ("a-spark", "b-spark", "c-spark"):
        store.apply(cluster(name))
    first = store.list()
    assert all(again is before for again, before in zip(store.list(), first, strict=True))

    store.write_status("a-spark", ComputeClusterStatus(workers=2, desired=2, phase="Ready"))
    store.apply(cluster("b-spark", maxWorkers=3))
    store.delete("c-spark")
    a, b = store.list()
    assert a.status is not None and a.status.workers == 2
    assert a.cluster is first[0].cluster  # its document was not read again
    assert b.cluster is not None and b.cluster.spec.max_workers == 3


def test_a_file_changed_within_the_last_two_seconds_is_read_again(store: LocalClusterStore):
    """Two writes of the same size within the clock's granularity may share a signature."""
    store.apply(cluster())
    (first,) = store.list()
    (again,) = store.list()
    assert again is not first and again == first


def test_get_of_an_unknown_name_is_none(store: LocalClusterStore):
    assert store.get("nobody-spark") is None


def test_a_name_that_is_not_a_file_name_is_refused(store: LocalClusterStore):
    with pytest.raises(ValueError, match="not a ComputeCluster name"):
        store.get("../escape")


def test_apply_leaves_status_to_the_controller(store: LocalClusterStore):
    store.apply(cluster())
    store.write_status("alice-spark", ComputeClusterStatus(workers=3, desired=3, phase="Ready"))
    with_status = cluster().model_copy(update={"status": ComputeClusterStatus(workers=9)})

    applied = store.apply(with_status)

    assert applied.status is None
    assert "status" not in (store.directory / "alice-spark.yaml").read_text()
    stored = store.get("alice-spark")
    assert stored is not None and stored.status is not None
    assert stored.status.workers == 3


def test_files_are_private_to_the_user(store: LocalClusterStore):
    old_umask = os.umask(0o022)
    try:
        store.apply(cluster())
        store.write_status("alice-spark", ComputeClusterStatus())
    finally:
        os.umask(old_umask)
    assert mode(store.directory) == 0o700
    assert mode(store.directory / "alice-spark.yaml") == 0o600
    assert mode(store.directory / "alice-spark.status.yaml") == 0o600


def test_an_existing_clusters_directory_is_made_private(tmp_path: Path):
    clusters_dir(tmp_path).mkdir(mode=0o755)
    os.chmod(clusters_dir(tmp_path), 0o755)
    LocalClusterStore(tmp_path)
    assert mode(clusters_dir(tmp_path)) == 0o700


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp_file(
    store: LocalClusterStore, monkeypatch: pytest.MonkeyPatch
):
    store.apply(cluster(maxWorkers=4))
    before = (store.directory / "alice-spark.yaml").read_text()

    def fail(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        store.apply(cluster(maxWorkers=2))

    assert (store.directory / "alice-spark.yaml").read_text() == before
    left = sorted(path.name for path in store.directory.iterdir() if path.name != LOCK_FILE)
    assert left == ["alice-spark.yaml"]


def test_a_malformed_document_is_listed_with_its_error_beside_good_ones(store: LocalClusterStore):
    store.apply(cluster("alice-spark"))
    store.apply(cluster("carol-spark"))
    bad = cluster_yaml("bob-spark").replace("maxWorkers: 8", "maxWorkers: lots")
    (store.directory / "bob-spark.yaml").write_text(bad)

    alice, bob, carol = store.list()

    assert bob.name == "bob-spark"
    assert bob.cluster is None
    assert bob.error is not None
    assert bob.error.field == "spec.maxWorkers"
    assert "lots" in bob.error.reason
    assert alice.cluster is not None and alice.error is None
    assert carol.cluster is not None and carol.error is None


def test_a_document_that_is_not_yaml_is_listed_with_its_error(store: LocalClusterStore):
    (store.directory / "bob-spark.yaml").write_text("spec: [unclosed\n")
    (stored,) = store.list()
    assert stored.cluster is None
    assert stored.error is not None
    assert "not valid YAML" in str(stored.error)


def test_a_document_named_differently_from_its_file_is_an_error(store: LocalClusterStore):
    (store.directory / "bob-spark.yaml").write_text(cluster_yaml("alice-spark"))
    stored = store.get("bob-spark")
    assert stored is not None
    assert stored.cluster is None
    assert stored.error is not None
    assert stored.error.field == "metadata.name"
    assert "bob-spark.yaml" in stored.error.reason


def test_a_status_written_into_the_document_is_ignored(store: LocalClusterStore):
    text = cluster_yaml("bob-spark") + "status: {workers: 7, desired: 7}\n"
    (store.directory / "bob-spark.yaml").write_text(text)
    stored = store.get("bob-spark")
    assert stored is not None and stored.cluster is not None
    assert stored.cluster.status is None
    assert stored.status is None


def test_a_malformed_status_reads_as_absent(store: LocalClusterStore):
    store.apply(cluster("alice-spark"))
    store.apply(cluster("bob-spark"))
    (store.directory / "alice-spark.status.yaml").write_text("workers: [unclosed\n")
    (store.directory / "bob-spark.status.yaml").write_text("workers: -1\nsurprise: true\n")

    alice, bob = store.list()

    assert alice.cluster is not None and alice.status is None
    assert bob.cluster is not None and bob.status is None


def test_status_and_temp_files_are_not_listed_as_clusters(store: LocalClusterStore):
    store.apply(cluster())
    store.write_status("alice-spark", ComputeClusterStatus())
    (store.directory / ".alice-spark.yaml.abc123.tmp").write_text("half a docu")
    assert [item.name for item in store.list()] == ["alice-spark"]


def test_delete_removes_the_document_once(store: LocalClusterStore):
    store.apply(cluster())
    assert store.delete("alice-spark") is True
    assert store.delete("alice-spark") is False
    assert store.list() == []


def test_write_status_is_refused_once_the_document_is_deleted(store: LocalClusterStore):
    store.apply(cluster())
    assert store.write_status("alice-spark", ComputeClusterStatus(workers=1)) is True
    store.delete("alice-spark")

    assert store.write_status("alice-spark", ComputeClusterStatus(workers=2)) is False
    assert store.orphaned_statuses() == ["alice-spark"]


def test_orphaned_statuses_name_clusters_deleted_while_the_controller_was_down(
    store: LocalClusterStore,
):
    for name in ("alice-spark", "bob-spark", "carol-flink"):
        store.apply(cluster(name))
        store.write_status(name, ComputeClusterStatus(workers=1))
    store.delete("carol-flink")
    store.delete("alice-spark")

    assert store.orphaned_statuses() == ["alice-spark", "carol-flink"]
    assert store.delete_status("alice-spark") is True
    assert store.delete_status("alice-spark") is False
    assert store.orphaned_statuses() == ["carol-flink"]


def test_a_cluster_without_status_starts_from_nothing():
    assert state_from_status(None) == ClusterState(workers=0, desired=0)


def test_policy_memory_survives_the_status_file(store: LocalClusterStore):
    store.apply(cluster())
    memo = {"lastActive": T0, "pauses": (30.0, 45.5)}
    store.write_status("alice-spark", status_after(decision(3, memo), 1, T0, "Scaling", None))

    stored = store.get("alice-spark")
    assert stored is not None
    state = state_from_status(stored.status)

    assert state == ClusterState(workers=1, desired=3, last_scale_time=T0, memo=memo)


def test_last_scale_time_moves_only_when_the_target_changes():
    first = status_after(decision(3), 0, T0, "Scaling", None)
    held = status_after(decision(3), 3, T0 + 60, "Ready", first)
    shrunk = status_after(decision(1), 3, T0 + 120.5, "Scaling", held)

    assert first.last_scale_time == "2024-05-01T12:00:00Z"
    assert held.last_scale_time == first.last_scale_time
    assert shrunk.last_scale_time == "2024-05-01T12:02:00.500000Z"
    assert state_from_status(shrunk).last_scale_time == T0 + 120.5


def test_a_first_status_at_zero_workers_has_no_scale_time():
    assert status_after(decision(0), 0, T0, "Idle", None).last_scale_time is None


def test_status_after_records_the_decision():
    status = status_after(decision(4, {"lowPeak": 2.0}), 2, T0, "Scaling", None)
    assert (status.workers, status.desired, status.phase) == (2, 4, "Scaling")
    assert status.reason == "want 4"
    assert status.policy_state == {"lowPeak": 2.0}


def test_ready_condition_keeps_its_transition_time_while_its_status_holds():
    pending = status_after(decision(2), 0, T0, "Pending", None)
    ready = status_after(decision(2), 2, T0 + 30, "Ready", pending)
    idle = status_after(decision(0), 2, T0 + 90, "Idle", ready)
    scaling = status_after(decision(3), 0, T0 + 150, "Scaling", idle)

    def ready_condition(status: ComputeClusterStatus) -> tuple[str, str, str]:
        condition = next(c for c in status.conditions if c.type == "Ready")
        return condition.status, condition.reason, condition.last_transition_time

    assert ready_condition(pending) == ("False", "Pending", "2024-05-01T12:00:00Z")
    assert ready_condition(ready) == ("True", "Ready", "2024-05-01T12:00:30Z")
    assert ready_condition(idle) == ("True", "Idle", "2024-05-01T12:00:30Z")
    assert ready_condition(scaling) == ("False", "Scaling", "2024-05-01T12:02:30Z")


def nested_aliases(levels: int) -> str:
    """The "billion laughs": each level an alias list of the one before, 10**levels leaves."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, levels + 1):
        refs = ", ".join([f"*a{level - 1}"] * 10)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "\n".join(lines) + f"\nspec: {{owner: *a{levels}}}\n"


def test_a_document_with_aliases_is_refused_at_the_first_alias(store: LocalClusterStore):
    """safe_load follows aliases: nine levels kept the controller busy for many seconds."""
    store.apply(cluster("alice-spark"))
    (store.directory / "bob-spark.yaml").write_text(cluster_yaml("bob-spark") + nested_aliases(9))

    alice, bob = store.list()

    assert alice.cluster is not None
    assert bob.cluster is None and bob.error is not None
    assert "aliases (*name) are not allowed at line 6, column 10" in str(bob.error)
    assert len(str(bob.error)) < 200


def test_a_document_longer_than_any_cluster_is_refused_unread(store: LocalClusterStore):
    padding = "# " + "x" * 300_000 + "\n"
    (store.directory / "bob-spark.yaml").write_text(cluster_yaml("bob-spark") + padding)
    (stored,) = store.list()
    assert stored.error is not None
    assert "longer than 262,144 characters (300," in str(stored.error)


def test_a_status_with_aliases_reads_as_absent(store: LocalClusterStore):
    store.apply(cluster("alice-spark"))
    store.status_path("alice-spark").write_text(nested_aliases(9).replace("spec:", "workers:"))
    (stored,) = store.list()
    assert stored.cluster is not None and stored.cluster.status is None


# Ownership: a name taken by another user's (or server's) object is never handed over.


def jane_running(store: LocalClusterStore) -> tuple[bytes, bytes]:
    """Jane's cluster under the name mallory's spawner will use, with a status: its files."""
    store.apply(cluster("shared-spark", owner="jane"))
    store.write_status("shared-spark", status_after(decision(2), 2, T0, "Ready", None))
    spec_file = store.directory / "shared-spark.yaml"
    return spec_file.read_bytes(), store.status_path("shared-spark").read_bytes()


def test_apply_refuses_another_users_object_under_the_same_name(store: LocalClusterStore):
    before = jane_running(store)
    with pytest.raises(ClusterConflict) as refused:
        store.apply(cluster("shared-spark", owner="mallory", maxWorkers=1))
    assert refused.value.name == "shared-spark"
    assert (refused.value.owner, refused.value.holder) == ("mallory", ("jane", ""))
    assert "shared-spark" in str(refused.value) and "jane" not in str(refused.value)
    spec_file = store.directory / "shared-spark.yaml"
    assert (spec_file.read_bytes(), store.status_path("shared-spark").read_bytes()) == before


def test_apply_refuses_another_server_of_the_same_user(store: LocalClusterStore):
    store.apply(cluster("shared-spark", owner="jane", server="gpu"))
    with pytest.raises(ClusterConflict):
        store.apply(cluster("shared-spark", owner="jane", server=""))
    stored = store.get("shared-spark")
    assert stored is not None and stored.cluster is not None
    assert stored.cluster.spec.server == "gpu"


def test_apply_refuses_a_name_whose_document_it_cannot_read(store: LocalClusterStore):
    """Whose it is cannot be told: it is left for an admin, not taken over."""
    (store.directory / "shared-spark.yaml").write_text("spec: [not, a, cluster]\n")
    with pytest.raises(ClusterConflict) as refused:
        store.apply(cluster("shared-spark", owner="mallory"))
    assert refused.value.holder is None
    assert (store.directory / "shared-spark.yaml").read_text() == "spec: [not, a, cluster]\n"


def test_delete_for_an_owner_leaves_another_users_object(store: LocalClusterStore):
    before = jane_running(store)
    with pytest.raises(ClusterConflict):
        store.delete("shared-spark", owner="mallory", server="")
    spec_file = store.directory / "shared-spark.yaml"
    assert (spec_file.read_bytes(), store.status_path("shared-spark").read_bytes()) == before
    assert store.delete("shared-spark", owner="jane", server="") is True
    assert store.delete("shared-spark", owner="jane", server="") is False  # gone: nothing to do


def test_with_system_accounts_an_owners_group_reads_its_status_and_no_document(tmp_path: Path):
    """Issue 14, finding 3: a kernel running as its user's account relays the status of its own
    cluster (the kernel notices); every status file was the controller's alone (0600)."""
    group = os.getgid()
    store = LocalClusterStore(
        tmp_path, status_group=lambda owner: group if owner == "alice" else None
    )
    store.apply(cluster())
    store.apply(cluster("bob-spark", owner="bob"))
    store.write_status("alice-spark", ComputeClusterStatus())
    store.write_status("bob-spark", ComputeClusterStatus())

    alices = (store.directory / "alice-spark.status.yaml").stat()
    assert (alices.st_gid, stat.S_IMODE(alices.st_mode)) == (group, 0o640)
    assert mode(store.directory / "bob-spark.status.yaml") == 0o600  # no account yet
    assert mode(store.directory / "alice-spark.yaml") == 0o600
    assert mode(store.directory) == 0o711  # entered by the accounts, listed by none
    LocalClusterStore(tmp_path)  # the hub's and the usage service's stores keep it so
    assert mode(store.directory) == 0o711
