"""The hub end to end, as ``make up`` runs it: real hub, proxy, controller, Prometheus and JVMs.

One platform for the module; users get names of their own (cluster names derive from them). Code
runs in users' kernels through the proxy, as JupyterLab would send it.
"""

from __future__ import annotations

import html
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from hubscale import processes
from hubscale.state_dir import runtime_dir, servers_dir
from local_stack.stack import Stack
from tests.integration.browser import chromium, log_in, visible_text, wait
from tests.integration.flink_fixtures import client_tls
from tests.integration.hub_fixtures import FLINK_JOB, SPARK_JOB, RunningHub, run_platform, unique
from tests.support import wait_for

SPARK_SESSION_UI = """
from pyspark.sql import SparkSession
spark = SparkSession.builder.appName("hubscale-ui-test").getOrCreate()
print("UI", spark.sparkContext.uiWebUrl)
"""
SHOW_ENV = """
import json, os
names = ["SPARK_MASTER", "SPARK_CONF_DIR", "FLINK_REST_URL", "FLINK_CONF_DIR", "SUBMIT_ARGS"]
print("ENV", json.dumps({name: os.environ.get(name) for name in names}))
"""
NOTEBOOK_IN_GIT = """
import json, os, subprocess
repo = os.path.join(os.environ["HOME"], "review-demo")
os.makedirs(repo, exist_ok=True)
def notebook(source, output, count):
    cell = {"cell_type": "code", "execution_count": count, "id": "c1", "metadata": {},
            "outputs": [{"name": "stdout", "output_type": "stream", "text": [output]}],
            "source": [source]}
    return json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
def git(*args):
    identity = ["-c", "user.name=Alice", "-c", "user.email=alice@example.org"]
    return subprocess.run(["git", *identity, *args], cwd=repo, check=True,
                          capture_output=True, text=True).stdout
def write(text):
    with open(os.path.join(repo, "analysis.ipynb"), "w") as file:
        file.write(text)
git("init", "-q", "-b", "main")
write(notebook("print(1)", "1\\n", 1))
git("add", "analysis.ipynb")
git("commit", "-q", "-m", "first")
write(notebook("print(2)", "2\\n", 7))
print("DIFF", json.dumps(git("diff", "--no-color", "analysis.ipynb")))
git("commit", "-q", "-am", "second")
"""
INTRUDER = """
import os, signal, subprocess, sys, time
driver = (
    "from pyspark.sql import SparkSession\\n"
    "spark = SparkSession.builder.master({master!r}).appName('intruder').getOrCreate()\\n"
    "print('RESULT', spark.sparkContext.parallelize(range(10), 2).sum(), flush=True)\\n"
)
process = subprocess.Popen([sys.executable, "-c", driver], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, start_new_session=True)
verdict, deadline = "no answer", time.monotonic() + 150
for line in process.stdout:
    if line.startswith("RESULT"):
        verdict = "ran"
        break
    if "SaslException" in line or "Expected SaslMessage" in line:
        verdict = "refused"
        break
    if time.monotonic() > deadline:
        break
os.killpg(process.pid, signal.SIGKILL)
process.wait()
print("VERDICT", verdict)
"""


def alive(pid: int) -> bool:
    """A process with this pid runs (a zombie waiting for its parent to reap it does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


@dataclass
class User:
    """A user with a running default server."""

    name: str
    spawn_to_ready_s: float


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    """One platform for the module, stopped at the end as Ctrl-C stops it (nothing left over)."""
    yield from run_platform(tmp_path_factory.mktemp("hub"))


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    """One headless chromium for the module's UI tests; each signs in as its own user."""
    yield from chromium()


def sign_in(browser: WebDriver, hub: RunningHub, user: str) -> None:
    log_in(browser, hub.settings.url, user, hub.settings.password_file.read_text().strip())


@pytest.fixture(scope="module")
def alice(hub: RunningHub) -> User:
    name = unique("alice")
    started = time.monotonic()
    hub.start_server(name, options={"profile": "small", "spark_max_workers": 2})
    return User(name, time.monotonic() - started)


@pytest.fixture(scope="module")
def bob(hub: RunningHub) -> User:
    name = unique("bob")
    started = time.monotonic()
    hub.start_server(name)
    return User(name, time.monotonic() - started)


