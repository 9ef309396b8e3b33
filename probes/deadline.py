"""One deadline shared by every step of a run (resolve, connect, handshake, call)."""

import time


class Deadline:
    """A point in monotonic time after which nothing more may be waited for."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self._end - time.monotonic())

    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def cap(self, seconds: float) -> float:
        """The smaller of a step's own timeout and what is left of the whole run."""
        return min(seconds, self.remaining())
