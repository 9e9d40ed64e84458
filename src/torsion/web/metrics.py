"""A resource serving a :class:`torsion.metrics.Registry` to Prometheus scrapers.

Example::

    from torsion.metrics import Registry
    from torsion.web.metrics import MetricsResource

    registry = Registry()
    root.putChild(b"metrics", MetricsResource(registry))

Each GET renders the registry afresh (gauge callbacks run then) in the text
exposition format 0.0.4.
"""

from __future__ import annotations

from typing import Any

from torsion.metrics import CONTENT_TYPE, Registry
from torsion.web.resource import Resource

__all__ = ["MetricsResource"]


class MetricsResource(Resource):
    """``GET``: the registry's metrics as ``text/plain; version=0.0.4``.

    Args:
        registry: the metrics to expose.
    """

    isLeaf = True

    def __init__(self, registry: Registry) -> None:
        super().__init__()
        self.registry = registry

    def render_GET(self, request: Any) -> bytes:
        """The exposition text, UTF-8, never cached."""
        # A label value with a lone surrogate cannot be UTF-8: replace it rather than fail
        # the whole scrape.
        body = self.registry.exposition().encode("utf-8", "replace")
        request.setHeader(b"content-type", CONTENT_TYPE.encode("ascii"))
        request.setHeader(b"cache-control", b"no-store")
        return body
