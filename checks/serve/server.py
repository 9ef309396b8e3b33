"""The HTTP layer, on aiohttp's low-level server: one handler that routes five paths,
request limits, and answers that never carry a traceback or quote the request.

aiohttp was chosen by measurement (docs/serve.md): the least CPU per request of the
servers tried, and requests waiting on a probe are coroutines, not threads, so a hung
target cannot use up the server's capacity to answer other probes. The low-level
server (no Application, router or middleware) is used because five fixed paths need
none of them, each layer costs every probe, and its request handler is the place to
make aiohttp's own answers to malformed requests one plain line.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from healthprobes.checks.runtime.options import UsageError
from healthprobes.checks.serve.answers import (
    PLAIN_TEXT,
    PROMETHEUS_TEXT,
    kubelet_answer,
    prometheus_answer,
)
from healthprobes.checks.serve.own_metrics import CONTENT_TYPE
from healthprobes.checks.serve.probing import answer_within
from healthprobes.checks.serve.targets import TargetRefused, check_target

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthprobes.checks.serve.state import ServeState

LOG = logging.getLogger("healthprobes.serve")
SCRAPE_TIMEOUT_HEADER = "X-Prometheus-Scrape-Timeout-Seconds"
# Request limits: a probe request is a short GET. aiohttp answers 400 (or 431) past these.
LIMITS = {"max_line_size": 4096, "max_field_size": 8190, "max_headers": 64,
          "keepalive_timeout": 75.0}
KUBELET_PREFIX = "/probe/"


def text(status: int, body: str, content_type: str = PLAIN_TEXT) -> web.Response:
    return web.Response(status=status, body=body.encode(), content_type=None,
                        headers={"Content-Type": content_type})


def one_line(why: str) -> str:
    return " ".join(why.split())[:300] + "\n"


def refusal(status: int, why: str) -> web.Response:
    return text(status, one_line(why))


class OneLineRequestHandler(RequestHandler):
    """aiohttp's connection handler, except that its answer to a request it could not
    parse (a bad method, framing, version) is the first line of its reason, without
    the request bytes aiohttp would quote back, and is not logged with a traceback."""

    def handle_error(self, request, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if request.writer.output_size > 0:  # as aiohttp: an answer is under way already
            raise ConnectionError("the answer was being sent; no error answer after it")
        first = (message or "").strip().splitlines()[:1]
        reason = first[0].rstrip(":") if first and status < 500 else HTTPStatus(status).phrase
        answer = text(status, one_line(reason))
        answer.force_close()
        return answer


class ProbeServer(web.Server):
    def __call__(self) -> RequestHandler:
        return OneLineRequestHandler(self, loop=self._loop, **self._kwargs)


class Routes:
    """The five paths, answered from the server's state."""

    def __init__(self, state: ServeState) -> None:
        self.state = state

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        """Every failure as one plain line with its status; never a traceback."""
        try:
            if request.method != "GET":
                answer = refusal(405, "only GET")
                answer.headers["Allow"] = "GET"
                return answer
            path = request.path
            if path.startswith(KUBELET_PREFIX):
                return await self.probe_kubelet(request, path[len(KUBELET_PREFIX):])
            if path == "/probe":
                return await self.probe_prometheus(request)
            if path == "/metrics":
                return web.Response(body=self.state.metrics.text(), content_type=None,
                                    headers={"Content-Type": CONTENT_TYPE})
            if path == "/-/healthy":
                return text(200, "OK\n")
            if path == "/-/ready":
                return text(200, "OK\n") if self.state.ready else refusal(503, "not ready")
            return refusal(404, "not found: /probe/<module>, /probe?module=&target=, "
                           "/metrics, /-/healthy, /-/ready")
        except Exception as error:
            LOG.error("internal error answering %s: %s", request.path[:100],
                      type(error).__name__)
            return refusal(500, "internal error")

    async def probe_kubelet(self, request: web.BaseRequest, name: str) -> web.Response:
        if request.query_string:
            return refusal(400, "/probe/<module> takes no query; use /probe?module=&target= "
                           "for targets")
        runtime = self.state.runtime(name)
        if runtime is None:
            return refusal(404, "unknown module")
        answer = await self.state.probe(runtime, None,
                                        answer_within(runtime.default.timeout, None))
        status, body = kubelet_answer(answer.report)
        return text(status, body)

    async def probe_prometheus(self, request: web.BaseRequest) -> web.Response:
        state = self.state
        query = request.query
        modules, targets = query.getall("module", []), query.getall("target", [])
        if len(modules) != 1 or len(targets) > 1 or set(query) - {"module", "target"}:
            return refusal(400, "give module=NAME once, and target=ADDRESS at most once")
        runtime = state.runtime(modules[0])
        if runtime is None:
            return refusal(400, "unknown module")
        target = targets[0] if targets else None
        if target is not None:
            try:
                check_target(target, runtime.module.target_option, runtime.module.targets)
            except TargetRefused as refused:
                return refusal(400, str(refused))
            try:
                values = await state.values_for(runtime, target)
            except UsageError as error:
                return refusal(400, f"target: {runtime.module.check}: invalid arguments: "
                               f"{error}")
        else:
            values = runtime.default
        seconds = answer_within(values.timeout, request.headers.get(SCRAPE_TIMEOUT_HEADER))
        answer = await state.probe(runtime, target, seconds, values)
        return text(200, prometheus_answer(answer.report, answer.seconds), PROMETHEUS_TEXT)


def build_server(state: ServeState) -> ProbeServer:
    """The server, on the running event loop, with serve's request limits and no
    access log (a probe every few seconds from every kubelet is not news)."""
    return ProbeServer(Routes(state), access_log=None, **LIMITS)
