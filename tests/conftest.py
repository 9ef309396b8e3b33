"""Shared fixtures: run the installed executables, real servers, real certificates."""

import datetime
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


@dataclass
class Run:
    code: int
    out: str
    err: str
    seconds: float

    @property
    def first_line(self) -> str:
        return self.out.splitlines()[0] if self.out else ""


def run_command(name: str, *args: str, env: dict[str, str] | None = None,
                timeout: float = 30) -> Run:
    """Run an installed console script as Nagios, the kubelet or Telegraf would."""
    script = BIN / name
    assert script.exists(), f"{script}: install the project first (pip install .)"
    command = [str(script)]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HEALTHPROBES_")}
    environment.update(env or {})
    started = time.monotonic()
    done = subprocess.run([*command, *args], capture_output=True, text=True, timeout=timeout,
                          env=environment, stdin=subprocess.DEVNULL)
    return Run(done.returncode, done.stdout, done.stderr, time.monotonic() - started)


def until(check, condition, seconds: float = 10.0):
    """Run a check until its result meets the condition (raft needs a moment to notice a
    fault); the last result either way."""
    end = time.monotonic() + seconds
    while True:
        result = check()
        if condition(result) or time.monotonic() > end:
            return result
        time.sleep(0.2)


@dataclass
class Certificates:
    ca: Path
    other_ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    expired_cert: Path
    expired_key: Path
    stranger_cert: Path  # a client certificate from another CA
    stranger_key: Path
    ca_object: object


@pytest.fixture(scope="session")
def certs(tmp_path_factory) -> Certificates:
    """A CA, a server and a client certificate from it, an expired one, a stranger CA."""
    import trustme

    folder = tmp_path_factory.mktemp("certs")
    ca, other = trustme.CA(), trustme.CA()
    server = ca.issue_cert("localhost", "127.0.0.1", "grpc.test")
    client = ca.issue_cert("client@healthprobes.test")
    stranger = other.issue_cert("stranger@healthprobes.test")
    expired = ca.issue_cert("localhost", "127.0.0.1",
                            not_before=datetime.datetime(2020, 1, 1),
                            not_after=datetime.datetime(2021, 1, 1))

    def write(name: str, blob) -> Path:
        path = folder / name
        blob.write_to_path(str(path))
        return path

    paths = Certificates(
        ca=write("ca.pem", ca.cert_pem), other_ca=write("other-ca.pem", other.cert_pem),
        server_cert=write("server.pem", server.cert_chain_pems[0]),
        server_key=write("server.key", server.private_key_pem),
        client_cert=write("client.pem", client.cert_chain_pems[0]),
        client_key=write("client.key", client.private_key_pem),
        expired_cert=write("expired.pem", expired.cert_chain_pems[0]),
        expired_key=write("expired.key", expired.private_key_pem),
        stranger_cert=write("stranger.pem", stranger.cert_chain_pems[0]),
        stranger_key=write("stranger.key", stranger.private_key_pem),
        ca_object=ca)
    for path in (paths.server_key, paths.client_key, paths.expired_key, paths.stranger_key):
        path.chmod(0o600)
    return paths
