"""Prometheus' semantics, case by case, with answers worked out by hand from its
documentation: the cases promtool (Prometheus 2.42 here) cannot check because the
function or behaviour is newer (fill, sort_by_label, mad_over_time, limitk ...),
the answers that depend on our stored history (offset, @, subqueries, staleness),
the extrapolated and the default rates, and what must fail or be refused, and how.
"""

from __future__ import annotations

import datetime
import math

import pytest
from healthprobes.checks.promql import limits
from healthprobes.checks.promql.errors import QueryError, Unsupported
from healthprobes.checks.promql.evaluator import Evaluation, parse
from healthprobes.checks.promql.functions import civil_date, histogram_quantile
from healthprobes.checks.promql.store import parse_series_key, series_key
from healthprobes.probes.exposition import parse as parse_exposition

SCRAPE = b"""\
a{group="canary",instance="0",job="api"} 3
b{group="production",instance="0",job="api"} 4
left{side="l",label="a"} 10
left{side="l",label="b"} 20
left{side="l",label="c"} 30
right{side="r",label="a"} 100
right{side="r",label="b"} 200
right{side="r",label="d"} 400
node_meta{instance="a"} 100
node_meta{instance="c"} 300
cpu_info{instance="a",cpu="0"} 1
cpu_info{instance="a",cpu="1"} 1
cpu_info{instance="b",cpu="0"} 1
disk{node="node10"} 1
disk{node="node9"} 2
disk{node="Node1"} 3
disk{node="node9",extra="x"} 4
pm{k="p"} +Inf
pm{k="m"} -Inf
near_max{k="1"} 1.5e308
near_max{k="2"} 1.7e308
near_max{k="3"} 1.6e308
tie{k="a"} 1
tie{k="b"} 1
tie{k="c"} 2
num{k="big"} 1e21
num{k="small"} 0.000001
num{k="negzero"} -0
num{k="half"} 2.5
num{k="three"} 3
"""


def evaluate(expr: str, body: bytes = SCRAPE, now: float = 600.0, history=None, runs=None,
             complete_since=None, extrapolate: bool = False) -> Evaluation:
    evaluation = Evaluation(parse_exposition(body, None), now, history or {}, runs,
                            complete_since, extrapolate=extrapolate)
    evaluation.result = evaluation.run(parse(expr))
    return evaluation


def values(expr: str, **kwargs) -> dict:
    """{labels without the name: value}; the name is checked where it matters."""
    return {tuple(pair for pair in labels if pair[0] != "__name__"): value
            for labels, value in evaluate(expr, **kwargs).result}


def labelled(expr: str, **kwargs) -> dict:
    return dict(evaluate(expr, **kwargs).result)


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-12)


# --- aggregations ------------------------------------------------------------------------

def test_avg_of_plus_and_minus_infinity_is_nan_not_a_crash():
    assert math.isnan(values("avg(pm)")[()])
    assert math.isnan(values("sum(pm)")[()])
    assert values('avg(pm{k="p"})') == {(): math.inf}


def test_avg_near_the_largest_float_does_not_overflow():
    # 1.5e308 + 1.7e308 overflows: the mean continues incrementally from there.
    # (1.5 + 1.7 + 1.6) / 3 = 1.6 (e308).
    assert values("avg(near_max)")[()] == pytest.approx(1.6e308, rel=1e-12)
    assert values("sum(near_max)")[()] == math.inf


def test_topk_ties_follow_prometheus_heap():
    # tie: a=1, b=1, c=2 in label order. k=1: the first 1 (a) stays until 2 beats it.
    assert list(values("topk(1, tie)")) == [(("k", "c"),)]
    # k=2: a and b fill the heap; c replaces the top (a), so a is the one dropped.
    assert set(values("topk(2, tie)")) == {(("k", "b"),), (("k", "c"),)}
    assert set(values("bottomk(2, tie)")) == {(("k", "a"),), (("k", "b"),)}
    # The result keeps the series' names: topk selects, it does not compute.
    assert all(dict(labels)["__name__"] == "tie" for labels in labelled("topk(2, tie)"))
    assert values("topk(0, tie)") == {}
    with pytest.raises(QueryError, match="NaN"):
        values("topk(scalar(pm), tie)")  # two series: scalar() is NaN


