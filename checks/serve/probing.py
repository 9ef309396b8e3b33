"""Running probes: a bounded pool, one deadline per probe, overlapping probes shared.

Each probe runs ``evaluate`` on a worker thread of a pool of
``max_concurrent_probes``; the HTTP side only awaits its answer, so a hung target
holds one worker at most until its deadline, never the server. The answer is due
at the probe's deadline whatever the run is doing: a run still going then is left
to finish on its own (its connections bounded by the same deadline) and the request
gets the check's own timeout verdict. Probes of the same module and target that
overlap share the run in flight and its answer.
"""

from __future__ import annotations

import asyncio
import logging
import time

from healthprobes.checks.runtime.evaluation import evaluate, probe_deadline, timeout_report
from healthprobes.checks.serve.workers import Workers

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthprobes.checks.runtime.options import Values
    from healthprobes.checks.runtime.results import Report
    from healthprobes.checks.serve.modules import ModuleRuntime

LOG = logging.getLogger("healthprobes.serve")
# Sending the answer takes a moment too: a scrape timeout of 10 s gets its answer by
# 9.9 s, as blackbox_exporter keeps an offset below Prometheus' timeout.
SCRAPE_TIMEOUT_MARGIN = 0.1


def answer_within(timeout: float, scrape_timeout: str | None) -> float:
    """Seconds until the answer is due: the module's -t, cut to Prometheus' scrape
    timeout header (less a margin) when that is shorter. A header that is no positive
    number is ignored."""
    if scrape_timeout:
        try:
            seconds = float(scrape_timeout)
        except ValueError:
            seconds = 0.0
        if seconds == seconds and seconds > 0:
            return max(0.05, min(timeout, seconds - SCRAPE_TIMEOUT_MARGIN))
    return timeout


class Answer:
    """A probe's report and how long the request waited for it."""

    __slots__ = ("report", "seconds", "shared")

    def __init__(self, report: Report, seconds: float, shared: bool) -> None:
        self.report, self.seconds, self.shared = report, seconds, shared


class Prober:
    """Runs checks for requests. Each request waits on a future of its own, settled
    either by the run's result or by its own deadline timer, whichever comes first: one
    hand-over from the worker to the waiting requests, without the chain of futures
    that ``wait_for(shield(...))`` adds to every probe (each link one more turn of the
    event loop)."""

    def __init__(self, max_concurrent: int) -> None:
        self._workers = Workers(max_concurrent)
        # Runs in flight by (module options, target): the requests waiting for each.
        self._in_flight: dict[tuple[int, str | None], list[asyncio.Future]] = {}
        self.runs = 0  # runs started (a shared probe starts none)

    @property
    def busy(self) -> int:
        return len(self._in_flight)

    async def probe(self, runtime: ModuleRuntime, values: Values, target: str | None,
                    seconds: float) -> Answer:
        """The report for one request, due ``seconds`` after it arrived."""
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        key = (id(values), target)
        waiting = self._in_flight.get(key)
        shared = waiting is not None
        if waiting is None:
            waiting = self._in_flight[key] = []
            self._start(loop, runtime, values, seconds, key)
        waiter = loop.create_future()
        waiting.append(waiter)
        timer = loop.call_later(seconds, _settle, waiter, None)
        try:
            report = await waiter
        finally:
            timer.cancel()
        if report is None:
            LOG.warning("module %s: no result within %.3gs; the run is left to end on its own",
                        runtime.module.name, seconds)
            report = timeout_report(runtime.program, values, runtime.program.target(values))
        return Answer(report, time.monotonic() - started, shared)

    def _start(self, loop: asyncio.AbstractEventLoop, runtime: ModuleRuntime, values: Values,
               seconds: float, key: tuple[int, str | None]) -> None:
        deadline = probe_deadline(seconds)  # counted from now: waiting for a worker counts
        self.runs += 1

        def finished(report: Report) -> None:  # on the event loop
            for waiter in self._in_flight.pop(key, ()):
                _settle(waiter, report)

        self._workers.submit(loop, lambda: _evaluate(runtime, values, deadline), finished)

    async def drain(self, seconds: float) -> None:
        """Wait (at most ``seconds``) for the runs in flight to end."""
        end = time.monotonic() + seconds
        while self._in_flight and time.monotonic() < end:
            await asyncio.sleep(0.02)

    def close(self) -> None:
        self._workers.close()


def _settle(waiter: asyncio.Future, report: Report | None) -> None:
    """Give a waiting request its report (None: its deadline came first)."""
    if not waiter.done():
        waiter.set_result(report)


def _evaluate(runtime: ModuleRuntime, values: Values, deadline) -> Report:
    try:
        return evaluate(runtime.program, values, deadline)
    except Exception as error:  # evaluate reports everything it knows of; a bug is UNKNOWN
        from healthprobes.checks.runtime.evaluation import failed, report_name
        from healthprobes.checks.runtime.results import single_result
        from healthprobes.checks.runtime.states import UNKNOWN

        LOG.error("module %s: internal error: %s", runtime.module.name, type(error).__name__)
        return failed(single_result(report_name(runtime.program, values), "", UNKNOWN,
                                    f"internal error: {type(error).__name__}"), "internal")
