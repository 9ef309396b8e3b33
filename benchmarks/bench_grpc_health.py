"""check_grpc_health against the floor: a bare Python script doing the same Check call.

Run: python benchmarks/bench_grpc_health.py [--runs 30]
Target (issue 2): median wall time and peak memory within 1.1x of the floor.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import bench_setup, compare, print_table
from servers.grpc_health_server import health_server

# The least a Python health check can do: import grpcio and its health messages,
# connect, call Check once, exit by the answer.
FLOOR = """\
import sys
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
channel = grpc.insecure_channel(sys.argv[1])
stub = health_pb2_grpc.HealthStub(channel)
answer = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1,
                    wait_for_ready=True)
channel.close()
sys.exit(0 if answer.status == health_pb2.HealthCheckResponse.SERVING else 2)
"""


def main() -> None:
    runs, check = bench_setup(__doc__ or "", 30, "check_grpc_health")
    with tempfile.TemporaryDirectory() as folder, health_server() as server:
        floor = Path(folder) / "floor.py"
        floor.write_text(FLOOR)
        results = compare({
            "floor: bare grpcio script": [sys.executable, str(floor), server.address],
            "check_grpc_health": [check, "--addr", server.address],
            "check_grpc_health --format json": [check, "--addr", server.address,
                                                "--format", "json"],
        }, runs=runs)
    print(f"{runs} runs each, interleaved, server {server.address}, "
          f"python {sys.version.split()[0]}")
    print_table(results, baseline="floor: bare grpcio script")


if __name__ == "__main__":
    main()
