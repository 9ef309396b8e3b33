"""Command-line options: a small declarative parser that costs nothing to import.

argparse takes about as long to import as a whole ``etcdctl`` run (it pulls in re and
gettext), and a health check runs thousands of times a minute, so options are parsed
here. What a check declares is also what ``--help`` shows, so both cannot drift.
Conventions: ``--name value`` and ``--name=value``; short flags take ``-w 10`` and
``-w10`` and cluster (``-vvv``); values may start with ``-`` (``-w ~:-5``), as Nagios
ranges do; options may come before or after a subcommand; ``--`` ends options.
Every option may have an environment variable; the command line wins.
"""

from __future__ import annotations

import os

from healthprobes.checks.runtime.states import ValueProblem

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence


class UsageError(Exception):
    """Bad options: reported as UNKNOWN (3) with one line, never a traceback."""


class HelpRequested(Exception):
    """``--help`` or ``--version``: the text to print, then exit 0."""


FLAG, COUNT, VALUE, APPEND, HELP, VERSION = "flag", "count", "value", "append", "help", "version"
UNSUPPORTED = "unsupported"  # a flag another tool has and we do not: its help says why


class Option:
    """One option: its spellings, how it is read and what ``--help`` says of it."""

    __slots__ = ("action", "aliases", "choices", "convert", "default", "dest", "env", "flags",
                 "help", "metavar", "multiline", "required")

    def __init__(self, *flags: str, action: str = VALUE, dest: str | None = None,
                 convert: Callable[[str], object] | None = None, default: object = None,
                 env: str | None = None, metavar: str | None = None, help: str = "",
                 choices: Sequence[str] | None = None, required: bool = False,
                 aliases: Sequence[str] = (), multiline: bool = False) -> None:
        self.flags, self.aliases, self.action = flags, tuple(aliases), action
        long_names = [flag for flag in flags if flag.startswith("--")]
        self.dest = dest or (long_names or flags)[0].lstrip("-").replace("-", "_")
        self.convert, self.env, self.help = convert, env, help
        self.choices, self.required, self.multiline = choices, required, multiline
        if default is None and action in (APPEND,):
            default = []
        elif default is None and action == COUNT:
            default = 0
        elif default is None and action == FLAG:
            default = False
        self.default = default
        self.metavar = metavar or self.dest.upper()

    @property
    def takes_value(self) -> bool:
        return self.action in (VALUE, APPEND)

    @property
    def repeatable(self) -> bool:
        return self.action == APPEND

    def read(self, text: str, spelled: str) -> object:
        bad = _control_character(text, self.multiline)
        if bad:
            # A CR or LF would put lines of our own making on the wire (headers) or in the
            # output; no option value needs one, and an expression only needs white space.
            raise UsageError(f"{spelled}: the value holds a control character ({bad}); "
                             "remove it")
        if self.choices is not None and text not in self.choices:
            raise UsageError(f"{spelled}: invalid choice {text!r} (choose from "
                             f"{', '.join(self.choices)})")
        if self.convert is None:
            return text
        try:
            return self.convert(text)
        except ValueProblem as problem:
            raise UsageError(f"{spelled}: {problem}") from None
        except Exception:  # ValueError, OverflowError, anything a converter trips on
            raise UsageError(f"{spelled}: invalid value {text!r}") from None


def _control_character(text: str, multiline: bool) -> str:
    """The first control character in ``text`` as ``U+000A``, or "" (tab, CR and LF are
    white space where ``multiline``)."""
    for char in text:
        code = ord(char)
        if (code < 32 or 127 <= code < 160) and not (multiline and char in "\t\r\n"):
            return f"U+{code:04X}"
    return ""


class Group:
    """Options shown together under a title in ``--help``."""

    def __init__(self, title: str, options: Iterable[Option]) -> None:
        self.title, self.options = title, list(options)


class Command:
    """A subcommand (``check_etcd health``) with its own option groups.

    ``load`` defers the full declaration to the subcommand's own module, so a run
    imports only the subcommand it runs.
    """

    def __init__(self, name: str, summary: str, groups: Iterable[Group] = (),
                 description: str = "", epilog: str = "",
                 load: Callable[[], Command] | None = None,
                 leave_out: Iterable[str] = ()) -> None:
        self.name, self.summary, self.groups = name, summary, list(groups)
        self.description, self.epilog, self.load = description or summary, epilog, load
        # Titles of the program's own groups this subcommand has no use for (check_etcd
        # certs reads files: no connection options); they are neither taken nor shown.
        self.leave_out = frozenset(leave_out)

    def resolved(self) -> Command:
        if self.load is None:
            return self
        command = self.load()
        command.summary = command.summary or self.summary
        command.description = command.description or self.summary
        return command


