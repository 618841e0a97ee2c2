"""Run code in a user's kernel the way JupyterLab does: the Jupyter server's REST API to start the
kernel, its websocket (Jupyter messaging protocol, JSON frames) to execute, through the hub's proxy.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import websocket


class KernelError(AssertionError):
    """The kernel did not answer in time, or died."""


@dataclass
class Execution:
    """What one execute_request produced."""

    status: str = ""  # "ok" or "error"
    stdout: str = ""
    stderr: str = ""
    result: str = ""  # text/plain of the execute_result
    error: str = ""  # ename: evalue and the traceback
    displays: list[dict[str, str]] = field(default_factory=list)  # display_data bundles

    def lines(self, prefix: str) -> list[str]:
        """stdout lines starting with ``prefix``, with it removed."""
        return [
            line[len(prefix) :].strip()
            for line in self.stdout.splitlines()
            if line.startswith(prefix)
        ]


@dataclass
class Kernel:
    """One kernel of one notebook server, e.g. ``server_url`` = http://127.0.0.1:8000/user/alice/."""

    server_url: str
    token: str
    name: str
    kernel_id: str = ""
    session: str = field(default_factory=lambda: uuid.uuid4().hex)
    _socket: websocket.WebSocket | None = None

    def start(self, timeout_s: float = 180.0) -> Kernel:
        response = httpx.post(
            f"{self.server_url}api/kernels",
            json={"name": self.name},
            headers=self._headers(),
            timeout=60,
        )
        response.raise_for_status()
        self.kernel_id = response.json()["id"]
        self._request("kernel_info_request", {}, "shell", timeout_s)
        return self

    def _connect(self) -> websocket.WebSocket:
        """A fresh channels websocket: the server closes one left unread (unanswered pings)
        while other work runs, so each request gets its own, as a reloaded JupyterLab tab does."""
        self.close()
        ws_url = self.server_url.replace("http", "ws", 1)
        self._socket = websocket.create_connection(
            f"{ws_url}api/kernels/{self.kernel_id}/channels?session_id={self.session}",
            header=[f"Authorization: token {self.token}"],
            timeout=30,
        )
        return self._socket

    def execute(
        self,
        code: str,
        timeout_s: float = 300.0,
        until: Callable[[Execution], bool] | None = None,
    ) -> Execution:
        """Run ``code``; with ``until``, return as soon as the output so far satisfies it (the
        cell may still run: ``interrupt`` it)."""
        content = {
            "code": code,
            "silent": False,
            "store_history": False,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        }
        return self._request("execute_request", content, "shell", timeout_s, until)

    def interrupt(self) -> None:
        """Interrupt the running cell, as JupyterLab's stop button does."""
        httpx.post(
            f"{self.server_url}api/kernels/{self.kernel_id}/interrupt",
            headers=self._headers(),
            timeout=60,
        ).raise_for_status()

    def close(self) -> None:
        """Close the websocket; the kernel runs on (the server owns it)."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def shutdown(self) -> None:
        self.close()
        if self.kernel_id:
            httpx.delete(
                f"{self.server_url}api/kernels/{self.kernel_id}",
                headers=self._headers(),
                timeout=60,
            )

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def _request(
        self,
        msg_type: str,
        content: dict,
        channel: str,
        timeout_s: float,
        until: Callable[[Execution], bool] | None = None,
    ) -> Execution:
        """Send one request; collect its output until its reply and the kernel's idle status."""
        assert self.kernel_id, "start the kernel first"
        socket = self._connect()
        msg_id = uuid.uuid4().hex
        header = {
            "msg_id": msg_id,
            "msg_type": msg_type,
            "username": "hubscale-test",
            "session": self.session,
            "date": datetime.now(UTC).isoformat(),
            "version": "5.3",
        }
        message = {"header": header, "parent_header": {}, "metadata": {}, "content": content}
        socket.send(json.dumps({**message, "channel": channel, "buffers": []}))
        execution, replied, idle = Execution(), False, False
        deadline = time.monotonic() + timeout_s
        while not (replied and idle):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise KernelError(f"{msg_type} got no full answer in {timeout_s:g} s: {execution}")
            socket.settimeout(min(remaining, 30.0))
            try:
                frame = socket.recv()
            except websocket.WebSocketTimeoutException:
                continue
            if not frame:
                raise KernelError(f"{msg_type}: the server closed the websocket: {execution}")
            answer = json.loads(frame)
            if answer.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, body = answer["msg_type"], answer["content"]
            if kind.endswith("_reply"):
                replied = True
                execution.status = body.get("status", "")
            elif kind == "status":
                idle = body["execution_state"] == "idle"
            elif kind == "stream":
                if body["name"] == "stdout":
                    execution.stdout += body["text"]
                else:
                    execution.stderr += body["text"]
            elif kind == "execute_result":
                execution.result = body["data"].get("text/plain", "")
            elif kind == "display_data":
                execution.displays.append(body["data"])
            elif kind == "error":
                traceback = "\n".join(body.get("traceback", []))
                execution.error = f"{body['ename']}: {body['evalue']}\n{traceback}"
            if until is not None and until(execution):
                return execution
        return execution
