"""Certificate expiry in one vocabulary for every check: the options, the judging, the words.

``--cert-expiry-warning DAYS`` / ``--cert-expiry-critical DAYS`` take plain days, the
common form, meaning "alert when fewer days are left" (``30`` is the Nagios range
``30:``); anything else that is a Nagios range (``10:``, ``@0:30``, ``~:400``) is read
as one. Without thresholds the days are reported and not judged, except that a
certificate that has already expired, or is not valid yet, is CRITICAL: a peer refuses
it whatever the thresholds say.
"""

from __future__ import annotations

# Only what every check has loaded already: connecting checks declare these options on
# their common path (plain http included), so ranges and results wait for a value.
from healthprobes.checks.runtime.options import Option
from healthprobes.checks.runtime.states import CRITICAL

TYPE_CHECKING = False
if TYPE_CHECKING:
    import datetime

    from healthprobes.checks.runtime.options import Values
    from healthprobes.checks.runtime.ranges import Range
    from healthprobes.checks.runtime.results import Findings, Report
    from healthprobes.probes.certificates import CertificateFacts

DAY = 86400.0


def parse_days(text: str) -> Range | None:
    """An option converter: plain days mean "fewer than this alerts" (``30`` → ``30:``);
    a Nagios range is taken as written; an empty value means no threshold."""
    from healthprobes.checks.runtime.ranges import INF, Range, parse_range

    plain = text.strip()
    try:
        days = float(plain)
    except ValueError:
        return parse_range(text)
    if days != days or days in (INF, -INF):
        return parse_range(text)  # words the error
    return Range(int(days) if days == int(days) else days, INF)


def expiry_options(warning_default: str = "", critical_default: str = "",
                   what: str = "certificate") -> list[Option]:
    """The two threshold options; defaults (plain days) are shown in --help."""
    def default_text(default: str) -> str:
        return f" (default: {default})" if default else " (default: reported, not judged)"

    return [
        Option("--cert-expiry-warning", convert=parse_days, metavar="DAYS",
               default=parse_days(warning_default) if warning_default else None,
               help=f"WARNING when a {what} has fewer days left than this; a Nagios range "
                    f"is read as one{default_text(warning_default)}"),
        Option("--cert-expiry-critical", convert=parse_days, metavar="DAYS",
               default=parse_days(critical_default) if critical_default else None,
               help=f"CRITICAL when a {what} has fewer days left than this"
                    f"{default_text(critical_default)}"),
    ]


def days_left(certificate: CertificateFacts, now: datetime.datetime) -> float:
    """Days until notAfter (negative once expired), to a hundredth of a day."""
    return round((certificate.not_after - now).total_seconds() / DAY, 2)


