"""``python -m autoscaler``: run the controller with the local backend or on Kubernetes.

Every flag has an environment variable (shown in ``--help``); a flag given wins over its variable.
Stopping the controller (SIGTERM, Ctrl-C) leaves the clusters running: they are users' work, and
the next start adopts them.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoscaler.controller import wiring
from autoscaler.controller.loop import Controller
from autoscaler.controller.metrics import serve
from autoscaler.controller.shard import parse_shard
from autoscaler.readers.prometheus import PrometheusClient
from hubscale.kube_conf import PROMETHEUS_POD_LABELS
from hubscale.names import is_label_key, is_label_value
from hubscale.state_dir import default_state_dir

log = logging.getLogger("autoscaler")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise ValueError("must be a number of seconds above 0")
    return value


def _listen(text: str) -> str:
    host, colon, port = text.rpartition(":")
    if not (host and colon and port.isdigit() and 0 < int(port) < 65536):
        raise ValueError("must be HOST:PORT, the port 1..65535")
    return text


def _budget(text: str) -> int | None:
    if not text.isdigit():
        raise ValueError("must be a whole number of cores, 0 for no limit")
    return int(text) or None


def _labels(text: str) -> dict[str, str]:
    pairs = [pair.partition("=") for pair in text.split(",")]
    labels = {key.strip(): value.strip() for key, _, value in pairs}
    if not all(equals for _, equals, _ in pairs) or len(labels) != len(pairs):
        raise ValueError("must be KEY=VALUE pairs, separated by commas, each key once")
    if not all(is_label_key(key) and is_label_value(value) for key, value in labels.items()):
        raise ValueError("must be valid Kubernetes label keys and values")
    return labels


def _one_of(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return text

    return parse


def _yes_no(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be 1, true, yes or on; or 0, false, no or off")


def _log_level(text: str) -> str:
    return _one_of("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")(text.upper())


@dataclass(frozen=True)
class Flag:
    """One option: ``--name`` if given, else the first of its environment variables set (not
    empty), else the default (a value, or a function giving it)."""

    name: str
    env: tuple[str, ...]
    parse: Callable[[str], Any]
    default: Any
    help: str

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")

    def default_value(self) -> Any:
        return self.default() if callable(self.default) else self.default

    def from_env(self, env: Mapping[str, str]) -> tuple[str, str] | None:
        """(variable, text) of the first variable set, or None."""
        return next(((name, env[name]) for name in self.env if env.get(name, "").strip()), None)


# The one table of the controller's options: flag, environment variables, type, default, help.
FLAGS = (
    Flag("state-dir", ("HUBSCALE_STATE_DIR",), Path, default_state_dir,
         "ComputeCluster objects and cluster runtime files"),
    Flag("file-sd-dir", ("HUBSCALE_FILE_SD_DIR",), Path, None,
         "where Prometheus file_sd target files go, by default STATE_DIR/targets"),
    Flag("prometheus-url", ("HUBSCALE_PROMETHEUS_URL",), str, "http://127.0.0.1:9090",
         "Prometheus HTTP API"),
    Flag("interval", ("HUBSCALE_INTERVAL_S",), _seconds, 2.0, "seconds between loops"),
    Flag("listen", ("HUBSCALE_CONTROLLER_LISTEN",), _listen, "127.0.0.1:9310",
         "HOST:PORT for /metrics and /healthz"),
    Flag("budget-cores", ("HUBSCALE_BUDGET_CORES",), _budget, None,
         "cores all clusters' workers may hold together, shared fairly between users;"
         " none or 0: no limit"),
    Flag("dry-run", ("HUBSCALE_DRY_RUN",), _yes_no, False,
         "decide and write status, Events and metrics as 'would scale to N'; resize nothing"),
    Flag("backend", ("HUBSCALE_BACKEND",), _one_of(*sorted(wiring.BACKENDS)), "local",
         f"where clusters run: {' or '.join(sorted(wiring.BACKENDS))}"),
    Flag("namespace", ("HUBSCALE_NAMESPACE", "POD_NAMESPACE"), str, "default",
         "kubernetes: the namespace of the ComputeClusters"),
    Flag("spark-image", ("HUBSCALE_SPARK_IMAGE",), str, "hubscale/spark:4.3.0",
         "kubernetes: image of Spark masters and workers"),
    Flag("flink-image", ("HUBSCALE_FLINK_IMAGE",), str, "hubscale/flink:2.3.0",
         "kubernetes: image of Flink JobManagers and TaskManagers"),
    Flag("monitoring-namespace", ("HUBSCALE_MONITORING_NAMESPACE",), str, "monitoring",
         "kubernetes: the namespace Prometheus runs in; the clusters' NetworkPolicies let its"
         " pods scrape from there only"),
    Flag("prometheus-pod-labels", ("HUBSCALE_PROMETHEUS_POD_LABELS",), _labels,
         lambda: dict(PROMETHEUS_POD_LABELS),
         "kubernetes: KEY=VALUE,... labels of the Prometheus pods (in the monitoring namespace)"
         " the clusters' NetworkPolicies let scrape"),
    Flag("leader-election", ("HUBSCALE_LEADER_ELECTION",), _yes_no, False,
         "kubernetes: one active replica at a time through a Lease"),
    Flag("lease-name", ("HUBSCALE_LEASE_NAME",), str, "hubscale-autoscaler",
         "kubernetes: the Lease's name"),
    Flag("lease-duration", ("HUBSCALE_LEASE_DURATION_S",), _seconds, 15.0,
         "kubernetes: seconds a standby waits for a silent leader; renewed every third"),
    Flag("shard", ("HUBSCALE_SHARD",), parse_shard, None,
         "I/N: handle only the clusters whose name hashes to I mod N, beside N-1 other"
         " replicas (each with its own --lease-name); budgets then apply per shard"),
    Flag("log-level", ("HUBSCALE_LOG_LEVEL",), _log_level, "INFO",
         "DEBUG, INFO, WARNING, ERROR or CRITICAL"),
)  # fmt: skip


def _typed(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """``parse`` for argparse: its ValueError's words become the error message."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"{text!r}: {error}") from None

    return convert


