"""`healthprobes serve` as the tests run it: started on a free 127.0.0.1 port, waited for
until /-/ready answers, always stopped (SIGTERM, then SIGKILL if it does not drain).
Also what tests read of it from outside: its answers and its TCP connections."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import yaml

from servers.grpc_health_server import free_port
from servers.processes import stop_process
from tests.conftest import BIN


class Answer(NamedTuple):
    """One HTTP answer; error statuses are answers too. Unpacks as (status, body, headers)."""

    status: int
    body: str
    headers: dict[str, str]

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")


def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 10) -> Answer:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Answer(response.status, response.read().decode(), dict(response.headers))
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.read().decode(), dict(error.headers))


class Serving:
    def __init__(self, process: subprocess.Popen, port: int, config: Path, log: Path) -> None:
        self.process, self.port, self.config, self.log_path = process, port, config, log
        self.url = f"http://127.0.0.1:{port}"

    def get(self, path: str, headers: dict[str, str] | None = None,
            timeout: float = 30) -> Answer:
        return http_get(self.url + path, headers, timeout)

    def log(self) -> str:
        """What it wrote (its log lines go to stderr; a file, since a pipe nobody reads
        would block it once full)."""
        return self.log_path.read_text(errors="replace")

    stderr = log

    def write_config(self, document: dict) -> None:
        self.config.write_text(yaml.safe_dump(document))

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)


def wait_until_ready(serving: Serving, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if serving.process.poll() is not None:
            raise RuntimeError(f"healthprobes serve exited with {serving.process.returncode}: "
                               f"{serving.log()[-2000:]}")
        with contextlib.suppress(OSError):
            if http_get(serving.url + "/-/ready", timeout=1).status == 200:
                return
        time.sleep(0.05)
    raise RuntimeError(f"healthprobes serve not ready within {seconds} s")


def stop(process: subprocess.Popen) -> int:
    """SIGTERM (serve drains and exits 0); SIGKILL if it has not exited 20 s later."""
    return stop_process(process, grace=20)


@contextlib.contextmanager
def serving(config: Path, command: list[str] | None = None,
            env: dict[str, str] | None = None) -> Iterator[Serving]:
    """`healthprobes serve --config CONFIG --listen 127.0.0.1:PORT`, or the same arguments
    after ``command`` (the image's entrypoint, for instance); HEALTHPROBES_* variables of
    the test run are not passed on, ``env`` is added."""
    port = free_port()
    launcher = command if command is not None else [str(BIN / "healthprobes")]
    log = config.with_name(f"serve-{port}.log")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HEALTHPROBES_")}
    environment.update(env or {})
    with open(log, "wb") as output:
        process = subprocess.Popen([*launcher, "serve", "--config", str(config),
                                    "--listen", f"127.0.0.1:{port}"],
                                   stdin=subprocess.DEVNULL, stdout=output,
                                   stderr=subprocess.STDOUT, env=environment)
    try:
        running = Serving(process, port, config, log)
        wait_until_ready(running)
        yield running
    finally:
        stop(process)


@contextlib.contextmanager
def serving_modules(tmp_path: Path, document: dict,
                    env: dict[str, str] | None = None) -> Iterator[Serving]:
    """serve with ``document`` written as its configuration."""
    config = tmp_path / "serve.yaml"
    config.write_text(yaml.safe_dump(document))
    with serving(config, env=env) as running:
        yield running


def established_to(pid: int, port: int) -> set[int]:
    """Local ports of the process's established TCP connections to 127.0.0.1:port, read
    from /proc (the sockets the process holds, matched by inode)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    ports = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
        if state == "01" and inode in inodes and int(remote.split(":")[1], 16) == port:
            ports.add(int(local.split(":")[1], 16))
    return ports
