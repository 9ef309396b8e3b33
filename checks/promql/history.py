"""History between runs: the samples range functions need, and when alerts began firing.

One JSON file per target and expression (or rules file), named by a hash of them, in
a directory only its user can read (0700; files 0600). Runs that overlap on one file
(a scheduler retrying, a check run by hand next to Nagios) take turns through an
exclusive lock on a side file, and a file is replaced by rename, never rewritten in
place: a reader sees the old file or the new one, not half of one.

Every way a history can be unusable is said in words and leads to a new baseline:
a file that is not ours or is corrupt, one older than --max-state-age, and a clock
that went backwards (a point from the future would make every rate negative).
"""

from __future__ import annotations

import os

from healthprobes.probes.errors import ProbeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthprobes.probes.deadline import Deadline

Points = list[tuple[float, float]]
FORMAT = 1
MAX_POINTS = 1000  # per series: a run every 4 s keeps an hour's window
# In all: a scrape of thousands of series times a long window must not grow a file that
# takes seconds to read (reading holds the interpreter, so not even the watchdog could
# end the run); the oldest points go first.
MAX_TOTAL_POINTS = 200_000
MAX_FILE_BYTES = 8 << 20  # a larger state file is not one this version wrote: corrupt


def default_directory() -> str:
    """$HEALTHPROBES_STATE_DIR, else the XDG state home, else a per-user /tmp folder."""
    chosen = os.environ.get("HEALTHPROBES_STATE_DIR")
    if chosen:
        return chosen
    xdg = os.environ.get("XDG_STATE_HOME", "")
    if xdg.startswith("/"):
        return os.path.join(xdg, "healthprobes")
    home = os.path.expanduser("~")
    if home not in ("", "/") and os.path.isdir(home) and os.access(home, os.W_OK):
        return os.path.join(home, ".local", "state", "healthprobes")
    # A container user without a home (HOME=/ as uid 65532): /tmp is writable.
    return f"/tmp/healthprobes-{os.getuid()}"


