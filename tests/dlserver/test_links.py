"""Signed links: sign/verify, tampering, rotation, expiry, client binding, the keys file."""

from __future__ import annotations

import ipaddress
import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from dlserver._catalog_types import Album, Artist, MediaFile, Track
from dlserver._links_keys import KeyEntry, KeysFileError
from dlserver.links import (
    KEYS_FILENAME,
    DownloadTarget,
    LinkSigner,
    Reason,
    album_path,
    load_keys,
    parse_download_path,
    rotate_keys,
    signer_for,
    track_filename,
    track_path,
)

K1 = ("1", b"k" * 32)
K2 = ("2", b"q" * 32)
PATH = "/dl/t/12/Zo%C3%AB%20-%20Caf%C3%A9.wav"
EXPIRES = 1_700_000_000
NOW = EXPIRES - 3600

signer = LinkSigner([K1])

paths = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="?#"),
                max_size=60).map(lambda s: "/" + s)
ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(str)


def split(link: str) -> tuple[str, str | None]:
    path, mark, query = link.partition("?")
    return path, query if mark else None


def check(link: str, now: float = NOW, client_ip: str | None = None,
          verifier: LinkSigner = signer) -> Reason:
    path, query = split(link)
    return verifier.verify(path, query, now, client_ip).reason


def test_round_trip_and_format() -> None:
    """A signed link verifies, and carries e, k and a 22-character s in its query."""
    link = signer.sign(PATH, EXPIRES)
    path, query = split(link)
    assert path == PATH
    assert query is not None and query.startswith(f"e={EXPIRES}&k=1&s=")
    assert len(query.split("s=")[1]) == 22
    verdict = signer.verify(path, query, NOW, "203.0.113.9")
    assert verdict.ok and (verdict.key_id, verdict.expires_at) == ("1", EXPIRES)


@given(path=paths, expires=st.integers(0, 10**12 - 1), data=st.data())
def test_any_single_character_change_is_refused(path: str, expires: int,
                                                data: st.DataObject) -> None:
    """Changing any one character of path or query (bound or not) makes the link invalid."""
    client = data.draw(st.one_of(st.none(), ipv4, ipv6))
    link = signer.sign(path, expires, client)
    index = data.draw(st.integers(0, len(link) - 1))
    replacement = data.draw(st.characters(min_codepoint=0x20, max_codepoint=0x7E))
    assume(replacement != link[index])
    tampered = link[:index] + replacement + link[index + 1:]
    assert check(link, now=expires - 1, client_ip=client) is Reason.OK
    assert check(tampered, now=expires - 1, client_ip=client) is not Reason.OK


@given(path=paths, data=st.data())
def test_deleting_or_inserting_a_character_is_refused(path: str, data: st.DataObject) -> None:
    """Dropping or adding one character anywhere also invalidates the link."""
    link = signer.sign(path, EXPIRES)
    index = data.draw(st.integers(0, len(link) - 1))
    assert check(link[:index] + link[index + 1:]) is not Reason.OK
    extra = data.draw(st.characters(min_codepoint=0x21, max_codepoint=0x7E))
    assume(extra != "&")  # "…&&…" or a trailing "&" adds an empty, ignored parameter
    inserted = link[:index] + extra + link[index:]
    assume(inserted != link)
    assert check(inserted) is not Reason.OK


def test_the_signature_covers_the_raw_path() -> None:
    """Another spelling of the same decoded path (case of %-escapes) is refused."""
    link = signer.sign(PATH, EXPIRES)
    assert check(link.replace("%C3%AB", "%c3%ab")) is Reason.BAD


@pytest.mark.parametrize(("query", "reason"), [
    (None, Reason.MISSING),
    ("", Reason.MISSING),
    (f"e={EXPIRES}&k=1", Reason.MISSING),
    ("k=1&s=AAAAAAAAAAAAAAAAAAAAAA", Reason.MISSING),
    (f"e={EXPIRES}&s=AAAAAAAAAAAAAAAAAAAAAA", Reason.MISSING),
    (f"e={EXPIRES}&k=9&s=AAAAAAAAAAAAAAAAAAAAAA", Reason.UNKNOWN_KEY),
    (f"e={EXPIRES}&k=1&s=AAAAAAAAAAAAAAAAAAAAAA", Reason.BAD),
    (f"e={EXPIRES}&k=1&s=short", Reason.BAD),
    ("e=-5&k=1&s=AAAAAAAAAAAAAAAAAAAAAA", Reason.BAD),
    ("e=soon&k=1&s=AAAAAAAAAAAAAAAAAAAAAA", Reason.BAD),
    (f"e={EXPIRES}&k=1&s=ÄAAAAAAAAAAAAAAAAAAAAA"[:-1], Reason.BAD),
])
def test_refusal_reasons(query: str | None, reason: Reason) -> None:
    """Each kind of broken query gets its documented reason."""
    assert signer.verify(PATH, query, NOW, None).reason is reason