def test_limitk_keeps_the_first_k_series_of_each_group():
    # Prometheus 3 (not in promtool 2.42): the first k in label order, not the largest.
    assert set(values("limitk(2, tie)")) == {(("k", "a"),), (("k", "b"),)}
    assert set(values("limitk by (k) (1, tie)")) == {(("k", "a"),), (("k", "b"),),
                                                     (("k", "c"),)}


def test_limit_ratio_is_refused_with_the_reason():
    with pytest.raises(Unsupported, match=r"^unsupported PromQL: limit_ratio\(\) \(it samples"):
        values("limit_ratio(0.5, tie)")


def test_count_values_writes_go_shortest_decimal_numbers():
    counted = values('count_values("v", num)')
    assert set(counted) == {(("v", "1000000000000000000000"),), (("v", "0.000001"),),
                            (("v", "-0"),), (("v", "2.5"),), (("v", "3"),)}
    assert set(counted.values()) == {1.0}


# --- binary operators and matching -------------------------------------------------------

def test_atan2_is_an_operator_and_drops_the_name():
    # atan2(3, 4) = 0.6435011087932844 rad; Prometheus 3 drops the name, as for any
    # arithmetic (2.42 kept it).
    result = labelled("a atan2 on(job, instance) b")
    assert list(result) == [(("instance", "0"), ("job", "api"))]
    assert next(iter(result.values())) == pytest.approx(math.atan2(3, 4))


def test_one_to_one_matching_keeps_only_the_matching_labels():
    assert values('a{group="canary"} / ignoring(group) b{group="production"}') == {
        (("instance", "0"), ("job", "api")): 0.75}
    assert labelled("a + on() b") == {(): 7.0}


@pytest.mark.parametrize(("expr", "expected"), [
    # fill(0): each side stands in for the missing other with 0.
    ("left + ignoring(side) fill(0) right", {"a": 110, "b": 220, "c": 30, "d": 400}),
    ("left + ignoring(side) fill_left(0) right", {"a": 110, "b": 220, "d": 400}),
    ("left + ignoring(side) fill_right(0) right", {"a": 110, "b": 220, "c": 30}),
    ("left + ignoring(side) fill_left(5) fill_right(7) right",
     {"a": 110, "b": 220, "c": 37, "d": 405}),
    # A filtering comparison with fill keeps the left value; the filled-in left 30
    # for d (30 != 400) passes.
    ("left != ignoring(side) fill(30) right", {"a": 10, "b": 20, "d": 30}),
    ("left == bool ignoring(side) fill(30) right", {"a": 0, "b": 0, "c": 1, "d": 0}),
])
def test_fill_modifiers(expr, expected):
    result = values(expr)
    assert {dict(labels)["label"]: value for labels, value in result.items()} == expected
    assert all("side" not in dict(labels) for labels in result)  # ignoring(side): one-to-one


def test_fill_with_group_right_follows_prometheus_sides():
    # With group_right the many side (cpu_info) is handled as the left: fill_right
    # stands in for a missing node_meta (instance b: 1 * 0); fill_left for a missing
    # cpu_info (instance c: 300 * 1), as Prometheus 3 answers.
    right_fill = values("node_meta * on(instance) group_right fill_right(0) cpu_info")
    assert right_fill == {(("cpu", "0"), ("instance", "a")): 100,
                          (("cpu", "1"), ("instance", "a")): 100,
                          (("cpu", "0"), ("instance", "b")): 0}
    left_fill = values("node_meta * on(instance) group_right fill_left(1) cpu_info")
    assert left_fill == {(("cpu", "0"), ("instance", "a")): 100,
                         (("cpu", "1"), ("instance", "a")): 100, (("instance", "c"),): 300}


