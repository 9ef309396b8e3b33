"""check_etcd: etcd's health, status, alarms, members and whole-cluster quorum.

One executable with a subcommand per question, sharing etcdctl's connection flags.
Each subcommand's module is imported only when it runs, and none of them imports
more than the HTTP client it needs: a health probe's cost is mostly start-up.
"""

from __future__ import annotations

import sys

from checks.cli import Command, Values
from checks.etcd_common import connection_options, target_text, validate_connection
from checks.runtime import CheckProgram
from checks.runtime import main as run_main

TYPE_CHECKING = False
if TYPE_CHECKING:
    from checks.model import Report
    from probes.deadline import Deadline

EPILOG = """\
exit codes:
  0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (also for invalid arguments).
  --probe: 0 for OK and WARNING, 1 otherwise. --format influx|prometheus: always 0.
  A member that cannot be reached or does not answer in time is CRITICAL, or
  --timeout-state.

examples:
  check_etcd health --endpoints http://127.0.0.1:2381 --preset readiness --probe
  check_etcd cluster --endpoints https://10.0.0.1:2379 --cacert ca.pem --cert c.pem --key c.key
  ETCDCTL_ENDPOINTS=http://e1:2379,http://e2:2379 check_etcd status -v
  check_etcd members --expected 3 --user monitor --password-file /run/secrets/etcd
  check_etcd metrics --endpoints http://127.0.0.1:2381 -w wal_fsync_p99=0.2
"""


def validate(args: Values) -> None:
    validate_connection(args)
    if args.command == "health":
        from checks.etcd_health import validate as validate_health

        validate_health(args)
    elif args.command == "members":
        from checks.etcd_cluster import validate_members

        validate_members(args)
    elif args.command == "metrics":
        from checks.etcd_metrics import validate as validate_metrics

        validate_metrics(args)


def run(args: Values, deadline: Deadline) -> Report:
    if args.command == "health":
        from checks.etcd_health import run as run_health

        return run_health(args, deadline)
    if args.command == "status":
        from checks.etcd_status import run as run_status

        return run_status(args, deadline)
    if args.command == "metrics":
        from checks.etcd_metrics import run as run_metrics

        return run_metrics(args, deadline)
    from checks import etcd_cluster

    runner = {"alarms": etcd_cluster.run_alarms, "members": etcd_cluster.run_members,
              "cluster": etcd_cluster.run_cluster}[args.command]
    return runner(args, deadline)


PROGRAM = CheckProgram(
    name="etcd",
    prog="check_etcd",
    description="Check an etcd cluster: a member's health, its status, the alarms, the "
                "member list, the whole cluster's quorum, or its key metrics.",
    groups=[connection_options()],
    commands=[
        Command("health", "ask /health, /livez or /readyz of each endpoint",
                load=lambda: __import__("checks.etcd_health").etcd_health.command()),
        Command("status", "judge each member's status: leader, raft, DB size, errors",
                load=lambda: __import__("checks.etcd_status").etcd_status.command()),
        Command("alarms", "list the cluster's alarms: NOSPACE and CORRUPT are CRITICAL",
                load=lambda: __import__("checks.etcd_cluster").etcd_cluster.alarms_command()),
        Command("members", "judge the member list: size, learners, unstarted members",
                load=lambda: __import__("checks.etcd_cluster").etcd_cluster.members_command()),
        Command("cluster", "ask every member and judge quorum, leader, alarms, versions",
                load=lambda: __import__("checks.etcd_cluster").etcd_cluster.cluster_command()),
        Command("metrics", "judge each member's key metrics from /metrics (a preset)",
                load=lambda: __import__("checks.etcd_metrics").etcd_metrics.command()),
    ],
    validate=validate,
    run=run,
    target=target_text,
    epilog=EPILOG,
)


def main(argv: list[str] | None = None) -> None:
    run_main(PROGRAM, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
