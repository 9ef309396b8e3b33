"""The HTTP client against hostile servers: each fault the client once fell for, again.

Answers are sent byte for byte by servers/raw_http.py on 127.0.0.1 (or ::1). The
executables run as a monitoring system runs them, each under a small wrapper that
reports the child's peak memory (getrusage RUSAGE_CHILDREN) and its time: every run
must give the right exit code, say what happened in one line, end inside -t + 0.5 s,
stay small in memory and write nothing to stderr. Client-level properties (a
connection with an anomaly is never reused, other addresses are tried, scope ids
are kept, what goes on the wire) are tested on the probe itself.
"""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass

import pytest
from healthprobes.probes import http
from healthprobes.probes.deadline import Deadline
from healthprobes.probes.errors import ProbeError
from healthprobes.probes.etcd import EtcdSession
from healthprobes.probes.http import Connection, InvalidRequest, parse_url, query_string

from servers.raw_http import Reply, by_path, endless, in_order, raw_http_server
from tests.conftest import BIN

MIB = 1 << 20
PEAK_MEMORY_KIB = 80 * 1024  # a check reading at most 1 MiB; main peaked at 1 GB here

# Runs the command, then writes its peak RSS (KiB) and wall time for the test to read.
_MEASURE = """
import resource, subprocess, sys, time
started = time.monotonic()
done = subprocess.run(sys.argv[2:], stdin=subprocess.DEVNULL)
seconds = time.monotonic() - started
with open(sys.argv[1], "w") as report:
    report.write(f"{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss} {seconds}")
sys.exit(done.returncode)
"""


@dataclass
class Measured:
    code: int
    out: str
    err: str
    seconds: float
    peak_kib: int

    @property
    def first_line(self) -> str:
        return self.out.splitlines()[0] if self.out else ""


def measured(name: str, *args: str) -> Measured:
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith(("HEALTHPROBES_", "ETCDCTL_"))}
    with tempfile.NamedTemporaryFile("r", suffix=".measure") as report:
        done = subprocess.run([sys.executable, "-c", _MEASURE, report.name, str(BIN / name),
                               *args], capture_output=True, text=True, env=environment,
                              timeout=60)
        peak, seconds = report.read().split()
    return Measured(done.returncode, done.stdout, done.stderr, float(seconds), int(peak))


def assert_well_behaved(run: Measured, code: int, message: str, timeout: float) -> None:
    """The right state, said in one line, in time, in little memory, stderr empty."""
    print(f"{run.seconds:.2f}s {run.peak_kib // 1024} MiB: {run.first_line[:110]}")
    assert run.code == code, run.out
    assert message in run.first_line, run.out
    assert len(run.out.splitlines()) <= 2 and len(run.first_line) < 1000, run.out
    assert "Traceback" not in run.out and "internal error" not in run.out, run.out
    assert run.err == ""
    assert run.seconds < timeout + 0.5, run.seconds
    assert run.peak_kib < PEAK_MEMORY_KIB, f"peak {run.peak_kib} KiB"


def metrics(url: str, *args: str, timeout: float = 3) -> Measured:
    return measured("check_metrics", "--url", url, "--max-bytes", "1MiB", "-t", str(timeout),
                    *args)


def exposition(body: bytes, *fields: bytes) -> bytes:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" + b"".join(
        field + b"\r\n" for field in fields)
    return head + b"Content-Length: %d\r\n\r\n" % len(body) + body


CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"


# --- check_metrics --max-bytes 1MiB against what main read without end ----------------------

def test_a_negative_chunk_size_is_refused_at_once():
    # int("-100000000", 16) is -4294967296: main counted backwards and read 500 MiB.
    reply = Reply([CHUNKED_HEAD + b"-100000000\r\n", *([b"x" * 65536] * 2000)])
    with raw_http_server(by_path({"/metrics": reply})) as server:
        run = metrics(server.url + "/metrics", "--expr", "g")
    assert_well_behaved(run, 2, "invalid HTTP answer: the chunk size '-100000000' is not a "
                                "hexadecimal number", 3)