def test_duplicated_or_non_canonical_fields_are_refused() -> None:
    """Parameter pollution and leading zeros cannot pass a valid signature off."""
    link = signer.sign(PATH, EXPIRES)
    path, query = split(link)
    assert query is not None
    assert signer.verify(path, query + f"&e={EXPIRES + 999}", NOW, None).reason is Reason.BAD
    assert signer.verify(path, query + "&k=1", NOW, None).reason is Reason.BAD
    assert signer.verify(path, query.replace("e=", "e=0"), NOW, None).reason is Reason.BAD
    assert signer.verify(path, "x=1&" + query + "&utm=y", NOW, None).ok  # unsigned extras


def test_non_ascii_or_odd_paths_are_refused_not_crashing() -> None:
    """verify() never raises on hostile input; sign() refuses what it cannot sign."""
    link = signer.sign(PATH, EXPIRES)
    query = split(link)[1]
    for path in ["/dl/t/12/Café.wav", "", "dl/t/12", "/a b", "/a\nb"]:
        assert signer.verify(path, query, NOW, None).reason is Reason.BAD
    for path in ["/dl/Café", "relative", "/a?b", "/a#b", "/a b", ""]:
        with pytest.raises(ValueError):
            signer.sign(path, EXPIRES)
    with pytest.raises(ValueError):
        signer.sign(PATH, -1)
    with pytest.raises(ValueError):
        signer.sign(PATH, EXPIRES, client_ip="not-an-ip")


@given(expires=st.integers(0, 10**12 - 1), delta=st.floats(-1e6, 1e6, allow_nan=False))
def test_expiry_boundary(expires: int, delta: float) -> None:
    """Valid strictly before e, expired from e on."""
    now = expires + delta
    expected = Reason.OK if now < expires else Reason.EXPIRED
    assert check(signer.sign(PATH, expires), now=now) is expected


def test_expiry_exact_second() -> None:
    """At e - 0.001 the link works; at e it has expired, and says so with its expiry."""
    link = signer.sign(PATH, EXPIRES)
    assert check(link, now=EXPIRES - 0.001) is Reason.OK
    verdict = signer.verify(*split(link), EXPIRES, None)
    assert verdict.reason is Reason.EXPIRED and verdict.expires_at == EXPIRES


def test_a_forged_expired_link_is_a_bad_signature_not_expired() -> None:
    """The signature is checked before the expiry: forgeries learn nothing more."""
    link = signer.sign(PATH, EXPIRES).replace("/12/", "/13/")
    assert check(link, now=EXPIRES + 10) is Reason.BAD


def test_rotation_keeps_old_links_valid() -> None:
    """After rotation the new key signs and the old one still verifies; once dropped, its
    links are refused as 'unknown key'."""
    old_link = LinkSigner([K1]).sign(PATH, EXPIRES)
    rotated = LinkSigner([K2, K1])
    new_link = rotated.sign(PATH, EXPIRES)
    assert "&k=2&" in new_link
    assert check(old_link, verifier=rotated) is Reason.OK
    assert check(new_link, verifier=rotated) is Reason.OK
    assert check(new_link, verifier=LinkSigner([K1])) is Reason.UNKNOWN_KEY
    assert check(old_link, verifier=LinkSigner([K2])) is Reason.UNKNOWN_KEY
    # Same key id, other secret (a reset keys file): refused as forged.
    assert check(old_link, verifier=LinkSigner([("1", b"z" * 32)])) is Reason.BAD


def test_moving_the_signature_to_another_key_id_fails() -> None:
    """The key id is signed: relabelling a link with another valid key id fails."""
    both = LinkSigner([K1, K2])
    link = both.sign(PATH, EXPIRES)
    assert check(link.replace("&k=1&", "&k=2&"), verifier=both) is Reason.BAD


@given(client=ipv4, other=ipv4)
def test_ipv4_binding(client: str, other: str) -> None:
    """A bound link works from its address only."""
    link = signer.sign(PATH, EXPIRES, client)
    assert "&ip=" in link and client not in link
    assert check(link, client_ip=client) is Reason.OK
    expected = Reason.OK if other == client else Reason.WRONG_CLIENT
    assert check(link, client_ip=other) is expected


