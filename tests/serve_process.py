"""`healthprobes serve` as a real subprocess on a free loopback port, always stopped;
and a silent server (accepts connections, never answers) for hung targets."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import yaml

from servers.grpc_health_server import free_port
from tests.conftest import BIN


class Served:
    def __init__(self, process: subprocess.Popen, port: int, config: Path, log: Path) -> None:
        self.process, self.port, self.config, self.log_path = process, port, config, log

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str, headers: dict[str, str] | None = None,
            timeout: float = 30) -> tuple[int, str, dict[str, str]]:
        request = urllib.request.Request(self.base + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return answer.status, answer.read().decode(), dict(answer.headers)
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(), dict(error.headers)

    def log(self) -> str:
        return self.log_path.read_text()

    def write_config(self, document: dict) -> None:
        self.config.write_text(yaml.safe_dump(document))

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)


def write(path: Path, document: dict) -> Path:
    path.write_text(yaml.safe_dump(document))
    return path


@contextmanager
def serving(tmp_path: Path, document: dict, env: dict[str, str] | None = None):
    config = write(tmp_path / "serve.yaml", document)
    log = tmp_path / "serve.log"
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HEALTHPROBES_")}
    environment.update(env or {})
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            [str(BIN / "healthprobes"), "serve", "--config", str(config), "--listen",
             f"127.0.0.1:{port}"], stdout=log_file, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env=environment)
    served = Served(process, port, config, log)
    try:
        end = time.monotonic() + 20
        while True:
            assert process.poll() is None, served.log()
            try:
                if served.get("/-/healthy", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < end, served.log()
            time.sleep(0.1)
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@contextmanager
def silent_server():
    """A TCP server that accepts and never answers: a hung target. Yields its address
    and the list of accepted connections."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            accepted.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}", accepted
    finally:
        stop.set()
        thread.join(5)
        for connection in accepted:
            connection.close()
        listener.close()


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
