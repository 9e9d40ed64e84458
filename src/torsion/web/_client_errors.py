"""What the HTTP client raises: one vocabulary, saying who broke what.

Names and base classes mirror ``twisted.web.error`` (:class:`Error`, :class:`PageRedirect`,
:class:`InfiniteRedirection`, :class:`RedirectWithNoLocation`, :class:`SchemeNotSupported`)
and ``twisted.web.client`` (:class:`ResponseDone`, :class:`ResponseFailed`...): code
written for Twisted catches the same classes after changing its imports.

* Connecting fails with the endpoint's errors, unwrapped:
  ``torsion.error.DNSLookupError``, ``ConnectionRefusedError``, ``TimeoutError``
  (connect timeout), ``torsion.ssl.TLSCertificateError``...
* Once connected, a failure is a *wrapper* listing its reasons (``reasons``: a list of
  ``Failure``): :class:`RequestGenerationFailed` (the request could not be written: a
  bad header, a body producer failing), :class:`RequestTransmissionFailed` (the
  connection broke while sending), :class:`ResponseNeverReceived` (it broke, timed out
  or was cancelled before the response head arrived), :class:`ResponseFailed` (the
  response was malformed, its reasons holding the sans-IO ``RemoteProtocolError``, or
  it broke off in the middle of the body).
* A response's status is not an error for ``Agent``; ``getPage`` fails with
  :class:`Error` for non-2xx statuses.

Example::

    >>> str(Error(404, body=b"no such page"))
    '404 Not Found'
    >>> Error(b"404").code
    404
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from torsion.defer import TimeoutError as _DeferredTimeoutError
from torsion.failure import Failure

__all__ = [
    "Error",
    "InfiniteRedirection",
    "PageRedirect",
    "PartialDownloadError",
    "PotentialDataLoss",
    "RedirectLimit",
    "RedirectWithNoLocation",
    "RequestGenerationFailed",
    "RequestNotSent",
    "RequestTransmissionFailed",
    "ResponseDone",
    "ResponseFailed",
    "ResponseNeverReceived",
    "ResponseTimeout",
    "ResponseTooLarge",
    "SchemeNotSupported",
    "WrongBodyLength",
    "status_phrase",
]


def status_phrase(code: int) -> bytes:
    """The standard reason phrase of ``code`` (``b"Not Found"``), or ``b""`` if unknown."""
    try:
        return HTTPStatus(code).phrase.encode("ascii")
    except ValueError:
        return b""


def _status_bytes(code: int | bytes | str) -> bytes:
    if isinstance(code, bytes):
        return code
    return str(code).encode("ascii")


class Error(Exception):
    """An HTTP status that was not what was asked for (``getPage`` on non-2xx).

    Mirrors ``twisted.web.error.Error``: ``status`` and ``message`` are bytes,
    ``response`` is the body received with the status.

    Args:
        code: the status, as int or bytes.
        message: the reason phrase (the standard one when omitted).
        response: the response body (``body`` is the same thing, by keyword).

    Attributes:
        status: the status code as bytes (``b"404"``), as in Twisted.
        message: the reason phrase as bytes.
        response: the body as bytes, or None.
    """

    def __init__(
        self,
        code: int | bytes | str,
        message: bytes | None = None,
        response: bytes | None = None,
        *,
        body: bytes | None = None,
    ) -> None:
        self.status = _status_bytes(code)
        try:
            phrase = status_phrase(int(self.status))
        except ValueError:
            phrase = b""
        self.message = phrase if message is None else message
        self.response = response if body is None else body
        super().__init__(code, self.message, self.response)

    @property
    def code(self) -> int:
        """The status as an int (0 when the status is not a number)."""
        try:
            return int(self.status)
        except ValueError:
            return 0

    @property
    def body(self) -> bytes | None:
        """The response body received with the status (the same as ``response``)."""
        return self.response

    def __str__(self) -> str:
        text = self.status.decode("ascii", "replace")
        if self.message:
            text += " " + self.message.decode("latin-1")
        return text


class PageRedirect(Error):
    """A redirect that was not followed (a method it may not apply to, or a body
    that cannot be sent again); ``location`` is where it pointed."""

    def __init__(
        self,
        code: int | bytes | str,
        message: bytes | None = None,
        response: bytes | None = None,
        location: bytes | None = None,
    ) -> None:
        super().__init__(code, message, response)
        self.location = location

    def __str__(self) -> str:
        text = super().__str__()
        if self.location:
            text += " to " + self.location.decode("latin-1")
        return text


class InfiniteRedirection(PageRedirect):
    """Too many redirects in a row (more than the agent's ``redirectLimit``)."""


RedirectLimit = InfiniteRedirection
"""Another name for :class:`InfiniteRedirection`."""


class RedirectWithNoLocation(Error):
    """A redirect status without a ``Location`` header; ``uri`` is the page that sent it."""

    def __init__(
        self,
        code: int | bytes | str,
        message: bytes | None = None,
        uri: bytes | None = None,
    ) -> None:
        super().__init__(code, message)
        self.uri = uri

    def __str__(self) -> str:
        where = self.uri.decode("latin-1") if self.uri else "?"
        return f"{super().__str__()}: no Location header in the redirect from {where}"


class PartialDownloadError(Error):
    """``readBody``: the body ended with the connection, so it may be cut short.

    Mirrors Twisted: ``response`` holds the bytes that did arrive.
    """


class SchemeNotSupported(Exception):
    """The URL's scheme is not ``http`` or ``https``."""


class ResponseDone(Exception):
    """The reason given to a body protocol's ``connectionLost`` when the body is complete."""


class PotentialDataLoss(Exception):
    """The body ended with the connection (no Content-Length, not chunked): it may be short.

    Given to a body protocol's ``connectionLost`` instead of :class:`ResponseDone`.
    """


class RequestNotSent(Exception):
    """The connection was busy with another request or closed: nothing was sent."""

    def __str__(self) -> str:
        return "request not sent: the connection is busy or closed"


class WrongBodyLength(Exception):
    """A body producer wrote more or fewer bytes than its ``length`` announced."""


class _WrapperException(Exception):
    """A failure made of one or more others, kept in ``reasons``."""

    _what = "request failed"

    def __init__(self, reasons: Sequence[Failure | BaseException]) -> None:
        self.reasons: list[Failure] = [
            r if isinstance(r, Failure) else Failure(r) for r in reasons
        ]
        super().__init__(self.reasons)

    def __str__(self) -> str:
        details = "; ".join(
            f"{r.type.__name__}: {r.getErrorMessage()}"
            if isinstance(r.type, type)
            else r.getErrorMessage()
            for r in self.reasons
        )
        return f"{self._what}: {details}" if details else self._what

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reasons!r})"


