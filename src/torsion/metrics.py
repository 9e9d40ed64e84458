"""Prometheus metrics: counters, gauges and histograms, with labels, exposed as text.

A :class:`Registry` holds metrics and writes them in the Prometheus text
exposition format 0.0.4 (:meth:`Registry.exposition`); a scraper reads it over
HTTP from :class:`torsion.web.metrics.MetricsResource`::

    from torsion.metrics import Counter, Gauge, Histogram, Registry

    registry = Registry()
    requests = Counter("http_requests_total", "Requests answered.", ["code"],
                       registry=registry)
    active = Gauge("downloads_active", "Downloads in progress.", registry=registry)
    latency = Histogram("request_seconds", "Time to first byte.",
                        buckets=(0.01, 0.1, 1.0), registry=registry)

    requests.labels(code="200").inc()
    active.set_function(lambda: len(downloads))     # read at scrape time
    latency.observe(0.042)
    text = registry.exposition()

A metric declared with label names has one child per combination of label
values, made by :meth:`labels` on first use; a metric without labels is its own
only child and takes ``inc``/``set``/``observe`` directly.

Metrics are meant for the reactor thread, like the rest of torsion: updates
take no lock.  Names are written exactly as given (a counter's name should end
in ``_total`` by Prometheus convention; this module does not add it).
"""

from __future__ import annotations

import bisect
import itertools
import logging
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import ClassVar, Generic, Protocol, TypeVar

from torsion._metrics_text import (
    check_label_name,
    check_metric_name,
    escape_help,
    format_value,
    sample_line,
)

__all__ = [
    "CONTENT_TYPE",
    "DEFAULT_BUCKETS",
    "Counter",
    "CounterChild",
    "Gauge",
    "GaugeChild",
    "Histogram",
    "HistogramChild",
    "Registry",
    "exponential_buckets",
    "linear_buckets",
]

#: The ``Content-Type`` of the text exposition format 0.0.4.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Histogram buckets (seconds) fit for request latencies, as other clients use.
DEFAULT_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)

_log = logging.getLogger("torsion.metrics")

#: One sample: its name, its labels in order, its value.
_Sample = tuple[str, tuple[tuple[str, str], ...], float]


class _Child:
    """What every child has: a value that may come from a callback."""

    def _read(self, call: Callable[[], float]) -> float | None:
        try:
            return float(call())
        except Exception:
            # A broken callback must not break the scrape of every other metric.
            _log.exception("metrics callback %r failed; its sample is left out", call)
            return None


class _SettableChild(_Child):
    """A single value kept here, or read from a callback at scrape time."""

    __slots__ = ("_function", "_value")

    def __init__(self) -> None:
        self._value: float = 0
        self._function: Callable[[], float] | None = None

    def set_function(self, function: Callable[[], float] | None) -> None:
        """Read the value from ``function()`` at each scrape (a value kept elsewhere).

        ``None`` goes back to the value kept here.
        """
        self._function = function

    def get(self) -> float:
        """The current value (the callback's, if one is set)."""
        if self._function is not None:
            return float(self._function())
        return self._value

    def _samples(self, name: str, labels: tuple[tuple[str, str], ...]) -> Iterator[_Sample]:
        value = self._value if self._function is None else self._read(self._function)
        if value is not None:
            yield name, labels, value


class CounterChild(_SettableChild):
    """One counter value: it only goes up (or is read from a callback)."""

    __slots__ = ()

    def inc(self, amount: float = 1) -> None:
        """Add ``amount`` (``>= 0``).

        Raises:
            ValueError: for a negative amount.
        """
        if amount < 0:
            raise ValueError(f"a counter only goes up: inc({amount!r}) must be >= 0")
        self._value += amount


class GaugeChild(_SettableChild):
    """One gauge value: goes up and down, or is read from a callback at scrape time."""

    __slots__ = ()

    def set(self, value: float) -> None:
        """Set the value."""
        self._value = value

    def inc(self, amount: float = 1) -> None:
        """Add ``amount``."""
        self._value += amount

    def dec(self, amount: float = 1) -> None:
        """Subtract ``amount``."""
        self._value -= amount


