"""The PromQL evaluator and the exposition parser, against answers computed by hand.

Each expected number is worked out in the comment beside it, from the scrape and
history written in the test: nothing here is taken from the code under test.
"""

import math

import pytest
from healthprobes.checks.promql.evaluator import Evaluation, QueryError, Unsupported, parse
from healthprobes.checks.promql.functions import histogram_quantile
from healthprobes.probes.exposition import ExpositionError
from healthprobes.probes.exposition import parse as parse_exposition

SCRAPE = b"""\
# HELP req_total Requests.
# TYPE req_total counter
req_total{code="200",method="get"} 100
req_total{code="500",method="get"} 10
req_total{code="200",method="put"} 50
# TYPE lat histogram
lat_bucket{le="0.1"} 50
lat_bucket{le="0.5"} 90
lat_bucket{le="1.0"} 100
lat_bucket{le="+Inf"} 100
lat_sum 30
lat_count 100
temp{room="a"} 20.5
temp{room="b"} -3
limit{method="get"} 200
limit{method="put"} 25
"""

# Samples of earlier runs (time, value); the scrape above is at t=60.
HISTORY = {
    'req_total{code="200",method="get"}': [(0.0, 40.0)],
    'req_total{code="500",method="get"}': [(0.0, 12.0)],  # went down to 10: a reset
    'lat_bucket{le="0.1"}': [(30.0, 40.0)],
    'lat_bucket{le="0.5"}': [(30.0, 70.0)],
    'lat_bucket{le="1.0"}': [(30.0, 70.0)],
    'lat_bucket{le="+Inf"}': [(30.0, 70.0)],
}


def run(expr, history=None, now=60.0, body=SCRAPE):
    evaluation = Evaluation(parse_exposition(body, None), now, HISTORY if history is None
                            else history)
    vector = evaluation.run(parse(expr))
    return {tuple((k, v) for k, v in labels if k != "__name__"): value
            for labels, value in vector}, evaluation


def values(expr, **kwargs):
    return run(expr, **kwargs)[0]


def test_selectors_and_matchers():
    assert values('req_total{code="200"}') == {(("code", "200"), ("method", "get")): 100,
                                              (("code", "200"), ("method", "put")): 50}
    assert set(values('req_total{code!="200"}').values()) == {10}
    assert set(values('req_total{method=~"g.t"}').values()) == {100, 10}
    assert set(values('req_total{method!~"g.*"}').values()) == {50}
    # Regexes are anchored: "ge" does not match "get".
    assert values('req_total{method=~"ge"}') == {}
    assert values("nothing_here") == {}


def test_rate_increase_and_resets():
    # 200/get: 40 -> 100 over 60 s: increase 60, rate 1.0.
    # 500/get: 12 -> 10 is a reset: the increase is the new value, 10; rate 10/60.
    result, evaluation = run("rate(req_total[5m])")
    assert result[(("code", "200"), ("method", "get"))] == 1.0
    assert result[(("code", "500"), ("method", "get"))] == pytest.approx(10 / 60)
    # 200/put has no earlier sample: no rate yet, and the evaluation says so.
    assert (("code", "200"), ("method", "put")) not in result
    assert evaluation.short_windows == ['req_total{code="200",method="put"}']
    assert any("counter reset" in note for note in evaluation.notes)
    assert values("increase(req_total[5m])")[(("code", "500"), ("method", "get"))] == 10
    assert values("delta(temp[5m])", history={'temp{room="a"}': [(0.0, 25.5)]}) == {
        (("room", "a"),): -5.0}


def test_window_selects_only_samples_inside_it():
    history = {'req_total{code="200",method="get"}': [(0.0, 10.0), (20.0, 40.0), (50.0, 70.0)]}
    # [30s] at t=60 holds t=50 and t=60: (100-70)/10 = 3.
    assert values('rate(req_total{code="200",method="get"}[30s])', history=history) == {
        (("code", "200"), ("method", "get")): 3.0}
    # [1m] holds t=20..60 (t=0 is at the edge, outside): (100-40)/40 = 1.5.
    assert values('rate(req_total{code="200",method="get"}[1m])', history=history) == {
        (("code", "200"), ("method", "get")): 1.5}
    # irate uses the last two: (100-70)/10.
    assert values('irate(req_total{code="200",method="get"}[5m])', history=history) == {
        (("code", "200"), ("method", "get")): 3.0}
    # A window with no earlier sample returns nothing, not a made-up rate.
    assert values('rate(req_total{code="200",method="get"}[5s])', history=history) == {}


def test_over_time_functions():
    history = {'temp{room="a"}': [(10.0, 10.5), (40.0, 30.5)]}
    # Window points: 10.5, 30.5 and now 20.5.
    assert values('max_over_time(temp{room="a"}[5m])', history=history) == {(("room", "a"),): 30.5}
    assert values('min_over_time(temp{room="a"}[5m])', history=history) == {(("room", "a"),): 10.5}
    assert values('avg_over_time(temp{room="a"}[5m])', history=history) == {(("room", "a"),): 20.5}
    assert values('count_over_time(temp{room="a"}[5m])', history=history) == {
        (("room", "a"),): 3}


