"""The checks and what they share (healthprobes.checks).

Layers, each a folder: ``runtime/`` (options, ranges, results, rendering, the exit
policy and the exec front end), ``promql/`` (the PromQL evaluator, its functions,
history files and rules files), and the checks themselves: ``grpc_health``,
``metrics`` and ``etcd/`` (one module per subcommand, listed in its registry).
Protocols are ``healthprobes.probes``'; nothing here opens a socket.
"""

__version__ = "0.1.0"  # the one place: pyproject.toml reads it from here
