"""A Kubernetes API-server test double: real HTTP on 127.0.0.1 (aiohttp, in its own thread).

It speaks enough of the REST protocol for our clients (kubernetes_asyncio, kubectl): discovery,
namespaced list/get/create/replace/patch/delete and deletecollection, the status and scale
subresources, label and field selectors, watches with resourceVersion, bookmarks and 410 Gone,
404/409/410/415/422 answered with Status bodies, Tables of the CRD's printer columns for kubectl.
It is a double, not a cluster: nothing runs pods unless the test plays kubelet
(``play_kubelet``) and the garbage collector (``collect_garbage``).
Faults can be injected per request (``fail``) to test retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Self

from aiohttp import web

from hubscale.crd import PRINTER_COLUMNS
from tests.kube import kubelet
from tests.kube.protocol import ApiError, Json, bad_request, field_selector, label_selector
from tests.kube.store import RESOURCES, Resource, Store, Watcher, scale_of

SERVER_VERSION = {"major": "1", "minor": "33", "gitVersion": "v1.33.0-hubscale-double"}


@dataclass
class Fault:
    """An injected failure for requests whose ``METHOD path?query`` matches ``pattern``."""

    pattern: re.Pattern[str]
    status: int = 500
    times: int = 1
    delay_s: float = 0.0  # answer this late (a client timeout), then normally
    after: bool = False  # carry the request out, then answer ``status`` (an ambiguous failure)


@dataclass(frozen=True)
class Target:
    """What a request's path names."""

    resource: Resource
    namespace: str | None
    name: str | None
    sub: str | None


