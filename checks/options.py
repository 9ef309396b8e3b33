"""Option conventions every check shares (Monitoring Plugins guidelines plus collectors)."""

import argparse
import os
import re

from checks import __version__
from checks.output import FORMATS
from checks.thresholds import Critical, parse_state

ENV_FORMAT = "HEALTHPROBES_FORMAT"
ENV_PROBE = "HEALTHPROBES_PROBE"
TRUE_WORDS = ("1", "true", "yes", "on")


class UsageError(Exception):
    """Bad options: reported as UNKNOWN (3) with the usage, never argparse's exit 2."""


class CheckArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)?")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
                 "h": 3600.0, None: 1.0}


def parse_duration(text: str) -> float:
    """Seconds from ``10``, ``2.5``, ``250ms``, ``1m30s`` (Go's forms, as grpc-health-probe)."""
    text = text.strip()
    position, total, parts = 0, 0.0, 0
    while position < len(text):
        match = _DURATION_PART.match(text, position)
        if not match or (match.group(2) is None and parts):
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position, parts = match.end(), parts + 1
    if not parts or position != len(text) or total <= 0:
        raise argparse.ArgumentTypeError(
            f"invalid duration {text!r}: write seconds (10, 2.5) or Go form (250ms, 1m30s)")
    return total


def build_parser(prog: str, description: str, epilog: str = "") -> CheckArgumentParser:
    parser = CheckArgumentParser(
        prog=prog, description=description, epilog=epilog, allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    common = parser.add_argument_group("common options (every healthprobes check)")
    common.add_argument("-V", "--version", action="version",
                        version=f"{prog} (healthprobes) {__version__}")
    common.add_argument("-v", "--verbose", action="count", default=0,
                        help="more detail in the long output; -vvv adds internal tracebacks")
    common.add_argument("-t", "--timeout", type=parse_duration, default=10.0, metavar="SECONDS",
                        help="deadline for the whole run: resolving, connecting, TLS, calls and "
                             "output (default: %(default)ss)")
    common.add_argument("--timeout-state", type=parse_state, default=Critical, metavar="STATE",
                        help="state when the target cannot be reached or does not answer in "
                             "time: ok, warning, critical (default) or unknown")
    common.add_argument("--format", choices=FORMATS, default=_env_format(),
                        help="nagios (default): status line, perfdata, long output; json: one "
                             "object for scripts; influx, prometheus: for Telegraf/Categraf, "
                             f"always exit 0 and state as a metric (env: {ENV_FORMAT})")
    common.add_argument("--probe", action="store_true", default=_env_probe(),
                        help="Kubernetes exec probe mode: exit 0 for OK and WARNING, 1 for "
                             "CRITICAL and UNKNOWN, one short line of output (env: "
                             f"{ENV_PROBE}=1)")
    return parser


def _env_format() -> str:
    value = os.environ.get(ENV_FORMAT, "nagios").strip().lower()
    return value if value in FORMATS else "nagios"


def _env_probe() -> bool:
    return os.environ.get(ENV_PROBE, "").strip().lower() in TRUE_WORDS


def sniff_output_mode(argv: list[str]) -> tuple[str, bool]:
    """Format and probe mode from raw arguments, for reporting a usage error in kind."""
    fmt, probe = _env_format(), _env_probe()
    for index, arg in enumerate(argv):
        if arg in ("--format", "-format") and index + 1 < len(argv):
            fmt = argv[index + 1]
        elif arg.startswith(("--format=", "-format=")):
            fmt = arg.split("=", 1)[1]
        elif arg in ("--probe", "-probe"):
            probe = True
    return (fmt if fmt in FORMATS else "nagios"), probe