class RequestGenerationFailed(_WrapperException):
    """The request could not be written (a bad header, a failing body producer)."""

    _what = "could not write the request"


class RequestTransmissionFailed(_WrapperException):
    """The connection failed while the request was being sent."""

    _what = "the connection failed while sending the request"


class ResponseNeverReceived(_WrapperException):
    """The connection failed, timed out or was cancelled before the response head arrived."""

    _what = "no response received"


class ResponseFailed(_WrapperException):
    """The response was malformed, or broke off before its end.

    A malformed response lists the sans-IO core's ``RemoteProtocolError`` in ``reasons``.

    Attributes:
        response: the response whose body failed, if its head had arrived.
    """

    _what = "the response failed"

    def __init__(
        self, reasons: Sequence[Failure | BaseException], response: Any = None
    ) -> None:
        super().__init__(reasons)
        self.response = response


class ResponseTimeout(_DeferredTimeoutError):
    """The server sent nothing for ``readTimeout`` seconds, or the whole request took
    longer than its overall ``timeout`` (``getPage``).

    A subclass of ``torsion.defer.TimeoutError``; a connect timeout is the endpoint's
    ``torsion.error.TimeoutError`` instead.
    """


class ResponseTooLarge(Exception):
    """The body is larger than the ``maxSize`` asked for.

    Attributes:
        maxSize: the limit.
        length: the announced Content-Length, or None when it was counted as it came.
    """

    def __init__(self, maxSize: int, length: int | None = None) -> None:
        self.maxSize = maxSize
        self.length = length
        super().__init__(maxSize, length)

    def __str__(self) -> str:
        if self.length is not None:
            return f"response body of {self.length} bytes is over maxSize={self.maxSize}"
        return f"response body is over maxSize={self.maxSize} bytes"
