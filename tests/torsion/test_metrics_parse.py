"""torsion.metrics output read back by a small, independent 0.0.4 text parser.

The parser below is written from the format's description (not from the code
under test): lines split on line feed only, ``#`` comments with HELP/TYPE,
``name{label="value",...} value`` samples, and the three label escapes.
Hypothesis draws label values and HELP text of any characters and checks they
come back unchanged.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from torsion.metrics import Counter, Gauge, Histogram, Registry

_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}


class ParseError(Exception):
    pass


def _read_label_value(line: str, pos: int) -> tuple[str, int]:
    """The value of a quoted label starting after its opening quote; returns (value, pos)."""
    out: list[str] = []
    while True:
        if pos >= len(line):
            raise ParseError(f"unterminated label value in {line!r}")
        char = line[pos]
        if char == '"':
            return "".join(out), pos + 1
        if char == "\\":
            escaped = line[pos + 1 : pos + 2]
            if escaped not in _ESCAPES:
                raise ParseError(f"bad escape \\{escaped} in {line!r}")
            out.append(_ESCAPES[escaped])
            pos += 2
        else:
            out.append(char)
            pos += 1


def _read_name(line: str, pos: int, extra: str) -> tuple[str, int]:
    start = pos
    while pos < len(line) and (line[pos].isascii() and (line[pos].isalnum() or line[pos] in extra)):
        pos += 1
    if pos == start:
        raise ParseError(f"expected a name at {pos} in {line!r}")
    return line[start:pos], pos


def parse_sample(line: str) -> tuple[str, dict[str, str], float]:
    name, pos = _read_name(line, 0, "_:")
    labels: dict[str, str] = {}
    if line[pos : pos + 1] == "{":
        pos += 1
        while line[pos] != "}":
            label, pos = _read_name(line, pos, "_")
            if line[pos : pos + 2] != '="':
                raise ParseError(f"expected =\" after {label} in {line!r}")
            value, pos = _read_label_value(line, pos + 2)
            if label in labels:
                raise ParseError(f"label {label} repeated in {line!r}")
            labels[label] = value
            if line[pos] == ",":
                pos += 1
        pos += 1
    if line[pos : pos + 1] != " ":
        raise ParseError(f"expected a space before the value in {line!r}")
    text = line[pos + 1 :]
    number = {"+Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}.get(text)
    return name, labels, float(text) if number is None else number


def _unescape_help(doc: str) -> str:
    out: list[str] = []
    chars = iter(doc)
    for char in chars:
        if char == "\\":
            escaped = next(chars, "")
            if escaped not in ("\\", "n"):
                raise ParseError(f"bad HELP escape \\{escaped} in {doc!r}")
            out.append("\n" if escaped == "n" else "\\")
        else:
            out.append(char)
    return "".join(out)


def parse(text: str) -> tuple[dict[str, tuple[str, str]], list[tuple[str, dict[str, str], float]]]:
    """Families as {name: (help, type)} and the samples, in order."""
    if text and not text.endswith("\n"):
        raise ParseError("the last line must end with a line feed")
    helps: dict[str, str] = {}
    types: dict[str, str] = {}
    samples = []
    for line in text.split("\n")[:-1]:
        if line.startswith("# HELP "):
            name, _, doc = line[len("# HELP "):].partition(" ")
            helps[name] = _unescape_help(doc)
        elif line.startswith("# TYPE "):
            name, _, kind = line[len("# TYPE "):].partition(" ")
            types[name] = kind
        elif line and not line.startswith("#"):
            samples.append(parse_sample(line))
    return {name: (helps[name], types[name]) for name in types}, samples


# Any text but lone surrogates (not encodable as UTF-8, which the format requires).
label_values = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=300, deadline=None)
@given(values=st.lists(label_values, min_size=1, max_size=5, unique=True), doc=label_values)
def test_label_values_and_help_round_trip(values: list[str], doc: str) -> None:
    """Every label value and HELP text comes back exactly through the parser."""
    registry = Registry()
    g = Gauge("roundtrip", doc, ["value", "other"], registry=registry)
    for index, value in enumerate(values):
        g.labels(value=value, other=value[::-1]).set(index)
    families, samples = parse(registry.exposition())
    assert families == {"roundtrip": (doc, "gauge")}
    assert samples == [
        ("roundtrip", {"value": value, "other": value[::-1]}, index)
        for index, value in enumerate(values)
    ]
    registry.exposition().encode("utf-8")


@settings(max_examples=100, deadline=None)
@given(
    observations=st.lists(
        st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), max_size=30
    ),
    path=label_values,
)
def test_histogram_parses_back_consistently(observations: list[float], path: str) -> None:
    """Buckets parse back cumulative and non-decreasing, +Inf equals _count, and each
    bucket holds exactly the observations <= its bound."""
    bounds = (-1.0, 0.0, 0.5, 100.0)
    registry = Registry()
    h = Histogram("obs", "Observations.", ["path"], buckets=bounds, registry=registry)
    for value in observations:
        h.labels(path=path).observe(value)
    Counter("after_total", "Something after.", registry=registry).inc()
    families, samples = parse(registry.exposition())
    assert families["obs"] == ("Observations.", "histogram")
    if not observations:
        assert [s for s in samples if s[0].startswith("obs")] == []
        return
    buckets = [(labels["le"], value) for name, labels, value in samples if name == "obs_bucket"]
    assert [le for le, _ in buckets] == ["-1", "0", "0.5", "100", "+Inf"]
    for (le, count), bound in zip(buckets, [*bounds, math.inf], strict=True):
        assert count == sum(1 for v in observations if v <= bound), le
    by_name = {name: (labels, value) for name, labels, value in samples}
    assert by_name["obs_count"] == ({"path": path}, len(observations))
    assert by_name["obs_sum"][1] == pytest.approx(math.fsum(observations), abs=1e-6)
    assert by_name["after_total"] == ({}, 1)


@pytest.mark.parametrize("bad", ['a{b="x} 1', 'a{b="\\q"} 1', "a 1\nb"])
def test_the_parser_itself_rejects_malformed_text(bad: str) -> None:
    """The test parser is strict enough to catch broken escaping or framing."""
    with pytest.raises(ParseError):
        parse(bad if bad.endswith("b") else bad + "\n")
