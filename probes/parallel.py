"""Asking several servers at once, each answer or failure kept, all bounded by a deadline.

A five-member check should take as long as a one-member check, so every member is
asked on its own thread. Bare ``_thread`` threads (threading would cost an import)
that are never joined: a call still stuck at the deadline is reported as timed out
and left behind, and the process ends right after the verdict anyway.
"""

from __future__ import annotations

import _thread

from healthprobes.probes.errors import ProbeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from healthprobes.probes.deadline import Deadline


class Pending:
    """What a call that had not finished by the deadline leaves in its place."""

    def __init__(self, target: str) -> None:
        self.error = ProbeError(target, "no answer in time", ProbeError.TIMEOUT)


def run_all(calls: Sequence[tuple[str, Callable[[], object]]], deadline: Deadline,
            enough: Callable[[object], bool] | None = None) -> list[object]:
    """Run ``(target, call)`` pairs at once; results in order, exceptions as values.

    Returns when all are done, when the deadline passes, or as soon as one result
    satisfies ``enough`` (for "any member will do" questions). Unfinished calls are
    represented by their :class:`Pending` timeout error.
    """
    results: list[object] = [Pending(target).error for target, _ in calls]
    if len(calls) == 1 and enough is None:
        results[0] = _guarded(calls[0][1])  # nothing to overlap: no thread
        return results
    finished = [0]
    state_lock = _thread.allocate_lock()
    wake = _thread.allocate_lock()
    wake.acquire()

    def worker(index: int, call: Callable[[], object]) -> None:
        outcome = _guarded(call)
        with state_lock:
            results[index] = outcome
            finished[0] += 1
            done = finished[0] == len(calls) or (
                enough is not None and not isinstance(outcome, BaseException)
                and enough(outcome))
            if done and wake.locked():
                wake.release()

    for index, (_, call) in enumerate(calls):
        _thread.start_new_thread(worker, (index, call))
    wake.acquire(True, max(0.001, deadline.remaining()))
    with state_lock:
        return list(results)


def _guarded(call: Callable[[], object]) -> object:
    try:
        return call()
    except Exception as error:  # the caller judges each failure on its own
        return error
