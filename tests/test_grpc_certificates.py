"""check_grpc_health's certificate expiry against real grpcio TLS servers.

Certificates are made here with exact validity (tests/certificate_factory.py): a leaf
of 40 days, one of 10, one that expired yesterday, a 40-day leaf under a 5-day
intermediate, and client certificates for mutual TLS. A counting TCP forwarder in front
of a server shows how many connections (and so TLS handshakes) a run made.
"""

from __future__ import annotations

import json
import socket
import threading
from contextlib import contextmanager, suppress

import grpc
import pytest

from servers.grpc_health_server import health_server
from tests.certificate_factory import Made, make_ca
from tests.conftest import run_command
from tests.readers import parse_influx

# grpcio's connectivity-polling thread may still look at a channel that a run has just
# closed, and says so from that thread: grpcio's noise, not ours (in-process runs only).
pytestmark = pytest.mark.filterwarnings(
    "ignore::pytest.PytestUnhandledThreadExceptionWarning")


class Pki:
    def __init__(self, folder) -> None:
        self.folder = folder
        self.ca = make_ca(common_name="grpc-ca")
        self.ca.write(folder, "ca")
        self.intermediate = self.ca.issue("grpc-intermediate", 5, is_ca=True, names=())
        self.leaves = {
            "forty": self.ca.issue("grpc-forty", 40),
            "ten": self.ca.issue("grpc-ten", 10),
            "expired": self.ca.issue("grpc-expired", -1, not_before_days=-30),
            "chained": self.intermediate.issue("grpc-chained", 40),
        }
        self.client = self.ca.issue("client-three", 3)
        self.client.write(folder, "client")

    @property
    def ca_file(self) -> str:
        return str(self.folder / "ca.crt")

    def client_args(self) -> list[str]:
        return ["--tls-client-cert", str(self.folder / "client.crt"),
                "--tls-client-key", str(self.folder / "client.key")]

    def credentials(self, leaf: str, require_client: bool = False) -> grpc.ServerCredentials:
        made: Made = self.leaves[leaf]
        return grpc.ssl_server_credentials(
            [(made.key_pem(), made.cert_pem(with_chain=True))],
            root_certificates=self.ca.cert_pem() if require_client else None,
            require_client_auth=require_client)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return Pki(tmp_path_factory.mktemp("grpc-pki"))


@contextmanager
def tls_server(pki: Pki, leaf: str, require_client: bool = False):
    with health_server(credentials=pki.credentials(leaf, require_client)) as server:
        yield server


def check(*args: str):
    return run_command("check_grpc_health", *args)


def perf(output: str) -> dict[str, float]:
    items = output.splitlines()[0].partition(" | ")[2].split()
    return {label: float(value.split(";")[0].rstrip("s"))
            for label, value in (item.split("=", 1) for item in items)}


def verified(server, pki: Pki, *extra: str) -> list[str]:
    return ["--addr", server.address, "--tls", "--tls-ca-cert", pki.ca_file, *extra]


THRESHOLDS = ("--cert-expiry-warning", "30", "--cert-expiry-critical", "7")


# -- days left, judged -------------------------------------------------------------------

def test_forty_days_is_ok_with_details(pki):
    with tls_server(pki, "forty") as server:
        run = check(*verified(server, pki, *THRESHOLDS))
    assert run.code == 0, run.out
    assert "(server): SERVING; earliest expiry: server in 40.0 days" in run.first_line
    values = perf(run.out)
    assert 39.9 < values["cert_expiry_days"] <= 40
    assert "cert_expiry_days_server=40;30:;7:" in run.first_line
    assert ("server: subject CN=grpc-forty; issuer CN=grpc-ca; not after " in run.out
            and "40.0 days left; presented by the server" in run.out), run.out


def test_ten_days_warns_and_a_higher_critical_is_critical(pki):
    with tls_server(pki, "ten") as server:
        warned = check(*verified(server, pki, *THRESHOLDS))
        critical = check(*verified(server, pki, "--cert-expiry-critical", "15"))
        nagios_range = check(*verified(server, pki, "--cert-expiry-warning", "@0:12"))
    assert warned.code == 1, warned.out
    assert warned.first_line.startswith("GRPC_HEALTH WARNING - server certificate expires "
                                        "in 10.0 days"), warned.out
    assert "(fewer than 30 days)" in warned.first_line
    assert critical.code == 2 and "(fewer than 15 days)" in critical.first_line, critical.out
    assert nagios_range.code == 1, nagios_range.out


