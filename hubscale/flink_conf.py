"""Flink configuration for one user's session cluster: pure functions, no I/O.

One ``config.yaml`` serves the JobManager and the TaskManagers: everything binds to 127.0.0.1, the
adaptive scheduler rescales jobs to the slots there are, a fixed-delay restart strategy brings a
job back after a TaskManager goes away, and a Prometheus reporter on a per-cluster port range
serves the metrics. A user's client (``flink run``, a PyFlink kernel) gets its own ``config.yaml``
derived from the cluster's (``flink_client_config``): where the REST API is, the Pythons, the
JVM options, and the cluster's REST credential (``rest_tls_config``: mutual TLS, the keystore
from ``hubscale.flink_tls``). Flink 2.x reads ``config.yaml`` (standard YAML) in
``FLINK_CONF_DIR``, flat keys too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath

PROMETHEUS_REPORTER_FACTORY = "org.apache.flink.metrics.prometheus.PrometheusReporterFactory"
JOBMANAGER_MEMORY_MIB = 768  # idle RSS ~250 MB; 768m starts and runs PyFlink jobs
MIN_TASKMANAGER_MEMORY_MIB = 1024  # below this Flink's fixed overheads leave no task heap
ADAPTIVE = "jobmanager.adaptive-scheduler"
JAVA_OPTS_KEY = "env.java.opts.all"  # the shipped default carries the --add-opens for Java 17
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# Copied from the cluster's configuration into a client's; rest.* say where the cluster is.
CLIENT_KEYS = (
    "rest.address",
    "rest.port",
    "python.executable",
    "python.client.executable",
    "parallelism.default",
)
_TMPDIR_OPTION = re.compile(r"\s*-Djava\.io\.tmpdir=\S*")
# The REST API's mutual TLS. One PKCS12 file is keystore and truststore: its certificate is the
# cluster's own, self-signed, and the only one either side trusts (``hubscale.flink_tls``).
REST_KEYSTORE = "rest.p12"  # its name in a conf dir (the client's copy), a Secret's key
REST_TLS_PROTOCOL = "TLSv1.3"  # Flink's default, TLSv1.2 with TLS_RSA_WITH_AES_128_CBC_SHA, is
REST_TLS_CIPHERS = "TLS_AES_256_GCM_SHA384,TLS_AES_128_GCM_SHA256"  # refused by Python's ssl
_REST_SSL = "security.ssl.rest"
REST_KEYSTORE_KEYS = (f"{_REST_SSL}.keystore", f"{_REST_SSL}.truststore")
REST_KEYSTORE_PASSWORD = f"{_REST_SSL}.keystore-password"
# Copied from the cluster's configuration into a client's; the keystore paths become the client's.
REST_TLS_KEYS = (
    f"{_REST_SSL}.enabled",
    f"{_REST_SSL}.authentication-enabled",
    *REST_KEYSTORE_KEYS,
    f"{_REST_SSL}.keystore-type",
    f"{_REST_SSL}.truststore-type",
    REST_KEYSTORE_PASSWORD,
    f"{_REST_SSL}.key-password",
    f"{_REST_SSL}.truststore-password",
    "security.ssl.protocol",
    "security.ssl.algorithms",
)


@dataclass(frozen=True, slots=True)
class FlinkClusterPorts:
    """Ports of one cluster. The Prometheus reporter binds 0.0.0.0: Flink 2.3 has no host option.

    The JobManager's reporter takes ``metrics_first``; TaskManagers take a free port from
    ``metrics_first + 1 .. metrics_last`` unless they are given one.
    """

    jobmanager_rpc: int
    rest: int  # REST API and web UI
    blob: int
    metrics_first: int
    metrics_last: int

    def __post_init__(self) -> None:
        if self.metrics_last <= self.metrics_first:
            raise ValueError(
                f"metrics ports {self.metrics_first}..{self.metrics_last}: need one for the "
                "JobManager and at least one for TaskManagers"
            )

    @property
    def jobmanager_metrics(self) -> int:
        return self.metrics_first

    @property
    def taskmanager_metrics_range(self) -> str:
        """Flink's port range syntax for the TaskManagers' reporters."""
        return f"{self.metrics_first + 1}-{self.metrics_last}"


def rest_url(ports: FlinkClusterPorts, host: str = "127.0.0.1") -> str:
    """The REST API (and web UI): HTTPS with client certificates only (``rest_tls_config``)."""
    return f"https://{host}:{ports.rest}"


def rest_tls_config(keystore: str | PurePath, password: str) -> dict[str, str]:
    """Mutual TLS on the REST API with one cluster's credential (``hubscale.flink_tls``).

    ``keystore`` is the PKCS12 file with the cluster's key and certificate, also its truststore:
    the JobManager answers only clients that present that certificate, and a client (the user's
    PyFlink, ``flink run``) with the same settings talks only to that JobManager. Plain HTTP gets a
    redirect and no data. The TaskManagers need none of it: they reach the JobManager over RPC.
    """
    return {
        f"{_REST_SSL}.enabled": "true",
        f"{_REST_SSL}.authentication-enabled": "true",
        **dict.fromkeys(REST_KEYSTORE_KEYS, str(keystore)),
        f"{_REST_SSL}.keystore-type": "PKCS12",
        f"{_REST_SSL}.truststore-type": "PKCS12",
        REST_KEYSTORE_PASSWORD: password,
        f"{_REST_SSL}.key-password": password,
        f"{_REST_SSL}.truststore-password": password,
        "security.ssl.protocol": REST_TLS_PROTOCOL,
        "security.ssl.algorithms": REST_TLS_CIPHERS,
    }


def flink_config(
    ports: FlinkClusterPorts,
    directory: str | PurePath,
    python: str | PurePath,
    java_opts: str,
    slots_per_taskmanager: int,
    taskmanager_memory_mib: int,
    jobmanager_memory_mib: int = JOBMANAGER_MEMORY_MIB,
    restart_attempts: int = 100,
    restart_delay_s: int = 3,
    rescale_cooldown_s: int = 30,
    host: str = "127.0.0.1",
) -> dict[str, str]:
    """Configuration for the JobManager, TaskManagers and clients of one cluster.

    One slot per core: ``slots_per_taskmanager`` is a worker's cores.
    ``java_opts`` is the distribution's default ``env.java.opts.all`` (see ``shipped_java_opts``);
    it is kept, with ``java.io.tmpdir`` moved into the cluster directory.
    Losing a TaskManager is a job failure to Flink: ``restart_attempts`` bounds the restarts over a
    job's life, so it is generous; rescaling up onto new slots is no failure and costs none.
    After a rescale a job ignores new slots for ``rescale_cooldown_s`` (Flink's default: 30 s).
    """
    if slots_per_taskmanager < 1:
        raise ValueError(f"slots_per_taskmanager must be at least 1, not {slots_per_taskmanager}")
    if taskmanager_memory_mib < MIN_TASKMANAGER_MEMORY_MIB:
        raise ValueError(
            f"taskmanager memory {taskmanager_memory_mib} MiB is below the "
            f"{MIN_TASKMANAGER_MEMORY_MIB} MiB a TaskManager needs"
        )
    root = PurePath(directory)
    if any(character.isspace() for character in str(root)):
        raise ValueError(f"cluster directory {str(root)!r}: Flink's scripts split paths on spaces")
    return {
        "jobmanager.rpc.address": host,
        "jobmanager.rpc.port": str(ports.jobmanager_rpc),
        "jobmanager.bind-host": host,
        "taskmanager.bind-host": host,
        "taskmanager.host": host,
        "rest.address": host,
        "rest.bind-address": host,
        "rest.port": str(ports.rest),
        "blob.server.port": str(ports.blob),
        "jobmanager.scheduler": "adaptive",
        f"{ADAPTIVE}.executing.cooldown-after-rescaling": f"{rescale_cooldown_s} s",
        "restart-strategy.type": "fixed-delay",
        "restart-strategy.fixed-delay.attempts": str(restart_attempts),
        "restart-strategy.fixed-delay.delay": f"{restart_delay_s} s",
        "jobmanager.memory.process.size": f"{jobmanager_memory_mib}m",
        "taskmanager.memory.process.size": f"{taskmanager_memory_mib}m",
        "taskmanager.numberOfTaskSlots": str(slots_per_taskmanager),
        "parallelism.default": "1",
        "metrics.reporter.prom.factory.class": PROMETHEUS_REPORTER_FACTORY,
        "metrics.reporter.prom.port": ports.taskmanager_metrics_range,
        "env.log.dir": str(root / "logs"),
        "env.pid.dir": str(root / "run"),
        "io.tmp.dirs": str(root / "tmp"),
        "web.tmpdir": str(root / "web"),
        "python.executable": str(python),
        "python.client.executable": str(python),
        # The client's PythonDriver and the JVMs' own scratch files go to java.io.tmpdir.
        JAVA_OPTS_KEY: f"{java_opts} -Djava.io.tmpdir={root / 'tmp'}".strip(),
    }


def flink_client_config(cluster: Mapping[str, object], directory: PurePath) -> dict[str, str]:
    """A PyFlink client's ``config.yaml`` for the user's session cluster (execution.target remote).

    ``cluster`` is the cluster's own configuration (parsed YAML, nested or flat); the client keeps
    where its REST API is, the Python to run UDFs with and the JVM options Java 17 needs, and puts
    its scratch and log files under ``directory``. With the cluster's REST TLS it presents the
    cluster's credential from its own copy of the keystore, ``client_keystore(directory)``.
    """
    config = {key: str(value) for key in CLIENT_KEYS if (value := lookup(cluster, key))}
    for key in ("rest.address", "rest.port"):
        if key not in config:
            raise ValueError(f"Flink cluster configuration has no {key!r}")
    tls = {
        key: _text(value) for key in REST_TLS_KEYS if (value := lookup(cluster, key)) is not None
    }
    if tls:
        tls.update(dict.fromkeys(REST_KEYSTORE_KEYS, str(client_keystore(directory))))
    java_opts = _TMPDIR_OPTION.sub("", str(lookup(cluster, JAVA_OPTS_KEY) or "")).strip()
    tmp = directory / "tmp"
    return {
        **config,
        **tls,
        "execution.target": "remote",
        "env.log.dir": str(directory / "logs"),
        "io.tmp.dirs": str(tmp),
        JAVA_OPTS_KEY: f"{java_opts} -Djava.io.tmpdir={tmp}".strip(),
    }


def client_keystore(directory: PurePath) -> PurePath:
    """Where a client directory keeps its copy of the cluster's keystore (beside its config)."""
    return directory / "conf" / REST_KEYSTORE


def rest_keystore(config: Mapping[str, object]) -> str | None:
    """The keystore a parsed cluster configuration names for its REST API; None: no REST TLS."""
    value = lookup(config, REST_KEYSTORE_KEYS[0])
    return None if value is None else str(value)


def rest_keystore_password(config: Mapping[str, object]) -> str | None:
    """The password of that keystore; None: no REST TLS."""
    value = lookup(config, REST_KEYSTORE_PASSWORD)
    return None if value is None else _text(value)


def dynamic_properties(properties: Mapping[str, str]) -> list[str]:
    """``-D key=value`` arguments for ``jobmanager.sh``/``taskmanager.sh`` (two words each)."""
    arguments: list[str] = []
    for key, value in properties.items():
        _check_entry(key, value)
        arguments += ["-D", f"{key}={value}"]
    return arguments


def shipped_java_opts(default_config: Mapping[str, object]) -> str:
    """``env.java.opts.all`` of a parsed Flink ``config.yaml``, nested or flat; "" if absent."""
    value = lookup(default_config, JAVA_OPTS_KEY)
    return "" if value is None else str(value)


def lookup(config: Mapping[str, object], key: str) -> object | None:
    """A dotted key's value in Flink's YAML, where ``a.b: 1`` and ``a: {b: 1}`` mean the same."""
    if key in config:
        return config[key]
    head, _, rest = key.partition(".")
    while rest:
        child = config.get(head)
        if isinstance(child, Mapping):
            found = lookup(child, rest)
            if found is not None:
                return found
        part, _, rest = rest.partition(".")
        head = f"{head}.{part}"
    return None


def render_config(config: Mapping[str, str]) -> str:
    """Flink's ``config.yaml`` with flat keys, sorted; each value a double-quoted YAML string."""
    for key, value in config.items():
        _check_entry(key, value)
    lines = (f"{key}: {json.dumps(config[key], ensure_ascii=False)}\n" for key in sorted(config))
    return "".join(lines)


def _text(value: object) -> str:
    """A YAML value as Flink's text: ``true``, not Python's ``True``."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _check_entry(key: str, value: str) -> None:
    if not _KEY.match(key):
        raise ValueError(f"not a Flink config key: {key!r}")
    if "\n" in value or "\r" in value:
        raise ValueError(f"newline in Flink config value of {key!r}")
