"""The ``backend`` and ``reactor`` fixtures of the conformance suites.

A conftest offers them by importing them (``from support.backends import backend,
reactor``).  ``backend`` is each name in ``torsion.testing.BACKENDS`` in turn
(tk gets a private Xvfb display from the root conftest's ``x_display``; a
backend that cannot run here is skipped with the reason).  ``reactor`` is a
fresh reactor of that backend from ``torsion.testing.checked_reactor``: at
teardown it is stopped (if the test did not stop it: the shutdown event closes
connections and stops the thread pool) and closed, and the test fails if a file
descriptor or a thread it started is still there.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from torsion.testing import BACKENDS, backend_unavailable, checked_reactor


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The name of each reactor backend in turn (skipped where it cannot run here)."""
    name: str = request.param
    if name == "tk":
        request.getfixturevalue("x_display")  # Tk needs an X server: a private Xvfb
    reason = backend_unavailable(name)
    if reason is not None:
        pytest.skip(reason)
    return name


@pytest.fixture
def reactor(backend: str) -> Iterator[Any]:
    """A new reactor of ``backend``; stopped, closed and checked for leaks afterwards."""
    with checked_reactor(backend) as r:
        yield r