class MaxWorkers:
    """Counts a cluster's worker JVMs in the background; the most seen at once."""

    def __init__(self, hub: RunningHub, cluster: str, prefix: str) -> None:
        self.most = 0
        self._stop = threading.Event()

        def watch() -> None:
            while not self._stop.wait(0.5):
                workers = [role for role in hub.jvm_pids(cluster) if role.startswith(prefix)]
                self.most = max(self.most, len(workers))

        self._thread = threading.Thread(target=watch, daemon=True)

    def __enter__(self) -> MaxWorkers:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def test_hub_metrics_are_open_to_prometheus(hub):
    response = httpx.get(f"{hub.settings.url}/hub/metrics", timeout=10)
    assert response.status_code == 200
    assert "jupyterhub_" in response.text
    prometheus = f"http://127.0.0.1:{hub.settings.prometheus_port}/api/v1/query"

    def hub_scraped() -> bool:
        answer = httpx.get(prometheus, params={"query": 'up{role="hub"}'}, timeout=5).json()
        return [r["value"][1] for r in answer["data"]["result"]] == ["1"]

    wait_for(hub_scraped, timeout_s=60, every_s=1)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"profile": "small", "spark_max_workers": 99}, "spark_max_workers"),
        ({"profile": "small", "gpus": 1}, "gpus"),
        ({"profile": "huge"}, "profile"),
        ({"profile": "small", "flink_max_workers": "2"}, "flink_max_workers"),
    ],
)
def test_bad_user_options_get_a_400_naming_the_option_and_start_nothing(hub, options, named):
    user = unique("carol")
    hub.create_user(user)
    response = hub.spawn(user, options=options)
    assert response.status_code == 400, response.text
    assert named in response.json()["message"]
    assert hub.server_model(user) is None
    assert not [c for c in hub.store.list() if c.cluster and c.cluster.spec.owner == user]


def test_the_spawn_form_offers_the_profiles_and_shows_a_bad_option(hub):
    user = unique("dana")
    with httpx.Client(base_url=hub.settings.url, timeout=60) as browser:
        login = browser.get("/hub/login")
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', login.text).group(1)
        password = hub.settings.password_file.read_text().strip()
        browser.post("/hub/login", data={"username": user, "password": password, "_xsrf": xsrf})
        form = browser.get("/hub/spawn")
        assert form.status_code == 200
        assert 'value="small"' in form.text and 'name="large.spark_max_workers"' in form.text
        action = html.unescape(re.search(r'id="spawn_form"\s+action="([^"]+)"', form.text)[1])
        fields = {
            "profile": "small",
            "small.spark_max_workers": "99",
            "large.spark_max_workers": "8",
        }
        refused = browser.post(action, data=fields)
    assert refused.status_code == 400
    assert "spark_max_workers: must be at most 4 in profile &#39;small&#39;, got 99" in refused.text
    assert hub.server_model(user) is None
    assert not [c for c in hub.store.list() if c.cluster and c.cluster.spec.owner == user]


def test_in_a_browser_the_spawn_form_holds_back_a_limit_above_the_profiles(hub, browser, tmp_path):
    """Chromium shows the profiles' own fields and does not send a value above the profile's
    bound (the server's 400 above is for clients that send it anyway)."""
    user = unique("erin")
    sign_in(browser, hub, user)
    browser.get(f"{hub.settings.url}/hub/spawn")
    profiles = browser.find_elements(By.CSS_SELECTOR, 'input[type="radio"][name="profile"]')
    assert {radio.get_attribute("value") for radio in profiles} >= {"small", "large"}
    field = browser.find_element(By.NAME, "small.spark_max_workers")
    field.clear()
    field.send_keys("99")
    browser.find_element(By.CSS_SELECTOR, '#spawn_form [type="submit"]').click()
    time.sleep(1.0)  # a submitted form would be navigating now
    browser.save_screenshot(str(tmp_path / "spawn-form.png"))
    assert browser.execute_script("return arguments[0].validity.rangeOverflow", field) is True
    assert browser.current_url.endswith("/hub/spawn")
    assert hub.server_model(user) is None


