"""The ``healthprobes`` command: ``serve`` (with ``--check-config``), ``--version``.

Signals: SIGHUP reloads the configuration, SIGTERM (and SIGINT) stop listening, let
the probes in flight answer (at most the longest module timeout) and exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from healthprobes.checks import __version__

DEFAULT_LISTEN = "0.0.0.0:9143"
LOG = logging.getLogger("healthprobes.serve")
# Exit codes: 3 for anything wrong with what the caller gave (options or the
# configuration), as every healthprobes check's UNKNOWN; 1 when the address cannot be
# bound.
USAGE_ERROR = CONFIG_INVALID = 3


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit 3, as in the checks."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{self.prog}: invalid arguments: {message}; see '{self.prog} --help'",
              file=sys.stderr)
        raise SystemExit(USAGE_ERROR)


def parser() -> argparse.ArgumentParser:
    top = OneLineParser(
        prog="healthprobes",
        description="healthprobes' resident mode: the checks answered over HTTP, for "
                    "Kubernetes httpGet probes and Prometheus' multi-target probing.")
    top.add_argument("--version", action="version", version=f"healthprobes {__version__}")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                  parser_class=OneLineParser)
    serve = commands.add_parser(
        "serve", help="answer /probe/<module> and /probe?module=&target= over HTTP",
        description="Answer probes over HTTP: GET /probe/<module> (200 or 503 and the "
                    "status line, for the kubelet), GET /probe?module=M[&target=T] "
                    "(Prometheus text), /metrics, /-/healthy, /-/ready. SIGHUP reloads the "
                    "configuration; SIGTERM drains and exits. See docs/serve.md.")
    serve.add_argument("--config", required=True, metavar="FILE",
                       help="the YAML file of modules (and settings)")
    serve.add_argument("--listen", default=DEFAULT_LISTEN, metavar="HOST:PORT",
                       help=f"address to listen on (default: {DEFAULT_LISTEN}: the kubelet "
                            "probes a pod on its pod IP; 127.0.0.1:9143 for this host only)")
    serve.add_argument("--check-config", action="store_true",
                       help="check the configuration, print its problems, exit 0 if valid "
                            "and 3 if not")
    return top


def split_listen(text: str) -> tuple[str, int]:
    host, colon, port = text.rpartition(":")
    if not colon or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--listen {text!r}: write HOST:PORT (e.g. 0.0.0.0:9143)")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


def check_config(path: str) -> int:
    from healthprobes.checks.serve.config import ConfigError, load_config

    try:
        config = load_config(path)
    except ConfigError as error:
        for problem in error.problems:
            print(problem)
        return CONFIG_INVALID
    print(f"{path}: valid, {len(config.modules)} modules ({', '.join(sorted(config.modules))})")
    return 0


def main(argv: list[str] | None = None) -> int:
    arguments = parser().parse_args(sys.argv[1:] if argv is None else argv)
    if arguments.check_config:
        return check_config(arguments.config)
    try:
        host, port = split_listen(arguments.listen)
    except ValueError as error:
        print(f"healthprobes serve: {error}", file=sys.stderr)
        return USAGE_ERROR
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s")
    # aiohttp logs a malformed request (a client's fault, answered 400) with a traceback:
    # noise an attacker could fill the log with. Handler errors are logged in one line
    # by serve itself (server.one_line_errors).
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    from healthprobes.checks.serve.config import ConfigError, load_config

    try:
        config = load_config(arguments.config)
    except ConfigError as error:
        LOG.error("invalid configuration, not starting: %s", "; ".join(error.problems))
        return CONFIG_INVALID
    return asyncio.run(serve(arguments.config, config, host, port))


async def serve(path: str, config, host: str, port: int) -> int:
    from aiohttp import web
    from healthprobes.checks.serve.server import build_server
    from healthprobes.checks.serve.state import ServeState

    state = ServeState(path, config)
    longest = max((module.values.timeout for module in config.modules.values()), default=10.0)
    runner = web.ServerRunner(build_server(state), shutdown_timeout=longest + 1)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as error:
        LOG.error("cannot listen on %s:%d: %s", host, port, error.strerror)
        await runner.cleanup()
        return 1
    LOG.info("listening on %s:%d with %d modules (%s)", host, port, len(config.modules),
             ", ".join(sorted(config.modules)))
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    reloads: set[asyncio.Task] = set()

    def reload() -> None:
        LOG.info("SIGHUP: reloading %s", path)
        task = loop.create_task(state.reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, reload)
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    longest = max((runtime.default.timeout for runtime in state.runtimes.values()),
                  default=10.0)
    LOG.info("stopping: answering the %d probes in flight (at most %.3gs), then exiting",
             state.prober.busy, longest)
    state.ready = False
    # Stop listening, then let the runs in flight end (each request is answered by its
    # own deadline; the longest -t is read now, as a reload may have changed it), then
    # close the connections.
    for site in list(runner.sites):
        await site.stop()
    await state.prober.drain(longest + 1)
    await runner.cleanup()
    state.close()
    LOG.info("stopped")
    return 0