def test_histogram_quantile_of_a_scrape_and_of_rates():
    # Buckets 50/90/100/100 of 100: rank 50 is in the first bucket: 0 + 0.1 * 50/50.
    assert values("histogram_quantile(0.5, lat_bucket)") == {(): pytest.approx(0.1)}
    # rank 95 in (0.5, 1.0] holding 90..100: 0.5 + 0.5 * (95-90)/10 = 0.75.
    assert values("histogram_quantile(0.95, lat_bucket)") == {(): pytest.approx(0.75)}
    # Rates over 30 s: 10/30, 20/30, 30/30, 30/30 per second; rank 0.5 of 1.0 falls in
    # (0.1, 0.5] holding 1/3..2/3: 0.1 + 0.4 * (0.5 - 1/3) / (1/3) = 0.3.
    assert values("histogram_quantile(0.5, rate(lat_bucket[5m]))") == {(): pytest.approx(0.3)}


@pytest.mark.parametrize(("quantile", "buckets", "expected"), [
    (0.5, [(math.inf, 10)], math.nan),  # one bucket: nothing to interpolate
    (0.5, [(0.1, 5), (1.0, 10)], math.nan),  # no +Inf bucket
    (0.5, [(0.1, 0), (math.inf, 0)], math.nan),  # no observations
    (0.99, [(0.1, 5), (0.2, 5), (math.inf, 10)], 0.2),  # rank in +Inf: highest finite bound
    (0.25, [(1.0, 10), (2.0, 20), (math.inf, 20)], 0.5),  # 0 + 1.0 * 5/10
    (0.5, [(2.0, 20), (1.0, 10), (math.inf, 20)], 1.0),  # unsorted input: rank 10 at 1.0
    (1.5, [(1.0, 1), (math.inf, 1)], math.inf),
    (-1, [(1.0, 1), (math.inf, 1)], -math.inf),
])
def test_histogram_quantile_edges(quantile, buckets, expected):
    answer = histogram_quantile(quantile, buckets)
    assert (math.isnan(answer) and math.isnan(expected)) or answer == pytest.approx(expected)


def test_le_written_as_1_and_1_0_is_one_bucket():
    body = b'h_bucket{le="1"} 4\nh_bucket{le="2.0"} 8\nh_bucket{le="+Inf"} 8\n'
    # rank 6 in (1, 2] holding 4..8: 1 + 1 * (6-4)/4 = 1.5.
    assert values("histogram_quantile(0.75, h_bucket)", body=body) == {(): 1.5}


def test_aggregations():
    assert values("sum(req_total)") == {(): 160}
    assert values("sum by (method) (req_total)") == {(("method", "get"),): 110,
                                                     (("method", "put"),): 50}
    assert values("max without (code) (req_total)") == {(("method", "get"),): 100,
                                                        (("method", "put"),): 50}
    assert values("min(temp)") == {(): -3}
    assert values("avg(temp)") == {(): 8.75}  # (20.5 - 3) / 2
    assert values("count by (code) (req_total)") == {(("code", "200"),): 2, (("code", "500"),): 1}


def test_arithmetic_and_comparisons():
    assert values("temp * 2") == {(("room", "a"),): 41, (("room", "b"),): -6}
    assert values("10 - temp") == {(("room", "a"),): -10.5, (("room", "b"),): 13}
    assert values("-temp") == {(("room", "a"),): -20.5, (("room", "b"),): 3}
    assert values("temp > 0") == {(("room", "a"),): 20.5}  # a filter keeps the value
    assert values("temp > bool 0") == {(("room", "a"),): 1, (("room", "b"),): 0}
    assert values("2 ^ 3 + 1") == {(): 9}
    assert values("1 < bool 2") == {(): 1}


def test_division_by_zero_is_ieee_not_an_error():
    assert values("temp / 0") == {(("room", "a"),): math.inf, (("room", "b"),): -math.inf}
    assert math.isnan(values("0 / 0")[()])
    assert math.isnan(values("temp % 0")[(("room", "a"),)])


def test_vector_matching():
    # on(method) with group_left: each request series divided by its method's limit.
    result = values("req_total / on(method) group_left limit")
    assert result == {(("code", "200"), ("method", "get")): 0.5,
                      (("code", "500"), ("method", "get")): 0.05,
                      (("code", "200"), ("method", "put")): 2.0}
    # One-to-one after aggregation: the error ratio per method.
    ratio = values('sum by (method) (req_total{code="500"}) / sum by (method) (req_total)')
    assert ratio == {(("method", "get"),): pytest.approx(10 / 110)}
    # ignoring(code): 200/get and 500/get both match limit{get}: many-to-one needs group_left.
    with pytest.raises(QueryError, match="group_left"):
        values("req_total / ignoring(code) limit")


