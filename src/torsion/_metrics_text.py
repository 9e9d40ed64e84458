"""The Prometheus text exposition format 0.0.4: names, escaping, numbers, sample lines.

Rules of the format (from the Prometheus "Exposition formats" documentation):

* Metric names match ``[a-zA-Z_:][a-zA-Z0-9_:]*``; label names match
  ``[a-zA-Z_][a-zA-Z0-9_]*``, and names starting with ``__`` are reserved.
* In label values, ``\\``, ``"`` and line feed are written ``\\\\``, ``\\"``
  and ``\\n``; in HELP text only ``\\`` and line feed are escaped.  Nothing else
  is: other characters (UTF-8) go through as they are.
* Sample values are Go ``ParseFloat`` numbers; ``+Inf``, ``-Inf`` and ``NaN``
  spell the special values.
* Lines end with a line feed, the last one included.

Nothing here knows about metric objects: it turns names, labels and values
into lines.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

__all__ = [
    "check_label_name",
    "check_metric_name",
    "escape_help",
    "escape_label_value",
    "format_value",
    "sample_line",
]

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")

# Integers beyond 2**53 are not exact in a float64, which is what scrapers
# read; up to there an integral value is printed without a fraction.
_EXACT_INT = 2**53


def check_metric_name(name: str) -> str:
    """Return ``name`` if it is a valid metric name.

    Raises:
        ValueError: when it is not.
    """
    if not isinstance(name, str) or _METRIC_NAME.fullmatch(name) is None:
        raise ValueError(f"invalid metric name {name!r}: must match [a-zA-Z_:][a-zA-Z0-9_:]*")
    return name


def check_label_name(name: str, reserved: Sequence[str] = ()) -> str:
    """Return ``name`` if it is a valid label name, not ``__``-prefixed nor in ``reserved``.

    Raises:
        ValueError: when it is not.
    """
    if not isinstance(name, str) or _LABEL_NAME.fullmatch(name) is None:
        raise ValueError(f"invalid label name {name!r}: must match [a-zA-Z_][a-zA-Z0-9_]*")
    if name.startswith("__"):
        raise ValueError(f"invalid label name {name!r}: names starting with __ are reserved")
    if name in reserved:
        raise ValueError(f"invalid label name {name!r}: reserved for this metric type")
    return name


def escape_label_value(value: str) -> str:
    """``value`` escaped for a quoted label value: backslash, double quote, line feed."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    """``text`` escaped for a HELP line: backslash and line feed only."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    """A sample value as the format writes it.

    Example:
        >>> [format_value(v) for v in (3, 2.0, 0.25, float("inf"), float("-inf"))]
        ['3', '2', '0.25', '+Inf', '-Inf']
    """
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < _EXACT_INT:
        return str(int(value))
    return repr(value)


def sample_line(name: str, labels: Sequence[tuple[str, str]], value: float) -> str:
    """One sample line, with its line feed: ``name{a="1",b="2"} value``."""
    if labels:
        inner = ",".join(f'{key}="{escape_label_value(val)}"' for key, val in labels)
        return f"{name}{{{inner}}} {format_value(value)}\n"
    return f"{name} {format_value(value)}\n"
