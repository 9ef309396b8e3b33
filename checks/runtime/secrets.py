"""Secrets: read from files or the environment, and scrubbed from everything printed.

A secret never comes from the command line (other users can read it in ps). A run
keeps the secrets it knows in ``args.secrets`` (passwords, tokens, the Authorization
values built from them, tokens a server handed out), and evaluation scrubs each of
them, in every form it may be echoed back in, from the report before anyone sees it:
a server that echoes the request cannot make a check print a password.
"""

from __future__ import annotations

from healthprobes.checks.runtime.files import read_user_file
from healthprobes.checks.runtime.options import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthprobes.checks.runtime.results import Report

SECRET_FILE_LIMIT = 64 * 1024  # a password or token; a service account token is ~1 KB
REDACTED = "<redacted>"
MIN_SCRUBBED = 4  # shorter strings would blank out ordinary words, not protect anything


def read_first_line(path: str, option: str) -> str:
    """The first line of a secret file (a password, a token), without its line ending;
    an unreadable, irregular or oversized file is a usage error naming the option."""
    data = read_user_file(path, option, SECRET_FILE_LIMIT)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{option}: cannot read {path} (not UTF-8 text)") from None
    return text.split("\n", 1)[0].rstrip("\r")


def forms(secret: str) -> list[str]:
    """A secret as it may come back: as is, JSON-escaped, percent-encoded, base64."""
    if len(secret) < MIN_SCRUBBED:
        return []
    from _json import encode_basestring, encode_basestring_ascii

    found = {secret, encode_basestring(secret)[1:-1], encode_basestring_ascii(secret)[1:-1]}
    if not secret.isalnum():
        from urllib.parse import quote

        found.add(quote(secret, safe=""))
    return sorted(found, key=len, reverse=True)


def remember(args: object, *secrets: str) -> None:
    """Add secrets to the run's list (``args.secrets``), each in every echoed form."""
    known: list[str] = args.__dict__.setdefault("secrets", [])
    for secret in secrets:
        for form in forms(secret):
            if form not in known:
                known.append(form)
    known.sort(key=len, reverse=True)  # the longest first: a token inside a header value


_CUT_MARKS = ("...", "\u2026")  # how quoted server text marks where it was cut short
MIN_CUT_PREFIX = 6


def scrub_text(text: str, secrets: list[str]) -> str:
    """Every known secret replaced; so is the beginning of one where a quote of server
    text was cut short in the middle of it (``'Authorization: Bearer eyJhbG...'``)."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    if any(mark in text for mark in _CUT_MARKS):
        for secret in secrets:
            for length in range(len(secret) - 1, MIN_CUT_PREFIX - 1, -1):
                for mark in _CUT_MARKS:
                    cut = secret[:length] + mark
                    if cut in text:
                        text = text.replace(cut, REDACTED + mark)
    return text


def scrub_report(report: Report, secrets: list[str]) -> Report:
    """The report with every known secret replaced, in every text it carries."""
    if not secrets:
        return report
    report.summary = scrub_text(report.summary, secrets)
    report.target = scrub_text(report.target, secrets)
    report.details = [scrub_text(line, secrets) for line in report.details]
    for result in report.results:
        result.text = scrub_text(result.text, secrets)
        result.name = scrub_text(result.name, secrets)
    for perf in report.perfdata:
        perf.label = scrub_text(perf.label, secrets)
    return report
