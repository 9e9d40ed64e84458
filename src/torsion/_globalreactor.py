"""The one place that looks up the process-wide default reactor.

Library code takes its reactor (or clock) as a parameter.  A few
Twisted-compatible APIs default to the global reactor when given none
(``LoopingCall.clock``, the global ``Cooperator``, ``task.react``); they call
``defaultReactor`` at first use, never at import, so importing torsion starts
nothing.
"""

from __future__ import annotations

import importlib

__all__ = ["defaultReactor"]


def defaultReactor(hint: str) -> object:
    """Return the default reactor, ``torsion.reactor.reactor``.

    Args:
        hint: What the caller can do instead, for the error message.

    Raises:
        RuntimeError: There is no default reactor to use.
    """
    try:
        module = importlib.import_module("torsion.reactor")
    except ModuleNotFoundError as exc:
        if exc.name != "torsion.reactor":
            raise
        message = f"no default reactor: torsion.reactor is not available; {hint}"
        raise RuntimeError(message) from None
    reactor: object = getattr(module, "reactor", None)
    if reactor is None:
        raise RuntimeError(f"no default reactor: torsion.reactor.reactor is not set; {hint}")
    return reactor
