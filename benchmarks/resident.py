"""Resident servers under measurement: started, waited for, read from /proc, stopped.

CPU time is the process's user + system time from /proc/PID/stat (all its threads,
those that have exited included), in clock ticks: 10 ms on Linux, so a measurement
needs a few hundred probes before the tick is small beside it.
"""

import os
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.http_load import KeepAlive
from servers.processes import stop_process

TICK = 1 / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    with open(f"/proc/{pid}/stat", "rb") as stat:
        # The command name (field 2) may hold spaces: count fields after its ')'.
        fields = stat.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * TICK  # utime, stime: fields 14 and 15


def status_field(pid: int, name: str) -> int:
    """A number from /proc/PID/status: VmRSS (KiB), Threads."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {name} for process {pid}")


def rss_kib(pid: int) -> int:
    """Resident set size now."""
    return status_field(pid, "VmRSS")


def threads(pid: int) -> int:
    return status_field(pid, "Threads")


class Resident:
    """A server process started for the benchmark and stopped (SIGTERM, then SIGKILL)
    when it ends; its stderr kept in a temporary file to show when it fails to start."""

    def __init__(self, name: str, command: list[str], port: int,
                 ready_path: str = "/-/ready") -> None:
        self.name, self.command, self.port, self.ready_path = name, command, port, ready_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 30.0) -> "Resident":
        self.process = subprocess.Popen(self.command, stdin=subprocess.DEVNULL,
                                        stdout=self._log, stderr=subprocess.STDOUT)
        client = KeepAlive(self.port, timeout=2.0)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.process.returncode} "
                                       f"while starting: {self.log_tail()}")
                if client.get(self.ready_path).status == 200:
                    return self
                time.sleep(0.05)
        finally:
            client.close()
        self.stop()
        raise RuntimeError(f"{self.name} not ready within {timeout}s: {self.log_tail()}")

    def log_tail(self, size: int = 2000) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-size:]

    def stop(self) -> None:
        stop_process(self.process)
        self._log.close()

    def __enter__(self) -> "Resident":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


BLACKBOX = Path("/usr/bin/prometheus-blackbox-exporter")  # Debian's package of that name


def blackbox_config(folder: Path) -> Path:
    """Two modules doing what the serve modules do: a gRPC health Check of the whole
    server, and etcd's /health with its body read for "health":"true" (as check_etcd
    health judges it), both without TLS."""
    config = folder / "blackbox.yml"
    config.write_text(
        "modules:\n"
        "  grpc_health:\n"
        "    prober: grpc\n"
        "    timeout: 5s\n"
        "    grpc:\n"
        "      tls: false\n"
        "      preferred_ip_protocol: ip4\n"
        "  etcd_health:\n"
        "    prober: http\n"
        "    timeout: 5s\n"
        "    http:\n"
        "      preferred_ip_protocol: ip4\n"
        "      valid_status_codes: [200]\n"
        "      fail_if_body_not_matches_regexp: ['\"health\":\\s*\"true\"']\n")
    return config


def blackbox_exporter(folder: Path, port: int) -> Resident:
    return Resident("prometheus-blackbox-exporter",
                    [str(BLACKBOX), f"--config.file={blackbox_config(folder)}",
                     f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                    port, ready_path="/-/healthy")
