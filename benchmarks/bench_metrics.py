"""check_metrics on a kube-apiserver-sized scrape, against fetching and parsing it whole.

Run (after a regular install, with prometheus-client installed):
    python benchmarks/bench_metrics.py [--runs 5] [--megabytes 30]

The payload is synthetic, shaped like a kube-apiserver's /metrics: ~150k samples in
30 MB, mostly histogram buckets with long label sets. Served over loopback HTTP.
Target (issue 4): three expressions judged in at most 0.1x the time of fetching and
fully parsing the scrape with prometheus_client's parser, in at most half its memory.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import bench_setup, compare, print_table
from servers.http_standin import standin

BASELINE = """\
import sys, urllib.request
from prometheus_client.parser import text_string_to_metric_families
text = urllib.request.urlopen(sys.argv[1]).read().decode()
samples = sum(len(family.samples) for family in text_string_to_metric_families(text))
print(samples)
"""

VERBS = ["GET", "LIST", "WATCH", "POST", "PUT", "PATCH", "DELETE", "APPLY"]
BOUNDS = ["0.005", "0.025", "0.05", "0.1", "0.2", "0.4", "0.6", "0.8", "1.0", "1.25", "1.5",
          "2.0", "3.0", "4.0", "5.0", "6.0", "8.0", "10.0", "15.0", "20.0", "30.0", "45.0",
          "60.0", "+Inf"]


def payload(megabytes: int) -> bytes:
    """Histogram-heavy text like an apiserver's, about ``megabytes`` MB."""
    lines = ["# HELP apiserver_request_duration_seconds Response latency distribution.",
             "# TYPE apiserver_request_duration_seconds histogram"]
    size = 0
    resource = 0
    while size < megabytes * 1_000_000:
        resource += 1
        for verb in VERBS:
            labels = (f'component="apiserver",dry_run="",group="example{resource % 40}.io",'
                      f'resource="widgets{resource}",scope="resource",subresource="",'
                      f'verb="{verb}",version="v1"')
            count = 0
            for bound in BOUNDS:
                count += resource % 7
                line = (f"apiserver_request_duration_seconds_bucket"
                        f"{{{labels},le=\"{bound}\"}} {count}")
                lines.append(line)
                size += len(line) + 1
            lines.append(f"apiserver_request_duration_seconds_sum{{{labels}}} {count * 0.1}")
            lines.append(f"apiserver_request_duration_seconds_count{{{labels}}} {count}")
            lines.append(f'apiserver_request_total{{code="200",{labels}}} {count * 3}')
    lines += ["# TYPE etcd_server_has_leader gauge", "etcd_server_has_leader 1",
              "# TYPE process_open_fds gauge", "process_open_fds 120",
              "# TYPE process_max_fds gauge", "process_max_fds 1048576"]
    return ("\n".join(lines) + "\n").encode()


def main() -> None:
    runs, check = bench_setup(__doc__ or "", 5, "check_metrics")
    megabytes = 30
    if "--megabytes" in sys.argv:
        megabytes = int(sys.argv[sys.argv.index("--megabytes") + 1])
    body = payload(megabytes)
    samples = body.count(b"\n") - body.count(b"\n#")
    route = {"/metrics": lambda path, query: (200, {"Content-Type": "text/plain"}, body)}
    with standin(route) as (base, _), tempfile.TemporaryDirectory() as state:
        url = base + "/metrics"
        script = Path(state) / "baseline.py"
        script.write_text(BASELINE)
        results = compare({
            "fetch + prometheus_client parse": [sys.executable, str(script), url],
            "check_metrics, 3 expressions": [
                check, "--url", url, "--state-dir", state, "-t", "60",
                "--expr", "etcd_server_has_leader", "-c", "1:",
                "--expr", "process_open_fds / process_max_fds * 100", "-w", "80",
                "--expr", 'sum(apiserver_request_total{verb="LIST"})', "--label", "lists"],
        }, runs=runs, warmup=1)
    print(f"{runs} runs each; payload {len(body) / 1e6:.1f} MB, {samples} samples; "
          f"python {sys.version.split()[0]}\n")
    print_table(results, baseline="fetch + prometheus_client parse")
    base, ours = results["fetch + prometheus_client parse"], results["check_metrics, 3 expressions"]
    if ours.exit_codes != {0} or base.exit_codes != {0}:
        sys.exit(f"invalid run: exit codes {ours.exit_codes} / {base.exit_codes} (expected 0)")
    for what, ratio, limit in (("wall", ours.median_ms / base.median_ms, 0.1),
                               ("memory", ours.median_rss_mib / base.median_rss_mib, 0.5)):
        print(f"check_metrics vs full parse, {what}: {ratio:.3f}x "
              f"(target <= {limit}x: {'met' if ratio <= limit else 'NOT met'})")


if __name__ == "__main__":
    main()
