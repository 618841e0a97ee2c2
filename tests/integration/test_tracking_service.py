"""MLflow under ``make up``, reached through the hub at ``/services/mlflow/`` as the hub's users.

One platform for the module (its real MLflow server, SQLite, artifacts on disk). User A logs a
run with MLflow's own client, as a kernel does (``MLFLOW_TRACKING_URI`` + ``_TOKEN``), claiming to
be B; the run is A's all the same. B reads it (the team reads experiments) but every write to it
is refused 403, and nothing B tried changed it. The client runs as the Spark kernel runs it
(``spawner/kernel_startup.py`` first, in a notebook's git repository): the run records the
commit, its clean state and the user's cluster, and a Spark ML ``fit`` is autologged.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from hub_config.access import SERVER_TOKEN_SCOPES
from hubscale import processes
from hubscale.engines import spark_python
from hubscale.state_dir import platform_pid_dir
from tests.integration.hub_fixtures import REPO, RunningHub, run_platform

SERVICE = "/services/mlflow"
API = f"{SERVICE}/api/2.0/mlflow"
CLIENT_S = 300.0  # MLflow's client imports in seconds, a local Spark in tens; beside other JVMs
# What the Spark kernel runs first (its PYTHONSTARTUP), with its directory on sys.path.
KERNEL_STARTUP = f"""
import runpy, sys
sys.path.insert(0, {str(REPO / "spawner")!r})
runpy.run_path({str(REPO / "spawner" / "kernel_startup.py")!r})
"""
# A's run, logged as a kernel logs one: the client says the user is B (USER, and the tag).
LOG_RUN = """
import json, mlflow
with mlflow.start_run(tags={"mlflow.user": "claimed"}) as run:
    mlflow.log_param("alpha", "0.5")
    mlflow.log_metric("rmse", 0.25)
    mlflow.log_text("hello", "notes/hello.txt")
print("RUN", json.dumps({"run_id": run.info.run_id, "experiment_id": run.info.experiment_id}))
"""
# A Spark ML fit in a cell, nothing of MLflow's in it: autologging records it. Local Spark
# (the test needs no cluster of the user's), one core.
SPARK_FIT = """
import json, mlflow
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.regression import LinearRegression
from pyspark.sql import SparkSession
spark = SparkSession.builder.master("local[1]").getOrCreate()
rows = spark.createDataFrame([(float(x), 2.0 * x + 1) for x in range(20)], ["x", "y"])
rows = VectorAssembler(inputCols=["x"], outputCol="features").transform(rows)
LinearRegression(labelCol="y", maxIter=5).fit(rows)
run = mlflow.last_active_run()
print("RUN", json.dumps({"run_id": run.info.run_id, "app_id": spark.sparkContext.applicationId}))
spark.stop()
"""


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    """One platform for the module (hubs are expensive), stopped at the end as Ctrl-C does."""
    yield from run_platform(tmp_path_factory.mktemp("tracking"))


def new_user(hub: RunningHub, prefix: str) -> tuple[str, str]:
    """A hub user and a token of theirs with a notebook server's scopes (what kernels hold)."""
    name = f"{prefix}-{secrets.token_hex(2)}"
    hub.create_user(name)
    token = {"note": "tracking test", "scopes": SERVER_TOKEN_SCOPES}
    response = hub.api("POST", f"/users/{quote(name)}/tokens", json=token)
    assert response.status_code == 201, response.text
    return name, response.json()["token"]


def call(hub: RunningHub, token: str, method: str, path: str, **kwargs) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{hub.settings.url}{path}"
    return httpx.request(method, url, headers=headers, timeout=60, **kwargs)


@pytest.fixture(scope="module")
def users(hub: RunningHub) -> dict[str, tuple[str, str]]:
    return {"a": new_user(hub, "ana"), "b": new_user(hub, "ben")}


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A notebook's git repository, committed and clean; its commit."""
    directory = tmp_path_factory.mktemp("notebooks")
    (directory / "train.py").write_text("# a notebook, paired\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    for args in (["init", "-q"], ["add", "train.py"], ["commit", "-q", "-m", "one"]):
        subprocess.run([*git, *args], cwd=directory, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True)
    return directory, head.stdout.decode().strip()


def in_kernel(
    hub: RunningHub, token: str, cwd: Path, script: str, user: str, cluster: str
) -> dict[str, str]:
    """Run ``script`` as the Spark kernel of ``cluster``'s user runs a cell (its environment,
    its startup, the notebook's directory), with ``user`` as the OS user; what it printed as
    ``RUN {json}``."""
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"{hub.settings.url}{SERVICE}",
        "MLFLOW_TRACKING_TOKEN": token,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "HUBSCALE_KERNEL_ENGINE": "spark",
        "HUBSCALE_SPARK_CLUSTER": cluster,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "USER": user,
        "LOGNAME": user,
    }
    result = subprocess.run(
        [str(spark_python()), "-c", KERNEL_STARTUP + script],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=CLIENT_S,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("RUN "))
    return json.loads(line.removeprefix("RUN "))


