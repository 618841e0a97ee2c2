"""Each Flink cluster's REST credential: a key and a self-signed certificate for that cluster alone.

Flink's REST API (submit, cancel and read jobs; the web UI) has no authentication of its own; its
mutual TLS (``security.ssl.rest.*``, ``hubscale.flink_conf.rest_tls_config``) is Flink's way to
close it, as ``spark.authenticate`` closes Spark's RPC. The controller generates one credential
per cluster, once, and keeps it with the cluster's runtime state: files (mode 0600) in the
cluster's runtime directory locally, the cluster's config Secret on Kubernetes. One PKCS12 file is
the keystore and the truststore of the JobManager and of the user's PyFlink client alike: each side
presents the cluster's certificate and trusts that certificate only, so a client without this
cluster's key (another user's kernel, another cluster's certificate) gets no answer. The
controller's own client (Python's ``ssl``, which does not read PKCS12) uses the PEM copies.

An EC P-256 key and certificate take ~5 ms here with ``cryptography``; ``keytool`` takes 1-3 s
(it starts a JVM), so the controller generates them itself.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import ipaddress
import os
import secrets
import shutil
import ssl
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from hubscale.atomic_files import fsync_dir, write_atomic
from hubscale.flink_conf import REST_KEYSTORE

# The credential's files: local file names and the config Secret's keys alike.
CERTIFICATE = "rest.crt"  # PEM: the controller trusts it and presents it
PRIVATE_KEY = "rest.key"  # PEM, PKCS8, unencrypted: readable by its owner only
PASSWORD = "rest.password"  # of the keystore and of the key in it
FILES = (REST_KEYSTORE, CERTIFICATE, PRIVATE_KEY, PASSWORD)
LOCAL_HOSTS = ("127.0.0.1", "localhost")  # what a local cluster's REST API is reached at
VALIDITY_DAYS = 3650  # a cluster lives as long as its user's server; renewal is a new cluster
# The keystore's password is 32 random bytes: key stretching protects guessable passwords only,
# and Java's default 10,000 rounds cost a starting JobManager ~0.2-0.3 s (it reads the file twice).
PKCS12_KDF_ROUNDS = 1
PASSWORD_BYTES = 32
DIR_MODE = 0o700


@dataclass(frozen=True, repr=False)
class RestTls:
    """One cluster's REST credential (never printed: ``repr`` shows the fingerprint only)."""

    certificate: bytes
    private_key: bytes
    keystore: bytes  # PKCS12 with the key and the certificate, encrypted with ``password``
    password: str

    def files(self) -> dict[str, bytes]:
        """File name (or Secret key) -> content."""
        return {
            REST_KEYSTORE: self.keystore,
            CERTIFICATE: self.certificate,
            PRIVATE_KEY: self.private_key,
            PASSWORD: self.password.encode(),
        }

    @classmethod
    def from_files(cls, files: Mapping[str, bytes]) -> RestTls | None:
        """The credential in ``files`` (as ``files()`` wrote them); None if any is missing."""
        if any(not files.get(name) for name in FILES):
            return None
        return cls(
            files[CERTIFICATE], files[PRIVATE_KEY], files[REST_KEYSTORE], files[PASSWORD].decode()
        )

    def fingerprint(self) -> str:
        """SHA-256 of the certificate (DER), hex: what tells two credentials apart in a log."""
        der = x509.load_pem_x509_certificate(self.certificate).public_bytes(
            serialization.Encoding.DER
        )
        return hashlib.sha256(der).hexdigest()

    def __repr__(self) -> str:
        return f"RestTls(sha256={self.fingerprint()[:16]}...)"


def generate(hosts: Sequence[str], now: datetime.datetime | None = None) -> RestTls:
    """A new key and a certificate for ``hosts`` (DNS names or IP addresses), signed by itself.

    The hosts are the certificate's subject alternative names: the names the REST API is reached
    at, so clients keep verifying the host name (Flink's and Python's defaults).
    """
    if not hosts:
        raise ValueError("a REST certificate needs at least one host")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0][:64])])
    start = (now or datetime.datetime.now(datetime.UTC)) - datetime.timedelta(minutes=5)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=VALIDITY_DAYS))
        .add_extension(x509.SubjectAlternativeName([_general_name(h) for h in hosts]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [x509.ExtendedKeyUsageOID.SERVER_AUTH, x509.ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    password = secrets.token_urlsafe(PASSWORD_BYTES)
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(PKCS12_KDF_ROUNDS)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(password.encode())
    )
    keystore = pkcs12.serialize_key_and_certificates(b"rest", key, certificate, None, encryption)
    return _credential(key, certificate, keystore, password)


def from_keystore(keystore: bytes, password: str) -> RestTls:
    """The credential in a PKCS12 keystore (a client's copy: ``rest.p12`` and its password).

    Raises ``ValueError`` when the password does not open it or it holds no key and certificate.
    """
    key, certificate, _ = pkcs12.load_key_and_certificates(keystore, password.encode())
    if key is None or certificate is None:
        raise ValueError("the keystore holds no key and certificate")
    return _credential(key, certificate, keystore, password)


def _credential(
    key: PrivateKeyTypes, certificate: x509.Certificate, keystore: bytes, password: str
) -> RestTls:
    """The key and certificate as PEM (the key unencrypted, PKCS8) beside their keystore."""
    return RestTls(
        certificate.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        keystore,
        password,
    )


def load(directory: Path) -> RestTls | None:
    """The credential kept in ``directory``; None if it is not (all) there."""
    files = {}
    for name in FILES:
        try:
            files[name] = (directory / name).read_bytes()
        except FileNotFoundError:
            return None
    return RestTls.from_files(files)


def ensure(directory: Path, hosts: Sequence[str] = LOCAL_HOSTS) -> RestTls:
    """The credential kept in ``directory``, generated and written (0600, dir 0700) if absent.

    Generated once per cluster: every later call (each controller loop, a restarted controller)
    reads the same files, so the JobManager, the clients and the controller keep agreeing.
    """
    found = load(directory)
    if found is not None:
        return found
    tls = generate(hosts)
    # Written beside it and renamed into place: never a mix of two credentials' files.
    directory.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
    try:
        for name, content in tls.files().items():
            write_atomic(staging / name, content)
        shutil.rmtree(directory, ignore_errors=True)  # an incomplete one, left by a crash
        staging.rename(directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    fsync_dir(directory.parent)
    return tls


@functools.lru_cache(maxsize=1024)
def _context(certificate: bytes, private_key: bytes) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the peer and its host name
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_verify_locations(cadata=certificate.decode())
    with tempfile.TemporaryDirectory(prefix="hubscale-tls-") as scratch:  # mode 0700
        chain, key = Path(scratch) / CERTIFICATE, Path(scratch) / PRIVATE_KEY
        for path, content in ((chain, certificate), (key, private_key)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as file:
                file.write(content)
        context.load_cert_chain(chain, key)  # ssl reads keys from files only
    return context


def client_context(tls: RestTls) -> ssl.SSLContext:
    """A TLS client context for one cluster's REST API: trusts that cluster's certificate alone
    and presents it (mutual TLS). One per credential, kept: a loop asks again every interval."""
    return _context(tls.certificate, tls.private_key)


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)
