"""check_etcd against what real etcd 3.4/3.5 cannot show: recorded answers and hostile servers.

The stand-in (servers/http_standin.py) answers ``/livez`` and ``/readyz`` as etcd
3.5.11+ and 3.6 do (docs/etcd.md: 3.4.23 and 3.5.1, the versions installable
here, answer 404), and plays broken servers: HTML, invalid JSON, a 1 GB body, a body
that never ends, redirects, silence.
"""

import json
import socket
import threading

import pytest

from servers.grpc_health_server import silent_listener
from servers.http_standin import endless, etcd_3_6_health_routes, fixed, standin
from tests.conftest import run_command


def etcd(*args, **kwargs):
    return run_command("check_etcd", *args, **kwargs)


# --- /livez and /readyz, recorded answers of etcd 3.5.11+ / 3.6 -----------------------------

def test_readyz_and_livez_of_a_newer_etcd():
    """Stand-in for etcd 3.5.11+: /readyz and /livez do not exist in etcd installable here."""
    with standin(etcd_3_6_health_routes(ready=True)) as (url, seen):
        ready = etcd("health", "--endpoints", url, "--endpoint-type", "readyz", "-v")
        assert ready.code == 0, ready.out
        assert "is healthy (/readyz)" in ready.first_line
        assert "  [+]linearizable_read ok" in ready.out  # the verbose detail, long output
        live = etcd("health", "--endpoints", url, "--preset", "liveness")
        assert live.code == 0 and "(/livez)" in live.first_line
        assert [path for _, path, _ in seen][-1] == "/livez?verbose"  # no fallback needed
        skip = etcd("health", "--endpoints", url, "--endpoint-type", "readyz", "--exclude",
                    "non_learner")
        assert skip.code == 0 and seen[-1][1] == "/readyz?verbose&exclude=non_learner"


def test_readyz_failure_names_the_failed_check():
    """Stand-in for etcd 3.5.11+ answering 503 from /readyz with a failed check."""
    with standin(etcd_3_6_health_routes(ready=False)) as (url, _):
        run = etcd("health", "--endpoints", url, "--preset", "readiness", "--probe")
        assert run.code == 1
        assert "unhealthy (/readyz): linearizable_read failed: etcdserver: leader changed" in (
            run.first_line)


def test_presets_fall_back_on_servers_without_livez():
    """A server that 404s /livez (etcd < 3.5.11) gets kubeadm's older /health probe."""
    routes = {"/health": fixed(200, '{"health":"true","reason":""}')}
    with standin(routes) as (url, seen):
        run = etcd("health", "--endpoints", url, "--preset", "liveness")
        assert run.code == 0
        assert [path for _, path, _ in seen] == [
            "/livez?verbose", "/health?exclude=NOSPACE&serializable=true"]
        startup = etcd("health", "--endpoints", url, "--preset", "startup")
        assert startup.code == 0 and seen[-1][1] == "/health?serializable=false"


def test_old_health_answer_without_reason():
    """etcd 3.4.0-3.4.28 answer {"health":"false"} with no reason."""
    with standin({"/health": fixed(503, '{"health":"false"}')}) as (url, _):
        run = etcd("health", "--endpoints", url)
        assert run.code == 2 and "unhealthy (/health): HTTP 503" in run.first_line


def test_gateway_asking_for_credentials():
    """Recorded: the gateway's answer to an unauthenticated call that needs a user."""
    error = ('{"error":"etcdserver: user name is empty","code":3,'
             '"message":"etcdserver: user name is empty"}')
    with standin({"/v3/maintenance/alarm": fixed(400, error)}) as (url, _):
        run = etcd("alarms", "--endpoints", url)
        assert run.code == 2
        assert "etcd requires authentication (etcdserver: user name is empty): give --user" in (
            run.first_line)


def test_zero_values_left_out_of_status():
    """etcd omits zero fields: no leader key means no leader, strings for 64-bit numbers."""
    status = ('{"header":{"cluster_id":"14841639068965178418","member_id":"10276657743932975437",'
              '"revision":"5","raft_term":"3"},"version":"3.6.0","dbSize":"24576",'
              '"raftIndex":"9","raftTerm":"3","raftAppliedIndex":"9","dbSizeInUse":"24576",'
              '"dbSizeQuota":"8589934592","errors":["etcdserver: no leader"]}')
    with standin({"/v3/maintenance/status": fixed(200, status)}) as (url, _):
        run = etcd("status", "--endpoints", url, "-v")
        assert run.code == 2 and "reports errors: etcdserver: no leader" in run.first_line
        assert "quota 8589934592 bytes (from status)" in run.out  # 3.6's dbSizeQuota