@pytest.fixture(scope="module")
def run(hub: RunningHub, users, repository: tuple[Path, str]) -> dict[str, str]:
    """A's run, logged by MLflow's client in the Spark kernel's Python, claiming to be B."""
    name_a, token_a = users["a"]
    name_b, _ = users["b"]
    script = LOG_RUN.replace("claimed", name_b)
    return in_kernel(hub, token_a, repository[0], script, name_b, f"{name_a}-spark")


def get_run(hub: RunningHub, token: str, run_id: str) -> httpx.Response:
    return call(hub, token, "GET", f"{API}/runs/get", params={"run_id": run_id})


def run_tags(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    return {tag["key"]: tag["value"] for tag in response.json()["run"]["data"]["tags"]}


def test_the_run_is_its_hub_users_whatever_the_client_claimed(hub, users, run):
    name_a, token_a = users["a"]

    response = get_run(hub, token_a, run["run_id"])

    assert response.status_code == 200, response.text
    logged = response.json()["run"]
    tags = {tag["key"]: tag["value"] for tag in logged["data"]["tags"]}
    assert (logged["info"]["user_id"], tags["mlflow.user"]) == (name_a, name_a)
    assert logged["data"]["params"] == [{"key": "alpha", "value": "0.5"}]
    assert [(m["key"], m["value"]) for m in logged["data"]["metrics"]] == [("rmse", 0.25)]


def test_a_kernels_run_records_the_notebooks_commit_and_the_users_cluster(
    hub, users, run, repository
):
    name_a, token_a = users["a"]

    tags = run_tags(get_run(hub, token_a, run["run_id"]))

    assert tags["mlflow.source.git.commit"] == tags["hubscale.git.commit"] == repository[1]
    assert tags["hubscale.git.dirty"] == "false"
    assert (tags["hubscale.engine"], tags["hubscale.cluster"]) == ("spark", f"{name_a}-spark")


def test_a_spark_ml_fit_in_the_spark_kernel_is_logged_as_the_users_run(hub, users, repository):
    """Autologging is on in the Spark kernel: a plain ``fit`` (no MLflow call) leaves a run with
    the estimator's params, its input dataset, the Spark application and the commit."""
    name_a, token_a = users["a"]

    run = in_kernel(hub, token_a, repository[0], SPARK_FIT, name_a, f"{name_a}-spark")

    logged = get_run(hub, token_a, run["run_id"]).json()["run"]
    params = {param["key"]: param["value"] for param in logged["data"]["params"]}
    tags = run_tags(get_run(hub, token_a, run["run_id"]))
    assert logged["info"]["user_id"] == name_a
    assert (params["maxIter"], params["labelCol"]) == ("5", "y")
    assert logged["inputs"]["dataset_inputs"], logged["inputs"]
    assert tags["hubscale.spark.app_id"] == run["app_id"]
    assert tags["mlflow.source.git.commit"] == repository[1]


def test_another_user_reads_the_run_and_its_artifact_but_cannot_change_either(hub, users, run):
    _, token_b = users["b"]
    run_id, experiment = run["run_id"], run["experiment_id"]
    artifact = f"{SERVICE}/api/2.0/mlflow-artifacts/artifacts/{experiment}/{run_id}/artifacts"
    metric = {"run_id": run_id, "key": "rmse", "value": 9.0, "timestamp": 0, "step": 0}
    tag = {"run_id": run_id, "key": "k", "value": "v"}

    assert get_run(hub, token_b, run_id).status_code == 200
    download = call(hub, token_b, "GET", f"{artifact}/notes/hello.txt")
    assert (download.status_code, download.text) == (200, "hello")
    refused = [
        call(hub, token_b, "POST", f"{API}/runs/log-metric", json=metric),
        call(hub, token_b, "POST", f"{API}/runs/log-parameter", json=tag),
        call(hub, token_b, "POST", f"{API}/runs/set-tag", json=tag),
        call(hub, token_b, "POST", f"{API}/runs/delete", json={"run_id": run_id}),
        call(hub, token_b, "PUT", f"{artifact}/notes/hello.txt", content=b"overwritten"),
    ]  # fmt: skip

    assert [r.status_code for r in refused] == [403] * len(refused), [r.text for r in refused]
    assert all(r.json()["error_code"] == "PERMISSION_DENIED" for r in refused)
    after = get_run(hub, token_b, run_id).json()["run"]
    assert after["info"]["lifecycle_stage"] == "active"
    assert [(m["key"], m["value"]) for m in after["data"]["metrics"]] == [("rmse", 0.25)]
    assert call(hub, token_b, "GET", f"{artifact}/notes/hello.txt").text == "hello"


def test_an_experiment_is_changed_only_by_its_creator_and_a_model_only_by_its_runs_user(
    hub, users, run
):
    (name_a, token_a), (_, token_b) = users["a"], users["b"]
    created = call(hub, token_a, "POST", f"{API}/experiments/create", json={"name": name_a})
    assert created.status_code == 200, created.text
    experiment = created.json()["experiment_id"]
    rename = {"experiment_id": experiment, "new_name": f"{name_a}-renamed"}
    model = call(
        hub,
        token_a,
        "POST",
        f"{API}/logged-models",
        json={"experiment_id": run["experiment_id"], "source_run_id": run["run_id"]},
    )
    assert model.status_code == 200, model.text
    model_tags = f"{API}/logged-models/{model.json()['model']['info']['model_id']}/tags"
    tag = {"tags": [{"key": "stage", "value": "x"}]}

    assert call(hub, token_b, "POST", f"{API}/experiments/update", json=rename).status_code == 403
    assert call(hub, token_b, "PATCH", model_tags, json=tag).status_code == 403
    assert call(hub, token_a, "POST", f"{API}/experiments/update", json=rename).status_code == 200
    assert call(hub, token_a, "PATCH", model_tags, json=tag).status_code == 200
    elsewhere = {"name": f"{name_a}-2", "artifact_location": "file:///etc"}
    assert (
        call(hub, token_a, "POST", f"{API}/experiments/create", json=elsewhere).status_code == 400
    )


def test_a_browser_signed_in_to_the_hub_reads_through_the_web_ui_but_writes_only_with_xsrf(
    hub, users, run
):
    """The hub's OAuth sign-in, as MLflow's web UI in a browser goes through it: the page and
    its POST searches work with the hub cookie alone; a write with only the cookie (what a page
    of another origin or a user's notebook output could send) is not accepted."""
    name_b, _ = users["b"]
    fetch = {"Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "same-origin"}
    with httpx.Client(base_url=hub.settings.url, timeout=60, follow_redirects=True) as browser:
        login = browser.get("/hub/login")
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', login.text).group(1)
        password = hub.settings.password_file.read_text().strip()
        browser.post("/hub/login", data={"username": name_b, "password": password, "_xsrf": xsrf})
        page = browser.get(f"{SERVICE}/")
        search = browser.post(
            f"{SERVICE}/ajax-api/2.0/mlflow/runs/search",
            json={"experiment_ids": [run["experiment_id"]]},
            headers=fetch,
        )
        delete = browser.post(
            f"{SERVICE}/ajax-api/2.0/mlflow/runs/delete",
            json={"run_id": run["run_id"]},
            headers=fetch,
            follow_redirects=False,
        )

    assert (page.status_code, page.url.path) == (200, f"{SERVICE}/"), page.text[:500]
    assert "<html" in page.text.lower()
    assert search.status_code == 200, search.text
    assert run["run_id"] in {r["info"]["run_id"] for r in search.json()["runs"]}
    assert delete.status_code == 403, delete.text


def test_requests_without_a_hub_identity_or_with_bad_input_get_a_clear_answer(hub, users, run):
    _, token_b = users["b"]

    anonymous = httpx.post(f"{hub.settings.url}{API}/runs/delete", json={"run_id": run["run_id"]})
    not_json = call(hub, token_b, "POST", f"{API}/runs/log-batch", content=b"{not json")
    unknown_run = call(hub, token_b, "POST", f"{API}/runs/delete", json={"run_id": "0" * 32})

    assert anonymous.status_code == 403
    assert (not_json.status_code, not_json.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert unknown_run.status_code == 404, unknown_run.text


def listening_tcp_inodes() -> set[str]:
    """The socket inodes of every listening TCP socket on the machine (IPv4 and IPv6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                found.add(fields[9])
    return found


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    return inodes


def test_make_up_keeps_mlflow_in_the_state_directory_reachable_only_by_its_socket(
    hub: RunningHub, run
):
    """MLflow's data and socket sit in a 0700 directory, and none of its processes listens on
    TCP: no account on the machine can reach it but through the hub's service."""
    mlflow = hub.state_dir / "mlflow"
    stored = mlflow / "artifacts" / run["experiment_id"] / run["run_id"] / "artifacts"
    server = processes.running_pid(platform_pid_dir(hub.state_dir) / "mlflow.pid")
    assert server is not None
    pids = [server, *processes.children(server)]

    assert (mlflow / "mlflow.sqlite").is_file()
    assert (stored / "notes" / "hello.txt").read_text() == "hello"
    assert stat.S_ISSOCK((mlflow / "mlflow.sock").stat().st_mode)
    assert stat.S_IMODE(mlflow.stat().st_mode) == 0o700
    assert len(pids) >= 2, "the mlflow command and its uvicorn server"
    assert not set().union(*map(socket_inodes, pids)) & listening_tcp_inodes()
