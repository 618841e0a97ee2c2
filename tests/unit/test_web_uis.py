"""Which cluster UIs a notebook server forwards: from its environment, one fixed address each."""

from __future__ import annotations

import pytest

from hubscale.web_uis import WebUi, WebUiError, cluster_uis
from hubscale_lab.launcher import launcher_entries


def test_the_uis_are_the_users_spark_master_and_flink_jobmanager_from_the_environment():
    env = {"SPARK_MASTER_UI": "http://127.0.0.1:21001", "FLINK_REST_URL": "https://h.svc:8081"}
    assert cluster_uis(env) == [
        WebUi("spark-master", "Spark master", "spark", "http", "127.0.0.1", 21001),
        WebUi("flink", "Flink dashboard", "flink", "https", "h.svc", 8081),
    ]
    assert [ui.path for ui in cluster_uis(env)] == [
        "hubscale/ui/spark-master/",
        "hubscale/ui/flink/",
    ]
    assert cluster_uis({}) == []


@pytest.mark.parametrize(
    "url", ["spark://127.0.0.1:7077", "http://127.0.0.1", "http://:80", "http://h:99999"]
)
def test_an_address_that_is_not_http_host_port_is_refused_naming_the_variable(url):
    with pytest.raises(WebUiError, match="SPARK_MASTER_UI"):
        cluster_uis({"SPARK_MASTER_UI": url})


def test_the_launcher_offers_each_ui_and_review_branch_with_icons():
    uis = cluster_uis({"SPARK_MASTER_UI": "http://127.0.0.1:21001"})
    entries = launcher_entries(uis)
    shown = [
        (e.launcher_entry.title, e.launcher_entry.path_info, e.launcher_entry.category)
        for e in entries
    ]
    assert shown == [
        ("Spark master", "hubscale/ui/spark-master/", "Notebook"),
        ("Review branch…", "hubscale/review", "Notebook"),
    ]
    assert all(e.new_browser_tab and e.launcher_entry.icon_path for e in entries)
