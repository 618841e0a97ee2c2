"""The ``hubscale`` usage service on the real local platform (``make up``): a user's cluster, its
phase, the decision that grew it and the core-hours it held, through the hub's own auth; another
user gets 403; the "My compute" page renders, in a real browser too."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from hubscale.engines import spark_client_env, spark_python
from hubscale.state_dir import client_file, runtime_dir
from tests.builders import cluster
from tests.integration.browser import chromium, log_in, screenshot, visible_text
from tests.integration.controller_fixtures import EXPECTED, MANY_TASKS
from tests.integration.hub_fixtures import RunningHub, run_platform
from tests.support import wait_for

SERVICE = "/services/hubscale"
SCALED_S = 240.0  # a Spark master and a worker JVM start, beside other tests' JVMs


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    """One platform for the module (hubs are expensive), stopped at the end as Ctrl-C does."""
    yield from run_platform(tmp_path_factory.mktemp("usage"))


@pytest.fixture(scope="module")
def admin_token(hub: RunningHub) -> str:
    response = hub.api("POST", "/users/admin/tokens", json={"note": "usage test"})
    assert response.status_code == 201, response.text
    return response.json()["token"]


def new_user(hub: RunningHub, prefix: str) -> tuple[str, str]:
    """A hub user and an API token of theirs (what a script would use)."""
    name = f"{prefix}-{secrets.token_hex(2)}"
    hub.create_user(name)
    response = hub.api("POST", f"/users/{quote(name)}/tokens", json={"note": "usage test"})
    assert response.status_code == 201, response.text
    return name, response.json()["token"]


def get(hub: RunningHub, token: str, path: str, **params: str) -> httpx.Response:
    return httpx.get(
        f"{hub.settings.url}{SERVICE}{path}",
        params=params,
        headers={"Authorization": f"token {token}"},
        timeout=30,
    )


@pytest.fixture(scope="module")
def alice(hub: RunningHub) -> tuple[str, str, str]:
    """A user whose Spark cluster the controller runs with one worker (minWorkers 1), under a
    budget of 4 cores."""
    name, token = new_user(hub, "alice")
    cluster_name = f"{name}-spark"
    hub.store.apply(
        cluster(cluster_name, owner=name, minWorkers=1, maxWorkers=1, userBudgetCores=4)
    )
    return name, token, cluster_name


@pytest.fixture(scope="module")
def spark_job(
    hub: RunningHub, alice: tuple[str, str, str], tmp_path_factory: pytest.TempPathFactory
) -> str:
    """A real Spark job (a PySpark driver, as a kernel runs it) on a cluster of alice's that
    starts at zero workers: the controller grows it for the job. Its cluster's name."""
    name = alice[0]
    cluster_name = f"{name}-job"
    hub.store.apply(cluster(cluster_name, owner=name, minWorkers=0, maxWorkers=2))

    def client() -> dict | None:
        path = client_file(runtime_dir(hub.state_dir, cluster_name))
        return json.loads(path.read_text()) if path.exists() else None

    conf_dir = Path(wait_for(client, timeout_s=SCALED_S, every_s=1)["conf_dir"])
    script = tmp_path_factory.mktemp("job") / "job.py"
    script.write_text(MANY_TASKS.format(partitions=8))
    done = subprocess.run(
        [str(spark_python()), str(script)],
        env={**os.environ, **spark_client_env(conf_dir)},
        capture_output=True,
        text=True,
        timeout=SCALED_S,
    )
    assert done.returncode == 0 and f"RESULT {EXPECTED}" in done.stdout, done.stderr[-3000:]
    return cluster_name


@pytest.fixture(scope="module")
def bob(hub: RunningHub) -> tuple[str, str]:
    return new_user(hub, "bob")


def test_a_users_clusters_appear_with_their_phase_and_workers(hub, alice):
    name, token, cluster_name = alice

    def ready() -> dict | None:
        response = get(hub, token, "/api/clusters")
        assert response.status_code == 200, response.text
        found = {c["name"]: c for c in response.json()["clusters"]}
        mine = found.get(cluster_name)
        return mine if mine and mine["phase"] == "Ready" and mine["workers"] == 1 else None

    mine = wait_for(ready, timeout_s=SCALED_S, every_s=2)
    assert (mine["engine"], mine["desired"], mine["user"]) == ("spark", 1, name)
    assert mine["reason"]


def test_the_decision_that_grew_the_cluster_and_the_core_hours_it_held_are_kept(hub, alice):
    _, token, cluster_name = alice

    def grown() -> list[dict]:
        decisions = get(hub, token, "/api/decisions", since="0").json()["decisions"]
        return [d for d in decisions if d["cluster"] == cluster_name and d["to"] == 1]

    [decision] = wait_for(grown, timeout_s=SCALED_S, every_s=2)
    assert (decision["from"], decision["engine"]) == (0, "spark") and decision["reason"]

    def held() -> dict | None:
        [(_, windows)] = get(hub, token, "/api/usage").json()["users"].items()
        return windows if windows["today"]["held"] > 0 else None

    windows = wait_for(held, timeout_s=SCALED_S, every_s=2)
    assert windows["30d"]["held"] >= windows["today"]["held"]
    assert windows["today"]["used"] <= windows["today"]["held"]


