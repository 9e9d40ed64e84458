"""Resources: a tree of objects answering HTTP requests, in the spirit of twisted.web.

Mirrors ``twisted.web.resource`` (camelCase names are the contract). A request's path
is walked from the site's root: each segment is looked up with ``getChildWithDefault``
(children added with ``putChild``, else ``getChild``) until the path is used up or a
resource with ``isLeaf`` is reached; that resource's ``render`` calls
``render_<METHOD>``::

    class Hello(Resource):
        isLeaf = True

        def render_GET(self, request):
            request.setHeader(b"content-type", b"text/plain")
            return b"Hello, World!"

    root = Resource()
    root.putChild(b"hello", Hello())
    reactor.listenTCP(8080, Site(root))

A render method returns ``bytes``, ``str`` (sent as UTF-8), ``NOT_DONE_YET`` (it will
``write`` and ``finish`` later), a Deferred of those, or is an ``async def``. A method
the resource lacks gets 405 with an ``Allow`` header (HEAD falls back to GET, the body
dropped). An exception gets 500, logged under ``torsion.web``.

:class:`Router` maps URL patterns to plain handlers::

    router = Router()

    @router.route("/users/{name}")
    async def user(request):
        return f"hello {request.routeArgs['name']}"
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import unquote

from torsion.web._request import UnsupportedMethod

__all__ = [
    "ErrorPage",
    "ForbiddenResource",
    "IResource",
    "NoResource",
    "Resource",
    "Router",
    "UnsupportedMethod",
    "error_page",
    "getChildForRequest",
]


class IResource(Protocol):
    """What the server asks of a resource."""

    isLeaf: bool

    def getChildWithDefault(self, name: bytes, request: Any) -> IResource:
        """The child called ``name`` (a path segment), or a resource that explains why not."""
        ...

    def putChild(self, path: bytes, child: IResource) -> None:
        """Add ``child`` under the segment ``path``."""
        ...

    def render(self, request: Any) -> object:
        """Answer ``request``: bytes, str, ``NOT_DONE_YET``, a Deferred, or a coroutine."""
        ...


def status_phrase(code: int) -> str:
    """The standard reason phrase of ``code`` (``""`` if none)."""
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return ""


def error_page(code: int, brief: str, detail: str) -> bytes:
    """A small HTML page for an error status, everything escaped.

    Example:
        >>> b"404 - No Such Resource" in error_page(404, "No Such Resource", "<none>")
        True
    """
    brief = brief or status_phrase(code)
    title = html.escape(f"{code} - {brief}")
    body = f"<p>{html.escape(detail)}</p>\n" if detail else ""
    return (
        f"<!DOCTYPE html>\n<html><head><title>{title}</title></head>\n"
        f"<body><h1>{title}</h1>\n{body}</body></html>\n"
    ).encode()


_allowed_cache: dict[type, tuple[bytes, ...]] = {}


def _methods_of(cls: type) -> tuple[bytes, ...]:
    methods = _allowed_cache.get(cls)
    if methods is None:
        names = {name[len("render_"):] for name in dir(cls) if name.startswith("render_")}
        if "GET" in names:
            names.add("HEAD")
        methods = tuple(sorted(name.encode("ascii") for name in names if name.isupper()))
        _allowed_cache[cls] = methods
    return methods


class Resource:
    """A node of the resource tree: children, and ``render_<METHOD>`` methods.

    Attributes:
        isLeaf: when true, traversal stops here and the rest of the path stays in
            ``request.postpath``.
        streamRequestBody: when true, the resource is rendered as soon as the request
            head arrives and reads the body itself (``request.readChunk()`` or
            ``async for chunk in request.body``); otherwise the body is read into
            ``request.content`` first.
        allowedMethods: the methods named by a 405's ``Allow`` header; by default,
            those with a ``render_`` method (and HEAD with GET).
        children: the children added with :meth:`putChild`.
    """

    isLeaf = False
    streamRequestBody = False
    allowedMethods: tuple[bytes, ...] | None = None

    def __init__(self) -> None:
        self.children: dict[bytes, Any] = {}

    def getChild(self, path: bytes, request: Any) -> Any:
        """The child for a segment not added with ``putChild``: 404 by default."""
        return NoResource()

    def getChildWithDefault(self, path: bytes, request: Any) -> Any:
        """The child added as ``path``, else :meth:`getChild`."""
        child = self.children.get(path)
        if child is not None:
            return child
        return self.getChild(path, request)

    def putChild(self, path: bytes, child: Any) -> None:
        """Add ``child`` under the path segment ``path`` (bytes, without slashes).

        Raises:
            TypeError: ``path`` is not bytes.
        """
        if not isinstance(path, bytes):
            raise TypeError(f"putChild takes a bytes path segment, not {type(path).__name__}")
        self.children[path] = child

    def render(self, request: Any) -> object:
        """Call ``render_<METHOD>``; HEAD without ``render_HEAD`` uses ``render_GET``.

        Raises:
            UnsupportedMethod: there is no method for the request's.
        """
        method = request.method
        name = _RENDER_NAMES.get(method)
        if name is None:
            name = "render_" + method.decode("ascii", "replace")
        handler = getattr(self, name, None)
        if handler is None and method == b"HEAD":
            handler = getattr(self, "render_GET", None)
        if handler is None:
            allowed = self.allowedMethods
            raise UnsupportedMethod(allowed if allowed is not None else _methods_of(type(self)))
        return handler(request)


_RENDER_NAMES = {
    method: "render_" + method.decode()
    for method in (b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH")
}


def getChildForRequest(resource: Any, request: Any) -> Any:
    """Walk ``request.postpath`` from ``resource`` to the resource that will render.

    Each segment moves from ``postpath`` to ``prepath`` as it is used.
    """
    postpath = request.postpath
    prepath = request.prepath
    while postpath and not resource.isLeaf:
        name = postpath.pop(0)
        prepath.append(name)
        resource = resource.getChildWithDefault(name, request)
    return resource


class ErrorPage(Resource):
    """A leaf answering every method with ``code`` and a small HTML page.

    Args:
        status: the status code.
        brief: a short title (the standard reason phrase if empty).
        detail: a sentence of explanation (escaped).
    """

    isLeaf = True

    def __init__(self, status: int, brief: str, detail: str) -> None:
        super().__init__()
        self.code = status
        self.brief = brief
        self.detail = detail

    def render(self, request: Any) -> object:
        request.setResponseCode(self.code)
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        return error_page(self.code, self.brief, self.detail)

    def getChild(self, path: bytes, request: Any) -> Any:
        return self


class NoResource(ErrorPage):
    """404 Not Found."""

    def __init__(self, message: str = "Sorry. No luck finding that resource.") -> None:
        super().__init__(404, "No Such Resource", message)


class ForbiddenResource(ErrorPage):
    """403 Forbidden."""

    def __init__(self, message: str = "Sorry, resource is forbidden.") -> None:
        super().__init__(403, "Forbidden Resource", message)


_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::(path))?\}")


def _compile(pattern: str) -> re.Pattern[str]:
    if not pattern.startswith("/"):
        raise ValueError(f"a route pattern starts with '/': {pattern!r}")
    parts = []
    pos = 0
    for match in _PARAM.finditer(pattern):
        parts.append(re.escape(pattern[pos:match.start()]))
        expr = ".+" if match.group(2) else "[^/]+"
        parts.append(f"(?P<{match.group(1)}>{expr})")
        pos = match.end()
    parts.append(re.escape(pattern[pos:]))
    return re.compile("".join(parts))


Handler = Callable[[Any], object]
"""A route handler: ``(request) -> bytes | str | AsyncIterator[bytes] | None`` (or a
coroutine or Deferred of those)."""


class Router(Resource):
    """A leaf resource dispatching on URL patterns to plain (or ``async``) handlers.

    Patterns are paths with ``{name}`` (one segment) or ``{name:path}`` (the rest, with
    slashes) parts; the values, percent-decoded, are in ``request.routeArgs``. A path
    that matches with another method gets 405 with ``Allow``; no match gets 404. HEAD
    is served by a GET route. Mounted below the root (``root.putChild(b"api", router)``)
    it matches the rest of the path.

    Example:
        >>> router = Router()
        >>> @router.route("/hello/{name}")
        ... async def hello(request):
        ...     request.setHeader(b"content-type", b"text/plain")
        ...     return f"Hello, {request.routeArgs['name']}!"
    """

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self._routes: list[tuple[re.Pattern[str], frozenset[bytes], Handler]] = []

    def add(self, pattern: str, handler: Handler, methods: Iterable[str] = ("GET",)) -> None:
        """Serve ``pattern`` with ``handler`` for ``methods``.

        Raises:
            ValueError: the pattern does not start with ``/``.
        """
        names = frozenset(m.upper().encode("ascii") for m in methods)
        self._routes.append((_compile(pattern), names, handler))

    def route(
        self, pattern: str, methods: Iterable[str] = ("GET",)
    ) -> Callable[[Handler], Handler]:
        """Decorator form of :meth:`add`."""

        def decorate(handler: Handler) -> Handler:
            self.add(pattern, handler, methods)
            return handler

        return decorate

    def render(self, request: Any) -> object:
        raw = request.path[1:].split(b"/")[len(request.prepath):]
        path = "/" + b"/".join(raw).decode("latin-1")
        method = request.method
        allowed: set[bytes] = set()
        for regex, methods, handler in self._routes:
            match = regex.fullmatch(path)
            if match is None:
                continue
            if method in methods or (method == b"HEAD" and b"GET" in methods):
                request.routeArgs = {
                    name: unquote(value, encoding="utf-8", errors="replace")
                    for name, value in match.groupdict().items()
                }
                return handler(request)
            allowed |= methods
        if allowed:
            if b"GET" in allowed:
                allowed.add(b"HEAD")
            raise UnsupportedMethod(sorted(allowed))
        return NoResource().render(request)
