"""A reflector: one resource's objects kept in memory by list + watch (kubespawner's reflector).

It lists once, then watches from the list's resourceVersion; a watch that ends is resumed from
the last version seen (bookmarks included); 410 Gone means that version is too old, so it lists
again. Failures back off; the cache keeps serving the last state meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from kubernetes_asyncio import watch
from kubernetes_asyncio.client.exceptions import ApiException

from hubscale.kube_api import KubeError, Retry, call

log = logging.getLogger(__name__)

Json = dict[str, Any]
ListFunction = Callable[..., Awaitable[Any]]


class Reflector:
    """The objects ``list_function`` returns, by name, kept current by a watch.

    ``list_function`` is a kubernetes_asyncio list call with its positional arguments bound,
    returning plain dicts (custom objects do) or models that ``to_json`` turns into them.
    """

    def __init__(
        self,
        what: str,
        list_function: ListFunction,
        retry: Retry | None = None,
        watch_timeout_s: int = 300,
        to_json: Callable[[Any], Json] = lambda found: found,
    ) -> None:
        self.what = what
        self.list_function = list_function
        self.retry = retry or Retry()
        self.watch_timeout_s = watch_timeout_s
        self.to_json = to_json
        self.objects: dict[str, Json] = {}
        self.resource_version: str | None = None
        self.lists = 0  # how many times it listed (1 + one per 410 Gone or failed watch)
        self.synced = asyncio.Event()
        self.changed: Callable[[], None] = lambda: None  # called after every change

    async def relist(self) -> None:
        """Replace the cache with a fresh list."""
        found = self.to_json(await call(f"list {self.what}", self.list_function, retry=self.retry))
        self.objects = {item["metadata"]["name"]: item for item in found.get("items", [])}
        self.resource_version = found["metadata"]["resourceVersion"]
        self.lists += 1
        self.synced.set()
        self.changed()

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
        if kind == "DELETED":
            self.objects.pop(name, None)
        else:
            self.objects[name] = obj
        self.changed()