class Values:
    """The parsed options, as attributes (``args.timeout``); tests may set more."""

    def __init__(self, **values: object) -> None:
        self.__dict__.update(values)

    def __repr__(self) -> str:
        return f"Values({self.__dict__!r})"


class Parser:
    def __init__(self, prog: str, description: str, groups: Iterable[Group],
                 commands: Iterable[Command] = (), epilog: str = "", version: str = "") -> None:
        self.prog, self.description, self.epilog, self.version = (
            prog, description, epilog, version)
        self.groups = list(groups)
        self.commands = {command.name: command for command in commands}

    def groups_of(self, command: Command | None) -> list[Group]:
        """The command's own groups, then the program's that it takes."""
        if command is None:
            return list(self.groups)
        return command.groups + [group for group in self.groups
                                 if group.title not in command.leave_out]

    def _options(self, command: Command | None) -> list[Option]:
        return [option for group in self.groups_of(command) for option in group.options]

    def parse(self, argv: Sequence[str]) -> Values:
        command: Command | None = None
        options = self._options(None)
        lookup = _lookup(options)
        given: dict[str, object] = {}
        in_order: list[tuple[str, object]] = []
        index = 0
        while index < len(argv):
            token = argv[index]
            index += 1
            if token == "--":
                for rest in argv[index:]:
                    command = self._positional(rest, command)
                break
            if not token.startswith("-") or token == "-":
                if command is None and self.commands:
                    command = self._positional(token, command)
                    options = self._options(command)
                    lookup = _lookup(options)
                    continue
                raise UsageError(f"unexpected argument {token!r}")
            name, equals, attached = token.partition("=")
            typed = name  # messages name the flag as it was typed
            option = lookup.get(name)
            if option is None and not token.startswith("--") and len(token) > 2:
                # A short option with its value attached (-w10) or a cluster (-vvv).
                short = lookup.get(token[:2])
                if short is not None:
                    option, name, attached, equals = short, token[:2], token[2:], "x"
                if option is not None and not option.takes_value:
                    if option.action != COUNT or attached.strip("v"):
                        raise UsageError(f"unknown option {typed!r}{self._hint(typed, options)}")
                    given[option.dest] = int(given.get(option.dest, 0)) + len(token) - 1
                    continue
            if option is None:
                raise UsageError(f"unknown option {typed!r}{self._hint(typed, options)}")
            if option.action == HELP:
                raise HelpRequested(self.help(command))
            if option.action == VERSION:
                raise HelpRequested(f"{self.prog} (healthprobes) {self.version}\n")
            if option.action == UNSUPPORTED:
                raise UsageError(f"{typed}: {option.help}")
            if not option.takes_value:
                if equals and option.action == FLAG:
                    # Go's flag package: -tls=true, -gzip=false (grpc-health-probe manifests).
                    given[option.dest] = _go_bool(attached, typed)
                    continue
                if equals:
                    raise UsageError(f"{name} takes no value")
                given[option.dest] = (int(given.get(option.dest, 0)) + 1
                                      if option.action == COUNT else True)
                continue
            if not equals:
                if index >= len(argv):
                    raise UsageError(f"{name} needs a value ({option.metavar})")
                attached = argv[index]
                index += 1
            value = option.read(attached, name)
            if option.action == APPEND:
                given.setdefault(option.dest, []).append(value)  # type: ignore[union-attr]
                in_order.append((option.dest, value))
            else:
                given[option.dest] = value
        if self.commands and command is None:
            raise UsageError(f"name what to check: {', '.join(self.commands)}")
        values = self._complete(options, given, command)
        # Repeatable options in command-line order: lets a check bind "-w" to the
        # "--expr" before it.
        values.appended_in_order = in_order
        return values

    def _positional(self, token: str, command: Command | None) -> Command:
        if command is not None or token not in self.commands:
            if command is None and self.commands:
                raise UsageError(f"unknown subcommand {token!r} (choose from "
                                 f"{', '.join(self.commands)})")
            raise UsageError(f"unexpected argument {token!r}")
        return self.commands[token].resolved()

    def _complete(self, options: list[Option], given: dict[str, object],
                  command: Command | None) -> Values:
        values = Values(command=command.name if command else None)
        for option in options:
            if option.dest in given:
                value = given[option.dest]
            elif option.env and os.environ.get(option.env, "") != "":
                value = _from_env(option)
            elif option.required:
                raise UsageError(f"{option.flags[0]} is required")
            else:
                value = option.default
                if isinstance(value, list):
                    value = list(value)
            if option.action in (HELP, VERSION):
                continue
            setattr(values, option.dest, value)
        return values

    def _hint(self, name: str, options: list[Option]) -> str:
        from difflib import get_close_matches  # only on this error path

        known = [flag for option in options for flag in option.flags if flag.startswith("--")]
        close = get_close_matches(name if name.startswith("--") else "-" + name.lstrip("-"),
                                  known, n=1)
        if close:
            return f"; did you mean {close[0]}?"
        return f"; see '{self.prog} --help'"

    def help(self, command: Command | None = None) -> str:
        # Only --help pays for text wrapping; helptext reads options without importing
        # this module, so the two do not depend on each other both ways.
        from healthprobes.checks.runtime.helptext import render_help

        return render_help(self, command)