@pytest.mark.parametrize(("expr", "body", "message"), [
    # Two metrics with one label set once their names are gone.
    ('-{job="api"}', b'x{job="api"} 1\ny{job="api"} 2\n', "same labelset"),
    ('ceil({__name__=~"x|y"})', b'x{src="a"} 1\ny{src="a"} 2\n', "same labelset"),
    ('label_replace(left, "label", "x", "", "")', SCRAPE, "same labelset"),
    ("cpu_info + on(instance) node_meta", SCRAPE, "many-to-one matching must be explicit"),
    ("node_meta + on(instance) cpu_info", SCRAPE, "many-to-many matching not allowed"),
    ("node_meta + on(instance) group_left cpu_info", SCRAPE,
     "duplicate series for the match group"),
])
def test_collisions_are_errors_as_in_prometheus(expr, body, message):
    with pytest.raises(QueryError, match=message):
        values(expr, body=body)


def test_absent_keeps_labels_set_once_by_equality():
    assert values('absent(nonexistent{job="a",job="b",foo="bar"})') == {(("foo", "bar"),): 1}
    assert values('absent(nonexistent{job=~"a",foo="bar",zone!="x"})') == {
        (("foo", "bar"),): 1}
    assert values("absent(sum(nonexistent))") == {(): 1}


# --- range functions, rates ---------------------------------------------------------------

COUNTER_HISTORY = {"c_total": [(0.0, 10.0), (60.0, 20.0)]}
COUNTER_NOW = b"c_total 40\ng 40\n"
GAUGE_HISTORY = {"g": [(0.0, 10.0), (60.0, 20.0)]}


def test_rates_default_to_the_change_between_stored_samples():
    # Samples 10, 20, 40 at 0, 60, 120 s: increase 30 over 120 s.
    history = {**COUNTER_HISTORY, **GAUGE_HISTORY}
    assert values("rate(c_total[3m])", body=COUNTER_NOW, now=120, history=history) == {
        (): 0.25}
    assert values("increase(c_total[3m])", body=COUNTER_NOW, now=120, history=history) == {
        (): 30}
    assert values("delta(g[3m])", body=COUNTER_NOW, now=120, history=history) == {(): 30}


def test_extrapolate_gives_prometheus_rates():
    # Window (-60, 120]: the first sample is 60 s from the start, within 1.1 average
    # intervals (66 s): extrapolated there, but a counter not below zero: it reached 0
    # 120 * 10/30 = 40 s before the first sample. Factor (120 + 40 + 0) / 120 = 4/3:
    # increase 30 * 4/3 = 40, rate 40 / 180 s.
    history = {**COUNTER_HISTORY, **GAUGE_HISTORY}
    kwargs = {"body": COUNTER_NOW, "now": 120, "history": history, "extrapolate": True}
    assert values("increase(c_total[3m])", **kwargs)[()] == pytest.approx(40)
    assert values("rate(c_total[3m])", **kwargs)[()] == pytest.approx(40 / 180)
    # A gauge is stretched all 60 s: factor 180/120, delta 45.
    assert values("delta(g[3m])", **kwargs)[()] == pytest.approx(45)


def test_last_and_first_over_time_keep_the_name_others_drop_it():
    history = {"g": [(0.0, 10.0), (60.0, 20.0)]}
    kwargs = {"body": COUNTER_NOW, "now": 120, "history": history}
    assert labelled("last_over_time(g[5m])", **kwargs) == {(("__name__", "g"),): 40}
    assert labelled("first_over_time(g[5m])", **kwargs) == {(("__name__", "g"),): 10}
    assert labelled("max_over_time(g[5m])", **kwargs) == {(): 40}


