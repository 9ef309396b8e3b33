"""Timing and memory of whole commands, the way a scheduler sees them: fork to exit."""

import os
import statistics
import subprocess
import time
from dataclasses import dataclass


@dataclass
class Sample:
    seconds: float
    cpu_seconds: float  # user + system: steadier than wall time on a busy machine
    peak_rss_kib: int
    exit_code: int


def bench_setup(description: str, default_runs: int, executable: str) -> tuple[int, str]:
    """The runs asked for on the command line, and the installed check to time."""
    import argparse

    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=default_runs)
    runs = parser.parse_args().runs
    return runs, installed(executable)


def installed(executable: str) -> str:
    """The path of a launcher installed next to this Python; exit with a hint if missing."""
    import shutil
    import sys
    from pathlib import Path

    found = shutil.which(executable, path=str(Path(sys.executable).parent))
    if found is None:
        sys.exit(f"{executable} is not installed next to this Python: pip install . first")
    return found


GNU_TIME = "/usr/bin/time"  # Debian package "time"


def run_once(command: list[str], measure_rss: bool = True) -> Sample:
    """One run; peak RSS (a second run, under GNU time) only when asked: 0 otherwise."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               stdin=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return Sample(elapsed, usage.ru_utime + usage.ru_stime,
                  peak_rss_kib(command) if measure_rss else 0, process.returncode)


def peak_rss_kib(command: list[str]) -> int:
    """The command's own peak RSS, measured through GNU time; 0 where it is missing.

    Not from our own wait4: Linux carries the parent's memory high-water mark over
    fork and exec into the child's ru_maxrss, so every child of this (large) Python
    process would report at least this process's size. GNU time is a small C
    program: the command it starts reports only its own memory.
    """
    if not os.path.exists(GNU_TIME):
        return 0
    done = subprocess.run([GNU_TIME, "-f", "%M", *command], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        return int(done.stderr.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return 0


@dataclass
class Summary:
    name: str
    median_ms: float
    p90_ms: float
    median_cpu_ms: float
    median_rss_mib: float
    exit_codes: set[int]


def compare(commands: dict[str, list[str]], runs: int, warmup: int = 3) -> dict[str, Summary]:
    """Run the commands interleaved (so drift hits all alike) and summarize each."""
    for command in commands.values():
        for _ in range(warmup):
            run_once(command)
    samples: dict[str, list[Sample]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            samples[name].append(run_once(command))
    result = {}
    for name, taken in samples.items():
        times = sorted(sample.seconds * 1000 for sample in taken)
        result[name] = Summary(
            name, statistics.median(times), times[int(len(times) * 0.9) - 1],
            statistics.median(sample.cpu_seconds * 1000 for sample in taken),
            statistics.median(sample.peak_rss_kib for sample in taken) / 1024,
            {sample.exit_code for sample in taken})
    return result


def print_table(results: dict[str, Summary], baseline: str) -> None:
    """Medians, and each one's ratio to the baseline's ("x" columns)."""
    base = results[baseline]
    print(f"{'command':34} {'wall ms':>8} {'p90 ms':>7} {'CPU ms':>7} {'RSS MiB':>8} "
          f"{'wall x':>7} {'CPU x':>6} {'mem x':>6}  exit")
    for summary in results.values():
        print(f"{summary.name:34} {summary.median_ms:8.1f} {summary.p90_ms:7.1f} "
              f"{summary.median_cpu_ms:7.1f} {summary.median_rss_mib:8.1f} "
              f"{summary.median_ms / base.median_ms:7.2f} "
              f"{summary.median_cpu_ms / base.median_cpu_ms:6.2f} "
              f"{summary.median_rss_mib / (base.median_rss_mib or 1):6.2f}  "
              f"{','.join(map(str, sorted(summary.exit_codes)))}")
