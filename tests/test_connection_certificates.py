"""Certificate expiry on the TLS connections the checks make, against real servers.

A TLS etcd with client-certificate auth whose server certificate expires in 10 days
(certificates made here with exact validity), one whose certificate expired yesterday,
and etcd's own /metrics over https for check_metrics.
"""

import json
import ssl
import urllib.request

import pytest

from servers.etcd_cluster import EtcdCluster, TlsFiles, etcd_binaries
from tests.certificate_factory import make_ca
from tests.conftest import run_command

BINARIES = etcd_binaries()
pytestmark = pytest.mark.skipif(not BINARIES, reason="no etcd binary installed")
NEWEST = BINARIES[sorted(BINARIES)[-1]]
NO_CHECK_TIME = 0x200000  # OpenSSL's X509_V_FLAG_NO_CHECK_TIME


class ExpiredCertificateCluster(EtcdCluster):
    """Its own readiness check ignores dates: the member's certificate has expired."""

    def _healthy(self, member) -> bool:
        context = ssl.create_default_context(cafile=self.tls.ca)
        context.verify_flags |= NO_CHECK_TIME
        context.load_cert_chain(self.tls.client_cert, self.tls.client_key)
        try:
            with urllib.request.urlopen(member.client_url + "/health", timeout=1,
                                        context=context) as answer:
                return json.loads(answer.read()).get("health") == "true"
        except Exception:
            return False


def _pki(folder, server_days, server_from=-1, ca=None):
    ca = ca or make_ca()
    ca.write(folder, "ca")
    server_cert, server_key = ca.issue("etcd-server", server_days,
                                       not_before_days=server_from).write(folder, "server")
    client_cert, client_key = ca.issue("etcd-client", 40).write(folder, "client")
    return TlsFiles(str(server_cert), str(server_key), str(folder / "ca.crt"),
                    str(client_cert), str(client_key))


@pytest.fixture(scope="module")
def ten_days(tmp_path_factory):
    files = _pki(tmp_path_factory.mktemp("ten_days"), 10)
    with EtcdCluster(NEWEST, 1, tls=files) as cluster:
        cluster.files = files
        yield cluster


@pytest.fixture(scope="module")
def expired(tmp_path_factory):
    files = _pki(tmp_path_factory.mktemp("expired"), -1, server_from=-30)
    cluster = ExpiredCertificateCluster(NEWEST, 1, tls=files)
    try:
        cluster.start()
        cluster.files = files
        yield cluster
    finally:
        cluster.stop()


def tls(files, verify=True):
    trust = ["--cacert", files.ca] if verify else ["--insecure-skip-tls-verify"]
    return [*trust, "--cert", files.client_cert, "--key", files.client_key]


def perf(output: str) -> dict[str, str]:
    items = output.splitlines()[0].partition("|")[2].split()
    return dict(item.split("=", 1) for item in items)


def test_every_subcommand_reports_the_days_left(ten_days):
    for command in ("health", "status", "alarms", "members", "cluster"):
        run = run_command("check_etcd", command, "--endpoints", ten_days.endpoints,
                          *tls(ten_days.files))
        assert run.code == 0, (command, run.out)
        days = float(perf(run.out)["cert_expiry_days"].split(";")[0])
        assert 9.9 < days <= 10, (command, run.out)  # the client's 40 days are not the minimum
        assert "earliest expiry: server in 10.0 days" in run.first_line, run.out


def test_thresholds_judge_server_and_client(ten_days):
    run = run_command("check_etcd", "health", "--endpoints", ten_days.endpoints,
                      *tls(ten_days.files), "--cert-expiry-warning", "30",
                      "--cert-expiry-critical", "7")
    assert run.code == 1, run.out
    assert run.first_line.startswith("WARNING") or "fewer than 30 days" in run.first_line
    assert "server certificate expires in 10.0 days" in run.first_line
    assert "fewer than 30 days" in run.first_line
    assert "subject CN=etcd-server; issuer CN=etcd-ca" in run.out
    assert "presented by the server" in run.out and "presented by the client" in run.out
    values = perf(run.out)
    assert values["cert_expiry_days_server"].split(";")[1:3] == ["30:", "7:"]
    assert 39.9 < float(values["cert_expiry_days_client"].split(";")[0]) <= 40
    critical = run_command("check_etcd", "status", "--endpoints", ten_days.endpoints,
                           *tls(ten_days.files), "--cert-expiry-critical", "15")
    assert critical.code == 2 and "fewer than 15 days" in critical.first_line, critical.out


