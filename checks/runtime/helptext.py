"""``--help`` pages, written from the same declarations the parser reads.

It reads the options through their attributes and never imports the parser's module,
which imports this one only when ``--help`` is asked for.
"""

from __future__ import annotations

import os
import textwrap

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthprobes.checks.runtime.options import Command, Option, Parser


def _spelling(option: Option) -> str:
    flags = ", ".join(option.flags)
    if not option.takes_value:
        return flags
    return f"{flags} {option.metavar}"


def _describe(option: Option) -> str:
    text = option.help
    extras = []
    if option.repeatable and "repeat" not in text:
        extras.append("repeatable")
    if option.env:
        extras.append(f"env {option.env}")
    if extras:
        text += f" ({'; '.join(extras)})"
    return text


RANGES = ("RANGE is a Nagios range; a value alerts when it lies outside it: 10 (outside "
          "0..10), 10: (below 10), ~:10 (above 10), 10:20 (outside 10..20), @10:20 (inside "
          "10..20); byte units work (100MiB, 2Gi); an empty RANGE means no threshold.")


def render_help(parser: Parser, command: Command | None) -> str:
    width = max(60, min(100, _columns()))
    lines: list[str] = []
    if command is None and parser.commands:
        lines.append(f"usage: {parser.prog} COMMAND [options]")
    elif command is not None:
        lines.append(f"usage: {parser.prog} {command.name} [options]")
    else:
        lines.append(f"usage: {parser.prog} [options]")
    lines += ["", *textwrap.wrap(command.description if command else parser.description, width)]
    if command is None and parser.commands:
        lines += ["", "commands:"]
        for name, sub in parser.commands.items():
            lines.append(f"  {name:<10} {sub.summary}")
        lines.append(f"'{parser.prog} COMMAND --help' shows a command's own options.")
    groups = parser.groups_of(command)
    for group in groups:
        lines += ["", f"{group.title}:"]
        for option in group.options:
            if not option.help or option.action == "unsupported":
                continue  # undocumented spellings, kept for compatibility
            spelled = _spelling(option)
            body = textwrap.wrap(_describe(option), width - 28) or [""]
            if len(spelled) <= 24:
                lines.append(f"  {spelled:<24}  {body[0]}")
            else:
                lines += [f"  {spelled}", f"  {'':<24}  {body[0]}"]
            lines += [f"  {'':<24}  {line}" for line in body[1:]]
    if any("RANGE" in option.metavar for group in groups for option in group.options):
        lines += ["", *textwrap.wrap(RANGES, width)]
    epilog = command.epilog if command else parser.epilog
    if epilog:
        lines += ["", epilog.rstrip()]
    return "\n".join(lines) + "\n"


def _columns() -> int:
    try:
        return int(os.environ.get("COLUMNS", "")) - 2
    except ValueError:
        return 98
