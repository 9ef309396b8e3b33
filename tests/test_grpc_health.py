"""check_grpc_health against a real grpcio server with the library's HealthServicer."""

import json
import threading
import time

import grpc
import pytest

from servers.grpc_health_server import free_port, health_server, silent_listener
from tests.conftest import run_command
from tests.readers import parse_influx


def check(*args: str, **kwargs):
    return run_command("check_grpc_health", *args, **kwargs)


@pytest.fixture
def server():
    with health_server(statuses={"up": "SERVING", "down": "NOT_SERVING",
                                 "unsure": "UNKNOWN"}) as running:
        yield running


def assert_clean(run) -> None:
    """No traceback, nothing on stderr: what every caller of a check relies on."""
    assert "Traceback" not in run.out + run.err
    assert run.err == ""


# -- states ------------------------------------------------------------------------------

def test_serving_server_is_ok_with_perfdata(server):
    run = check("--addr", server.address)
    assert run.code == 0, run.out
    assert run.first_line.startswith(f"GRPC_HEALTH OK - {server.address} (server): SERVING | ")
    perfdata = run.first_line.split(" | ", 1)[1]
    labels = [item.split("=")[0] for item in perfdata.split()]
    assert labels == ["connect_time", "rpc_time"]
    assert "e-" not in perfdata and "U" not in perfdata
    assert_clean(run)


def test_not_serving_is_critical_and_mappable(server):
    run = check("--addr", server.address, "--service", "down")
    assert run.code == 2
    assert "down: NOT_SERVING" in run.first_line
    mapped = check("--addr", server.address, "--service", "down", "--state-not-serving",
                   "warning")
    assert mapped.code == 1 and mapped.first_line.startswith("GRPC_HEALTH WARNING")
    unknown = check("--addr", server.address, "--service", "unsure", "--state-unknown", "ok")
    assert unknown.code == 0


def test_unregistered_service_is_said_plainly(server):
    run = check("--addr", server.address, "--service", "nope")
    assert run.code == 2
    assert "nope: not registered with the health service (NOT_FOUND)" in run.first_line


def test_server_without_health_service():
    with health_server(with_health=False) as bare:
        run = check("--addr", bare.address)
    assert run.code == 2
    assert "does not implement grpc.health.v1.Health" in run.first_line
    assert_clean(run)


def test_several_services_worst_wins_each_reported(server):
    run = check("--addr", server.address, "--service", "up", "--service", "down",
                "--service", "nope")
    assert run.code == 2
    lines = run.out.splitlines()
    assert "(+1 more not OK)" in lines[0]
    assert "CRITICAL: down: NOT_SERVING" in run.out
    assert "CRITICAL: nope: not registered" in run.out
    assert any(line.startswith("OK: up: SERVING") for line in lines)
    perf_labels = [item.split("=")[0] for item in lines[0].split(" | ")[1].split()]
    assert perf_labels == ["connect_time", "rpc_time_up", "rpc_time_down"]
    all_up = check("--addr", server.address, "--service", "up", "--service", "")
    assert all_up.code == 0 and "all 2 services SERVING" in all_up.first_line
    assert "rpc_time_server=" in all_up.first_line


def test_response_time_thresholds(server):
    run = check("--addr", server.address, "-w", "0.0000001", "-c", "10")
    assert run.code == 1
    assert "rpc_time is" in run.first_line and "outside range 0:0.0000001" in run.first_line
    assert ";0.0000001;10;0" in run.first_line


# -- watch, list ---------------------------------------------------------------------------

def test_wait_sees_status_change(server):
    server.set("warming", "NOT_SERVING")
    threading.Timer(0.8, server.set, ("warming", "SERVING")).start()
    run = check("--addr", server.address, "--service", "warming", "--wait", "-t", "8")
    assert run.code == 0, run.out
    assert "watched: NOT_SERVING -> SERVING" in run.first_line


def test_wait_gives_up_at_deadline(server):
    run = check("--addr", server.address, "--service", "down", "--wait", "-t", "1.5")
    assert run.code == 2
    assert "still not SERVING after" in run.first_line
    assert run.seconds < 1.5 + 0.5  # the check's own deadline, plus process start-up


