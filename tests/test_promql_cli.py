"""check_metrics --extrapolate through the installed executable, against a
recorded-answer stand-in whose counter reads 10, then 40 (no exporter runs here)."""

from __future__ import annotations

from servers.http_standin import standin
from tests.conftest import run_command


def alternating_counter():
    calls = []

    def route(path: str, query: str):
        calls.append(path)
        value = 10 if len(calls) % 2 else 40
        return 200, {"Content-Type": "text/plain"}, f"c_total {value}\n".encode()
    return route


def test_extrapolate_gives_prometheus_increase(tmp_path):
    expr = ["--expr", "increase(c_total[5m])", "--label", "inc"]
    with standin({"/metrics": alternating_counter()}) as (base, _):
        plain = [run_command("check_metrics", "--url", base + "/metrics", *expr,
                             "--state-dir", str(tmp_path / "plain")) for _ in range(2)]
        stretched = [run_command("check_metrics", "--url", base + "/metrics", *expr,
                                 "--extrapolate", "--state-dir", str(tmp_path / "extra"))
                     for _ in range(2)]
    assert "collecting a baseline" in plain[0].first_line
    # Default: the change between the two stored samples, 40 - 10.
    assert plain[1].first_line.endswith("| inc=30"), plain[1].out
    # Prometheus: two samples dt apart in a 5 minute window; the start is stretched by
    # at most dt/2, and a counter not below zero: it was 0 dt*10/30 before the first
    # sample, so dt/3. Increase 30 * (dt + dt/3) / dt = 40, whatever dt is.
    assert stretched[1].first_line.endswith("| inc=40"), stretched[1].out


def test_help_says_which_rate_is_which():
    text = run_command("check_metrics", "--help").out
    assert "--extrapolate" in text and "Nothing is extrapolated" in text
