"""The executables and the runtime they share: options, judging, output, exit codes."""

__version__ = "0.1.0"
