"""What the REST API's mutual TLS costs a Flink cluster: the credential, and the JobManager's start.

Starts a JobManager as the local backend does (``LocalFlinkCluster``), alternately with its REST
credential and with the same configuration less every ``security.ssl.*`` key, and times each from
the process's start to its REST API's first 200 on ``/overview`` (polled every 50 ms), with the
CPU time it used until then (its own and its finished children's: the start scripts run a JVM to
size the memory; less sensitive than the wall clock to what else runs), then its RSS. Also times
generating a credential as the controller does (``hubscale.flink_tls``) and as ``keytool`` would.
``python -m benchmarks.flink_tls [--runs 3] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import shutil
import ssl
import statistics
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import yaml

from autoscaler.backends.local.flink import LocalFlinkCluster, allocate_ports
from benchmarks.results import write_json
from hubscale import flink_tls, processes
from hubscale.flink_conf import FlinkClusterPorts, render_config

READY_TIMEOUT_S = 300.0
POLL_S = 0.05


@dataclass
class Result:
    """Seconds and MiB; one entry per start, in the order they ran."""

    tls_start_s: list[float]
    plain_start_s: list[float]
    tls_cpu_s: list[float]
    plain_cpu_s: list[float]
    tls_rss_mib: list[float]
    plain_rss_mib: list[float]
    generate_ms: list[float]  # hubscale.flink_tls.generate, in the controller's process
    keytool_s: float | None  # keytool -genkeypair alone (a JVM start); None: no keytool


def start_once(directory: Path, tls: bool) -> tuple[float, float, float]:
    """One JobManager's start to its first REST answer, the CPU seconds it took, and its RSS
    then; stopped afterwards."""
    cluster = LocalFlinkCluster(directory, FlinkClusterPorts(**allocate_ports()))
    cluster.prepare()
    context: ssl.SSLContext | bool = True
    url = f"{cluster.rest_url}/overview"
    if tls:
        context = cluster.rest_tls() or True
    else:
        config = yaml.safe_load((cluster.conf_dir / "config.yaml").read_text())
        plain = {k: v for k, v in config.items() if not k.startswith("security.ssl.")}
        (cluster.conf_dir / "config.yaml").write_text(render_config(plain))
        url = url.replace("https://", "http://")
    spec = cluster.jobmanager()
    started = time.monotonic()
    pid = processes.start(spec)
    try:
        while time.monotonic() - started < READY_TIMEOUT_S:
            try:
                if httpx.get(url, verify=context, timeout=2).status_code == 200:
                    break
            except (httpx.HTTPError, ssl.SSLError):
                pass
            time.sleep(POLL_S)
        else:
            raise RuntimeError(f"no REST answer within {READY_TIMEOUT_S:g} s: {directory}/logs")
        elapsed_s = time.monotonic() - started
        used_s = processes.cpu_s(pid) or 0.0
        rss_mib = (processes.rss_kib(pid) or 0) / 1024
    finally:
        processes.stop(spec.pid_file)
    return elapsed_s, used_s, rss_mib


def keytool_s(directory: Path) -> float | None:
    """``keytool -genkeypair`` for an EC P-256 key in PKCS12: the JDK's own way."""
    keytool = shutil.which("keytool")
    if keytool is None:
        return None
    started = time.monotonic()
    subprocess.run(
        [keytool, "-genkeypair", "-alias", "rest", "-keystore", str(directory / "k.p12"),
         "-storetype", "PKCS12", "-storepass", "benchmark-only", "-keyalg", "EC",
         "-groupname", "secp256r1", "-dname", "CN=127.0.0.1", "-ext", "SAN=ip:127.0.0.1",
         "-validity", "3650"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return round(time.monotonic() - started, 2)


def run(runs: int, directory: Path) -> Result:
    result = Result([], [], [], [], [], [], [], None)
    flink_tls.generate(["127.0.0.1"])  # the imports, once, as in a running controller
    for _ in range(5):
        started = time.perf_counter()
        flink_tls.generate(["127.0.0.1", "localhost"])
        result.generate_ms.append(round((time.perf_counter() - started) * 1000, 1))
    result.keytool_s = keytool_s(directory)
    for index in range(runs):
        order = (True, False) if index % 2 == 0 else (False, True)  # alternate who goes first
        for tls in order:
            name = f"{index}-{'tls' if tls else 'plain'}"
            elapsed_s, used_s, rss_mib = start_once(directory / name, tls)
            (result.tls_start_s if tls else result.plain_start_s).append(round(elapsed_s, 2))
            (result.tls_cpu_s if tls else result.plain_cpu_s).append(round(used_s, 2))
            (result.tls_rss_mib if tls else result.plain_rss_mib).append(round(rss_mib))
            print(
                f"start tls={tls} seconds={elapsed_s:.2f} cpu_s={used_s:.2f} rss_mib={rss_mib:.0f}",
                flush=True,
            )
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.flink_tls", description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="starts with and without TLS each")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    directory = Path(tempfile.mkdtemp(prefix="hubscale-bench-tls-"))
    try:
        result = run(args.runs, directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    print(
        f"JobManager start to REST answer: with TLS {result.tls_start_s} s (median"
        f" {statistics.median(result.tls_start_s):.2f}), without {result.plain_start_s} s"
        f" (median {statistics.median(result.plain_start_s):.2f})\n"
        f"CPU until then: with TLS {result.tls_cpu_s} s (median"
        f" {statistics.median(result.tls_cpu_s):.2f}), without {result.plain_cpu_s} s"
        f" (median {statistics.median(result.plain_cpu_s):.2f})\n"
        f"JobManager RSS then: with TLS {result.tls_rss_mib} MiB, without"
        f" {result.plain_rss_mib} MiB\n"
        f"a credential: {result.generate_ms} ms (cryptography), keytool {result.keytool_s} s"
    )
    write_json(args.json, asdict(result))


if __name__ == "__main__":
    main()
