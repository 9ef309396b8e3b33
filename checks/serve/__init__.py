"""``healthprobes serve``: one resident process answering probes over HTTP.

The kubelet's httpGet probes (``/probe/<module>``) and Prometheus' multi-target
probing (``/probe?module=&target=``) run the same checks, through the same
evaluation code, as the executables. One job per module: ``config`` (the YAML file,
checked with the executables' own parser), ``targets`` (which ``?target=`` a module
allows), ``modules`` (a module's parsed options per target, with their kept
connections and rate histories), ``probing`` (the bounded pool, deadlines, shared
runs), ``answers`` (a report as a kubelet or Prometheus answer), ``own_metrics``
(serve's own /metrics), ``server`` (the HTTP layer, aiohttp) and ``main`` (the
command line, signals). None of it is imported by the check_* executables.
"""
