"""`healthprobes serve` as the tests run it: started on a free 127.0.0.1 port, waited for
until /-/ready answers, always stopped (SIGTERM, then SIGKILL if it does not drain)."""

from __future__ import annotations

import contextlib
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from servers.grpc_health_server import free_port
from tests.conftest import BIN


@dataclass
class Answer:
    status: int
    body: str
    content_type: str


def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 10) -> Answer:
    """One GET; error statuses are answers too."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Answer(response.status, response.read().decode(),
                          response.headers.get("Content-Type", ""))
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.read().decode(), error.headers.get("Content-Type", ""))


@dataclass
class Serving:
    process: subprocess.Popen
    url: str  # http://127.0.0.1:PORT
    log: Path  # its stderr, in a file: a pipe nobody reads would block it once full

    def get(self, path: str, headers: dict[str, str] | None = None) -> Answer:
        return http_get(self.url + path, headers)

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")


def wait_until_ready(serving: Serving, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if serving.process.poll() is not None:
            raise RuntimeError(f"healthprobes serve exited with {serving.process.returncode}: "
                               f"{serving.stderr()[-2000:]}")
        with contextlib.suppress(OSError):
            if http_get(serving.url + "/-/ready", timeout=1).status == 200:
                return
        time.sleep(0.05)
    raise RuntimeError(f"healthprobes serve not ready within {seconds} s")


def stop(process: subprocess.Popen) -> int:
    """SIGTERM (serve drains and exits 0); SIGKILL if it has not exited 10 s later."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    return process.returncode


@contextlib.contextmanager
def serving(config: Path, command: list[str] | None = None) -> Iterator[Serving]:
    """`healthprobes serve --config CONFIG --listen 127.0.0.1:PORT`, or the same arguments
    after ``command`` (the image's entrypoint, for instance)."""
    port = free_port()
    launcher = command if command is not None else [str(BIN / "healthprobes")]
    log = config.with_name(f"serve-{port}.log")
    with open(log, "wb") as stderr:
        process = subprocess.Popen([*launcher, "serve", "--config", str(config),
                                    "--listen", f"127.0.0.1:{port}"],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=stderr)
    try:
        running = Serving(process, f"http://127.0.0.1:{port}", log)
        wait_until_ready(running)
        yield running
    finally:
        stop(process)
