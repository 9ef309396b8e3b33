"""check_metrics: judge PromQL expressions over a Prometheus text endpoint, no server needed.

Scrape one target (etcd's /metrics first, any exporter after), evaluate each --expr
against its warning/critical ranges, or every alert of a --rules file, and keep the
history range functions need in a state file between runs.
"""

from __future__ import annotations

import sys

from healthprobes.checks.promql.options import judging_options
from healthprobes.checks.runtime.executable import main as run_main
from healthprobes.checks.runtime.expiry import expiry_options
from healthprobes.checks.runtime.numbers import parse_bytes
from healthprobes.checks.runtime.options import (
    FLAG,
    Group,
    Option,
    UsageError,
    Values,
)
from healthprobes.checks.runtime.program import CheckProgram
from healthprobes.checks.runtime.ranges import misordered

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthprobes.checks.runtime.results import Report
    from healthprobes.probes.deadline import Deadline

EPILOG = """\
expressions:
  Each -w, -c, --label and --uom belongs to the --expr before it (with a single
  --expr, anywhere). Every series an expression returns is judged and reported; the
  worst state wins and the status line names the worst series.
  PromQL is evaluated with Prometheus' semantics as an instant query at the time of
  the scrape: every stable function, aggregation and operator over float samples
  (topk, quantile, count_values, label_replace, predict_linear, the *_over_time and
  date functions, on/ignoring/group_left/group_right/bool/fill, atan2 ...); label
  regexes are RE2, fully anchored. Native-histogram functions, info(), limit_ratio and
  negative @ times are UNKNOWN ("unsupported PromQL: ..."). An expression over 16384
  characters, 64 levels of nesting or 200 operators is refused before parsing.

range functions and history:
  rate(x[5m]), offset, @ and subqueries need earlier samples: they are kept in a state
  file per target and expression (--state-dir); each run is a scrape, and a series
  missing from a run is stale from then on. The first run only collects a baseline
  (OK, or --first-run-state); an expression reading back further than the history
  reaches says "not enough history yet". Run the check more often than the window, or
  the window holds one sample.
  Default: rate is the per-second increase between the oldest and the newest sample
  inside the window, corrected for counter resets; increase and delta are that change,
  not divided. Nothing is extrapolated to the window's edges: a check run every minute
  or two has too few samples for that to be right.
  --extrapolate: rate, increase and delta exactly as Prometheus computes them
  (extrapolated to the window's edges), to compare with dashboards.

rules:
  --rules FILE evaluates every alerting rule of a Prometheus rules file: a firing
  alert with severity critical is CRITICAL, any other WARNING; 'for:' is honoured
  through the state file (pending until then). A rule one scrape cannot answer is
  reported as not applicable, saying why: it uses 'up', recording rules' series or
  series of several jobs, selects a job/instance label a server adds (see
  --scrape-labels), or none of its metrics are exposed.

exit codes:
  0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (also for invalid arguments and
  unsupported expressions). --probe: 0 for OK and WARNING, 1 otherwise.
  --format influx|prometheus: always 0.

examples:
  check_metrics --url http://127.0.0.1:2381/metrics --expr etcd_server_has_leader -c 1:
  check_metrics --url http://e1:2381/metrics \\
      --expr 'histogram_quantile(0.99, rate(etcd_disk_wal_fsync_duration_seconds_bucket[5m]))' \\
      -w 0.5 -c 1 --label wal_fsync_p99 --uom s
  check_metrics --url https://api:6443/metrics --bearer-token-file /var/run/secrets/token \\
      --cacert ca.crt --rules apiserver-alerts.yml
"""


