"""Fixtures of the transport conformance suites: every test runs on every backend.

``backend`` and ``reactor`` are :mod:`support.backends`' (shared with the
reactor suite).  A module whose tests need more (the process suites check for
zombies too) overrides ``reactor``; one that tests no real reactor (string
parsing, TLS in memory) defines its own.
"""

from __future__ import annotations

from support.backends import backend, reactor  # noqa: F401 - fixtures
