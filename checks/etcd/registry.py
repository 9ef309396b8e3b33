"""check_etcd's subcommands. A new subcommand is one module in this folder, with
``command()``, ``run(args, deadline)`` and, if it checks its options against each
other, ``validate(args)``, plus one line here. A subcommand that connects nowhere sets
``CONNECTS = False`` (no connection options are read for it) and says what it reads in
``target(args)``."""

# (name, what --help says of it); the module is healthprobes.checks.etcd.<name>.
SUBCOMMANDS = (
    ("health", "ask /health, /livez or /readyz of each endpoint"),
    ("status", "judge each member's status: leader, raft, DB size, errors"),
    ("alarms", "list the cluster's alarms: NOSPACE and CORRUPT are CRITICAL"),
    ("members", "judge the member list: size, learners, unstarted members"),
    ("cluster", "ask every member and judge quorum, leader, alarms, versions"),
    ("metrics", "judge each member's key metrics from /metrics (a preset)"),
    ("certs", "judge this node's etcd certificate files: expiry, keys, chain, names"),
)
