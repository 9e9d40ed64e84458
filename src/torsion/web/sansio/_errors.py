"""The exceptions of the HTTP/1.1 core: who broke the protocol, and what to answer.

Every error is a :class:`ProtocolError`. :class:`LocalProtocolError` means our side
misused the API (sent an event the state machine does not allow, a bad header...);
:class:`RemoteProtocolError` means the bytes from the peer break RFC 9112. Both carry
``error_status_hint``, the HTTP status a server would answer with, so a server adapter
can reply without a lookup table::

    try:
        event = conn.next_event()
    except RemoteProtocolError as exc:
        reply = Response(status_code=exc.error_status_hint, headers=[...])
"""

from __future__ import annotations

__all__ = ["LocalProtocolError", "ProtocolError", "RemoteProtocolError"]


class ProtocolError(Exception):
    """The root of the core's exceptions: the HTTP/1.1 protocol was broken.

    Attributes:
        error_status_hint: the status code a server would send in reply: 400 for a
            malformed message, 413 for a body over the limit, 414 for a request line
            over the limit, 431 for a header section over the limits, 501 for an
            unknown transfer coding, 505 for an unsupported HTTP major version.

    Example:
        >>> RemoteProtocolError("bad chunk size", 400).error_status_hint
        400
    """

    default_status_hint = 400

    def __init__(self, message: str, error_status_hint: int | None = None) -> None:
        super().__init__(message)
        self.error_status_hint = (
            self.default_status_hint if error_status_hint is None else error_status_hint
        )


class LocalProtocolError(ProtocolError):
    """Our side misused the API: the event or call is not allowed here.

    After it is raised by ``send``, our side is in ``State.ERROR``. The hint defaults
    to 500: a server that gets one has a bug of its own to report.
    """

    default_status_hint = 500


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol: the bytes received are not valid HTTP/1.1.

    After it is raised by ``next_event``, the peer's side is in ``State.ERROR`` and
    ``next_event`` refuses to go on; a server may still send an error response
    (``Response(status_code=exc.error_status_hint, ...)``), then must close.
    """
