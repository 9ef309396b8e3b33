"""check_etcd certs: kubeadm-shaped PKI folders made at test time, judged from the files."""

import json

import pytest

from tests.certificate_factory import days, kubeadm_pki, make_ca
from tests.conftest import run_command
from tests.readers import parse_influx, parse_prometheus

MANIFEST = """\
apiVersion: v1
kind: Pod
metadata: {name: etcd, namespace: kube-system}
spec:
  containers:
  - name: etcd
    image: registry.k8s.io/etcd:3.5.15-0
    command:
    - etcd
    - --advertise-client-urls=https://{client}:2379
    - --initial-advertise-peer-urls=https://{peer}:2380
    - --cert-file=/etc/kubernetes/pki/etcd/server.crt
"""


def certs(*args: str):
    return run_command("check_etcd", "certs", *args)


def perf(run) -> dict[str, float]:
    """The perfdata values by label (the first line's, after the |)."""
    items = run.first_line.partition("|")[2].split()
    return {label: float(value.split(";")[0])
            for label, _, value in (item.partition("=") for item in items)}


def test_a_fresh_kubeadm_folder_is_ok_with_every_certificate_in_perfdata(tmp_path):
    kubeadm_pki(tmp_path)
    run = certs("--pki-dir", str(tmp_path), "--manifest", _manifest(tmp_path, "10.0.0.1"))
    assert run.code == 0, run.out
    assert run.first_line.startswith("ETCD_CERTS OK - 4 certificates valid, chained to the CA")
    values = perf(run)
    assert set(values) == {"cert_expiry_days", "cert_expiry_days_ca", "cert_expiry_days_server",
                           "cert_expiry_days_peer", "cert_expiry_days_healthcheck-client"}
    assert 364.9 < values["cert_expiry_days"] <= 365
    assert 3649 < values["cert_expiry_days_ca"] <= 3650
    # Default thresholds: leaves 30/7, the CA 365/90, in the perfdata's warn;crit fields.
    assert "cert_expiry_days_server=" in run.out and ";30:;7:" in run.out
    assert "cert_expiry_days_ca=" in run.out and ";365:;90:" in run.out
    assert "subject CN=etcd-0-server; issuer CN=etcd-ca" in run.out
    assert "PRIVATE KEY" not in run.out + run.err


@pytest.mark.parametrize(("valid", "code", "words"), [
    (40, 0, None),
    (10, 1, "server certificate expires in 10.0 days"),
    (5, 2, "server certificate expires in 5.0 days"),
    (-1, 2, "server certificate expired 1.0 days ago"),
])
def test_days_left_against_the_default_thresholds(tmp_path, valid, code, words):
    kubeadm_pki(tmp_path, server=valid)
    run = certs("--pki-dir", str(tmp_path))
    assert run.code == code, run.out
    if words:
        assert words in run.first_line
    assert abs(perf(run)["cert_expiry_days"] - valid) < 0.01


def test_thresholds_in_plain_days_and_as_nagios_ranges(tmp_path):
    kubeadm_pki(tmp_path, peer=40)
    assert certs("--pki-dir", str(tmp_path), "--cert-expiry-warning", "45").code == 1
    run = certs("--pki-dir", str(tmp_path), "--cert-expiry-warning", "45",
                "--cert-expiry-critical", "41")
    assert run.code == 2 and "peer certificate expires in 40.0 days" in run.first_line
    assert "(fewer than 41 days)" in run.first_line
    # A range as written: @0:50 alerts inside it.
    ranged = certs("--pki-dir", str(tmp_path), "--cert-expiry-critical", "@0:50")
    assert ranged.code == 2 and "(inside range 0:50)" in ranged.first_line
    bad = certs("--pki-dir", str(tmp_path), "--cert-expiry-warning", "7",
                "--cert-expiry-critical", "30")
    assert bad.code == 3 and "swap them" in bad.first_line


