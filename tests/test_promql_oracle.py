"""Our evaluator against Prometheus' own engine: `promtool test rules` (Debian's
prometheus package) evaluates the same expressions over the same synthetic series,
and every answer must match: labels exactly, values to 1e-9 relative, errors where
Prometheus errs.

The series are sampled every minute from 0 to 20m and the evaluation is at 20m, the
time of the last sample, as a check run is at the time of its scrape: the samples
before are our stored history, the ones at 20m the scrape. A gap in a series is a
staleness marker ("stale"), as a series missing from one of our runs is stale.

Debian ships Prometheus 2.42, so the cases keep clear of what changed since:
range windows exclude their start since 3.0 (ranges here are never a multiple of the
sample interval, so no sample sits on a boundary), sums are compensated since 2.50
(values compared to 1e-9), and functions newer than 2.42 (sort_by_label,
mad_over_time, limitk, fill(), double_exponential_smoothing, ts_of_*) are checked
against hand-worked answers in test_promql_semantics.py instead.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess

import pytest
from healthprobes.checks.promql.errors import QueryError
from healthprobes.checks.promql.evaluator import Evaluation, parse
from healthprobes.checks.promql.store import series_key
from healthprobes.probes.exposition import parse as parse_exposition

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="needs promtool (apt-get install "
                                                         "prometheus)")

STEPS = 21  # samples at 0, 1m, ..., 20m
NOW = 1200.0
STALE = None


def _counter(start: float, steps: list[float], reset_at: int | None = None) -> list:
    values, value = [], start
    for index in range(STEPS):
        if index == reset_at:
            value = steps[index % len(steps)]
        elif index:
            value += steps[index % len(steps)]
        values.append(value)
    return values


# Series text -> one value per minute (None: stale). Numbers are arbitrary but fixed.
SERIES: dict[str, list] = {
    'http_requests_total{job="api",instance="a",code="200"}': _counter(100, [7, 3, 11, 5]),
    'http_requests_total{job="api",instance="a",code="500"}': _counter(40, [1, 0, 2], reset_at=12),
    'http_requests_total{job="api",instance="b",code="200"}': _counter(5, [4, 9, 2, 6, 1]),
    'http_requests_total{job="db",instance="c",code="200"}': _counter(0, [13, 8]),
    'temperature{room="Kitchen",floor="1"}': [21, 22.5, 23, 19, 18.25, 25, 24, 24, 26, 21,
                                              20, 19.5, 22, 23, 23, 27, 28, 24, 22, 21, 20.5],
    'temperature{room="living",floor="2"}': [-3, -1, 0, 2, 5, 4, 4, 4, 1, -2, -5, -4, 0, 3,
                                             6, 8, 7, 5, 3, 1, -1],
    'temperature{room="cellar",floor="0"}': [12] * 15 + [STALE] * 6,  # gone at 15m
    'disk_free_bytes{device="sda",mount="/"}': [1e9 - 3e7 * i - (i % 3) * 1e6
                                                for i in range(STEPS)],
    'disk_free_bytes{device="sdb",mount="/data"}': [5e11 + 1e6 * (i % 4) for i in range(STEPS)],
    'disk_size_bytes{device="sda",mount="/"}': [2e9] * STEPS,
    'disk_size_bytes{device="sdb",mount="/data"}': [1e12] * STEPS,
    'latency_seconds_bucket{le="0.1",path="/a"}': _counter(10, [3, 1, 4]),
    'latency_seconds_bucket{le="0.5",path="/a"}': _counter(20, [5, 2, 6]),
    'latency_seconds_bucket{le="1",path="/a"}': _counter(25, [6, 2, 7]),
    'latency_seconds_bucket{le="+Inf",path="/a"}': _counter(26, [6, 3, 7]),
    'build_info{group="canary",instance="0",job="api",version="1.2"}': [1] * STEPS,
    'capacity{group="production",instance="0",job="api"}': [8] * STEPS,
    'capacity{group="production",instance="1",job="api"}': [4] * STEPS,
    'copies_a{src="x"}': [1] * STEPS,
    'copies_b{src="x"}': [2] * STEPS,
    'huge{k="1"}': [1e308] * STEPS,
    'huge{k="2"}': [1e308] * STEPS,
    'huge{k="3"}': [5e307] * STEPS,
    'extremes{k="up"}': [math.inf] * STEPS,
    'extremes{k="down"}': [-math.inf] * STEPS,
    'odd{k="nan"}': [math.nan] * STEPS,
    'odd{k="two"}': [2] * STEPS,
    'odd{k="minus"}': [-0.5] * STEPS,
    'flapping{k="1"}': [1, 1, 0, 0, 1, 1, 1, 0, 1, 0, 0, 0, 1, 1, 0, 1, 1, 1, 1, 0, 1],
    'stamp{k="1"}': [1700000000 + 86400 * 40 * i for i in range(STEPS)],
}

# (expression, extrapolate): extrapolate=True for Prometheus' own rate/increase/delta.
CASES = [
    # Selectors and matchers (RE2, fully anchored, (?i) anywhere).
    ('http_requests_total{code!="200"}', False),
    ('http_requests_total{job=~"a.*",instance!~"b"}', False),
    ('temperature{room=~"((?i)KIT).*"}', False),
    ('temperature{room=~"kit"}', False),
    ('{__name__=~"copies_.*"}', False),
    ("temperature", False),  # the cellar went stale at 15m
    ("temperature offset 7m", False),
    ("temperature @ 300", False),
    ("temperature @ 420 offset 2m", False),
    # Rate family.
    ("rate(http_requests_total[5m30s])", True),
    ("increase(http_requests_total[10m30s])", True),
    ("rate(http_requests_total[2m30s] offset 3m)", True),
    ("delta(temperature[6m30s])", True),
    ("irate(http_requests_total[3m30s])", False),
    ("idelta(temperature[4m30s])", False),
    ("deriv(disk_free_bytes[10m30s])", False),
    ("predict_linear(disk_free_bytes[10m30s], 4 * 3600)", False),
    ("predict_linear(disk_free_bytes[10m30s], 4 * 3600) < 0", False),
    ("resets(http_requests_total[15m30s])", False),
    ("changes(flapping[10m30s])", False),
    ("changes(temperature[20m30s])", False),
    # Over time.
    ("avg_over_time(temperature[8m30s])", False),
    ("min_over_time(temperature[8m30s])", False),
    ("max_over_time(temperature[8m30s])", False),
    ("sum_over_time(temperature[8m30s])", False),
    ("count_over_time(temperature[8m30s])", False),
    ("last_over_time(temperature[8m30s])", False),
    ("quantile_over_time(0.75, temperature[12m30s])", False),
    ("quantile_over_time(0.1, temperature[12m30s])", False),
    ("stddev_over_time(temperature[12m30s])", False),
    ("stdvar_over_time(temperature[12m30s])", False),
    ("present_over_time(temperature[3m30s])", False),
    ('absent_over_time(temperature{room="cellar"}[3m30s])', False),
    ('absent_over_time(temperature{room="cellar"}[8m30s])', False),
    ("max_over_time(odd[5m30s])", False),
    # Subqueries over the stored history.
    ("max_over_time(rate(http_requests_total[2m30s])[10m30s:1m])", True),
    ("min_over_time(temperature[6m30s:2m])", False),
    ("avg_over_time((temperature > 0)[10m30s:1m])", False),
    ("sum_over_time(temperature[5m30s:1m] offset 4m)", False),
    # Aggregations.
    ("sum by (job) (http_requests_total)", False),
    ("sum without (code) (http_requests_total)", False),
    ("avg(temperature)", False),
    ("avg(huge)", False),
    ("sum(huge)", False),
    ("avg(extremes)", False),
    ("sum(extremes)", False),
    ("min(odd)", False),
    ("max(odd)", False),
    ("count by (job) (http_requests_total)", False),
    ("group by (instance) (http_requests_total)", False),
    ("stddev(temperature)", False),
    ("stdvar by (floor) (temperature)", False),
    ("topk(2, http_requests_total)", False),
    ("bottomk(1, temperature)", False),
    ("topk by (job) (1, http_requests_total)", False),
    ("topk(2, odd)", False),
    ("bottomk(2, odd)", False),
    ("quantile(0.9, http_requests_total)", False),
    ("quantile by (job) (0.5, http_requests_total)", False),
    ('count_values("value", odd)', False),
    ('count_values by (floor) ("celsius", temperature)', False),
    ("count_values(\"v\", huge)", False),
    # Arithmetic, comparisons, matching.
    ("temperature * 2 + 1", False),
    ("-temperature", False),
    ("temperature > 20", False),
    ("20 < temperature", False),
    ("temperature > bool 20", False),
    ("disk_free_bytes / disk_size_bytes * 100", False),
    ("disk_free_bytes / on(device) disk_size_bytes", False),
    ("capacity / ignoring(group) group_left build_info", False),
    ("build_info * on(job, instance) group_right(version) capacity", False),
    ("build_info / ignoring(group, version) capacity", False),
    ('build_info{group="canary"} + on() capacity{instance="1"}', False),
    ("temperature % 7", False),
    ("temperature ^ 2", False),
    ("(temperature atan2 10) * 1", False),  # 2.42 kept the name through atan2; 3.x drops it
    ("http_requests_total and on(instance) temperature", False),
    ('http_requests_total unless on(job) http_requests_total{code="500"}', False),
    ('temperature{floor="2"} or temperature', False),
    ("odd / 0", False),
    ("odd % 0", False),
    ("odd == odd", False),
    ("odd != bool odd", False),
    # Element-wise and other functions.
    ("abs(temperature)", False),
    ("ceil(odd)", False),
    ("floor(temperature / 3)", False),
    ("round(temperature / 3)", False),
    ("round(temperature, 5)", False),
    ("round(temperature, 0.3)", False),
    ("sqrt(temperature)", False),
    ("exp(temperature)", False),
    ("ln(temperature)", False),
    ("log2(odd)", False),
    ("log10(disk_free_bytes)", False),
    ("sgn(temperature)", False),
    ("sin(temperature)", False),
    ("cos(odd)", False),
    ("tan(odd)", False),
    ("asin(odd)", False),
    ("acos(odd)", False),
    ("atan(temperature)", False),
    ("sinh(odd)", False),
    ("cosh(odd)", False),
    ("tanh(odd)", False),
    ("asinh(temperature)", False),
    ("acosh(odd)", False),
    ("atanh(odd)", False),
    ("deg(odd)", False),
    ("rad(temperature)", False),
    ("pi() * 2", False),
    ("clamp(temperature, 0, 22)", False),
    ("clamp_min(temperature, 3)", False),
    ("clamp_max(odd, 0)", False),
    ("clamp(temperature, 5, 1)", False),
    ("absent(temperature)", False),
    ('absent(missing{job="a",job="b",site="x"})', False),
    ('absent(missing{job=~"a",site="x",zone!="y"})', False),
    ("scalar(capacity)", False),
    ('scalar(capacity{instance="1"}) * 3', False),
    ("vector(time())", False),
    ("timestamp(temperature)", False),
    ("timestamp(temperature offset 3m)", False),
    ("time() - timestamp(temperature)", False),
    ('label_replace(temperature, "level", "f$1", "floor", "(.*)")', False),
    ('label_replace(temperature, "room", "", "room", "cel.*")', False),
    ('label_replace(temperature, "x", "${1}-$2$$", "room", "(.)(.).*")', False),
    ('label_join(http_requests_total, "where", "/", "job", "instance", "code")', False),
    ("histogram_quantile(0.9, latency_seconds_bucket)", False),
    ("histogram_quantile(0.5, rate(latency_seconds_bucket[5m30s]))", True),
    ("histogram_quantile(0.99, sum by (le) (rate(latency_seconds_bucket[5m30s])))", True),
    ("year(stamp)", False),
    ("month(stamp)", False),
    ("day_of_month(stamp)", False),
    ("day_of_week(stamp)", False),
    ("day_of_year(stamp)", False),
    ("days_in_month(stamp)", False),
    ("hour(stamp)", False),
    ("minute(stamp)", False),
    ("hour()", False),
    ("sort(temperature)", False),
    ("sort_desc(odd)", False),
    # Errors Prometheus gives too.
    ("-{src=\"x\"}", False),
    ('ceil({__name__=~"copies_a|copies_b"})', False),
    ("build_info + ignoring(instance, group, version) capacity", False),
    ("http_requests_total / on(job) group_left capacity", False),
]


def _scrape_and_history():
    lines, history = [], {}
    for text, values in SERIES.items():
        labels = tuple(sorted(_series_labels(text)))
        key = series_key(labels)
        points = [(60.0 * index, float(value)) for index, value in enumerate(values[:-1])
                  if value is not None]
        if points:
            history[key] = points
        if values[-1] is not None:
            lines.append(f"{text} {_exposition_number(float(values[-1]))}")
    scrape = parse_exposition("\n".join(lines).encode() + b"\n", None)
    return scrape, history


def _series_labels(text: str):
    name, _, rest = text.partition("{")
    yield "__name__", name
    for pair in filter(None, rest.rstrip("}").split(",")):
        key, _, value = pair.partition("=")
        yield key, value.strip('"')


def _exposition_number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def _promtool_values(values: list) -> str:
    words = []
    for value in values:
        if value is None:
            words.append("stale")
        elif math.isnan(value):
            words.append("NaN")
        elif math.isinf(value):
            words.append("Inf" if value > 0 else "-Inf")
        else:
            words.append(repr(float(value)))
    return " ".join(words)


def _ours(expr: str, extrapolate: bool, scrape, history):
    evaluation = Evaluation(scrape, NOW, history, runs=[60.0 * i for i in range(STEPS)],
                            complete_since=-math.inf, extrapolate=extrapolate)
    try:
        vector = evaluation.run(parse(expr))
    except QueryError as error:
        return "error", str(error)
    return "ok", {labels: value for labels, value in vector}


@pytest.fixture(scope="module")
def prometheus_answers(tmp_path_factory):
    """Every case evaluated once by promtool: expr -> ("ok", {labels: value}) or
    ("error", text). promtool prints what it got for each case whose expected
    samples (none given here) differ: that output is read back."""
    import yaml

    folder = tmp_path_factory.mktemp("promtool")
    document = {"evaluation_interval": "1m", "tests": [{
        "interval": "1m",
        "input_series": [{"series": text, "values": _promtool_values(values)}
                         for text, values in SERIES.items()],
        "promql_expr_test": [{"expr": expr, "eval_time": "20m", "exp_samples": []}
                             for expr, _ in CASES],
    }]}
    path = folder / "oracle.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    done = subprocess.run([PROMTOOL, "test", "rules", str(path)], capture_output=True,
                          text=True, timeout=120)
    answers = {expr: ("ok", {}) for expr, _ in CASES}  # a passing case returned nothing
    lines = (done.stdout + done.stderr).splitlines()
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped.startswith("expr: "):
            continue
        quoted, _, rest = stripped[len("expr: "):].partition(", time: ")
        expr = json.loads(quoted)
        if ", err: " in rest:
            answers[expr] = ("error", rest.split(", err: ", 1)[1])
        else:
            got = lines[index + 2].strip()
            assert got.startswith("got: "), lines[index:index + 3]
            answers[expr] = ("ok", _parse_got(got[len("got: "):]))
    return answers


def _parse_got(text: str) -> dict:
    """``{a="1", b="x"} 5E+00, {c="2"} NaN`` (Go's label and 'E' formats)."""
    samples: dict = {}
    position = 0
    while position < len(text):
        brace = text.index("{", position)
        name = text[position:brace]
        labels = [("__name__", name)] if name else []
        position = brace + 1
        while text[position] != "}":
            equals = text.index('="', position)
            key = text[position:equals].strip(", ")
            position = equals + 2
            value = []
            while text[position] != '"':
                if text[position] == "\\":
                    position += 1
                value.append(text[position])
                position += 1
            labels.append((key, "".join(value)))
            position += 1
        end = text.find(", ", position + 2)
        end = len(text) if end < 0 else end
        samples[tuple(sorted(labels))] = float(text[position + 2:end].replace("Inf", "inf"))
        position = end + 2
    return samples


@pytest.mark.parametrize(("expr", "extrapolate"), CASES, ids=[expr for expr, _ in CASES])
def test_our_answer_is_prometheus_answer(expr, extrapolate, prometheus_answers):
    scrape, history = _scrape_and_history()
    kind, ours = _ours(expr, extrapolate, scrape, history)
    their_kind, theirs = prometheus_answers[expr]
    assert kind == their_kind, (ours, theirs)
    if kind == "error":
        return
    assert set(ours) == set(theirs), (ours, theirs)
    for labels, value in ours.items():
        expected = theirs[labels]
        assert (math.isnan(value) and math.isnan(expected)) or value == pytest.approx(
            expected, rel=1e-9, abs=1e-300), (labels, value, expected)


def test_the_oracle_is_not_vacuous(prometheus_answers):
    """Most cases return series: a promtool that silently answered nothing would fail."""
    with_series = sum(1 for kind, got in prometheus_answers.values() if kind == "ok" and got)
    errors = sum(1 for kind, _ in prometheus_answers.values() if kind == "error")
    assert with_series > len(CASES) * 0.8 and errors == 4
