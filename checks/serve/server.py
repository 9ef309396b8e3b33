"""The HTTP layer, on aiohttp: routes, request limits, and answers that never carry a
traceback.

aiohttp was chosen by measurement (docs/serve.md): the least CPU per request of the
servers tried, and requests waiting on a probe are coroutines, not threads, so a hung
target cannot use up the server's capacity to answer other probes.
"""

from __future__ import annotations

import logging

from aiohttp import web
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
MAX_BODY = 1024
STATE_KEY = web.AppKey("state", object)


def text(status: int, body: str, content_type: str = PLAIN_TEXT) -> web.Response:
    return web.Response(status=status, body=body.encode(), content_type=None,
                        headers={"Content-Type": content_type})


def refusal(status: int, why: str) -> web.Response:
    return text(status, " ".join(why.split())[:300] + "\n")


@web.middleware
async def one_line_errors(request: web.Request, handler) -> web.StreamResponse:
    """Every failure as one plain line with its status; never a traceback."""
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        answer = refusal(error.status, error.reason)
        if "Allow" in error.headers:  # 405 says which methods there are
            answer.headers["Allow"] = error.headers["Allow"]
        return answer
    except Exception as error:
        LOG.error("internal error answering %s: %s", request.path[:100], type(error).__name__)
        return refusal(500, "internal error")


async def probe_kubelet(request: web.Request) -> web.Response:
    state: ServeState = request.app[STATE_KEY]  # type: ignore[assignment]
    if request.query_string:
        return refusal(400, "/probe/<module> takes no query; use /probe?module=&target= for "
                       "targets")
    runtime = state.runtime(request.match_info["module"])
    if runtime is None:
        return refusal(404, "unknown module")
    answer = await state.probe(runtime, None, answer_within(runtime.default.timeout, None))
    status, body = kubelet_answer(answer.report)
    return text(status, body)


async def probe_prometheus(request: web.Request) -> web.Response:
    state: ServeState = request.app[STATE_KEY]  # type: ignore[assignment]
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
            return refusal(400, f"target: {runtime.module.check}: invalid arguments: {error}")
    else:
        values = runtime.default
    seconds = answer_within(values.timeout, request.headers.get(SCRAPE_TIMEOUT_HEADER))
    answer = await state.probe(runtime, target, seconds, values)
    return text(200, prometheus_answer(answer.report, answer.seconds), PROMETHEUS_TEXT)


async def own_metrics(request: web.Request) -> web.Response:
    state: ServeState = request.app[STATE_KEY]  # type: ignore[assignment]
    return web.Response(body=state.metrics.text(), content_type=None,
                        headers={"Content-Type": CONTENT_TYPE})


async def healthy(request: web.Request) -> web.Response:
    return text(200, "OK\n")


async def ready(request: web.Request) -> web.Response:
    state: ServeState = request.app[STATE_KEY]  # type: ignore[assignment]
    return text(200, "OK\n") if state.ready else refusal(503, "not ready")


def build_app(state: ServeState) -> web.Application:
    app = web.Application(middlewares=[one_line_errors], client_max_size=MAX_BODY)
    app[STATE_KEY] = state
    app.router.add_get("/probe/{module}", probe_kubelet)
    app.router.add_get("/probe", probe_prometheus)
    app.router.add_get("/metrics", own_metrics)
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", ready)
    return app
