"""``python -m usage``: the ``hubscale`` hub service (JupyterHub starts it as a managed service).

It samples the clusters every ``--sample-every-s`` into the accounting database and serves the API
and the page on ``JUPYTERHUB_SERVICE_URL`` under ``JUPYTERHUB_SERVICE_PREFIX``. A database URL may
hold a password, so it comes from the environment (``HUBSCALE_USAGE_DB_URL``), never the command.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path
from urllib.parse import urlsplit

from tornado.ioloop import IOLoop, PeriodicCallback

from hubscale.state_dir import default_state_dir
from hubscale.store import LocalClusterStore
from usage.access import HubAdmins
from usage.busy import PrometheusBusyCores
from usage.clusters import ClusterSource, LocalClusters
from usage.db import AccountingDB, default_url
from usage.sampler import Sampler
from usage.service import make_app

log = logging.getLogger("usage")

DB_URL_VARIABLE = "HUBSCALE_USAGE_DB_URL"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m usage", description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=default_state_dir())
    parser.add_argument("--prometheus-url", default="http://127.0.0.1:9090")
    parser.add_argument("--sample-every-s", type=float, default=5.0)
    parser.add_argument(
        "--backend",
        choices=("local", "kubernetes"),
        default="local",
        help="where the ComputeClusters are: the state directory's files, or custom resources",
    )
    parser.add_argument(
        "--namespace",
        default=os.environ.get("POD_NAMESPACE", "default"),
        help="kubernetes: the namespace of the ComputeClusters (default: the pod's)",
    )
    return parser.parse_args(argv)


def cluster_source(args: argparse.Namespace) -> ClusterSource:
    """The clusters the service samples: local files or the namespace's custom resources."""
    if args.backend == "kubernetes":
        from usage.kube_clusters import KubeClusters, api_client  # the kubernetes client: only here

        return KubeClusters(api_client(), args.namespace)
    return LocalClusters(LocalClusterStore(args.state_dir))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    db = AccountingDB(os.environ.get(DB_URL_VARIABLE) or default_url(args.state_dir))
    clusters = cluster_source(args)
    sampler = Sampler(clusters, PrometheusBusyCores(args.prometheus_url), db)
    admins = HubAdmins(os.environ["JUPYTERHUB_API_URL"], os.environ["JUPYTERHUB_API_TOKEN"])
    app = make_app(os.environ["JUPYTERHUB_SERVICE_PREFIX"], db, clusters, admins)
    service_url = urlsplit(os.environ["JUPYTERHUB_SERVICE_URL"])
    app.listen(service_url.port or 80, address=service_url.hostname or "127.0.0.1")
    loop = IOLoop.current()

    async def sample() -> None:
        try:
            count = await loop.run_in_executor(None, sampler.sample, time.time())
        except Exception:  # a bad round is logged; the next one tries again
            log.exception("sample-failed")
        else:
            log.debug("sampled clusters=%d", count)

    PeriodicCallback(sample, args.sample_every_s * 1000).start()
    log.info("usage-service-up url=%s", os.environ["JUPYTERHUB_SERVICE_URL"])
    try:
        loop.start()
    except KeyboardInterrupt:  # the hub stops its services with SIGINT
        log.info("usage-service-stopping")
    finally:
        db.close()


if __name__ == "__main__":
    main()