class ApiServerDouble:
    """The double; ``with ApiServerDouble() as api:`` serves on ``api.url`` until the block ends."""

    def __init__(self, history_limit: int = 1000, bookmark_interval_s: float = 1.0) -> None:
        self.store = Store(history_limit)
        self.bookmark_interval_s = bookmark_interval_s
        self.requests: list[str] = []  # "METHOD path?query", in order
        self.faults: list[Fault] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="apiserver-double", daemon=True)
        self._started = threading.Event()
        self._runner: web.AppRunner | None = None
        self._watches_open: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("the API-server double did not start")
        return self

    def stop(self) -> None:
        self.store.end_watches()
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # What the test does to the double.

    def fail(
        self,
        pattern: str,
        status: int = 500,
        times: int = 1,
        delay_s: float = 0.0,
        after: bool = False,
    ) -> None:
        """Fail the next ``times`` requests matching ``pattern`` (a regex on ``METHOD path``)."""
        self.faults.append(Fault(re.compile(pattern), status, times, delay_s, after))

    def objects(self, plural: str, namespace: str | None = None, selector: str = "") -> list[Json]:
        items, _ = self.store.list(resource(plural), namespace, _labelled(label_selector(selector)))
        return items

    def get(self, plural: str, namespace: str, name: str) -> Json:
        return self.store.get(resource(plural), namespace, name)

    def create(self, plural: str, namespace: str, body: Json) -> Json:
        """Create an object as a client would, without validation (a malformed one, say)."""
        return self.store.create(resource(plural), namespace, body)

    def play_kubelet(self, namespace: str, running: bool = True) -> None:
        """Pods for every Deployment's and StatefulSet's replicas; Running and Ready if asked."""
        kubelet.sync_workloads(self.store, namespace, running)

    def run_pod(self, namespace: str, name: str) -> None:
        """Mark a pod Running and Ready with an IP, as the kubelet does once it has started."""
        kubelet.run_pod(self.store, namespace, self.store.get(resource("pods"), namespace, name))

    def collect_garbage(self) -> list[str]:
        """Delete objects whose owner references all point at deleted objects."""
        return kubelet.collect_garbage(self.store)

    def compact(self) -> None:
        """Forget the history, as etcd compaction does: old resourceVersions get 410 Gone."""
        self.store.compact()

    @contextlib.contextmanager
    def watches_down(self) -> Iterator[None]:
        """End every watch and hold new ones until the block ends (an API server restart)."""
        assert self._watches_open is not None
        self._loop.call_soon_threadsafe(self._watches_open.clear)
        self.store.end_watches()
        try:
            yield
        finally:
            self._loop.call_soon_threadsafe(self._watches_open.set)

    def count(self, method: str, pattern: str = "") -> int:
        """How many requests with this method had a path matching ``pattern``."""
        return sum(1 for r in self.requests if r.startswith(method + " ") and re.search(pattern, r))

    # HTTP

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._watches_open = asyncio.Event()
        self._watches_open.set()
        app = web.Application(client_max_size=2**24)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = self._runner.addresses[0][1]
        self._started.set()
        self._loop.run_forever()
        self._loop.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        line = f"{request.method} {request.path_qs}"
        self.requests.append(line)
        fault = next((f for f in self.faults if f.times > 0 and f.pattern.search(line)), None)
        if fault is not None:
            fault.times -= 1
            await asyncio.sleep(fault.delay_s)
            if not fault.delay_s and not fault.after:
                return _error(ApiError(fault.status, "InternalError", "injected fault"))
        try:
            response = await self._route(request)
        except ApiError as error:
            return _error(error)
        if fault is not None and fault.after:
            return _error(ApiError(fault.status, "InternalError", "injected fault after the work"))
        return response

    async def _route(self, request: web.Request) -> web.StreamResponse:
        parts = [part for part in request.path.split("/") if part]
        if parts == ["version"]:
            return web.json_response(SERVER_VERSION)
        if parts in (["api"], ["apis"]) or (len(parts) == 2 and parts[0] == "api"):
            return web.json_response(_discovery(parts))
        if len(parts) == 3 and parts[0] == "apis":
            return web.json_response(_discovery(parts))
        target = _target(parts)
        query = request.query
        method = request.method
        if target.name is None:
            matches = _labelled(label_selector(query.get("labelSelector")))
            by_field = field_selector(query.get("fieldSelector"))
            both = lambda obj: matches(obj) and by_field(obj)  # noqa: E731
            if method == "GET" and _flag(query.get("watch")):
                return await self._watch(request, target, both)
            if method == "GET":
                items, version = self.store.list(target.resource, target.namespace, both)
                if _wants_table(request, target.resource):
                    return web.json_response(_table(items, version))
                return web.json_response(_list(target.resource, items, version))
            namespace = _namespace(target)
            if method == "POST":
                body = await _body(request)
                created = self.store.create(target.resource, namespace, body)
                return web.json_response(created, status=201)
            if method == "DELETE":
                items, _ = self.store.list(target.resource, namespace, both)
                for item in items:
                    self.store.delete(target.resource, namespace, item["metadata"]["name"])
                return web.json_response(_list(target.resource, items, ""))
            raise ApiError(405, "MethodNotAllowed", f"{method} is not allowed on a collection")
        namespace = _namespace(target)
        if target.sub not in (None, *target.resource.subresources):
            raise ApiError(404, "NotFound", f"no subresource {target.sub!r}")
        if method == "GET":
            found = self.store.get(target.resource, namespace, target.name)
            if target.sub is None and _wants_table(request, target.resource):
                return web.json_response(_table([found], found["metadata"]["resourceVersion"]))
            return web.json_response(scale_of(found) if target.sub == "scale" else found)
        if method == "PUT":
            body = await _body(request)
            replaced = self.store.replace(target.resource, namespace, target.name, body, target.sub)
            return web.json_response(scale_of(replaced) if target.sub == "scale" else replaced)
        if method == "PATCH":
            body = await _body(request)
            patched = self.store.patch(
                target.resource, namespace, target.name, request.content_type, body, target.sub
            )
            return web.json_response(scale_of(patched) if target.sub == "scale" else patched)
        if method == "DELETE" and target.sub is None:
            options = await _body(request) or {}
            preconditions = options.get("preconditions") if isinstance(options, dict) else None
            deleted = self.store.delete(target.resource, namespace, target.name, preconditions)
            details = {"name": target.name, "kind": target.resource.plural}
            details["uid"] = deleted["metadata"]["uid"]
            return web.json_response(
                {"kind": "Status", "apiVersion": "v1", "status": "Success", "details": details}
            )
        raise ApiError(405, "MethodNotAllowed", f"{method} is not allowed here")

    async def _watch(
        self, request: web.Request, target: Target, matches: Any
    ) -> web.StreamResponse:
        assert self._watches_open is not None
        await self._watches_open.wait()
        query = request.query
        timeout_s = float(query.get("timeoutSeconds", 1800))
        bookmarks = _flag(query.get("allowWatchBookmarks"))
        loop = asyncio.get_running_loop()
        watcher = Watcher(target.resource, target.namespace, matches, loop, asyncio.Queue())
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        try:
            backlog = self.store.watch(watcher, query.get("resourceVersion"))
        except ApiError as error:
            await _send(response, {"type": "ERROR", "object": error.status()})
            return response
        deadline = loop.time() + timeout_s
        try:
            for event in backlog:
                await _send(response, event)
            while (remaining := deadline - loop.time()) > 0:
                wait_s = min(remaining, self.bookmark_interval_s) if bookmarks else remaining
                try:
                    event = await asyncio.wait_for(watcher.queue.get(), wait_s)
                except TimeoutError:
                    if bookmarks:
                        await _send(response, _bookmark(target.resource, self.store))
                    continue
                if event is None:
                    break
                await _send(response, event)
        except ConnectionError:
            pass  # the client went away
        finally:
            self.store.unwatch(watcher)
        return response


def resource(plural: str) -> Resource:
    return next(r for r in RESOURCES if r.plural == plural)