@pytest.mark.parametrize("chunk", [b"x" * 65536, b"x"], ids=["64KiB chunks", "1-byte chunks"])
def test_an_endless_chunked_body_stops_at_max_bytes(chunk):
    piece = b"%x\r\n%s\r\n" % (len(chunk), chunk) * max(1, 65536 // (len(chunk) + 5))
    with raw_http_server(by_path({"/metrics": Reply(endless(piece, first=CHUNKED_HEAD))})
                         ) as server:
        run = metrics(server.url + "/metrics", "--expr", "g")
    assert_well_behaved(run, 2, "answer too large (more than 1048576 bytes sent", 3)


def test_an_endless_body_without_framing_stops_at_max_bytes():
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"
    with raw_http_server(by_path({"/metrics": Reply(endless(b"g 1\n" * 4096, first=head))})
                         ) as server:
        run = metrics(server.url + "/metrics", "--expr", "g")
    assert_well_behaved(run, 2, "answer too large (more than 1048576 bytes sent", 3)


def gzip_bomb(decoded_mib: int) -> bytes:
    """A gzip member of ``decoded_mib`` MiB of zeros: about a thousandth of that on the wire."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(MIB)
    return b"".join([compressor.compress(zeros) for _ in range(decoded_mib)]
                    + [compressor.flush()])


@pytest.mark.parametrize("members", [1, 64], ids=["one member", "many members"])
def test_a_gzip_bomb_stays_bounded(members):
    """One member that unfolds to 256 MiB, or 64 members of 4 MiB each: the limit
    counts the decoded total across members."""
    bomb = gzip_bomb(256 // members) * members
    assert len(bomb) < 2 * MIB
    with raw_http_server(by_path({"/metrics": exposition(bomb, b"Content-Encoding: gzip")})
                         ) as server:
        run = metrics(server.url + "/metrics", "--expr", "g")
    assert_well_behaved(run, 2, "answer too large (more than 1048576 bytes after gzip "
                                "decoding)", 3)


def test_every_gzip_member_counts():
    """A metric in the second member is judged: main dropped it, and a CRITICAL became
    UNKNOWN ("no series")."""
    body = gzip.compress(b"first 1\n") + gzip.compress(b"second 5\n")
    with raw_http_server(by_path({"/metrics": exposition(body, b"Content-Encoding: gzip")})
                         ) as server:
        run = metrics(server.url + "/metrics", "--expr", "second", "-c", "0:1")
    assert_well_behaved(run, 2, "second is 5", 3)


@pytest.mark.parametrize(("body", "message"), [
    (gzip.compress(b"g 1\n" * 100)[:-5], "the gzip answer is truncated"),
    (gzip.compress(b"g 1\n") + b"<html>", "followed by 6 bytes that are no gzip member"),
])
def test_a_broken_gzip_stream_is_reported(body, message):
    with raw_http_server(by_path({"/metrics": exposition(body, b"Content-Encoding: gzip")})
                         ) as server:
        run = metrics(server.url + "/metrics", "--expr", "g")
    assert_well_behaved(run, 2, message, 3)


@pytest.mark.parametrize(("head", "message"), [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\ng 1\n",
     "Content-Length values that differ (4, 40)"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 4x\r\n\r\ng 1\n", "the Content-Length '4x' is not"),
    (b"HTTP/1.1 200 OK\nContent-Length: 4\n\ng 1\n", "a line ends in a bare LF"),
    (CHUNKED_HEAD + b"4\r\ng 1\nXX\r\n0\r\n\r\n", "bytes after a chunk's data"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n4\r\ng 1\n"
     b"\r\n0\r\n\r\n", "both Content-Length and Transfer-Encoding"),
    (b"HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 4\r\n\r\ng 1\n",
     "a folded header line (obs-fold)"),
])
def test_framing_anomalies_are_critical_in_one_line(head, message):
    with raw_http_server(by_path({"/metrics": head})) as server:
        run = metrics(server.url + "/metrics", "--expr", "g")
    assert_well_behaved(run, 2, "invalid HTTP answer: " + message, 3)


def test_a_huge_location_header_does_not_make_a_huge_status_line():
    location = b"http://elsewhere.test/" + b"a" * 60000
    answer = b"HTTP/1.1 302 Found\r\nLocation: " + location + b"\r\nContent-Length: 0\r\n\r\n"
    with raw_http_server(by_path({"/metrics": answer})) as server:
        run = metrics(server.url + "/metrics", "--expr", "g")
    assert_well_behaved(run, 2, "a header line is longer than 16384 bytes", 3)


def test_a_long_location_is_quoted_capped():
    location = b"http://elsewhere.test/" + b"b" * 10000
    answer = b"HTTP/1.1 302 Found\r\nLocation: " + location + b"\r\nContent-Length: 0\r\n\r\n"
    with raw_http_server(by_path({"/metrics": answer})) as server:
        run = metrics(server.url + "/metrics", "--expr", "g")
    assert_well_behaved(run, 2, "redirected (HTTP 302) to http://elsewhere.test/bbb", 3)
    assert "b" * 178 + "..." in run.first_line and "b" * 300 not in run.first_line


def test_a_reason_phrase_with_control_characters_is_printable():
    answer = (b"HTTP/1.1 500 Broken\x1b[31m red\x07 " + b"r" * 5000
              + b"\r\nContent-Length: 0\r\n\r\n")
    with raw_http_server(by_path({"/metrics": answer})) as server:
        run = metrics(server.url + "/metrics", "--expr", "g")
    assert_well_behaved(run, 2, "HTTP 500 Broken [31m red", 3)
    assert "\x1b" not in run.out and "\x07" not in run.out and len(run.first_line) < 400


# --- what goes on the wire ----------------------------------------------------------------

def test_a_crlf_in_the_url_is_a_usage_error_and_nothing_is_sent():
    with raw_http_server(by_path({"/metrics": exposition(b"g 1\n")})) as server:
        run = metrics(server.url + "/metrics\r\nX-Injected: yes", "--expr", "g")
        assert server.connections == 0
    assert_well_behaved(run, 3, "invalid arguments: --url:", 3)
    assert "control character (U+000D)" in run.first_line


@pytest.mark.parametrize(("path", "target"), [
    ("", "/"),
    ("/", "/"),
    ("?format=text", "/?format=text"),
    ("/metrics?name[]=g&x=a b", "/metrics?name[]=g&x=a%20b"),
    ("/métriques/%41", "/m%C3%A9triques/%41"),
    ("/metrics#fragment", "/metrics"),
])
def test_the_request_line_of_a_url(path, target):
    """A URL without a path asks for /, not for nothing (main sent 'GET  HTTP/1.1')."""
    with raw_http_server(lambda request: exposition(b"g 1\n")) as server:
        run = metrics(server.url + path, "--expr", "g")
        assert server.requests[0].request_line == f"GET {target} HTTP/1.1"
    assert_well_behaved(run, 0, "g is 1", 3)


STATUS = json.dumps({
    "header": {"cluster_id": "14841639068965178418", "member_id": "10276657743932975437",
               "revision": "5", "raft_term": "2"},
    "version": "3.5.9", "dbSize": "1048576", "dbSizeInUse": "524288",
    "leader": "10276657743932975437", "raftIndex": "10", "raftTerm": "2",
    "raftAppliedIndex": "10"}).encode()
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
HEALTHY = b'{"health":"true","reason":""}'


def json_answer(body: bytes) -> bytes:
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % len(body)) + body


def test_interim_answers_on_a_kept_alive_connection():
    """check_etcd status asks /v3/maintenance/status, then /metrics for the quota, on one
    connection. With a 100 Continue before each answer, main took the 100 for the
    answer and read each real answer as the next request's."""
    quota = b"etcd_server_quota_backend_bytes 4.294967296e+09\n"
    routes = {"/v3/maintenance/status": CONTINUE + json_answer(STATUS),
              "/metrics": CONTINUE + exposition(quota)}
    with raw_http_server(by_path(routes)) as server:
        run = measured("check_etcd", "status", "--endpoints", server.url, "-t", "3")
        assert [request.path for request in server.requests] == [
            "/v3/maintenance/status", "/metrics"]
        assert server.connections == 1
    assert_well_behaved(run, 0, "ETCD_STATUS OK - 127.0.0.1", 3)
    # The quota is the one /metrics said (4 GiB), not the 2 GiB default.
    assert "db_size=1048576B;;;0;4294967296 " in run.first_line


def test_a_non_ascii_exclude_is_percent_encoded():
    with raw_http_server(by_path({"/health": json_answer(HEALTHY)})) as server:
        run = measured("check_etcd", "health", "--endpoints", server.url, "--exclude", "NOSPÄCE",
                       "--exclude", "a&b=c", "-t", "3")
        assert server.requests[0].target == "/health?exclude=NOSP%C3%84CE&exclude=a%26b%3Dc"
    assert_well_behaved(run, 0, "is healthy", 3)


def test_a_crlf_in_exclude_is_refused_before_anything_is_sent():
    with raw_http_server(by_path({"/health": json_answer(HEALTHY)})) as server:
        run = measured("check_etcd", "health", "--endpoints", server.url,
                       "--exclude", "NOSPACE\r\nX-Injected: yes", "-t", "3")
        assert server.requests == []
    assert_well_behaved(run, 3, "invalid arguments: --exclude: the value holds a control "
                        "character (U+000D)", 3)


@pytest.mark.parametrize(("route", "body", "message"), [
    ("/health", json.dumps({"health": "false", "reason": "\x1b[2J" + "R" * 50000}),
     "is unhealthy (/health): [2JRRRR"),
    ("/v3/maintenance/status", json.dumps({"error": "E" * 50000, "code": 2,
                                           "message": "\x07" + "M" * 50000}),
     "etcd said: MMMM"),
])
def test_text_from_an_etcd_answer_is_capped(route, body, message):
    status = b"200 OK" if route == "/health" else b"500 Internal Server Error"
    answer = (b"HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
              % (status, len(body))) + body.encode()
    command = "health" if route == "/health" else "status"
    with raw_http_server(by_path({route: answer})) as server:
        run = measured("check_etcd", command, "--endpoints", server.url, "-t", "3")
    assert_well_behaved(run, 2, message, 3)
    assert len(run.first_line) < 600 and "\x1b" not in run.out and "\x07" not in run.out


@pytest.mark.parametrize(("program", "option"), [("check_etcd", "--endpoints"),
                                                 ("check_metrics", "--url")])
def test_a_host_label_over_63_characters_is_a_usage_error(program, option):
    command = ["health"] if program == "check_etcd" else ["--expr", "g"]
    run = measured(program, *command, option, f"http://{'a' * 64}.test:2379", "-t", "3")
    assert_well_behaved(run, 3, "not a valid host name (at most 63 characters between dots", 3)


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:2381/metrics", "http://h:2379/?x=1"])
def test_an_endpoint_with_a_path_is_refused(endpoint):
    run = measured("check_etcd", "status", "--endpoints", endpoint)
    assert_well_behaved(run, 3, "give the client URL without a path", 10)


# --- the client itself ---------------------------------------------------------------------

def test_every_body_is_bytes_and_a_2_mib_etcd_answer_is_read():
    """A member list of 2 MiB: main returned a bytearray above 1 MiB, which the JSON
    reader refused ("internal error")."""
    members = [{"ID": str(10**18 + index), "name": f"member-{index:05d}",
                "peerURLs": [f"http://10.0.{index // 250}.{index % 250}:2380"],
                "clientURLs": [f"http://10.0.{index // 250}.{index % 250}:2379"]}
               for index in range(16000)]
    document = json.dumps({"header": {"cluster_id": "1"}, "members": members}).encode()
    assert 2 * MIB < len(document) < 4 * MIB
    with raw_http_server(by_path({"/v3/cluster/member/list": json_answer(document)})) as server:
        session = EtcdSession(parse_url(server.url), Deadline(5))
        try:
            found = session.members()
        finally:
            session.close()
    assert len(found) == 16000 and found[-1].name == "member-15999"


@pytest.mark.parametrize("reply", [
    json_answer(b"x" * (2 * MIB)),
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nsmall\r\n0\r\n\r\n",
    Reply(b"HTTP/1.1 200 OK\r\n\r\nuntil close", close=True),
    json_answer(b"tiny"),
    exposition(gzip.compress(b"zipped"), b"Content-Encoding: gzip"),
], ids=["2 MiB sized", "chunked", "until close", "small sized", "gzip"])
def test_one_body_type_for_every_framing(reply):
    with raw_http_server(in_order(reply)) as server:
        connection = Connection(parse_url(server.url), Deadline(5))
        try:
            response = connection.request("GET", "/", headers={"Accept-Encoding": "gzip"})
        finally:
            connection.close()
    assert type(response.body) is bytes and response.body


@pytest.mark.parametrize("sent", [5, 2 * MIB], ids=["small", "large"])
def test_a_sized_body_cut_short_says_how_much_came(sent):
    announced = sent + MIB
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % announced + b"x" * sent
    with raw_http_server(in_order(Reply(answer, close=True))) as server:
        connection = Connection(parse_url(server.url), Deadline(5), max_body=8 * MIB)
        with pytest.raises(ProbeError, match=f"the answer ended after {sent} of {announced} "
                                             "bytes"):
            connection.request("GET", "/")


@pytest.mark.parametrize("bad", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXX\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nBroken header\r\nContent-Length: 2\r\n\r\nok",
], ids=["two lengths", "bytes after a chunk", "no colon"])
def test_a_connection_with_an_anomaly_is_never_reused(bad):
    """The server keeps the connection open after a broken answer; the next request must
    go out on a new one (what is left on the old one is not known to be an answer)."""
    good = json_answer(b"fine")
    with raw_http_server(lambda request: bad if request.connection == 0 else good) as server:
        connection = Connection(parse_url(server.url), Deadline(5))
        try:
            with pytest.raises(ProbeError) as refused:
                connection.request("GET", "/first")
            assert refused.value.kind == ProbeError.PROTOCOL
            assert connection.request("GET", "/second").body == b"fine"
        finally:
            connection.close()
        assert [(request.connection, request.path) for request in server.requests] == [
            (0, "/first"), (1, "/second")]


