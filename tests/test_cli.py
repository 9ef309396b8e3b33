"""The option parser every check shares: spellings, environment, subcommands, help."""

import re

import pytest
from healthprobes.checks.runtime.options import (
    APPEND,
    COUNT,
    FLAG,
    HELP,
    Command,
    Group,
    HelpRequested,
    Option,
    Parser,
    UsageError,
    parse_duration,
)
from healthprobes.checks.runtime.ranges import Range, parse_range


def parser():
    common = Group("common", [
        Option("-h", "--help", action=HELP, help="help"),
        Option("-v", "--verbose", action=COUNT, help="more"),
        Option("-t", "--timeout", convert=parse_duration, default=10.0, help="deadline"),
        Option("--endpoints", action=APPEND, env="TEST_ENDPOINTS", help="where",
               aliases=["-endpoints"]),
        Option("--probe", action=FLAG, env="TEST_PROBE", help="probe mode"),
    ])
    health = Command("health", "ask /health", [Group("health", [
        Option("-w", "--warning", convert=parse_range, metavar="RANGE", help="warn"),
        Option("--exclude", action=APPEND, help="alarm to ignore"),
    ])])
    return Parser("check_x", "a test", [common], [health], version="1.0")


@pytest.mark.parametrize("argv", [
    ["health", "-w", "5", "-t", "2"],
    ["-t", "2", "health", "-w5"],
    ["health", "--warning=5", "--timeout=2s"],
    ["-t2", "health", "-w", "5"],
])
def test_spellings(argv):
    args = parser().parse(argv)
    assert args.command == "health" and args.warning == Range.parse("5") and args.timeout == 2


def test_counts_repeats_and_values_that_start_with_a_dash():
    args = parser().parse(["health", "-vvv", "-v", "--exclude", "NOSPACE", "--exclude",
                           "CORRUPT", "-w", "~:-5"])
    assert args.verbose == 4 and args.exclude == ["NOSPACE", "CORRUPT"]
    assert args.warning.match(-6) and not args.warning.match(-4)


def test_environment_fills_what_the_command_line_did_not(monkeypatch):
    monkeypatch.setenv("TEST_ENDPOINTS", "http://a:1, http://b:2")
    monkeypatch.setenv("TEST_PROBE", "yes")
    args = parser().parse(["health"])
    assert args.endpoints == ["http://a:1", "http://b:2"] and args.probe is True
    args = parser().parse(["health", "-endpoints", "http://c:3"])
    assert args.endpoints == ["http://c:3"]
    monkeypatch.setenv("TEST_PROBE", "perhaps")
    with pytest.raises(UsageError, match="environment variable TEST_PROBE"):
        parser().parse(["health"])


@pytest.mark.parametrize(("argv", "message"), [
    ([], "name what to check: health"),
    (["status"], "unknown subcommand 'status'"),
    (["health", "--warnig", "5"], "did you mean --warning?"),
    (["health", "-w"], "-w needs a value"),
    (["health", "-w", "x"], "invalid range 'x'"),
    (["health", "--probe=perhaps"], "--probe=perhaps: write true or false"),
    (["health", "--verbose=2"], "--verbose takes no value"),
    (["health", "extra"], "unexpected argument 'extra'"),
    (["health", "-vx"], "unknown option '-vx'"),
])
def test_mistakes_are_named(argv, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        parser().parse(argv)


@pytest.mark.parametrize(("spelled", "value"), [
    ("--probe=true", True), ("--probe=1", True), ("--probe=T", True),
    ("--probe=false", False), ("--probe=0", False), ("--probe=FALSE", False)])
def test_flags_take_go_booleans_as_grpc_health_probe_manifests_write_them(spelled, value):
    assert parser().parse(["health", spelled]).probe is value


def test_help_lists_every_documented_option():
    with pytest.raises(HelpRequested) as top:
        parser().parse(["--help"])
    assert "health" in str(top.value) and "--endpoints" in str(top.value)
    with pytest.raises(HelpRequested) as sub:
        parser().parse(["health", "-h"])
    text = str(sub.value)
    assert "--exclude EXCLUDE" in text and "env TEST_ENDPOINTS" in text
    # Every page with a range option says in one place how ranges read.
    assert "RANGE is a Nagios range" in " ".join(text.split())
    assert "@10:20 (inside 10..20)" in " ".join(text.split())
    assert "-endpoints" not in text.replace("--endpoints", "")  # aliases stay quiet
