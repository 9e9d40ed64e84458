"""torsion.metrics: exact exposition text, escaping, labels, callbacks, histograms, names."""

from __future__ import annotations

import logging
import math

import pytest

from torsion.metrics import (
    CONTENT_TYPE,
    Counter,
    Gauge,
    Histogram,
    Registry,
    exponential_buckets,
    linear_buckets,
)


def test_counter_gauge_histogram_exact_text() -> None:
    """One family of each type renders exactly as the 0.0.4 format says: HELP, TYPE,
    samples in child order, cumulative buckets ending in +Inf, then _sum and _count."""
    registry = Registry()
    requests = Counter("http_requests_total", "Requests answered.", ["method", "code"],
                       registry=registry)
    active = Gauge("downloads_active", "Downloads in progress.", registry=registry)
    latency = Histogram("request_seconds", "Time to first byte.", buckets=(0.1, 1, 2.5),
                        registry=registry)
    requests.labels("GET", "200").inc()
    requests.labels(method="GET", code="200").inc(2)
    requests.labels(method="POST", code="500").inc()
    active.set(3)
    for value in (0.05, 0.1, 0.7, 3.0):
        latency.observe(value)
    assert registry.exposition() == (
        "# HELP http_requests_total Requests answered.\n"
        "# TYPE http_requests_total counter\n"
        'http_requests_total{method="GET",code="200"} 3\n'
        'http_requests_total{method="POST",code="500"} 1\n'
        "# HELP downloads_active Downloads in progress.\n"
        "# TYPE downloads_active gauge\n"
        "downloads_active 3\n"
        "# HELP request_seconds Time to first byte.\n"
        "# TYPE request_seconds histogram\n"
        'request_seconds_bucket{le="0.1"} 2\n'
        'request_seconds_bucket{le="1"} 3\n'
        'request_seconds_bucket{le="2.5"} 3\n'
        'request_seconds_bucket{le="+Inf"} 4\n'
        "request_seconds_sum 3.85\n"
        "request_seconds_count 4\n"
    )
    assert CONTENT_TYPE == "text/plain; version=0.0.4; charset=utf-8"


def test_labelled_histogram_puts_le_last() -> None:
    """A labelled histogram's buckets carry the metric's labels, then le."""
    registry = Registry()
    h = Histogram("size_bytes", "Sizes.", ["kind"], buckets=(10,), registry=registry)
    h.labels(kind="zip").observe(11)
    assert registry.exposition().splitlines()[2:] == [
        'size_bytes_bucket{kind="zip",le="10"} 0',
        'size_bytes_bucket{kind="zip",le="+Inf"} 1',
        'size_bytes_sum{kind="zip"} 11',
        'size_bytes_count{kind="zip"} 1',
    ]
    child = h.labels(kind="zip")
    assert (child.count, child.sum) == (1, 11)


def test_escaping_of_label_values_and_help() -> None:
    """Label values escape backslash, double quote and line feed; HELP escapes backslash
    and line feed but leaves quotes; other characters (UTF-8) pass unchanged."""
    registry = Registry()
    g = Gauge("odd", 'Say "hi"\\ then\nbye', ["path"], registry=registry)
    g.labels(path='C:\\dir\\"x"\nnext é\t').set(1)
    assert registry.exposition() == (
        '# HELP odd Say "hi"\\\\ then\\nbye\n'
        "# TYPE odd gauge\n"
        'odd{path="C:\\\\dir\\\\\\"x\\"\\nnext é\t"} 1\n'
    )


def test_special_and_fractional_values() -> None:
    """+Inf, -Inf and NaN are spelled as Go parses them; fractions keep full precision."""
    registry = Registry()
    g = Gauge("v", "Values.", ["k"], registry=registry)
    g.labels(k="inf").set(math.inf)
    g.labels(k="ninf").set(-math.inf)
    g.labels(k="nan").set(math.nan)
    g.labels(k="third").set(1 / 3)
    g.labels(k="big").set(1e300)
    g.labels(k="neg").set(-2.0)
    lines = registry.exposition().splitlines()[2:]
    assert lines == [
        'v{k="inf"} +Inf',
        'v{k="ninf"} -Inf',
        'v{k="nan"} NaN',
        'v{k="third"} 0.3333333333333333',
        'v{k="big"} 1e+300',
        'v{k="neg"} -2',
    ]