def test_another_users_data_is_forbidden_and_their_own_list_does_not_hold_it(hub, alice, bob):
    alice_name, _, cluster_name = alice
    _, bob_token = bob

    for path in ("/api/clusters", "/api/usage", "/api/decisions", "/"):
        assert get(hub, bob_token, path, user=alice_name).status_code == 403, path
    assert get(hub, bob_token, "/api/usage", all="1").status_code == 403
    own = get(hub, bob_token, "/api/clusters").json()["clusters"]
    assert cluster_name not in [c["name"] for c in own]


def test_an_admin_reads_another_users_clusters(hub, alice, admin_token):
    alice_name, _, cluster_name = alice

    theirs = get(hub, admin_token, "/api/clusters", user=alice_name).json()["clusters"]
    everyone = get(hub, admin_token, "/api/usage", all="1").json()["users"]

    assert [c["name"] for c in theirs] == [cluster_name]
    assert alice_name in everyone


def test_unauthenticated_api_calls_are_sent_to_sign_in_not_answered(hub):
    response = httpx.get(f"{hub.settings.url}{SERVICE}/api/clusters", timeout=30)

    assert response.status_code in (302, 403)
    assert "clusters" not in response.text


def test_my_compute_renders_the_users_clusters_and_core_hours(hub, alice):
    _, token, cluster_name = alice

    page = get(hub, token, "/")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "My compute" in page.text and cluster_name in page.text and "held" in page.text


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    yield from chromium()


def test_in_a_browser_the_services_menu_leads_to_my_compute(hub, alice, browser):
    name, _, cluster_name = alice
    log_in(browser, hub.settings.url, name, hub.settings.password_file.read_text().strip())

    browser.get(f"{hub.settings.url}/hub/home")
    link = browser.find_element("css selector", f'a[href*="{SERVICE}/"]')
    browser.get(link.get_attribute("href"))

    assert visible_text(browser, "#user") == name
    assert cluster_name in visible_text(browser, "#clusters")
    assert "held" in visible_text(browser, "#usage")


def test_the_team_page_and_idle_list_are_for_admins_only(hub, alice, bob, admin_token):
    alice_name, _, _ = alice
    _, bob_token = bob

    for path in ("/team", "/api/idle"):
        assert get(hub, bob_token, path).status_code == 403, path
    team = get(hub, admin_token, "/team")
    idle = get(hub, admin_token, "/api/idle")

    assert team.status_code == 200 and alice_name in team.text and 'class="total"' in team.text
    assert idle.status_code == 200 and isinstance(idle.json()["clusters"], list)
    assert get(hub, admin_token, "/team", sort="30d.bogus").status_code == 400


def test_the_decision_a_real_spark_job_caused_is_kept_with_its_reason(hub, alice, spark_job):
    _, token, _ = alice

    def grown() -> list[dict]:
        decisions = get(hub, token, "/api/decisions", since="0").json()["decisions"]
        return [d for d in decisions if d["cluster"] == spark_job and d["to"] > d["from"]]

    first = wait_for(grown, timeout_s=SCALED_S, every_s=2)[0]
    assert first["from"] == 0
    assert first["cause"] in ("policy", "bounds")  # bounds: the job wants more than maxWorkers 2
    assert "executors" in first["reason"] or "waiting" in first["reason"], first["reason"]


def test_in_a_browser_my_compute_charts_held_vs_used_with_the_decision_that_grew_it(
    hub, alice, spark_job, browser
):
    name, token, cluster_name = alice

    def charted() -> bool:  # the decisions and at least one minute held, as the page will show
        page = get(hub, token, "/").text
        return page.count('class="decision"') >= 2 and 'class="held" d="M' in page

    wait_for(charted, timeout_s=SCALED_S, every_s=2)
    log_in(browser, hub.settings.url, name, hub.settings.password_file.read_text().strip())
    browser.get(f"{hub.settings.url}{SERVICE}/")

    marks = browser.find_elements("css selector", "#chart g.decision")
    decisions = visible_text(browser, "#decisions")
    screenshot(browser, "my-compute")

    assert marks and cluster_name in decisions and "0 → 1" in decisions
    assert spark_job in decisions  # the real job's decision, listed with its reason
    assert "4 cores" in visible_text(browser, "#budget")
    assert browser.find_element("css selector", "#chart path.held").get_attribute("d")


def test_in_a_browser_an_admin_sees_the_team_table_and_a_user_does_not(hub, alice, browser):
    name, _, _ = alice
    admin_password = hub.settings.admin_password_file.read_text().strip()
    log_in(browser, hub.settings.url, "admin", admin_password)
    browser.get(f"{hub.settings.url}{SERVICE}/team")

    table = visible_text(browser, "#team")
    visible_text(browser, "#idle")
    screenshot(browser, "team")
    assert name in table and "total" in table

    log_in(browser, hub.settings.url, name, hub.settings.password_file.read_text().strip())
    browser.get(f"{hub.settings.url}{SERVICE}/team")
    assert "403" in browser.find_element("css selector", "body").text
