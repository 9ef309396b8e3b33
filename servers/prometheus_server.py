"""A real Prometheus server (Debian's /usr/bin/prometheus) on a free 127.0.0.1 port, with
a configuration the caller gives and its storage in a temporary directory; always
stopped, its directory removed. Queried through its HTTP API."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

from servers.grpc_health_server import free_port
from servers.processes import stop_process

PROMETHEUS = Path("/usr/bin/prometheus")


class PrometheusServer:
    """``config`` is the prometheus.yml as a mapping; relative rule_files paths are the
    caller's to make absolute."""

    def __init__(self, config: dict, binary: Path = PROMETHEUS) -> None:
        self.binary, self.config = binary, config
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.directory = Path(tempfile.mkdtemp(prefix="healthprobes-prometheus-"))
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 20) -> PrometheusServer:
        config_file = self.directory / "prometheus.yml"
        config_file.write_text(yaml.safe_dump(self.config, sort_keys=False))
        with open(self.directory / "prometheus.log", "wb") as log:
            self.process = subprocess.Popen(
                [str(self.binary), f"--config.file={config_file}",
                 f"--storage.tsdb.path={self.directory / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log_text = self.log()
                self.stop()
                raise RuntimeError(f"prometheus exited with {self.process.returncode}: "
                                   f"{log_text}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        log_text = self.log()
        self.stop()
        raise RuntimeError(f"prometheus not ready within {timeout} s: {log_text}")

    def log(self) -> str:
        try:
            return (self.directory / "prometheus.log").read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def api(self, path: str, **params: str) -> dict | list:
        """GET /api/v1/PATH; its data, or RuntimeError with Prometheus' error."""
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=10) as answer:
            body = json.loads(answer.read())
        if body.get("status") != "success":
            raise RuntimeError(f"/api/v1/{path}: {body}")
        return body["data"]

    def query(self, expression: str) -> list[dict]:
        """An instant query's vector: [{"metric": {...}, "value": [time, "text"]}, ...]."""
        data = self.api("query", query=expression)
        assert isinstance(data, dict) and data["resultType"] == "vector", data
        return data["result"]

    def stop(self) -> None:
        stop_process(self.process)
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
