"""The healthprobes demo: real local servers, each check in its states.

Starts a real gRPC server with the standard health service on 127.0.0.1, runs
check_grpc_health against it as Nagios, a script, a collector and the kubelet would,
changes the server's state while a check watches, then stops everything.

Run: python demo/demo.py   (after pip install .)
"""

import shlex
import shutil
import subprocess
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from servers.grpc_health_server import free_port, health_server

STATE_WORDS = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}


def tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if not found:
        sys.exit(f"{name} is not installed: run 'pip install .' in the repository first")
    return found


def show(title: str, command: list[str], probe: bool = False) -> int:
    print(f"\n### {title}\n$ {shlex.join([Path(command[0]).name, *command[1:]])}")
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    print(done.stdout.rstrip())
    if done.stderr:
        print(f"(stderr) {done.stderr.rstrip()}")
    meaning = ("probe " + ("passes" if done.returncode == 0 else "fails")) if probe else \
        STATE_WORDS.get(done.returncode, "?")
    print(f"-> exit {done.returncode} ({meaning})")
    return done.returncode


def main() -> None:
    check = tool("check_grpc_health")
    statuses = {"orders": "SERVING", "payments": "NOT_SERVING"}
    with health_server(statuses=statuses, with_list=True) as server:
        addr = server.address
        print(f"gRPC health server on {addr}: (server) SERVING, orders SERVING, "
              "payments NOT_SERVING")
        codes = [
            show("OK: the whole server", [check, "--addr", addr]),
            show("CRITICAL: one service NOT_SERVING among several",
                 [check, "--addr", addr, "--service", "orders", "--service", "payments"]),
            show("WARNING: NOT_SERVING mapped to warning",
                 [check, "--addr", addr, "--service", "payments", "--state-not-serving",
                  "warning"]),
            show("WARNING: call time over a threshold (-w in seconds)",
                 [check, "--addr", addr, "-w", "0.000001"]),
            show("CRITICAL: a service the server does not know",
                 [check, "--addr", addr, "--service", "billing"]),
            show("CRITICAL: nobody listening",
                 [check, "--addr", f"127.0.0.1:{free_port()}"]),
            show("Every service the server lists (List, gRFC A90)",
                 [check, "--addr", addr, "--list"]),
            show("JSON for scripts", [check, "--addr", addr, "--service", "payments",
                                      "--format", "json"]),
            show("Prometheus text for Categraf (always exit 0, state as a metric)",
                 [check, "--addr", addr, "--service", "payments", "--format", "prometheus"]),
            show("Kubernetes probe mode", [check, "--addr", addr, "--service", "payments",
                                           "--probe"], probe=True),
        ]
        server.set("warming", "NOT_SERVING")
        threading.Timer(1.0, server.set, ("warming", "SERVING")).start()
        codes.append(show("--wait: NOT_SERVING now, SERVING one second later",
                          [check, "--addr", addr, "--service", "warming", "--wait",
                           "-t", "10"]))
        codes.append(show("UNKNOWN: invalid arguments", [check, "--addr", addr,
                                                          "--tls-ca-cert", "ca.pem"]))
    print("\nServer stopped. Exit codes seen:", " ".join(map(str, codes)))
    expected = [0, 2, 1, 1, 2, 2, 2, 2, 0, 1, 0, 3]
    if codes != expected:
        sys.exit(f"demo: expected exit codes {expected}, got {codes}")


if __name__ == "__main__":
    main()
