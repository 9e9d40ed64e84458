"""The reactor methods of each transport family, one mixin per family.

:class:`~torsion._reactors._posix.PosixReactorBase` inherits them all; each
mixin only creates its transport objects and registers them through the
``IReactorFDSet`` methods, so every descriptor backend shares them.
"""

from __future__ import annotations

from torsion._transports.process import ProcessMixin
from torsion._transports.tls import SSLMixin
from torsion._transports.udp import UDPMixin
from torsion._transports.unix import UNIXMixin

__all__ = ["ProcessMixin", "SSLMixin", "UDPMixin", "UNIXMixin"]
