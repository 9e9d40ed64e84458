"""Reactor backends, by name.

Each entry maps a name usable with ``torsion.reactor.install(name)`` or the
``TORSION_REACTOR`` environment variable to ``module:class``; backends are
imported only when chosen.
"""

from __future__ import annotations

import importlib
import select
from typing import Any

__all__ = ["BACKENDS", "default_backend", "new_reactor"]

BACKENDS: dict[str, str] = {
    "epoll": "torsion._reactors._epoll:EPollReactor",
    "poll": "torsion._reactors._poll:PollReactor",
    "select": "torsion._reactors._select:SelectReactor",
    "asyncio": "torsion._reactors._asyncio:AsyncioReactor",
    "uvloop": "torsion._reactors._uvloop:UVLoopReactor",
    "tk": "torsion._reactors._tk:TkReactor",
}


def default_backend() -> str:
    """epoll where the system has it, poll elsewhere, select as a last resort."""
    if hasattr(select, "epoll"):
        return "epoll"
    if hasattr(select, "poll"):
        return "poll"
    return "select"


def new_reactor(name: str | None = None) -> Any:
    """Return a new, independent reactor of backend ``name`` (the default if None).

    Raises:
        ValueError: for an unknown backend name.
    """
    name = name or default_backend()
    try:
        target = BACKENDS[name]
    except KeyError:
        known = ", ".join(sorted(BACKENDS))
        raise ValueError(f"unknown reactor {name!r}: choose one of {known}") from None
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)()