def test_a_parenthesised_range_is_still_a_range():
    history = {"g": [(0.0, 10.0), (60.0, 20.0)]}
    assert values("rate((g[25m]))", body=COUNTER_NOW, now=120, history=history) == {
        (): 0.25}


def test_newer_range_functions():
    # Values 4, 1, 7, 10 at 0, 60, 120, 180 (the last one the scrape).
    history = {"g": [(0.0, 4.0), (60.0, 1.0), (120.0, 7.0)]}
    kwargs = {"body": b"g 10\n", "now": 180, "history": history}
    # Median of 1, 4, 7, 10 is 5.5; deviations 4.5, 1.5, 1.5, 4.5: median 3.
    assert values("mad_over_time(g[5m])", **kwargs) == {(): 3}
    assert values("ts_of_max_over_time(g[5m])", **kwargs) == {(): 180}
    assert values("ts_of_min_over_time(g[5m])", **kwargs) == {(): 60}
    assert values("ts_of_first_over_time(g[5m])", **kwargs) == {(): 0}
    assert values("ts_of_last_over_time(g[5m])", **kwargs) == {(): 180}
    # Holt's linear smoothing, sf = tf = 0.5: level 4, trend -3; at 1: trend stays -3
    # (first step), level 0.5*1 + 0.5*(4-3) = 1; at 7: trend 0.5*(1-4) + 0.5*(-3) = -3,
    # level 0.5*7 + 0.5*(1-3) = 2.5; at 10: trend 0.5*(2.5-1) + 0.5*(-3) = -0.75,
    # level 0.5*10 + 0.5*(2.5-0.75) = 5.875.
    assert values("double_exponential_smoothing(g[5m], 0.5, 0.5)", **kwargs) == {(): 5.875}
    with pytest.raises(QueryError, match="smoothing factor"):
        values("double_exponential_smoothing(g[5m], 1, 0.5)", **kwargs)


def test_predict_linear_extrapolates_from_the_evaluation_time():
    # Free space 1000, 900, 800 at 0, 60, 120: -100 per minute; at 120 + 600 s: -200.
    history = {"free": [(0.0, 1000.0), (60.0, 900.0)]}
    result = values("predict_linear(free[5m], 600)", body=b"free 800\n", now=120,
                    history=history)
    assert result[()] == pytest.approx(-200)
    assert values("deriv(free[5m])", body=b"free 800\n", now=120, history=history)[
        ()] == pytest.approx(-100 / 60)


# --- offset, @, subqueries over the stored history ----------------------------------------

RUNS = [60.0 * index for index in range(11)]  # 0 .. 600
LINE = {"x": [(time, time / 60) for time in RUNS[:-1]],
        'y{k="gone"}': [(time, 1.0) for time in RUNS[:6]]}  # absent from 360 on


def test_offset_and_at_read_the_stored_history():
    kwargs = {"body": b"x 10\n", "history": LINE, "runs": RUNS}
    assert values("x offset 2m", **kwargs) == {(): 8}
    assert values("x offset 10m", **kwargs) == {(): 0}
    assert values("x @ 300", **kwargs) == {(): 5}
    assert values("x @ 300 offset 1m", **kwargs) == {(): 4}
    assert values("x @ start()", **kwargs) == {(): 10}
    assert values("timestamp(x offset 3m)", **kwargs) == {(): 420}
    assert values("rate(x[2m30s] offset 5m)", **kwargs) == {(): pytest.approx(1 / 60)}


def test_a_series_missing_from_a_run_is_stale_from_then_on():
    # y was last seen at 300 and missing at 360: at 420 (within 5 minutes of its last
    # sample) it is stale, as a Prometheus scrape that lost it would mark it.
    kwargs = {"body": b"x 10\n", "history": LINE, "runs": RUNS}
    assert values("y offset 3m", **kwargs) == {}
    assert values("y offset 5m", **kwargs) == {(("k", "gone"),): 1}


