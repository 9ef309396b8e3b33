"""What reading the server's certificates costs check_grpc_health, against a real grpcio
TLS server (an ECDSA P-256 leaf of 40 days under a test CA, made at start).

With verification on, grpcio does not show a Python client the server's certificates,
so a run that wants their expiry makes one extra TLS handshake (probes/tls_peek.py) and
parses them with cryptography; under --tls-no-verify the relay's handshake carries
them and only the parsing is added. Whole runs are timed (fork to exit, interleaved),
and the extra handshake alone in-process.

Run: python benchmarks/bench_grpc_certificates.py [--runs 20]
"""

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import grpc

from benchmarks.harness import bench_setup, compare, print_table
from servers.grpc_health_server import health_server
from tests.certificate_factory import make_ca


def handshake_alone(address: str, ca_file: str, runs: int) -> float:
    """Median milliseconds of the extra handshake by itself (connect, TLS, close), in
    one process, so neither start-up nor imports are counted."""
    from healthprobes.probes.deadline import Deadline
    from healthprobes.probes.grpc_health import GrpcTarget, TlsOptions, peek_server_chain
    from healthprobes.probes.tls import load_material

    target = GrpcTarget(address, TlsOptions(load_material(ca_file, None, None)))
    peek_server_chain(target, Deadline(5))  # warm-up: the CA file into the page cache
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        peek_server_chain(target, Deadline(5))
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    runs, check = bench_setup(__doc__ or "", 20, "check_grpc_health")
    with tempfile.TemporaryDirectory() as folder:
        ca = make_ca(common_name="bench-ca")
        ca.write(Path(folder), "ca")
        leaf = ca.issue("bench-server", 40)
        ca_file = str(Path(folder) / "ca.crt")
        credentials = grpc.ssl_server_credentials([(leaf.key_pem(), leaf.cert_pem())])
        with health_server(credentials=credentials) as server:
            verified = [check, "--addr", server.address, "--tls", "--tls-ca-cert", ca_file]
            unverified = [check, "--addr", server.address, "--tls", "--tls-no-verify"]
            results = compare({
                "verified, no expiry interest": verified,
                "verified, --cert-expiry-warning": [*verified, "--cert-expiry-warning", "30"],
                "verified, --probe": [*verified, "--probe"],
                "no-verify --probe (reads none)": [*unverified, "--probe"],
                "no-verify (parse only)": unverified,
            }, runs=runs)
            alone = handshake_alone(server.address, ca_file, runs)
    print(f"{runs} runs each, interleaved, python {sys.version.split()[0]}")
    print_table(results, baseline="verified, no expiry interest")
    with_read = results["verified, --cert-expiry-warning"].median_ms
    without = results["verified, no expiry interest"].median_ms
    print(f"\nreading the certificates with verification on: +{with_read - without:.1f} ms "
          f"median per run ({without:.1f} -> {with_read:.1f} ms)")
    print(f"the extra handshake alone (in-process, median of {runs}): {alone:.2f} ms")


if __name__ == "__main__":
    main()