def test_the_ca_has_its_own_thresholds(tmp_path):
    kubeadm_pki(tmp_path, ca=make_ca(valid_days=200))
    run = certs("--pki-dir", str(tmp_path))
    assert run.code == 1 and "ca certificate expires in 200.0 days" in run.first_line
    assert certs("--pki-dir", str(tmp_path), "--ca-expiry-warning", "100").code == 0


def test_a_certificate_not_valid_yet_is_critical(tmp_path):
    ca = kubeadm_pki(tmp_path)
    ca.issue("etcd-0-peer", 365, not_before_days=2).write(tmp_path, "peer")
    run = certs("--pki-dir", str(tmp_path))
    assert run.code == 2
    assert "peer certificate is not valid yet" in run.first_line
    assert "clock skew" in run.first_line


def test_a_short_lived_intermediate_is_judged_and_the_chain_followed(tmp_path):
    ca = kubeadm_pki(tmp_path)
    intermediate = ca.issue("etcd-intermediate", 3, is_ca=True, names=())
    intermediate.issue("etcd-0-server", 300, names=("10.0.0.1",)).write(
        tmp_path, "server", with_chain=True)
    run = certs("--pki-dir", str(tmp_path))
    assert run.code == 2, run.out
    assert "server_chain1 certificate expires in 3.0 days" in run.first_line
    assert "does not chain" not in run.out
    assert abs(perf(run)["cert_expiry_days"] - 3) < 0.01


def test_a_certificate_from_another_ca_does_not_chain(tmp_path):
    kubeadm_pki(tmp_path)
    make_ca(common_name="stranger-ca").issue("etcd-0-peer", 365).write(tmp_path, "peer")
    run = certs("--pki-dir", str(tmp_path))
    assert run.code == 2
    assert "peer certificate does not chain to the CA" in run.first_line
    assert "issuer CN=stranger-ca" in run.first_line


def test_a_mismatched_key_is_critical_and_never_printed(tmp_path):
    ca = kubeadm_pki(tmp_path)
    other = ca.issue("other", 365)
    (tmp_path / "healthcheck-client.key").write_bytes(other.key_pem())
    run = certs("--pki-dir", str(tmp_path), "-v")
    assert run.code == 2
    assert "healthcheck-client key" in run.first_line and "does not match" in run.first_line
    assert "PRIVATE" not in run.out + run.err and "MIG" not in run.out


def test_a_world_readable_key_is_a_warning(tmp_path):
    kubeadm_pki(tmp_path)
    (tmp_path / "server.key").chmod(0o644)
    run = certs("--pki-dir", str(tmp_path))
    assert run.code == 1
    assert "server key" in run.first_line and "readable by its group and everyone" \
        in run.first_line and "0644" in run.first_line


def test_an_unreadable_or_missing_file_is_a_finding_not_a_crash(tmp_path):
    kubeadm_pki(tmp_path)
    (tmp_path / "peer.key").unlink()
    (tmp_path / "healthcheck-client.crt").write_text("not a certificate\n")
    run = certs("--pki-dir", str(tmp_path), "-v")
    assert run.code == 3 and "Traceback" not in run.out + run.err
    assert "peer key" in run.out and "is missing" in run.out
    assert "holds no PEM certificate" in run.out


def test_server_certificate_without_the_members_address(tmp_path):
    ca = kubeadm_pki(tmp_path)
    ca.issue("etcd-0-server", 365, names=("etcd-0", "127.0.0.1")).write(tmp_path, "server")
    by_option = certs("--pki-dir", str(tmp_path), "--expect-san", "10.0.0.1")
    assert by_option.code == 2
    assert ("server certificate does not name 10.0.0.1 (it names etcd-0, 127.0.0.1)"
            in by_option.first_line)
    # The manifest names the member's addresses: the peer URL is in the peer certificate.
    by_manifest = certs("--pki-dir", str(tmp_path), "--manifest",
                        _manifest(tmp_path, "10.0.0.1", peer="10.0.0.1"))
    assert by_manifest.code == 2 and "server certificate does not name 10.0.0.1" in \
        by_manifest.first_line and "peer certificate does not name" not in by_manifest.out
    moved = certs("--pki-dir", str(tmp_path), "--manifest",
                  _manifest(tmp_path, "127.0.0.1", peer="10.9.9.9"))
    assert moved.code == 2 and "peer certificate does not name 10.9.9.9" in moved.first_line


