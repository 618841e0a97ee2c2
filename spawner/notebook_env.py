"""How a user's kernels reach their own clusters: the notebook server's environment and arguments.

Pure functions of the clusters' client descriptions (what the controller publishes per cluster:
``client.json`` locally), shared by the local and Kubernetes spawners. The caller adds what depends
on where the engines are installed (``SPARK_HOME``, the Python of each engine).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePath

from hubscale.web_uis import FLINK_CONF_DIR, FLINK_REST_URL, SPARK_MASTER_UI

SPARK_KERNEL = "spark"  # the default kernel: "Python 3 (Spark)"
FLINK_KERNEL = "flink"  # "Python 3 (Flink)"
KERNELS = (SPARK_KERNEL, FLINK_KERNEL)
REVIEW_EXTENSION = "hubscale_nb.server"  # a Jupyter server extension (module name)
CLUSTER_UI_EXTENSION = "hubscale_lab.server"  # the clusters' web UIs, launcher entries
# Its /proxy/<port>/ forwards to any port of the host, whatever its allow-list says: off.
SERVER_PROXY_EXTENSION = "jupyter_server_proxy"
ACTIVITY_EXTENSION = "hubscale_nb.activity"  # kernels per engine for Prometheus (heads on demand)


class ClientError(ValueError):
    """A cluster's client description lacks what a notebook needs to reach it."""


def spark_env(client: Mapping[str, str]) -> dict[str, str]:
    """``SPARK_CONF_DIR`` (spark-defaults: master URL, auth secret, dynamic allocation) and more.

    ``SparkSession.builder.getOrCreate()`` reads spark.master from spark-defaults; ``SPARK_MASTER``
    only tells the user where their master is; the server forwards ``SPARK_MASTER_UI``
    (``hubscale_lab``).
    """
    for key in ("master_url", "conf_dir"):
        if not client.get(key):
            raise ClientError(f"Spark client description has no {key!r}: {dict(client)}")
    env = {"SPARK_CONF_DIR": client["conf_dir"], "SPARK_MASTER": client["master_url"]}
    if client.get("master_ui"):
        env[SPARK_MASTER_UI] = client["master_ui"]
    return env


def flink_env(client: Mapping[str, str], client_directory: PurePath) -> dict[str, str]:
    """PyFlink's environment: its Java gateway runs as ``flink run`` against the user's cluster.

    ``SUBMIT_ARGS=remote`` is PyFlink's own switch (what ``pyflink-shell.sh remote`` uses): the
    gateway is launched by ``flink run``, so ``TableEnvironment.create(...)`` and
    ``StreamExecutionEnvironment.get_execution_environment()`` submit to the cluster named in
    ``FLINK_CONF_DIR`` instead of starting a mini cluster inside the kernel.
    """
    if not client.get("rest_url"):
        raise ClientError(f"Flink client description has no 'rest_url': {dict(client)}")
    return {
        FLINK_CONF_DIR: str(client_directory / "conf"),
        "FLINK_LOG_DIR": str(client_directory / "logs"),
        FLINK_REST_URL: client["rest_url"],
        "SUBMIT_ARGS": "remote",
    }


def tracking_env(tracking_url: str, api_token: str) -> dict[str, str]:
    """MLflow's client in the kernels: the hub's tracking service, as the server's own user.

    The token is the server's own (``JUPYTERHUB_API_TOKEN``, which may reach that service): in
    the environment only, never on a command line. No usage telemetry leaves the machine.
    """
    return {
        "MLFLOW_TRACKING_URI": tracking_url.rstrip("/"),
        "MLFLOW_TRACKING_TOKEN": api_token,
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }


def server_args(default_kernel: str = SPARK_KERNEL, activity: bool = False) -> list[str]:
    """Notebook server options: only the engine kernels, Spark's by default, the notebook
    review page (``<server>/hubscale/review``), the clusters' web UIs (``<server>/hubscale/ui/``;
    jupyter-server-proxy's own routes off) and, with ``activity`` (local mode: the image for
    Kubernetes has no ``spawner`` package yet), the activity metrics (``spawner.activity``)."""
    extensions = [
        REVIEW_EXTENSION,
        CLUSTER_UI_EXTENSION,
        *([ACTIVITY_EXTENSION] if activity else []),
    ]
    return [
        *(f"--KernelSpecManager.allowed_kernelspecs={kernel}" for kernel in KERNELS),
        "--KernelSpecManager.ensure_native_kernel=False",
        f"--MappingKernelManager.default_kernel_name={default_kernel}",
        *(f"--ServerApp.jpserver_extensions={extension}=True" for extension in extensions),
        f"--ServerApp.jpserver_extensions={SERVER_PROXY_EXTENSION}=False",
    ]
