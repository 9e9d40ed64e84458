"""Endpoint descriptions (``"tcp:8080:interface=127.0.0.1"``): splitting and values.

The grammar of ``twisted.internet.endpoints`` strings: values separated by
``:``; a value containing an unescaped ``=`` is ``name=value``; a backslash
makes the next character literal.  :class:`Spec` checks one endpoint type's
parameters and converts them; :mod:`torsion.endpoints` holds the table of
types.  Every error is a ``ValueError`` naming the parameter and the rule.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from typing import Any

__all__ = [
    "ContextFactory",
    "Spec",
    "backlog",
    "bind_address",
    "client_tls_options",
    "flag",
    "mode",
    "port",
    "quoteStringArgument",
    "server_tls_context",
    "pieces",
    "text",
    "timeout",
    "tokenize",
]


def quoteStringArgument(argument: str) -> str:
    """Escape ``argument`` for use as one value in an endpoint description.

    Example::

        f"unix:{quoteStringArgument('/tmp/a:b.sock')}"   # 'unix:/tmp/a\\\\:b.sock'
    """
    return argument.replace("\\", "\\\\").replace(":", "\\:").replace("=", "\\=")


def pieces(description: str) -> list[tuple[str | None, str]]:
    """Split a description into ``(name, value)`` pieces in order (name None: positional).

    Raises:
        ValueError: a lone trailing backslash.
    """
    found: list[tuple[str | None, str]] = []
    current: list[str] = []
    key: str | None = None
    chars = iter(description)
    for char in chars:
        if char == "\\":
            escaped = next(chars, None)
            if escaped is None:
                raise ValueError(f"description ends with a lone backslash: {description!r}")
            current.append(escaped)
        elif char == ":":
            found.append((key, "".join(current)))
            current.clear()
            key = None
        elif char == "=" and key is None:
            key = "".join(current)
            current.clear()
        else:
            current.append(char)
    found.append((key, "".join(current)))
    return found


def tokenize(description: str) -> tuple[list[str], dict[str, str]]:
    """Split a description into positional values and named ones.

    Example::

        tokenize("tcp:80:interface=\\:\\:1")   # (["tcp", "80"], {"interface": "::1"})

    Raises:
        ValueError: a lone trailing backslash, an empty or repeated name.
    """
    args: list[str] = []
    kwargs: dict[str, str] = {}
    for key, value in pieces(description):
        if key is None:
            args.append(value)
        elif not key:
            raise ValueError(f"empty parameter name in {description!r}")
        elif key in kwargs:
            raise ValueError(f"parameter {key!r} given twice in {description!r}")
        else:
            kwargs[key] = value
    return args, kwargs


def integer(name: str, value: str, low: int, high: int, base: int = 10) -> int:
    """``value`` as a number in [low, high]: plain digits only (no sign, space or "_")."""
    digits = "01234567" if base == 8 else "0123456789"
    number = int(value, base) if value and all(c in digits for c in value) else low - 1
    if not low <= number <= high:
        kind = "an octal number" if base == 8 else "an integer"
        shown = f"{low:o}-{high:o}" if base == 8 else f"{low}-{high}"
        raise ValueError(f"{name} must be {kind} in {shown}, not {value!r}")
    return number


def port(value: str) -> int:
    """A TCP port number, 0-65535."""
    return integer("port", value, 0, 65535)


def backlog(value: str) -> int:
    """A listen queue length, at least 1."""
    return integer("backlog", value, 1, 1 << 20)


def mode(value: str) -> int:
    """File permissions in octal ("660")."""
    return integer("mode", value, 0, 0o7777, base=8)


def flag(name: str) -> Callable[[str], bool]:
    """A converter of "0"/"1" (or false/true, no/yes, off/on) for ``name``."""
    def convert(value: str) -> bool:
        lowered = value.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{name} must be 0 or 1, not {value!r}")

    return convert


def timeout(value: str) -> float:
    """A positive, finite number of seconds."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < float("inf"):
        raise ValueError(f"timeout must be a positive number of seconds, not {value!r}")
    return seconds


def text(name: str) -> Callable[[str], str]:
    """A converter that refuses an empty value for ``name``."""
    def convert(value: str) -> str:
        if not value:
            raise ValueError(f"{name} must not be empty")
        return value

    return convert


