"""dlserver: a music platform's download server, built on torsion's public API.

Listeners download tracks and whole albums through signed ("secure") links: files go
out with ``Range``/resume and sendfile, album zips are generated on the fly with an
exact ``Content-Length``, downloads wait in fair queues under per-client and global
caps, and every download is reported to a UDP log collector.
"""

__all__: list[str] = []