class History:
    """What the state file held, and what this run adds before it is saved."""

    def __init__(self) -> None:
        self.series: dict[str, Points] = {}
        self.runs: list[float] = []  # when earlier runs scraped (a series absent from one is stale)
        self.complete_since: float | None = None  # every run's samples are known from here on
        self.firing_since: dict[str, float] = {}  # alert series -> first seen firing
        self.problem: str | None = None  # why an old history was discarded
        self.fresh = True  # no usable history: this run is a baseline

    def add(self, recorded: dict[str, float], now: float, keep_seconds: float) -> None:
        """Append this run's values, and forget points no window will need again.

        What is forgotten moves ``complete_since`` forward: a window that starts
        before it would miss samples, and the evaluator says so."""
        oldest = now - keep_seconds
        complete = now if self.complete_since is None else max(self.complete_since, oldest)
        for key, value in recorded.items():
            self.series.setdefault(key, []).append((now, value))
        for key in list(self.series):
            points = [point for point in self.series[key] if point[0] > oldest]
            if len(points) > MAX_POINTS:
                complete = max(complete, points[-MAX_POINTS - 1][0])
                points = points[-MAX_POINTS:]
            if points:
                self.series[key] = points
            else:
                del self.series[key]
        total = sum(len(points) for points in self.series.values())
        if total > MAX_TOTAL_POINTS:
            keep = max(2, MAX_TOTAL_POINTS // max(1, len(self.series)))
            for key, points in self.series.items():
                if len(points) > keep:
                    complete = max(complete, points[-keep - 1][0])
                    self.series[key] = points[-keep:]
        runs = [time for time in self.runs if time > oldest] + [now]
        if len(runs) > MAX_POINTS:
            complete = max(complete, runs[-MAX_POINTS - 1])
            runs = runs[-MAX_POINTS:]
        self.runs, self.complete_since = runs, min(complete, now)


def staleness(updated: float, now: float, max_age: float) -> str | None:
    """Why a history last updated at ``updated`` cannot be used now, or None."""
    if updated > now + 1:
        return (f"the clock went backwards ({updated - now:.0f} s behind the last run); "
                "history discarded, starting a new baseline")
    if now - updated > max_age:
        return (f"the history is {now - updated:.0f} s old, more than --max-state-age "
                f"{max_age:g} s; starting a new baseline")
    return None


class MemoryHistories:
    """Histories a resident caller keeps in memory instead of state files (no state
    directory configured): one per identity (target and expression), with the same
    turn-taking, age and clock rules as a file. Nothing survives the process."""

    def __init__(self) -> None:
        import _thread

        self._lock = _thread.allocate_lock()
        self._kept: dict[str, tuple[float, History]] = {}
        self._turns: dict[str, object] = {}

    def state(self, identity: str) -> MemoryState:
        import _thread

        with self._lock:
            turn = self._turns.setdefault(identity, _thread.allocate_lock())
        return MemoryState(self, identity, turn)

    def get(self, identity: str) -> tuple[float, History] | None:
        """When the history was last saved, and the history; None if never."""
        with self._lock:
            return self._kept.get(identity)

    def put(self, identity: str, history: History, now: float) -> None:
        with self._lock:
            self._kept[identity] = (now, history)


class MemoryState:
    """A StateFile's interface over :class:`MemoryHistories`."""

    def __init__(self, store: MemoryHistories, identity: str, turn) -> None:
        self.store, self.identity, self._turn = store, identity, turn
        self._held = False

    def lock(self, deadline: Deadline) -> None:
        if not self._turn.acquire(True, max(0.0, deadline.remaining() - 0.05)):
            raise ProbeError("", "the history stayed in use by another probe until the "
                             "timeout", ProbeError.TIMEOUT)
        self._held = True

    def unlock(self) -> None:
        if self._held:
            self._held = False
            self._turn.release()

    def load(self, now: float, max_age: float) -> History:
        kept = self.store.get(self.identity)
        if kept is None:
            return History()
        updated, history = kept
        problem = staleness(updated, now, max_age)
        if problem:
            fresh = History()
            fresh.problem = problem
            return fresh
        history.problem, history.fresh = None, False
        return history

    def save(self, history: History, now: float) -> None:
        self.store.put(self.identity, history, now)


def check_private_directory(directory: str) -> None:
    """Refuse, as ssh and gpg do, a state directory someone else could write to: its
    files decide what a check says. Raises OSError-free ProbeError naming the fix."""
    info = os.lstat(directory)
    fix = f"chmod 700 {directory}, or give --state-dir a directory of your own"
    if (info.st_mode & 0o170000) == 0o120000:  # S_ISLNK, without importing stat
        raise ProbeError("", f"refusing the state directory {directory}: it is a symbolic "
                         "link; give the real directory with --state-dir", ProbeError.CONFIG)
    if info.st_uid != os.geteuid():
        raise ProbeError("", f"refusing the state directory {directory}: it belongs to uid "
                         f"{info.st_uid}, not to this user ({os.geteuid()}); give "
                         "--state-dir a directory of your own", ProbeError.CONFIG)
    if info.st_mode & 0o022:
        raise ProbeError("", f"refusing the state directory {directory}: others can write "
                         f"to it (mode {info.st_mode & 0o777:o}); {fix}", ProbeError.CONFIG)


class StateFile:
    def __init__(self, directory: str, identity: str) -> None:
        import hashlib

        self.directory, self.identity = directory, identity
        name = hashlib.sha256(identity.encode()).hexdigest()[:32]
        self.path = os.path.join(directory, f"{name}.json")
        self._lock_fd: int | None = None

    def lock(self, deadline: Deadline) -> None:
        """Wait for our turn (bounded by the check's deadline)."""
        import fcntl
        import time

        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            check_private_directory(self.directory)
            # O_NOFOLLOW: a symbolic link planted as the lock file would make a check run
            # as root create or truncate whatever it points at.
            self._lock_fd = os.open(self.path + ".lock",
                                    os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                                    0o600)
        except OSError as error:
            raise ProbeError("", f"cannot use the state directory {self.directory}: "
                             f"{error.strerror} (see --state-dir)", ProbeError.CONFIG) from None
        while True:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if deadline.remaining() <= 0.05:
                    raise ProbeError("", f"the state file {self.path} stayed locked by "
                                     "another run until the timeout", ProbeError.TIMEOUT) from None
                time.sleep(0.01)

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing releases the lock
            self._lock_fd = None

    def load(self, now: float, max_age: float) -> History:
        history = History()
        try:
            descriptor = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return history
        except OSError as error:
            history.problem = (f"the state file {self.path} is unreadable ({error.strerror}); "
                               "starting a new baseline")
            return history
        with os.fdopen(descriptor, "rb") as handle:
            size = os.fstat(descriptor).st_size
            raw = handle.read(MAX_FILE_BYTES + 1) if size <= MAX_FILE_BYTES else b""
        if size > MAX_FILE_BYTES or len(raw) > MAX_FILE_BYTES:
            history.problem = (f"the state file {self.path} is larger than "
                               f"{MAX_FILE_BYTES >> 20} MiB, more than this check writes: "
                               "treated as corrupt, starting a new baseline")
            return history
        try:
            document = _decode(raw)
            if document.get("format") != FORMAT or document.get("identity") != self.identity:
                raise ValueError("written for something else")
            updated = float(document["updated"])
            series = {str(key): [(float(t), float(v)) for t, v in points]
                      for key, points in document.get("series", {}).items()}
            firing = {str(key): float(since)
                      for key, since in document.get("firing_since", {}).items()}
            # Files written before runs were kept: every time a sample was stored.
            runs = sorted(float(time) for time in document.get("runs", [])) or sorted(
                {time for points in series.values() for time, _ in points})
            complete = document.get("complete_since")
            complete = float(complete) if complete is not None else (
                runs[0] if runs else updated)
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            history.problem = (f"the state file {self.path} was corrupt ({error}); "
                               "starting a new baseline")
            return history
        history.problem = staleness(updated, now, max_age)
        if history.problem:
            return history
        history.series, history.firing_since, history.fresh = series, firing, False
        history.runs, history.complete_since = runs, complete
        return history

    def save(self, history: History, now: float) -> None:
        import tempfile

        document = {"format": FORMAT, "identity": self.identity, "updated": now,
                    "series": history.series, "firing_since": history.firing_since,
                    "runs": history.runs, "complete_since": history.complete_since}
        descriptor, temporary = tempfile.mkstemp(dir=self.directory, prefix=".state-")
        try:
            with os.fdopen(descriptor, "w") as handle:  # mkstemp makes it 0600
                handle.write(_encode(document))
            os.replace(temporary, self.path)
        except OSError as error:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise ProbeError("", f"cannot write the state file {self.path}: "
                             f"{error.strerror}", ProbeError.CONFIG) from None


def _encode(document: dict) -> str:
    import json

    return json.dumps(document, separators=(",", ":"))


def _decode(raw: bytes) -> dict:
    import json

    document = json.loads(raw)
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    return document
