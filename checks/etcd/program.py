"""check_etcd: etcd's health, status, alarms, members and whole-cluster quorum.

One executable with a subcommand per question (see :mod:`.registry`), sharing
etcdctl's connection flags. A run imports only the subcommand it runs, and none of
them imports more than the HTTP client it needs: a health probe's cost is mostly
start-up.
"""

from __future__ import annotations

import sys

from healthprobes.checks.etcd.connection import (
    add_certificates,
    connection_options,
    target_text,
    validate_connection,
)
from healthprobes.checks.etcd.registry import SUBCOMMANDS
from healthprobes.checks.runtime.executable import main as run_main
from healthprobes.checks.runtime.options import Command, Values
from healthprobes.checks.runtime.program import CheckProgram

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType

    from healthprobes.checks.runtime.results import Report
    from healthprobes.probes.deadline import Deadline

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


def subcommand(name: str) -> ModuleType:
    """The subcommand's module, imported on first use."""
    return __import__(f"healthprobes.checks.etcd.{name}", fromlist=["run"])


def validate(args: Values) -> None:
    module = subcommand(args.command)
    if getattr(module, "CONNECTS", True):
        validate_connection(args)
    own = getattr(module, "validate", None)
    if own is not None:
        own(args)


def target(args: Values) -> str:
    """What the status line names: the endpoints, or what a subcommand reads instead."""
    return getattr(subcommand(args.command), "target", target_text)(args)


def run(args: Values, deadline: Deadline) -> Report:
    """The subcommand's report, with the certificates its https connections were
    shown judged into it: one shared step, so no subcommand words them itself."""
    # This run's own view of the options: what it collects (its connectors and their
    # connections) must not pile up on, or mix with, other runs of the same options.
    args = Values(**args.__dict__)
    args.connectors = []
    try:
        report = subcommand(args.command).run(args, deadline)
    finally:
        for connector in args.connectors:
            connector.finish()  # a resident caller keeps the sessions that ended well
    return add_certificates(args, report)


PROGRAM = CheckProgram(
    name="etcd",
    prog="check_etcd",
    description="Check an etcd cluster: a member's health, its status, the alarms, the "
                "member list, the whole cluster's quorum, or its key metrics.",
    groups=[connection_options()],
    commands=[Command(name, summary, load=lambda name=name: subcommand(name).command())
              for name, summary in SUBCOMMANDS],
    validate=validate,
    run=run,
    target=target,
    epilog=EPILOG,
)


def main(argv: list[str] | None = None) -> None:
    run_main(PROGRAM, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
