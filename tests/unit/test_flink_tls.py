"""Each Flink cluster's REST credential (issue 14, finding 2): generated once, kept private, and
the controller's REST client reading demand over mutual TLS from a server that asks for it (a
Python HTTPS server standing in for the JobManager; the real one: tests/integration)."""

from __future__ import annotations

import asyncio
import http.server
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from autoscaler.readers.flink_rest import FlinkRest, FlinkUnavailable
from autoscaler.readers.signal_queries import read_flink_demand
from hubscale import flink_tls
from hubscale.flink_conf import REST_KEYSTORE

JOB_ID = "de66a99123f27d7a8c82fe918712971f"
VERTEX = "cbc357ccb763df2852fee8c4fc7d55f2"
ANSWERS = {
    "/jobs/overview": {
        "jobs": [{"jid": JOB_ID, "name": "q", "state": "RUNNING", "schedulerType": "Adaptive"}]
    },
    f"/jobs/{JOB_ID}/resource-requirements": {
        VERTEX: {"parallelism": {"lowerBound": 1, "upperBound": 3}}
    },
    "/taskmanagers": {"taskmanagers": [{"id": "w0", "slotsNumber": 1, "freeSlots": 0}]},
}


def test_a_credential_is_generated_once_into_private_files_and_read_back(tmp_path: Path):
    directory = tmp_path / "runtime" / "alice-flink" / "tls"

    first = flink_tls.ensure(directory)
    again = flink_tls.ensure(directory)

    assert again == first  # every loop, and a restarted controller, keep the same credential
    assert sorted(path.name for path in directory.iterdir()) == sorted(flink_tls.FILES)
    assert directory.stat().st_mode & 0o777 == 0o700
    assert {path.stat().st_mode & 0o777 for path in directory.iterdir()} == {0o600}
    assert (directory / REST_KEYSTORE).read_bytes() == first.keystore


def test_an_incomplete_credential_left_by_a_crash_is_replaced_whole(tmp_path: Path):
    directory = tmp_path / "tls"
    old = flink_tls.ensure(directory)
    (directory / flink_tls.PRIVATE_KEY).unlink()

    new = flink_tls.ensure(directory)

    assert new.certificate != old.certificate
    assert flink_tls.load(directory) == new  # no file of the old one left among the new


def test_each_cluster_gets_its_own_certificate_for_its_own_hosts():
    one = flink_tls.generate(["bob-flink-jobmanager.hub.svc", "127.0.0.1"])
    other = flink_tls.generate(["bob-flink-jobmanager.hub.svc", "127.0.0.1"])
    certificate = x509.load_pem_x509_certificate(one.certificate)
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["bob-flink-jobmanager.hub.svc"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert certificate.issuer == certificate.subject  # self-signed: trusted by this cluster only
    assert one.fingerprint() != other.fingerprint() and one.password != other.password
    assert one.password not in repr(one) and "PRIVATE" not in repr(one)


class _JobManager(http.server.BaseHTTPRequestHandler):
    timeout = 5  # the TLS handshake happens in this thread, on its first read

    def do_GET(self) -> None:  # http.server's name for it
        body = json.dumps(ANSWERS[self.path]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    block_on_close = False

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # refused clients are what the tests are about


@pytest.fixture
def jobmanager(tmp_path: Path) -> Iterator[tuple[str, flink_tls.RestTls]]:
    """An HTTPS server that, like the JobManager, answers only clients with its certificate."""
    tls = flink_tls.ensure(tmp_path / "tls")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(
        tmp_path / "tls" / flink_tls.CERTIFICATE, tmp_path / "tls" / flink_tls.PRIVATE_KEY
    )
    context.load_verify_locations(cadata=tls.certificate.decode())
    context.verify_mode = ssl.CERT_REQUIRED
    server = _Server(("127.0.0.1", 0), _JobManager)
    server.socket = context.wrap_socket(
        server.socket, server_side=True, do_handshake_on_connect=False
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", tls
    finally:
        server.shutdown()
        server.server_close()


def demand(url: str, tls: ssl.SSLContext | None):
    async def ask():
        async with FlinkRest(url, timeout_s=5, tls=tls) as rest:
            return await read_flink_demand(rest)

    return asyncio.run(ask())


def test_the_controller_reads_demand_over_tls_with_the_clusters_certificate(jobmanager):
    url, tls = jobmanager
    found = demand(url, flink_tls.client_context(tls))
    assert found.slots.total == 3
    assert [(tm.id, tm.slots_free) for tm in found.taskmanagers] == [("w0", 0)]


def test_the_controller_gets_nothing_without_the_clusters_certificate(jobmanager):
    url, tls = jobmanager
    another = flink_tls.client_context(flink_tls.generate(["127.0.0.1"]))
    with pytest.raises(FlinkUnavailable):  # another cluster's certificate: not trusted either way
        demand(url, another)
    with pytest.raises(FlinkUnavailable):  # no client certificate (and the server's unknown)
        demand(url, None)
    trusting = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    trusting.load_verify_locations(cadata=tls.certificate.decode())
    with pytest.raises(FlinkUnavailable):  # trusts the server, presents no certificate
        demand(url, trusting)


def test_a_clients_keystore_gives_back_the_clusters_credential_and_a_wrong_password_fails():
    tls = flink_tls.generate(["127.0.0.1"])
    assert flink_tls.from_keystore(tls.keystore, tls.password).fingerprint() == tls.fingerprint()
    with pytest.raises(ValueError):
        flink_tls.from_keystore(tls.keystore, "not-the-password")
