"""The process's default reactor, and how to choose it.

Importing this module starts nothing.  The default reactor is created on
first use of ``torsion.reactor.reactor``::

    from torsion.reactor import reactor     # the default backend (epoll on Linux)
    reactor.callLater(1.0, reactor.stop)
    reactor.run()

To choose a backend, install it before anything uses the default::

    import torsion.reactor
    torsion.reactor.install("poll")          # or set TORSION_REACTOR=poll

Tests and libraries should not share the global: ``new_reactor("select")``
returns an independent reactor.

Backends: ``epoll`` (Linux default), ``poll`` (default elsewhere), ``select``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from torsion import error
from torsion._reactors import BACKENDS, default_backend
from torsion._reactors import new_reactor as _new_reactor

if TYPE_CHECKING:
    from torsion._reactors._posix import PosixReactorBase

__all__ = ["BACKENDS", "install", "installed", "new_reactor", "reactor"]

_installed: PosixReactorBase | None = None


def new_reactor(name: str | None = None) -> PosixReactorBase:
    """Return a new reactor of backend ``name``, independent of the default.

    Raises:
        ValueError: for an unknown backend name.
    """
    created: PosixReactorBase = _new_reactor(name)
    return created


def install(name: str | None = None) -> PosixReactorBase:
    """Create the default reactor with backend ``name`` and return it.

    Without a name, ``TORSION_REACTOR`` decides, then the platform default.

    Raises:
        ReactorAlreadyInstalledError: when a default reactor exists already.
        ValueError: for an unknown backend name.
    """
    global _installed
    if _installed is not None:
        raise error.ReactorAlreadyInstalledError("reactor already installed")
    _installed = new_reactor(name or os.environ.get("TORSION_REACTOR") or default_backend())
    return _installed


def installed() -> bool:
    """Whether the default reactor has been created."""
    return _installed is not None


def __getattr__(name: str) -> PosixReactorBase:
    if name == "reactor":
        return _installed if _installed is not None else install()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if TYPE_CHECKING:
    reactor: PosixReactorBase
