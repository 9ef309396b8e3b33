"""Judging PromQL expressions against one scrape: shared by check_metrics and
``check_etcd metrics`` (one evaluator, one state policy, one way of wording results).

Each expression keeps its own history file when it has range selectors (key: target
and expression), so two checks never share, and corrupt, one another's history.
"""

from __future__ import annotations

from healthprobes.checks.promql.evaluator import (
    Evaluation,
    metric_names,
    needs_history,
    parse,
    range_windows,
    series_key,
)
from healthprobes.checks.runtime.states import OK, UNKNOWN

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthprobes.checks.runtime.ranges import Range
    from healthprobes.checks.runtime.results import Findings
    from healthprobes.probes.deadline import Deadline
    from healthprobes.probes.exposition import Exposition


class Query:
    """One expression with its thresholds and the label its perfdata carries."""

    def __init__(self, expr: str, warning: Range | None = None, critical: Range | None = None,
                 label: str | None = None, uom: str = "",
                 when_empty: tuple[int, str] | None = None) -> None:
        self.expr, self.warning, self.critical, self.uom = expr, warning, critical, uom
        self.when_empty = when_empty  # (state, meaning) where no series is a normal answer
        self.tree = parse(expr)  # raises QueryError: an invalid expression is a usage error
        self.label = label or default_label(self.tree)
        self.windows = range_windows(self.tree)
        self.needs_history = needs_history(self.tree)  # range, offset, @, subquery


class Policy:
    """What to say when an expression cannot be judged yet, or has nothing to judge."""

    def __init__(self, state_dir: str, max_state_age: float, first_run_state: int = OK,
                 empty_state: int | None = None, nan_state: int = OK,
                 extrapolate: bool = False, memory=None) -> None:
        self.state_dir, self.max_state_age = state_dir, max_state_age
        # A resident caller's in-memory histories (history.MemoryHistories): used instead
        # of state files when it gives them.
        self.memory = memory
        self.first_run_state, self.empty_state, self.nan_state = (
            first_run_state, empty_state, nan_state)
        self.extrapolate = extrapolate  # rate/increase/delta as Prometheus extrapolates them


def default_label(tree) -> str:
    """A perfdata label from the expression: its outer function and first metric name."""
    names = sorted(metric_names(tree) or [])
    base = names[0] if names else "value"
    kind = type(tree).__name__
    if kind == "Call":
        if tree.func.name == "histogram_quantile":
            base = base.removesuffix("_bucket")
        return f"{tree.func.name}_{base}"
    if kind == "AggregateExpr":
        return f"{tree.op}_{base}"
    return base


def wanted_names(queries: list[Query]) -> set[str] | None:
    """The metric names to parse from the scrape (None: all of them); called just
    before scraping."""
    names: set[str] = set()
    for query in queries:
        found = metric_names(query.tree)
        if found is None:
            return None
        names |= found
    return names


def series_label(label: str, labels: tuple[tuple[str, str], ...], alone: bool) -> str:
    """``label`` for the only series, else ``label_value1_value2`` for each of several."""
    values = [value for name, value in labels if name != "__name__"]
    if alone or not values:
        return label
    return "_".join([label, *values])


def evaluate_with_history(identity: str, query: Query, scrape: Exposition, now: float,
                          policy: Policy, deadline: Deadline, keeps_alerts: bool = False):
    """Evaluate one expression with its history: loaded, extended and saved under lock.

    Returns (vector, evaluation, history); history is None for an expression that
    needs none. With ``keeps_alerts``, the history also records since when each
    returned series has been returned (an alert's ``for:``).
    """
    from healthprobes.checks.promql.history import StateFile

    if not query.needs_history and not keeps_alerts:
        evaluation = Evaluation(scrape, now, extrapolate=policy.extrapolate)
        return evaluation.run(query.tree), evaluation, None
    state = (StateFile(policy.state_dir, identity) if policy.memory is None
             else policy.memory.state(identity))
    state.lock(deadline)
    try:
        history = state.load(now, policy.max_state_age)
        evaluation = Evaluation(scrape, now, history.series, history.runs,
                                history.complete_since, extrapolate=policy.extrapolate)
        vector = evaluation.run(query.tree)
        keep = now - evaluation.oldest_time(query.tree) if query.needs_history else 0.0
        history.add(evaluation.recorded if query.needs_history else {}, now, keep)
        if keeps_alerts:
            active = {series_key(labels) for labels, _ in vector}
            history.firing_since = {key: history.firing_since.get(key, now) for key in active}
        state.save(history, now)
    finally:
        state.unlock()
    return vector, evaluation, history


