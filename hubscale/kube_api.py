"""How we call the Kubernetes API: every call with a timeout, bounded retries with backoff on
5xx, 429 and timeouts, and failures wrapped in our own ``KubeError`` at this boundary."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from kubernetes_asyncio.client.exceptions import ApiException

from hubscale.crd import GROUP, PLURAL, VERSION

log = logging.getLogger(__name__)

T = TypeVar("T")
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
NOT_FOUND = 404
MERGE_PATCH = "application/merge-patch+json"  # the one patch type custom resources accept too
JSON_PATCH = "application/json-patch+json"  # RFC 6902: ``test`` operations make it conditional
CONFLICT = 409
INVALID = 422  # a failed JSON patch ``test`` among others


class KubeError(RuntimeError):
    """A Kubernetes API call failed; ``status`` is the HTTP status (0: no answer)."""

    def __init__(self, what: str, status: int, reason: str) -> None:
        super().__init__(f"{what}: {status or 'no answer'} {reason}".strip())
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Retry:
    """Timeout of one call and backoff between attempts (doubling, with jitter, capped)."""

    attempts: int = 5
    timeout_s: float = 10.0
    first_delay_s: float = 0.2
    max_delay_s: float = 5.0

    def delay_s(self, attempt: int) -> float:
        return min(self.max_delay_s, self.first_delay_s * 2**attempt) * random.uniform(0.5, 1.0)


async def call(
    what: str, function: Callable[..., Awaitable[T]], *args: Any, retry: Retry, **kwargs: Any
) -> T:
    """``await function(*args, **kwargs)`` with a timeout; retried while the failure is temporary.

    4xx answers (404, 409, 422, ...) are not retried: they come back at once as ``KubeError``.
    """
    for attempt in range(retry.attempts):
        last = attempt == retry.attempts - 1
        try:
            return await function(*args, _request_timeout=retry.timeout_s, **kwargs)
        except ApiException as error:
            if error.status not in RETRIED_STATUSES or last:
                raise KubeError(what, error.status or 0, error.reason or "") from error
            problem = f"{error.status} {error.reason}"
        except (TimeoutError, aiohttp.ClientError) as error:
            if last:
                raise KubeError(what, 0, type(error).__name__) from error
            problem = type(error).__name__
        delay_s = retry.delay_s(attempt)
        log.warning(
            "kube-retry call=%r problem=%r attempt=%d in_s=%.2f",
            what,
            problem,
            attempt + 1,
            delay_s,
        )
        await asyncio.sleep(delay_s)
    raise AssertionError("unreachable: the last attempt returns or raises")


async def read_or_none(
    what: str, function: Callable[..., Awaitable[T]], *args: Any, retry: Retry, **kwargs: Any
) -> T | None:
    """``call`` for a read: None when the object does not exist (404), other errors raised."""
    try:
        return await call(what, function, *args, retry=retry, **kwargs)
    except KubeError as error:
        if error.status == NOT_FOUND:
            return None
        raise


async def read_compute_cluster(
    custom: Any, namespace: str, name: str, retry: Retry
) -> dict[str, Any] | None:
    """One ComputeCluster as the API server has it now (``CustomObjectsApi``); None if absent."""
    return await read_or_none(
        f"read {PLURAL} {name}",
        custom.get_namespaced_custom_object,
        GROUP, VERSION, namespace, PLURAL, name,
        retry=retry,
    )  # fmt: skip