def _when(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


def _ago(seconds: float) -> str:
    if seconds >= DAY:
        return f"{seconds / DAY:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{max(seconds, 0) / 60:.0f} minutes"


def detail_line(label: str, certificate: CertificateFacts, days: float) -> str:
    """One certificate in the long output: never more than public facts."""
    source = certificate.presented_by
    source = (f"presented by the {source}" if source in ("server", "client")
              else f"read from {source}")
    return (f"{label}: subject {certificate.subject}; issuer {certificate.issuer}; not after "
            f"{_when(certificate.not_after)}; {days:.1f} days left; {source}")


def _why(state: int, warning: Range | None, critical: Range | None, violation: str) -> str:
    """"fewer than 30 days" for a plain-days threshold, the range's words otherwise."""
    from healthprobes.checks.runtime.ranges import INF

    threshold = critical if state == CRITICAL else warning
    if threshold is not None and not threshold.invert and threshold.end == INF:
        return f"fewer than {threshold.start:g} days"
    return violation


def judge(findings: Findings, certificates: list[tuple[str, CertificateFacts]],
          now: datetime.datetime, warning: Range | None, critical: Range | None,
          ca_warning: Range | None = None, ca_critical: Range | None = None,
          minimum_label: str = "cert_expiry_days") -> list[str]:
    """Judge each (label, certificate): one finding and one perfdata item
    ``cert_expiry_days_<label>`` each, then ``cert_expiry_days`` (the minimum) as
    perfdata. CA certificates are held to the CA thresholds where given. Returns the
    long-output lines, soonest expiry first."""
    from healthprobes.checks.runtime.results import Perf, judge_number

    lines = []
    soonest: tuple[float, str] | None = None
    for label, certificate in certificates:
        days = days_left(certificate, now)
        is_ca = certificate.is_ca and (ca_warning is not None or ca_critical is not None)
        low, high = (ca_warning, ca_critical) if is_ca else (warning, critical)
        state, violation = judge_number(days, low, high)
        until = _when(certificate.not_after)
        if now < certificate.not_before:
            state = CRITICAL
            text = (f"{label} certificate is not valid yet: valid from "
                    f"{_when(certificate.not_before)}, in "
                    f"{_ago((certificate.not_before - now).total_seconds())} (clock skew?)")
        elif days < 0:
            state = CRITICAL
            text = (f"{label} certificate expired "
                    f"{_ago((now - certificate.not_after).total_seconds())} ago ({until})")
        else:
            text = f"{label} certificate expires in {days:.1f} days ({until})"
            if violation:
                text += f" ({_why(state, low, high, violation)})"
        findings.add(state, text, name=f"cert_{label}")
        findings.perfdata.append(Perf(f"{minimum_label}_{label}", days, "", low, high))
        lines.append((days, detail_line(label, certificate, days)))
        if soonest is None or days < soonest[0]:
            soonest = (days, label)
    if soonest is not None:
        findings.record(minimum_label, soonest[0])
    return [line for _, line in sorted(lines, key=lambda pair: pair[0])]


def soonest_text(findings_certificates: list[tuple[str, CertificateFacts]],
                 now: datetime.datetime) -> str:
    """"earliest expiry: LABEL in N days" for an OK status line ("" when there are none)."""
    if not findings_certificates:
        return ""
    label, certificate = min(findings_certificates, key=lambda pair: pair[1].not_after)
    return f"earliest expiry: {label} in {days_left(certificate, now):.1f} days"


# --- the certificates of the connections a check made --------------------------------

def connection_certificates(presented: list[tuple[str, list[bytes]]],
                            client_file: str | None) -> list[tuple[str, CertificateFacts]]:
    """Label what the connections' peers presented (``presented``: where, DER blobs leaf
    first; where is "" for a check with one target, else the endpoint or member) and the
    client certificate the check itself presents (``client_file``, --cert). Labels:
    ``server``, ``server_<where>``, ``_chain1``... after the leaf, ``client``."""
    from healthprobes.probes.certificates import facts, from_der, read_pem
    from healthprobes.probes.errors import ProbeError

    labelled = []
    for where, blobs in presented:
        base = f"server_{where}" if where else "server"
        for certificate in from_der(blobs, "server"):
            position = certificate.position
            labelled.append((f"{base}_chain{position}" if position else base, certificate))
    if client_file:
        try:
            parsed = read_pem(client_file)
        except ProbeError:  # the handshake read it; a file changed since is no finding here
            parsed = []
        for position, certificate in enumerate(parsed):
            labelled.append((f"client_chain{position}" if position else "client",
                             facts(certificate, "client", position)))
    return labelled


def add_to_report(report: Report, args: Values,
                  certificates: list[tuple[str, CertificateFacts]]) -> Report:
    """The connection's certificates judged into a check's finished report: one finding
    and perfdata each, ``cert_expiry_days`` the minimum; the status line names a
    certificate that is worse than the rest of the report, or the earliest expiry when
    all is OK. Without --cert-expiry-warning/-critical the days are not judged (an
    expired or not yet valid certificate is CRITICAL all the same) and the long output
    lists the certificates only with -v."""
    if not certificates:
        return report
    import datetime

    from healthprobes.checks.runtime.results import SUMMARY_LIMIT, Findings, clip, worst_text
    from healthprobes.checks.runtime.states import OK

    findings = Findings()
    now = datetime.datetime.now(datetime.UTC)
    warning = getattr(args, "cert_expiry_warning", None)
    critical = getattr(args, "cert_expiry_critical", None)
    lines = judge(findings, certificates, now, warning, critical)
    before = report.state if report.results else OK
    report.results += findings.results
    report.perfdata += findings.perfdata
    if getattr(args, "verbose", 0) or warning is not None or critical is not None \
            or findings.state != OK:
        report.details += lines
    if findings.state > before:
        report.summary = clip(f"{worst_text(findings.results)}; {report.summary}", SUMMARY_LIMIT)
    elif report.state == OK:
        report.summary = clip(f"{report.summary}; {soonest_text(certificates, now)}", SUMMARY_LIMIT)
    return report