def scrape_options() -> Group:
    """TLS and authentication for a scrape; check_etcd metrics uses its own flags."""
    return Group("scrape target", [
        Option("--url", env="HEALTHPROBES_METRICS_URL", metavar="URL",
               help="the metrics endpoint, e.g. http://127.0.0.1:2381/metrics"),
        Option("--cacert", metavar="FILE",
               help="CA certificates to verify an https target with (default: the system's)"),
        Option("--cert", metavar="FILE", help="client certificate, for targets demanding one"),
        Option("--key", metavar="FILE", help="the client certificate's key"),
        Option("--insecure-skip-tls-verify", action=FLAG,
               help="do not verify the target's certificate (testing only)"),
        Option("--bearer-token-file", metavar="FILE",
               help="send 'Authorization: Bearer' with the token in this file (a "
                    "Kubernetes service account token, say); never printed"),
        Option("--user", metavar="NAME", help="user for HTTP basic authentication"),
        Option("--password-file", metavar="FILE",
               help="file whose first line is the basic-auth password (or set "
                    "HEALTHPROBES_PASSWORD); never printed"),
        Option("--max-bytes", convert=parse_bytes, default=64 << 20, metavar="SIZE",
               help="largest answer read, after gzip decoding (default: 64MiB)"),
        Option("--scrape-labels", metavar="NAME=VALUE,...", default="",
               help="labels added to every scraped series, as a Prometheus server adds "
                    "job and instance: lets rules that select {job=~\"etcd\"} match"),
        *expiry_options(what="certificate the https target or --cert presents"),
    ])


def validate(args: Values) -> None:
    if not args.url:
        raise UsageError("--url is required (or HEALTHPROBES_METRICS_URL)")
    validate_scrape(args, args.url)
    if not args.expr and not args.rules:
        raise UsageError("give at least one --expr, or --rules FILE")
    args.queries = bind_queries(args)
    if args.rules:
        from healthprobes.checks.promql.rules import load_rules

        args.alert_rules = load_rules(args.rules)


def validate_scrape(args: Values, url_text: str) -> None:
    """URL, TLS pairs, secrets and scrape labels, checked before anything is asked."""
    import os

    from healthprobes.probes.http import parse_url

    try:
        args.target_url = parse_url(url_text)
    except ValueError as error:
        raise UsageError(f"--url: {error}") from None
    if bool(args.cert) != bool(args.key):
        raise UsageError("--cert and --key go together")
    headers = {}
    if args.bearer_token_file:
        from healthprobes.checks.runtime.secrets import remember

        token = _first_line(args.bearer_token_file, "--bearer-token-file")
        remember(args, token)
        headers["Authorization"] = f"Bearer {token}"
    if args.user:
        if args.password_file:
            password = _first_line(args.password_file, "--password-file")
        else:
            password = os.environ.get("HEALTHPROBES_PASSWORD", "")
        if not password:
            raise UsageError(f"no password for user {args.user!r}: give --password-file "
                             "or set HEALTHPROBES_PASSWORD")
        import base64

        from healthprobes.checks.runtime.secrets import remember

        pair = base64.b64encode(f"{args.user}:{password}".encode()).decode()
        remember(args, password, pair)
        headers["Authorization"] = f"Basic {pair}"
    elif args.password_file:
        raise UsageError("--password-file needs --user")
    args.scrape_headers = headers
    args.extra_labels = _label_pairs(args.scrape_labels)


def _first_line(path: str, option: str) -> str:
    from healthprobes.checks.runtime.secrets import read_first_line

    text = read_first_line(path, option).strip()
    if not text:
        raise UsageError(f"{option}: {path} is empty")
    return text


def _label_pairs(text: str) -> tuple[tuple[str, str], ...]:
    pairs = {}
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        name, equals, value = part.partition("=")
        if not equals or not name.strip():
            raise UsageError(f"--scrape-labels: write name=value, not {part!r}")
        pairs[name.strip()] = value.strip()
    return tuple(sorted(pairs.items()))


def bind_queries(args: Values) -> list:
    """Each -w/-c/--label/--uom to the --expr before it; anywhere with a single --expr."""
    from healthprobes.checks.promql.evaluator import QueryError
    from healthprobes.checks.promql.judge import Query

    bound: list[dict] = []
    pending: dict = {}
    for dest, value in args.appended_in_order:
        if dest == "expr":
            bound.append({"expr": value})
        elif dest in ("warning", "critical", "label", "uom"):
            target = bound[-1] if bound else pending
            if dest in target:
                raise UsageError(f"two --{dest} for one --expr")
            target[dest] = value
    if pending:
        if len(bound) != 1:
            raise UsageError("with several --expr, put -w/-c/--label/--uom after the --expr "
                             "they belong to")
        for dest, value in pending.items():
            if dest in bound[0]:
                raise UsageError(f"two --{dest} for one --expr")
            bound[0][dest] = value
    queries = []
    for fields in bound:
        problem = misordered(fields.get("warning"), fields.get("critical"))
        if problem:
            raise UsageError(f"--expr {fields['expr']!r}: -w/-c: {problem}")
        try:
            queries.append(Query(fields["expr"], fields.get("warning"), fields.get("critical"),
                                 fields.get("label"), fields.get("uom", "")))
        except QueryError as error:
            raise UsageError(f"--expr: {error}") from None
    return queries


