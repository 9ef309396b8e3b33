"""Which ``?target=`` values a module accepts: never an open proxy.

A target is ASCII (a client would turn a non-ASCII name into IDNA, where some
non-ASCII characters become dots the pattern never saw). It is then read as what it
stands for (a gRPC ``host:port``, an etcd client
URL, a metrics URL) and refused if it carries anything a glob could be fooled by: a
user part (``https://10.0.0.1:2379@evil.example``), a dot segment
(``/../x``), percent-escapes, a comma (check_etcd would split it into two
endpoints), spaces or control characters. Only then is it matched, whole, against
the module's patterns, where ``*`` stands for part of one host label, port or path
segment: it never crosses ``.``, ``:``, ``/``, ``@``, ``?`` or ``#``. A pattern
whose host is an IPv4 address with wildcards (``10.0.0.*``) matches IPv4 addresses
only, not a name such as ``10.0.0.evil.example``.
"""

from __future__ import annotations

import ipaddress
import re

MAX_TARGET = 512
_WILD = "[^./:@?#,\\s\\\\\\[\\]%]"  # what * and ? may stand for: inside one label or segment
_IPV4_PATTERN = re.compile(r"[0-9.*?]+")
_FORBIDDEN = set("@,\\%\"'<>^`{|}") | {" "}


class TargetRefused(ValueError):
    """Why a target may not be probed: the 400 answer's one line."""


def pattern_problem(pattern: str) -> str:
    """Why a configured pattern is unusable, or ""."""
    if len(pattern) > MAX_TARGET:
        return f"a pattern longer than {MAX_TARGET} characters"
    if not pattern.isascii():
        return f"{pattern!r}: ASCII only (write an internationalized name as xn--)"
    if any(char in _FORBIDDEN or ord(char) < 32 or ord(char) == 127 for char in pattern):
        return f"{pattern!r}: a pattern has no spaces, quotes or any of @ , \\ % {{ }} | ^ < >"
    if "**" in pattern:
        return f"{pattern!r}: ** is not a pattern here; * stands for part of one label or segment"
    return ""


def _regex(pattern: str) -> re.Pattern[str]:
    parts = []
    for char in pattern:
        parts.append(f"{_WILD}*" if char == "*" else _WILD if char == "?" else re.escape(char))
    return re.compile("".join(parts))


def _host_of(text: str) -> str:
    """The host part of a URL or host:port (brackets kept off IPv6)."""
    rest = text.split("://", 1)[-1].split("/", 1)[0]
    if rest.startswith("["):
        return rest[1:].split("]", 1)[0]
    return rest.rsplit(":", 1)[0] if ":" in rest else rest


def check_target(target: str, kind: str, patterns: list[str]) -> None:
    """Raise TargetRefused unless the target is a clean address of this kind that one
    of the patterns matches whole. ``kind`` is the option it replaces: addr, endpoints
    or url."""
    if not patterns:
        raise TargetRefused("this module takes no target (its config has no targets: patterns)")
    if not target or len(target) > MAX_TARGET:
        raise TargetRefused(f"target: give 1 to {MAX_TARGET} characters")
    if not target.isascii():
        # The clients turn a non-ASCII host into IDNA, where the ideographic full stop
        # and its kin become dots: "etcd-a\u3002evil\u3002example" would match "etcd-*" here
        # and dial etcd-a.evil.example there. Patterns and targets are ASCII (an
        # internationalized name is written in its xn-- form).
        raise TargetRefused("target: ASCII only (write an internationalized name as xn--)")
    if any(char in _FORBIDDEN or ord(char) < 33 or ord(char) == 127 for char in target):
        raise TargetRefused("target: an address has no user part, spaces, commas, quotes, "
                            "percent-escapes or any of @ \\ { } | ^ < >")
    _check_form(target, kind)
    for pattern in patterns:
        if _regex(pattern).fullmatch(target) and _same_kind_of_host(pattern, target):
            return
    raise TargetRefused("target: not allowed by this module's targets patterns")


def _check_form(target: str, kind: str) -> None:
    """Refuse what a pattern could be fooled by. Whether the address itself is valid
    (a port in range, a URL the client can dial) is the executable's to say: the
    options are parsed again with the target, and its message is the answer."""
    if kind == "addr":
        if "/" in target or target.startswith(("unix:", "dns:", "ipv4:", "ipv6:", "vsock:")):
            raise TargetRefused("target: a gRPC target is host:port")
        return
    if "://" not in target:
        raise TargetRefused("target: give a URL with its scheme (http:// or https://)")
    from healthprobes.probes.http import parse_url

    try:
        url = parse_url(target)
    except ValueError:
        return  # never dialed: parsing the options with it fails with the check's words
    segments = url.path.split("/")
    if "." in segments or ".." in segments:
        raise TargetRefused("target: a URL path has no . or .. segments")
    if kind == "endpoints" and (url.path not in ("", "/") or url.query):
        raise TargetRefused("target: an etcd endpoint is scheme://host:port, without a path")
    if "#" in target:
        raise TargetRefused("target: a URL without a #fragment")


def _same_kind_of_host(pattern: str, target: str) -> bool:
    """A wildcard IPv4 pattern (10.0.0.*) stands for IPv4 addresses, not for names that
    happen to begin with digits."""
    host_pattern = _host_of(pattern)
    if not _IPV4_PATTERN.fullmatch(host_pattern) or not any(c in host_pattern for c in "*?"):
        return True
    try:
        return ipaddress.ip_address(_host_of(target)).version == 4
    except ValueError:
        return False
