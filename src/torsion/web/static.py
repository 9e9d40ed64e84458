"""Static files: :class:`File` serves a file or a directory tree.

Mirrors ``twisted.web.static.File`` (camelCase names are the contract)::

    from torsion.web.server import Site
    from torsion.web.static import File

    reactor.listenTCP(8080, Site(File("/srv/www")), interface="127.0.0.1")

What it does:

* ``Content-Type`` from :mod:`mimetypes` (compressed files as what they are,
  ``application/gzip``, never a ``Content-Encoding``), ``ETag`` (strong, from the
  modification time and size) and ``Last-Modified``; ``Accept-Ranges: bytes``.
* Conditional requests (RFC 9110 section 13): ``If-None-Match`` and
  ``If-Modified-Since`` give 304; ``If-Match`` and ``If-Unmodified-Since`` give 412;
  ``If-Range`` decides whether a ``Range`` applies.
* Ranges (GET): one range gives 206 with ``Content-Range``; several give a
  ``multipart/byteranges`` body; none satisfiable gives 416 with
  ``Content-Range: bytes */SIZE``; a malformed header, or more than 32 ranges, is
  ignored (200 with the whole file).
* Bodies go out with ``os.sendfile`` on plain TCP (zero copy), read in 64 KiB pieces
  under flow control otherwise (TLS): memory stays bounded for any file size.
* Directories: a request without the trailing slash is redirected (301); with it,
  the first of ``indexNames`` found is served, else an HTML listing (escaped names)
  if ``directoryListing``, else 403.

Safety: a path segment that is ``.`` or ``..``, or holds ``/``, ``\\`` or NUL (after
percent-decoding: ``%2e%2e``, ``%2f``) gets 404; the real path of what is served
(symlinks resolved) must stay under the real path of the root, else 404; with
``allowSymlinks=False`` no symlink below the root is followed at all. (A symlink
changed between the check and the open could still be followed: do not serve a tree
that untrusted users can write to.)
"""

from __future__ import annotations

import mimetypes
import os
import stat
from typing import Any

from torsion.web._listing import listing_page
from torsion.web.representation import FileRegion, serve_representation
from torsion.web.resource import ForbiddenResource, NoResource, Resource, error_page

__all__ = ["File"]

_ENCODED_TYPES = {
    "gzip": "application/gzip",
    "bzip2": "application/x-bzip2",
    "xz": "application/x-xz",
    "br": "application/x-brotli",
    "compress": "application/x-compress",
}
_BAD_SEGMENT_BYTES = (b"/", b"\\", b"\x00")


def _safe_segment(name: bytes) -> bool:
    return name not in (b".", b"..") and not any(c in name for c in _BAD_SEGMENT_BYTES)


def content_type(path: str, default: str) -> str:
    """The media type of ``path`` from its extension.

    Example:
        >>> content_type("a.html", "application/octet-stream"), content_type("x.tar.gz", "")
        ('text/html', 'application/gzip')
    """
    kind, encoding = mimetypes.guess_type(path, strict=False)
    if encoding is not None:
        return _ENCODED_TYPES.get(encoding, "application/octet-stream")
    return kind or default


class File(Resource):
    """A file, or a directory served as a tree of files.

    Args:
        path: the file or directory.
        defaultType: the media type of files whose extension says nothing.
        directoryListing: list directories without an index file (else 403).
        indexNames: files served for a directory, the first found.
        allowSymlinks: follow symlinks whose target stays under the root (the
            default); ``False`` refuses any symlink below the root.
        useSendfile: send bodies with ``os.sendfile`` when the transport allows.

    Example:
        >>> root = File("/srv/www", directoryListing=False)
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        defaultType: str = "application/octet-stream",
        *,
        directoryListing: bool = True,
        indexNames: tuple[str, ...] = ("index.html",),
        allowSymlinks: bool = True,
        useSendfile: bool = True,
    ) -> None:
        super().__init__()
        self.path = os.path.abspath(os.fspath(path))
        self.defaultType = defaultType
        self.directoryListing = directoryListing
        self.indexNames = tuple(indexNames)
        self.allowSymlinks = allowSymlinks
        self.useSendfile = useSendfile
        self._root = self.path
        self._real_root = os.path.realpath(self.path)

    def __repr__(self) -> str:
        return f"<File {self.path!r}>"

    # -- traversal -----------------------------------------------------------------------

    def _child(self, path: str) -> File:
        child = File.__new__(type(self))
        Resource.__init__(child)
        child.__dict__.update(
            {k: v for k, v in self.__dict__.items() if k not in ("children", "path")}
        )
        child.path = path
        return child

    def getChild(self, path: bytes, request: Any) -> Any:
        """The file or directory ``path`` below this directory (404 for unsafe names)."""
        if not os.path.isdir(self.path):
            # "/file.txt/" is not found, but a site whose root is one file serves it at "/".
            return self if path == b"" and self.path == self._root else NoResource()
        if path == b"":
            return self
        if not _safe_segment(path):
            return NoResource()
        return self._child(os.path.join(self.path, os.fsdecode(path)))

    def _resolved(self) -> str | None:
        """The real path to serve, or None if it leaves the root (or is a refused symlink)."""
        real = os.path.realpath(self.path)
        root = self._real_root
        if real != root and not real.startswith(root.rstrip(os.sep) + os.sep):
            return None
        if not self.allowSymlinks:
            below = os.path.relpath(self.path, self._root)
            expected = root if below == "." else os.path.join(root, below)
            if real != os.path.normpath(expected):
                return None
        return real

    # -- rendering -----------------------------------------------------------------------

    def render_GET(self, request: Any) -> object:
        """Serve the file, or the directory's index or listing."""
        real = self._resolved()
        if real is None:
            return NoResource().render(request)
        try:
            info = os.stat(real)
        except OSError:
            return NoResource().render(request)
        if stat.S_ISDIR(info.st_mode):
            return self._directory(request, real)
        if not stat.S_ISREG(info.st_mode):
            return NoResource().render(request)
        return self._file(request, real)

    def _directory(self, request: Any, real: str) -> object:
        if not request.path.endswith(b"/"):
            _, mark, query = request.uri.partition(b"?")
            request.setResponseCode(301)
            request.setHeader(b"location", request.path + b"/" + mark + query)
            request.setHeader(b"content-type", b"text/html; charset=utf-8")
            return error_page(301, "", "")
        for name in self.indexNames:
            index = self._child(os.path.join(self.path, name))
            index_real = index._resolved()
            if index_real is not None and os.path.isfile(index_real):
                return index._file(request, index_real)
        if not self.directoryListing:
            return ForbiddenResource().render(request)
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        return listing_page(request.path, real, at_root=request.path == b"/")

    def _file(self, request: Any, real: str) -> object:
        flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
        if not self.allowSymlinks:
            flags |= getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(real, flags)
        except OSError:
            return ForbiddenResource().render(request)
        try:
            info = os.fstat(fd)
        except BaseException:
            os.close(fd)
            raise
        # serve_representation closes the file: at once, or once the body is sent.
        return serve_representation(
            request,
            size=info.st_size,
            etag=b'"%x-%x"' % (info.st_mtime_ns, info.st_size),
            last_modified=info.st_mtime,
            content_type=content_type(real, self.defaultType).encode("ascii"),
            body=lambda start, end: [FileRegion(fd, start, end - start)],
            use_sendfile=self.useSendfile,
            close=lambda: os.close(fd),
        )
