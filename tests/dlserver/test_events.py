"""dlserver.events schema: compact JSON datagrams, round trips, truncation, bad input."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlserver.events import (
    MAX_DATAGRAM,
    DownloadEvent,
    EventError,
    EventKind,
    ItemKind,
    decode_event,
    encode_event,
)

EVENT = DownloadEvent(
    kind=EventKind.FINISHED,
    download_id="d-81f2",
    item_kind=ItemKind.ALBUM,
    item_id="42",
    client="203.0.113.9",
    bytes_sent=73400320,
    duration=12.5,
    status=200,
    timestamp=1700000000.25,
    pid=4242,
)


def test_encoding_is_the_documented_compact_json() -> None:
    """The datagram is exactly the documented one-line JSON with short keys and v=1."""
    assert encode_event(EVENT) == (
        b'{"v":1,"e":"finished","id":"d-81f2","ik":"album","iid":"42","c":"203.0.113.9",'
        b'"b":73400320,"d":12.5,"s":200,"t":1700000000.25,"p":4242}'
    )
    assert decode_event(encode_event(EVENT)) == EVENT


def test_long_fields_are_cut_to_fit() -> None:
    """Over-long ids and addresses are cut on character boundaries; the datagram fits."""
    event = DownloadEvent(EventKind.STARTED, "x" * 5000, ItemKind.ZIP, "é" * 5000,
                          "\x00" * 5000)
    data = encode_event(event)
    assert len(data) <= MAX_DATAGRAM
    back = decode_event(data)
    assert back.download_id == "x" * 126  # 128 bytes with its two quotes
    assert back.item_id == "é" * 127  # 2 bytes each
    assert back.client == "\x00" * 21  # "\u0000" is 6 bytes of JSON


def test_bad_numbers_are_cleaned_on_encode() -> None:
    """Negative or non-finite numbers encode as 0 instead of failing or writing NaN."""
    event = DownloadEvent(EventKind.ABORTED, "d", ItemKind.TRACK, "1", "c",
                          bytes_sent=-5, duration=math.nan, status=-1,
                          timestamp=math.inf, pid=2**70)
    back = decode_event(encode_event(event))
    assert (back.bytes_sent, back.duration, back.status, back.timestamp, back.pid) == (
        0, 0.0, 0, 0.0, 2**63 - 1)


texts = st.text(max_size=2000)
events = st.builds(
    DownloadEvent,
    kind=st.sampled_from(EventKind),
    download_id=texts,
    item_kind=st.sampled_from(ItemKind),
    item_id=texts,
    client=texts,
    bytes_sent=st.integers(min_value=0, max_value=2**63 - 1),
    duration=st.floats(min_value=0, max_value=1e308),
    status=st.integers(min_value=0, max_value=2**63 - 1),
    timestamp=st.floats(min_value=0, max_value=1e308),
    pid=st.integers(min_value=0, max_value=2**63 - 1),
)


@settings(max_examples=300, deadline=None)
@given(events)
def test_any_event_fits_and_round_trips(event: DownloadEvent) -> None:
    """Every event encodes within MAX_DATAGRAM; decoding gives it back, its strings
    possibly cut to a prefix (lone surrogates replaced)."""
    data = encode_event(event)
    assert len(data) <= MAX_DATAGRAM
    back = decode_event(data)
    assert (back.kind, back.item_kind, back.bytes_sent, back.duration, back.status,
            back.timestamp, back.pid) == (event.kind, event.item_kind, event.bytes_sent,
                                          event.duration, event.status, event.timestamp,
                                          event.pid)
    for original, got in ((event.download_id, back.download_id), (event.item_id, back.item_id),
                          (event.client, back.client)):
        safe = original.encode("utf-8", "replace").decode("utf-8")
        assert safe.startswith(got)


@pytest.mark.parametrize(
    ("datagram", "message"),
    [
        (b"\xff\xfe", "UTF-8 JSON"),
        (b"not json", "UTF-8 JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"v": 2}', "version"),
        (b'{"v": true}', "version"),
        (b"{}", "version"),
        (b"x" * (MAX_DATAGRAM + 1), "more than"),
    ],
)
def test_malformed_datagrams_are_event_errors(datagram: bytes, message: str) -> None:
    """Garbage, other versions and oversize datagrams raise EventError."""
    with pytest.raises(EventError, match=message):
        decode_event(datagram)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"e": "paused"}, "one of started, finished, aborted"),
        ({"ik": "playlist"}, "one of track, album, zip"),
        ({"b": "12"}, "'b' must be int"),
        ({"b": -1}, "out of range"),
        ({"b": 2**63}, "out of range"),
        ({"t": math.inf}, "out of range"),
        ({"d": -0.5}, "out of range"),
        ({"s": True}, "'s' must be int"),
        ({"d": "1.5"}, "'d' must be float"),
        ({"iid": 42}, "'iid' must be str"),
        ({"c": None}, "'c' must be str"),
    ],
)
def test_wrong_fields_are_event_errors(change: dict[str, object], message: str) -> None:
    """A field of the wrong type, unknown kind or out of range raises EventError."""
    record = json.loads(encode_event(EVENT))
    record.update(change)
    with pytest.raises(EventError, match=message):
        decode_event(json.dumps(record).encode())


def test_missing_field_and_unknown_keys() -> None:
    """A missing field is an error; unknown extra keys are ignored (forward compatible);
    ints are accepted where floats are expected."""
    record = json.loads(encode_event(EVENT))
    del record["id"]
    with pytest.raises(EventError, match="'id' must be str"):
        decode_event(json.dumps(record).encode())
    record = json.loads(encode_event(EVENT))
    record.update({"future": [1, 2], "d": 3})
    back = decode_event(json.dumps(record).encode())
    assert back.duration == 3.0 and isinstance(back.duration, float)