def test_reading_before_the_history_is_not_enough_history_yet():
    kwargs = {"body": b"x 10\n", "history": LINE, "runs": RUNS}
    evaluation = evaluate("x offset 11m", **kwargs)
    # The lookback of x at 600 - 660 = -60 reaches back to -360: 960 s before now.
    assert evaluation.result == [] and evaluation.missing_history == 960
    assert evaluate("x @ 30", **kwargs).missing_history is None  # run 0 is in the lookback


def test_subqueries_evaluate_each_step_over_the_history():
    kwargs = {"body": b"x 10\n", "history": LINE, "runs": RUNS}
    # Steps after 600 - 300 on the minute: 360 .. 600, values 6 .. 10.
    assert values("min_over_time(x[5m:1m])", **kwargs) == {(): 6}
    assert values("count_over_time(x[5m:1m])", **kwargs) == {(): 5}
    assert values("max_over_time(deriv(x[3m])[5m:1m])", **kwargs) == {
        (): pytest.approx(1 / 60)}
    # A history complete only from 400 on: steps from 420 (7) are known, 360 is left
    # out, and a subquery wholly before it has no answer yet.
    later = {"body": b"x 10\n", "history": {"x": [(t, v) for t, v in LINE["x"] if t >= 420]},
             "runs": RUNS[7:], "complete_since": 400.0}
    assert values("min_over_time(x[5m:1m])", **later) == {(): 7}
    assert evaluate("max_over_time(x[2m:1m] offset 8m)", **later).missing_history is not None


# --- labels, regexes, sorting, dates ------------------------------------------------------

def test_label_regexes_are_re2_and_fully_anchored():
    body = b'm{room="Kitchen"} 1\nm{room="kit"} 2\nm{room="line\\nbreak"} 3\n'
    # (?i) in the middle of a pattern is RE2 (Python's re refuses it).
    assert values('m{room=~"((?i)KIT).*"}', body=body) == {(("room", "Kitchen"),): 1,
                                                           (("room", "kit"),): 2}
    assert values('m{room=~"Kit"}', body=body) == {}  # anchored: no partial match
    assert values('m{room=~"\\\\pL+"}', body=body) == {(("room", "Kitchen"),): 1,
                                                     (("room", "kit"),): 2}
    assert values('m{room=~"line.break"}', body=body) == {(("room", "line\nbreak"),): 3}
    with pytest.raises(QueryError, match="regex"):
        values('m{room=~"(?<=a)b"}', body=body)  # look-behind: not RE2
    with pytest.raises(QueryError, match="invalid regular expression"):
        values('label_replace(m, "a", "b", "room", "(?<=a)b")', body=body)


@pytest.mark.parametrize(("template", "expected"), [
    ("$1-$2", "ca-nary"),
    ("${1}x", "cax"),
    ("$1x", ""),  # Go reads the group name "1x": none, so empty
    ("$$1", "$1"),
    ("${1", "${1"),  # malformed: kept as written
    ("$name!", "nary!"),
])
def test_label_replace_templates_are_go_templates(template, expected):
    expr = f'label_replace(a, "out", "{template}", "group", "(..)(?P<name>.*)")'
    assert dict(next(iter(values(expr))))["out" if expected else "group"] == (
        expected or "canary")


def test_label_join_and_replace_of_the_name():
    assert labelled('label_join(a, "where", "/", "job", "instance")') == {
        (("__name__", "a"), ("group", "canary"), ("instance", "0"), ("job", "api"),
         ("where", "api/0")): 3}
    renamed = labelled('label_replace(a, "__name__", "renamed_$1", "__name__", "(.*)")')
    assert next(iter(renamed))[0] == ("__name__", "renamed_a")


