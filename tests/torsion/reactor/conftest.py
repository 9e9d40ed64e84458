"""Fixtures of the reactor conformance suite: every test runs on every backend.

``backend`` and ``reactor`` are :mod:`support.backends`' (shared with the
transport suites).
"""

from __future__ import annotations

from support.backends import backend, reactor  # noqa: F401 - fixtures
