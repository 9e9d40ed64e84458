"""Signed download links, in the spirit of nginx's ``secure_link``.

A link is a URL path plus a query that says until when it is valid, which key signed
it, and an HMAC-SHA256 over both; optionally it is bound to the client's address::

    /dl/t/12/Zo%C3%AB%20-%20Caf%C3%A9.wav?e=1700000000&k=2&s=<22 chars>[&ip=<22 chars>]

``e``
    expiry, unix seconds: the link is valid while ``now < e``.
``k``
    the key ID (``[A-Za-z0-9_-]{1,16}``): the first key of a :class:`LinkSigner` signs,
    every key it holds verifies, so a rotated-out key keeps its links valid until it is
    dropped.
``s``
    ``HMAC-SHA256(key, "dlserver-link-v1" LF k LF e LF bound LF path)``, truncated to
    128 bits, base64url without padding. ``path`` is the raw request path exactly as sent
    (percent-encoded ASCII): verify what the server received, before decoding it, so no
    two spellings of one path share a signature. ``bound`` is ``ip`` or ``-``.
``ip``
    present on address-bound links: ``HMAC-SHA256(key, "dlserver-link-ip-v1" LF s LF
    address)`` truncated the same way, where address is the client's IPv4 address, or its
    IPv6 network (``/64`` by default: one subscriber's LAN, whose privacy addresses rotate).
    The address itself is not in the URL (a shared link does not reveal it), yet a
    wrong address is told apart from tampering: ``s`` (which covers the ``bound`` flag,
    so ``ip`` cannot be dropped) is checked first.

Why 128 bits: RFC 2104 (section 5) advises keeping at least half the hash output, i.e.
128 bits for SHA-256; forging one then takes ~2**127 online guesses, each a request the
server sees, which is far beyond reach, and the URL stays 22 characters per tag shorter
than with the full 256 bits.

Checks run in this order, and :meth:`LinkSigner.verify` returns the first failure:
``missing signature`` (no e/k/s), ``unknown key``, ``bad signature`` (anything altered,
duplicated or malformed), ``expired``, ``wrong client address``. Expiry is checked after
the signature so that only authentic links learn they have expired.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from dlserver._links_keys import KEYS_FILENAME, load_keys, rotate_keys, signer_keys
from dlserver._links_paths import (
    DownloadTarget,
    album_filename,
    album_path,
    parse_download_path,
    track_filename,
    track_path,
)

__all__ = [
    "KEYS_FILENAME",
    "SIGNATURE_BYTES",
    "DownloadTarget",
    "LinkSigner",
    "Reason",
    "Verdict",
    "album_filename",
    "album_path",
    "load_keys",
    "parse_download_path",
    "rotate_keys",
    "signer_for",
    "track_filename",
    "track_path",
]

SIGNATURE_BYTES = 16
_TAG_CHARS = (SIGNATURE_BYTES * 8 + 5) // 6  # 22 base64 characters, no padding
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,16}")
_EXPIRY = re.compile(r"0|[1-9][0-9]{0,11}")  # canonical: one spelling per number
_PATH = re.compile(r"/[!-~]*")  # printable ASCII, no spaces or controls
_MIN_SECRET = 16


class Reason(StrEnum):
    """Why a link was accepted or refused: short, fit for a log line or a 403 body."""

    OK = "ok"
    MISSING = "missing signature"
    UNKNOWN_KEY = "unknown key"
    BAD = "bad signature"
    EXPIRED = "expired"
    WRONG_CLIENT = "wrong client address"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The result of :meth:`LinkSigner.verify`; ``key_id``/``expires_at`` once known."""

    reason: Reason
    key_id: str | None = None
    expires_at: int | None = None

    @property
    def ok(self) -> bool:
        """True when the link may be served."""
        return self.reason is Reason.OK


