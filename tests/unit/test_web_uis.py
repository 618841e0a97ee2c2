"""Which cluster UIs a notebook server forwards: from its environment, one fixed address each."""

from __future__ import annotations

import pytest

from hubscale.web_uis import (
    WebUiError,
    cluster_uis,
    forwarded_driver_links,
    parse_spark_defaults,
    spark_app_ports,
    status_file_variable,
)
from hubscale_lab.clusters_page import render
from hubscale_lab.launcher import launcher_entries
from spawner import kernel_notice


def test_the_uis_are_the_users_spark_master_and_flink_jobmanager_from_the_environment():
    env = {"SPARK_MASTER_UI": "http://127.0.0.1:21001", "FLINK_REST_URL": "https://h.svc:8081"}
    uis = cluster_uis(env)
    assert [(ui.name, ui.scheme, ui.host, ui.port, ui.ports) for ui in uis] == [
        ("spark-master", "http", "127.0.0.1", 21001, None),
        ("flink", "https", "h.svc", 8081, None),
    ]
    assert [ui.path for ui in uis] == ["hubscale/ui/spark-master/", "hubscale/ui/flink/"]
    assert "starts with your first Spark kernel" in uis[0].stopped
    assert cluster_uis({}) == []


def test_the_application_uis_are_the_drivers_ports_of_the_spark_client_configuration():
    defaults = parse_spark_defaults(
        "# a comment\nspark.master spark://127.0.0.1:7077\n"
        "spark.ui.port 24040\nspark.port.maxRetries 7\n"
    )
    assert spark_app_ports(defaults) == range(24040, 24048)
    (app,) = cluster_uis({"SPARK_LOCAL_IP": "10.0.0.7"}, defaults)
    assert (app.name, app.host, app.port, app.ports) == (
        "spark-app",
        "10.0.0.7",
        24040,
        range(24040, 24048),
    )
    assert app.path == "hubscale/ui/spark-app/24040/"
    assert cluster_uis({}, {"spark.ui.port": "24040"})[0].host == "127.0.0.1"
    for broken in (
        {},
        {"spark.ui.port": "x"},
        {"spark.ui.port": "65535", "spark.port.maxRetries": "8"},
    ):
        assert spark_app_ports(broken) is None


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
        ("My clusters", "hubscale/clusters", "Notebook"),
        ("Spark master", "hubscale/ui/spark-master/", "Notebook"),
        ("Review branch…", "hubscale/review", "Notebook"),
    ]
    assert [e.new_browser_tab for e in entries] == [False, True, True]  # a JupyterLab tab first
    assert all(e.launcher_entry.icon_path for e in entries)


def test_the_status_file_variable_is_the_one_the_kernels_read():
    for engine in ("spark", "flink"):
        assert status_file_variable(engine) == kernel_notice.status_file_variable(engine)


def test_my_clusters_shows_what_each_status_file_holds_escaped():
    local = {"workers": 2, "desired": 3, "phase": "Scaling", "reason": "2 <apps> wait"}
    short = {"desired": 1, "reason": "at maxWorkers"}  # Kubernetes: no phase, no workers
    uis = cluster_uis({"SPARK_MASTER_UI": "http://127.0.0.1:21001"})
    page = render({"spark": local, "flink": short}, uis, "/user/a/", "/")
    assert "<td>Scaling</td><td>2 / 3</td><td>2 &lt;apps&gt; wait</td>" in page
    assert "<th>Flink</th><td>–</td><td>1</td><td>at maxWorkers</td><td>–</td>" in page
    assert 'href="/user/a/hubscale/ui/spark-master/"' in page
    assert 'href="/services/hubscale/"' in page
    empty = render({"spark": None, "flink": None}, [], "/", "/hub-prefix/")
    assert "<th>Spark</th><td>–</td><td>–</td><td>–</td><td>–</td>" in empty
    assert 'href="/hub-prefix/services/hubscale/"' in empty


def test_the_master_uis_links_to_drivers_become_their_forwarded_paths_and_no_others():
    (app,) = cluster_uis({}, {"spark.ui.port": "24040", "spark.port.maxRetries": "1"})
    page = (
        '<a href="http://127.0.0.1:24041">q</a> <a href="http://127.0.0.1:24042">x</a>'
        ' <a href="http://10.1.1.1:24040">y</a>'
    )
    assert forwarded_driver_links(page, app, "/user/a/") == (
        '<a href="/user/a/hubscale/ui/spark-app/24041">q</a>'
        ' <a href="http://127.0.0.1:24042">x</a> <a href="http://10.1.1.1:24040">y</a>'
    )
