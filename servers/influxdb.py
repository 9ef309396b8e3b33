"""A real InfluxDB 1.x (Debian's influxdb) on 127.0.0.1, for the collector tests: the
influx line protocol the checks print must be accepted by its write endpoint."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from servers.grpc_health_server import free_port


def influxd() -> str | None:
    return shutil.which("influxd")


@contextmanager
def influxdb_server(timeout: float = 30.0) -> Iterator[str]:
    """Start influxd with its data in a temporary directory; yield its HTTP base URL."""
    binary = influxd()
    if binary is None:
        raise RuntimeError("influxd is not installed (Debian package influxdb)")
    folder = Path(tempfile.mkdtemp(prefix="healthprobes-influxdb-"))
    http = free_port()
    (folder / "influxdb.conf").write_text(f"""reporting-disabled = true
bind-address = "127.0.0.1:{free_port()}"
[meta]
  dir = "{folder}/meta"
[data]
  dir = "{folder}/data"
  wal-dir = "{folder}/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:{http}"
  log-enabled = false
[logging]
  level = "error"
""")
    log = open(folder / "influxd.log", "wb")  # noqa: SIM115
    process = subprocess.Popen([binary, "-config", str(folder / "influxdb.conf")],
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{http}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{url}/ping", timeout=1) as answer:
                    if answer.status == 204:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("influxd did not start: "
                                   + (folder / "influxd.log").read_text()[-2000:])
            time.sleep(0.1)
        yield url
    finally:
        process.kill()
        process.wait(timeout=10)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)