def bind_address(value: str) -> tuple[str, int]:
    """A local address to bind a client to (any port), as Twisted reads it."""
    if not value:
        raise ValueError("bindAddress must not be empty")
    return (value, 0)


class Spec:
    """The parameters of one endpoint type: positional order, converters, defaults."""

    def __init__(
        self,
        positional: tuple[str, ...],
        converters: dict[str, Callable[[str], Any]],
        defaults: dict[str, Any],
        build: Callable[..., Any],
    ) -> None:
        self.positional = positional
        self.converters = converters
        self.defaults = defaults
        self.build = build

    def parse(self, kind: str, args: list[str], kwargs: dict[str, str]) -> dict[str, Any]:
        if len(args) > len(self.positional):
            names = ", ".join(self.positional)
            raise ValueError(
                f"{kind} takes at most {len(self.positional)} positional values ({names}), "
                f"not {len(args)}"
            )
        raw: dict[str, str] = {}
        for name, value in zip(self.positional, args, strict=False):
            raw[name] = value
        for name, value in kwargs.items():
            if name not in self.converters:
                known = ", ".join(sorted(self.converters))
                raise ValueError(f"unknown parameter {name!r} for {kind} (known: {known})")
            if name in raw:
                raise ValueError(f"{kind}: {name} given both by position and by name")
            raw[name] = value
        values = dict(self.defaults)
        for name, value in raw.items():
            values[name] = self.converters[name](value)
        missing = [name for name in self.converters if name not in values]
        if missing:
            raise ValueError(f"{kind} needs {' and '.join(missing)}")
        return values


def server_tls_context(privateKey: str, certKey: str | None) -> ContextFactory:
    """A server context (TLS 1.2 or later) from PEM files; ``certKey`` defaults to the key's.

    Raises:
        ValueError: naming the files, when they cannot be loaded.
    """
    certificate = certKey or privateKey
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION
    try:
        context.load_cert_chain(certificate, privateKey)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(
            f"cannot load TLS certificate {certificate!r} with key {privateKey!r}: {exc}"
        ) from exc
    return ContextFactory(context)


class ContextFactory:
    """A context factory around a ready ``ssl.SSLContext``."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context

    def getContext(self) -> ssl.SSLContext:
        """The context."""
        return self._context


def _read_certificates(path: str) -> list[Any]:
    from torsion.ssl import Certificate  # noqa: PLC0415 - TLS only when asked for

    files = [path]
    if os.path.isdir(path):
        files = sorted(
            os.path.join(path, name) for name in os.listdir(path)
            if name.endswith((".pem", ".crt", ".cer"))
        )
    certificates = []
    for name in files:
        try:
            with open(name, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise ValueError(f"cannot read trustRoots {name!r}: {exc.strerror or exc}") from exc
        for block in data.split(b"-----END CERTIFICATE-----")[:-1]:
            try:
                certificates.append(Certificate.loadPEM(block + b"-----END CERTIFICATE-----\n"))
            except (ValueError, ssl.SSLError) as exc:
                raise ValueError(f"bad certificate in trustRoots {name!r}: {exc}") from exc
    if not certificates:
        raise ValueError(f"no PEM certificates found in trustRoots {path!r}")
    return certificates


def client_tls_options(host: str, trustRoots: str | None, certificate: str | None,
                       privateKey: str | None) -> Any:
    """``optionsForClientTLS(host, ...)`` from the files a ``tls:`` description names.

    Raises:
        ValueError: naming a file that cannot be read or loaded.
    """
    from torsion.ssl import (  # noqa: PLC0415 - TLS only when asked for
        PrivateCertificate,
        optionsForClientTLS,
        trustRootFromCertificates,
    )

    trust = None
    if trustRoots is not None:
        trust = trustRootFromCertificates(_read_certificates(trustRoots))
    client = None
    if certificate is not None or privateKey is not None:
        pem = b""
        for name in dict.fromkeys(n for n in (certificate, privateKey) if n is not None):
            try:
                with open(name, "rb") as f:
                    pem += f.read() + b"\n"
            except OSError as exc:
                raise ValueError(f"cannot read {name!r}: {exc.strerror or exc}") from exc
        try:
            client = PrivateCertificate.loadPEM(pem)
        except (ValueError, ssl.SSLError) as exc:
            raise ValueError(f"cannot load the client certificate and key: {exc}") from exc
    return optionsForClientTLS(host, trustRoot=trust, clientCertificate=client)
