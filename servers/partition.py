"""Cutting a real etcd member off from its peers on the loopback interface, with iptables.

Every member of a ``partitionable`` cluster runs in a group of its own. Cutting member X
off drops, in the OUTPUT chain (all loopback traffic passes it):
- every packet to or from X's peer port (the connections the others opened to X);
- every packet of the connections X opened to the others' peer ports: X's own packets
  are recognised by its group and mark their connection, and both directions of a
  marked connection are dropped.
Client traffic (the checks) is untouched: X keeps answering its clients, as a member
behind a real partition does. Only the test's own ports are named, and every rule is
removed when the context ends, whatever happened inside it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator

BASE_GID = 47800  # groups no account here uses; a member's is BASE_GID + its index
MARK = "0x4850"


def member_group(index: int) -> int:
    return BASE_GID + index


def available() -> str:
    """"" when partitions can be made here, else why not (for a skip message)."""
    if os.geteuid() != 0:
        return "cutting a member off needs root (iptables)"
    if shutil.which("iptables") is None:
        return "iptables is not installed (Debian package iptables)"
    done = subprocess.run(["iptables", "-w", "-S", "OUTPUT"], capture_output=True)
    return "" if done.returncode == 0 else f"iptables does not work here: {done.stderr!r}"


def _rules(member, others) -> list[tuple[str, str, list[str]]]:
    """(table, chain, rule) triples that cut ``member`` off from ``others``."""
    peers = ",".join(str(other.peer_port) for other in others)
    return [
        ("filter", "OUTPUT", ["-p", "tcp", "--dport", str(member.peer_port), "-j", "DROP"]),
        ("filter", "OUTPUT", ["-p", "tcp", "--sport", str(member.peer_port), "-j", "DROP"]),
        ("mangle", "OUTPUT", ["-m", "owner", "--gid-owner", str(member.gid), "-p", "tcp",
                              "-m", "multiport", "--dports", peers,
                              "-j", "CONNMARK", "--set-mark", MARK]),
        ("filter", "OUTPUT", ["-m", "connmark", "--mark", MARK, "-j", "DROP"]),
    ]


@contextlib.contextmanager
def cut_off(cluster, member) -> Iterator[None]:
    """Member ``member`` of ``cluster`` hears none of its peers and none hear it."""
    if member.gid is None:
        raise ValueError("start the cluster with partitionable=True")
    others = [other for other in cluster.members if other is not member]
    added: list[tuple[str, str, list[str]]] = []
    try:
        for table, chain, rule in _rules(member, others):
            subprocess.run(["iptables", "-w", "-t", table, "-A", chain, *rule], check=True,
                           capture_output=True)
            added.append((table, chain, rule))
        yield
    finally:
        for table, chain, rule in reversed(added):
            subprocess.run(["iptables", "-w", "-t", table, "-D", chain, *rule],
                           capture_output=True)
