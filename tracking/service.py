"""The ``mlflow`` hub service: MLflow's tracking server behind the hub's identity.

Every request is a hub user's (a browser's hub cookie, or a token: ``MLFLOW_TRACKING_TOKEN`` in a
kernel). ``tracking.rules`` reads what it asks for; writes to a run, a logged model or an
experiment are checked against the owner MLflow has on record; then the request goes on to the
MLflow server (on its Unix socket) without the caller's credentials.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections import OrderedDict
from typing import Any

import httpx
from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
from tornado import web

from tracking.rules import (
    EXPERIMENT_OWNER_TAG,
    CreateExperiment,
    CreateModel,
    CreateRun,
    ExperimentWrite,
    ModelWrite,
    Read,
    Refused,
    RunWrite,
    classify,
)
from tracking.server import UPSTREAM_URL

log = logging.getLogger("tracking")

UPSTREAM_TIMEOUT_S = 60.0
MAX_BODY_BYTES = 512 * 1024 * 1024  # one artifact upload (larger ones: multipart, per part)
FORWARDED_REQUEST_HEADERS = ("Content-Type", "Accept", "Range")
# As MLflow sent them, with the body's bytes unchanged (Content-Length: a cut stream shows).
FORWARDED_RESPONSE_HEADERS = (
    "Content-Type",
    "Content-Length",
    "Content-Encoding",
    "Content-Disposition",
    "Content-Range",
    "ETag",
)
API = "api/2.0/mlflow"
KNOWN_RUNS = 10_000  # runs whose owner the service remembers (about 1 MB)


class RunOwners:
    """Each run's user and experiment as MLflow recorded them at its creation, which no API call
    changes: asked of MLflow once per run, not on every write (a training loop logs per step)."""

    def __init__(self, size: int = KNOWN_RUNS) -> None:
        self.size = size
        self._known: OrderedDict[str, tuple[str, str]] = OrderedDict()

    def get(self, run_id: str) -> tuple[str, str] | None:
        found = self._known.get(run_id)
        if found is not None:
            self._known.move_to_end(run_id)
        return found

    def put(self, run_id: str, owner: str, experiment_id: str) -> None:
        self._known[run_id] = (owner, experiment_id)
        self._known.move_to_end(run_id)
        while len(self._known) > self.size:
            self._known.popitem(last=False)


class TrackingHandler(HubOAuthenticated, web.RequestHandler):
    """Any path under the service's prefix, for a signed-in hub user."""

    @property
    def upstream(self) -> httpx.AsyncClient:
        return self.settings["upstream"]

    @property
    def caller(self) -> str:
        return self.current_user["name"]

    @property
    def path(self) -> str:
        """The request's path below the service's prefix, still percent-encoded."""
        return self.request.path[len(self.settings["prefix"]) :].lstrip("/")

    def check_xsrf_cookie(self) -> None:
        """A browser's hub cookie may read (MLflow's web UI searches by POST, and cannot send the
        hub's XSRF token); a write with a cookie needs that token, as the hub asks of all."""
        method = self.request.method or "GET"
        try:
            reads = isinstance(classify(method, self.path, self.request.body, ""), Read)
        except Refused:
            reads = False
        if not reads:
            super().check_xsrf_cookie()

    @web.authenticated
    async def get(self, _path: str) -> None:
        await self.handle(self.path)

    head = get
    post = get
    put = get
    patch = get
    delete = get

    async def handle(self, path: str) -> None:
        body = self.request.body
        try:
            action = classify(self.request.method or "GET", path, body, self.caller)
            if isinstance(action, CreateRun | CreateExperiment):
                body = json.dumps(action.body).encode()
            elif isinstance(action, RunWrite | CreateModel):
                await self.require_run(action.run_id, getattr(action, "experiment_id", None))
            elif isinstance(action, ModelWrite):
                await self.require_model(action.model_id)
            elif isinstance(action, ExperimentWrite):
                await self.require_experiment(action.experiment_id)
        except (KeyError, TypeError, AttributeError) as error:  # an answer of MLflow's not read
            log.warning("tracking-unexpected-answer path=%s error=%r", path, error)
            self.refuse(502, "the MLflow server's answer was not what the service expects")
            return
        except Refused as refused:
            log.info(
                "tracking-refused user=%s method=%s path=%s status=%d",
                self.caller,
                self.request.method,
                path,
                refused.status,
            )
            self.refuse(refused.status, refused.message)
            return
        await self.forward(path, body)

    async def require_run(self, run_id: str, experiment_id: str | None = None) -> None:
        owners: RunOwners = self.settings["run_owners"]
        known = owners.get(run_id)
        if known is None:
            found = await self.lookup("runs/get", {"run_id": run_id}, f"run {run_id}")
            info = found["run"]["info"]
            known = (str(info.get("user_id")), str(info.get("experiment_id")))
            owners.put(run_id, *known)
        owner, run_experiment = known
        if experiment_id is not None and run_experiment != experiment_id:
            raise Refused(403, f"run {run_id} is not in experiment {experiment_id}")
        if owner != self.caller:
            raise Refused(403, f"run {run_id} is {owner}'s: only {owner} may change it")

    async def require_model(self, model_id: str) -> None:
        found = await self.lookup(f"logged-models/{model_id}", {}, f"logged model {model_id}")
        run_id = found["model"]["info"].get("source_run_id")
        if not run_id:
            raise Refused(403, f"logged model {model_id} has no source run: nobody may change it")
        await self.require_run(run_id)

    async def require_experiment(self, experiment_id: str) -> None:
        params = {"experiment_id": experiment_id}
        found = await self.lookup("experiments/get", params, f"experiment {experiment_id}")
        tags = {tag["key"]: tag.get("value") for tag in found["experiment"].get("tags", [])}
        owner = tags.get(EXPERIMENT_OWNER_TAG)
        if owner != self.caller:
            who = f"{owner}'s" if owner else "the platform's"
            raise Refused(
                403, f"experiment {experiment_id} is {who}: only its creator may change it"
            )

    async def lookup(self, endpoint: str, params: dict[str, str], what: str) -> dict[str, Any]:
        """MLflow's record of ``what`` (to check its owner); Refused 404 if there is none."""
        try:
            response = await self.upstream.get(f"/{API}/{endpoint}", params=params)
        except httpx.HTTPError as error:
            raise Refused(
                502, f"the MLflow server is not reachable: {type(error).__name__}"
            ) from None
        if response.status_code in (400, 404):
            raise Refused(404, f"no {what}")
        if response.status_code != 200:
            raise Refused(502, f"the MLflow server answered {response.status_code} for {what}")
        try:
            return response.json()
        except ValueError:
            raise Refused(502, f"the MLflow server's answer for {what} is not JSON") from None

    async def forward(self, path: str, body: bytes) -> None:
        headers = {
            name: self.request.headers[name]
            for name in FORWARDED_REQUEST_HEADERS
            if name in self.request.headers
        }
        method = self.request.method or "GET"
        query = f"?{self.request.query}" if self.request.query else ""
        request = self.upstream.build_request(
            method,
            f"/{path}{query}",
            content=body if method not in ("GET", "HEAD") else None,
            headers=headers,
        )
        try:
            response = await self.upstream.send(request, stream=True)
        except httpx.HTTPError as error:
            self.refuse(502, f"the MLflow server is not reachable: {type(error).__name__}")
            return
        try:  # streamed: an artifact download never sits whole in the service's memory
            self.set_status(response.status_code)
            for name in FORWARDED_RESPONSE_HEADERS:
                if name in response.headers:
                    self.set_header(name, response.headers[name])
            async for chunk in response.aiter_raw():
                self.write(chunk)
                await self.flush()
        except httpx.HTTPError as error:  # short of Content-Length: the client sees it cut
            log.warning("tracking-stream-broken path=%s error=%s", path, type(error).__name__)
        finally:
            await response.aclose()
        self.finish()

    def refuse(self, status: int, message: str) -> None:
        """An error as MLflow's clients read one (``error_code``, ``message``)."""
        codes = {400: "INVALID_PARAMETER_VALUE", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        body = {"error_code": codes.get(status, "TEMPORARILY_UNAVAILABLE"), "message": message}
        self.finish(json.dumps(body))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        self.refuse(status_code, getattr(error, "log_message", None) or self._reason)


def make_app(prefix: str, mlflow_socket: str) -> web.Application:
    """The service's routes under its hub prefix (``/services/mlflow/``); MLflow on its Unix
    socket, at its root (the prefix is taken off, as MLflow's web UI allows)."""
    prefix = prefix.rstrip("/")
    upstream = httpx.AsyncClient(
        base_url=UPSTREAM_URL,
        transport=httpx.AsyncHTTPTransport(uds=mlflow_socket),
        timeout=UPSTREAM_TIMEOUT_S,
    )
    routes = [
        (rf"{prefix}/oauth_callback", HubOAuthCallbackHandler),
        (rf"{prefix}/?(.*)", TrackingHandler),
    ]
    return web.Application(
        routes,  # type: ignore[arg-type]
        prefix=prefix,
        upstream=upstream,
        run_owners=RunOwners(),
        cookie_secret=secrets.token_bytes(32),  # OAuth state cookies; a restart signs in again
        xsrf_cookies=False,
    )
