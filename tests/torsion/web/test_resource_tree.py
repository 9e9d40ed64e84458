"""torsion.web.resource: traversal, putChild/getChild, render dispatch, error pages, Router."""

from __future__ import annotations

from typing import Any

import pytest
from test_server_support import connect, one, parse_responses

from torsion.web.resource import (
    ErrorPage,
    ForbiddenResource,
    NoResource,
    Resource,
    Router,
    UnsupportedMethod,
    error_page,
    getChildForRequest,
)
from torsion.web.server import Request


class Leaf(Resource):
    isLeaf = True

    def __init__(self, name: bytes) -> None:
        super().__init__()
        self.name = name

    def render_GET(self, request: Request) -> bytes:
        return self.name + b" " + b"/".join(request.prepath) + b" | " + b"/".join(request.postpath)


class Dynamic(Resource):
    def getChild(self, path: bytes, request: Any) -> Any:
        if path.isdigit():
            return Leaf(b"number " + path)
        return super().getChild(path, request)


def tree() -> Resource:
    root = Resource()
    root.putChild(b"a", Leaf(b"A"))
    sub = Resource()
    sub.putChild(b"b", Leaf(b"B"))
    sub.putChild(b"", Leaf(b"index"))
    root.putChild(b"sub", sub)
    root.putChild(b"dyn", Dynamic())
    return root


@pytest.mark.parametrize(("path", "status", "body"), [
    (b"/a", 200, b"A a | "),
    (b"/a/x/y", 200, b"A a | x/y"),
    (b"/sub/b", 200, b"B sub/b | "),
    (b"/sub/", 200, b"index sub/ | "),
    (b"/dyn/42", 200, b"number 42 dyn/42 | "),
    (b"/dyn/x", 404, None),
    (b"/missing", 404, None),
    (b"/sub/missing/deeper", 404, None),
])
def test_traversal(path: bytes, status: int, body: bytes | None) -> None:
    """putChild children first, then getChild; leaves keep the rest in postpath."""
    conn = connect(tree())
    conn.send(b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % path)
    reply = one(conn.take())
    assert reply.status == status
    if body is not None:
        assert reply.body == body


def test_get_child_for_request_moves_segments() -> None:
    """getChildForRequest moves each used segment from postpath to prepath."""

    class Fake:
        prepath: list[bytes] = []
        postpath = [b"sub", b"b", b"rest"]

    request = Fake()
    request.prepath = []
    leaf = getChildForRequest(tree(), request)
    assert isinstance(leaf, Leaf) and leaf.name == b"B"
    assert request.prepath == [b"sub", b"b"] and request.postpath == [b"rest"]


def test_put_child_wants_bytes() -> None:
    """putChild refuses a str path segment (a common porting mistake)."""
    with pytest.raises(TypeError):
        Resource().putChild("a", Resource())  # type: ignore[arg-type]


def test_render_dispatch_and_unsupported_method() -> None:
    """render calls render_<METHOD>; HEAD falls back to GET; others raise with the list."""

    class R(Resource):
        def render_GET(self, request: Any) -> bytes:
            return b"get"

        def render_POST(self, request: Any) -> bytes:
            return b"post"

    class Req:
        method = b"HEAD"

    assert R().render(Req()) == b"get"
    Req.method = b"DELETE"
    with pytest.raises(UnsupportedMethod) as info:
        R().render(Req())
    assert info.value.allowedMethods == (b"GET", b"HEAD", b"POST")

    class Only(R):
        allowedMethods = (b"GET",)

    with pytest.raises(UnsupportedMethod) as info:
        Only().render(Req())
    assert info.value.allowedMethods == (b"GET",)


def test_error_pages() -> None:
    """ErrorPage, NoResource and ForbiddenResource answer any method and any child."""
    root = Resource()
    root.putChild(b"gone", ErrorPage(410, "Gone", "it <went> away"))
    root.putChild(b"no", NoResource())
    root.putChild(b"secret", ForbiddenResource())
    conn = connect(root)
    conn.send(b"GET /gone/deeper HTTP/1.1\r\nHost: t\r\n\r\n"
              b"POST /no HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"
              b"GET /secret HTTP/1.1\r\nHost: t\r\n\r\n")
    gone, no, secret = parse_responses(conn.take(), [b"GET", b"POST", b"GET"])
    assert gone.status == 410 and b"it &lt;went&gt; away" in gone.body
    assert no.status == 404 and secret.status == 403
    assert b"<title>404 - Not Found</title>" in error_page(404, "", "")


def test_router_patterns() -> None:
    """{name} matches one segment, {name:path} the rest; values are percent-decoded;
    mounted under the root it matches the rest of the path; HEAD uses GET routes."""
    router = Router()
    router.add("/files/{rest:path}", lambda r: r.routeArgs["rest"])
    router.add("/item/{id}", lambda r: "get " + r.routeArgs["id"])
    router.add("/item/{id}", lambda r: "post " + r.routeArgs["id"], methods=["POST"])
    root = Resource()
    root.putChild(b"api", router)
    conn = connect(root)
    conn.send(b"GET /api/files/a/b%2Fc HTTP/1.1\r\nHost: t\r\n\r\n"
              b"GET /api/item/7 HTTP/1.1\r\nHost: t\r\n\r\n"
              b"POST /api/item/7 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"
              b"HEAD /api/item/7 HTTP/1.1\r\nHost: t\r\n\r\n"
              b"GET /api/item/7/x HTTP/1.1\r\nHost: t\r\n\r\n")
    replies = parse_responses(conn.take(), [b"GET", b"GET", b"POST", b"HEAD", b"GET"])
    assert [r.body for r in replies[:3]] == [b"a/b/c", b"get 7", b"post 7"]
    assert replies[3].status == 200 and replies[3].header(b"content-length") == b"5"
    assert replies[4].status == 404
    with pytest.raises(ValueError):
        router.add("no-slash", lambda r: b"")