def test_gauge_and_counter_callbacks_read_at_scrape_time() -> None:
    """set_function values are read at each exposition, not when set."""
    registry = Registry()
    queue: list[int] = []
    g = Gauge("queue_length", "Queued.", registry=registry)
    g.set_function(lambda: len(queue))
    dropped = Counter("dropped_total", "Dropped.", registry=registry)
    count = [0]
    dropped.set_function(lambda: count[0])
    assert registry.get_sample_value("queue_length") == 0
    queue.extend([1, 2])
    count[0] = 7
    assert registry.get_sample_value("queue_length") == 2
    assert registry.get_sample_value("dropped_total") == 7
    assert "queue_length 2\n" in registry.exposition()
    assert g.get() == 2 and dropped.get() == 7
    g.set_function(None)
    g.set(5)
    assert registry.get_sample_value("queue_length") == 5


def test_failing_callback_leaves_its_sample_out(caplog: pytest.LogCaptureFixture) -> None:
    """A callback that raises is logged; the rest of the scrape still comes out."""
    registry = Registry()
    Gauge("broken", "Broken.", registry=registry).set_function(lambda: 1 / 0)
    Gauge("fine", "Fine.", registry=registry).set(1)
    with caplog.at_level(logging.ERROR, logger="torsion.metrics"):
        text = registry.exposition()
    assert text == (
        "# HELP broken Broken.\n# TYPE broken gauge\n"
        "# HELP fine Fine.\n# TYPE fine gauge\nfine 1\n"
    )
    assert "ZeroDivisionError" in caplog.text


def test_gauge_inc_dec_and_labelled_children() -> None:
    """Gauges go up and down; each label combination is its own child; remove/clear."""
    registry = Registry()
    g = Gauge("workers", "Workers.", ["pool"], registry=registry)
    g.labels(pool="a").inc(3)
    g.labels(pool="a").dec()
    g.labels(pool="b").set(7)
    assert registry.get_sample_value("workers", {"pool": "a"}) == 2
    g.remove(pool="a")
    assert registry.get_sample_value("workers", {"pool": "a"}) is None
    assert registry.get_sample_value("workers", {"pool": "b"}) == 7
    g.clear()
    assert registry.exposition() == "# HELP workers Workers.\n# TYPE workers gauge\n"
    plain = Gauge("plain", "P.")
    plain.inc(2)
    plain.dec(0.5)
    assert plain.get() == 1.5
    plain.clear()
    assert plain.get() == 0


def test_label_values_are_stringified_and_checked() -> None:
    """Label values go through str; a wrong set of labels is a ValueError."""
    c = Counter("hits_total", "Hits.", ["code"])
    c.labels(code=404).inc()
    assert list(c.samples()) == [("hits_total", (("code", "404"),), 1)]
    with pytest.raises(ValueError, match="takes labels"):
        c.labels(status="x")
    with pytest.raises(ValueError, match="label values"):
        c.labels("a", "b")
    with pytest.raises(ValueError, match="not both"):
        c.labels("a", code="b")
    with pytest.raises(ValueError, match=r"use \.labels"):
        c.inc()
    with pytest.raises(ValueError, match="no labels"):
        Counter("n_total", "N.").labels(x="1")


def test_counter_refuses_to_go_down() -> None:
    """inc with a negative amount raises and leaves the value alone."""
    c = Counter("c_total", "C.")
    c.inc(1.5)
    with pytest.raises(ValueError, match="only goes up"):
        c.inc(-1)
    assert c.get() == 1.5


@pytest.mark.parametrize("name", ["", "1abc", "a-b", "a b", "é", "a.b"])
def test_invalid_metric_names(name: str) -> None:
    """Metric names must match [a-zA-Z_:][a-zA-Z0-9_:]*."""
    with pytest.raises(ValueError, match="invalid metric name"):
        Gauge(name, "x")


@pytest.mark.parametrize("label", ["", "1a", "a:b", "a-b", "__reserved"])
def test_invalid_label_names(label: str) -> None:
    """Label names must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __."""
    with pytest.raises(ValueError, match="invalid label name"):
        Gauge("ok", "x", [label])


def test_valid_odd_names_are_accepted() -> None:
    """Colons in metric names and leading underscores are allowed."""
    g = Gauge("job:rate_5m", "Recorded.", ["_private"])
    g.labels(_private="1").set(1)
    assert g.expose().endswith('job:rate_5m{_private="1"} 1\n')


