"""The HTML page listing a directory, for :class:`torsion.web.static.File`.

Names are HTML-escaped in text and percent-encoded in links, so a file called
``<script>`` or ``a"b`` is shown as itself and cannot inject markup.
"""

from __future__ import annotations

import html
import os
import stat
import time
from urllib.parse import quote, unquote_to_bytes

__all__ = ["listing_page"]


def _size(value: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024  # type: ignore[assignment]
    return str(value)  # pragma: no cover


def _entries(directory: str) -> list[tuple[str, bool, int, float]]:
    found = []
    with os.scandir(directory) as it:
        for entry in it:
            try:
                info = entry.stat()
            except OSError:
                continue  # a dangling symlink, or a file removed meanwhile
            found.append((entry.name, stat.S_ISDIR(info.st_mode), info.st_size, info.st_mtime))
    found.sort(key=lambda e: (not e[1], e[0]))
    return found


def listing_page(url_path: bytes, directory: str, at_root: bool) -> bytes:
    """The listing of ``directory``, served at ``url_path`` (ending with ``/``).

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     _ = open(os.path.join(d, "<b>.txt"), "w").close()
        ...     page = listing_page(b"/files/", d, at_root=False)
        >>> b"&lt;b&gt;.txt" in page and b'href="%3Cb%3E.txt"' in page
        True
    """
    shown = html.escape(unquote_to_bytes(url_path).decode("utf-8", "replace"))
    rows = []
    if not at_root:
        rows.append('<tr><td><a href="../">../</a></td><td></td><td></td></tr>')
    for name, is_dir, size, mtime in _entries(directory):
        suffix = "/" if is_dir else ""
        href = quote(os.fsencode(name)) + suffix
        shown_name = os.fsencode(name).decode("utf-8", "replace")
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(mtime))
        rows.append(
            f'<tr><td><a href="{html.escape(href)}">{html.escape(shown_name + suffix)}</a></td>'
            f"<td>{'' if is_dir else _size(size)}</td><td>{when}</td></tr>"
        )
    body = "\n".join(rows)
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>Directory listing for {shown}</title></head>\n<body>\n"
        f"<h1>Directory listing for {shown}</h1>\n<table>\n"
        "<tr><th>Name</th><th>Size</th><th>Modified (UTC)</th></tr>\n"
        f"{body}\n</table>\n</body></html>\n"
    ).encode()
