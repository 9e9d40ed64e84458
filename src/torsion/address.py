"""Addresses of connection ends, as transports report them.

Mirrors ``twisted.internet.address``: ``IPv4Address("TCP", "127.0.0.1", 8080)``
compares equal by value and is hashable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

__all__ = ["HostnameAddress", "IPv4Address", "IPv6Address", "UNIXAddress"]


@dataclass(frozen=True, slots=True)
class IPv4Address:
    """An IPv4 socket address.

    Attributes:
        type: ``"TCP"`` or ``"UDP"``.
        host: the dotted-quad address.
        port: the port number.
    """

    type: Literal["TCP", "UDP"]
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class IPv6Address:
    """An IPv6 socket address (``host`` without brackets)."""

    type: Literal["TCP", "UDP"]
    host: str
    port: int
    flowInfo: int = 0
    scopeID: int | str = 0


@dataclass(frozen=True, slots=True)
class HostnameAddress:
    """A host name and port, before resolution."""

    hostname: bytes
    port: int


@dataclass(frozen=True, slots=True)
class UNIXAddress:
    """A UNIX socket path (``None`` for an unnamed socket)."""

    name: str | bytes | None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, UNIXAddress):
            return NotImplemented
        if self.name == other.name:
            return True
        if self.name is None or other.name is None:
            return False
        try:
            return os.path.samefile(self.name, other.name)
        except OSError:
            return False

    def __hash__(self) -> int:
        return hash(self.name)
