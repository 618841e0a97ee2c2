"""The ``hubscale`` hub service: JSON for scripts and the "My compute" page, behind hub OAuth.

Every route reads the caller's own data; ``?user=NAME`` or ``?all=1`` widen it for hub admins
only (``usage.access``), anyone else gets 403.
"""

from __future__ import annotations

import json
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
from tornado import web

from usage.access import Forbidden, HubAdmins, Scope, requested_scope
from usage.chart import render_chart, window_start
from usage.clusters import ClusterSource, budgets
from usage.db import AccountingDB
from usage.page import Budget, render_page
from usage.reports import decision_json, usage_report
from usage.team import BadSort, Sort, idle_now, render_team

DEFAULT_DECISIONS_S = 86_400.0  # without ?since=: the last day
CHART_S = 86_400.0  # My compute's chart: the last day
IDLE_SAMPLE_AGE_S = 60.0  # "idle now": from a cluster's sample no older than this


def parse_since(text: str | None, now_s: float) -> float:
    """``?since=`` as epoch seconds or ISO 8601 (UTC if no offset); the last day if absent."""
    if not text:
        return now_s - DEFAULT_DECISIONS_S
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise web.HTTPError(400, f"since={text!r}: not epoch seconds nor ISO 8601") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class UsageHandler(HubOAuthenticated, web.RequestHandler):
    """A signed-in hub user's request, with the scope of data it may read."""

    @property
    def db(self) -> AccountingDB:
        return self.settings["accounting_db"]

    @property
    def clusters(self) -> ClusterSource:
        return self.settings["cluster_source"]

    @property
    def admins(self) -> HubAdmins:
        return self.settings["hub_admins"]

    @property
    def caller(self) -> str:
        return self.current_user["name"]

    async def scope(self) -> Scope:
        user = self.get_argument("user", None)
        everyone = self.get_argument("all", "") in ("1", "true")
        wider = everyone or (user is not None and user != self.caller)
        is_admin = wider and await self.admins.is_admin(self.caller)
        try:
            return requested_scope(self.caller, user, everyone, is_admin)
        except Forbidden as error:
            raise web.HTTPError(403, str(error)) from None

    def cluster_rows(self, scope: Scope) -> list[dict[str, Any]]:
        views = self.clusters.clusters()
        mine = [v for v in views if scope.owner is None or v.key.owner == scope.owner]
        return [{"user": v.key.owner, **v.as_json()} for v in mine]

    def write_json(self, body: dict[str, Any]) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        message = getattr(error, "log_message", None) or self._reason
        self.write_json({"status": status_code, "message": message})


class ClustersHandler(UsageHandler):
    @web.authenticated
    async def get(self) -> None:
        self.write_json({"clusters": self.cluster_rows(await self.scope())})


class UsageApiHandler(UsageHandler):
    @web.authenticated
    async def get(self) -> None:
        scope = await self.scope()
        self.write_json(usage_report(self.db, time.time(), scope.owner))


class DecisionsHandler(UsageHandler):
    @web.authenticated
    async def get(self) -> None:
        scope = await self.scope()
        since_s = parse_since(self.get_argument("since", None), time.time())
        decisions = self.db.decisions(since_s, scope.owner)
        self.write_json({"since": since_s, "decisions": [decision_json(d) for d in decisions]})


class PageHandler(UsageHandler):
    @web.authenticated
    async def get(self) -> None:
        scope = await self.scope()
        owner = scope.owner or self.caller  # the page shows one user: ?all=1 shows the caller
        now_s = time.time()
        since_s = now_s - CHART_S
        report = usage_report(self.db, now_s, owner)["users"][owner]
        decisions = self.db.decisions(since_s, owner)
        points = self.db.series(owner, since_s)
        start_s = window_start(points, decisions, now_s, CHART_S)
        chart = render_chart(points, decisions, start_s, now_s)
        rows = self.cluster_rows(Scope(owner))
        budget = budgets(self.clusters.clusters()).get(owner)
        held = sum(row["workers"] * row["coresPerWorker"] for row in rows)
        page = render_page(
            self.caller,
            owner,
            rows,
            report,
            chart,
            [decision_json(d) for d in decisions],
            Budget(budget, held),
        )
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(page)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        error = kwargs.get("exc_info", (None, None, None))[1]
        message = getattr(error, "log_message", None) or self._reason
        self.finish(f"{status_code}: {message}\n")


class AdminHandler(UsageHandler):
    """A request only hub admins may make: anyone else gets 403."""

    async def require_admin(self) -> None:
        if not await self.admins.is_admin(self.caller):
            raise web.HTTPError(403, f"{self.caller} is not a hub admin")

    def idle_clusters(self, now_s: float) -> list[dict[str, Any]]:
        return idle_now(self.db.latest(), now_s, IDLE_SAMPLE_AGE_S)


class TeamHandler(AdminHandler, PageHandler):
    @web.authenticated
    async def get(self) -> None:
        await self.require_admin()
        try:
            sort = Sort.parse(self.get_argument("sort", None), self.get_argument("order", None))
        except BadSort as error:
            raise web.HTTPError(400, str(error)) from None
        now_s = time.time()
        users = usage_report(self.db, now_s, None)["users"]
        self.set_header("Content-Type", "text/html; charset=utf-8")
        limits = budgets(self.clusters.clusters())
        page = render_team(self.caller, users, sort, self.idle_clusters(now_s), limits)
        self.finish(page)


class IdleHandler(AdminHandler):
    @web.authenticated
    async def get(self) -> None:
        await self.require_admin()
        self.write_json({"clusters": self.idle_clusters(time.time())})


def make_app(
    prefix: str, db: AccountingDB, clusters: ClusterSource, admins: HubAdmins
) -> web.Application:
    """The service's routes under its hub prefix (``/services/hubscale/``)."""
    prefix = prefix.rstrip("/")
    routes = [
        (rf"{prefix}/?", PageHandler),
        (rf"{prefix}/oauth_callback", HubOAuthCallbackHandler),
        (rf"{prefix}/api/clusters", ClustersHandler),
        (rf"{prefix}/api/usage", UsageApiHandler),
        (rf"{prefix}/api/decisions", DecisionsHandler),
        (rf"{prefix}/team", TeamHandler),
        (rf"{prefix}/api/idle", IdleHandler),
    ]
    return web.Application(
        routes,  # type: ignore[arg-type]
        accounting_db=db,
        cluster_source=clusters,
        hub_admins=admins,
        cookie_secret=secrets.token_bytes(32),  # OAuth state cookies; a restart signs in again
        xsrf_cookies=False,
    )
