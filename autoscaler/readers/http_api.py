"""The shared shape of our HTTP API clients (Prometheus, Flink's JobManager): httpx, async."""

from __future__ import annotations

import ssl
from typing import Any, Self

import httpx


def json_body(response: httpx.Response) -> Any:
    """The response's JSON; ``ValueError`` for anything else, nesting too deep included."""
    try:
        return response.json()
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


class HttpApi:
    """An async client for one service at ``url``, each call bounded by ``timeout_s``; over
    HTTPS with ``tls`` (which certificate to trust, which to present) when given."""

    default_timeout_s = 5.0

    def __init__(
        self,
        url: str,
        timeout_s: float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        # Credentials in the URL (https://user:secret@host) are sent, never shown: ``url`` is what
        # error messages and logs name.
        self.url = str(httpx.URL(url.rstrip("/")).copy_with(userinfo=b""))
        timeout = self.default_timeout_s if timeout_s is None else timeout_s
        self._http = httpx.AsyncClient(
            base_url=url.rstrip("/"),
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
            verify=tls if tls is not None else True,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