def test_without_thresholds_details_only_with_verbose(ten_days):
    quiet = run_command("check_etcd", "health", "--endpoints", ten_days.endpoints,
                        *tls(ten_days.files))
    assert "subject CN=etcd-server" not in quiet.out
    verbose = run_command("check_etcd", "health", "--endpoints", ten_days.endpoints,
                          *tls(ten_days.files), "-v")
    assert verbose.code == 0 and "subject CN=etcd-server" in verbose.out


def test_cluster_names_the_member(ten_days):
    run = run_command("check_etcd", "cluster", "--endpoints", ten_days.endpoints,
                      *tls(ten_days.files), "--cert-expiry-warning", "20", "-v")
    assert run.code == 1, run.out
    assert "server certificate expires in 10.0 days" in run.first_line


def test_expired_certificate_without_verification(expired):
    run = run_command("check_etcd", "health", "--endpoints", expired.endpoints,
                      *tls(expired.files, verify=False))
    assert run.code == 2, run.out
    assert "server certificate expired 1.0 days ago" in run.first_line, run.out
    assert float(perf(run.out)["cert_expiry_days"].split(";")[0]) < -0.9


def test_expired_certificate_with_verification_says_how_long_ago(expired):
    run = run_command("check_etcd", "health", "--endpoints", expired.endpoints,
                      *tls(expired.files), "-t", "3")
    assert run.code == 2, run.out
    assert "certificate has expired: 1.0 days ago" in run.first_line, run.out


def test_metrics_over_https(ten_days):
    url = ten_days.endpoints.split(",")[0] + "/metrics"
    args = ["--url", url, "--cacert", ten_days.files.ca, "--cert", ten_days.files.client_cert,
            "--key", ten_days.files.client_key, "--expr", "etcd_server_has_leader", "-c", "1:"]
    run = run_command("check_metrics", *args, "--cert-expiry-warning", "30")
    assert run.code == 1, run.out
    assert "server certificate expires in 10.0 days" in run.first_line
    quiet = run_command("check_metrics", *args)
    assert quiet.code == 0 and "earliest expiry: server in 10.0 days" in quiet.first_line


@pytest.mark.parametrize("output", ["json", "influx", "prometheus"])
def test_every_output_format(ten_days, output):
    run = run_command("check_etcd", "health", "--endpoints", ten_days.endpoints,
                      *tls(ten_days.files), "--cert-expiry-warning", "30",
                      "--format", output)
    assert "cert_expiry_days" in run.out, run.out
    if output == "json":
        document = json.loads(run.out)
        assert document["state"] in ("WARNING", 1), document
    else:
        assert run.code == 0  # influx and prometheus always exit 0


class MemberCertificateCluster(EtcdCluster):
    """Each member serves its own certificate (``certificates``: member name -> files),
    as members of a real cluster do, issued on different days."""

    def __init__(self, *args, certificates: dict[str, tuple[str, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.certificates = certificates

    def command(self, member) -> list[str]:
        args = super().command(member)
        cert, key = self.certificates[member.name]
        args[args.index("--cert-file") + 1] = cert
        args[args.index("--key-file") + 1] = key
        return args


@pytest.fixture(scope="module")
def staggered(tmp_path_factory):
    """Three members whose certificates run out in 60, 12 and 45 days."""
    folder = tmp_path_factory.mktemp("staggered")
    ca = make_ca()
    files = _pki(folder, 60, ca=ca)
    certificates = {}
    for name, valid in {"m0": 60, "m1": 12, "m2": 45}.items():
        cert, key = ca.issue(f"etcd-{name}", valid).write(folder, f"server-{name}")
        certificates[name] = (str(cert), str(key))
    with MemberCertificateCluster(NEWEST, 3, tls=files, certificates=certificates) as cluster:
        cluster.files = files
        yield cluster


def test_cluster_names_the_member_whose_certificate_runs_out_first(staggered):
    run = run_command("check_etcd", "cluster", "--endpoints", staggered.endpoints,
                      *tls(staggered.files), "--cert-expiry-warning", "30", "-v")
    assert run.code == 1, run.out
    assert run.first_line.startswith("ETCD_CLUSTER WARNING - server_m1 certificate expires in "
                                     "12.0 days"), run.out
    values = perf(run.out)
    days = {name: float(values[f"cert_expiry_days_server_{name}"].split(";")[0])
            for name in ("m0", "m1", "m2")}
    assert [round(days[name]) for name in ("m0", "m1", "m2")] == [60, 12, 45], values
    assert 11.9 < float(values["cert_expiry_days"].split(";")[0]) <= 12
    assert "server_m1: subject CN=etcd-m1" in run.out
    quiet = run_command("check_etcd", "cluster", "--endpoints", staggered.endpoints,
                        *tls(staggered.files))
    assert quiet.code == 0 and "earliest expiry: server_m1 in 12.0 days" in quiet.first_line, \
        quiet.out
