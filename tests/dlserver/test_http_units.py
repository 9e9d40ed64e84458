"""The download server's pure parts, without sockets: routing, config, zip names, the
throttled body reader, and the serve/demo command lines."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dlserver import cli
from dlserver._cli_serve import config_from_args
from dlserver._http_album import entry_name
from dlserver._http_routes import Route, RouteKind, route
from dlserver._http_throttle import PiecesReader
from dlserver.catalog import Album, Artist, MediaFile, Track
from dlserver.config import ServerConfig, parse_host_port
from torsion.web.representation import FileRegion


@pytest.mark.parametrize(("method", "path", "expected"), [
    (b"GET", b"/dl/t/12/A%20B.wav", Route(RouteKind.TRACK, 12, "/dl/t/12/A%20B.wav")),
    (b"HEAD", b"/dl/t/12", Route(RouteKind.TRACK, 12, "/dl/t/12")),
    (b"GET", b"/dl/a/3/X.zip", Route(RouteKind.ALBUM, 3, "/dl/a/3/X.zip")),
    (b"GET", b"/dl/a/3/X.tar", Route(RouteKind.NOT_FOUND)),
    (b"GET", b"/dl/t/0/x", Route(RouteKind.NOT_FOUND)),
    (b"GET", b"/dl/t/012/x", Route(RouteKind.NOT_FOUND)),
    (b"GET", b"/dl/t/1/a/b", Route(RouteKind.NOT_FOUND)),
    (b"GET", b"/dl/t/1/\xc3\xa9", Route(RouteKind.NOT_FOUND)),
    (b"GET", b"/status", Route(RouteKind.STATUS, None, "/status")),
    (b"GET", b"/operator", Route(RouteKind.OPERATOR, None, "/operator")),
    (b"POST", b"/status", Route(RouteKind.BAD_METHOD)),
    (b"DELETE", b"/dl/t/1/x", Route(RouteKind.BAD_METHOD)),
    (b"POST", b"/elsewhere", Route(RouteKind.NOT_FOUND)),
    (b"GET", b"/", Route(RouteKind.NOT_FOUND)),
])
def test_routes(method: bytes, path: bytes, expected: Route) -> None:
    """Downloads, status and operator by raw path; other methods 405; the rest 404."""
    assert route(method, path) == expected


def test_config_defaults_and_validation(tmp_path: Path) -> None:
    """Defaults are usable; bad caps, rates, endpoints and base URLs are refused."""
    config = ServerConfig(tmp_path, base_url="https://dl.example/")
    assert config.listen and config.max_downloads >= 1 and config.rate is None
    assert config.base_url == "https://dl.example"
    for bad in ({"listen": ()}, {"max_downloads": 0}, {"max_per_client": 0}, {"rate": 0},
                {"global_rate": -1}, {"link_ttl": 0}, {"base_url": "ftp://x"}):
        with pytest.raises(ValueError):
            ServerConfig(tmp_path, **bad)


def test_parse_host_port() -> None:
    """IP literals only (no blocking name lookups), ports 1..65535."""
    assert parse_host_port("10.0.0.1:9514") == ("10.0.0.1", 9514)
    assert parse_host_port("[2001:db8::1]:53") == ("2001:db8::1", 53)
    for bad in ("localhost:1", "1.2.3.4", "1.2.3.4:0", "1.2.3.4:x", ":80"):
        with pytest.raises(ValueError):
            parse_host_port(bad)


def test_serve_options_make_a_config(tmp_path: Path) -> None:
    """dlserver serve options land in the config; several --listen are kept in order."""
    args = cli.build_parser().parse_args([
        "serve", "--listen", "tcp:0", "--listen", "ssl:0:privateKey=k.pem", "--data",
        str(tmp_path), "--max-downloads", "3", "--max-per-client", "1", "--rate", "1000",
        "--log-udp", "127.0.0.1:9514"])
    config = config_from_args(args)
    assert config.listen == ("tcp:0", "ssl:0:privateKey=k.pem")
    assert (config.max_downloads, config.max_per_client, config.rate) == (3, 1, 1000)
    assert config.log_udp == ("127.0.0.1", 9514) and config.data_dir == tmp_path
    demo = config_from_args(cli.build_parser().parse_args(["demo", "--data", str(tmp_path)]))
    assert demo.listen == ("tcp:8080:interface=127.0.0.1",)


@pytest.mark.parametrize("argv", [["serve", "--max-downloads", "0"],
                                  ["serve", "--log-udp", "nohost"], ["serve", "--rate", "x"]])
def test_bad_serve_options_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Caps below 1, a collector that is not IP:PORT, a rate that is no number: usage errors."""
    with pytest.raises(SystemExit) as exit_info:
        cli.build_parser().parse_args(argv)
    assert exit_info.value.code == 2
    assert "usage: dlserver" in capsys.readouterr().err


def _track(title: str, number: int | None, disc: int = 1, path: str = "x/a.FLAC") -> Track:
    artist = Artist(1, "AC/DC")
    media = MediaFile(path, 1, 0, 0, "audio/flac", None)
    return Track(number or 9, title, artist, 5, "Live: \"Best\"", artist, disc, number, None,
                 media)


def test_zip_entry_names_are_safe_and_numbered() -> None:
    """Folder ``Artist - Album``, ``NN Title.ext``; separators and quotes replaced;
    the disc number in front when the album has several; the position when untracked."""
    one = _track("Back\\In/Black", 3)
    album = Album(5, "Live: \"Best\"", one.artist, None, (one,))
    assert entry_name(album, one, 1, 1) == "AC_DC - Live_ _Best_/03 Back_In_Black.flac"
    assert entry_name(album, _track("..", 2, disc=2), 1, 2).endswith("/2-02 track.flac")
    assert entry_name(album, _track("T", None), 4, 1).endswith("/04 T.flac")


def test_pieces_reader_reads_bytes_and_regions_in_order(tmp_path: Path) -> None:
    """read(n) walks literal bytes and file regions in order, across their borders."""
    path = tmp_path / "f"
    path.write_bytes(bytes(range(100)))
    fd = os.open(path, os.O_RDONLY)
    try:
        region = FileRegion(fd, 10, 20)
        reader = PiecesReader([b"head", region, b"tail"])
        out = [reader.read(7) for _ in range(5)]
        assert b"".join(out) == b"head" + bytes(range(10, 30)) + b"tail"
        assert [len(chunk) for chunk in out] == [7, 7, 7, 7, 0]
        assert (region.offset, region.count) == (10, 20)  # the caller's region is untouched
        short = PiecesReader([FileRegion(fd, 90, 20)])
        assert short.read(10) == bytes(range(90, 100))
        with pytest.raises(OSError, match="shrank"):
            short.read(10)
    finally:
        os.close(fd)
