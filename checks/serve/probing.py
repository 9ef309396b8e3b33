"""Running probes: a bounded pool, one deadline per probe, overlapping probes shared.

Each probe runs ``evaluate`` on a worker thread of a pool of
``max_concurrent_probes``, at most ``max_concurrent_probes_per_module`` of them for
one module; the HTTP side only awaits its answer, so a hung target holds workers of
its own module only, and only until its deadline, never the server. The answer is due
at the probe's deadline whatever the run is doing: a run still going then is left
to finish on its own (its connections bounded by the same deadline) and the request
gets the check's own timeout verdict. Probes of the same module and target that
overlap share the run in flight and its answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque

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

    __slots__ = ("report", "seconds")

    def __init__(self, report: Report, seconds: float) -> None:
        self.report, self.seconds = report, seconds


class Run:
    """One evaluation of a module for a target: the requests waiting for it, and the
    monotonic time its answer is due (a request arriving after that starts a new run
    instead of sharing one that can no longer answer in time)."""

    __slots__ = ("due", "job", "key", "module", "waiting")

    def __init__(self, key: tuple[int, str | None], module: str, due: float) -> None:
        self.key, self.module, self.due = key, module, due
        self.waiting: list[asyncio.Future] = []
        self.job = None  # the call to make, while the run waits for a worker


class Prober:
    """Runs checks for requests. Each request waits on a future of its own, settled
    either by the run's result or by its own deadline timer, whichever comes first: one
    hand-over from the worker to the waiting requests, without the chain of futures
    that ``wait_for(shield(...))`` adds to every probe (each link one more turn of the
    event loop).

    A module runs at most ``per_module`` checks at once; its further runs wait in a
    queue of its own, so a module whose targets hang (a subnet of etcd members gone)
    holds at most that many workers and the others keep answering. A queued run whose
    deadline passes before a worker is free is dropped: its requests have had their
    timeout verdict already.
    """

    def __init__(self, max_concurrent: int, per_module: int) -> None:
        self._workers = Workers(max_concurrent)
        self.per_module = per_module
        # Runs in flight (queued or running) by (module options, target).
        self._in_flight: dict[tuple[int, str | None], Run] = {}
        self._running: dict[str, int] = {}  # checks running per module
        self._queued: dict[str, deque[Run]] = {}

    @property
    def busy(self) -> int:
        return len(self._in_flight)

    def resize(self, max_concurrent: int, per_module: int) -> None:
        """New limits from a reloaded configuration: a larger pool starts its threads as
        they are needed; threads of a larger old pool stay, idle, until a restart."""
        self._workers.limit = max_concurrent
        self.per_module = per_module

    async def probe(self, runtime: ModuleRuntime, values: Values, target: str | None,
                    seconds: float) -> Answer:
        """The report for one request, due ``seconds`` after it arrived."""
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        key = (id(values), target)
        run = self._in_flight.get(key)
        if run is None or run.due <= started:  # none to share, or one too late to answer
            run = self._in_flight[key] = Run(key, runtime.module.name, started + seconds)
            self._start(loop, runtime, values, seconds, run)
        waiter = loop.create_future()
        run.waiting.append(waiter)
        timer = loop.call_later(seconds, _settle, waiter, None)
        try:
            report = await waiter
        finally:
            timer.cancel()
        if report is None:
            LOG.warning("module %s: no result within %.3gs; the run is left to end on its own",
                        runtime.module.name, seconds)
            report = timeout_report(runtime.program, values, runtime.program.target(values))
        return Answer(report, time.monotonic() - started)

    def _start(self, loop: asyncio.AbstractEventLoop, runtime: ModuleRuntime, values: Values,
               seconds: float, run: Run) -> None:
        deadline = probe_deadline(seconds)  # counted from now: waiting for a worker counts

        def finished(report: Report | None) -> None:  # on the event loop
            self._forget(run)
            for waiter in run.waiting:
                _settle(waiter, report)
            self._running[run.module] -= 1
            self._next(loop, run.module)

        run.job = (lambda: _evaluate(runtime, values, deadline), finished)
        if self._running.get(run.module, 0) < self.per_module:
            self._submit(loop, run)
        else:
            self._queued.setdefault(run.module, deque()).append(run)

    def _submit(self, loop: asyncio.AbstractEventLoop, run: Run) -> None:
        call, finished = run.job
        run.job = None
        self._running[run.module] = self._running.get(run.module, 0) + 1
        self._workers.submit(loop, call, finished)

    def _next(self, loop: asyncio.AbstractEventLoop, module: str) -> None:
        """Start the module's next queued run that can still answer in time."""
        queue = self._queued.get(module)
        now = time.monotonic()
        while queue:
            run = queue.popleft()
            if run.due > now:
                self._submit(loop, run)
                return
            self._forget(run)  # dropped: too late
            for waiter in run.waiting:
                _settle(waiter, None)
        self._queued.pop(module, None)

    def _forget(self, run: Run) -> None:
        """No longer in flight (unless a newer run of its key has taken its place)."""
        if self._in_flight.get(run.key) is run:
            del self._in_flight[run.key]

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
