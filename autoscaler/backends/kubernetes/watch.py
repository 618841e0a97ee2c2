"""A reflector: one resource's objects kept in memory by list + watch (kubespawner's reflector).

It lists once (the raw JSON, not the client's models: 10,000 clusters' objects would take seconds
to build as models), then watches from the list's resourceVersion; a watch that ends is resumed from
the last version seen (bookmarks included); 410 Gone means that version is too old, so it lists
again. Failures back off; the cache keeps serving the last state meanwhile.

With ``index`` (a key such as the cluster label), it also keeps the objects grouped by that key
and tells ``changed`` which keys moved: the consumer does work only for what changed, and a
relist reports every key, old and new (level-triggered: nothing missed during a gap stays unseen).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from typing import Any

from kubernetes_asyncio import watch
from kubernetes_asyncio.client.exceptions import ApiException

from hubscale.kube_api import KubeError, Retry, call

log = logging.getLogger(__name__)

Json = dict[str, Any]
ListFunction = Callable[..., Awaitable[Any]]
IndexKey = Callable[[Json], str | None]
LIST_TIMEOUT_S = 120.0  # a whole namespace's objects in one answer (no paging)


class Reflector:
    """The objects ``list_function`` returns, by name, kept current by a watch.

    ``list_function`` is a kubernetes_asyncio list call with its positional arguments bound.
    ``transform`` keeps only what the consumer reads of each object (as client-go's
    ``SetTransform``): thousands of pod templates in memory are what a controller needs least.
    """

    def __init__(
        self,
        what: str,
        list_function: ListFunction,
        retry: Retry | None = None,
        watch_timeout_s: int = 300,
        transform: Callable[[Json], Json] = lambda found: found,
        index: IndexKey | None = None,
        list_timeout_s: float = LIST_TIMEOUT_S,
    ) -> None:
        self.what = what
        self.list_function = list_function
        self.retry = retry or Retry()
        self.list_retry = replace(self.retry, timeout_s=max(self.retry.timeout_s, list_timeout_s))
        self.watch_timeout_s = watch_timeout_s
        self.transform = transform
        self.objects: dict[str, Json] = {}
        self.resource_version: str | None = None
        self.lists = 0  # how many times it listed (1 + one per 410 Gone or failed watch)
        self.synced = asyncio.Event()
        self.index = index
        self.by_key: dict[str, dict[str, Json]] = defaultdict(dict)  # index key -> name -> object
        # Called after every change with the index keys it touched (none without an index).
        self.changed: Callable[[Iterable[str]], None] = lambda keys: None

    def indexed(self, key: str) -> dict[str, Json]:
        """The objects under one index key (empty if none)."""
        return self.by_key.get(key) or {}

    async def relist(self) -> None:
        """Replace the cache with a fresh list; every key before and after counts as changed."""
        found = await call(f"list {self.what}", self._list_json, retry=self.list_retry)
        before = set(self.by_key)
        items = found.get("items") or []
        self.objects = {item["metadata"]["name"]: self.transform(item) for item in items}
        self.by_key = defaultdict(dict)
        for name, item in self.objects.items():
            if (key := self._key(item)) is not None:
                self.by_key[key][name] = item
        self.resource_version = found["metadata"]["resourceVersion"]
        self.lists += 1
        self.synced.set()
        self.changed(before | set(self.by_key))

    async def _list_json(self, _request_timeout: float | None = None) -> Json:
        """One list call's answer as plain JSON; a non-2xx answer raised as the client does."""
        response = await self.list_function(
            _preload_content=False, _request_timeout=_request_timeout
        )
        try:
            body = await response.read()
        finally:
            response.release()
        if not 200 <= response.status <= 299:
            raise ApiException(status=response.status, reason=response.reason)
        return json.loads(body)

    async def run(self, stop: asyncio.Event) -> None:
        """List and watch until ``stop`` is set."""
        task = asyncio.create_task(self._run_forever())
        try:
            await stop.wait()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run_forever(self) -> None:
        failures = 0
        while True:
            try:
                if self.resource_version is None:
                    await self.relist()
                await self._watch()
                failures = 0
            except ApiException as error:
                if error.status == 410:
                    log.info("watch-expired what=%s resource_version=%s action=relist",
                             self.what, self.resource_version)  # fmt: skip
                    self.resource_version = None
                    continue
                failures += 1
                log.warning("watch-failed what=%s status=%s reason=%r", self.what, error.status,
                            error.reason)  # fmt: skip
            except (KubeError, TimeoutError, OSError) as error:
                failures += 1
                log.warning("watch-failed what=%s error=%r", self.what, str(error))
            except Exception:  # a garbled event must not end the reflector: log, back off
                failures += 1
                log.exception("watch-failed what=%s", self.what)
            if failures:
                await asyncio.sleep(self.retry.delay_s(min(failures, 8)))

    async def _watch(self) -> None:
        """One watch request, until the server ends it (``watch_timeout_s``) or it fails."""
        async with watch.Watch() as stream:
            events = stream.stream(
                self.list_function,
                resource_version=self.resource_version,
                timeout_seconds=self.watch_timeout_s,
                allow_watch_bookmarks=True,
                _request_timeout=self.watch_timeout_s + 30,
            )
            async for event in events:
                self._apply(event["type"], event["raw_object"])

    def _apply(self, kind: str, obj: Json) -> None:
        self.resource_version = obj["metadata"]["resourceVersion"]
        if kind == "BOOKMARK":
            return
        name = obj["metadata"]["name"]
        obj = self.transform(obj)
        old = self.objects.pop(name, None) if kind == "DELETED" else self.objects.get(name)
        if kind != "DELETED":
            self.objects[name] = obj
            if old is not None and self._key(old) is not None and _same(old, obj):
                self.by_key[self._key(old)][name] = obj
                return  # a change of what the transform dropped (a Deployment's status)
        keys = {self._key(found) for found in (old, obj) if found is not None} - {None}
        for key in keys:
            group = self.by_key[key]
            group.pop(name, None)
            if kind != "DELETED" and self._key(obj) == key:
                group[name] = obj
            if not group:
                del self.by_key[key]
        self.changed(keys)

    def _key(self, obj: Json) -> str | None:
        return None if self.index is None else self.index(obj)


def _same(old: Json, new: Json) -> bool:
    """The same object apart from its resourceVersion."""
    if old.keys() != new.keys():
        return False
    if any(old[key] != new[key] for key in old if key != "metadata"):
        return False
    before, after = old["metadata"], new["metadata"]
    return before.keys() == after.keys() and all(
        before[key] == after[key] for key in before if key != "resourceVersion"
    )
