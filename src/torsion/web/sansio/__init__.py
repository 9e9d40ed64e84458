"""HTTP/1.1 as a sans-IO protocol core (RFC 9110, RFC 9112).

No sockets, no reactor, no clock: bytes in, events out; events in, bytes out. The
server and client adapters of ``torsion.web`` drive it; so can plain asyncio or a test.

A server, in full::

    from torsion.web.sansio import (
        NEED_DATA, Connection, Data, EndOfMessage, Request, Response, Role,
    )

    conn = Connection(Role.SERVER)
    conn.receive_data(b"GET /hello HTTP/1.1\\r\\nHost: example.com\\r\\n\\r\\n")
    request = conn.next_event()                  # Request(method=b'GET', target=b'/hello', ...)
    assert isinstance(conn.next_event(), EndOfMessage)
    wire = conn.send(Response(status_code=200, headers=[("Content-Length", "5")]))
    wire += conn.send(Data(b"hello")) + conn.send(EndOfMessage())
    conn.start_next_cycle()                      # keep-alive: ready for the next request

What it enforces and decides:

- keep-alive and pipelining (a server is ``PAUSED`` after each complete request until
  its response is done and ``start_next_cycle`` is called), chunked bodies with
  trailers, ``Expect: 100-continue``, HEAD, 1xx, 204/304, ``Connection: close``,
  HTTP/1.0 peers (close-delimited responses; keep-alive when asked), CONNECT and
  Upgrade (``SWITCHED_PROTOCOL``, with ``trailing_data`` for the new protocol);
- limits on the request line (414), head size and field count (431) and body (413);
- the smuggling vectors refused with a 400: Content-Length with Transfer-Encoding,
  differing Content-Lengths, codings other than exactly ``chunked`` (501 for unknown
  ones), malformed chunk sizes, bare CR and bare LF, obs-fold, whitespace before a
  colon, bad names and values, a missing or repeated Host.

Errors: :class:`RemoteProtocolError` (the peer's fault) and
:class:`LocalProtocolError` (ours), both :class:`ProtocolError` with an
``error_status_hint``.
"""

from ._connection import NEED_DATA as NEED_DATA
from ._connection import PAUSED as PAUSED
from ._connection import Connection as Connection
from ._connection import Sentinel as Sentinel
from ._errors import LocalProtocolError as LocalProtocolError
from ._errors import ProtocolError as ProtocolError
from ._errors import RemoteProtocolError as RemoteProtocolError
from ._events import ConnectionClosed as ConnectionClosed
from ._events import Data as Data
from ._events import EndOfMessage as EndOfMessage
from ._events import Event as Event
from ._events import Headers as Headers
from ._events import InformationalResponse as InformationalResponse
from ._events import Request as Request
from ._events import Response as Response
from ._state import Role as Role
from ._state import State as State

__all__ = [
    "NEED_DATA",
    "PAUSED",
    "Connection",
    "ConnectionClosed",
    "Data",
    "EndOfMessage",
    "Event",
    "Headers",
    "InformationalResponse",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "Request",
    "Response",
    "Role",
    "Sentinel",
    "State",
]
