"""How users reach the hub and log in, as the chart renders it (real helm 3 and helm 4): no
authenticator unless an admin chooses one (the shared password only acknowledged), TLS at the
proxy from a Secret (the rendered command run by the real configurable-http-proxy) or at an
Ingress, and the README's production example. These prove the manifests and the proxy's flags,
not a cluster."""

from __future__ import annotations

import datetime
import re
import ssl
import subprocess
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from traitlets.config.loader import PyFileConfigLoader

from hub_config.local import proxy_command
from tests.kube.chart import HELMS, PREFIX, REPO, Manifest, find, one, render, template
from tests.kube.schemas import assert_valid
from tests.support import free_port, wait_for

HTTPS = {"proxy": {"https": {"enabled": True, "secret": {"name": "hub-tls"}}}}
HTTPS_ONLY = {
    "proxy": {"https": {"enabled": True, "secret": {"name": "hub-tls"}, "redirectHttp": False}}
}
INGRESS = {
    "ingress": {
        "enabled": True,
        "ingressClassName": "nginx",
        "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"},
        "hosts": ["hub.example.org"],
        "tls": [{"secretName": "hub-tls", "hosts": ["hub.example.org"]}],
    }
}
CONFIG_DIR = "/usr/local/etc/jupyterhub"  # where the hub Deployment mounts its ConfigMap


def proxy_container(manifests: list[Manifest]) -> dict[str, Any]:
    return one(manifests, "Deployment", f"{PREFIX}-proxy")["spec"]["template"]["spec"][
        "containers"
    ][0]


def public_ports(manifests: list[Manifest]) -> dict[str, tuple[int, str]]:
    service = one(manifests, "Service", f"{PREFIX}-proxy-public")
    return {p["name"]: (p["port"], p["targetPort"]) for p in service["spec"]["ports"]}


def users_ports(manifests: list[Manifest]) -> list[int]:
    """The proxy pod's ports open to anyone (its NetworkPolicy's rule without peers)."""
    policy = one(manifests, "NetworkPolicy", f"{PREFIX}-proxy")
    (rule,) = [r for r in policy["spec"]["ingress"] if "from" not in r]
    return [p["port"] for p in rule["ports"]]


# Logging in: chosen, never a silent shared password.


@pytest.mark.parametrize("version", HELMS)
def test_the_chart_refuses_to_render_until_an_authenticator_is_chosen(version):
    done = template(version, {}, login=None)
    assert done.returncode != 0
    assert "hub.authenticatorClass: choose how users log in" in done.stderr
    assert "hub.sharedPassword.acknowledgeInsecure=true" in done.stderr  # the trial's way out


@pytest.mark.parametrize("version", HELMS)
def test_the_shared_password_renders_only_when_acknowledged(version):
    shared = {"hub": {"authenticatorClass": "shared-password"}}
    done = template(version, shared, login=None)
    assert done.returncode != 0
    assert "hub.sharedPassword.acknowledgeInsecure: " in done.stderr
    assert "logs in as any user name" in done.stderr
    acknowledged = {"hub": {**shared["hub"], "sharedPassword": {"acknowledgeInsecure": True}}}
    assert template(version, acknowledged, login=None).returncode == 0


@pytest.mark.parametrize("version", HELMS)
def test_a_real_authenticator_needs_no_acknowledgement(version):
    done = template(version, {"hub": {"authenticatorClass": "generic-oauth"}}, login=None)
    assert done.returncode == 0, done.stderr


# TLS at the proxy, from a Secret.


def test_proxy_https_serves_the_secrets_certificate_on_443_and_redirects_port_80():
    manifests = render("helm3", HTTPS)
    container = proxy_container(manifests)
    command = container["command"]
    assert "--port=8443" in command and "--port=8000" not in command
    assert "--ssl-key=/etc/chp/tls/tls.key" in command
    assert "--ssl-cert=/etc/chp/tls/tls.crt" in command
    assert "--redirect-port=8000" in command and "--redirect-to=443" in command
    assert {"name": "tls", "mountPath": "/etc/chp/tls", "readOnly": True} in container[
        "volumeMounts"
    ]
    pod = one(manifests, "Deployment", f"{PREFIX}-proxy")["spec"]["template"]["spec"]
    volume = {v["name"]: v for v in pod["volumes"]}["tls"]
    assert volume["secret"]["secretName"] == "hub-tls"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"https": 8443, "http": 8000, "api": 8001}
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["scheme"] == "HTTPS"
        assert container[probe]["httpGet"]["port"] == "https"
    assert public_ports(manifests) == {"https": (443, "https"), "http": (80, "http")}
    assert sorted(users_ports(manifests)) == [8000, 8443]
    test_pod = one(manifests, "Pod", f"{PREFIX}-test-hub")
    assert test_pod["spec"]["containers"][0]["command"][-1] == (
        f"https://{PREFIX}-proxy-public:443/hub/api"
    )
    for manifest in manifests:
        if manifest["kind"] in {"Deployment", "Service", "NetworkPolicy", "Pod"}:
            assert_valid(manifest)


