"""check_etcd metrics: the key metrics of etcd, judged from each member's /metrics.

The preset is a list of PromQL expressions with the thresholds the seeds and the
etcd-mixin use (docs/etcd.md, key metrics); it runs on check_metrics' evaluator and
state files, not a second implementation. Every threshold can be changed
(``-w wal_fsync_p99=0.3``) and every item skipped (``--skip peer_rtt_p99``).
"""

from __future__ import annotations

from healthprobes.checks.etcd.connection import Connector
from healthprobes.checks.etcd.judging import error_state, error_text, short_name
from healthprobes.checks.promql.options import judging_options
from healthprobes.checks.runtime.numbers import parse_bytes
from healthprobes.checks.runtime.options import APPEND, Command, Group, Option, UsageError, Values
from healthprobes.checks.runtime.ranges import Range, misordered, parse_range
from healthprobes.checks.runtime.states import OK

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthprobes.checks.runtime.results import Report
    from healthprobes.probes.deadline import Deadline

FAILED_CODES = "Unknown|FailedPrecondition|ResourceExhausted|Internal|Unavailable|DataLoss|" \
               "DeadlineExceeded"


class Item:
    """One preset line: name (perfdata label), expression, default thresholds, unit."""

    def __init__(self, name: str, expr: str, warning: str = "", critical: str = "",
                 uom: str = "", when_empty: str = "", why: str = "") -> None:
        self.name, self.expr, self.uom, self.why = name, expr, uom, why
        self.warning, self.critical, self.when_empty = warning, critical, when_empty


PRESET = [
    Item("has_leader", "etcd_server_has_leader", critical="1:",
         why="no leader: the member cannot serve writes (etcd docs, etcd-mixin)"),
    Item("leader_changes_per_hour", "increase(etcd_server_leader_changes_seen_total[1h])",
         warning="6", critical="100",
         why="Datadog: 6/100 per hour; etcd operators: over 100/h is alarming"),
    Item("proposals_failed_rate", "rate(etcd_server_proposals_failed_total[15m])",
         warning="5", why="mixin: more than 5/s over 15m"),
    Item("proposals_apply_gap",
         "etcd_server_proposals_committed_total - etcd_server_proposals_applied_total",
         warning="1000", critical="5000", why="committed but not applied: a slow apply loop"),
    Item("wal_fsync_p99",
         "histogram_quantile(0.99, rate(etcd_disk_wal_fsync_duration_seconds_bucket[5m]))",
         warning="0.5", critical="1", uom="s", when_empty="no WAL fsync observed yet",
         why="etcd-mixin: 0.5 s warning, 1 s critical"),
    Item("backend_commit_p99",
         "histogram_quantile(0.99, rate(etcd_disk_backend_commit_duration_seconds_bucket[5m]))",
         warning="0.25", uom="s", when_empty="no backend commit observed yet",
         why="mixin: 0.25 s"),
    Item("peer_rtt_p99",
         "histogram_quantile(0.99, sum by (To, le) "
         "(rate(etcd_network_peer_round_trip_time_seconds_bucket[5m])))",
         warning="0.15", uom="s", when_empty="no peers (a single member) or no round trip yet",
         why="etcd-mixin: 0.15 s"),
    Item("grpc_failed_percent",
         f'(sum(rate(grpc_server_handled_total{{grpc_code=~"{FAILED_CODES}"}}[5m])) '
         "or vector(0)) / sum(rate(grpc_server_handled_total[5m])) * 100",
         warning="1", critical="5", uom="%", when_empty="no gRPC requests handled yet",
         why="mixin: 1% warning, 5% critical"),
    Item("db_quota_used_percent",
         "etcd_mvcc_db_total_size_in_bytes / etcd_server_quota_backend_bytes * 100",
         warning="80", critical="95", uom="%",
         why="etcd docs: 80% of the quota; etcd-mixin: 95% critical"),
    Item("db_in_use_ratio",
         "etcd_mvcc_db_total_size_in_use_in_bytes / etcd_mvcc_db_total_size_in_bytes "
         "and on() etcd_mvcc_db_total_size_in_use_in_bytes > {fragmentation_min}",
         warning="0.5:", when_empty="not judged while the data in use is small "
                                    "(--fragmentation-min-bytes)",
         why="mixin: in use below half of the file, above 100 MiB in use: defragment"),
    Item("open_fds_percent", "process_open_fds / process_max_fds * 100",
         warning="80", critical="90", uom="%", why="etcd operators: 80% of the limit"),
    Item("resident_memory", "process_resident_memory_bytes", uom="B",
         why="no default: set -c resident_memory=... below the pod's memory limit"),
    Item("slow_watchers", "etcd_debugging_mvcc_slow_watcher_total",
         why="no default: unsynced watchers that keep growing deserve a look"),
]
NAMES = [item.name for item in PRESET]


def _assignment(text: str) -> tuple[str, Range | None]:
    name, equals, spec = text.partition("=")
    name = name.strip()
    if not equals or name not in NAMES:
        from healthprobes.checks.runtime.states import ValueProblem

        raise ValueProblem(f"write NAME=RANGE with NAME one of {', '.join(NAMES)}")
    return name, parse_range(spec)