def test_set_operators():
    assert set(values('req_total and req_total{code="500"}').values()) == {10}
    assert set(values("req_total unless on(method) limit{method=\"put\"}").values()) == {100, 10}
    assert set(values('temp{room="a"} or temp').values()) == {20.5, -3}


def test_functions_on_values():
    assert values("abs(temp)") == {(("room", "a"),): 20.5, (("room", "b"),): 3}
    assert values("clamp_max(temp, 10)") == {(("room", "a"),): 10, (("room", "b"),): -3}
    assert values("clamp_min(temp, 0)") == {(("room", "a"),): 20.5, (("room", "b"),): 0}
    assert values("clamp(temp, 0, 10)") == {(("room", "a"),): 10, (("room", "b"),): 0}
    assert values('absent(missing{job="etcd",x=~"y"})') == {(("job", "etcd"),): 1}
    assert values("absent(temp)") == {}
    assert values("ceil(temp)") == {(("room", "a"),): 21, (("room", "b"),): -3}


@pytest.mark.parametrize(("expr", "part"), [
    ("histogram_count(temp)", "native histograms"),
    ("info(temp)", "info()"),
    ("limit_ratio(0.5, temp)", "limit_ratio"),
    ("start_timestamp(temp)", "start timestamps"),
    ('temp{room="a" or room="b"}', "'or' inside a selector"),
])
def test_unsupported_parts_are_named(expr, part):
    with pytest.raises(Unsupported) as caught:
        values(expr)
    assert str(caught.value).startswith("unsupported PromQL: ") and part in str(caught.value)


def test_unknown_function_is_a_parse_error():
    with pytest.raises(QueryError, match="unknown function"):
        parse("frobnicate(temp)")


def test_exposition_parser_reads_escapes_timestamps_and_openmetrics():
    body = (b'a{x="q\\"u,o}te",y="line\\nbreak"} 1.5 1700000000000\n'
            b'b_total 3 # {trace_id="abc"} 1\n'
            b'c NaN\nd +Inf\n# EOF\n')
    found = parse_exposition(body, None)
    assert found.samples["a"] == {(("x", 'q"u,o}te'), ("y", "line\nbreak")): 1.5}
    assert found.samples["b_total"] == {(): 3}
    assert math.isnan(found.samples["c"][()]) and found.samples["d"][()] == math.inf


def test_filtering_by_name_skips_longer_names_and_other_lines():
    body = b"x 1\nx_total 2\nxx 3\ny{a=\"b\"} 4\n"
    found = parse_exposition(body, {"x", "y"})
    assert found.samples == {"x": {(): 1}, "y": {(("a", "b"),): 4}}


def test_duplicate_series_keep_the_first_and_are_reported():
    found = parse_exposition(b'a{x="1"} 1\na{x="1"} 2\n', {"a"})
    assert found.samples["a"] == {(("x", "1"),): 1} and found.duplicates == ['a{x="1"}']


@pytest.mark.parametrize(("body", "why"), [
    (b'a{x="1" 5\n', "expected ',' or '}' after label 'x'"),
    (b'a{x="1"y="2"} 5\n', "expected ','"),
    (b"a{x=1} 5\n", "no quoted value"),
    (b"a five\n", "invalid value"),
    (b"a\n", "no value"),
    (b'a{x="unterminated} 5', "unclosed label value"),
    (b"a 1 notatime\n", "invalid timestamp"),
])
def test_garbage_and_truncated_lines_name_the_line(body, why):
    with pytest.raises(ExpositionError, match=why) as caught:
        parse_exposition(b"ok 1\n" + body, {"a"})
    assert "line 2" in str(caught.value)


@pytest.mark.parametrize(("expr", "expected"), [
    ('temp{room="a"} == 20.5', {(("room", "a"),): 20.5}),
    ("temp != 20.5", {(("room", "b"),): -3}),
    ("temp < 0", {(("room", "b"),): -3}),
    ("temp <= -3", {(("room", "b"),): -3}),
    ("temp >= 20.5", {(("room", "a"),): 20.5}),
    ("group by (method) (req_total)", {(("method", "get"),): 1, (("method", "put"),): 1}),
    ('scalar(temp{room="a"}) * 2', {(): 41}),
    ("scalar(temp)", {(): math.nan}),  # two series: NaN, as Prometheus
    ("vector(3) + 1", {(): 4}),
    ("time() - 60", {(): 0}),
    ("floor(temp)", {(("room", "a"),): 20, (("room", "b"),): -3}),
    ("7 % 4", {(): 3}),
    ('last_over_time(temp{room="a"}[5m])', {(("room", "a"),): 20.5}),
    ('sum_over_time(temp{room="a"}[5m])', {(("room", "a"),): 20.5}),
])
def test_every_other_operator_and_function(expr, expected):
    result = values(expr, history={})
    assert result.keys() == expected.keys()
    for key, value in expected.items():
        assert (math.isnan(value) and math.isnan(result[key])) or result[key] == value
