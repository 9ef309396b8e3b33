"""Stopping a server process the tests or benchmarks started: SIGTERM, time to drain,
then SIGKILL; always reaped."""

from __future__ import annotations

import subprocess


def stop_process(process: subprocess.Popen | None, grace: float = 10) -> int | None:
    """SIGTERM, then SIGKILL if it has not exited ``grace`` seconds later; its exit code
    (None when there was no process)."""
    if process is None:
        return None
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    return process.returncode