def _target(parts: list[str]) -> Target:
    """Resource, namespace, name and subresource of /api/v1/... or /apis/group/version/..."""
    if parts[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    found = [r for r in RESOURCES if (r.group, r.version, r.plural) == (group, version, rest[0])]
    if not found or len(rest) > 3:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    return Target(found[0], namespace, name, sub)


def _flag(value: str | None) -> bool:
    """A boolean query parameter as Go's strconv.ParseBool reads it (clients send "True")."""
    return (value or "").lower() in ("1", "t", "true")


def _namespace(target: Target) -> str:
    if target.namespace is None:
        raise bad_request("this request needs a namespace")
    return target.namespace


def _labelled(matches: Any) -> Any:
    return lambda obj: matches(obj.get("metadata", {}).get("labels") or {})


async def _body(request: web.Request) -> Any:
    try:
        return json.loads(await request.read() or b"null")
    except ValueError as error:
        raise bad_request(f"request body is not JSON: {error}") from None


async def _send(response: web.StreamResponse, event: Json) -> None:
    await response.write(json.dumps(event).encode() + b"\n")


def _bookmark(resource: Resource, store: Store) -> Json:
    meta = {"resourceVersion": str(store.resource_version)}
    return {
        "type": "BOOKMARK",
        "object": {"kind": resource.kind, "apiVersion": resource.api_version, "metadata": meta},
    }


def _list(resource: Resource, items: list[Json], version: str) -> Json:
    return {
        "kind": f"{resource.kind}List",
        "apiVersion": resource.api_version,
        "metadata": {"resourceVersion": version},
        "items": items,
    }


def _wants_table(request: web.Request, resource: Resource) -> bool:
    """kubectl asks for a Table; the double renders one for the CRD's printer columns only."""
    return resource.custom and "as=Table" in request.headers.get("Accept", "")


def _table(items: list[Json], version: str) -> Json:
    """A meta.k8s.io/v1 Table of ComputeClusters, as the API server builds it from the CRD."""
    columns = [{"name": "Name", "type": "string", "format": "name", "priority": 0}]
    columns += [
        {"name": c["name"], "type": c["type"], "format": "", "priority": c.get("priority", 0),
         "description": c.get("description", "")}
        for c in PRINTER_COLUMNS
    ]  # fmt: skip
    rows = [
        {
            "cells": [item["metadata"]["name"]] + [_cell(item, c) for c in PRINTER_COLUMNS],
            "object": {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": item["metadata"],
            },
        }
        for item in items
    ]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": version},
        "columnDefinitions": columns,
        "rows": rows,
    }


def _cell(obj: Json, column: Json) -> Any:
    """A column's value; dates as their age ("42s", "5m", "3h", "2d"), as the API server does."""
    value = _json_path(obj, column["jsonPath"])
    if column["type"] != "date" or not isinstance(value, str):
        return value
    age_s = int(
        (datetime.now(UTC) - datetime.fromisoformat(value.replace("Z", "+00:00"))).total_seconds()
    )
    for unit, size, below in (("s", 1, 120), ("m", 60, 3 * 3600), ("h", 3600, 48 * 3600)):
        if age_s < below:
            return f"{age_s // size}{unit}"
    return f"{age_s // 86400}d"


_FILTER = re.compile(r'^(\w+)\[\?\(@\.(\w+)=="([^"]*)"\)\]$')  # conditions[?(@.type=="X")]


def _json_path(obj: Json, path: str) -> Any:
    """The printer columns' JSONPath: dotted fields, and one equality filter on a list."""
    node: Any = obj
    for part in re.findall(r"(?:[^.\[]|\[[^\]]*\])+", path.strip(".")):
        field = _FILTER.match(part)
        key = field.group(1) if field else part
        node = node.get(key) if isinstance(node, dict) else None
        if field and isinstance(node, list):
            _, attribute, value = field.groups()
            matching = (i for i in node if isinstance(i, dict) and i.get(attribute) == value)
            node = next(matching, None)
    return node


def _error(error: ApiError) -> web.Response:
    return web.json_response(error.status(), status=error.code)


def _discovery(parts: list[str]) -> Json:
    """/api, /apis and the resource lists of each group version."""
    if parts == ["api"]:
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
    if parts == ["apis"]:
        groups = sorted({(r.group, r.version) for r in RESOURCES if r.group})
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [
                {
                    "name": group,
                    "versions": [{"groupVersion": f"{group}/{version}", "version": version}],
                    "preferredVersion": {"groupVersion": f"{group}/{version}", "version": version},
                }
                for group, version in groups
            ],
        }
    group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
    verbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
    resources = []
    for r in RESOURCES:
        if (r.group, r.version) != (group, version):
            continue
        entry = {"name": r.plural, "singularName": r.kind.lower(), "namespaced": True}
        resources.append({**entry, "kind": r.kind, "verbs": verbs, "shortNames": [*r.short_names]})
        for sub in r.subresources:
            kind = "Scale" if sub == "scale" else r.kind
            resources.append(
                {"name": f"{r.plural}/{sub}", "singularName": "", "namespaced": True, "kind": kind,
                 "verbs": ["get", "patch", "update"]}
            )  # fmt: skip
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }
