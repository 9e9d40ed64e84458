"""HTTP for torsion.

* :mod:`torsion.web.sansio`: the HTTP/1.1 protocol core, bytes in, events out, with
  no sockets, reactor or clock.
* :mod:`torsion.web.server`: the server adapter, :class:`~torsion.web.server.Site`
  (a protocol factory for ``listenTCP`` and endpoints) and the
  :class:`~torsion.web.server.Request` that resources answer.
* :mod:`torsion.web.resource`: the resource tree (``Resource``, ``putChild``,
  ``render_GET``...) and :class:`~torsion.web.resource.Router` for plain handlers.
* :mod:`torsion.web.static`: :class:`~torsion.web.static.File`, files and directories
  with ranges, conditional requests and ``sendfile``.
* :mod:`torsion.web.forms`: :func:`~torsion.web.forms.parse_form`, urlencoded and
  multipart request bodies (uploads spooled to disk).
* :mod:`torsion.web.representation`: the same for any body whose byte ranges can be
  produced (:func:`~torsion.web.representation.serve_representation`), and
  ``Content-Disposition`` values (:func:`~torsion.web.representation.content_disposition`).

The names below are importable from ``torsion.web`` too; they are loaded on first use,
so importing the sans-IO core alone starts nothing::

    from torsion.web import Resource, Site
"""

import importlib as _importlib
from typing import Any as _Any

__all__ = [
    "NOT_DONE_YET",
    "File",
    "Request",
    "Resource",
    "Router",
    "Site",
    "content_disposition",
    "serve_representation",
]

_HOMES = {
    "NOT_DONE_YET": "torsion.web.server",
    "File": "torsion.web.static",
    "Form": "torsion.web.forms",
    "FormError": "torsion.web.forms",
    "Request": "torsion.web.server",
    "Resource": "torsion.web.resource",
    "Router": "torsion.web.resource",
    "Site": "torsion.web.server",
    "UploadedFile": "torsion.web.forms",
    "parse_form": "torsion.web.forms",
    "content_disposition": "torsion.web.representation",
    "serve_representation": "torsion.web.representation",
}


def __getattr__(name: str) -> _Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(_importlib.import_module(home), name)
