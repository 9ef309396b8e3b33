"""serve's own metrics on /metrics, kept by prometheus_client in a registry of its own
(not the library's global one, which would add the process collectors' names twice
in a test that starts two servers in one interpreter)."""

from __future__ import annotations

import time

from healthprobes.checks.runtime.states import state_name
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
# The *_created series double what is exposed and no dashboard of probes reads them.
disable_created_metrics()
# Probe durations: from a warm gRPC check (about a millisecond) to a -t of a minute.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class OwnMetrics:
    def __init__(self) -> None:
        self._children: dict[tuple[str, int], tuple] = {}
        self.registry = CollectorRegistry()
        self.probes = Counter("healthprobes_probes", "Probes answered, by module and result "
                              "(the check's state, lower case).", ["module", "result"],
                              registry=self.registry)
        self.duration = Histogram("healthprobes_probe_duration_seconds", "Time from a probe "
                                  "request to its answer, by module.", ["module"],
                                  buckets=BUCKETS, registry=self.registry)
        self.reload_ok = Gauge("healthprobes_config_last_reload_successful", "Whether the "
                               "last configuration load succeeded (1) or not (0).",
                               registry=self.registry)
        self.reload_time = Gauge("healthprobes_config_last_reload_success_timestamp_seconds",
                                 "When the configuration was last loaded successfully.",
                                 registry=self.registry)

    def probed(self, module: str, state: int, seconds: float) -> None:
        # The labelled children, looked up once: labels() takes a lock and builds a key
        # on every call, and this runs on every probe.
        key = (module, state)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.probes.labels(module, state_name(state).lower()),
                self.duration.labels(module))
        children[0].inc()
        children[1].observe(seconds)

    def loaded(self, ok: bool) -> None:
        self.reload_ok.set(1 if ok else 0)
        if ok:
            self.reload_time.set(time.time())

    def text(self) -> bytes:
        return generate_latest(self.registry)