def test_bytes_sent_unasked_after_an_answer_retire_the_connection():
    """A 204 followed by a body nobody announced: read on, it would be taken for the
    next answer, so the next request goes out on a new connection."""
    smuggled = b"HTTP/1.1 204 No Content\r\n\r\n" + json_answer(b"smuggled")
    honest = json_answer(b"honest")
    with raw_http_server(lambda request: smuggled if request.connection == 0 else honest
                         ) as server:
        connection = Connection(parse_url(server.url), Deadline(5))
        try:
            assert connection.request("GET", "/one").status == 204
            time.sleep(0.1)  # let the unasked bytes arrive
            assert connection.request("GET", "/two").body == b"honest"
        finally:
            connection.close()
        assert server.connections == 2


def test_a_kept_alive_connection_is_reused():
    with raw_http_server(lambda request: json_answer(b"%d" % request.index)) as server:
        connection = Connection(parse_url(server.url), Deadline(5))
        try:
            bodies = [connection.request("GET", f"/{index}").body for index in range(3)]
        finally:
            connection.close()
        assert bodies == [b"0", b"1", b"2"] and server.connections == 1


def hanging_listener() -> list[socket.socket]:
    """A port whose accept queue is full: a further connect gets no answer at all (the
    kernel drops its SYN), as a firewalled address does. The listener comes first."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    for _ in range(8):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(listener.getsockname())
        fillers.append(filler)
    time.sleep(0.05)
    probe = socket.socket()
    probe.settimeout(0.2)
    with pytest.raises(TimeoutError):  # the premise: this port really is silent now
        probe.connect(listener.getsockname())
    return [listener, probe, *fillers]


def test_other_addresses_are_tried_after_a_connect_timeout(monkeypatch):
    """A name with two addresses, the first silent. The resolver is the one piece
    replaced (no name here resolves to two loopback addresses without editing
    /etc/hosts); the connections are real."""
    hanging, *fillers = hanging_listener()
    refused = socket.socket()
    refused.bind(("127.0.0.1", 0))  # bound, never listening: connecting is refused
    try:
        with raw_http_server(lambda request: json_answer(b"reached")) as server:
            addresses = [(socket.AF_INET, hanging.getsockname()),
                         (socket.AF_INET, refused.getsockname()),
                         (socket.AF_INET, ("127.0.0.1", server.port))]
            monkeypatch.setattr(http, "resolve", lambda url, deadline: addresses)
            connection = Connection(parse_url("http://several.test:1"), Deadline(3))
            started = time.monotonic()
            try:
                assert connection.request("GET", "/").body == b"reached"
            finally:
                connection.close()
            # The silent address had its share (a third of the deadline), not all of it.
            assert 0.8 < time.monotonic() - started < 2.0
    finally:
        for sock in [hanging, refused, *fillers]:
            sock.close()


def test_when_every_address_fails_the_most_telling_error_is_said(monkeypatch):
    hanging, *fillers = hanging_listener()
    refused = socket.socket()
    refused.bind(("127.0.0.1", 0))
    try:
        monkeypatch.setattr(http, "resolve", lambda url, deadline: [
            (socket.AF_INET, hanging.getsockname()), (socket.AF_INET, refused.getsockname())])
        connection = Connection(parse_url("http://several.test:1"), Deadline(1))
        with pytest.raises(ProbeError) as failed:
            connection.request("GET", "/")
        assert "connection refused (connecting) on all 2 addresses" in str(failed.value)
        assert failed.value.is_unreachable
    finally:
        for sock in [hanging, refused, *fillers]:
            sock.close()


def test_an_ipv6_scope_id_is_kept():
    url = parse_url("http://[fe80::1%25lo]:2379")
    assert url.host == "fe80::1%lo" and parse_url("http://[fe80::1%lo]:2379").host == url.host
    [(family, address)] = http.resolve(url, Deadline(1))
    assert family == socket.AF_INET6 and address[3] == socket.if_nametoindex("lo")


def test_a_scoped_address_is_reached_and_its_zone_stays_home():
    index = socket.if_nametoindex("lo")
    with raw_http_server(lambda request: json_answer(b"over ::1"), host="::1") as server:
        connection = Connection(parse_url(f"http://[::1%25{index}]:{server.port}/"), Deadline(3))
        try:
            assert connection.request("GET", "").body == b"over ::1"
        finally:
            connection.close()
        # RFC 6874: the zone only means something on this machine; the Host header has none.
        assert f"\r\nHost: [::1]:{server.port}\r\n".encode() in server.requests[0].head


@pytest.mark.parametrize("text", ["http://h:1/a\r\nX: y", "http://h:1/\x00", "http://h\t:1",
                                  "http://h:1/?q=\x7f", "http://h:1/\n"])
def test_control_characters_in_a_url_are_refused(text):
    with pytest.raises(ValueError, match="a control character in the URL"):
        parse_url(text)


def test_host_names_are_checked_and_idna_encoded():
    assert parse_url("http://bücher.test:1/x").host == "xn--bcher-kva.test"
    for bad in ["http://[not-v6]:1", "http://a..b:1", f"http://{'b' * 254}:1", "http://\udcff:1"]:
        with pytest.raises(ValueError):
            parse_url(bad)


def test_a_content_length_of_many_digits_is_refused_not_a_crash():
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n"
    with raw_http_server(in_order(answer)) as server:
        connection = Connection(parse_url(server.url), Deadline(3))
        with pytest.raises(ProbeError, match="a Content-Length of 5000 digits"):
            connection.request("GET", "/")


def test_query_values_are_percent_encoded_as_utf8():
    assert query_string([("exclude", "NOSPÄCE"), ("verbose", ""), ("a b", "c/d&e=f")]) == (
        "?exclude=NOSP%C3%84CE&verbose&a%20b=c%2Fd%26e%3Df")


@pytest.mark.parametrize(("pairs", "headers"), [
    ([("exclude", "a\r\nb")], {}),
    ([("exclude", "a\x00")], {}),
    ([], {"Authorization": "Bearer secret\r\nX-Injected: yes"}),
    ([], {"Bad Name": "x"}),
])
def test_a_request_with_control_characters_is_refused_as_a_usage_error(pairs, headers):
    connection = Connection(parse_url("http://127.0.0.1:1"), Deadline(1))
    with pytest.raises(InvalidRequest) as refused:
        connection.request("GET", "/health" + query_string(pairs), headers=headers)
    error = refused.value
    assert isinstance(error, ValueError) and error.kind == ProbeError.CONFIG
    assert str(error).startswith("invalid arguments: ") and "secret" not in str(error)