def test_binding_cannot_be_stripped_and_needs_an_address() -> None:
    """Removing ip= breaks the signature; an unknown or garbled client address is refused."""
    link = signer.sign(PATH, EXPIRES, "192.0.2.1")
    assert check(link.split("&ip=")[0], client_ip="192.0.2.1") is Reason.BAD
    assert check(link, client_ip=None) is Reason.WRONG_CLIENT
    assert check(link, client_ip="garbage") is Reason.WRONG_CLIENT
    unbound = signer.sign(PATH, EXPIRES)
    assert check(unbound + "&ip=" + link.split("&ip=")[1], client_ip="192.0.2.1") is Reason.BAD


def test_ipv4_mapped_ipv6_is_the_ipv4_client() -> None:
    """A dual-stack server sees ::ffff:a.b.c.d: the same client as a.b.c.d."""
    link = signer.sign(PATH, EXPIRES, "192.0.2.1")
    assert check(link, client_ip="::ffff:192.0.2.1") is Reason.OK
    assert check(signer.sign(PATH, EXPIRES, "::ffff:192.0.2.1"), client_ip="192.0.2.1") is (
        Reason.OK)


@given(client=ipv6, host_bits=st.integers(0, 2**64 - 1), other=ipv6)
def test_ipv6_binding_pins_the_slash_64(client: str, host_bits: int, other: str) -> None:
    """By default an IPv6 link works from anywhere in the client's /64, and only there."""
    address = ipaddress.IPv6Address(client)
    assume(address.ipv4_mapped is None)
    link = signer.sign(PATH, EXPIRES, client)
    same_lan = ipaddress.IPv6Address((int(address) >> 64 << 64) | host_bits)
    assume(same_lan.ipv4_mapped is None)
    assert check(link, client_ip=str(same_lan)) is Reason.OK
    assert check(link, client_ip=f"[{client}]") is Reason.OK
    other_address = ipaddress.IPv6Address(other)
    assume(other_address.ipv4_mapped is None)
    expected = Reason.OK if int(other_address) >> 64 == int(address) >> 64 else (
        Reason.WRONG_CLIENT)
    assert check(link, client_ip=other) is expected


def test_ipv6_exact_binding_and_family_mismatch() -> None:
    """With ipv6_prefix=128 the exact address is pinned; IPv4 never matches IPv6."""
    exact = LinkSigner([K1], ipv6_prefix=128)
    link = exact.sign(PATH, EXPIRES, "2001:db8::1")
    assert check(link, client_ip="2001:db8::1", verifier=exact) is Reason.OK
    assert check(link, client_ip="2001:db8::2", verifier=exact) is Reason.WRONG_CLIENT
    # Signer and verifier must agree on the prefix: a /64 verifier does not match.
    assert check(link, client_ip="2001:db8::2") is Reason.WRONG_CLIENT
    v4 = signer.sign(PATH, EXPIRES, "192.0.2.1")
    assert check(v4, client_ip="2001:db8::1") is Reason.WRONG_CLIENT


@pytest.mark.parametrize(("keys", "message"), [
    ([], "at least one"),
    ([("bad id!", b"k" * 32)], "key id"),
    ([K1, ("1", b"x" * 32)], "duplicate"),
    ([("1", b"short")], "16 bytes"),
])
def test_signer_validates_its_keys(keys: list[tuple[str, bytes]], message: str) -> None:
    """Bad key lists are refused at construction."""
    with pytest.raises(ValueError, match=message):
        LinkSigner(keys)
    with pytest.raises(ValueError, match="ipv6_prefix"):
        LinkSigner([K1], ipv6_prefix=0)


def test_keys_file_created_private_and_stable(tmp_path: Path) -> None:
    """The first use creates keys.json with mode 0600; later loads give the same key."""
    first = load_keys(tmp_path / "data")
    mode = (tmp_path / "data" / KEYS_FILENAME).stat().st_mode
    assert stat.S_IMODE(mode) == 0o600
    assert load_keys(tmp_path / "data") == first
    assert len(first) == 1 and len(first[0].secret) == 32 and first[0].id == "1"
    assert os.listdir(tmp_path / "data") == [KEYS_FILENAME]  # no temporary left behind
    assert "secret" not in repr(first[0]) and repr(first[0].secret) not in repr(first[0])


