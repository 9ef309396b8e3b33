"""A configured module at run time: its parsed options per target, each with what a
resident process keeps between probes (warm connections, rate histories).

The options for a ``?target=`` are the module's arguments with the target option
(``--addr``, ``--endpoints`` or ``--url``) replaced, read again by the executable's
own parser: a target that is no valid address gets the executable's own message.
They are parsed once per target and kept (at most ``max_targets_per_module``, the
least recently probed dropped first, their connections closed).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from healthprobes.checks.runtime.kept import Kept
from healthprobes.checks.serve.config import Module, apply_settings, parse_module_args, scrub

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthprobes.checks.runtime.options import Values
    from healthprobes.checks.serve.config import Settings


def replace_option(args: list[str], spellings: set[str], value: str) -> list[str]:
    """``args`` without any of the option's spellings (``--addr X``, ``-addr=X``), then
    the option once with ``value`` (before a ``--``, if there is one)."""
    kept: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            break
        if arg in spellings:
            index += 2
            continue
        if arg.partition("=")[0] in spellings and "=" in arg:
            index += 1
            continue
        kept.append(arg)
        index += 1
    flag = min((spelling for spelling in spellings if spelling.startswith("--")), key=len)
    return [*kept, flag, value, *args[index:]]


def spellings_of(program, dest: str) -> set[str]:
    for group in program.parser.groups:
        for option in group.options:
            if option.dest == dest:
                return {*option.flags, *option.aliases}
    raise LookupError(dest)


class ModuleRuntime:
    """One module: its options without a target, and per target, kept and reused."""

    def __init__(self, module: Module, settings: Settings) -> None:
        self.module, self.settings = module, settings
        self.program = module.program
        self._lock = threading.Lock()
        self._by_target: OrderedDict[str, Values] = OrderedDict()
        self.default = self._equip(module.values)

    def _equip(self, values: Values) -> Values:
        """What a resident caller adds to parsed options: a Kept for connections, and an
        in-memory history store when histories have no directory."""
        values.kept = Kept()
        if hasattr(values, "state_dir") and not values.state_dir:
            from healthprobes.checks.promql.history import MemoryHistories

            values.histories = MemoryHistories()
        return values

    def values_for(self, target: str | None) -> Values:
        """The options to probe ``target`` with (the module's own for None); raises
        UsageError with the executable's message (secrets scrubbed)."""
        if target is None:
            return self.default
        with self._lock:
            values = self._by_target.get(target)
            if values is not None:
                self._by_target.move_to_end(target)
                return values
        from healthprobes.checks.runtime.options import UsageError

        module = self.module
        args = replace_option(module.args, spellings_of(self.program, module.target_option),
                              target)
        try:
            values = parse_module_args(module.check, args)
        except UsageError as error:
            raise UsageError(scrub(str(error), module.args)) from None
        apply_settings(module.name, values, self.settings)
        values = self._equip(values)
        dropped = []
        with self._lock:
            known = self._by_target.get(target)
            if known is not None:  # another request parsed it meanwhile: one set of options
                dropped.append(values)
                values = known
            else:
                self._by_target[target] = values
                while len(self._by_target) > self.settings.max_targets_per_module:
                    dropped.append(self._by_target.popitem(last=False)[1])
        for old in dropped:
            old.kept.close()
        return values

    def close(self) -> None:
        """Close every idle kept connection (the module is gone after a reload, or the
        process is stopping)."""
        with self._lock:
            every = [self.default, *self._by_target.values()]
            self._by_target.clear()
        for values in every:
            values.kept.close()
