"""The dlserver command line: import, link, keys, the subcommand registry, the script."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest

from dlserver import cli
from dlserver.catalog import Catalog
from dlserver.demo import write_tone
from dlserver.links import LinkSigner, Reason, signer_for


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def verify(data: Path, url: str, client_ip: str | None = None) -> Reason:
    parts = urlsplit(url)
    return signer_for(data).verify(parts.path, parts.query, time.time(), client_ip).reason


@pytest.fixture
def data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A data directory with two tracks imported (media under data/media)."""
    folder = tmp_path / "data" / "media" / "Zoë" / "Été"
    folder.mkdir(parents=True)
    write_tone(folder / "01 Café.wav", 440.0, seconds=0.2)
    write_tone(folder / "02 Thé.wav", 550.0, seconds=0.2)
    assert cli.main(["import", str(tmp_path / "data" / "media"), "--data",
                     str(tmp_path / "data"), "--quiet"]) == 0
    capsys.readouterr()
    return tmp_path / "data"


@pytest.mark.parametrize("argv", [[], ["import"], ["link"], ["keys"], ["keys", "rotate"],
                                  ["keys", "list"]])
def test_every_command_has_help(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    """--help works at every level and exits 0 with a usage line."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*argv, "--help"])
    assert exit_info.value.code == 0
    assert "usage: dlserver" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [[], ["nope"], ["keys"], ["link"], ["link", "x", "--expires",
                                                                     "soon"]])
def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    """Missing or unknown subcommands and bad options are usage errors (status 2)."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_import_reports_progress_and_summary(capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path) -> None:
    """Progress (done/total) goes to stderr, the summary to stdout; re-import is a no-op."""
    media = tmp_path / "d" / "media" / "A"
    media.mkdir(parents=True)
    for i in range(3):
        write_tone(media / f"{i}.wav", 300.0 + i, seconds=0.1)
    code, out, err = run(capsys, "import", str(media), "--data", str(tmp_path / "d"))
    assert code == 0
    assert "3/3 files" in err and "1/3 files" in err
    assert out == "3 files: 3 added, 0 updated, 0 unchanged, 0 removed; 0 refused, 0 skipped\n"
    code, out, _ = run(capsys, "import", str(media), "--data", str(tmp_path / "d"), "-q")
    assert (code, out.split(":")[1].strip().split(",")[2].strip()) == (0, "3 unchanged")


def test_import_outside_the_media_root(capsys: pytest.CaptureFixture[str],
                                       tmp_path: Path) -> None:
    """A folder outside the media root is an error with a hint; --media-root fixes it."""
    music = tmp_path / "Music"
    music.mkdir()
    write_tone(music / "x.wav", 330.0, seconds=0.1)
    code, out, err = run(capsys, "import", str(music), "--data", str(tmp_path / "d"))
    assert (code, out) == (1, "")
    assert "outside the media root" in err and "--media-root" in err
    code, out, _ = run(capsys, "import", str(music), "--data", str(tmp_path / "d"),
                       "--media-root", str(music), "-q")
    assert code == 0 and out.startswith("1 files: 1 added")
    with Catalog.open_data_dir(tmp_path / "d") as catalog:
        assert catalog.media_root == music and catalog.find_by_path("x.wav") is not None


def test_import_lists_refused_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Refused symlinks are named on stderr."""
    media = tmp_path / "d" / "media"
    media.mkdir(parents=True)
    write_tone(tmp_path / "secret.wav", 200.0, seconds=0.1)
    (media / "leak.wav").symlink_to(tmp_path / "secret.wav")
    code, out, err = run(capsys, "import", str(media), "--data", str(tmp_path / "d"), "-q")
    assert code == 0 and "1 refused" in out
    assert "refused: leak.wav: symlink leaves the media root" in err


def test_link_for_a_track_an_album_and_a_path(capsys: pytest.CaptureFixture[str],
                                              data: Path) -> None:
    """link prints one signed URL that the data directory's keys verify."""
    with Catalog.open_data_dir(data) as catalog:
        cafe = catalog.find_by_path("Zoë/Été/01 Café.wav")
        assert cafe is not None
        album_id = cafe.album_id
    code, out, err = run(capsys, "link", f"track:{cafe.id}", "--data", str(data))
    assert (code, err) == (0, "")
    url = out.strip()
    assert url.startswith(f"http://127.0.0.1:8080/dl/t/{cafe.id}/Zo%C3%AB%20-%20Caf%C3%A9.wav?")
    assert verify(data, url) is Reason.OK
    expires = int(urlsplit(url).query.split("e=")[1].split("&")[0])
    assert abs(expires - (time.time() + 86400)) < 60

    code, out, _ = run(capsys, "link", f"album:{album_id}", "--data", str(data),
                       "--base-url", "https://dl.example/", "--expires", "60")
    assert code == 0 and out.startswith(f"https://dl.example/dl/a/{album_id}/")
    assert verify(data, out.strip()) is Reason.OK

    for target in ["Zoë/Été/01 Café.wav", str(data / "media" / "Zoë" / "Été" / "01 Café.wav")]:
        code, out, _ = run(capsys, "link", target, "--data", str(data))
        assert code == 0 and f"/dl/t/{cafe.id}/" in out

    code, out, _ = run(capsys, "link", "/dl/custom/path", "--data", str(data))
    assert code == 0 and verify(data, out.strip()) is Reason.OK


def test_link_bound_to_a_client(capsys: pytest.CaptureFixture[str], data: Path) -> None:
    """--client-ip binds the link to that address."""
    code, out, _ = run(capsys, "link", "track:1", "--data", str(data), "--client-ip", "192.0.2.7")
    assert code == 0
    assert verify(data, out.strip(), "192.0.2.7") is Reason.OK
    assert verify(data, out.strip(), "192.0.2.8") is Reason.WRONG_CLIENT


@pytest.mark.parametrize(("argv", "message"), [
    (["track:999"], "no track 999"),
    (["album:999"], "no album 999"),
    (["Nobody/none.wav"], "not in the catalog"),
    (["/etc/passwd"], "outside the media root"),
    (["track:1", "--expires", "0"], "--expires must be > 0"),
    (["track:1", "--client-ip", "nonsense"], "not an IP address"),
    (["/dl/Café"], "percent-encoded"),
])
def test_link_errors(capsys: pytest.CaptureFixture[str], data: Path, argv: list[str],
                     message: str) -> None:
    """Unknown targets and bad options give status 1 and a one-line reason."""
    code, out, err = run(capsys, "link", *argv, "--data", str(data))
    assert (code, out) == (1, "")
    assert err.startswith("dlserver: error: ") and message in err


def test_link_without_a_data_directory(capsys: pytest.CaptureFixture[str],
                                       tmp_path: Path) -> None:
    """link does not create a data directory that does not exist."""
    code, _, err = run(capsys, "link", "track:1", "--data", str(tmp_path / "none"))
    assert code == 1 and "no data directory" in err and not (tmp_path / "none").exists()


def test_keys_rotate_and_list(capsys: pytest.CaptureFixture[str], data: Path) -> None:
    """keys rotate adds a signing key; links signed before still verify."""
    code, out, _ = run(capsys, "link", "track:1", "--data", str(data))
    old_url = out.strip()
    code, out, _ = run(capsys, "keys", "rotate", "--data", str(data))
    assert (code, out) == (0, "new signing key 2\n")
    assert verify(data, old_url) is Reason.OK
    code, out, _ = run(capsys, "link", "track:1", "--data", str(data))
    assert "&k=2&" in out
    code, out, _ = run(capsys, "keys", "list", "--data", str(data))
    lines = out.splitlines()
    assert code == 0 and [line.split("\t")[0] for line in lines] == ["2", "1"]
    assert lines[0].endswith("signs and verifies") and lines[1].endswith("\tverifies")
    code, _, err = run(capsys, "keys", "rotate", "--keep", "0", "--data", str(data))
    assert code == 1 and "--keep" in err


def test_keys_errors_are_reported(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A keys file open to others is refused with the chmod to run."""
    (tmp_path / "keys.json").write_text("{}")
    os.chmod(tmp_path / "keys.json", 0o644)
    code, _, err = run(capsys, "keys", "list", "--data", str(tmp_path))
    assert code == 1 and "chmod 600" in err


def test_data_directory_from_the_environment(capsys: pytest.CaptureFixture[str], data: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """$DLSERVER_DATA is the default --data."""
    monkeypatch.setenv("DLSERVER_DATA", str(data))
    code, out, _ = run(capsys, "link", "track:1")
    assert code == 0 and verify(data, out.strip()) is Reason.OK


def test_subcommands_register_without_editing_main(capsys: pytest.CaptureFixture[str]) -> None:
    """Any object with add_parser/run plugs in: main dispatches through the registry."""
    calls: list[argparse.Namespace] = []

    def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]
                   ) -> argparse.ArgumentParser:
        parser = subparsers.add_parser("hello", help="say hello")
        parser.add_argument("--name", default="world")
        return parser

    def run_hello(args: argparse.Namespace) -> int:
        calls.append(args)
        return 7

    extra = SimpleNamespace(add_parser=add_parser, run=run_hello)
    parser = cli.build_parser([*cli.SUBCOMMANDS, extra])
    args = parser.parse_args(["hello", "--name", "you"])
    assert args._subcommand.run(args) == 7 and calls[0].name == "you"
    assert "hello" in parser.format_help() and "import" in parser.format_help()


def test_installed_script(data: Path) -> None:
    """The `dlserver` console script runs main() and exits with its status."""
    script = shutil.which("dlserver", path=str(Path(sys.executable).parent))
    if script is None:
        if os.environ.get("CI"):
            pytest.fail("the dlserver script is not installed (pip install -e .)")
        pytest.skip("the dlserver script is not installed (pip install -e .)")
    done = subprocess.run([script, "link", "track:2", "--data", str(data)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode, done.stderr) == (0, "")
    parts = urlsplit(done.stdout.strip())
    signer: LinkSigner = signer_for(data)
    assert signer.verify(parts.path, parts.query, time.time(), None).ok
    assert parts.path.startswith("/dl/t/2/")
    failed = subprocess.run([script, "link", "track:999", "--data", str(data)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert failed.returncode == 1 and "no track 999" in failed.stderr