def _tag(secret: bytes, message: bytes) -> str:
    digest = hmac.new(secret, message, hashlib.sha256).digest()[:SIGNATURE_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _same(given: str, expected: str) -> bool:
    # compare_digest refuses non-ASCII str, and a tag of the wrong length cannot match.
    return given.isascii() and hmac.compare_digest(given, expected)


class LinkSigner:
    """Signs and verifies links with a list of ``(key_id, secret)`` pairs.

    The first key signs; all of them verify. Build one from a data directory's keys file
    with :func:`signer_for`.
    """

    def __init__(self, keys: Sequence[tuple[str, bytes]], *, ipv6_prefix: int = 64) -> None:
        """Args:
            keys: ``(key_id, secret)`` pairs, the signing key first; IDs unique and
                matching ``[A-Za-z0-9_-]{1,16}``, secrets at least 16 bytes.
            ipv6_prefix: how many leading bits of an IPv6 client address a bound link
                pins (64: the client's LAN; 128: the exact address).

        Raises:
            ValueError: no keys, a bad or duplicate ID, a short secret, a bad prefix.
        """
        if not keys:
            raise ValueError("a LinkSigner needs at least one key")
        if not 1 <= ipv6_prefix <= 128:
            raise ValueError(f"ipv6_prefix must be in 1..128, not {ipv6_prefix}")
        self._keys: dict[str, bytes] = {}
        for key_id, secret in keys:
            if not _KEY_ID.fullmatch(key_id):
                raise ValueError(f"key id must match [A-Za-z0-9_-]{{1,16}}: {key_id!r}")
            if key_id in self._keys:
                raise ValueError(f"duplicate key id {key_id!r}")
            if len(secret) < _MIN_SECRET:
                raise ValueError(f"key {key_id!r}: secret must be >= {_MIN_SECRET} bytes")
            self._keys[key_id] = bytes(secret)
        self._signing_id = keys[0][0]
        self._ipv6_prefix = ipv6_prefix

    @property
    def signing_key_id(self) -> str:
        """The ID of the key that signs new links."""
        return self._signing_id

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The IDs of every key that verifies, the signing key first."""
        return tuple(self._keys)

    def _client(self, client_ip: str) -> str | None:
        """The canonical form of the address a bound link pins, or None if unparsable."""
        try:
            address = ipaddress.ip_address(client_ip.strip("[]"))
        except ValueError:
            return None
        if isinstance(address, ipaddress.IPv6Address):
            # A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d.
            if address.ipv4_mapped is not None:
                return str(address.ipv4_mapped)
            network = ipaddress.IPv6Network((address.packed, self._ipv6_prefix), strict=False)
            return str(network)
        return str(address)

    @staticmethod
    def _message(key_id: str, expiry: str, bound: bool, path: str) -> bytes:
        flag = "ip" if bound else "-"
        return f"dlserver-link-v1\n{key_id}\n{expiry}\n{flag}\n{path}".encode("ascii")

    @staticmethod
    def _ip_message(signature: str, client: str) -> bytes:
        return f"dlserver-link-ip-v1\n{signature}\n{client}".encode("ascii")

    def sign(self, path: str, expires_at: int, client_ip: str | None = None) -> str:
        """The signed link (path and query) for ``path``, valid until ``expires_at``.

        Args:
            path: the URL path as it will be sent: starts with ``/``, percent-encoded
                printable ASCII, no query or fragment (see :func:`track_path`).
            expires_at: unix seconds; the link is refused from this second on.
            client_ip: bind the link to this client's address (IPv4, IPv6).

        Raises:
            ValueError: a malformed path, a negative expiry, an unparsable address.
        """
        if not _PATH.fullmatch(path) or "?" in path or "#" in path:
            raise ValueError(f"path must be percent-encoded ASCII starting with /: {path!r}")
        expiry = str(int(expires_at))
        if not _EXPIRY.fullmatch(expiry):
            raise ValueError(f"expires_at must be a unix time >= 0: {expires_at!r}")
        secret = self._keys[self._signing_id]
        bound = client_ip is not None
        signature = _tag(secret, self._message(self._signing_id, expiry, bound, path))
        link = f"{path}?e={expiry}&k={self._signing_id}&s={signature}"
        if client_ip is not None:
            client = self._client(client_ip)
            if client is None:
                raise ValueError(f"not an IP address: {client_ip!r}")
            link += f"&ip={_tag(secret, self._ip_message(signature, client))}"
        return link

    def verify(self, path: str, query: str | None, now: float,
               client_ip: str | None) -> Verdict:
        """Check a request for a signed link.

        Args:
            path: the raw request path, exactly as received (not percent-decoded).
            query: the raw query string, without ``?`` (None or "" if there was none).
                Parameters other than e, k, s, ip are ignored: they are not signed.
            now: the current unix time.
            client_ip: the connecting client's address (None if unknown).

        Returns:
            a :class:`Verdict`; ``verdict.ok`` says whether to serve.
        """
        fields: dict[str, str] = {}
        duplicated = False
        for part in (query or "").split("&"):
            name, _, value = part.partition("=")
            if name in ("e", "k", "s", "ip"):
                duplicated = duplicated or name in fields
                fields[name] = value
        if not all(name in fields for name in ("e", "k", "s")):
            return Verdict(Reason.MISSING)
        key_id = fields["k"]
        secret = self._keys.get(key_id)
        if secret is None:
            return Verdict(Reason.UNKNOWN_KEY)
        expiry = fields["e"]
        if (duplicated or not _EXPIRY.fullmatch(expiry) or not _PATH.fullmatch(path)
                or len(fields["s"]) != _TAG_CHARS):
            return Verdict(Reason.BAD, key_id)
        bound = "ip" in fields
        expected = _tag(secret, self._message(key_id, expiry, bound, path))
        if not _same(fields["s"], expected):
            return Verdict(Reason.BAD, key_id)
        expires_at = int(expiry)
        if not now < expires_at:
            return Verdict(Reason.EXPIRED, key_id, expires_at)
        if bound:
            client = None if client_ip is None else self._client(client_ip)
            if client is None or not _same(
                fields["ip"], _tag(secret, self._ip_message(expected, client))
            ):
                return Verdict(Reason.WRONG_CLIENT, key_id, expires_at)
        return Verdict(Reason.OK, key_id, expires_at)


def signer_for(data_dir: str | os.PathLike[str], *, ipv6_prefix: int = 64) -> LinkSigner:
    """A :class:`LinkSigner` over the keys file of ``data_dir`` (created on first use)."""
    return LinkSigner(signer_keys(load_keys(data_dir)), ipv6_prefix=ipv6_prefix)