def test_in_a_browser_a_first_login_opens_the_welcome_notebook_then_both_engines_kernels(
    hub, alice, browser, tmp_path
):
    sign_in(browser, hub, alice.name)
    browser.get(f"{hub.server_url(alice.name)}lab")
    heading = visible_text(browser, ".jp-NotebookPanel .jp-RenderedMarkdown h1")
    assert heading.startswith("Welcome to hubscale")  # rendered, in the Spark notebook
    wait(browser).until(lambda d: "Python 3 (Spark)" in visible_text(d, ".jp-KernelName"))
    browser.save_screenshot(str(tmp_path / "welcome.png"))

    browser.get(f"{hub.server_url(alice.name)}lab?reset")  # JupyterLab's own layout: a launcher
    visible_text(browser, ".jp-Launcher-body")
    wait(browser).until(lambda d: "Python 3 (Flink)" in d.page_source)  # kernel specs load later
    browser.save_screenshot(str(tmp_path / "jupyterlab.png"))
    cards = [card.text for card in browser.find_elements(By.CSS_SELECTOR, ".jp-LauncherCard")]
    for engine in ("Spark", "Flink"):  # a notebook and a console each
        assert cards.count(f"Python 3 ({engine})") == 2, cards

    def platform_cards(driver: WebDriver) -> list[str]:  # jupyter-server-proxy adds them later
        shown = [card.text for card in driver.find_elements(By.CSS_SELECTOR, ".jp-LauncherCard")]
        titles = ("My clusters", "Spark master", "Flink dashboard", "Review branch…")
        found = [title for title in titles if any(text.startswith(title) for text in shown)]
        return found if len(found) == len(titles) else []

    wait(browser).until(platform_cards)
    browser.save_screenshot(str(tmp_path / "jupyterlab-launcher.png"))


