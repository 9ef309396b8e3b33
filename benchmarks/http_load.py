"""HTTP load for resident probe servers, from Python threads on keep-alive connections.

The load generator runs in the benchmark's own process; what the benchmarks measure is
the server's CPU time (read from /proc, see resident.py), so the client's own cost shows
only in latency, never in CPU per probe. Each connection is HTTP/1.1 keep-alive, as
Prometheus scrapes; a server that closes after an answer is simply reconnected.
"""

import http.client
import math
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field


@dataclass
class Answer:
    status: int  # 0: no answer (connection refused or reset, or the client's timeout)
    body: bytes
    seconds: float


class KeepAlive:
    """One HTTP/1.1 connection used request after request."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 30.0) -> None:
        self._connection = http.client.HTTPConnection(host, port, timeout=timeout)

    def get(self, path: str, headers: dict[str, str] | None = None) -> Answer:
        started = time.perf_counter()
        # A keep-alive connection the server closed while idle fails on first use: that
        # one is retried once on a new connection; any other failure is an answer of 0.
        for attempt in (1, 2):
            try:
                self._connection.request("GET", path, headers=headers or {})
                response = self._connection.getresponse()
                body = response.read()
                return Answer(response.status, body, time.perf_counter() - started)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self._connection.close()
                if attempt == 2:
                    break
            except (OSError, http.client.HTTPException):
                self._connection.close()
                break
        return Answer(0, b"", time.perf_counter() - started)

    def close(self) -> None:
        self._connection.close()


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (p99 of 500 values is the 495th smallest); NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


@dataclass
class Paced:
    """What an open-loop run saw for each path."""
    answers: dict[str, list[Answer]]
    lateness: list[float] = field(default_factory=list)  # seconds each request started late


def paced(port: int, paths: list[str], rate: float, seconds: float,
          timeout: float) -> Paced:
    """Requests at a fixed rate whatever the answers take (open loop), round robin over
    ``paths``: a slow path cannot slow the others' requests down, as it would in a closed
    loop. Each path keeps its own pool of keep-alive connections, so a hung path holds
    only its own connections."""
    total = int(rate * seconds)
    pools: dict[str, queue.SimpleQueue[KeepAlive]] = {path: queue.SimpleQueue()
                                                      for path in paths}
    answers: dict[str, list[Answer]] = {path: [] for path in paths}
    lateness: list[float] = []
    lock = threading.Lock()

    def one(path: str, due: float) -> None:
        late = time.perf_counter() - due
        try:
            client = pools[path].get_nowait()
        except queue.Empty:
            client = KeepAlive(port, timeout=timeout)
        answer = client.get(path)
        pools[path].put(client)
        with lock:
            answers[path].append(answer)
            lateness.append(late)

    # Enough threads for every request a hung path can hold until the client gives up.
    workers = min(512, int(rate * timeout) + 32)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        start = time.perf_counter()
        for index in range(total):
            due = start + index / rate
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            pool.submit(one, paths[index % len(paths)], due)
    for path_pool in pools.values():
        while not path_pool.empty():
            path_pool.get_nowait().close()
    return Paced(answers, lateness)


def closed_loops(port: int, paths: list[str], count: int,
                 succeeded: Callable[[str, Answer], bool],
                 between: Callable[[int], None] | None = None, chunks: int = 1) -> list[Answer]:
    """``count`` requests as fast as the server answers: one thread and connection per
    path, each sending its next request when the last is answered (so no two requests
    of one path overlap). ``between(done)`` is called after each of ``chunks`` equal parts.
    Returns the answers ``succeeded`` refused."""
    clients = [KeepAlive(port) for _ in paths]
    failed: list[Answer] = []
    done = 0
    per_chunk = max(1, count // chunks)
    lock = threading.Lock()

    def loop(client: KeepAlive, path: str, requests: int) -> None:
        for _ in range(requests):
            answer = client.get(path)
            if not succeeded(path, answer):
                with lock:
                    failed.append(answer)

    for _ in range(chunks):
        share = [per_chunk // len(paths) + (1 if i < per_chunk % len(paths) else 0)
                 for i in range(len(paths))]
        threads = [threading.Thread(target=loop, args=(client, path, requests))
                   for client, path, requests in zip(clients, paths, share, strict=True)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        done += per_chunk
        if between is not None:
            between(done)
    for client in clients:
        client.close()
    return failed
