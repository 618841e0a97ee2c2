"""The API-server double keeps the promises of the Kubernetes REST protocol our code relies on,
checked with the unmodified kubernetes_asyncio client over HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes_asyncio import client, watch

from tests.builders import cluster_document
from tests.kube.apiserver import ApiServerDouble
from tests.kube.fixtures import NAMESPACE, api_client, running_double

CC = ("hubscale.io", "v1alpha1", NAMESPACE, "computeclusters")
MERGE = "application/merge-patch+json"


@pytest.fixture
def apiserver() -> Iterator[ApiServerDouble]:
    with running_double() as double:
        yield double


def run(double: ApiServerDouble, scenario: Any) -> Any:
    async def main() -> Any:
        async with api_client(double) as api:
            return await scenario(api)

    return asyncio.run(main())


async def failure(call: Any) -> tuple[int, dict[str, Any]]:
    with pytest.raises(client.ApiException) as caught:
        await call
    return caught.value.status, json.loads(caught.value.body)


def cc(name: str) -> dict[str, Any]:
    return {**cluster_document(name), "status": {"phase": "Ready"}}


def test_replace_with_a_stale_resource_version_is_a_409_conflict(apiserver):
    async def scenario(api: client.ApiClient) -> None:
        core = client.CoreV1Api(api)
        first = await core.create_namespaced_secret(NAMESPACE, {"metadata": {"name": "s"}})
        first.data = {"k": "dg=="}
        await core.replace_namespaced_secret("s", NAMESPACE, first)
        code, body = await failure(core.replace_namespaced_secret("s", NAMESPACE, first))
        assert (code, body["kind"], body["reason"]) == (409, "Status", "Conflict")
        code, body = await failure(
            core.create_namespaced_secret(NAMESPACE, {"metadata": {"name": "s"}})
        )
        assert (code, body["reason"]) == (409, "AlreadyExists")
        code, body = await failure(core.read_namespaced_secret("nope", NAMESPACE))
        assert (code, body["reason"], body["details"]["name"]) == (404, "NotFound", "nope")

    run(apiserver, scenario)


def test_custom_resource_status_changes_only_through_the_status_subresource(apiserver):
    async def scenario(api: client.ApiClient) -> None:
        custom = client.CustomObjectsApi(api)
        created = await custom.create_namespaced_custom_object(*CC, cc("a"))
        assert created["status"] == {}  # dropped on create
        patch = {"spec": {"maxWorkers": 2}, "status": {"phase": "Error"}}
        spec_write = await custom.patch_namespaced_custom_object(
            *CC, "a", patch, _content_type=MERGE
        )
        assert spec_write["spec"]["maxWorkers"] == 2 and spec_write["status"] == {}
        assert spec_write["metadata"]["generation"] == 2
        status_write = await custom.patch_namespaced_custom_object_status(
            *CC, "a", {"spec": {"maxWorkers": 9}, "status": {"phase": "Idle"}}, _content_type=MERGE
        )
        assert status_write["spec"]["maxWorkers"] == 2 and status_write["status"] == {
            "phase": "Idle"
        }
        assert status_write["metadata"]["generation"] == 2

    run(apiserver, scenario)


def test_custom_resources_refuse_strategic_merge_and_unconditional_replace(apiserver):
    async def scenario(api: client.ApiClient) -> None:
        custom = client.CustomObjectsApi(api)
        await custom.create_namespaced_custom_object(*CC, cc("a"))
        strategic = "application/strategic-merge-patch+json"
        code, _ = await failure(
            custom.patch_namespaced_custom_object(*CC, "a", {"spec": {}}, _content_type=strategic)
        )
        assert code == 415
        # kubernetes_asyncio sends a dict body as a JSON patch unless told otherwise:
        code, _ = await failure(custom.patch_namespaced_custom_object(*CC, "a", {"spec": {}}))
        assert code == 400
        code, body = await failure(custom.replace_namespaced_custom_object(*CC, "a", cc("a")))
        assert code == 422 and "resourceVersion" in body["message"]

    run(apiserver, scenario)


def test_json_patch_and_the_scale_subresource(apiserver):
    async def scenario(api: client.ApiClient) -> None:
        apps = client.AppsV1Api(api)
        template = {
            "metadata": {"labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "image": "i"}]},
        }
        body = {
            "metadata": {"name": "d"},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": template},
        }
        created = await apps.create_namespaced_deployment(NAMESPACE, body)
        assert created.spec.replicas == 1
        ops = [{"op": "add", "path": "/metadata/labels", "value": {"x": "y"}}]
        patched = await apps.patch_namespaced_deployment("d", NAMESPACE, ops)
        assert patched.metadata.labels == {"x": "y"}
        scale = await apps.patch_namespaced_deployment_scale(
            "d", NAMESPACE, {"spec": {"replicas": 4}}, _content_type=MERGE
        )
        assert scale.spec.replicas == 4
        assert (await apps.read_namespaced_deployment("d", NAMESPACE)).spec.replicas == 4

    run(apiserver, scenario)


def test_conditional_writes_of_a_custom_resource_a_json_patch_test_and_delete_preconditions(
    apiserver,
):
    """A failed JSON patch ``test`` is a 422 and changes nothing; a delete whose uid
    precondition does not hold is a 409 Conflict and deletes nothing."""

    async def scenario(api: client.ApiClient) -> None:
        custom = client.CustomObjectsApi(api)
        created = await custom.create_namespaced_custom_object(*CC, cluster_document("c"))
        uid = created["metadata"]["uid"]
        ops = [
            {"op": "test", "path": "/metadata/uid", "value": "not-" + uid},
            {"op": "add", "path": "/spec/maxWorkers", "value": 1},
        ]
        patch = custom.patch_namespaced_custom_object(
            *CC, "c", ops, _content_type="application/json-patch+json"
        )
        code, body = await failure(patch)
        assert (code, body["reason"]) == (422, "Invalid")
        ops[0]["value"] = uid
        patched = await custom.patch_namespaced_custom_object(
            *CC, "c", ops, _content_type="application/json-patch+json"
        )
        assert patched["spec"]["maxWorkers"] == 1
        wrong = {"preconditions": {"uid": "not-" + uid}}
        code, body = await failure(custom.delete_namespaced_custom_object(*CC, "c", body=wrong))
        assert (code, body["reason"]) == (409, "Conflict")
        assert "Precondition failed: UID in precondition" in body["message"]
        await custom.get_namespaced_custom_object(*CC, "c")  # still there
        right = {"preconditions": {"uid": uid}}
        await custom.delete_namespaced_custom_object(*CC, "c", body=right)
        code, _ = await failure(custom.get_namespaced_custom_object(*CC, "c"))
        assert code == 404

    run(apiserver, scenario)


def test_label_selectors_equality_and_set_based(apiserver):
    async def scenario(api: client.ApiClient) -> list[str]:
        core = client.CoreV1Api(api)
        for name, role in [("a", "worker"), ("b", "master"), ("c", None)]:
            found = {"role": role} if role else {}
            await core.create_namespaced_secret(
                NAMESPACE, {"metadata": {"name": name, "labels": found}}
            )
        results = []
        for selector in ["role=worker", "role!=worker", "role in (worker,master)", "!role", "role"]:
            listed = await core.list_namespaced_secret(NAMESPACE, label_selector=selector)
            results.append(",".join(item.metadata.name for item in listed.items))
        return results

    assert run(apiserver, scenario) == ["a", "b,c", "a,b", "c", "a,b"]


def test_a_watch_with_bookmarks_reports_the_current_resource_version(apiserver):
    async def scenario(api: client.ApiClient) -> list[str]:
        core = client.CoreV1Api(api)
        listed = await core.list_namespaced_secret(NAMESPACE)
        await core.create_namespaced_secret(NAMESPACE, {"metadata": {"name": "s"}})
        seen = []
        async with watch.Watch() as stream:
            async for event in stream.stream(
                core.list_namespaced_secret, NAMESPACE, timeout_seconds=1,
                resource_version=listed.metadata.resource_version, allow_watch_bookmarks=True,
            ):  # fmt: skip
                seen.append(event["type"])
        return seen

    seen = run(apiserver, scenario)
    assert seen[0] == "ADDED" and "BOOKMARK" in seen


def test_a_lease_is_taken_by_one_holder_only(apiserver):
    async def scenario(api: client.ApiClient) -> None:
        leases = client.CoordinationV1Api(api)
        spec = {"holderIdentity": "a", "leaseDurationSeconds": 15}
        lease = await leases.create_namespaced_lease(
            NAMESPACE, {"metadata": {"name": "l"}, "spec": spec}
        )
        mine, theirs = lease, await leases.read_namespaced_lease("l", NAMESPACE)
        mine.spec.lease_transitions = 1  # a real change: a no-op update keeps the version
        await leases.replace_namespaced_lease("l", NAMESPACE, mine)
        theirs.spec.holder_identity = "b"
        code, _ = await failure(leases.replace_namespaced_lease("l", NAMESPACE, theirs))
        assert code == 409

    run(apiserver, scenario)
