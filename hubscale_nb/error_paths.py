"""Error messages without the server's absolute paths (issue 14, finding 10).

Jupyter Server and its extensions put absolute paths in some errors (an unreadable notebook, a
broken link, nbconvert's page: ``Unreadable Notebook: /home/…/x.ipynb``), and so do Python's own
errors behind a failed spawn (``No such file or directory: '/srv/…/bin/…'``). A user's page gets
paths relative to their server's root, and other absolute paths cut to their last component; the
logs keep the whole message.
"""

from __future__ import annotations

import re
from typing import Any

from tornado.httputil import HTTPHeaders, HTTPServerRequest
from tornado.web import OutputTransform

# An absolute path of at least two components, not part of a URL (``http://h/a/b``: the ``/a``
# follows a word character) nor of a relative path (``a/b/c``).
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~:/-])/(?:[\w.@+~-]+/)+([\w.@+~-]+)?")
HIDDEN = "…/"
_TEXT_TYPES = ("text/", "application/json")


def redact_paths(text: str, root: str | None = None) -> str:
    """``text`` with paths under ``root`` made relative to it and other absolute paths cut to
    ``…/<last component>``."""
    if root:
        root = root.rstrip("/")
        text = re.sub(rf"{re.escape(root)}/", "", text)
        text = re.sub(rf"{re.escape(root)}(?![\w.@+~-])", ".", text)
    return _ABSOLUTE_PATH.sub(lambda match: HIDDEN + (match.group(1) or ""), text)


def root_relative_errors(root: str) -> type[OutputTransform]:
    """A tornado output transform for every error response (status >= 400) of a server whose
    root directory is ``root``: its text body has the paths redacted (``redact_paths``)."""

    class RootRelativeErrors(OutputTransform):
        def __init__(self, request: HTTPServerRequest) -> None:
            super().__init__(request)
            self._redacting = False

        def transform_first_chunk(
            self, status_code: int, headers: HTTPHeaders, chunk: bytes, finishing: bool
        ) -> tuple[int, HTTPHeaders, bytes]:
            content_type = headers.get("Content-Type", "")
            length_promised = "Content-Length" in headers and not finishing
            self._redacting = (
                status_code >= 400
                and content_type.startswith(_TEXT_TYPES)
                and not headers.get("Content-Encoding")
                and not length_promised  # a length sent before the rest is seen: left as is
            )
            if not self._redacting:
                return status_code, headers, chunk
            chunk = self._redact(chunk)
            if "Content-Length" in headers:
                headers["Content-Length"] = str(len(chunk))
            return status_code, headers, chunk

        def transform_chunk(self, chunk: bytes, finishing: bool) -> bytes:
            return self._redact(chunk) if self._redacting else chunk

        @staticmethod
        def _redact(chunk: bytes) -> bytes:
            return redact_paths(chunk.decode("utf-8", "replace"), root).encode()

    return RootRelativeErrors


def install(web_app: Any, root: str) -> None:
    """Redact the paths of every error response of ``web_app`` (a tornado Application)."""
    web_app.transforms.append(root_relative_errors(root))
