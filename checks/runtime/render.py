"""Printing a Report: Nagios plugin text, JSON, influx line protocol, Prometheus text."""

from __future__ import annotations

from healthprobes.checks.runtime.numbers import format_number, is_finite
from healthprobes.checks.runtime.perfdata import clean_label, render_all
from healthprobes.checks.runtime.states import state_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthprobes.checks.runtime.results import Report

FORMATS = ("nagios", "json", "influx", "prometheus")
COLLECTOR_FORMATS = ("influx", "prometheus")  # Categraf: exit 0, state as a metric

NAGIOS_OUTPUT_LIMIT = 8000  # Nagios 4 cuts plugin output at 8 KB
PROBE_OUTPUT_LIMIT = 1024  # the kubelet keeps 10 KB; one line is what an event needs


def render(report: Report, fmt: str, probe: bool = False) -> str:
    if fmt == "json":
        return render_json(report)
    if fmt == "influx":
        return render_influx(report)
    if fmt == "prometheus":
        return render_prometheus(report)
    return render_nagios(report, probe)


def _one_line(text: str) -> str:
    # '|' starts perfdata for every Nagios parser; a newline ends the status line.
    return " ".join(text.replace("|", "/").split())


def render_nagios(report: Report, probe: bool = False) -> str:
    status = f"{report.check.upper()} {state_name(report.state)}"
    if report.summary:
        status += f" - {_one_line(report.summary)}"
    perfdata = render_all(report.perfdata)
    if perfdata:
        status += f" | {perfdata}"
    if probe:
        return status[:PROBE_OUTPUT_LIMIT] + "\n"
    lines = [status]
    size = len(status)
    for index, line in enumerate(report.details):
        line = line.replace("|", "/")
        if size + len(line) + 1 > NAGIOS_OUTPUT_LIMIT - 40:
            lines.append(f"... {len(report.details) - index} more lines left out")
            break
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines) + "\n"


def _result_rows(report: Report) -> list[tuple[str, str, int, str]]:
    return [(result.name or report.check, state_name(result.state), result.state, result.text)
            for result in report.results]


def _json_text(value: object) -> str:
    """JSON for the few kinds a report holds, without the json package.

    json imports re and its decoder, about 14 ms: most of a check's own run. The string
    escaping is json's own C function, so the text is what json.dumps would write.
    """
    from _json import encode_basestring_ascii  # C, already loaded by the etcd probes

    if isinstance(value, str):
        return encode_basestring_ascii(value)
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, float):
        # NaN and infinities are not JSON (RFC 8259 section 6): json.dumps would write
        # NaN, which strict readers such as Go's encoding/json refuse. null instead, as
        # render_json writes a missing number; float.__repr__ is json's spelling.
        return float.__repr__(value) if is_finite(value) else "null"
    if isinstance(value, int):
        return int.__repr__(value)  # as json: the number, even for an int subclass
    if isinstance(value, dict):
        return "{" + ", ".join(f"{encode_basestring_ascii(str(key))}: {_json_text(item)}"
                               for key, item in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_json_text(item) for item in value) + "]"
    raise TypeError(f"no JSON form for {type(value).__name__}")


def render_json(report: Report) -> str:
    document = {
        "check": report.check,
        "target": report.target,
        "state": state_name(report.state),
        "state_code": report.state,
        "summary": report.summary,
        "details": report.details,
        "results": [{"name": name, "state": state, "state_code": code, "text": text}
                    for name, state, code, text in _result_rows(report)],
        "perfdata": [{
            "label": clean_label(perf.label),
            "value": perf.value if is_finite(perf.value) else None,
            "uom": perf.uom or "",
            "warn": perf.warn.plain() if perf.warn is not None else "",
            "crit": perf.crit.plain() if perf.crit is not None else "",
            "min": perf.min if is_finite(perf.min) else None,
            "max": perf.max if is_finite(perf.max) else None,
        } for perf in report.perfdata],
    }
    return _json_text(document) + "\n"


def _influx_tag(text: str) -> str:
    return text.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def _influx_string(text: str) -> str:
    return '"' + _one_line(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _influx_tags(pairs: dict[str, str]) -> str:
    # An empty tag value is invalid line protocol: leave such tags out.
    return "".join(f",{key}={_influx_tag(value)}" for key, value in pairs.items() if value)


def render_influx(report: Report) -> str:
    base = {"check": report.check, "target": report.target}
    lines = [f"healthprobes{_influx_tags(base)} state={report.state}i,"
             f"state_text={_influx_string(state_name(report.state))},"
             f"summary={_influx_string(report.summary)}"]
    for name, _, code, _ in _result_rows(report):
        lines.append(f"healthprobes_result{_influx_tags({**base, 'item': name})} state={code}i")
    for perf in report.perfdata:
        if not is_finite(perf.value):
            continue  # line protocol has no NaN or infinity
        tags = _influx_tags({**base, "label": clean_label(perf.label), "uom": perf.uom or ""})
        fields = [f"value={format_number(float(perf.value))}"]
        for key, threshold in (("warn", perf.warn), ("crit", perf.crit)):
            if threshold is not None:
                fields.append(f"{key}={_influx_string(threshold.plain())}")
        lines.append(f"healthprobes_perfdata{tags} {','.join(fields)}")
    return "\n".join(lines) + "\n"


def _prom_value(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    return format_number(value)


def _prom_labels(pairs: dict[str, str]) -> str:
    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return "{" + ",".join(f'{key}="{escape(value)}"' for key, value in pairs.items()) + "}"


def render_prometheus(report: Report) -> str:
    base = {"check": report.check, "target": report.target}
    lines = [
        "# HELP healthprobes_state Check state: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
        "# TYPE healthprobes_state gauge",
        f"healthprobes_state{_prom_labels(base)} {report.state}",
        "# HELP healthprobes_result_state State of each item the check judged.",
        "# TYPE healthprobes_result_state gauge",
    ]
    lines += [f"healthprobes_result_state{_prom_labels({**base, 'item': name})} {code}"
              for name, _, code, _ in _result_rows(report)]
    if report.perfdata:
        lines += ["# HELP healthprobes_perfdata Performance data of the check, by label and unit.",
                  "# TYPE healthprobes_perfdata gauge"]
        seen: set[str] = set()
        for perf in report.perfdata:
            labels = _prom_labels({**base, "label": clean_label(perf.label),
                                   "uom": perf.uom or ""})
            if labels not in seen:  # a repeated series would make the whole scrape invalid
                seen.add(labels)
                lines.append(f"healthprobes_perfdata{labels} {_prom_value(float(perf.value))}")
    return "\n".join(lines) + "\n"
