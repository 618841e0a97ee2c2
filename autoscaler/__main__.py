"""``python -m autoscaler``: run the controller with the local backend.

Every flag has an environment variable (shown in ``--help``). Stopping the controller (SIGTERM,
Ctrl-C) leaves the clusters running: they are users' work, and the next start adopts them.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from pathlib import Path

from autoscaler.controller import wiring
from autoscaler.controller.loop import Controller
from autoscaler.controller.metrics import serve
from autoscaler.readers.prometheus import PrometheusClient
from hubscale.state_dir import default_state_dir

log = logging.getLogger("autoscaler")


def parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python -m autoscaler", description=__doc__)
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(env("HUBSCALE_STATE_DIR", default_state_dir())),
        help="ComputeCluster objects and cluster runtime files (env HUBSCALE_STATE_DIR)",
    )
    parser.add_argument(
        "--file-sd-dir",
        type=Path,
        default=env("HUBSCALE_FILE_SD_DIR"),
        help="where Prometheus file_sd target files go (env HUBSCALE_FILE_SD_DIR;"
        " default STATE_DIR/targets)",
    )
    parser.add_argument(
        "--prometheus-url",
        default=env("HUBSCALE_PROMETHEUS_URL", "http://127.0.0.1:9090"),
        help="Prometheus HTTP API (env HUBSCALE_PROMETHEUS_URL)",
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=float(env("HUBSCALE_INTERVAL_S", "2")),
        help="seconds between loops (env HUBSCALE_INTERVAL_S)",
    )
    parser.add_argument(
        "--listen",
        default=env("HUBSCALE_CONTROLLER_LISTEN", "127.0.0.1:9310"),
        help="HOST:PORT for /metrics and /healthz (env HUBSCALE_CONTROLLER_LISTEN)",
    )
    parser.add_argument(
        "--budget-cores",
        type=int,
        default=int(env("HUBSCALE_BUDGET_CORES", "0")) or None,
        help="cores all clusters' workers may hold together, shared fairly between users"
        " (env HUBSCALE_BUDGET_CORES; default: no limit)",
    )
    parser.add_argument(
        "--backend",
        choices=sorted(wiring.BACKENDS),
        default=env("HUBSCALE_BACKEND", "local"),
        help="where clusters run (env HUBSCALE_BACKEND)",
    )
    parser.add_argument(
        "--namespace",
        default=env("HUBSCALE_NAMESPACE") or env("POD_NAMESPACE", "default"),
        help="kubernetes: the namespace of the ComputeClusters (env HUBSCALE_NAMESPACE)",
    )
    parser.add_argument(
        "--spark-image",
        default=env("HUBSCALE_SPARK_IMAGE", "hubscale/spark:4.3.0"),
        help="kubernetes: image of Spark masters and workers (env HUBSCALE_SPARK_IMAGE)",
    )
    parser.add_argument(
        "--flink-image",
        default=env("HUBSCALE_FLINK_IMAGE", "hubscale/flink:2.3.0"),
        help="kubernetes: image of Flink JobManagers and TaskManagers (env HUBSCALE_FLINK_IMAGE)",
    )
    parser.add_argument(
        "--leader-election",
        action=argparse.BooleanOptionalAction,
        default=env("HUBSCALE_LEADER_ELECTION", "") in ("1", "true", "yes"),
        help="kubernetes: one active replica at a time through a Lease"
        " (env HUBSCALE_LEADER_ELECTION=1)",
    )
    parser.add_argument(
        "--lease-name",
        default=env("HUBSCALE_LEASE_NAME", "hubscale-autoscaler"),
        help="kubernetes: the Lease's name (env HUBSCALE_LEASE_NAME)",
    )
    parser.add_argument(
        "--lease-duration",
        type=float,
        default=float(env("HUBSCALE_LEASE_DURATION_S", "15")),
        help="kubernetes: seconds a standby waits for a silent leader; renewed every third"
        " (env HUBSCALE_LEASE_DURATION_S)",
    )
    parser.add_argument("--log-level", default=env("HUBSCALE_LOG_LEVEL", "INFO"))
    return parser


async def run(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with (
        wiring.BACKENDS[args.backend](args, stop) as wired,
        PrometheusClient(args.prometheus_url) as prometheus,
    ):
        controller = Controller(
            wired.objects,
            wired.backend,
            prometheus,
            interval_s=args.interval,
            budget_cores=args.budget_cores,
        )
        host, _, port = args.listen.rpartition(":")
        server, _ = serve(controller.metrics, controller.health, host, int(port))
        companions = [asyncio.create_task(companion) for companion in wired.companions]
        log.info(
            "controller-start backend=%s prometheus=%s listen=%s",
            args.backend,
            args.prometheus_url,
            args.listen,
        )
        try:
            if wired.ready is not None:
                await wired.ready.wait()
            await controller.run(stop, wired.leading)
        finally:
            stop.set()
            await asyncio.gather(*companions, return_exceptions=True)
            server.shutdown()
            log.info("controller-stop clusters-left-running=yes")


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per query is noise
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