def scrape(args: Values, deadline: Deadline, names: set[str] | None, tls_context=None,
           keep: list | None = None):
    """Fetch and parse the target; returns the exposition and the scrape's time.
    ``keep`` receives the connection (its handshake's certificates)."""
    import time

    from healthprobes.probes import exposition

    # A resident caller's kept-alive connection to the target, when it has one idle.
    kept = getattr(args, "kept", None)
    key = ("metrics", str(args.target_url))
    connection = kept.take(key) if kept is not None else None
    if tls_context is None and connection is None and args.target_url.scheme == "https":
        from healthprobes.probes.tls import client_context

        tls_context = client_context(args.cacert, args.cert, args.key,
                                     verify=not args.insecure_skip_tls_verify)
    if kept is not None and connection is None:
        from healthprobes.probes.http import Connection

        connection = Connection(args.target_url, deadline, tls_context,
                                max_body=args.max_bytes, client_cert=bool(args.cert))
    try:
        body = exposition.fetch(args.target_url, deadline, tls_context, args.scrape_headers,
                                args.max_bytes, client_cert=bool(args.cert), keep=keep,
                                connection=connection)
    except BaseException:
        if connection is not None:
            connection.close()
        raise
    if connection is not None:  # the answer was whole: the connection can ask again
        kept.give_back(key, connection)  # type: ignore[union-attr]
    now = time.time()
    found = exposition.parse(body, names, str(args.target_url))
    if args.extra_labels:
        found.add_labels(args.extra_labels)
    return found, now


def run(args: Values, deadline: Deadline) -> Report:
    from healthprobes.checks.promql.history import default_directory
    from healthprobes.checks.promql.judge import Policy, judge, wanted_names
    from healthprobes.checks.runtime.results import Findings, problem_lines

    policy = Policy(args.state_dir or default_directory(), args.max_state_age,
                    args.first_run_state, args.empty_state, args.nan_state,
                    extrapolate=args.extrapolate, memory=getattr(args, "histories", None))
    rules = getattr(args, "alert_rules", None) or []
    names = wanted_names(args.queries + [rule.query for rule in rules])
    connections: list = []
    found, now = scrape(args, deadline, names, keep=connections)
    target = str(args.target_url)
    findings = Findings()
    notes, _ = judge(args.queries, found, now, target, policy, deadline, findings)
    pending, counts = [], []
    if rules:
        from healthprobes.checks.promql.rules import judge_rules

        rule_notes, pending, counts = judge_rules(rules, found, now, target, policy, deadline,
                                                  findings)
        notes += rule_notes
    if found.duplicates:
        notes.append(f"{len(found.duplicates)} duplicate series ignored (the first one "
                     f"counts): {', '.join(found.duplicates[:3])}")
    texts = [result.text for result in findings.results if result not in counts]
    more = len(texts) - 3
    ok = "; ".join(texts[:3]) + (f" (+{more} more OK)" if more > 0 else "")
    details = problem_lines(findings.results, args.verbose)
    # A pending alert is OK for now, but the one thing a reader must not miss.
    details += [f"OK: {result.text}" for result in pending if f"OK: {result.text}" not in details]
    report = findings.report("metrics", target, ok, details + notes)
    if args.target_url.scheme != "https":
        return report
    from healthprobes.checks.runtime.expiry import add_to_report, connection_certificates

    presented = [("", connection.peer_certificates) for connection in connections]
    return add_to_report(report, args, connection_certificates(presented, args.cert))


PROGRAM = CheckProgram(
    name="metrics",
    prog="check_metrics",
    description="Judge PromQL expressions, or a rules file's alerts, over one Prometheus "
                "text endpoint: values, rates and histogram quantiles against Nagios ranges.",
    groups=[scrape_options(), judging_options(with_expressions=True)],
    validate=validate,
    run=run,
    target=lambda args: str(args.target_url),
    epilog=EPILOG,
)


def main(argv: list[str] | None = None) -> None:
    run_main(PROGRAM, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
