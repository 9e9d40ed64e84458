"""Test helpers for code built on torsion.

* Assertions on Deferreds without running a reactor:
  :func:`success_result_of`, :func:`failure_result_of`, :func:`assert_no_result`.
* Test doubles mirroring ``twisted.internet.testing``:
  :class:`StringTransport` (records writes and close requests),
  :class:`StringTransportWithDisconnection`, :class:`MemoryReactor` (records
  ``listenTCP``/``connectTCP``... calls) and :class:`MemoryReactorClock` (the
  same, plus a :class:`torsion.task.Clock`).
* :func:`connect_pair`: a client and a server protocol joined in memory; the
  returned :class:`Pump` moves bytes between them on ``flush()``.
* A conformance kit for running one test on every reactor backend:
  :data:`BACKENDS`, :func:`checked_reactor` (a fresh reactor, shut down and
  checked for leaked descriptors, threads and zombies afterwards),
  :func:`run_until` / :func:`run_for` (drive a real reactor until a Deferred
  or coroutine has its result), :func:`backend_unavailable` (why a backend
  cannot run here), :func:`open_fds` and :func:`unreaped_children`.
* A pytest plugin (loaded automatically once torsion is installed): a test may
  be ``async def`` or return a Deferred and is run to completion; the
  ``clock`` fixture gives a deterministic :class:`torsion.task.Clock`; a
  Deferred failure left unhandled during a test fails that test unless the
  test takes it with the ``logged_failures`` fixture.

Example::

    from torsion.defer import succeed
    from torsion.testing import success_result_of

    def test_double() -> None:
        assert success_result_of(succeed(2).addCallback(lambda n: n * 2)) == 4
"""

from torsion.testing._conformance import (
    BACKENDS,
    LeakError,
    ReactorTimeout,
    backend_unavailable,
    checked_reactor,
    open_fds,
    run_for,
    run_until,
    unreaped_children,
)
from torsion.testing._reactor import (
    FakeConnector,
    FakePort,
    MemoryReactor,
    MemoryReactorClock,
)
from torsion.testing._results import (
    assert_no_result,
    failure_result_of,
    success_result_of,
)
from torsion.testing._transports import (
    Pump,
    PumpTransport,
    StringTransport,
    StringTransportWithDisconnection,
    connect_pair,
)

__all__ = [
    "BACKENDS",
    "FakeConnector",
    "FakePort",
    "LeakError",
    "MemoryReactor",
    "MemoryReactorClock",
    "Pump",
    "PumpTransport",
    "ReactorTimeout",
    "StringTransport",
    "StringTransportWithDisconnection",
    "assert_no_result",
    "backend_unavailable",
    "checked_reactor",
    "connect_pair",
    "failure_result_of",
    "open_fds",
    "run_for",
    "run_until",
    "success_result_of",
    "unreaped_children",
]