def test_apiserver_client_and_any_list_of_files(tmp_path):
    ca = kubeadm_pki(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    ca.issue("kube-apiserver-etcd-client", 12, names=()).write(outside, "apiserver-etcd-client")
    run = certs("--pki-dir", str(tmp_path), "--apiserver-client-cert",
                str(outside / "apiserver-etcd-client.crt"))
    assert run.code == 1 and "apiserver-etcd-client certificate expires in 12.0 days" in \
        run.first_line
    # Files alone: no CA, so no chain check; their keys are found beside them.
    lone = make_ca().issue("lone", 50)
    cert, key = lone.write(outside, "lone")
    key.chmod(0o640)
    files = certs("--cert-file", str(cert), "--cert-file", str(tmp_path / "peer.crt"))
    assert files.code == 1 and "lone key" in files.first_line and "its group" in files.first_line
    assert set(perf(files)) == {"cert_expiry_days", "cert_expiry_days_lone",
                                "cert_expiry_days_peer"}


def test_usage_errors(tmp_path):
    assert certs().code == 3
    assert "give --pki-dir" in certs().first_line
    run = certs("--cert-file", str(tmp_path / "x.crt"), "--expect-san", "10.0.0.1")
    assert run.code == 3 and "give --pki-dir" in run.first_line


@pytest.mark.parametrize("fmt", ["json", "influx", "prometheus"])
def test_every_format(tmp_path, fmt):
    kubeadm_pki(tmp_path, server=10)
    run = certs("--pki-dir", str(tmp_path), "--format", fmt)
    # JSON exits with the state; influx and prometheus always 0 (Categraf drops the rest).
    assert run.code == (1 if fmt == "json" else 0) and run.err == ""
    if fmt == "json":
        document = json.loads(run.out)
        assert document["state"] == "WARNING" and document["check"] == "etcd_certs"
        labels = {item["label"]: item["value"] for item in document["perfdata"]}
        assert abs(labels["cert_expiry_days"] - 10) < 0.01
        assert labels["cert_expiry_days_ca"] > 3649
    elif fmt == "influx":
        rows = parse_influx(run.out)
        assert rows[0][2]["state"] == 1
        values = {tags.get("label"): fields for _, tags, fields in rows if "label" in tags}
        assert abs(values["cert_expiry_days"]["value"] - 10) < 0.01
    else:
        samples = parse_prometheus(run.out)
        assert samples["healthprobes_state"][0].value == 1
        by_label = {sample.labels["label"]: sample.value
                    for sample in samples["healthprobes_perfdata"]}
        assert abs(by_label["cert_expiry_days_server"] - 10) < 0.01


def test_expiry_days_reach_the_second(tmp_path):
    """The days are counted to the certificate's notAfter, not rounded to whole days."""
    ca = kubeadm_pki(tmp_path)
    ca.issue("etcd-0-server", 0.5).write(tmp_path, "server")
    run = certs("--pki-dir", str(tmp_path))
    assert run.code == 2 and "server certificate expires in 0.5 days" in run.first_line
    assert days(0.5).strftime("%Y-%m-%d %H:%M") in run.first_line


def _manifest(folder, client: str, peer: str | None = None) -> str:
    path = folder / "etcd.yaml"
    path.write_text(MANIFEST.replace("{client}", client).replace("{peer}", peer or client))
    return str(path)