def test_wait_connects_to_a_server_that_starts_late():
    port = free_port()

    def start_later(box):
        time.sleep(1.0)
        box.append(health_server(f"127.0.0.1:{port}"))
        box[0].__enter__()

    box: list = []
    starter = threading.Thread(target=start_later, args=(box,))
    starter.start()
    try:
        run = check("--addr", f"127.0.0.1:{port}", "--wait", "-t", "8")
    finally:
        starter.join()
        box[0].__exit__(None, None, None)
    assert run.code == 0, run.out


def test_list_judges_every_listed_service():
    with health_server(statuses={"a": "SERVING", "b": "NOT_SERVING"}, with_list=True) as srv:
        run = check("--addr", srv.address, "--list")
    assert run.code == 2
    assert "b: NOT_SERVING" in run.first_line
    assert "OK: a: SERVING" in run.out
    perf_labels = [item.split("=")[0] for item in run.first_line.split(" | ")[1].split()]
    assert perf_labels == ["connect_time", "rpc_time"]  # one List call, timed once


def test_list_unimplemented_is_unknown(server):
    run = check("--addr", server.address, "--list")
    assert run.code == 3
    assert "does not implement List" in run.first_line


# -- reaching the target -------------------------------------------------------------------

def test_refused_port_is_critical_or_timeout_state():
    address = f"127.0.0.1:{free_port()}"
    run = check("--addr", address)
    assert run.code == 2
    assert run.first_line == f"GRPC_HEALTH CRITICAL - {address}: connection refused"
    assert_clean(run)
    assert check("--addr", address, "--timeout-state", "warning").code == 1


def test_silent_listener_ends_inside_timeout():
    with silent_listener() as address:
        run = check("--addr", address, "-t", "1", "--connect-timeout", "30")
    assert run.code == 2
    assert "no gRPC connection within" in run.first_line
    assert run.seconds < 1.3  # -t 1: the verdict comes before a kubelet would kill us
    assert_clean(run)


def test_server_that_never_answers_the_call():
    with health_server(check_delay=3) as slow:
        run = check("--addr", slow.address, "--rpc-timeout", "300ms")
        softer = check("--addr", slow.address, "--rpc-timeout", "300ms",
                       "--timeout-state", "warning")
    assert run.code == 2
    assert "(server): no answer in time (DEADLINE_EXCEEDED)" in run.first_line
    assert run.seconds < 2.5  # the call's own timeout, not the handler's 3 s
    assert softer.code == 1


def test_unknown_host_is_critical():
    run = check("--addr", "no-such-host.invalid:50051")
    assert run.code == 2
    assert "cannot resolve the host name" in run.first_line


def test_unix_socket(tmp_path):
    path = tmp_path / "health.sock"
    with health_server(f"unix://{path}") as srv:
        run = check("--addr", srv.address)
    assert run.code == 0, run.out
    missing = check("--addr", f"unix://{tmp_path}/missing.sock")
    assert missing.code == 2 and "no such unix socket" in missing.first_line


def test_rpc_headers_and_user_agent_reach_the_server(server):
    run = check("-addr", server.address, "-rpc-header", "Authorization: Bearer s3cret",
                "--rpc-header", "x-team: storage", "--user-agent", "probe-test/1")
    assert run.code == 0
    seen = server.servicer.metadata_seen[-1]
    assert seen["authorization"] == "Bearer s3cret"
    assert seen["x-team"] == "storage"
    assert seen["user-agent"].startswith("probe-test/1")


def test_gzip(server):
    assert check("--addr", server.address, "--gzip").code == 0


def test_grpc_health_probe_spellings(server):
    run = check(f"-addr={server.address}", "-service=up", "-connect-timeout=250ms",
                "-rpc-timeout", "1s", "-v")
    assert run.code == 0, run.out
    version = check("-version")
    assert version.code == 0 and "healthprobes" in version.out


def test_ipv6_and_port_only_addresses(server):
    with health_server("[::1]:0") as v6:
        assert check("--addr", v6.address).code == 0
    port = server.address.rsplit(":", 1)[1]
    assert check("--addr", f":{port}").code == 0  # Go's ":port", as grpc-health-probe takes


# -- TLS -----------------------------------------------------------------------------------