def test_expired_yesterday_is_refused_and_said_how_long_ago(pki):
    with tls_server(pki, "expired") as server:
        run = check(*verified(server, pki), "-t", "5")
        as_probe = check(*verified(server, pki), "--exit-codes", "grpc-health-probe")
    assert run.code == 2, run.out
    assert "TLS: the server's certificate has expired; server certificate expired 1.0 " \
           "days ago" in run.first_line, run.out
    # The number does not vanish the day the certificate expires.
    assert -1.01 < perf(run.out)["cert_expiry_days"] < -0.99
    assert "subject CN=grpc-expired" in run.out
    assert as_probe.code == 2  # grpc-health-probe's "connection failed"


def test_expired_leaf_under_tls_no_verify(pki):
    with tls_server(pki, "expired") as server:
        run = check("--addr", server.address, "--tls", "--tls-no-verify")
        probe = check("--addr", server.address, "--tls", "--tls-no-verify", "--probe")
        judged_probe = check("--addr", server.address, "--tls", "--tls-no-verify", "--probe",
                             "--cert-expiry-critical", "7")
    assert run.code == 2, run.out
    assert run.first_line.startswith("GRPC_HEALTH CRITICAL - server certificate expired 1.0 "
                                     "days ago ("), run.out
    assert "(server): SERVING" in run.first_line
    assert perf(run.out)["cert_expiry_days"] < -0.99
    assert probe.code == 0, probe.out  # no thresholds: a probe reads no certificate
    assert judged_probe.code == 1 and "expired" in judged_probe.out, judged_probe.out


@pytest.mark.parametrize("verify", [True, False])
def test_short_lived_intermediate_is_the_soonest(pki, verify):
    with tls_server(pki, "chained") as server:
        trust = ["--tls-ca-cert", pki.ca_file] if verify else ["--tls-no-verify"]
        run = check("--addr", server.address, "--tls", *trust, *THRESHOLDS)
    assert run.code == 2, run.out
    assert run.first_line.startswith("GRPC_HEALTH CRITICAL - server_chain1 certificate "
                                     "expires in 5.0 days"), run.out
    values = perf(run.out)
    assert 4.9 < values["cert_expiry_days"] <= 5
    assert 39.9 < values["cert_expiry_days_server"] <= 40
    assert "server_chain1: subject CN=grpc-intermediate; issuer CN=grpc-ca" in run.out


@pytest.mark.parametrize("verify", [True, False])
def test_mutual_tls_with_an_expiring_client_certificate(pki, verify):
    with tls_server(pki, "forty", require_client=True) as server:
        trust = ["--tls-ca-cert", pki.ca_file] if verify else ["--tls-no-verify"]
        run = check("--addr", server.address, "--tls", *trust, *pki.client_args(),
                    *THRESHOLDS)
    assert run.code == 2, run.out
    assert run.first_line.startswith("GRPC_HEALTH CRITICAL - client certificate expires in "
                                     "3.0 days"), run.out
    assert "(fewer than 7 days)" in run.first_line
    assert "client: subject CN=client-three; issuer CN=grpc-ca" in run.out
    assert "presented by the client" in run.out
    assert 2.9 < perf(run.out)["cert_expiry_days_client"] <= 3


# -- output formats ----------------------------------------------------------------------

@pytest.mark.parametrize("output", ["nagios", "json", "influx", "prometheus"])
def test_every_output_format_carries_the_days(pki, output):
    with tls_server(pki, "ten") as server:
        run = check(*verified(server, pki, "--cert-expiry-warning", "30", "--format", output))
    if output == "nagios":
        assert run.code == 1 and 9.9 < perf(run.out)["cert_expiry_days"] <= 10, run.out
    elif output == "json":
        document = json.loads(run.out)
        assert document["state"] == "WARNING", document
        values = {item["label"]: item["value"] for item in document["perfdata"]}
        assert 9.9 < values["cert_expiry_days"] <= 10
    elif output == "influx":
        assert run.code == 0
        rows = parse_influx(run.out)
        minimum = [fields for _, tags, fields in rows if tags.get("label") == "cert_expiry_days"]
        assert len(minimum) == 1 and 9.9 < float(minimum[0]["value"]) <= 10, run.out
    else:
        from prometheus_client.parser import text_string_to_metric_families

        assert run.code == 0
        samples = [sample for family in text_string_to_metric_families(run.out)
                   for sample in family.samples
                   if sample.labels.get("label") == "cert_expiry_days"]
        assert len(samples) == 1 and 9.9 < samples[0].value <= 10, run.out