def test_sort_by_label_is_natural():
    # node9 < node10 as numbers; "Node1" sorts first (upper case); equal values fall
    # back to the whole label set, where {extra="x"} comes before {node=...}.
    ordered = [dict(labels)["node"] + dict(labels).get("extra", "")
               for labels, _ in evaluate('sort_by_label(disk, "node")').result]
    assert ordered == ["Node1", "node9x", "node9", "node10"]
    descending = [dict(labels)["node"] + dict(labels).get("extra", "")
                  for labels, _ in evaluate('sort_by_label_desc(disk, "node")').result]
    assert descending == ["node10", "node9", "node9x", "Node1"]


@pytest.mark.parametrize("stamp", [0, 951782400, 1709210096, 4107542399, -86400 * 366,
                                   32503680000])
def test_date_functions_agree_with_the_calendar(stamp):
    when = datetime.datetime.fromtimestamp(stamp, datetime.UTC)
    following = (when.replace(day=1) + datetime.timedelta(days=32)).replace(day=1)
    assert civil_date(stamp) == (when.year, when.month, when.day, when.hour, when.minute,
                                 (when.weekday() + 1) % 7, when.timetuple().tm_yday,
                                 (following - when.replace(day=1)).days)


def test_histogram_buckets_with_one_bound_written_twice_add_up():
    # "1" and "1.0" are one bound: 4 + 4 = 8 of 10 at or below 1; rank 5: 1 * 5/8.
    assert histogram_quantile(0.5, [(1.0, 4.0), (1.0, 4.0), (math.inf, 10.0)]) == 0.625


# --- what is refused, and the size of expressions -------------------------------------------

@pytest.mark.parametrize(("expr", "part"), [
    ("histogram_avg(a)", "histogram_avg() (native histograms"),
    ("histogram_fraction(0, 1, a)", "histogram_fraction()"),
    ("info(a)", "info()"),
    ("a @ -100", "a negative @ time"),
])
def test_out_of_scope_parts_are_named(expr, part):
    with pytest.raises(Unsupported) as caught:
        values(expr)
    assert str(caught.value).startswith("unsupported PromQL: " + part)


@pytest.mark.parametrize(("text", "message"), [
    ("x" * (limits.MAX_LENGTH + 1), "characters long"),
    ("(" * 65 + "x" + ")" * 65, "nests 65 levels"),
    ("+".join(["x"] * 202), "201 operators"),
])
def test_oversized_expressions_are_refused_before_parsing(text, message):
    with pytest.raises(QueryError, match=message):
        parse(text)


def test_strings_and_comments_do_not_count_toward_the_limits():
    parse('label_replace(x, "a", "' + "(" * 100 + '", "b", "c") # ' + "(" * 100)
    parse("+".join(["x"] * 150))


def test_series_keys_read_back_into_their_labels():
    labels = (("__name__", "m"), ("a", 'quo"te'), ("b", "back\\slash"), ("c", "new\nline"))
    assert parse_series_key(series_key(labels)) == labels
    assert parse_series_key("plain") == (("__name__", "plain"),)
    assert parse_series_key('{a="1"}') == (("a", "1"),)


def test_math_never_raises():
    body = b'v{k="zero"} 0\nv{k="neg"} -1\nv{k="huge"} 1e308\nv{k="inf"} +Inf\nv{k="nan"} NaN\n'
    for function in ("abs", "ceil", "floor", "exp", "sqrt", "ln", "log2", "log10", "sgn",
                     "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh",
                     "asinh", "acosh", "atanh", "deg", "rad", "round", "year", "month"):
        assert len(values(f"{function}(v)", body=body)) == 5, function
    for operator in ("+", "-", "*", "/", "%", "^", "atan2"):
        assert len(values(f"v {operator} on(k) v", body=body)) == 5, operator
        assert len(values(f"v {operator} 0", body=body)) == 5, operator
    assert same(values("ln(v)", body=body)[(("k", "zero"),)], -math.inf)
    assert same(values("sqrt(v)", body=body)[(("k", "neg"),)], math.nan)
    assert same(values("exp(v)", body=body)[(("k", "huge"),)], math.inf)
