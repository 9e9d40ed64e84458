"""The download server's settings: one validated, immutable :class:`ServerConfig`.

``dlserver serve`` builds one from its options; tests build them directly. Nothing here
opens a socket or a file: :func:`dlserver.server.build_site` does, from the config.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEFAULT_LINK_TTL", "ServerConfig", "parse_host_port"]

#: How long the links the server prints (``dlserver demo``) stay valid, in seconds.
DEFAULT_LINK_TTL = 24 * 3600


def parse_host_port(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) as ``(ip, port)``; HOST is an IP literal.

    The log collector is addressed by IP: resolving a name would block the reactor,
    and an event emitter must never block.

    Example:
        >>> parse_host_port("127.0.0.1:9514"), parse_host_port("[::1]:9514")
        (('127.0.0.1', 9514), ('::1', 9514))

    Raises:
        ValueError: not ``HOST:PORT``, HOST not an IP address, or PORT not in 1..65535.
    """
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"HOST must be an IP address, got {host!r}") from None
    number = int(port)
    if not 1 <= number <= 65535:
        raise ValueError(f"PORT must be in 1..65535, got {number}")
    return host, number


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """What the download server serves and how.

    Attributes:
        data_dir: the data directory: catalog, signing keys, media root.
        listen: server endpoint descriptions (``tcp:8080:interface=127.0.0.1``,
            ``ssl:8443:privateKey=key.pem``, ``unix:/run/dl.sock``), one port each.
        link_keys: ``(key_id, secret)`` pairs that verify links, the signing key first;
            None reads them from ``data_dir`` (``keys.json``, created if missing).
        max_downloads: downloads running at once, all clients together; more wait in
            a FIFO queue.
        max_per_client: downloads running at once per client address.
        rate: bytes per second per download, None for no limit.
        global_rate: bytes per second for all downloads together, None for no limit.
        log_udp: ``(ip, port)`` of the download-event collector, None for none.
        base_url: the scheme and host printed links start with (no trailing ``/``);
            None derives it from the first endpoint.
        link_ttl: seconds the links the server prints stay valid.
        access_log: a file the combined access log is appended to, if any.
        send_timeout: seconds a download may make no progress (the client reads
            nothing) before it is aborted and its slot freed; None for never.
        redis_url: share the download queue and per-client caps through this Redis
            (``redis://host:port/db``, ``unix:///path.sock``) with every process and
            machine using it; None keeps them in this process.

    Raises:
        ValueError: no endpoint, a cap below 1, a rate below 1, a bad base URL.
    """

    data_dir: Path
    listen: tuple[str, ...] = ("tcp:8080:interface=127.0.0.1",)
    link_keys: tuple[tuple[str, bytes], ...] | None = None
    max_downloads: int = 100
    max_per_client: int = 2
    rate: int | None = None
    global_rate: int | None = None
    log_udp: tuple[str, int] | None = None
    base_url: str | None = None
    link_ttl: int = DEFAULT_LINK_TTL
    access_log: str | None = None
    redis_url: str | None = None
    send_timeout: float | None = 60.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(os.fspath(self.data_dir)))
        object.__setattr__(self, "listen", tuple(self.listen))
        if self.link_keys is not None:
            object.__setattr__(self, "link_keys", tuple(tuple(k) for k in self.link_keys))
        if not self.listen:
            raise ValueError("at least one listen endpoint is needed")
        if self.max_downloads < 1:
            raise ValueError(f"max_downloads must be >= 1, not {self.max_downloads}")
        if self.max_per_client < 1:
            raise ValueError(f"max_per_client must be >= 1, not {self.max_per_client}")
        for name, value in (("rate", self.rate), ("global_rate", self.global_rate)):
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 byte/s, not {value}")
        if self.send_timeout is not None and self.send_timeout <= 0:
            raise ValueError(f"send_timeout must be > 0 seconds, not {self.send_timeout}")
        if self.link_ttl < 1:
            raise ValueError(f"link_ttl must be >= 1 second, not {self.link_ttl}")
        if self.base_url is not None:
            if not self.base_url.startswith(("http://", "https://")):
                raise ValueError(f"base_url must start with http:// or https://: {self.base_url!r}")
            object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
