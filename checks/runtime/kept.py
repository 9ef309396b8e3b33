"""Connections a resident caller keeps between runs of one check.

An exec run opens its connection, asks and exits. A long-running caller (a server
answering probes every few seconds) would pay the connect and TLS handshake on every
probe; instead it gives the parsed options a :class:`Kept` (``args.kept = Kept()``) and
a check that can reuse its connection takes an idle one from it and gives it back
when the run ends well. Taking is exclusive, so runs of the same check from several
threads never share one connection; a connection that failed is closed, not given back.
"""

from __future__ import annotations

import _thread


class Kept:
    """Idle connections by key (the target and everything that shapes the connection)."""

    def __init__(self) -> None:
        self._idle: dict[object, list[object]] = {}
        self._lock = _thread.allocate_lock()

    def take(self, key: object) -> object | None:
        """An idle connection for this key, now the caller's alone; None if there is none."""
        with self._lock:
            idle = self._idle.get(key)
            return idle.pop() if idle else None

    def give_back(self, key: object, connection: object) -> None:
        with self._lock:
            self._idle.setdefault(key, []).append(connection)

    def close(self) -> None:
        """Close every idle connection (the caller is reloading or shutting down)."""
        with self._lock:
            idle = [connection for connections in self._idle.values()
                    for connection in connections]
            self._idle.clear()
        for connection in idle:
            connection.close()  # type: ignore[attr-defined]
