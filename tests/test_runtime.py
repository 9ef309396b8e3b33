"""The shared runtime: ranges, durations, perfdata, output formats, exit policy, deadline."""

import json
import math
import subprocess
import sys
import textwrap
import time

import nagiosplugin
import pytest
from healthprobes.checks.runtime.executable import exit_code, process_age, sniff_output_mode
from healthprobes.checks.runtime.numbers import format_number
from healthprobes.checks.runtime.options import parse_duration
from healthprobes.checks.runtime.perfdata import render as render_perf
from healthprobes.checks.runtime.ranges import Range, parse_range
from healthprobes.checks.runtime.render import render
from healthprobes.checks.runtime.results import Findings, Perf, Report, Result
from healthprobes.checks.runtime.states import CRITICAL as Critical
from healthprobes.checks.runtime.states import OK as Ok
from healthprobes.checks.runtime.states import UNKNOWN as Unknown
from healthprobes.checks.runtime.states import WARNING as Warn
from healthprobes.checks.runtime.states import ValueProblem


@pytest.mark.parametrize(("text", "seconds"), [
    ("10", 10.0), ("2.5", 2.5), ("250ms", 0.25), ("1m30s", 90.0), ("1h", 3600.0),
    ("1500us", 0.0015), (".5s", 0.5)])
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "0", "-1", "1x", "s", "1s2", "ms"])
def test_bad_durations(text):
    with pytest.raises(ValueProblem):
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
    threshold = Range.parse(spec)
    assert all(threshold.match(value) for value in inside)
    assert not any(threshold.match(value) for value in outside)


ORACLE_SPECS = ["10", "10:", "~:10", "10:20", "@10:20", "0", "-5:5", "@~:0", "~:", "3.5:7.25",
                "@0:0", "", "0:", "-10:-2", "@-1:1"]


@pytest.mark.parametrize("spec", ORACLE_SPECS)
def test_ranges_judge_as_nagiosplugin_does(spec):
    """nagiosplugin's Range is the reference implementation of the guidelines' semantics."""
    ours, theirs = Range.parse(spec) if spec else Range(), nagiosplugin.Range(spec)
    for value in (-1e9, -11, -10, -5, -2, -1, -0.5, 0, 0.5, 1, 2, 3.5, 5, 7.25, 9.99, 10,
                  10.01, 15, 20, 21, 1e9):
        assert ours.match(value) == theirs.match(value), (spec, value)
    assert str(ours) == str(theirs)


@pytest.mark.parametrize("spec", ["5:1", "1:2:3", "abc", "@", "nan", "1:x"])
def test_bad_ranges_say_how_to_write_one(spec):
    with pytest.raises(ValueProblem, match=r"write e\.g\. 10, 10:"):
        parse_range(spec)


def test_an_empty_range_option_means_no_threshold():
    """Nagios command templates pass an unset $ARGn$ as ''; that is no threshold, not
    nagiosplugin's 0:inf (which would call negative values a problem)."""
    assert parse_range("") is None and parse_range("  ") is None
    from tests.conftest import run_command

    run = run_command("check_metrics", "--url", "http://127.0.0.1:1/m", "--expr", "1",
                      "--warning", "", "--critical", "", "-t", "1")
    assert run.first_line.startswith("METRICS CRITICAL"), run.out  # not UNKNOWN


def test_range_text_has_no_scientific_notation():
    assert str(Range.parse("1e-7")) == "0.0000001"
    assert Range.parse("1e-7:2e21").violation == "outside range 0.0000001:2000000000000000000000"
    assert Range.parse("@1:2").violation == "inside range 1:2"


@pytest.mark.parametrize(("value", "text"), [
    (0, "0"), (12, "12"), (0.5, "0.5"), (3.0, "3"), (1e-7, "0.0000001"),
    (1.5e-10, "0.00000000015"), (2e21, "2000000000000000000000"), (True, "1")])
def test_numbers_never_in_scientific_notation(value, text):
    assert format_number(value) == text


def test_plain_thresholds_where_icinga_needs_them():
    assert Range.parse("0.5").plain() == "0.5"
    assert Range.parse("~:0.5").plain() == "0.5"
    assert Range.parse("10:").plain() == "10:"
    assert Range.parse("@1:2").plain() == "@1:2"


def test_perfdata_item():
    perf = Perf("db size", 1e-7, "s", Range.parse("0.5"), Range.parse("1"), 0, None)
    assert render_perf(perf) == "'db size'=0.0000001s;0.5;1;0"
    odd = Findings()
    odd.measure("svc=a'b", 3)
    assert render_perf(odd.perfdata[0]) == "svc_a_b=3"


