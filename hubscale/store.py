"""The local-mode store of ComputeCluster objects: the local twin of the Kubernetes API for them.

Each object is ``<state>/clusters/<name>.yaml`` (the document without status, written by the
spawner) with its status beside it in ``<name>.status.yaml`` (written only by the controller).
Every write is a write-then-rename, so a reader sees the old file or the new one, never half of one.
A name belongs to the user's server whose document holds it: ``apply`` replaces only that
server's document, as the API server's 409 and the Kubernetes spawner's owner check do; a
delete for an owner removes only theirs. Both hold the directory's lock while they check and
write, so two spawns of colliding names cannot both take one.

``list`` is the controller's every loop: it reads again only the files that changed since the
last call (a file's inode, size and times: every write is a new file), so a loop over thousands
of steady objects costs one directory scan and a stat per file, not a YAML parse each.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from hubscale.atomic_files import unlink_durably, write_atomic
from hubscale.spec import (
    ComputeCluster,
    ComputeClusterStatus,
    SpecError,
    check_holder,
    cluster_to_yaml,
    load_cluster_yaml,
)
from hubscale.state_dir import clusters_dir
from hubscale.yaml_input import load_yaml

log = logging.getLogger(__name__)

SPEC_SUFFIX = ".yaml"
STATUS_SUFFIX = ".status.yaml"
LOCK_FILE = ".lock"  # a dot file: never listed as an object
DIR_MODE = 0o700  # the directory will hold per-user secrets
# System accounts: each reads its own clusters' status files (0640, its group) through the
# directory, which lists nothing to them (and every document stays 0600, the controller's).
TRAVERSABLE_DIR_MODE = 0o711
StatusGroup = Callable[[str], int | None]  # a cluster's owner -> the group reading its status
FileSignature = tuple[int, int, int, int]  # inode, size, modification and change time (ns)
# A file changed this recently may change again within the clock's granularity with the same
# signature (an inode reused, the same size): it is read again until it is older (as git does).
SETTLED_NS = 2_000_000_000
UNSETTLED: FileSignature = (-1, -1, -1, -1)  # equal to no file's signature


@dataclass(frozen=True, slots=True)
class StoredCluster:
    """One object as the store holds it: the document (or why it is unusable) and its status."""

    name: str
    cluster: ComputeCluster | None  # the document without status; None when ``error`` is set
    error: SpecError | None
    status: ComputeClusterStatus | None  # None if absent or unreadable; the controller rewrites it


class LocalClusterStore:
    """ComputeCluster objects as YAML files in a state directory, one spec and one status each."""

    def __init__(self, state_dir: Path, status_group: StatusGroup | None = None) -> None:
        """``status_group`` (system accounts): each status file is readable by that group of
        its cluster's owner, and the directory lets them through (0711)."""
        self.state_dir = state_dir
        self.directory = clusters_dir(state_dir)
        self.status_group = status_group
        state_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        self.directory.mkdir(mode=DIR_MODE, exist_ok=True)
        # mkdir's mode is cut by the umask and skips old dirs: 0700, or 0711 once system mode
        # set it (the hub's and the usage service's stores keep what the controller's made)
        traversable = stat.S_IMODE(os.stat(self.directory).st_mode) == TRAVERSABLE_DIR_MODE
        mode = TRAVERSABLE_DIR_MODE if status_group or traversable else DIR_MODE
        os.chmod(self.directory, mode)
        # name -> (its document's and status's signatures, what ``list`` read from them)
        self._listed: dict[str, tuple[FileSignature, FileSignature | None, StoredCluster]] = {}
        self.settled_ns = SETTLED_NS

    def apply(self, cluster: ComputeCluster) -> ComputeCluster:
        """Create an object's document, or replace it if it is the same user's same server's (the
        spawner's call); its status is left alone. Another's (or an unreadable one) under that
        name raises ``ClusterConflict``, nothing written."""
        document = cluster.model_copy(update={"status": None})
        name, spec = document.metadata.name, document.spec
        with self._locked():
            self._check_holder(name, spec.owner, spec.server)
            write_atomic(self._spec_path(name), cluster_to_yaml(document))
        log.info("cluster-applied name=%s engine=%s", name, spec.engine)
        return document

    def delete(self, name: str, owner: str | None = None, server: str = "") -> bool:
        """Remove an object's document; the controller tears the cluster down, then its status.

        With ``owner``, only that user's ``server``'s: another's raises ``ClusterConflict``.
        """
        with self._locked():
            if owner is not None:
                self._check_holder(name, owner, server)
            removed = unlink_durably(self._spec_path(name))
        if removed:
            log.info("cluster-deleted name=%s", name)
        return removed

    def _check_holder(self, name: str, owner: str, server: str) -> None:
        """Raise ``ClusterConflict`` unless a document under ``name`` is ``owner``'s or absent."""
        stored = self._read(name)
        if stored is None:
            return
        spec = stored.cluster.spec if stored.cluster is not None else None
        check_holder(name, spec and (spec.owner, spec.server), owner, server)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """The directory's lock, between spawners' checks and writes (threads and processes)."""
        descriptor = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # releases the lock

    def list(self) -> list[StoredCluster]:
        """Every object, sorted by name; an unusable document is listed with its error.

        An object whose files did not change since the last call is the same ``StoredCluster``
        again (not read); a changed status alone is the only file read again."""
        settled_before = time.time_ns() - self.settled_ns
        documents, statuses = self._signatures()
        listed: dict[str, tuple[FileSignature, FileSignature | None, StoredCluster]] = {}
        for name in sorted(documents):
            document, status = documents[name], statuses.get(name)
            known = self._listed.get(name)
            if known is not None and known[0] == document:
                item = known[2]
                if known[1] != status:
                    item = replace(item, status=self._read_status(name))
            else:
                item = self._read(name)
            if item is not None:
                status = None if status is None else _settled(status, settled_before)
                listed[name] = (_settled(document, settled_before), status, item)
        self._listed = listed
        return [item for _, _, item in listed.values()]

    def _signatures(self) -> tuple[dict[str, FileSignature], dict[str, FileSignature]]:
        """Each document's and each status's file signature, from one directory scan."""
        documents: dict[str, FileSignature] = {}
        statuses: dict[str, FileSignature] = {}
        with os.scandir(self.directory) as entries:
            for entry in entries:
                if entry.name.startswith(".") or not entry.name.endswith(SPEC_SUFFIX):
                    continue
                try:
                    info = entry.stat()
                except FileNotFoundError:  # deleted meanwhile
                    continue
                if not stat.S_ISREG(info.st_mode):
                    continue
                signature = (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
                if entry.name.endswith(STATUS_SUFFIX):
                    statuses[entry.name.removesuffix(STATUS_SUFFIX)] = signature
                else:
                    documents[entry.name.removesuffix(SPEC_SUFFIX)] = signature
        return documents, statuses

    def get(self, name: str) -> StoredCluster | None:
        """One object, or None when its document does not exist."""
        return self._read(name)

    def write_status(self, name: str, status: ComputeClusterStatus) -> bool:
        """Replace an object's status (the controller's call); False if the object is gone.

        A delete racing this write leaves a status without a document: ``orphaned_statuses``.
        """
        if not self._spec_path(name).exists():
            return False
        text = yaml.safe_dump(
            status.model_dump(mode="json", by_alias=True, exclude_none=True), sort_keys=False
        )
        write_atomic(self.status_path(name), text, self._status_group(name))
        return True

    def _status_group(self, name: str) -> int | None:
        if self.status_group is None:
            return None
        stored = self._read(name)
        if stored is None or stored.cluster is None:  # no owner to tell: the controller's alone
            return None
        return self.status_group(stored.cluster.spec.owner)

    def delete_status(self, name: str) -> bool:
        """Remove an object's status once its cluster is torn down; False if there was none."""
        return unlink_durably(self.status_path(name))

    def orphaned_statuses(self) -> list[str]:
        """Names with a status but no document: deleted while the controller was down."""
        documents, statuses = self._signatures()
        return sorted(statuses.keys() - documents.keys())

    def _read(self, name: str) -> StoredCluster | None:
        """One object with its status; None when its document does not exist."""
        try:
            text = self._spec_path(name).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as err:
            error = SpecError("<document>", f"cannot read {self._spec_path(name)}: {err}")
            return StoredCluster(name, None, error, self._read_status(name))
        try:
            cluster = _document(name, text)
        except SpecError as err:
            log.warning("cluster-invalid name=%s error=%r", name, str(err))
            return StoredCluster(name, None, err, self._read_status(name))
        return StoredCluster(name, cluster, None, self._read_status(name))

    def _read_status(self, name: str) -> ComputeClusterStatus | None:
        """An object's status; None when absent or unreadable (the controller writes a new one)."""
        path = self.status_path(name)
        try:
            return _status(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError, yaml.YAMLError, SpecError) as err:
            log.warning("status-unreadable name=%s action=rewrite error=%r", name, str(err))
            return None

    def _spec_path(self, name: str) -> Path:
        """Where an object's document lives."""
        return self.directory / f"{_file_stem(name)}{SPEC_SUFFIX}"

    def status_path(self, name: str) -> Path:
        """Where an object's status lives, beside its document."""
        return self.directory / f"{_file_stem(name)}{STATUS_SUFFIX}"


def _settled(signature: FileSignature, settled_before_ns: int) -> FileSignature:
    """The signature to remember: ``UNSETTLED`` for a file changed too recently to trust it."""
    return signature if max(signature[2], signature[3]) <= settled_before_ns else UNSETTLED


def _document(name: str, text: str) -> ComputeCluster:
    """A spec file's object; a status written into it is dropped, as Kubernetes drops it."""
    cluster = load_cluster_yaml(text)
    if cluster.metadata.name != name:
        raise SpecError(
            "metadata.name",
            f"must match the file name {name + SPEC_SUFFIX!r}, got {cluster.metadata.name!r}",
        )
    return cluster.model_copy(update={"status": None})


def _status(text: str) -> ComputeClusterStatus:
    """A status file's content: the status mapping as it appears under ``status:``."""
    data = load_yaml(text)
    if not isinstance(data, dict) or not all(isinstance(key, str) for key in data):
        raise SpecError("status", f"must be a mapping, got {type(data).__name__}")
    return ComputeClusterStatus(**data)


def _file_stem(name: str) -> str:
    """A name usable as a file name in the store's directory, and nowhere else."""
    if not name or name.startswith(".") or any(bad in name for bad in ("/", os.sep, "\x00")):
        raise ValueError(f"not a ComputeCluster name: {name!r}")
    return name