def judge(queries: list[Query], scrape: Exposition, now: float, target: str, policy: Policy,
          deadline: Deadline, findings: Findings, prefix: str = "") -> tuple[list[str], int]:
    """Judge every series every expression returned into ``findings`` (names after
    ``prefix``); returns notes for the long output and how many expressions are still
    collecting a baseline."""
    notes: list[str] = []
    waiting = 0
    for query in queries:
        vector, evaluation, history = evaluate_with_history(
            f"{target}\n{query.expr}", query, scrape, now, policy, deadline)
        if history is not None and history.problem:
            notes.append(f"{query.label}: {history.problem}")
        notes += [f"{query.label}: {note}" for note in dict.fromkeys(evaluation.notes)]
        if not vector:
            waiting += bool(evaluation.short_windows or evaluation.missing_history)
            findings.add(*_nothing(query, evaluation, history, policy), name=prefix + query.label)
            continue
        for labels, value in vector:
            findings.measure(prefix + series_label(query.label, labels, len(vector) == 1),
                             value, query.uom, query.warning, query.critical,
                             nan_state=policy.nan_state)
    return notes, waiting


def _nothing(query: Query, evaluation: Evaluation, history, policy: Policy) -> tuple[int, str]:
    """The verdict for an expression that returned no series: baseline, or empty."""
    if evaluation.missing_history is not None:
        return policy.first_run_state, f"{query.label}: {history_wait(evaluation, history)}"
    if evaluation.short_windows:
        window = max(query.windows)
        if history is None or history.fresh:
            return (policy.first_run_state,
                    f"{query.label}: collecting a baseline (the {window:g}s window needs a "
                    "second sample; the next run judges)")
        return (policy.first_run_state,
                f"{query.label}: no earlier sample inside the {window:g}s window yet "
                f"({len(evaluation.short_windows)} series); runs must come more often than "
                "the window")
    if query.when_empty is not None:
        state, meaning = query.when_empty
        return state, f"{query.label}: {meaning}"
    if policy.empty_state is None and is_condition(query.tree):
        # An alert rule reads "nothing returned" as "the condition does not hold".
        return OK, f"{query.label}: {query.expr}: not true (no series returned)"
    state = UNKNOWN if policy.empty_state is None else policy.empty_state
    return state, f"{query.label}: {query.expr} returned no series"


def is_condition(tree) -> bool:
    """An expression that filters, as alert rules are written: a comparison without
    ``bool`` (``x == 0``), ``and``/``unless``, or absent(); empty means "not true"."""
    from healthprobes.checks.promql.binary import COMPARISONS

    while type(tree).__name__ == "ParenExpr":
        tree = tree.expr
    kind = type(tree).__name__
    if kind == "BinaryExpr":
        operator = str(tree.op)
        if operator in ("and", "unless"):
            return True
        modifier = tree.modifier
        return operator in COMPARISONS and not (modifier is not None and modifier.return_bool)
    return kind == "Call" and tree.func.name in ("absent", "absent_over_time")


def history_wait(evaluation: Evaluation, history) -> str:
    """Why an expression reading older samples (offset, @, a subquery) has no answer."""
    held = 0.0
    if history is not None and not history.fresh and history.complete_since is not None:
        held = max(0.0, evaluation.now - history.complete_since)
    return (f"not enough history yet: the expression reads samples from "
            f"{evaluation.missing_history:.0f}s ago, the history holds {held:.0f}s "
            "(the next runs collect it)")