def test_jupyterlab_asks_users_nothing_about_news_and_fetches_nothing_from_the_internet(hub, alice):
    """The platform's JupyterLab defaults (overrides.json) are what the user's server serves."""
    response = httpx.get(
        f"{hub.server_url(alice.name)}lab/api/settings/@jupyterlab/apputils-extension:notification",
        headers={"Authorization": f"token {hub.token}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    defaults = {
        key: value["default"] for key, value in response.json()["schema"]["properties"].items()
    }
    assert defaults["fetchNews"] == "false"
    assert defaults["checkForUpdates"] is False


def head_condition(hub: RunningHub, cluster: str) -> tuple[str, str]:
    """The cluster's HeadRunning condition: (status, message)."""
    status = hub.store.get(cluster).status
    found = [c for c in status.conditions if c.type == "HeadRunning"] if status else []
    return (found[0].status, found[0].message) if found else ("", "")


def test_heads_start_with_the_first_kernel_of_their_engine_and_stop_after_the_idle_window(hub):
    """Heads on demand: JupyterLab comes up with no master or JobManager; a Spark kernel's first
    session waits for the master (started as the controller sees the kernel), runs a job, and
    the master stops once no kernel, worker or job has needed it for the idle window."""
    name = unique("carol")
    hub.start_server(name, options={"profile": "small", "idle_timeout_seconds": 60})
    spark, flink = hub.cluster(name, "spark"), hub.cluster(name, "flink")
    # the server's activity read (scraped with the dedicated token): no kernel, no head

    def no_head_wanted() -> bool:  # one condition's status and message, not two reads of it
        state, why = head_condition(hub, spark)
        return state == "False" and "no Spark kernel" in why

    wait_for(no_head_wanted, timeout_s=60)
    assert "master" not in hub.jvm_pids(spark) and "jobmanager" not in hub.jvm_pids(flink)

    started = time.monotonic()
    kernel = hub.kernel(name, "spark")
    run = kernel.execute(SPARK_JOB, timeout_s=300)
    print(f"kernel-start-to-job-done seconds={time.monotonic() - started:.1f}")
    assert run.status == "ok", run.error or run.stderr[-3000:]
    assert run.lines("RESULT") == [str(2 * sum(range(100000)))]
    assert "hubscale: waiting for your Spark master" in run.stderr
    assert "master" in hub.jvm_pids(spark)
    assert "jobmanager" not in hub.jvm_pids(flink), "a Spark kernel starts no JobManager"
    assert head_condition(hub, spark)[0] == "True"

    kernel.shutdown()
    hub.kernels.remove(kernel)
    stopping = time.monotonic()
    wait_for(lambda: "master" not in hub.jvm_pids(spark), timeout_s=300, every_s=1.0)
    print(f"kernel-shutdown-to-master-stopped seconds={time.monotonic() - stopping:.1f}")
    assert not hub.jvm_pids(spark), "no worker left behind either"
    # the loop that stopped the master writes the status after it: waited for, not read once
    wait_for(lambda: hub.store.get(spark).status.phase == "Idle", timeout_s=60)
    hub.stop_server(name)


def test_a_spark_job_in_the_users_kernel_runs_on_their_own_cluster_which_grows(hub, alice):
    print(f"spawn-to-ready user={alice.name} seconds={alice.spawn_to_ready_s:.1f}")
    spark = hub.client(alice.name, "spark")
    kernel = hub.kernel(alice.name, "spark")
    with MaxWorkers(hub, hub.cluster(alice.name, "spark"), "worker-") as workers:
        started = time.monotonic()
        run = kernel.execute(SPARK_JOB, timeout_s=300)
        print(f"spark-job seconds={time.monotonic() - started:.1f}")
    assert run.status == "ok", run.error or run.stderr[-3000:]
    assert run.lines("MASTER") == [spark["master_url"]]
    assert run.lines("RESULT") == [str(2 * sum(range(100000)))]
    assert workers.most >= 1, "the cluster did not grow for the job"


def test_a_flink_sql_job_from_the_users_kernel_runs_on_their_flink_cluster(hub, alice):
    flink = hub.client(alice.name, "flink")
    kernel = hub.kernel(alice.name, "flink")
    with MaxWorkers(hub, hub.cluster(alice.name, "flink"), "taskmanager-") as taskmanagers:
        started = time.monotonic()
        run = kernel.execute(FLINK_JOB, timeout_s=360)
        print(f"flink-job seconds={time.monotonic() - started:.1f}")
    assert run.status == "ok", run.error or run.stderr[-3000:]
    assert run.lines("ROWS") == ["[(1, 1), (2, 4), (3, 9), (4, 16)]"]
    (job_id,) = run.lines("JOB")

    def finished() -> bool:  # Flink serves a job's graph cached for a few seconds: waited for
        url = f"{flink['rest_url']}/jobs/{job_id}"
        return httpx.get(url, timeout=10, verify=client_tls(flink)).json()["state"] == "FINISHED"

    wait_for(finished, timeout_s=60)
    assert taskmanagers.most >= 1, "the Flink cluster did not grow for the job"


def test_the_users_server_forwards_their_own_spark_and_flink_uis_and_no_other_port(
    hub, alice, bob, browser, tmp_path
):
    """``<server>/hubscale/ui/``: alice's Spark master UI and Flink dashboard (over the cluster's
    mutual TLS) through her server; no other port of the machine, bob's master UI included."""
    with_head(hub, alice.name, "flink")
    session = hub.kernel(alice.name, "spark").execute(SPARK_SESSION_UI, timeout_s=300)
    assert session.status == "ok", session.error or session.stderr[-3000:]
    (app_ui,) = session.lines("UI")
    server, headers = hub.server_url(alice.name), {"Authorization": f"token {hub.token}"}
    master_url = hub.client(alice.name, "spark")["master_url"]

    def forwarded(path: str, expected: str) -> bool:
        response = httpx.get(f"{server}{path}", headers=headers, timeout=60)
        return response.status_code == 200 and expected in response.text

    wait_for(lambda: forwarded("hubscale/ui/spark-master/", master_url), timeout_s=120, every_s=1)
    wait_for(lambda: forwarded("hubscale/ui/flink/config", "flink-version"), timeout_s=120)
    assert forwarded("hubscale/ui/flink/", "<title>Apache Flink Web Dashboard</title>")
    app = f"hubscale/ui/spark-app/{urlsplit(app_ui).port}"  # the kernel's driver
    wait_for(lambda: forwarded(f"{app}/jobs/", "hubscale-ui-test - Spark Jobs"), timeout_s=60)
    linked = f'href="{urlsplit(server).path}{app}"'  # the master UI's link to it, forwarded
    wait_for(lambda: forwarded("hubscale/ui/spark-master/", linked), timeout_s=60, every_s=1)
    config = httpx.get(f"{server}hubscale/ui/flink/config", headers=headers, timeout=60).json()

    clusters = httpx.get(f"{server}hubscale/clusters", headers=headers, timeout=60)
    assert clusters.status_code == 200, clusters.text  # "My clusters": the controller's status
    assert re.search(r"<th>Spark</th><td>(Pending|Ready|Scaling|Idle)</td>", clusters.text)

    bob_master_ui = urlsplit(hub.client(bob.name, "spark")["master_ui"]).port
    for port in (bob_master_ui, hub.settings.prometheus_port):
        for path in (f"proxy/{port}/", f"proxy/127.0.0.1:{port}/api/v1/status/config"):
            response = httpx.get(
                f"{server}{path}", headers=headers, timeout=60, follow_redirects=True
            )
            assert response.status_code == 404, (path, response.text[:300])

    sign_in(browser, hub, alice.name)
    browser.get(f"{server}hubscale/ui/spark-master/")
    wait(browser).until(lambda d: master_url in d.title)  # "Spark Master at spark://..."
    browser.save_screenshot(str(tmp_path / "spark-master-ui.png"))
    browser.get(f"{server}hubscale/ui/flink/")  # the dashboard asks the REST API through it

    def dashboard_drawn(driver: WebDriver) -> bool:
        text = driver.find_element(By.TAG_NAME, "body").text
        return "Available Task Slots" in text and config["flink-version"] in text

    wait(browser).until(dashboard_drawn)
    browser.save_screenshot(str(tmp_path / "flink-dashboard.png"))


def test_each_user_sees_only_their_own_clusters(hub, alice, bob):
    kernel = hub.kernel(bob.name, "spark")
    run = kernel.execute(SHOW_ENV, timeout_s=120)
    (shown,) = run.lines("ENV")
    env = json.loads(shown)
    bob_spark, alice_spark = hub.client(bob.name, "spark"), hub.client(alice.name, "spark")
    assert env["SPARK_MASTER"] == bob_spark["master_url"] != alice_spark["master_url"]
    assert env["SPARK_CONF_DIR"] == bob_spark["conf_dir"]
    assert env["FLINK_REST_URL"] == hub.client(bob.name, "flink")["rest_url"]
    assert env["SUBMIT_ARGS"] == "remote"
    flink_conf = servers_dir(hub.state_dir) / hub.cluster(bob.name, "flink") / "conf"
    assert env["FLINK_CONF_DIR"] == str(flink_conf)
    defaults = (Path(bob_spark["conf_dir"]) / "spark-defaults.conf").read_text()
    assert bob_spark["master_url"] in defaults and alice_spark["master_url"] not in defaults


def test_git_in_the_users_server_diffs_notebooks_by_cell_and_the_review_page_shows_it(
    hub, alice, browser, tmp_path
):
    run = hub.kernel(alice.name, "spark").execute(NOTEBOOK_IN_GIT, timeout_s=120)
    assert run.status == "ok", run.error or run.stderr[-3000:]
    (shown,) = run.lines("DIFF")
    diff = json.loads(shown)
    assert diff.startswith("nbdiff "), diff  # nbdime's driver, not git's line diff
    assert "## modified /cells/0/source" in diff and "+  print(2)" in diff

    page = httpx.get(
        f"{hub.server_url(alice.name)}hubscale/review",
        params={"repo": "review-demo", "range": "main~1..main"},
        headers={"Authorization": f"token {hub.token}"},
        timeout=60,
    )
    assert page.status_code == 200, page.text[-2000:]
    assert "analysis.ipynb" in page.text and 'class="nbdime-frame"' in page.text
    outside = httpx.get(
        f"{hub.server_url(alice.name)}hubscale/review",
        params={"repo": "../.."},
        headers={"Authorization": f"token {hub.token}"},
        timeout=60,
    )
    assert outside.status_code == 400 and "outside" in outside.text

    sign_in(browser, hub, alice.name)
    browser.get(f"{hub.server_url(alice.name)}hubscale/review?repo=review-demo&range=main~1..main")
    assert "analysis.ipynb" in visible_text(browser, "h2")
    frame = wait(browser).until(lambda d: d.find_element(By.CSS_SELECTOR, "iframe.nbdime-frame"))
    browser.switch_to.frame(frame)  # nbdime's web diff, drawn in its frame
    wait(browser).until(lambda d: d.execute_script("return document.body.dataset.rendered"))
    sources = browser.execute_script(
        "return [...document.querySelectorAll('.cm-content')].map((e) => e.innerText)"
    )
    browser.switch_to.default_content()
    browser.save_screenshot(str(tmp_path / "review.png"))
    assert "print(1)" in sources and "print(2)" in sources, sources


def with_head(hub: RunningHub, user: str, engine: str) -> None:
    """Heads run on demand: open a kernel of the engine for ``user`` and wait for the head."""
    hub.kernel(user, engine)
    head = "master" if engine == "spark" else "jobmanager"
    wait_for(lambda: head in hub.jvm_pids(hub.cluster(user, engine)), timeout_s=120)


def test_another_users_kernel_is_refused_by_the_master(hub, alice, bob):
    alice_spark = hub.client(alice.name, "spark")
    with_head(hub, alice.name, "spark")
    kernel = hub.kernel(bob.name, "spark")
    run = kernel.execute(INTRUDER.format(master=alice_spark["master_url"]), timeout_s=240)
    assert run.lines("VERDICT") == ["refused"], run.stdout[-3000:]
    state = httpx.get(f"{alice_spark['master_ui']}/json/", timeout=10).json()
    apps = [app["name"] for app in state["activeapps"] + state["completedapps"]]
    assert "intruder" not in apps


def test_named_servers_get_clusters_of_their_own(hub, alice):
    hub.start_server(alice.name, "second", {"profile": "large", "spark_max_workers": 1})
    second = hub.store.get(hub.cluster(alice.name, "spark", "second"))
    default = hub.store.get(hub.cluster(alice.name, "spark"))
    assert second is not None and default is not None and second.name != default.name
    assert (second.cluster.spec.server, second.cluster.spec.max_workers) == ("second", 1)
    assert second.cluster.spec.worker.cores == 2  # the large profile
    assert hub.client(alice.name, "spark", "second") != hub.client(alice.name, "spark")
    hub.stop_server(alice.name, "second")
    assert hub.store.get(second.name) is None
    assert hub.store.get(default.name) is not None


def test_stopping_the_server_stops_its_clusters(hub, alice):
    names = [hub.cluster(alice.name, engine) for engine in ("spark", "flink")]
    for engine in ("spark", "flink"):
        with_head(hub, alice.name, engine)
    pids = [pid for name in names for pid in hub.jvm_pids(name).values()]
    assert pids, "the clusters' JVMs should be running"
    started = time.monotonic()
    hub.stop_server(alice.name)
    assert all(hub.store.get(name) is None for name in names)

    def all_gone() -> bool:
        return not any(map(alive, pids)) and not any(
            runtime_dir(hub.state_dir, name).exists() for name in names
        )

    wait_for(all_gone, timeout_s=180, every_s=0.5)
    print(f"stop-to-jvms-gone seconds={time.monotonic() - started:.1f}")


def test_a_killed_platform_comes_back_with_the_users_clusters_still_managed(hub, bob):
    names = [hub.cluster(bob.name, engine) for engine in ("spark", "flink")]
    jvms = {name: hub.jvm_pids(name) for name in names}
    server_pid = hub.api("GET", f"/users/{bob.name}").json()["servers"][""]["state"]["pid"]
    for component in ("up", "hub", "controller", "prometheus"):
        pid = processes.running_pid(Stack(hub.settings).pid_file(component))
        assert pid is not None, f"{component} should be running"
        processes.kill_group(pid)
    hub.process.wait(30)
    assert alive(server_pid), "the user's server should outlive the hub"

    started = time.monotonic()
    hub.start()
    print(f"make-up-restart seconds={time.monotonic() - started:.1f}")
    hub.wait_ready(bob.name)
    assert {name: hub.jvm_pids(name) for name in names} == jvms, "clusters adopted, not restarted"

    controller = f"http://127.0.0.1:{hub.settings.controller_port}/metrics"

    def reconciled_by_the_new_controller() -> bool:
        metrics = httpx.get(controller, timeout=5).text
        return all(f'hubscale_cluster_workers{{cluster="{name}"' in metrics for name in names)

    wait_for(reconciled_by_the_new_controller, timeout_s=60, every_s=0.5)
    run = hub.kernel(bob.name, "spark").execute("print('ALIVE', 6 * 7)", timeout_s=120)
    assert run.lines("ALIVE") == ["42"]