def _lookup(options: list[Option]) -> dict[str, Option]:
    return {flag: option for option in options for flag in (*option.flags, *option.aliases)}


def _go_bool(text: str, flag: str) -> bool:
    """The spellings Go's strconv.ParseBool takes, as grpc-health-probe reads -tls=..."""
    if text in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if text in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise UsageError(f"{flag}={text}: write true or false")


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _from_env(option: Option) -> object:
    text = os.environ[option.env or ""]
    where = f"environment variable {option.env}"
    if option.action == FLAG:
        if text.strip().lower() in _TRUE:
            return True
        if text.strip().lower() in _FALSE:
            return False
        raise UsageError(f"{where}: write 1/true/yes or 0/false/no, not {text!r}")
    if option.action == COUNT:
        return int(text) if text.isdigit() else 0
    if option.action == APPEND:  # etcdctl's variables take comma-separated lists
        return [option.read(part.strip(), where) for part in text.split(",") if part.strip()]
    return option.read(text, where)


_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
                 "h": 3600.0}


MAX_DURATION = 1e7  # seconds, about 115 days: longer is a typo, and overflows lock timeouts
MAX_TIMEOUT = 86400.0  # a check's whole run: a day at most


def parse_duration(text: str) -> float:
    """Seconds from ``10``, ``2.5``, ``250ms``, ``1m30s`` (Go's forms, as Go tools take)."""
    rest, total, parts = text.strip(), 0.0, 0
    problem = ValueProblem(
        f"invalid duration {text!r}: write seconds (10, 2.5) or Go form (250ms, 1m30s)")
    while rest:
        digits = len(rest) - len(rest.lstrip("0123456789."))
        number, rest = rest[:digits], rest[digits:]
        unit = next((unit for unit in ("ns", "us", "µs", "ms", "h", "m", "s")
                     if rest.startswith(unit)), None)
        if not number or number == "." or number.count(".") > 1 or (unit is None and (
                parts or rest)):
            raise problem
        total += float(number) * (_UNIT_SECONDS[unit] if unit else 1.0)
        rest, parts = rest[len(unit or ""):], parts + 1
    if not parts:
        raise problem
    if total <= 0:
        raise ValueProblem(f"{text.strip()!r} must be above 0")
    if not total <= MAX_DURATION:  # also catches inf from '1e400'-long digit strings
        raise ValueProblem(f"{text.strip()!r} is too long (at most {MAX_DURATION:g}s)")
    return total


def parse_timeout(text: str) -> float:
    """A whole run's deadline: a duration of at most a day."""
    seconds = parse_duration(text)
    if seconds > MAX_TIMEOUT:
        raise ValueProblem(f"{text.strip()!r} is too long for a check's timeout (at most "
                           f"{MAX_TIMEOUT:g}s, a day)")
    return seconds


def choice_list(choices: Iterable[str]) -> Callable[[str], str]:
    """A converter that accepts one of ``choices``, case-insensitively."""
    allowed = {choice.lower(): choice for choice in choices}

    def convert(text: str) -> str:
        try:
            return allowed[text.strip().lower()]
        except KeyError:
            raise ValueProblem(f"invalid choice {text!r} (choose from "
                               f"{', '.join(allowed.values())})") from None

    return convert
