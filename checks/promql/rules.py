"""check_metrics --rules: a Prometheus alerting-rules file, evaluated against one scrape.

Firing alerts become states (severity critical: CRITICAL, any other: WARNING); an
alert whose expression has returned its series for less than ``for:`` is pending
(OK, said in the output). The history of when each series began to fire lives in the
same state file as the expression's samples.

A rule written for a Prometheus server may need what one scrape cannot have; it is
then reported as not applicable, saying which: ``up`` (the server's view of its
targets), series of recording rules (``name:with:colons``), series of several
targets (selectors naming different jobs), the ``job``/``instance`` labels a server
adds (pass --scrape-labels), or metrics this target does not expose at all.
"""

from __future__ import annotations

from healthprobes.checks.promql.evaluator import QueryError, metric_names, series_key
from healthprobes.checks.promql.judge import Query, evaluate_with_history
from healthprobes.checks.runtime.numbers import format_number
from healthprobes.checks.runtime.options import UsageError
from healthprobes.checks.runtime.states import CRITICAL, OK, UNKNOWN, WARNING

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthprobes.checks.promql.judge import Policy
    from healthprobes.checks.runtime.results import Findings, Result
    from healthprobes.probes.deadline import Deadline
    from healthprobes.probes.exposition import Exposition

SERVER_ONLY_METRICS = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}


class AlertRule:
    def __init__(self, name: str, expr: str, for_seconds: float, severity: str) -> None:
        self.name, self.expr, self.for_seconds, self.severity = (
            name, expr, for_seconds, severity)
        self.problem: str | None = None  # why it cannot be evaluated here
        self.not_applicable: str | None = None
        try:
            self.query = Query(expr, label=name)
        except QueryError as error:
            self.query = Query("vector(0)", label=name)  # a placeholder never evaluated
            self.problem = str(error)
            return
        self.not_applicable = _needs_a_server(self.query.tree)

    @property
    def state(self) -> int:
        return CRITICAL if self.severity.lower() == "critical" else WARNING


def _selectors(tree) -> list:
    from healthprobes.checks.promql.evaluator import _walk

    return [node for node in _walk(tree) if type(node).__name__ == "VectorSelector"]


def _needs_a_server(tree) -> str | None:
    """Why no direct scrape can answer the expression (from its text alone), or None."""
    names = metric_names(tree) or set()
    needs = sorted(names & SERVER_ONLY_METRICS)
    if needs:
        return f"uses {', '.join(needs)}, which only a Prometheus server scraping many " \
               "targets has"
    recorded = sorted(name for name in names if ":" in name)
    if recorded:
        return (f"needs the recording rules' series {', '.join(recorded)}, which only a "
                "Prometheus server evaluating them has")
    jobs = sorted({matcher.value for selector in _selectors(tree)
                   for matcher in selector.matchers.matchers
                   if matcher.name == "job" and str(matcher.op).endswith(".Equal")})
    if len(jobs) > 1:
        return ("needs series from several targets (" + " and ".join(
            f'job="{job}"' for job in jobs) + ")")
    return None


def _missing_here(rule: AlertRule, scrape: Exposition) -> str | None:
    """Why this scrape cannot answer the rule: none of its metrics are exposed (and it
    does not ask for their absence), or it selects a server-added label the scrape lacks."""
    from healthprobes.checks.promql.evaluator import _matcher, _walk

    tree = rule.query.tree
    names = metric_names(tree)
    if names and not names & set(scrape.samples):
        asks_absence = any(type(node).__name__ == "Call" and node.func.name.startswith("absent")
                           for node in _walk(tree))
        if not asks_absence:
            return (f"none of its metrics ({', '.join(sorted(names)[:3])}"
                    f"{', ...' if len(names) > 3 else ''}) are exposed by this target")
    present = {label for series in scrape.samples.values() for labels in series
               for label, _ in labels}
    for selector in _selectors(tree):
        for matcher in selector.matchers.matchers:
            if matcher.name in ("job", "instance") and matcher.name not in present and \
                    not _matcher(matcher)({}):  # it needs the label to be there
                return (f"selects {matcher}, a label a Prometheus server adds: give it with "
                        f"--scrape-labels {matcher.name}=...")
    return None


RULES_FILE_LIMIT = 16 << 20
MAX_RULES = 5000


