"""The tracking service's answers when MLflow says something unexpected or nothing at all.

The hub's sign-in is replaced by a fixed caller and MLflow by an ``httpx.MockTransport``: these
are the MLflow answers a real server does not give on request (the real path is tested in
``tests/integration/test_tracking_service.py``)."""

from __future__ import annotations

import json

import httpx
import pytest
from tornado.testing import AsyncHTTPTestCase

from tracking.service import TrackingHandler, make_app

RUN = "0123456789abcdef0123456789abcdef"


class Service(AsyncHTTPTestCase):
    answer: httpx.Response | Exception

    def get_app(self):
        app = make_app("/services/mlflow/", "/nonexistent.sock")

        def mlflow(_request: httpx.Request) -> httpx.Response:
            if isinstance(self.answer, Exception):
                raise self.answer
            return self.answer

        app.settings["upstream"] = httpx.AsyncClient(
            base_url="http://localhost", transport=httpx.MockTransport(mlflow)
        )
        return app

    def log_metric(self) -> tuple[int, dict]:
        body = json.dumps({"run_id": RUN, "key": "m", "value": 1.0, "timestamp": 0, "step": 0})
        path = "/services/mlflow/api/2.0/mlflow/runs/log-metric"
        response = self.fetch(path, method="POST", body=body, raise_error=False)
        return response.code, json.loads(response.body)


@pytest.fixture(autouse=True)
def signed_in_as_ana(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TrackingHandler, "get_current_user", lambda _self: {"name": "ana"})


class TestWhenMlflowMisbehaves(Service):
    def test_an_answer_of_another_shape_is_a_502_not_a_crash(self):
        self.answer = httpx.Response(200, json={"run": {"no-info": True}})

        assert self.log_metric() == (
            502,
            {
                "error_code": "TEMPORARILY_UNAVAILABLE",
                "message": "the MLflow server's answer was not what the service expects",
            },
        )

    def test_an_unreachable_server_is_a_502_that_says_so(self):
        self.answer = httpx.ConnectError("no socket")

        status, body = self.log_metric()

        assert status == 502
        assert body["message"] == "the MLflow server is not reachable: ConnectError"
