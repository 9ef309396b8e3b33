"""The benchmarks still run, in their smallest size, against real servers.

No timing is asserted here (the machine is shared and busy); what is asserted is that
every part ran and that the benchmark measured what it says it measures: healthy
probes succeeded, the hung target really hung, serve ran a probe for every request.
"""

import re
import subprocess
import sys
from pathlib import Path

from benchmarks.resident import BLACKBOX

REPOSITORY = Path(__file__).resolve().parent.parent


def table_row(output: str, first_column: str) -> list[str]:
    for line in output.splitlines():
        if line.split(" ", 1)[0] == first_column:
            return line.split()
    raise AssertionError(f"no row {first_column!r} in:\n{output}")


def test_bench_serve_smallest_size() -> None:
    done = subprocess.run(
        [sys.executable, "benchmarks/bench_serve.py", "--probes", "20", "--exec-runs", "2",
         "--rounds", "2", "--rate", "40", "--isolation-seconds", "1",
         "--memory-probes", "200", "--idle-seconds", "0.5"],
        cwd=REPOSITORY, capture_output=True, text=True, timeout=240)
    output = done.stdout
    # Exit 0: no probe of a healthy target failed in any part.
    assert done.returncode == 0, output + done.stderr
    for target in ("gRPC", "etcd"):
        for variant in ("serve /probe/<module>", "serve /probe?module=", "exec"):
            row = next(line for line in output.splitlines()
                       if line.startswith(f"{target}: {variant} "))
            probes, failed = row.split()[-2:]
            assert (int(probes), int(failed)) == (2 if variant == "exec" else 20, 0), row
    has_blackbox = "gRPC: blackbox_exporter" in output
    assert has_blackbox == BLACKBOX.exists(), output
    # Requests were sent one at a time, so serve had no answer to share: it ran them all.
    grew = re.search(r"healthprobes_probes_total grew by (\d+) for (\d+) requests", output)
    assert grew is not None, output
    assert int(grew[1]) >= int(grew[2]) == 4 * (20 + 20), output  # warm-up and measured
    # The hung target never answered; the healthy modules answered every probe.
    for module in ("hung_grpc", "hung_etcd"):
        assert table_row(output, module)[2] == "0", output
    for module in ("grpc", "grpc_timed", "etcd", "etcd_serializable"):
        row = table_row(output, module)
        assert row[1] == row[2] != "0", output
    assert "the other modules' p99:" in output
    # RSS sampled at the start and after each fifth of the probes.
    samples = re.findall(r"^ +(\d+) +\d+\.\d +\d+$", output.split("== memory ==")[1], re.M)
    assert samples == ["0", "40", "80", "120", "160", "200"], output