def _member_routes(member_id: int, leader: int, members: str) -> dict:
    # As the gateway writes it: 64-bit numbers as strings.
    status = json.dumps({"header": {"cluster_id": "14841639068965178418",
                                    "member_id": str(member_id), "revision": "5",
                                    "raft_term": "3"},
                         "version": "3.5.9", "dbSize": "20480", "leader": str(leader),
                         "raftIndex": "10", "raftTerm": "3", "raftAppliedIndex": "10",
                         "dbSizeInUse": "16384"})
    return {"/health": fixed(200, '{"health":"true","reason":""}'),
            "/v3/cluster/member/list": fixed(200, members),
            "/v3/maintenance/status": fixed(200, status),
            "/v3/maintenance/alarm": fixed(200, '{"header":{}}')}


def test_members_that_name_different_leaders():
    """Two members that each see themselves as leader: a partition real etcd only shows
    for a moment, so recorded answers play it (leader IDs as the gateway sends them)."""
    first_routes: dict = {}
    second_routes: dict = {}
    with standin(first_routes) as (first, _), standin(second_routes) as (second, _):
        members = json.dumps({"members": [
            {"ID": "17", "name": "alpha", "peerURLs": ["http://127.0.0.1:1"],
             "clientURLs": [first]},
            {"ID": "34", "name": "beta", "peerURLs": ["http://127.0.0.1:2"],
             "clientURLs": [second]}]})
        first_routes.update(_member_routes(17, 17, members))
        second_routes.update(_member_routes(34, 34, members))
        run = etcd("cluster", "--endpoints", first)
        assert run.code == 1, run.out
        assert "members disagree on the leader: alpha sees alpha, beta sees beta" in run.out
        strict = etcd("cluster", "--endpoints", first, "--state-leader-disagreement",
                      "critical")
        assert strict.code == 2 and "disagree on the leader" in strict.first_line
        status = etcd("status", "--endpoints", f"{first},{second}")
        assert status.code == 1 and "disagree on the leader" in status.first_line
        # One leader seen by both: no finding.
        second_routes.update(_member_routes(34, 17, members))
        agreed = etcd("cluster", "--endpoints", first)
        assert agreed.code == 0 and "leader alpha" in agreed.out, agreed.out


# --- hostile and broken servers ---------------------------------------------------------

@pytest.mark.parametrize(("route", "message"), [
    (fixed(200, "<html><body>hello</body></html>", "text/html"),
     "not an etcd health answer (HTTP 200, text/html: '<html><body>hello</body></html>')"),
    (fixed(200, '{"health": tru'), "not an etcd health answer (HTTP 200"),
    (fixed(200, b"\xff\xfe\x00garbage", "application/octet-stream"),
     "not an etcd health answer"),
    (lambda path, query: (301, {"Location": "https://elsewhere/health"}, b""),
     "redirected (HTTP 301) to https://elsewhere/health"),
])
def test_not_etcd(route, message):
    with standin({"/health": route}) as (url, _):
        run = etcd("health", "--endpoints", url)
        assert run.code == 2, run.out
        assert message in run.first_line and run.out.count("\n") == 1 and run.err == ""


def test_invalid_json_from_the_gateway():
    with standin({"/v3/maintenance/status": fixed(200, '{"header": [}')}) as (url, _):
        run = etcd("status", "--endpoints", url)
        assert run.code == 2 and "not an etcd gateway answer" in run.first_line


def test_no_gateway_on_a_web_server():
    with standin({"/health": fixed(200, "<html/>", "text/html")}) as (url, _):
        run = etcd("members", "--endpoints", url)
        assert run.code == 2 and "no etcd v3 gateway here (HTTP 404" in run.first_line


