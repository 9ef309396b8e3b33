"""Files named by options (secrets, rules): read as probes/local_files.py reads them, and
a file that cannot be used is a usage error naming the option."""

from __future__ import annotations

from healthprobes.checks.runtime.options import UsageError


def read_user_file(path: str, option: str, limit: int) -> bytes:
    """The whole file, at most ``limit`` bytes; anything else is a usage error naming the
    option."""
    from healthprobes.probes.local_files import FileProblem, read_regular

    try:
        return read_regular(path, limit)
    except FileProblem as problem:
        raise UsageError(f"{option}: {problem}") from None
