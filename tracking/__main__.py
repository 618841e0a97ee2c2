"""``python -m tracking``: the ``mlflow`` hub service (JupyterHub starts it as a managed service).

It serves ``JUPYTERHUB_SERVICE_URL`` under ``JUPYTERHUB_SERVICE_PREFIX`` and forwards what the
permission model (``tracking.rules``) allows to the MLflow server on its Unix socket.
"""

from __future__ import annotations

import argparse
import logging
import os
from urllib.parse import urlsplit

from tornado.ioloop import IOLoop

from tracking.service import MAX_BODY_BYTES, make_app

log = logging.getLogger("tracking")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tracking", description=__doc__)
    parser.add_argument("--mlflow-socket", required=True, help="MLflow's server's Unix socket")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = make_app(os.environ["JUPYTERHUB_SERVICE_PREFIX"], args.mlflow_socket)
    service_url = urlsplit(os.environ["JUPYTERHUB_SERVICE_URL"])
    port = service_url.port or 80
    app.listen(port, address=service_url.hostname or "127.0.0.1", max_body_size=MAX_BODY_BYTES)
    log.info(
        "tracking-service-up url=%s mlflow=%s",
        os.environ["JUPYTERHUB_SERVICE_URL"],
        args.mlflow_socket,
    )
    try:
        IOLoop.current().start()
    except KeyboardInterrupt:  # the hub stops its services with SIGINT
        log.info("tracking-service-stopping")


if __name__ == "__main__":
    main()
