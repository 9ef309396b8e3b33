"""The container image's pieces that run without Docker: the entrypoint script (run here
by /bin/sh, as in the image), its serve form against a real gRPC server, and the
Dockerfile's promises. The image itself is built and every check and the serve form run
from it by deploy/docker/try_image.py (needs a Docker daemon)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from servers.grpc_health_server import health_server
from tests.serving import serving, stop

ROOT = Path(__file__).resolve().parent.parent
ENTRYPOINT = ROOT / "deploy" / "docker" / "entrypoint.sh"
BIN = Path(sys.executable).parent


def entrypoint(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    return subprocess.Popen(["/bin/sh", str(ENTRYPOINT), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kwargs)


def test_entrypoint_runs_the_check_it_is_given():
    process = entrypoint("check_etcd", "--version")
    out, err = process.communicate(timeout=30)
    assert (process.returncode, err) == (0, "")
    assert out.startswith("check_etcd (healthprobes) ")
    process = entrypoint("check_grpc_health", "--addr", "127.0.0.1:1", "-t", "1")
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 2 and out.startswith("GRPC_HEALTH CRITICAL")


def test_entrypoint_answers_a_bare_option_with_a_hint():
    process = entrypoint("--help")
    out, err = process.communicate(timeout=10)
    assert process.returncode == 3
    assert "check_etcd" in err and "serve --config" in err and out == ""


def test_entrypoint_serve_is_healthprobes_serve_itself(tmp_path):
    """`IMAGE serve --config FILE`: the entrypoint execs `healthprobes serve`, so the
    server is the container's PID 1 (here: the process the test started), answers the
    kubelet's httpGet probes, and drains and exits 0 on SIGTERM."""
    config = tmp_path / "config.yml"
    with health_server(statuses={"orders": "SERVING"}) as grpc_server:
        config.write_text("modules:\n  orders:\n    check: check_grpc_health\n"
                          f"    args: [--addr, '{grpc_server.address}', --service, orders]\n")
        env_path = f"{BIN}:{os.environ['PATH']}"
        with serving(config, command=["env", f"PATH={env_path}", "/bin/sh",
                                      str(ENTRYPOINT)]) as server:
            # exec, not a child: no shell is left between the signal and the server.
            cmdline = Path(f"/proc/{server.process.pid}/cmdline").read_bytes().split(b"\0")
            assert any(part.endswith(b"/healthprobes") for part in cmdline), cmdline
            assert not any(part.endswith(b"entrypoint.sh") for part in cmdline), cmdline
            answer = server.get("/probe/orders")
            assert answer.status == 200 and answer.body.startswith("GRPC_HEALTH OK"), answer
            grpc_server.set("orders", "NOT_SERVING")
            answer = server.get("/probe/orders")
            assert answer.status == 503 and "GRPC_HEALTH CRITICAL" in answer.body, answer
            started = time.monotonic()
            assert stop(server.process) == 0, server.stderr()
            assert time.monotonic() - started < 5


def test_entrypoint_passes_check_config_through(tmp_path):
    """`IMAGE serve --check-config --config FILE`: serve's own exit code and message."""
    good, bad = tmp_path / "good.yml", tmp_path / "bad.yml"
    good.write_text("modules:\n  server:\n    check: check_grpc_health\n"
                    "    args: [--addr, '127.0.0.1:50051']\n")
    bad.write_text("modules:\n  server:\n    check: check_nothing\n    args: []\n")
    process = entrypoint("serve", "--check-config", "--config", str(good))
    process.communicate(timeout=30)
    assert process.returncode == 0
    process = entrypoint("serve", "--check-config", "--config", str(bad))
    out, err = process.communicate(timeout=30)
    assert process.returncode == 3
    assert "modules.server.check" in out + err, out + err  # the field, as serve names it


def test_entrypoint_waits_as_a_sidecar_and_stops_at_once_on_sigterm():
    for args in ((), ("sidecar",)):
        process = entrypoint(*args, start_new_session=True)
        time.sleep(0.5)
        assert process.poll() is None, "the sidecar did not stay up"
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
        assert time.monotonic() - started < 2
        # Its `sleep` outlives it here (in a container it dies with PID 1): clean up.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def test_dockerfile_promises():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim$", text, re.M)
    assert len(re.findall(r"^FROM \$\{BASE_IMAGE\}", text, re.M)) == 2  # multi-stage
    assert re.search(r"^USER 65532:65532$", text, re.M)  # numeric: runAsNonRoot can verify
    assert 'ENTRYPOINT ["/opt/healthprobes/bin/healthprobes-entrypoint"]' in text
    assert re.search(r"^EXPOSE 9143$", text, re.M)  # serve's default port
    assert "ENV PATH=/opt/healthprobes/bin:$PATH" in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    sys.path.insert(0, str(ROOT / "deploy" / "docker"))
    import try_image

    # What the trial script sends is what `docker build .` sends.
    for name in try_image.CONTEXT:
        if name != "Dockerfile":
            assert f"!{name}" in ignored or f"!{name}/" in ignored, name