def _preset_table() -> str:
    lines = ["preset (name: expression; default warning, critical):"]
    for item in PRESET:
        thresholds = f"w {item.warning or '-'}, c {item.critical or '-'}"
        lines.append(f"  {item.name} [{thresholds}]: {item.why}")
        lines.append(f"      {item.expr}")
    return "\n".join(lines)


EPILOG = _preset_table() + """

  Change a threshold with -w NAME=RANGE or -c NAME=RANGE (an empty RANGE removes it),
  leave an item out with --skip NAME. Rates and quantiles need two runs: the first
  collects a baseline (see check_metrics --help on range functions).

examples:
  check_etcd metrics --endpoints http://127.0.0.1:2381
  check_etcd metrics --endpoints https://10.0.0.1:2379 --cacert ca.pem --cert c.pem \\
      --key c.key -w wal_fsync_p99=0.2 --skip resident_memory
"""


def command() -> Command:
    return Command("metrics", "", [
        Group("preset", [
            Option("-w", "--warning", action=APPEND, convert=_assignment,
                   metavar="NAME=RANGE", help="change an item's warning range; repeatable"),
            Option("-c", "--critical", action=APPEND, convert=_assignment,
                   metavar="NAME=RANGE", help="change an item's critical range; repeatable"),
            Option("--skip", action=APPEND, metavar="NAME",
                   help="leave an item out; repeatable"),
            Option("--fragmentation-min-bytes", convert=parse_bytes, default=100 << 20,
                   metavar="BYTES",
                   help="judge the in-use ratio only above this much data in use "
                        "(default: 100MiB, as the mixin)"),
            Option("--max-bytes", convert=parse_bytes, default=16 << 20, metavar="SIZE",
                   help="largest /metrics answer read (default: 16MiB)"),
        ]),
        judging_options(with_expressions=False),
    ], description="Judge each member's key metrics from its /metrics (kubeadm serves them "
                   "in plain HTTP on 127.0.0.1:2381).", epilog=EPILOG)


def validate(args: Values) -> None:
    unknown = sorted(set(args.skip) - set(NAMES))
    if unknown:
        raise UsageError(f"--skip: unknown item {unknown[0]!r} (choose from {', '.join(NAMES)})")
    args.queries = preset_queries(args)
    if not args.queries:
        raise UsageError("--skip left nothing to check")


def preset_queries(args: Values) -> list:
    from healthprobes.checks.promql.judge import Query

    warnings, criticals = dict(args.warning), dict(args.critical)
    queries = []
    for item in PRESET:
        if item.name in args.skip:
            continue
        warning = warnings[item.name] if item.name in warnings else (
            parse_range(item.warning) if item.warning else None)
        critical = criticals[item.name] if item.name in criticals else (
            parse_range(item.critical) if item.critical else None)
        problem = misordered(warning, critical)
        if problem:
            raise UsageError(f"{item.name}: {problem}")
        expr = item.expr.replace("{fragmentation_min}", str(args.fragmentation_min_bytes))
        queries.append(Query(expr, warning, critical, item.name, item.uom,
                             (OK, item.when_empty) if item.when_empty else None))
    return queries


def run(args: Values, deadline: Deadline) -> Report:
    from healthprobes.checks.promql.history import default_directory
    from healthprobes.checks.promql.judge import Policy, judge, wanted_names
    from healthprobes.checks.runtime.results import Findings, problem_lines
    from healthprobes.probes import exposition
    from healthprobes.probes.parallel import run_all

    connector = Connector(args, deadline)
    names = wanted_names(args.queries)

    def scrape(url):
        import time

        from healthprobes.probes.http import Url

        metrics_url = Url(url.scheme, url.host, url.port, url.prefix + "/metrics", url.text)
        body = exposition.fetch(metrics_url, deadline,
                                connector.tls() if url.scheme == "https" else None,
                                max_bytes=args.max_bytes, client_cert=bool(args.cert),
                                keep=connector.connections)
        return exposition.parse(body, names, str(url)), time.time()

    scrapes = run_all([(str(url), lambda url=url: scrape(url)) for url in args.urls], deadline)
    policy = Policy(args.state_dir or default_directory(), args.max_state_age,
                    args.first_run_state, args.empty_state, args.nan_state,
                    extrapolate=args.extrapolate, memory=getattr(args, "histories", None))
    several = len(args.urls) > 1
    findings = Findings()
    notes: list[str] = []
    waiting = 0
    for url, outcome in zip(args.urls, scrapes, strict=True):
        member = short_name(str(url))
        if isinstance(outcome, BaseException):
            findings.add(error_state(outcome, args.timeout_state), error_text(outcome),
                         name=f"scrape_{member}")
            continue
        found, now = outcome
        member_notes, member_waiting = judge(args.queries, found, now, str(url), policy,
                                             deadline, findings, f"{member}_" if several else "")
        waiting += member_waiting
        notes += [f"{member}: {note}" if several else note for note in member_notes]
    ok = (f"{len(findings.results) - waiting} key metrics OK"
          + (f" on {len(args.urls)} members" if several else "")
          + (f", {waiting} collecting a baseline (judged from the next run)" if waiting else ""))
    return findings.report("etcd_metrics", ",".join(str(url) for url in args.urls), ok,
                           problem_lines(findings.results, args.verbose) + notes)
