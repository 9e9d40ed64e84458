"""The download server's URL space, as a pure function of the method and the raw path.

======================================  ====================================
``GET|HEAD /dl/t/<id>/<name>?<link>``   a track (signed link)
``GET|HEAD /dl/a/<id>/<name>.zip?..``   an album as a zip (signed link)
``GET|HEAD /status[?client=<ip>]``      queue positions and counts, JSON
``GET|HEAD /operator``                  the operator page (built elsewhere)
======================================  ====================================

Routing looks at the raw path, as received: the signature covers exactly those bytes,
so nothing is decoded (``%2F`` stays three characters) before the link is verified.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from dlserver.links import parse_download_path

__all__ = ["Route", "RouteKind", "route"]

_READ_METHODS = (b"GET", b"HEAD")


class RouteKind(enum.Enum):
    """What a request asks for."""

    TRACK = "track"
    ALBUM = "album"
    STATUS = "status"
    OPERATOR = "operator"
    NOT_FOUND = "not found"
    BAD_METHOD = "method not allowed"


@dataclass(frozen=True, slots=True)
class Route:
    """A routed request: its kind and, for downloads, the catalog id and the raw path."""

    kind: RouteKind
    item_id: int | None = None
    path: str = ""


def route(method: bytes, raw_path: bytes) -> Route:
    """Where ``method raw_path`` goes (``raw_path`` without the query).

    Example:
        >>> route(b"GET", b"/dl/t/7/A%20-%20B.wav")
        Route(kind=<RouteKind.TRACK: 'track'>, item_id=7, path='/dl/t/7/A%20-%20B.wav')
        >>> route(b"POST", b"/status").kind
        <RouteKind.BAD_METHOD: 'method not allowed'>
    """
    try:
        path = raw_path.decode("ascii")
    except UnicodeDecodeError:
        return Route(RouteKind.NOT_FOUND)  # links are percent-encoded ASCII
    if path in ("/status", "/operator"):
        kind = RouteKind.STATUS if path == "/status" else RouteKind.OPERATOR
    else:
        target = parse_download_path(path)
        if target is None or (target.kind == "album" and not path.endswith(".zip")):
            return Route(RouteKind.NOT_FOUND)
        kind = RouteKind.TRACK if target.kind == "track" else RouteKind.ALBUM
        if method not in _READ_METHODS:
            return Route(RouteKind.BAD_METHOD)
        return Route(kind, target.id, path)
    if method not in _READ_METHODS:
        return Route(RouteKind.BAD_METHOD)
    return Route(kind, None, path)