def load_rules(path: str) -> list[AlertRule]:
    """Every alerting rule of the file; recording rules are skipped."""
    try:
        import yaml
    except ImportError:  # pragma: no cover - a dependency of the package
        raise UsageError("--rules needs PyYAML (pip install PyYAML)") from None
    from healthprobes.checks.runtime.files import read_user_file

    raw = read_user_file(path, "--rules", RULES_FILE_LIMIT)  # a FIFO, /dev/zero: refused
    try:
        document = yaml.safe_load(raw.decode("utf-8"))
    except RecursionError:
        raise UsageError(f"--rules: {path} nests too deeply to be a rules file") from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UsageError(f"--rules: {path} is not valid YAML ({first})") from None
    groups = document.get("groups") if isinstance(document, dict) else None
    if not isinstance(groups, list):
        raise UsageError(f"--rules: {path} is not a Prometheus rules file (no 'groups' list)")
    rules = []
    for group in groups:
        for rule in (group or {}).get("rules") or []:
            if not isinstance(rule, dict) or "alert" not in rule:
                continue  # a recording rule: nothing to judge
            if not isinstance(rule.get("expr"), (str, int, float)):
                raise UsageError(f"--rules: alert {rule.get('alert')!r} has no expr")
            if len(rules) >= MAX_RULES:  # YAML aliases can repeat one list endlessly
                raise UsageError(f"--rules: {path} holds more than {MAX_RULES} alerting rules")
            labels = rule.get("labels") or {}
            rules.append(AlertRule(str(rule["alert"]), str(rule["expr"]).strip(),
                                   _for_seconds(rule.get("for"), rule["alert"]),
                                   str(labels.get("severity", "warning"))))
    if not rules:
        raise UsageError(f"--rules: {path} holds no alerting rules")
    return rules


def _for_seconds(value: object, alert: object) -> float:
    from healthprobes.checks.runtime.options import parse_duration

    if value in (None, "", 0):
        return 0.0
    try:
        return parse_duration(str(value))
    except ValueError:
        raise UsageError(f"--rules: alert {alert!r} has an invalid for: {value!r}") from None


def judge_rules(rules: list[AlertRule], scrape: Exposition, now: float, target: str,
                policy: Policy, deadline: Deadline, findings: Findings
                ) -> tuple[list[str], list[Result], list[Result]]:
    """Every rule's alerts into ``findings``, then how many fire and are pending.

    Returns notes for the long output, the pending alerts (OK for now, but what a
    reader must not miss) and the two counts' results.
    """
    notes: list[str] = []
    pending: list[Result] = []
    firing = 0
    for rule in rules:
        name = f"alert_{rule.name}"
        if rule.problem:
            findings.add(UNKNOWN, f"{rule.name}: cannot evaluate: {rule.problem}", name)
            continue
        why_not = rule.not_applicable or _missing_here(rule, scrape)
        if why_not:
            notes.append(f"{rule.name}: not applicable to a direct scrape ({why_not})")
            continue
        try:
            vector, evaluation, history = evaluate_with_history(
                f"{target}\nalert {rule.name}\n{rule.expr}", rule.query, scrape, now, policy,
                deadline, keeps_alerts=True)
        except QueryError as error:
            findings.add(UNKNOWN, f"{rule.name}: {error}", name)
            continue
        if history is not None and history.problem:
            notes.append(f"{rule.name}: {history.problem}")
        if not vector:
            baseline = " (collecting a baseline)" if evaluation.short_windows else ""
            if evaluation.missing_history is not None:
                from healthprobes.checks.promql.judge import history_wait

                baseline = f" ({history_wait(evaluation, history)})"
            findings.add(OK, f"{rule.name}: not firing{baseline}", name)
            continue
        since = history.firing_since if history is not None else {}
        for labels, value in vector:
            shown = series_key(labels)
            held = now - since.get(shown, now)
            where = f" {shown}" if shown else ""
            if held >= rule.for_seconds:
                firing += 1
                findings.add(rule.state, f"{rule.name} firing{where}: value "
                                         f"{format_number(value)} ({rule.severity})", name)
            else:
                pending.append(findings.add(OK, f"{rule.name} pending{where} for {held:.0f}s of "
                                                f"{rule.for_seconds:g}s", name))
    counts = [findings.measure("alerts_firing", firing, min=0),
              findings.measure("alerts_pending", len(pending), min=0)]
    return notes, pending, counts