class HistogramChild(_Child):
    """One histogram: counts of observations per bucket, their sum and count."""

    __slots__ = ("_bounds", "_counts", "_sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._bounds = bounds
        # Not cumulative here (one increment per observation); summed at scrape.
        self._counts = [0] * len(bounds)
        self._sum: float = 0

    def observe(self, value: float) -> None:
        """Record one observation (``value <= le`` counts in bucket ``le``)."""
        self._counts[bisect.bisect_left(self._bounds, value)] += 1
        self._sum += value

    @property
    def count(self) -> int:
        """How many observations were made."""
        return sum(self._counts)

    @property
    def sum(self) -> float:
        """The sum of the observations."""
        return self._sum

    def _samples(self, name: str, labels: tuple[tuple[str, str], ...]) -> Iterator[_Sample]:
        total = 0
        for bound, count in zip(self._bounds, self._counts, strict=True):
            total += count
            yield f"{name}_bucket", (*labels, ("le", _format_bound(bound))), total
        yield f"{name}_sum", labels, self._sum
        yield f"{name}_count", labels, total


def _format_bound(bound: float) -> str:
    # The same spelling as sample values: le="1", le="0.5", le="+Inf".
    return format_value(bound)


_C = TypeVar("_C", CounterChild, GaugeChild, HistogramChild)


class _Metric(Generic[_C]):
    """A metric family: name, help, label names, and its children by label values."""

    type_name: ClassVar[str]
    reserved_labels: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Iterable[str] = (),
        *,
        registry: Registry | None = None,
    ) -> None:
        self.name = check_metric_name(name)
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        for label in self.labelnames:
            check_label_name(label, self.reserved_labels)
        if len(set(self.labelnames)) != len(self.labelnames):
            raise ValueError(f"label names of {name} repeat: {self.labelnames}")
        self._children: dict[tuple[str, ...], _C] = {}
        if not self.labelnames:
            self._children[()] = self._new_child()
        if registry is not None:
            registry.register(self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} labels={list(self.labelnames)}>"

    def _new_child(self) -> _C:
        raise NotImplementedError

    def sample_names(self) -> tuple[str, ...]:
        """The names this metric's samples carry (the family name and any suffixed ones)."""
        return (self.name,)

    def labels(self, *values: object, **by_name: object) -> _C:
        """The child for these label values (made on first use), by position or by name.

        Values are turned into strings with ``str``.

        Raises:
            ValueError: when the values do not name every label exactly once.
        """
        if not self.labelnames:
            raise ValueError(f"{self.name} has no labels: use it directly")
        key = self._key(values, by_name)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._new_child()
        return child

    def remove(self, *values: object, **by_name: object) -> None:
        """Forget the child for these label values (it is no longer exposed)."""
        self._children.pop(self._key(values, by_name), None)

    def clear(self) -> None:
        """Forget every child (a metric without labels keeps its one, reset)."""
        self._children.clear()
        if not self.labelnames:
            self._children[()] = self._new_child()

    def _key(self, values: tuple[object, ...], by_name: dict[str, object]) -> tuple[str, ...]:
        if values and by_name:
            raise ValueError("give label values by position or by name, not both")
        if by_name:
            if set(by_name) != set(self.labelnames):
                raise ValueError(
                    f"{self.name} takes labels {list(self.labelnames)}, got {sorted(by_name)}"
                )
            return tuple(str(by_name[label]) for label in self.labelnames)
        if len(values) != len(self.labelnames):
            raise ValueError(
                f"{self.name} takes {len(self.labelnames)} label values, got {len(values)}"
            )
        return tuple(str(value) for value in values)

    def _only(self) -> _C:
        if self.labelnames:
            raise ValueError(f"{self.name} has labels {list(self.labelnames)}: use .labels()")
        return self._children[()]

    def samples(self) -> Iterator[_Sample]:
        """Every sample, child by child in the order the children were made."""
        for key, child in list(self._children.items()):
            labels = tuple(zip(self.labelnames, key, strict=True))
            yield from child._samples(self.name, labels)

    def expose(self) -> str:
        """This family in the text format: HELP and TYPE lines, then its samples."""
        lines = [
            f"# HELP {self.name} {escape_help(self.documentation)}\n",
            f"# TYPE {self.name} {self.type_name}\n",
        ]
        lines.extend(sample_line(name, labels, value) for name, labels, value in self.samples())
        return "".join(lines)


class Counter(_Metric[CounterChild]):
    """A count that only goes up: requests served, bytes sent, errors.

    Args:
        name: the metric name (by convention ending in ``_total``).
        documentation: the HELP text.
        labelnames: the label names, if any.
        registry: where to register it (none: register it later, or never).

    Raises:
        ValueError: for an invalid or reserved name.
    """

    type_name = "counter"

    def _new_child(self) -> CounterChild:
        return CounterChild()

    def inc(self, amount: float = 1) -> None:
        """Add ``amount`` (``>= 0``) to a counter without labels."""
        self._only().inc(amount)

    def set_function(self, function: Callable[[], float] | None) -> None:
        """Read a counter without labels from ``function()`` at each scrape."""
        self._only().set_function(function)

    def get(self) -> float:
        """The value of a counter without labels."""
        return self._only().get()


class Gauge(_Metric[GaugeChild]):
    """A value that goes up and down, or is read from a callback at scrape time.

    Args are those of :class:`Counter`.
    """

    type_name = "gauge"

    def _new_child(self) -> GaugeChild:
        return GaugeChild()

    def set(self, value: float) -> None:
        """Set a gauge without labels."""
        self._only().set(value)

    def inc(self, amount: float = 1) -> None:
        """Add ``amount`` to a gauge without labels."""
        self._only().inc(amount)

    def dec(self, amount: float = 1) -> None:
        """Subtract ``amount`` from a gauge without labels."""
        self._only().dec(amount)

    def set_function(self, function: Callable[[], float] | None) -> None:
        """Read a gauge without labels from ``function()`` at each scrape."""
        self._only().set_function(function)

    def get(self) -> float:
        """The value of a gauge without labels."""
        return self._only().get()