# -- which runs read the certificates, and what they cost in connections ---------------------

class CountingForwarder:
    """A TCP forwarder in front of a server that counts the connections made through it:
    each TLS connection is one handshake with the server."""

    def __init__(self, target: str) -> None:
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.connections = 0
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                self.connections += 1
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.close()
        with self._lock:
            for sock in self._sockets:
                sock.close()


@contextmanager
def counted(server):
    forwarder = CountingForwarder(server.address)
    try:
        yield forwarder
    finally:
        forwarder.close()


def test_only_runs_that_want_the_days_pay_the_extra_handshake(pki):
    with tls_server(pki, "forty") as server, counted(server) as forwarder:
        def connections(*extra: str) -> tuple[int, str]:
            before = forwarder.connections
            run = check("--addr", forwarder.address, "--tls", "--tls-ca-cert", pki.ca_file,
                        *extra)
            assert run.code == 0, run.out
            return forwarder.connections - before, run.out

        plain, plain_out = connections()
        probe, probe_out = connections("--probe")
        verbose, verbose_out = connections("-v")
        collector, collector_out = connections("--format", "json")
        judged_probe, _ = connections("--probe", "--cert-expiry-warning", "30")
    assert (plain, probe) == (1, 1) and "cert_expiry" not in plain_out + probe_out
    assert (verbose, collector, judged_probe) == (2, 2, 2)
    assert "presented by the server" in verbose_out and "cert_expiry_days" in collector_out


def imported(run) -> set[str]:
    """The modules a run imported, from Python's -X importtime trace on stderr."""
    return {line.rsplit("|", 1)[-1].strip() for line in run.err.splitlines()
            if line.startswith("import time:")}


def test_cryptography_loads_only_on_runs_that_read_a_certificate(pki):
    trace = {"PYTHONPROFILEIMPORTTIME": "1"}
    with tls_server(pki, "forty") as server:
        plain = run_command("check_grpc_health", *verified(server, pki), env=trace)
        probe = run_command("check_grpc_health", "--addr", server.address, "--tls",
                            "--tls-no-verify", "--probe", env=trace)
        judged = run_command("check_grpc_health", *verified(server, pki, *THRESHOLDS),
                             env=trace)
    assert plain.code == probe.code == judged.code == 0
    for run in (plain, probe):  # (the relay of --tls-no-verify shakes hands with tls_peek)
        assert not {"cryptography", "healthprobes.probes.certificates"} & imported(run)
    assert "healthprobes.probes.tls_peek" not in imported(plain)  # no extra handshake
    assert {"cryptography.x509", "healthprobes.probes.tls_peek"} <= imported(judged)


def test_tls_no_verify_reads_them_on_its_one_connection(pki):
    with tls_server(pki, "forty") as server, counted(server) as forwarder:
        run = check("--addr", forwarder.address, "--tls", "--tls-no-verify", *THRESHOLDS)
        assert forwarder.connections == 1
    assert run.code == 0 and 39.9 < perf(run.out)["cert_expiry_days"] <= 40, run.out


def test_a_kept_channel_reads_the_certificates_once(pki):
    """A resident caller (args.kept) reuses the channel and the certificates it read:
    ten runs make the channel's connection and one extra handshake, not ten."""
    from healthprobes.checks.grpc_health import PROGRAM
    from healthprobes.checks.runtime.evaluation import evaluate, parse_arguments
    from healthprobes.checks.runtime.kept import Kept
    from healthprobes.probes.deadline import Deadline

    with tls_server(pki, "ten") as server, counted(server) as forwarder:
        args = parse_arguments(PROGRAM, ["--addr", forwarder.address, "--tls", "--tls-ca-cert",
                                         pki.ca_file, *THRESHOLDS])
        args.kept = Kept()
        try:
            reports = [evaluate(PROGRAM, args, Deadline(5)) for _ in range(10)]
            kept_connections = forwarder.connections
            (client,) = [clients[0] for clients in args.kept._idle.values()]
            client.presented_certificates(max_age=0)  # older than allowed: read again
            reread = forwarder.connections - kept_connections
        finally:
            args.kept.close()
    assert [report.state for report in reports] == [1] * 10, reports[0].summary
    assert all("10.0 days" in report.summary for report in reports)
    assert kept_connections == 2
    assert reread == 1


def test_thresholds_need_tls():
    run = check("--addr", "127.0.0.1:1", "--cert-expiry-warning", "30")
    assert run.code == 3
    assert "--cert-expiry-warning and --cert-expiry-critical need --tls" in run.first_line