def test_proxy_https_without_the_redirect_closes_port_80():
    manifests = render("helm4", HTTPS_ONLY)
    command = proxy_container(manifests)["command"]
    assert not [a for a in command if a.startswith(("--redirect", "--port=8000"))]
    assert {p["name"] for p in proxy_container(manifests)["ports"]} == {"https", "api"}
    assert public_ports(manifests) == {"https": (443, "https")}
    assert users_ports(manifests) == [8443]


def test_without_https_the_proxy_serves_plain_http_on_port_80_as_before():
    manifests = render("helm3")
    assert "--port=8000" in proxy_container(manifests)["command"]
    assert not [a for a in proxy_container(manifests)["command"] if a.startswith("--ssl")]
    assert public_ports(manifests) == {"http": (80, "http")}


@pytest.fixture
def certificate(tmp_path: Path) -> Iterator[Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as a kubernetes.io/tls Secret's
    files (tls.crt, tls.key) in a directory."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hub.example.org")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("hub.example.org")]), False)
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path / "tls"
    directory.mkdir()
    (directory / "tls.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "tls.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    yield directory


def test_the_rendered_proxy_command_serves_https_and_redirects_http_with_the_real_proxy(
    certificate,
):
    """configurable-http-proxy (the one `make up` runs; the hub image has the same version) with
    the chart's own flags, only ports and the Secret's mount path moved onto this machine."""
    https_port, http_port, api_port = free_port(), free_port(), free_port()
    moved = {"8443": str(https_port), "8000": str(http_port), "8001": str(api_port)}
    arguments = []
    for argument in proxy_container(render("helm3", HTTPS))["command"][1:]:
        flag, _, value = argument.partition("=")
        if flag in {"--port", "--redirect-port", "--api-port"}:
            value = moved[value]
        if flag in {"--ip", "--api-ip"}:
            value = "127.0.0.1"
        arguments.append(f"{flag}={value.replace('/etc/chp/tls', str(certificate))}")
    process = subprocess.Popen(
        [*proxy_command(), *arguments],
        env={"PATH": "/usr/bin:/bin", "CONFIGPROXY_AUTH_TOKEN": "token-for-the-test"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        context = ssl.create_default_context(cafile=str(certificate / "tls.crt"))
        context.check_hostname = False  # the certificate names the public host

        def healthy() -> bool:
            try:
                answer = httpx.get(f"https://127.0.0.1:{https_port}/_chp_healthz", verify=context)
            except httpx.TransportError:
                return False
            return answer.status_code == 200

        wait_for(healthy, timeout_s=30)
        with pytest.raises(httpx.TransportError):  # no plain HTTP on the HTTPS port
            httpx.get(f"http://127.0.0.1:{https_port}/_chp_healthz", timeout=5)
        redirect = httpx.get(f"http://127.0.0.1:{http_port}/hub/login?next=x", timeout=5)
        assert redirect.status_code == 301
        assert redirect.headers["location"] == "https://127.0.0.1:443/hub/login?next=x"
    finally:
        process.terminate()
        process.wait(timeout=10)


# TLS at an Ingress.


@pytest.mark.parametrize("version", HELMS)
def test_the_ingress_sends_its_hosts_to_the_public_service_with_tls_and_cert_manager(version):
    manifests = render(version, {**INGRESS, "proxy": {"service": {"type": "ClusterIP"}}})
    (ingress,) = find(manifests, "Ingress")
    assert_valid(ingress)
    assert ingress["metadata"]["annotations"] == {"cert-manager.io/cluster-issuer": "letsencrypt"}
    spec = ingress["spec"]
    assert spec["ingressClassName"] == "nginx"
    assert spec["tls"] == [{"secretName": "hub-tls", "hosts": ["hub.example.org"]}]
    (rule,) = spec["rules"]
    assert rule["host"] == "hub.example.org"
    (path,) = rule["http"]["paths"]
    assert (path["path"], path["pathType"]) == ("/", "Prefix")
    assert path["backend"]["service"] == {
        "name": f"{PREFIX}-proxy-public",
        "port": {"name": "http"},
    }
    assert "http" in public_ports(manifests)
    assert find(render(version), "Ingress") == []


@pytest.mark.parametrize("version", HELMS)
@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"proxy": {"https": {"enabled": True}}},
            "proxy.https.secret.name: proxy.https is enabled with type secret",
        ),
        ({**INGRESS, **HTTPS}, "proxy.https.enabled: TLS goes either at the proxy"),
        ({"ingress": {"enabled": True}}, "ingress.hosts: ingress.enabled is true"),
        ({"proxy": {"https": {"type": "letsencrypt"}}}, r"proxy[./]https[./]type"),
        ({"ingress": {"hosts": ["Not A Host"]}}, r"ingress[./]hosts"),
    ],
)
def test_tls_values_that_do_not_fit_are_refused_naming_the_value(version, values, message):
    done = template(version, values)
    assert done.returncode != 0
    assert re.search(message, done.stderr), done.stderr


