"""Label regexes as Prometheus matches them: RE2 syntax (Go's regexp), fully anchored,
with '.' matching newlines too: ``^(?s:PATTERN)$``.

Python's re is not RE2: ``(?i)`` in the middle of a pattern, ``\\pL``, ``\\z`` and
possessive or look-around syntax differ, so the RE2 library itself (google-re2) does
the matching. It is imported only when an expression has a regex matcher or calls
label_replace. label_replace's ``$1`` / ``${name}`` templates follow Go's
Regexp.Expand, written out here.
"""

from __future__ import annotations

from healthprobes.checks.promql.errors import QueryError

_compiled: dict[str, object] = {}


def anchored(pattern: str, where: str):
    """The compiled ``^(?s:pattern)$``; QueryError naming ``where`` if RE2 refuses it."""
    found = _compiled.get(pattern)
    if found is not None:
        return found
    try:
        import re2
    except ImportError:  # pragma: no cover - a dependency of the package
        raise QueryError("label regexes need google-re2 (pip install google-re2)") from None
    options = re2.Options()
    options.log_errors = False  # RE2 would print its complaint on stderr
    try:
        compiled = re2.compile(f"^(?s:{pattern})$", options=options)
    except re2.error as error:
        why = error.args[0] if error.args else ""
        why = why.decode(errors="replace") if isinstance(why, bytes) else str(why)
        raise QueryError(f"invalid regular expression {pattern!r} in {where}: {why}") from None
    _compiled[pattern] = compiled
    return compiled


def matches(pattern: str, value: str) -> bool:
    return anchored(pattern, "a label matcher").search(value) is not None


def expand(template: str, match, group_names: dict[str, int]) -> str:
    """Go's Regexp.ExpandString: ``$1``, ``${1}``, ``$name``, ``${name}``; ``$$`` is a
    dollar; an unknown group or one that took no part is empty; a malformed reference
    keeps its ``$``. ``$1x`` names the group "1x" (none): empty, as in Go."""
    out: list[str] = []
    rest = template
    while True:
        before, dollar, rest = rest.partition("$")
        out.append(before)
        if not dollar:
            return "".join(out)
        if rest.startswith("$"):
            out.append("$")
            rest = rest[1:]
            continue
        name, rest_after = _reference(rest)
        if name is None:
            out.append("$")
            continue
        rest = rest_after
        index = _group_number(name)
        if index is None:
            index = group_names.get(name)
        if index is not None and index <= match.re.groups:
            value = match.group(index)
            out.append(value or "")


def _reference(text: str) -> tuple[str | None, str]:
    """The name after a ``$`` (letters, digits, underscore; braces optional)."""
    braced = text.startswith("{")
    body = text[1:] if braced else text
    length = 0
    while length < len(body) and (body[length].isalnum() or body[length] == "_"):
        length += 1
    if length == 0:
        return None, text
    if braced:
        if length >= len(body) or body[length] != "}":
            return None, text
        return body[:length], body[length + 1:]
    return body[:length], body[length:]


def _group_number(name: str) -> int | None:
    if not name.isdigit() or not name.isascii() or (name[0] == "0" and len(name) > 1):
        return None
    number = int(name)
    return number if number < 10**8 else None