def credentials(certs, cert=None, key=None, require_client=False):
    root = certs.ca.read_bytes() if require_client else None
    return grpc.ssl_server_credentials(
        [((key or certs.server_key).read_bytes(), (cert or certs.server_cert).read_bytes())],
        root_certificates=root, require_client_auth=require_client)


def test_tls_with_ca(certs, tmp_path):
    with health_server(credentials=credentials(certs)) as srv:
        ok = check("--addr", srv.address, "--tls", "--tls-ca-cert", str(certs.ca))
        wrong_ca = check("--addr", srv.address, "--tls", "--tls-ca-cert", str(certs.other_ca))
        wrong_name = check("--addr", srv.address, "--tls", "--tls-ca-cert", str(certs.ca),
                           "--tls-server-name", "elsewhere.test")
        right_name = check("--addr", srv.address, "--tls", "--tls-ca-cert", str(certs.ca),
                           "--tls-server-name", "grpc.test")
        plaintext = check("--addr", srv.address)
        # The relay's socket lives in a private directory under $TMPDIR: nothing is left.
        no_verify = check("--addr", srv.address, "--tls", "--tls-no-verify",
                          env={"TMPDIR": str(tmp_path)})
        refused = check("--addr", f"127.0.0.1:{free_port()}", "--tls", "--tls-no-verify",
                        env={"TMPDIR": str(tmp_path)})
    assert list(tmp_path.iterdir()) == []
    assert refused.code == 2, refused.out
    assert ok.code == 0, ok.out
    assert wrong_ca.code == 2 and "certificate is not trusted" in wrong_ca.first_line
    assert wrong_name.code == 2 and "does not name this host" in wrong_name.first_line
    assert right_name.code == 0, right_name.out
    assert plaintext.code == 2 and "expect TLS" in plaintext.first_line
    assert no_verify.code == 0, no_verify.out
    for run in (ok, wrong_ca, wrong_name, plaintext, no_verify):
        assert_clean(run)


def test_tls_to_a_plaintext_server(certs, server):
    run = check("--addr", server.address, "--tls", "--tls-ca-cert", str(certs.ca))
    assert run.code == 2 and "does not speak TLS" in run.first_line


def test_mutual_tls(certs):
    with health_server(credentials=credentials(certs, require_client=True)) as srv:
        ok = check("--addr", srv.address, "--tls", "--tls-ca-cert", str(certs.ca),
                   "--tls-client-cert", str(certs.client_cert),
                   "--tls-client-key", str(certs.client_key))
        no_client_cert = check("--addr", srv.address, "--tls", "--tls-ca-cert", str(certs.ca))
        unverified_mtls = check("--addr", srv.address, "--tls", "--tls-no-verify",
                                "--tls-client-cert", str(certs.client_cert),
                                "--tls-client-key", str(certs.client_key))
    assert ok.code == 0, ok.out
    assert no_client_cert.code == 2
    assert "does it require a client certificate?" in no_client_cert.first_line
    assert_clean(no_client_cert)
    assert unverified_mtls.code == 0, unverified_mtls.out


def test_expired_certificate(certs):
    creds = credentials(certs, cert=certs.expired_cert, key=certs.expired_key)
    with health_server(credentials=creds) as srv:
        run = check("--addr", srv.address, "--tls", "--tls-ca-cert", str(certs.ca))
        unverified = check("--addr", srv.address, "--tls", "--tls-no-verify")
        probe = check("--addr", srv.address, "--tls", "--tls-no-verify", "--probe")
    assert run.code == 2 and "expired" in run.first_line
    # Unverified, the call succeeds; the certificate is still read and judged expired.
    assert unverified.code == 2, unverified.out
    assert "server certificate expired" in unverified.first_line
    assert "(server): SERVING" in unverified.first_line
    # A Kubernetes probe without expiry thresholds reads no certificate: the server is up.
    assert probe.code == 0, probe.out


# -- output formats and probe mode ------------------------------------------------------------

