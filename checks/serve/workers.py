"""The threads checks run on: at most a fixed number, started as they are needed, each
result handed back to the event loop in one call.

A probe of a warm target costs well under a millisecond, so the hand-over counts:
concurrent.futures' executor and ``run_in_executor`` chain two futures and a lock per
job, about twice what a queue and one ``call_soon_threadsafe`` cost (a loop of
trivial jobs here: about 115 against 55-70 microseconds of CPU each). Jobs beyond
the number of threads wait in the queue; their deadlines run meanwhile, as a probe's
deadline counts from its request.
"""

from __future__ import annotations

import _thread
import asyncio
import contextlib
import threading
from queue import SimpleQueue

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

_STOP = None


class Workers:
    def __init__(self, limit: int, name: str = "probe") -> None:
        self.limit, self.name = limit, name
        self._jobs: SimpleQueue = SimpleQueue()
        self._lock = _thread.allocate_lock()
        self._threads = 0
        self._idle = 0  # threads waiting for a job
        self._closed = False

    def submit(self, loop: asyncio.AbstractEventLoop, call: Callable[[], object],
               done: Callable[[object], None]) -> None:
        """Run ``call()`` on a worker, then ``done(result)`` on ``loop``'s thread (None
        if ``call`` raised: the checks' evaluate reports every failure it knows of)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the workers are stopped")
            start = self._idle == 0 and self._threads < self.limit
            if start:
                self._threads += 1
            else:
                # An idle thread takes it. Once every thread is busy, jobs queue and the
                # count may run ahead of the truth; by then no thread is ever started again.
                self._idle -= 1 if self._idle else 0
        self._jobs.put((loop, call, done))
        if start:
            threading.Thread(target=self._work, name=f"{self.name}_{self._threads}",
                             daemon=True).start()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is _STOP:
                return
            loop, call, done = job
            try:
                result = call()
            except BaseException:  # never leave the waiting requests without an answer
                result = None  # (they read None as "no result": the timeout verdict)
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody awaits it
                loop.call_soon_threadsafe(done, result)
            with self._lock:
                self._idle += 1

    def close(self) -> None:
        """Stop the threads once the jobs queued before are done (they are daemons: a
        run stuck past the process's end does not hold it)."""
        with self._lock:
            self._closed = True
            threads = self._threads
        for _ in range(threads):
            self._jobs.put(_STOP)

