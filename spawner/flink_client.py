"""A notebook server's own Flink client directory (local mode): configuration, logs, scratch.

The cluster's ``conf/`` is the JobManager's; the client gets its own ``conf/`` beside the user's
server that points at that cluster (``hubscale.flink_conf.flink_client_config``), with the
cluster's log4j files so the PyFlink gateway logs where the client says, and its own copy of the
cluster's REST keystore (mode 0600): the JobManager answers only clients that present it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from hubscale.atomic_files import write_atomic
from hubscale.flink_conf import client_keystore, flink_client_config, render_config, rest_keystore

DIR_MODE = 0o700


def write_client_dir(cluster_conf_dir: Path, directory: Path) -> Path:
    """Write the client files (conf/, logs/, tmp/) for the cluster at ``cluster_conf_dir``."""
    cluster = yaml.safe_load((cluster_conf_dir / "config.yaml").read_text(encoding="utf-8")) or {}
    directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    for name in ("conf", "logs", "tmp"):
        (directory / name).mkdir(mode=DIR_MODE, exist_ok=True)
    for log4j in sorted(cluster_conf_dir.glob("log4j*.properties")):
        write_atomic(directory / "conf" / log4j.name, log4j.read_text(encoding="utf-8"))
    keystore = rest_keystore(cluster)
    if keystore is not None:
        write_atomic(Path(client_keystore(directory)), Path(keystore).read_bytes())
    config = flink_client_config(cluster, directory)
    write_atomic(directory / "conf" / "config.yaml", render_config(config))
    return directory


def remove_client_dir(directory: Path) -> None:
    """Remove a client directory (the server has stopped); absent is fine."""
    shutil.rmtree(directory, ignore_errors=True)
