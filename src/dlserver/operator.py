"""The operator page: live throughput, downloads in progress, queues and top albums.

``OperatorPage(monitor)`` is a torsion.web resource to mount (``/operator``): its
index is a self-contained HTML page (no external scripts: operators' networks are
often closed) that polls ``stats.json`` (the monitor's snapshot) every second and
plots the history on a canvas.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from dlserver.monitor import Monitor
from torsion.web.resource import Resource

__all__ = ["OperatorPage"]

_PAGE = resources.files("dlserver").joinpath("static/operator.html").read_bytes()


class _Stats(Resource):
    isLeaf = True

    def __init__(self, monitor: Monitor) -> None:
        super().__init__()
        self._monitor = monitor

    def render_GET(self, request: Any) -> bytes:
        request.setHeader(b"content-type", b"application/json")
        request.setHeader(b"cache-control", b"no-store")
        return json.dumps(self._monitor.snapshot()).encode("utf-8")


class OperatorPage(Resource):
    """``/`` (the page, also without a trailing slash) and ``stats.json``."""

    def __init__(self, monitor: Monitor) -> None:
        super().__init__()
        self.putChild(b"stats.json", _Stats(monitor))

    def getChild(self, path: bytes, request: Any) -> Any:
        if path == b"":
            return self
        return super().getChild(path, request)

    def render_GET(self, request: Any) -> bytes:
        if not request.path.endswith(b"/"):
            # Relative URLs in the page (stats.json) need the directory form.
            request.redirect(request.path + b"/")
            return b""
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        request.setHeader(b"content-security-policy", b"default-src 'self' 'unsafe-inline'")
        return _PAGE