def test_measure_judges_critical_before_warning():
    findings = Findings()
    warning, critical = Range.parse("10"), Range.parse("100")
    assert findings.measure("lag", 5, "", warning, critical).state == Ok
    assert findings.measure("lag", 50, "", warning, critical).state == Warn
    result = findings.measure("lag", 500, "", warning, critical)
    assert result.state == Critical and result.text == "lag is 500 (outside range 0:100)"
    assert findings.measure("q", math.nan, nan_state=Unknown).state == 3
    assert [perf.value for perf in findings.perfdata][:3] == [5, 50, 500]


def test_findings_word_the_report():
    findings = Findings()
    findings.add(Ok, "a is fine", "a")
    assert findings.report("demo", "t", "all fine").summary == "all fine"
    findings.add(Warn, "b is slow", "b")
    findings.add(Critical, "c is down", "c")
    report = findings.report("demo", "t", "all fine", prefix="t: ")
    assert report.state == Critical
    assert report.summary == "t: c is down (+1 more not OK)"
    assert Findings().report("demo", "t", "all fine").summary == "nothing was checked"


def report(state, text="summary", perf=()):
    return Report("demo", "host:1", [Result(state, text)], text, ["detail"], list(perf))


def test_nagios_output_shapes():
    perf = [Perf("t", 0.25, "s"), Perf("nan", math.nan)]
    text = render(report(Warn, "a | b\nc", perf), "nagios")
    assert text == "DEMO WARNING - a / b c | t=0.25s\ndetail\n"
    assert render(report(Ok, perf=perf), "nagios", probe=True) == "DEMO OK - summary | t=0.25s\n"


def test_nagios_output_is_capped():
    long = Report("demo", "h", [Result(Ok, "x")], "x", ["y" * 100] * 200)
    text = render(long, "nagios")
    assert len(text) < 8000 and "more lines left out" in text


def test_json_output_has_no_nan():
    text = render(report(Critical, perf=[Perf("nan", math.nan)]), "json")
    document = json.loads(text)
    assert document["perfdata"][0]["value"] is None and document["state_code"] == 2


def test_json_output_is_what_json_dumps_writes():
    # The renderer avoids importing json; its text must still be json's, byte for byte.
    odd = Report("demo", 'h\u00e9 "1"', [Result(Warn, "tab\there"), Result(Ok, "\u2603")],
                 "a\nb", ["\\ back"], [Perf("t", 0.000001, "s", Range.parse("~:5"),
                                              Range.parse("@1:2"), 0, 10**20),
                                         Perf("n", math.inf), Perf("i", 7)])
    text = render(odd, "json")
    assert text == json.dumps(json.loads(text)) + "\n"
    document = json.loads(text)
    assert document["perfdata"][0]["value"] == 0.000001
    assert document["perfdata"][1]["value"] is None and document["perfdata"][2]["value"] == 7
    assert document["results"][1]["text"] == "\u2603" and document["target"] == 'h\u00e9 "1"'


def test_influx_escapes_tags_and_strings():
    odd = Report("demo", "a b,c=d", [Result(Ok, 'say "hi"')], 'say "hi"', [], [])
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
    from healthprobes.checks.runtime.executable import main
    from healthprobes.checks.runtime.program import CheckProgram
    from healthprobes.checks.runtime.results import Findings

    def probe():
        time.sleep(60)  # a call that ignores every timeout
        return []

    main(CheckProgram(
        name="stuck", prog="check_stuck", description="never answers",
        target=lambda args: "nowhere:1",
        run=lambda args, deadline: Findings().report("stuck", "nowhere:1", str(probe()))))
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


@pytest.mark.parametrize(("value", "shown"), [
    (0.0019000000000000002, "0.0019"), (0.00095367431640625, "0.000953674316406"),
    (0.1 + 0.2, "0.3"), (2147483648.0, "2147483648"), (1234567890123.0, "1234567890123"),
    (2.5e19, "25000000000000000000"), (1e-12, "0.000000000001")])
def test_numbers_keep_twelve_significant_digits_and_whole_numbers_exact(value, shown):
    assert format_number(value) == shown


def test_byte_units_in_sizes_and_thresholds():
    from healthprobes.checks.runtime.numbers import parse_bytes

    assert parse_bytes("2Gi") == parse_bytes("2GiB") == 2 * 1024**3
    assert parse_bytes("100MB") == 100 * 1000**2 and parse_bytes("1Ki") == 1024
    assert Range.parse("100MiB") == Range(0, 100 * 1024**2)
    assert Range.parse("@1Ki:2Ki") == Range(1024, 2048, invert=True)
    with pytest.raises(ValueProblem):
        Range.parse("100MiBs")