def test_rotate_adds_a_signing_key_and_keeps_the_previous(tmp_path: Path) -> None:
    """rotate: the new key signs, the previous verifies, the one before is dropped."""
    link = signer_for(tmp_path).sign(PATH, EXPIRES)
    entry = rotate_keys(tmp_path)
    rotated = signer_for(tmp_path)
    assert (entry.id, rotated.signing_key_id, rotated.key_ids) == ("2", "2", ("2", "1"))
    assert check(link, verifier=rotated) is Reason.OK
    rotate_keys(tmp_path)
    assert check(link, verifier=signer_for(tmp_path)) is Reason.UNKNOWN_KEY
    assert [e.id for e in load_keys(tmp_path)] == ["3", "2"]
    assert stat.S_IMODE((tmp_path / KEYS_FILENAME).stat().st_mode) == 0o600
    newest = rotate_keys(tmp_path, keep=1)
    assert [e.id for e in load_keys(tmp_path)] == [newest.id] == ["4"]
    with pytest.raises(ValueError):
        rotate_keys(tmp_path, keep=0)


def test_keys_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    """Like ssh, a keys file open to group or others is refused, with the fix."""
    load_keys(tmp_path)
    os.chmod(tmp_path / KEYS_FILENAME, 0o644)
    with pytest.raises(KeysFileError, match="chmod 600"):
        load_keys(tmp_path)


@pytest.mark.parametrize("content", [
    "not json", '{"format": 2, "keys": []}', '{"format": 1, "keys": []}',
    '{"format": 1, "keys": [{"id": "1"}]}', '{"format": 1, "keys": [{"id": "1", '
    '"secret": "!!", "created": 0}]}', "[]",
])
def test_malformed_keys_file_is_refused(tmp_path: Path, content: str) -> None:
    """A keys file that cannot be read back is an error, never silently replaced."""
    path = tmp_path / KEYS_FILENAME
    path.write_text(content)
    os.chmod(path, 0o600)
    with pytest.raises(KeysFileError):
        load_keys(tmp_path)
    assert path.read_text() == content


def test_keys_file_format(tmp_path: Path) -> None:
    """The documented JSON layout, secrets as unpadded base64url."""
    entry = load_keys(tmp_path)[0]
    document = json.loads((tmp_path / KEYS_FILENAME).read_text())
    assert document["format"] == 1
    assert document["keys"][0]["id"] == "1" and "=" not in document["keys"][0]["secret"]
    assert isinstance(entry, KeyEntry)


def _track(track_id: int, artist: str, title: str, path: str) -> Track:
    who = Artist(1, artist)
    return Track(track_id, title, who, 3, "Album", who, 1, 1, None,
                 MediaFile(path, 1, 0, 0, "audio/wav", None))


def test_download_paths_and_names() -> None:
    """Paths are /dl/t/ID/name and /dl/a/ID/name.zip, percent-encoded, parseable."""
    track = _track(21, "Zoë Ångström", "Café", "Z/A/01 Café.WAV")
    assert track_filename(track) == "Zoë Ångström - Café.wav"
    assert track_path(track) == "/dl/t/21/Zo%C3%AB%20%C3%85ngstr%C3%B6m%20-%20Caf%C3%A9.wav"
    album = Album(6, "Été \u2013 Live", Artist(1, "Zoë"), 2021, (track,))
    assert album_path(album) == "/dl/a/6/Zo%C3%AB%20-%20%C3%89t%C3%A9%20%E2%80%93%20Live.zip"
    assert parse_download_path(track_path(track)) == DownloadTarget("track", 21)
    assert parse_download_path(album_path(album)) == DownloadTarget("album", 6)
    assert parse_download_path("/dl/t/7") == DownloadTarget("track", 7)
    for other in ["/dl/x/1/a", "/dl/t/0/a", "/dl/t/01/a", "/dl/t/1/a/b", "/", "/dl/t/1/a?x"]:
        assert parse_download_path(other) is None
    assert signer.verify(*split(signer.sign(track_path(track), EXPIRES)), NOW, None).ok


@pytest.mark.parametrize(("artist", "title", "expected"), [
    ("AC/DC", 'Say "Hi"', "AC_DC - Say _Hi_.wav"),
    ("..", "..", "-.wav"),
    (".hidden", "x", "hidden - x.wav"),
    ("", "\x00", "- _.wav"),
    ("A", "x" * 300, "A - " + "x" * 176 + ".wav"),
])
def test_download_names_are_safe(artist: str, title: str, expected: str) -> None:
    """Separators, quotes and controls are replaced; names are bounded."""
    assert track_filename(_track(1, artist, title, "a.wav")) == expected