def test_json_format(server):
    run = check("--addr", server.address, "--service", "down", "--format", "json")
    document = json.loads(run.out)
    assert run.code == 2
    assert document["state"] == "CRITICAL" and document["state_code"] == 2
    assert document["target"] == server.address
    assert {"name": "down", "state": "CRITICAL", "state_code": 2,
            "text": "down: NOT_SERVING"} in document["results"]
    assert [p["label"] for p in document["perfdata"]] == ["connect_time", "rpc_time"]
    assert all(isinstance(p["value"], float) for p in document["perfdata"])


def test_prometheus_format_parses_and_exits_zero(server):
    from prometheus_client.parser import text_string_to_metric_families

    run = check("--addr", server.address, "--service", "down", "--service", "up",
                "--format", "prometheus")
    assert run.code == 0 and run.err == ""
    families = {family.name: family for family in text_string_to_metric_families(run.out)}
    state = families["healthprobes_state"].samples[0]
    assert state.value == 2 and state.labels == {"check": "grpc_health",
                                                 "target": server.address}
    items = {s.labels["item"]: s.value for s in families["healthprobes_result_state"].samples}
    assert items["down"] == 2 and items["up"] == 0
    perf = {s.labels["label"] for s in families["healthprobes_perfdata"].samples}
    assert perf == {"connect_time", "rpc_time_down", "rpc_time_up"}


def test_influx_format_parses_and_exits_zero(server):
    run = check("--addr", server.address, "--service", "down", "--format", "influx")
    assert run.code == 0 and run.err == ""
    rows = parse_influx(run.out)
    measurement, tags, fields = rows[0]
    assert measurement == "healthprobes"
    assert tags == {"check": "grpc_health", "target": server.address}
    assert fields["state"] == 2 and fields["state_text"] == "CRITICAL"
    perf = [r for r in rows if r[0] == "healthprobes_perfdata"]
    assert {r[1]["label"] for r in perf} == {"connect_time", "rpc_time"}
    assert all(r[1]["uom"] == "s" and r[2]["value"] >= 0 for r in perf)


def test_collector_formats_stay_quiet_when_the_target_is_down():
    address = f"127.0.0.1:{free_port()}"
    for fmt in ("influx", "prometheus"):
        run = check("--addr", address, "--format", fmt)
        assert run.code == 0 and run.err == ""
        assert "2" in run.out.splitlines()[0 if fmt == "influx" else 2]


@pytest.mark.parametrize(("service", "expected"), [("up", 0), ("down", 1)])
def test_probe_mode_exit_codes(server, service, expected):
    run = check("--addr", server.address, "--service", service, "--probe")
    assert run.code == expected
    assert len(run.out.splitlines()) == 1
    by_env = check("--addr", server.address, "--service", service,
                   env={"HEALTHPROBES_PROBE": "1"})
    assert by_env.code == expected


def test_probe_mode_warning_passes_and_unknown_fails(server):
    assert check("--addr", server.address, "--service", "down", "--state-not-serving",
                 "warning", "--probe").code == 0
    assert check("--addr", server.address, "--list", "--probe").code == 1
    assert check("--probe").code == 1  # a usage error fails the probe too


# -- bad arguments -----------------------------------------------------------------------------

