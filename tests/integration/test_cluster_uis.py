"""The cluster UIs in a real Jupyter server started as the spawner starts it (``server_args``):
what is forwarded, with which credentials, and what is refused. Python HTTP servers stand in for
the Spark master and the Flink JobManager here (one records what reached it; the other asks for
the cluster's client certificate, as Flink's REST API does), so the edge cases cost no JVM; the
real master and JobManager behind a hub's server: ``test_hub.py``."""

from __future__ import annotations

import http.server
import json
import os
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from hubscale import flink_tls
from hubscale.flink_conf import REST_KEYSTORE, render_config, rest_tls_config
from hubscale.ports import free_port, free_port_range
from hubscale.spark_conf import render_properties
from spawner.notebook_env import server_args
from tests.nb_support import REPO
from tests.support import wait_for

TOKEN = "cluster-ui-test-token"
HEADERS = {"Authorization": f"token {TOKEN}"}


@dataclass
class StandIn:
    """An HTTP(S) server on a loopback port that answers a few paths and records requests."""

    context: ssl.SSLContext | None = None
    port: int = field(default_factory=free_port)
    seen: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    server: http.server.ThreadingHTTPServer | None = None
    page: str = ""  # what /page.html answers (text/html)

    def start(self) -> StandIn:
        seen, stand_in = self.seen, self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append(("GET", self.path, dict(self.headers)))
                if self.path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", "/json/")
                    self.end_headers()
                    return
                if self.path == "/page.html":
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.end_headers()
                    self.wfile.write(stand_in.page.encode())
                    return
                body = json.dumps({"path": self.path, "flink-version": "stand-in"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                seen.append(("POST", self.path, dict(self.headers)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        if self.context is not None:
            self.server.socket = self.context.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()


def flink_stand_in(tls: flink_tls.RestTls, directory: Path) -> StandIn:
    """A server that answers only clients presenting the cluster's certificate (mutual TLS)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    (directory / "rest.crt").write_bytes(tls.certificate)
    (directory / "rest.key").write_bytes(tls.private_key)
    context.load_cert_chain(directory / "rest.crt", directory / "rest.key")
    context.load_verify_locations(cadata=tls.certificate.decode())
    context.verify_mode = ssl.CERT_REQUIRED
    return StandIn(context).start()


@dataclass
class Served:
    url: str
    spark: StandIn
    flink: StandIn
    app: StandIn  # a driver's UI, on the first port of the client configuration's range
    bystander: StandIn  # listens on loopback, belongs to nobody's clusters


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    directory = tmp_path_factory.mktemp("cluster-uis")
    tls = flink_tls.generate(list(flink_tls.LOCAL_HOSTS))
    conf = directory / "flink-client" / "conf"
    conf.mkdir(parents=True)
    (conf / REST_KEYSTORE).write_bytes(tls.keystore)
    (conf / "config.yaml").write_text(
        render_config(rest_tls_config(conf / REST_KEYSTORE, tls.password))
    )
    spark, flink, bystander = StandIn().start(), flink_stand_in(tls, directory), StandIn().start()
    app = StandIn(port=free_port_range(2)).start()
    spark.page = (  # the master UI's links: a driver's UI, and a worker's (not forwarded)
        f'<a href="http://127.0.0.1:{app.port}">app</a> <a href="http://127.0.0.1:{bystander.port}">w</a>'
    )
    spark_conf = directory / "spark-conf"
    spark_conf.mkdir()
    ui_ports = {"spark.ui.port": str(app.port), "spark.port.maxRetries": "1"}
    (spark_conf / "spark-defaults.conf").write_text(render_properties(ui_ports))
    spark_status = directory / "alice-spark.status.yaml"  # as the controller writes it
    spark_status.write_text("workers: 1\ndesired: 2\nphase: Scaling\nreason: 1 app waits\n")
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),  # this checkout's extensions
        "HUBSCALE_SPARK_STATUS_FILE": str(spark_status),
        "HUBSCALE_FLINK_STATUS_FILE": str(directory / "none-yet.status.yaml"),
        "SPARK_CONF_DIR": str(spark_conf),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_MASTER_UI": f"http://127.0.0.1:{spark.port}",
        "FLINK_REST_URL": f"https://127.0.0.1:{flink.port}",
        "FLINK_CONF_DIR": str(conf),
    }
    command = [
        sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root", f"--port={port}",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.root_dir={directory}",
        f"--IdentityProvider.token={TOKEN}", *server_args(),
    ]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=directory, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(f"{url}/api/status"), timeout_s=120, every_s=0.5)
        yield Served(url, spark, flink, app, bystander)
    finally:
        process.terminate()
        process.wait(30)
        for stand_in in (spark, flink, app, bystander):
            stand_in.stop()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, headers=HEADERS, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def get(served: Served, path: str, **kwargs) -> httpx.Response:
    return httpx.get(f"{served.url}/{path}", headers=HEADERS, timeout=60, **kwargs)


def test_the_spark_master_ui_is_forwarded_without_the_users_jupyter_credentials(served):
    response = httpx.get(
        f"{served.url}/hubscale/ui/spark-master/json/",
        headers={**HEADERS, "Cookie": "jupyterhub-session-id=secret"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert response.json()["path"] == "/json/"
    method, path, headers = served.spark.seen[-1]
    assert (method, path) == ("GET", "/json/")
    assert "Authorization" not in headers and "Cookie" not in headers
    assert headers["X-Forwarded-Context"] == "/hubscale/ui/spark-master"  # Spark's UI prefix

    moved = get(served, "hubscale/ui/spark-master/redirect", follow_redirects=False)
    assert moved.status_code == 302
    assert moved.headers["Location"] == "/hubscale/ui/spark-master/json/"
    assert get(served, "hubscale/ui/spark-master", follow_redirects=False).status_code == 302


def test_the_flink_dashboard_is_reached_with_the_clusters_client_certificate(served):
    response = get(served, "hubscale/ui/flink/config")
    assert response.status_code == 200, response.text
    assert response.json() == {"path": "/config", "flink-version": "stand-in"}
    with pytest.raises(httpx.HTTPError):  # the stand-in, like Flink, wants the certificate
        httpx.get(f"https://127.0.0.1:{served.flink.port}/config", verify=False, timeout=10)


def test_the_master_uis_links_to_the_users_drivers_lead_through_the_server(served):
    page = get(served, "hubscale/ui/spark-master/page.html")
    assert page.status_code == 200, page.text
    assert f'<a href="/hubscale/ui/spark-app/{served.app.port}">app</a>' in page.text
    assert f'<a href="http://127.0.0.1:{served.bystander.port}">w</a>' in page.text
    assert "Accept-Encoding" not in served.spark.seen[-1][2]  # a page it rewrites: plain


def test_a_drivers_ui_is_forwarded_on_the_ports_of_the_spark_client_configuration(served):
    response = get(served, f"hubscale/ui/spark-app/{served.app.port}/jobs/")
    assert response.status_code == 200, response.text
    assert served.app.seen[-1][:2] == ("GET", "/jobs/")
    assert (
        served.app.seen[-1][2]["X-Forwarded-Context"] == f"/hubscale/ui/spark-app/{served.app.port}"
    )
    nothing_there = get(served, f"hubscale/ui/spark-app/{served.app.port + 1}/")
    assert nothing_there.status_code == 503
    assert "each SparkSession of your Spark kernels serves one" in nothing_there.text


def test_no_other_port_is_reachable_and_the_uis_are_read_only(served):
    port = served.bystander.port
    for path in (
        f"proxy/{port}/",
        f"proxy/127.0.0.1:{port}/",
        f"proxy/absolute/{port}/",
        f"hubscale/ui/spark-app/{port}/",
    ):
        assert get(served, path, follow_redirects=True).status_code == 404, path
    assert served.bystander.seen == []
    before = len(served.spark.seen)
    posted = httpx.post(f"{served.url}/hubscale/ui/spark-master/app/kill/", headers=HEADERS)
    assert posted.status_code == 405
    assert len(served.spark.seen) == before
    assert get(served, "hubscale/ui/spark-master/").status_code == 200
    # without the user's login, nothing is forwarded
    anonymous = httpx.get(f"{served.url}/hubscale/ui/spark-master/", timeout=60)
    assert anonymous.status_code in (302, 403)
    assert len(served.spark.seen) == before + 1


def test_a_stopped_master_gets_a_page_that_says_when_it_starts(served):
    served.spark.stop()
    try:
        response = get(served, "hubscale/ui/spark-master/")
    finally:
        served.spark.start()  # same port: the server's address for it stays right
    assert response.status_code == 503
    assert "Your Spark master is not running now" in response.text


def test_my_clusters_shows_the_status_files_and_links_the_uis(served):
    page = get(served, "hubscale/clusters")
    assert page.status_code == 200, page.text
    assert "<td>Scaling</td><td>1 / 2</td><td>1 app waits</td>" in page.text
    assert "<th>Flink</th><td>–</td><td>–</td><td>–</td>" in page.text  # no status file yet
    assert 'href="/hubscale/ui/flink/"' in page.text
    assert httpx.get(f"{served.url}/hubscale/clusters", timeout=60).status_code in (302, 403)


def test_the_launcher_lists_both_uis_and_review_branch(served):
    entries = get(served, "server-proxy/servers-info").json()["server_processes"]
    shown = {e["launcher_entry"]["title"]: e["launcher_entry"]["path_info"] for e in entries}
    assert shown == {
        "My clusters": "hubscale/clusters",
        "Spark master": "hubscale/ui/spark-master/",
        "Spark application": f"hubscale/ui/spark-app/{served.app.port}/",
        "Flink dashboard": "hubscale/ui/flink/",
        "Review branch…": "hubscale/review",
    }
    icon = get(served, "server-proxy/icon/hubscale-flink")
    assert icon.status_code == 200 and icon.text.startswith("<svg")