def parser() -> argparse.ArgumentParser:
    """The command line, one option per row of FLAGS; a flag not given stays unset."""
    cli = argparse.ArgumentParser(prog="python -m autoscaler", description=__doc__)
    for flag in FLAGS:
        shown = flag.default_value()
        default = "" if shown is None else f"; default {shown}"
        text = f"{flag.help} (env {' or '.join(flag.env)}{default})"
        if flag.parse is _yes_no:
            cli.add_argument(
                f"--{flag.name}",
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=text,
            )
        else:
            cli.add_argument(
                f"--{flag.name}",
                type=_typed(flag.parse),
                default=argparse.SUPPRESS,
                metavar=flag.dest.upper(),
                help=text,
            )
    return cli


def parse_args(
    argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None
) -> argparse.Namespace:
    """Each option from its flag, else its environment variable (``env``, default os.environ),
    else its default; a bad value exits with a message naming the flag or the variable."""
    env = os.environ if env is None else env
    cli = parser()
    args = cli.parse_args(argv)
    for flag in FLAGS:
        if hasattr(args, flag.dest):
            continue
        found = flag.from_env(env)
        if found is None:
            setattr(args, flag.dest, flag.default_value())
            continue
        variable, text = found
        try:
            setattr(args, flag.dest, flag.parse(text.strip()))
        except ValueError as error:
            cli.error(f"{variable}={text!r}: {error}")
    return args


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
            dry_run=args.dry_run,
            shard=args.shard,
        )
        host, _, port = args.listen.rpartition(":")
        server, _ = serve(controller.metrics, controller.health, host, int(port))
        companions = [asyncio.create_task(companion) for companion in wired.companions]
        log.info(
            "controller-start backend=%s prometheus=%s listen=%s dry-run=%s shard=%s",
            args.backend,
            args.prometheus_url,
            args.listen,
            args.dry_run,
            args.shard or "-",
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
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per query is noise
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