@pytest.mark.parametrize(("args", "message"), [
    ((), "--addr is required"),
    (("--addr", "x:1", "--tls-ca-cert", "ca.pem"), "--tls-ca-cert needs --tls"),
    (("--addr", "x:1", "--tls", "--tls-no-verify", "--tls-server-name", "a"),
     "--tls-no-verify cannot go with"),
    (("--addr", "x:1", "--tls", "--tls-client-cert", "c.pem"), "go together"),
    (("--addr", "x:1", "--connect-timeout", "soon"), "invalid duration 'soon'"),
    (("--addr", "x:1", "-t", "0"), "-t: '0' must be above 0"),
    (("--addr", "x:1", "-t", "99999999999"), "too long"),
    (("--addr", "x:1", "-w", "1e400"), "no finite number"),
    (("--addr", "x:1", "-c", "@1e400"), "no finite number"),
    (("--addr", "127.0.0.1:999999999999"), "port 999999999999 is outside 1-65535"),
    (("--addr", "::1:50051"), "write IPv6 addresses in brackets, as [::1]:50051"),
    (("--addr", "http://127.0.0.1:50051"), "no http://; write 127.0.0.1:50051"),
    (("--addr", "127.0.0.1"), "give a port"),
    (("--addr", "a" * 64 + ".example:1"), "no valid part of a host name"),
    (("--addr", "x:1\r\nX-Injected: 1"), "control character (U+000D)"),
    (("--addr", "x:1", "--rpc-header", "k: v\nx: y"), "control character (U+000A)"),
    (("--addr", "x:1", "--service", "a\x1bb"), "control character (U+001B)"),
    (("--addr", "x:1", "-w", "5:1"), "invalid range '5:1'"),
    (("--addr", "x:1", "--rpc-header", "no colon"), "write 'name: value'"),
    (("--addr", "x:1", "--rpc-header", "grpc-timeout: 1"), "reserved"),
    (("--addr", "x:1", "--state-not-serving", "fine"), "invalid state 'fine'"),
    (("--addr", "x:1", "--list", "--service", "a"), "cannot go with"),
    (("--addr", "x:1", "--bogus"), "unknown option '--bogus'"),
    (("--addr", "x:1", "--format", "xml"), "invalid choice 'xml'"),
])
def test_bad_arguments_are_unknown_in_one_line(args, message):
    run = check(*args)
    assert run.code == 3, run.out
    assert run.first_line.startswith("GRPC_HEALTH UNKNOWN - invalid arguments: ")
    assert message in run.first_line
    assert_clean(run)


def test_unusable_certificate_files_are_unknown(certs, tmp_path, server):
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    missing = check("--addr", server.address, "--tls", "--tls-ca-cert", str(tmp_path / "no.pem"))
    bad_pem = check("--addr", server.address, "--tls", "--tls-ca-cert", str(garbage))
    mismatched = check("--addr", server.address, "--tls", "--tls-client-cert",
                       str(certs.client_cert), "--tls-client-key", str(certs.server_key))
    assert missing.code == 3 and "CA certificate: cannot read" in missing.first_line
    assert bad_pem.code == 3 and "is not PEM" in bad_pem.first_line
    assert mismatched.code == 3 and "does not match certificate" in mismatched.first_line
    for run in (missing, bad_pem, mismatched):
        assert_clean(run)


def test_help_documents_every_option():
    run = check("--help")
    assert run.code == 0
    for option in ("--addr", "--service", "--connect-timeout", "--rpc-timeout", "--rpc-header",
                   "--user-agent", "--gzip", "--tls-ca-cert", "--tls-client-cert",
                   "--tls-client-key", "--tls-server-name", "--tls-no-verify", "--wait",
                   "--list", "--state-not-serving", "--format", "--probe", "--timeout-state"):
        assert option in run.out


# -- drop-in for grpc-health-probe ------------------------------------------------------------

def test_grpc_health_probe_exit_codes_on_request(server):
    """--exit-codes grpc-health-probe: 0 SERVING, 1 arguments, 2 connection, 3 call
    failed, 4 answered but not SERVING, for scripts that read grpc-health-probe's codes."""
    def codes(*args: str) -> int:
        return check(*args, "--exit-codes", "grpc-health-probe").code

    assert codes("--addr", server.address, "--service", "up") == 0
    assert codes("--addr", server.address, "--service", "down") == 4
    assert codes("--addr", server.address, "--service", "nobody-registered-this") == 3
    assert codes("--addr", f"127.0.0.1:{free_port()}") == 2
    assert codes("--addr", server.address, "--bogus") == 1
    assert codes() == 1
    by_env = check("--addr", server.address, "--service", "down",
                   env={"HEALTHPROBES_EXIT_CODES": "grpc-health-probe"})
    assert by_env.code == 4
    assert check("--addr", server.address, "--service", "down").code == 2  # Nagios


def test_go_boolean_spellings_and_flags_it_does_not_offer(server):
    assert check("-addr=" + server.address, "-tls=false", "-gzip=true").code == 0
    assert check("-addr=" + server.address, "-tls=true").code == 2  # TLS to a plain server
    for flag, words in (("-alts", "does not offer ALTS"), ("-spiffe", "does not offer SPIFFE")):
        run = check("-addr=" + server.address, flag)
        assert run.code == 3 and f"invalid arguments: {flag}: healthprobes {words}" \
            in run.first_line
