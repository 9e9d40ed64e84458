"""The optional C accelerator of the core's fast lane, or ``None``.

``_speedups`` (built from ``_speedups.c`` when a compiler is at hand) has C versions
of two functions whose Python twins stay in ``_readers`` and ``_writers``; the two
give the same answers (the tests run the core with each, and compare them on
generated input). Set ``TORSION_NO_SPEEDUPS=1`` to run the pure Python ones.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

__all__ = ["speedups"]


def _load() -> ModuleType | None:
    if os.environ.get("TORSION_NO_SPEEDUPS", "") not in ("", "0"):
        return None
    try:
        return importlib.import_module("torsion.web.sansio._speedups")
    except ImportError:
        return None


speedups = _load()
"""The C module, or ``None`` (not built, or turned off)."""