# The README's production example: a real authenticator, TLS on.


def readme_production_values() -> dict[str, Any]:
    """The YAML block of the README that starts with ``# values-production.yaml``."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(# values-production\.yaml\n.*?)```", text, re.DOTALL)
    assert len(blocks) == 1, "README.md: one ```yaml block starting # values-production.yaml"
    return yaml.safe_load(blocks[0])


@pytest.mark.parametrize("version", HELMS)
def test_the_readme_production_example_renders_with_tls_and_a_real_authenticator(version):
    values = readme_production_values()
    manifests = render(version, values)  # the trial login is overridden below
    done = template(version, values, login=None)  # and it renders on its own
    assert done.returncode == 0, done.stderr
    (ingress,) = find(manifests, "Ingress")
    assert ingress["spec"]["tls"] and ingress["metadata"]["annotations"]
    hub_values = yaml.safe_load(one(manifests, "ConfigMap", f"{PREFIX}-hub")["data"]["values.yaml"])
    assert hub_values["hub"]["authenticatorClass"] == "generic-oauth"
    assert not values["hub"].get("sharedPassword")
    for manifest in manifests:
        if manifest["kind"] in {"Ingress", "Deployment", "Service"}:
            assert_valid(manifest)


def test_the_readme_production_example_configures_oauthenticators_generic_oauth(
    tmp_path, monkeypatch
):
    """The hub's jupyterhub_config.py as the chart ships it, with the example's values and the
    Deployment's environment: the authenticator is OAuthenticator's (installed with the hub
    extra, pinned in the hub image) and reads its client secret from the Secret's variable."""
    done = template("helm3", readme_production_values(), login=None)
    assert done.returncode == 0, done.stderr
    manifests = [m for m in yaml.safe_load_all(done.stdout) if m]
    for name, text in one(manifests, "ConfigMap", f"{PREFIX}-hub")["data"].items():
        (tmp_path / name).write_text(text)
    container = one(manifests, "Deployment", f"{PREFIX}-hub")["spec"]["template"]["spec"][
        "containers"
    ][0]
    secret_variables = set()
    for variable in container["env"]:
        if "value" in variable:
            monkeypatch.setenv(
                variable["name"], variable["value"].replace(CONFIG_DIR, str(tmp_path))
            )
        else:
            secret_variables.add(variable["name"])
            monkeypatch.setenv(variable["name"], f"{variable['name'].lower()}-for-the-test")
    monkeypatch.setenv("JPY_COOKIE_SECRET", "00" * 32)
    monkeypatch.setenv("HUBSCALE_STATE_DIR", str(tmp_path / "state"))
    assert "OAUTH_CLIENT_SECRET" in secret_variables  # from a Secret, not the ConfigMap
    config = PyFileConfigLoader("jupyterhub_config.py", path=str(tmp_path)).load_config()
    assert config.JupyterHub.authenticator_class == "generic-oauth"
    (entry,) = [
        e for e in entry_points(group="jupyterhub.authenticators") if e.name == "generic-oauth"
    ]
    authenticator = entry.load()(config=config)
    assert type(authenticator).__name__ == "GenericOAuthenticator"
    assert authenticator.client_secret == "oauth_client_secret-for-the-test"
    assert authenticator.client_id and authenticator.oauth_callback_url.startswith("https://")
    assert authenticator.admin_users and (
        authenticator.allowed_groups or authenticator.allowed_users
    )
