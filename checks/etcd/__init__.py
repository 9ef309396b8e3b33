"""check_etcd: one module per subcommand, listed in :mod:`.registry`; what the
subcommands share (connection options, sessions, quorum arithmetic) in
:mod:`.connection` and :mod:`.judging`; the executable in :mod:`.program`."""
