"""Whose data a caller may read: their own; another user's or everyone's only as a hub admin."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import quote

import httpx

log = logging.getLogger(__name__)

TIMEOUT_S = 5.0


class Forbidden(Exception):
    """The caller asked for data that is not theirs; the message says which."""


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose data a request reads: one owner's, or everyone's (``owner`` None)."""

    owner: str | None


def requested_scope(caller: str, user: str | None, everyone: bool, is_admin: bool) -> Scope:
    """The scope of a request with ``?user=`` / ``?all=1``; ``Forbidden`` unless allowed."""
    if everyone:
        if not is_admin:
            raise Forbidden(f"{caller} may not read every user's data")
        return Scope(None)
    if user is None or user == caller:
        return Scope(caller)
    if not is_admin:
        raise Forbidden(f"{caller} may not read {user}'s data")
    return Scope(user)


class HubAdmins:
    """Asks the hub (with the service's own token, scope ``read:users``) if a user is an admin."""

    def __init__(self, hub_api_url: str, api_token: str) -> None:
        self.hub_api_url = hub_api_url.rstrip("/")
        self.api_token = api_token

    async def is_admin(self, user: str) -> bool:
        headers = {"Authorization": f"token {self.api_token}"}
        url = f"{self.hub_api_url}/users/{quote(user, safe='')}"
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
                response = await client.get(url, headers=headers)
            response.raise_for_status()
            return bool(response.json().get("admin"))
        except (httpx.HTTPError, ValueError) as error:
            log.warning("admin-check-failed user=%s error=%s", user, type(error).__name__)
            return False  # fail closed: the caller sees only their own data