def test_histogram_reserves_le_and_checks_buckets() -> None:
    """le is not a histogram label; buckets must increase; +Inf is added once."""
    with pytest.raises(ValueError, match="reserved"):
        Histogram("h", "H.", ["le"])
    with pytest.raises(ValueError, match="increasing"):
        Histogram("h", "H.", buckets=(1, 1))
    with pytest.raises(ValueError, match="at least one"):
        Histogram("h", "H.", buckets=())
    with pytest.raises(ValueError, match="numbers"):
        Histogram("h", "H.", buckets=(math.nan,))
    assert Histogram("h", "H.", buckets=(1, math.inf)).buckets == (1, math.inf)
    assert Histogram("h", "H.", ["le_x"]).buckets[-1] == math.inf
    with pytest.raises(ValueError, match="repeat"):
        Gauge("g", "G.", ["a", "a"])


def test_histogram_bucket_boundaries_are_inclusive() -> None:
    """An observation equal to a bound counts in that bucket (le means <=)."""
    registry = Registry()
    h = Histogram("b", "B.", buckets=(1, 2), registry=registry)
    for value in (1, 2, 2.0000001):
        h.observe(value)
    assert registry.get_sample_value("b_bucket", {"le": "1"}) == 1
    assert registry.get_sample_value("b_bucket", {"le": "2"}) == 2
    assert registry.get_sample_value("b_bucket", {"le": "+Inf"}) == 3
    assert registry.get_sample_value("b_count") == 3


def test_registry_refuses_clashing_names() -> None:
    """Two metrics may not share a name, including a histogram's suffixed names;
    unregistering frees them."""
    registry = Registry()
    h = Histogram("lat", "L.", registry=registry)
    with pytest.raises(ValueError, match="already used"):
        Gauge("lat", "again", registry=registry)
    with pytest.raises(ValueError, match="already used"):
        Counter("lat_count", "clash", registry=registry)
    with pytest.raises(ValueError, match="already used"):
        Gauge("lat_sum", "clash", registry=registry)
    registry.unregister(h)
    Counter("lat_count", "now free", registry=registry)
    assert [m.name for m in registry.metrics()] == ["lat_count"]
    registry.unregister(Gauge("other", "never registered"))
    assert Registry().exposition() == ""


def test_bucket_helpers() -> None:
    """linear and exponential bucket bounds, with their argument checks."""
    assert linear_buckets(1, 2, 3) == (1, 3, 5)
    assert exponential_buckets(1, 10, 3) == (1, 10, 100)
    with pytest.raises(ValueError):
        linear_buckets(0, 0, 3)
    with pytest.raises(ValueError):
        exponential_buckets(0, 2, 3)
    assert "Histogram lat" in repr(Histogram("lat", "L."))


def test_core_metrics_modules_import_only_the_standard_library() -> None:
    """torsion.metrics is core: stdlib and torsion imports only (walked with ast)."""
    import ast  # noqa: PLC0415
    import sys  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    import torsion  # noqa: PLC0415

    root = Path(torsion.__file__).parent
    for name in ("metrics.py", "_metrics_text.py", "web/metrics.py"):
        tree = ast.parse((root / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                assert top in sys.stdlib_module_names or top == "torsion", (name, module)


def test_docstring_examples() -> None:
    """The examples in the modules' docstrings run as written."""
    import doctest  # noqa: PLC0415

    import torsion._metrics_text  # noqa: PLC0415
    import torsion.metrics  # noqa: PLC0415

    for module in (torsion.metrics, torsion._metrics_text):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module


def test_promtool_accepts_the_output() -> None:
    """promtool (if installed; Debian package prometheus) lints the exposition clean."""
    import shutil  # noqa: PLC0415
    import subprocess  # noqa: PLC0415

    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package: prometheus)")
    registry = Registry()
    Counter("app_requests_total", "Requests.", ["code"], registry=registry).labels(
        code="200").inc()
    Gauge("app_queue_length", 'Queued "items"\\n.', registry=registry).set(2)
    Histogram("app_latency_seconds", "Latency.", ["path"], registry=registry).labels(
        path='a"b\\c\nd').observe(0.3)
    done = subprocess.run([promtool, "check", "metrics"], input=registry.exposition().encode(),
                          capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