def test_a_one_gigabyte_answer_is_not_read():
    """Announced as 1 GB and trickled: refused from the headers, at once."""
    def huge(path, query):
        return 200, {"Content-Type": "application/json",
                     "Content-Length": str(1 << 30)}, endless(b"{" * 65536, pause=0.01)

    with standin({"/health": huge}) as (url, _):
        run = etcd("health", "--endpoints", url, "-t", "5")
        assert run.code == 2 and "answer too large (1073741824 bytes announced" in run.first_line
        assert run.seconds < 2


def test_an_endless_chunked_answer_is_cut_at_the_limit():
    with standin({"/v3/maintenance/status": lambda path, query: (
            200, {"Content-Type": "application/json"}, endless())}) as (url, _):
        run = etcd("status", "--endpoints", url, "-t", "5")
        assert run.code == 2 and "answer too large (more than 4194304 bytes sent" in run.first_line
        assert run.seconds < 4


def test_a_slow_body_ends_inside_the_timeout():
    """Headers at once, then one byte a second: the deadline covers the whole answer."""
    def trickle(path, query):
        return 200, {"Content-Type": "application/json", "Content-Length": "1000"}, endless(
            b" ", pause=1.0)

    with standin({"/health": trickle}) as (url, _):
        run = etcd("health", "--endpoints", url, "-t", "1.5")
        assert run.code == 2 and "no answer in time (reading the answer)" in run.first_line
        assert run.seconds < 2.0


def test_a_silent_server_ends_inside_the_timeout():
    with silent_listener() as address:
        run = etcd("health", "--endpoints", f"http://{address}", "-t", "1")
        assert run.code == 2 and "no answer in time" in run.first_line
        assert run.seconds < 1.5
        unknown = etcd("health", "--endpoints", f"http://{address}", "-t", "1",
                       "--timeout-state", "unknown")
        assert unknown.code == 3


def test_a_server_that_hangs_up_without_answering():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def hang_up():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            connection.recv(1024)
            connection.close()

    threading.Thread(target=hang_up, daemon=True).start()
    try:
        port = listener.getsockname()[1]
        run = etcd("health", "--endpoints", f"http://127.0.0.1:{port}")
        assert run.code == 2 and "closed the connection without answering" in run.first_line
    finally:
        listener.close()


def test_unresolvable_host():
    run = etcd("health", "--endpoints", "http://no-such-host.invalid:2379", "-t", "3")
    assert run.code == 2 and "cannot resolve 'no-such-host.invalid'" in run.first_line


@pytest.mark.parametrize(("endpoints", "message"), [
    ("ftp://127.0.0.1:2379", "the scheme must be http or https"),
    ("http://127.0.0.1:99999", "the port must be a number from 1 to 65535"),
    ("http://127.0.0.1:port", "the port must be a number"),
    ("http://::1:2379", "write an IPv6 address in brackets"),
    ("http://user:pw@127.0.0.1:2379", "'http://<redacted>@127.0.0.1:2379': write "
                                      "scheme://host:port without a user and password"),
    (",", "--endpoints is empty"),
    ("http://", "no host"),
])
def test_unusable_urls_are_unknown(endpoints, message):
    run = etcd("health", "--endpoints", endpoints)
    assert run.code == 3, run.out
    assert run.first_line.startswith("ETCD UNKNOWN - invalid arguments: ")
    assert message in run.first_line


@pytest.mark.parametrize(("args", "message"), [
    ((), "name what to check: health, status, alarms, members, cluster"),
    (("health", "--preset", "nightly"), "invalid choice 'nightly'"),
    (("health", "--preset", "liveness", "--serializable"), "--preset chooses"),
    (("health", "--endpoint-type", "livez", "--serializable"), "--serializable is for /health"),
    (("status", "--quota-bytes", "lots"), "invalid size 'lots'"),
    (("status", "--cert", "c.pem"), "--cert and --key go together"),
    (("members", "--expected", "0"), "--expected must be 1 or more"),
    (("members", "--password-file", "/nonexistent"), "--password-file needs --user"),
    (("members", "--user", "root", "--password-file", "/nonexistent"),
     "cannot read /nonexistent"),
    (("health", "--exclud", "NOSPACE"), "did you mean --exclude?"),
    (("health", "-t", "0"), "-t: '0' must be above 0"),
    (("status", "--db-warning", "90", "--db-critical", "80"),
     "--db-warning/--db-critical: the warning limit 90 is above the critical one 80"),
    (("health", "-w", "2", "-c", "1"), "-w/-c: the warning limit 2 is above the critical one"),
    (("metrics", "-w", "wal_fsync_p99=2"), "wal_fsync_p99: the warning limit 2 is above"),
    (("status", "--quota-bytes", "1e400"), "invalid size '1e400': at most 1PiB"),
    (("health", "--endpoints", "http://127.0.0.1:2379\r\nX: y"), "control character"),
    (("health", "--dial-timeout", "0"), "--dial-timeout: '0' must be above 0"),
])
def test_bad_options_are_unknown(args, message):
    run = etcd(*args)
    assert run.code == 3 and message in run.first_line, run.out


