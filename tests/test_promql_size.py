"""Huge expressions end quickly as usage errors, through the installed executables:
the parser (native code) would take seconds on thousands of operators and crash the
process on thousands of parentheses, beyond the reach of any timeout, so the text is
measured before it is parsed. The target is a recorded-answer stand-in (any /metrics
will do: the expression is refused before a scrape)."""

from __future__ import annotations

import pytest

from servers.http_standin import fixed, standin
from tests.conftest import run_command

HUGE = {
    "1000 terms": "+".join(["up"] * 1000),
    "3000 parentheses": "(" * 3000 + "up" + ")" * 3000,
    "10000 parentheses": "(" * 10000 + "up" + ")" * 10000,
    "100 KB": "up" + " " * 100_000,
}


@pytest.fixture(scope="module")
def target():
    with standin({"/metrics": fixed(200, b"up 1\ng 2\n", "text/plain")}) as (base, _):
        yield base + "/metrics"


@pytest.mark.parametrize("size", list(HUGE))
def test_a_huge_expression_is_a_usage_error_inside_the_timeout(size, target):
    run = run_command("check_metrics", "--url", target, "--expr", HUGE[size], "-t", "3")
    assert run.code == 3, run.out
    assert run.first_line.startswith("METRICS UNKNOWN - invalid arguments: --expr: the "
                                     "expression"), run.first_line
    assert "at most" in run.first_line and len(run.out.splitlines()) <= 3
    assert run.err == "" and "Traceback" not in run.out
    assert run.seconds < 3


def test_in_a_rules_file_only_that_rule_is_unknown(target, tmp_path):
    rules = tmp_path / "rules.yml"
    rules.write_text(f"""groups:
  - name: sizes
    rules:
      - alert: Deep
        expr: '{HUGE["3000 parentheses"]}'
      - alert: Long
        expr: '{HUGE["1000 terms"]} > 0'
      - alert: Fine
        expr: g > 100
""")
    run = run_command("check_metrics", "--url", target, "--rules", str(rules), "-t", "3",
                      "--state-dir", str(tmp_path), "-v")
    assert run.code == 3, run.out
    assert "Deep: cannot evaluate: the expression nests 3000 levels deep" in run.out
    assert "Long: cannot evaluate: the expression has 1000 operators" in run.out
    assert "Fine: not firing" in run.out
    assert run.err == "" and "Traceback" not in run.out and run.seconds < 3
