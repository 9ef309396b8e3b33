"""The shared runtime: ranges, durations, perfdata, output formats, exit policy, deadline."""

import json
import math
import subprocess
import sys
import textwrap
import time

import pytest
from nagiosplugin import Performance, Result, Results

from checks.options import parse_duration, sniff_output_mode
from checks.output import render
from checks.perfdata import format_number, format_range
from checks.perfdata import render as render_perf
from checks.report import Report
from checks.runtime import exit_code, process_age
from checks.thresholds import Critical, Ok, Threshold, Unknown, Warn


@pytest.mark.parametrize(("text", "seconds"), [
    ("10", 10.0), ("2.5", 2.5), ("250ms", 0.25), ("1m30s", 90.0), ("1h", 3600.0),
    ("1500us", 0.0015), (".5s", 0.5)])
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "0", "-1", "1x", "s", "1s2", "ms"])
def test_bad_durations(text):
    import argparse

    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration(text)


@pytest.mark.parametrize(("spec", "inside", "outside"), [
    ("10", [0, 10], [-1, 10.5]),
    ("10:", [10, 1e9], [9.99]),
    ("~:10", [-1e9, 10], [10.01]),
    ("10:20", [10, 20], [9, 21]),
    ("@10:20", [9, 21], [10, 15, 20]),
    ("1e3", [999], [1001]),
    ("2.5E-3:", [0.003], [0.001]),
])
def test_nagios_ranges(spec, inside, outside):
    threshold = Threshold(spec)
    assert all(threshold.match(value) for value in inside)
    assert not any(threshold.match(value) for value in outside)


def test_range_text_has_no_scientific_notation():
    assert str(Threshold("1e-7")) == "0.0000001"
    assert Threshold("1e-7:2e21").violation == "outside range 0.0000001:2000000000000000000000"


@pytest.mark.parametrize(("value", "text"), [
    (0, "0"), (12, "12"), (0.5, "0.5"), (3.0, "3"), (1e-7, "0.0000001"),
    (1.5e-10, "0.00000000015"), (2e21, "2000000000000000000000"), (True, "1")])
def test_numbers_never_in_scientific_notation(value, text):
    assert format_number(value) == text


def test_plain_thresholds_where_icinga_needs_them():
    assert format_range(Threshold("0.5")) == "0.5"
    assert format_range(Threshold("~:0.5")) == "0.5"
    assert format_range(Threshold("10:")) == "10:"
    assert format_range(Threshold("@1:2")) == "@1:2"
    assert format_range(None) == ""


def test_perfdata_item():
    perf = Performance("db size", 1e-7, "s", Threshold("0.5"), Threshold("1"), 0, None)
    assert render_perf(perf) == "'db size'=0.0000001s;0.5;1;0"
    from nagiosplugin import Metric

    from checks.contexts import ThresholdContext

    odd = ThresholdContext("t").performance(Metric("svc=a'b", 3), None)
    assert render_perf(odd) == "svc_a_b=3"


def report(state, text="summary", perf=()):
    return Report("demo", "host:1", Results(Result(state, text)), text, ["detail"], list(perf))


def test_nagios_output_shapes():
    perf = [Performance("t", 0.25, "s"), Performance("nan", math.nan)]
    text = render(report(Warn, "a | b\nc", perf), "nagios")
    assert text == "DEMO WARNING - a / b c | t=0.25s\ndetail\n"
    assert render(report(Ok, perf=perf), "nagios", probe=True) == "DEMO OK - summary | t=0.25s\n"


def test_nagios_output_is_capped():
    long = Report("demo", "h", Results(Result(Ok, "x")), "x", ["y" * 100] * 200)
    text = render(long, "nagios")
    assert len(text) < 8000 and "more lines left out" in text


def test_json_output_has_no_nan():
    text = render(report(Critical, perf=[Performance("nan", math.nan)]), "json")
    document = json.loads(text)
    assert document["perfdata"][0]["value"] is None and document["state_code"] == 2


def test_influx_escapes_tags_and_strings():
    odd = Report("demo", "a b,c=d", Results(Result(Ok, 'say "hi"')), 'say "hi"', [], [])
    first = render(odd, "influx").splitlines()[0]
    assert first == ('healthprobes,check=demo,target=a\\ b\\,c\\=d state=0i,'
                     'state_text="OK",summary="say \\"hi\\""')


@pytest.mark.parametrize(("state", "nagios", "probe", "collector"), [
    (Ok, 0, 0, 0), (Warn, 1, 0, 0), (Critical, 2, 1, 0), (Unknown, 3, 1, 0)])
def test_exit_code_policy(state, nagios, probe, collector):
    assert exit_code(state, "nagios", False) == nagios
    assert exit_code(state, "json", False) == nagios
    assert exit_code(state, "nagios", True) == probe
    assert exit_code(state, "influx", True) == collector
    assert exit_code(state, "prometheus", False) == collector


def test_usage_errors_keep_the_requested_format(monkeypatch):
    assert sniff_output_mode(["--format", "prometheus", "--bad"]) == ("prometheus", False)
    assert sniff_output_mode(["--format=influx", "--probe"]) == ("influx", True)
    monkeypatch.setenv("HEALTHPROBES_FORMAT", "json")
    assert sniff_output_mode([]) == ("json", False)


def test_process_age_is_measured():
    assert 0.0 < process_age() < 3600


STUCK_CHECK = textwrap.dedent("""
    import time
    from checks.report import evaluate
    from checks.runtime import CheckProgram, main
    from nagiosplugin import Resource, Summary

    class Stuck(Resource):
        def probe(self):
            time.sleep(60)  # a call that ignores every timeout
            return []

    main(CheckProgram(
        name="stuck", prog="check_stuck", description="never answers",
        add_arguments=lambda parser: None, target=lambda args: "nowhere:1",
        run=lambda args, deadline: evaluate("stuck", "nowhere:1", [Stuck()], [], Summary())))
""")


@pytest.mark.parametrize(("extra", "code", "first"), [
    ((), 2, "STUCK CRITICAL - nowhere:1: no result within 1s (the check's -t timeout)"),
    (("--timeout-state", "unknown"), 3, "STUCK UNKNOWN - nowhere:1: no result within 1s"),
    (("--probe",), 1, "STUCK CRITICAL - nowhere:1: no result within 1s"),
])
def test_watchdog_ends_a_stuck_check_at_its_timeout(extra, code, first):
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", STUCK_CHECK, "-t", "1", *extra],
                          capture_output=True, text=True, timeout=20)
    elapsed = time.monotonic() - started
    assert done.returncode == code
    assert done.stdout.startswith(first) and done.stderr == ""
    assert elapsed < 1.5  # the verdict comes at -t, not when the stuck call returns


def test_internal_errors_are_one_line():
    code = STUCK_CHECK.replace("time.sleep(60)", "raise KeyError('boom')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=20)
    assert done.returncode == 3
    assert done.stdout == "STUCK UNKNOWN - internal error: KeyError: 'boom'\n"
    verbose = subprocess.run([sys.executable, "-c", code, "-vvv"], capture_output=True,
                             text=True, timeout=20)
    assert "Traceback" in verbose.stdout  # only when asked for
