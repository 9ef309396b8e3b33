"""Secrets from files: one reader for every password and token option.

A secret never comes from the command line (other users can read it in ps): it comes
from a file or the environment, and it is never printed.
"""

from healthprobes.checks.runtime.options import UsageError


def read_first_line(path: str, option: str) -> str:
    """The first line of a secret file (a password, a token), without its line ending;
    an unreadable file is a usage error naming the option."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.readline().rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not UTF-8 text"
        raise UsageError(f"{option}: cannot read {path} ({reason})") from None
