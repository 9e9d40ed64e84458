"""What the client accepts as headers, turned into ``Headers``.

The client uses the ``Headers`` class the server uses (``torsion.web._http_headers``,
Twisted's ``twisted.web.http_headers.Headers`` in shape). Request headers may also be
given as a mapping of names to a list of values, or to one value::

    >>> as_headers({"Accept": "text/html", b"X-Tag": [b"a", b"b"]}).getRawHeaders(b"x-tag")
    [b'a', b'b']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeAlias

from ._http_headers import Headers

__all__ = ["HeaderInput", "Headers", "as_headers"]

HeaderInput: TypeAlias = (
    Headers | Mapping[str | bytes, Sequence[str | bytes] | str | bytes] | None
)
"""Request headers: a :class:`Headers`, a mapping of names to values, or None."""


def as_headers(headers: HeaderInput) -> Headers:
    """A fresh :class:`Headers` from what the caller gave (a copy, never the original).

    Raises:
        ValueError: a name is not an HTTP token.
        TypeError: a name or value is neither bytes nor str.
    """
    if headers is None:
        return Headers()
    if isinstance(headers, Headers):
        return headers.copy()
    result = Headers()
    for name, values in headers.items():
        result.setRawHeaders(name, [values] if isinstance(values, str | bytes) else values)
    return result
