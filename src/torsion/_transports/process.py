"""Reactor methods for this transport family (being written; see the issue)."""

from __future__ import annotations

__all__ = ["ProcessMixin"]


class ProcessMixin:
    """Adds this family's methods to the reactor."""
