"""The log server's HTTP JSON API: ``/stats/top``, ``/stats/daily``, ``/stats/items``.

Each takes ``days`` (the last N UTC days, today included; default 7); ``top``
and ``items`` also take ``kind`` (track, album, zip) and ``top`` takes
``limit`` (default 10).  Queries read SQLite in the reactor's thread pool, so
a long query never stalls the collection of events.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dlserver import _logdb_query as query
from dlserver.events import ItemKind
from torsion.threads import deferToThreadPool
from torsion.web.resource import Resource

__all__ = ["QueryError", "StatsResource", "run_query"]

_KINDS = tuple(kind.value for kind in ItemKind)
_MAX_DAYS = 3660
_MAX_LIMIT = 1000


class QueryError(ValueError):
    """A query's parameters are invalid (an HTTP 400)."""


def _number(value: str | None, name: str, default: int, high: int) -> int:
    if value is None:
        return default
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= high:
        raise QueryError(f"{name} must be a whole number from 1 to {high}, got {value!r:.20}")
    return int(value)


def _kind(value: str | None) -> str | None:
    if value is not None and value not in _KINDS:
        raise QueryError(f"kind must be one of {', '.join(_KINDS)}, got {value!r:.20}")
    return value


def run_query(
    directory: Path, name: str, params: dict[str, str], now: float
) -> dict[str, object]:
    """Run query ``name`` (top, daily, items) with string parameters; a JSON-ready dict.

    Raises:
        QueryError: for an unknown query or invalid parameters.
    """
    days = _number(params.get("days"), "days", 7, _MAX_DAYS)
    since, until = query.last_days(now, days)
    answer: dict[str, object] = {"days": days, "since": since, "until": until}
    rows: list[Any]
    if name == "top":
        limit = _number(params.get("limit"), "limit", 10, _MAX_LIMIT)
        kind = _kind(params.get("kind"))
        rows = query.top_items(directory, since, until, limit, kind)
    elif name == "daily":
        rows = query.daily(directory, since, until)
    elif name == "items":
        rows = query.item_days(directory, since, until, _kind(params.get("kind")))
    else:
        raise QueryError(f"unknown query {name!r:.40}: use top, daily or items")
    answer["rows"] = [dataclasses.asdict(row) for row in rows]
    return answer


class StatsResource(Resource):
    """``GET /stats/<query>?days=N...``: the query's answer as JSON (400 on bad input).

    Args:
        directory: the log files' directory.
        reactor: runs the queries in its thread pool.
        now: the wall clock that sets "today" (default ``time.time``).
    """

    isLeaf = True

    def __init__(
        self, directory: Path, reactor: Any, now: Callable[[], float] = time.time
    ) -> None:
        super().__init__()
        self.directory = directory
        self.reactor = reactor
        self._now = now

    async def render_GET(self, request: Any) -> bytes:
        """The JSON answer of the query named by the path."""
        request.setHeader(b"content-type", b"application/json")
        request.setHeader(b"cache-control", b"no-store")
        name = b"/".join(request.postpath).decode("utf-8", "replace")
        params = {key.decode("utf-8", "replace"): values[-1].decode("utf-8", "replace")
                  for key, values in request.args.items() if values}
        now = self._now()
        work: Callable[[], dict[str, object]] = lambda: run_query(  # noqa: E731
            self.directory, name, params, now)
        try:
            answer = await deferToThreadPool(self.reactor, self.reactor.getThreadPool(), work)
        except QueryError as exc:
            request.setResponseCode(400)
            return json.dumps({"error": str(exc)}).encode() + b"\n"
        return json.dumps(answer, separators=(",", ":")).encode() + b"\n"
