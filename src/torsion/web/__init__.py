"""HTTP for torsion.

``torsion.web.sansio`` is the HTTP/1.1 protocol core: bytes in, events out, events in,
bytes out, with no sockets, reactor or clock. The server and client adapters that drive
it from the reactor live beside it (``torsion.web.server`` and ``torsion.web.client``,
to come).
"""