class Histogram(_Metric[HistogramChild]):
    """Observations counted in buckets by upper bound, with their sum and count.

    Exposed as ``NAME_bucket{le="..."}`` (cumulative, ending with ``le="+Inf"``),
    ``NAME_sum`` and ``NAME_count``.

    Args:
        name: the metric name.
        documentation: the HELP text.
        labelnames: the label names, if any (``le`` is reserved).
        buckets: the upper bounds, increasing; ``+Inf`` is added if missing.
        registry: where to register it.

    Raises:
        ValueError: for invalid names, or buckets that are empty, NaN or not increasing.
    """

    type_name = "histogram"
    reserved_labels = ("le",)

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Iterable[str] = (),
        *,
        buckets: Sequence[float] = DEFAULT_BUCKETS,
        registry: Registry | None = None,
    ) -> None:
        bounds = [float(bound) for bound in buckets]
        if not bounds:
            raise ValueError("a histogram needs at least one bucket")
        if any(math.isnan(bound) for bound in bounds):
            raise ValueError(f"bucket bounds must be numbers, got {buckets!r}")
        if any(low >= high for low, high in itertools.pairwise(bounds)):
            raise ValueError(f"bucket bounds must be strictly increasing, got {buckets!r}")
        if bounds[-1] != math.inf:
            bounds.append(math.inf)
        self.buckets = tuple(bounds)
        super().__init__(name, documentation, labelnames, registry=registry)

    def _new_child(self) -> HistogramChild:
        return HistogramChild(self.buckets)

    def sample_names(self) -> tuple[str, ...]:
        """``NAME_bucket``, ``NAME_sum`` and ``NAME_count``."""
        return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")

    def observe(self, value: float) -> None:
        """Record one observation in a histogram without labels."""
        self._only().observe(value)


def linear_buckets(start: float, width: float, count: int) -> tuple[float, ...]:
    """``count`` bounds: ``start``, ``start + width``, ...

    Raises:
        ValueError: when ``count < 1`` or ``width <= 0``.
    """
    if count < 1 or width <= 0:
        raise ValueError(f"linear buckets need count >= 1 and width > 0, got {count}, {width}")
    return tuple(start + width * i for i in range(count))


def exponential_buckets(start: float, factor: float, count: int) -> tuple[float, ...]:
    """``count`` bounds: ``start``, ``start * factor``, ...

    Raises:
        ValueError: when ``count < 1``, ``start <= 0`` or ``factor <= 1``.
    """
    if count < 1 or start <= 0 or factor <= 1:
        raise ValueError(
            f"exponential buckets need count >= 1, start > 0, factor > 1; got {count},"
            f" {start}, {factor}"
        )
    return tuple(start * factor**i for i in range(count))


class _Family(Protocol):
    """What a registry needs of a metric."""

    @property
    def name(self) -> str: ...

    def sample_names(self) -> tuple[str, ...]: ...

    def samples(self) -> Iterator[_Sample]: ...

    def expose(self) -> str: ...


class Registry:
    """A set of metrics with distinct names, exposed together.

    Example:
        >>> registry = Registry()
        >>> Counter("jobs_total", "Jobs done.", registry=registry).inc()
        >>> print(registry.exposition(), end="")
        # HELP jobs_total Jobs done.
        # TYPE jobs_total counter
        jobs_total 1
    """

    def __init__(self) -> None:
        self._metrics: dict[str, _Family] = {}
        self._taken: dict[str, str] = {}

    def register(self, metric: _Family) -> None:
        """Add ``metric``.

        Raises:
            ValueError: when one of its names (a histogram's suffixed ones too)
                is already in use.
        """
        names = {metric.name, *metric.sample_names()}
        for name in names:
            owner = self._taken.get(name)
            if owner is not None:
                raise ValueError(f"metric name {name!r} is already used by {owner!r}")
        for name in names:
            self._taken[name] = metric.name
        self._metrics[metric.name] = metric

    def unregister(self, metric: _Family) -> None:
        """Remove ``metric`` (nothing happens if it is not registered)."""
        if self._metrics.get(metric.name) is not metric:
            return
        del self._metrics[metric.name]
        self._taken = {name: owner for name, owner in self._taken.items() if owner != metric.name}

    def metrics(self) -> list[_Family]:
        """The registered metrics, in registration order."""
        return list(self._metrics.values())

    def get_sample_value(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        """The value of the sample ``name`` with exactly ``labels`` (None if absent)."""
        wanted = sorted((labels or {}).items())
        for metric in self._metrics.values():
            for sample_name, sample_labels, value in metric.samples():
                if sample_name == name and sorted(sample_labels) == wanted:
                    return value
        return None

    def exposition(self) -> str:
        """Every metric in the text exposition format 0.0.4 (an empty string if none)."""
        return "".join(metric.expose() for metric in self._metrics.values())