def test_unusable_tls_files_are_unknown(tmp_path):
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate")
    run = etcd("health", "--endpoints", "https://127.0.0.1:1", "--cacert", str(bogus))
    assert run.code == 3 and "is not PEM" in run.first_line


def test_help_of_every_subcommand():
    top = etcd("--help")
    assert top.code == 0 and "commands:" in top.out
    for command in ("health", "status", "alarms", "members", "cluster"):
        page = etcd(command, "--help")
        assert page.code == 0 and f"usage: check_etcd {command} [options]" in page.out
        assert "--endpoints URLS" in page.out and "--timeout-state STATE" in page.out
    assert etcd("--version").out.startswith("check_etcd (healthprobes) ")


# --- output limits ------------------------------------------------------------------------

def test_huge_server_supplied_text_keeps_the_output_inside_nagios_limits():
    """200 members with long names (recorded answers: no real cluster of that size runs
    here) and a 60 KB Location header: server text is cut, the perfdata stays whole."""
    long_name = "member-" + "x" * 300
    members = json.dumps({"members": [
        {"ID": str(index + 1), "name": f"{long_name}-{index}",
         "peerURLs": [f"http://127.0.0.1:{index + 1}"], "clientURLs": []}
        for index in range(200)]})

    def redirect(path: str, query: str):
        return 301, {"Location": "https://e/" + "y" * 60000}, b""

    with standin({"/v3/cluster/member/list": fixed(200, members),
                  "/health": redirect}) as (url, _):
        listed = etcd("members", "--endpoints", url, "--expected", "3", "-v")
        moved = etcd("health", "--endpoints", url)
    assert listed.code == 2, listed.out[:300]
    assert len(listed.first_line) < 8000 and len(listed.out) <= 8192
    assert "members=200" in listed.first_line.split(" | ")[1]  # the perfdata whole
    assert moved.code == 2 and len(moved.first_line) < 2000, moved.first_line[:200]
    assert moved.err == "" and listed.err == ""


def test_usage_and_failures_name_the_subcommand():
    usage = etcd("members", "--bogus")
    assert usage.out.splitlines()[1] == ("Usage: check_etcd members [options]; see 'check_etcd "
                                         "members --help'.")
    top = etcd("--bogus")
    assert "Usage: check_etcd COMMAND [options]" in top.out
    refused = etcd("members", "--endpoints", "http://127.0.0.1:1")
    assert refused.code == 2 and refused.first_line.startswith("ETCD_MEMBERS CRITICAL - ")


def test_status_errors_name_members_in_hex_as_the_alarm_list_does():
    from healthprobes.probes.etcd_answers import MemberStatus

    status = MemberStatus("e", {"header": {"member_id": "10501334649042878790"},
                                "errors": ["memberID:10501334649042878790 alarm:NOSPACE"]})
    assert status.member_id == "91bc3c398fb3c146"
    assert status.errors == ["memberID:91bc3c398fb3c146 alarm:NOSPACE"]


@pytest.mark.parametrize("where", ["--endpoints", "ETCDCTL_ENDPOINTS", "--url"])
def test_a_password_in_a_url_is_refused_and_never_quoted(where):
    url = "http://monitor:s3cret-Passw0rd@127.0.0.1:2379"
    if where == "--url":
        run = run_command("check_metrics", "--url", url + "/metrics", "--expr", "up")
    elif where == "--endpoints":
        run = etcd("health", "--endpoints", url)
    else:
        run = etcd("health", env={"ETCDCTL_ENDPOINTS": url})
    assert run.code == 3 and "<redacted>@127.0.0.1:2379" in run.first_line, run.out
    assert "s3cret" not in run.out + run.err
