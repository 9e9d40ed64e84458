"""Where torsion reports errors nobody handled.

torsion logs through the standard :mod:`logging` module, under the ``torsion``
logger hierarchy.  Records about a :class:`~torsion.failure.Failure` carry it
as ``record.failure`` so handlers (the pytest plugin among them) can tell an
unhandled error from ordinary log lines.
"""

from __future__ import annotations

import logging

from torsion.failure import Failure

__all__ = ["log_failure"]


def log_failure(failure: Failure, message: str, logger: str = "torsion") -> None:
    """Log ``failure`` with its traceback at ERROR level, naming it in ``extra``."""
    logging.getLogger(logger).error(
        "%s\n%s", message, failure.getTraceback().rstrip("\n"), extra={"failure": failure}
    )
