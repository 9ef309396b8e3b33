"""The start-up budget: the modules each executable's common path may load.

tests/test_import_budget.py runs each path (against a real server that answers OK) and
fails on any module loaded beyond what ``python -c pass`` loads that is not listed here.
Adding a module to a list is a decision: say what it costs and why the path needs it.

``self_us`` is the module's own import time in microseconds from ``-X importtime``
(``PYTHONPROFILEIMPORTTIME=1``), the median of 7 runs of the launcher on Python 3.11,
grpcio 1.85.1, promql-parser 0.12.0 on a shared 2-core machine: a guide to what is
worth removing, never asserted (times on a shared machine are too noisy to assert).
Names that importtime reports but that do not exist here (``msvcrt``, ``grpc_tools``,
``org.python.core``) are failed optional imports: they cost a search of sys.path.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Allowed:
    self_us: int  # measured self time, see above
    why: str
    overrides_forbidden: bool = False  # True only for a FORBIDDEN module, said why


# Heavy modules none of these paths may load unless an entry says why, with
# overrides_forbidden=True. A name covers its submodules (json.decoder, asyncio.events);
# C modules such as _json are other names and are fine.
FORBIDDEN = ("argparse", "json", "re", "http.client", "email", "threading", "logging",
             "asyncio", "typing", "typing_extensions", "dataclasses", "tempfile",
             "subprocess", "difflib", "textwrap", "decimal")


def forbidden_family(name: str) -> str | None:
    """The FORBIDDEN entry ``name`` falls under, if any."""
    for heavy in FORBIDDEN:
        if name == heavy or name.startswith(heavy + "."):
            return heavy
    return None


def is_forbidden(name: str) -> bool:
    return forbidden_family(name) is not None


def _same_reason(why: str, costs: dict[str, int]) -> dict[str, Allowed]:
    return {name: Allowed(self_us, why) for name, self_us in costs.items()}


# --- what every executable loads: the shared runtime -----------------------------------

RUNTIME = {
    "healthprobes": Allowed(202, "the namespace package over checks/ and probes/"),
    "healthprobes.checks": Allowed(191, "the checks package (its __version__)"),
    "healthprobes.probes": Allowed(105, "the probes package (empty)"),
    "__future__": Allowed(186, "from __future__ import annotations: hints stay unevaluated, "
                          "so typing is never needed at run time"),
    "healthprobes.checks.runtime": Allowed(104, "the runtime package (empty on purpose)"),
    "healthprobes.checks.runtime.states": Allowed(140, "OK/WARNING/CRITICAL/UNKNOWN as ints"),
    "healthprobes.checks.runtime.options": Allowed(382, "the option parser (instead of "
                                                   "argparse, which loads re and gettext)"),
    "healthprobes.checks.runtime.results": Allowed(310, "Findings and the Report"),
    "healthprobes.checks.runtime.evaluation": Allowed(141, "options and deadline in, "
                                                      "report out"),
    "healthprobes.checks.runtime.executable": Allowed(221, "the exec front end: exit codes, "
                                                      "the watchdog"),
    "healthprobes.checks.runtime.program": Allowed(157, "CheckProgram, what a check is"),
    "healthprobes.checks.runtime.render": Allowed(204, "the four output formats"),
    "healthprobes.checks.runtime.numbers": Allowed(129, "numbers without scientific "
                                                   "notation"),
    "healthprobes.checks.runtime.perfdata": Allowed(119, "performance data every consumer "
                                                    "parses"),
    "healthprobes.probes.deadline": Allowed(124, "one deadline for every step of a run"),
    "healthprobes.probes.errors": Allowed(185, "ProbeError, the one error a probe raises"),
}
RANGES = {"healthprobes.checks.runtime.ranges": Allowed(147, "Nagios threshold ranges "
                                                        "(-w/-c)")}
EXPIRY = {"healthprobes.checks.runtime.expiry": Allowed(
    250, "the --cert-expiry-* options a check connecting over TLS declares; it imports "
         "nothing more until a certificate is read")}
HTTP = {
    "healthprobes.probes.http": Allowed(498, "the HTTP/1.1 client on _socket"),
    "healthprobes.probes.address": Allowed(80, "host names and ports checked up front, "
                                           "shared with check_grpc_health's --addr"),
    "healthprobes.probes.http_url": Allowed(190, "what the client sends: URLs, percent-"
                                            "encoding, request headers"),
    "healthprobes.probes.http_wire": Allowed(140, "RFC 9112's rules for what comes back "
                                             "(framing, lines, chunks)"),
    "_socket": Allowed(513, "the C socket module: socket.py would add enum and selectors"),
}

# --- check_etcd --------------------------------------------------------------------------

ETCD = RUNTIME | HTTP | EXPIRY | {
    "healthprobes.checks.etcd": Allowed(176, "check_etcd's package"),
    "healthprobes.checks.etcd.program": Allowed(340, "check_etcd's executable"),
    "healthprobes.checks.etcd.registry": Allowed(94, "the subcommands by name: only the one "
                                                 "run is imported"),
    "healthprobes.checks.etcd.connection": Allowed(264, "etcdctl's connection options, "
                                                   "sessions"),
    "healthprobes.checks.etcd.judging": Allowed(126, "failures, quorum, alarms judged"),
    "healthprobes.probes.etcd": Allowed(329, "etcd's /health and JSON gateway"),
    "healthprobes.probes.json_answer": Allowed(182, "JSON answers read by json's C scanner"),
    "_json": Allowed(220, "json's C scanner, without the json package (~10 ms with re)"),
    "healthprobes.probes.parallel": Allowed(183, "every endpoint asked at once, on _thread "
                                            "(threading would cost an import)"),
}

# --- check_grpc_health -------------------------------------------------------------------


def _grpc(self_us: int, importer: str, forbidden: bool = False) -> Allowed:
    """A module ``import grpc`` loads by itself (python -c 'import grpc' loads it too)."""
    return Allowed(self_us, f"import grpc loads it (imported by {importer})", forbidden)


# Everything `import grpc` loads (grpcio 1.85.1 on Python 3.11), named with the module that
# imports it in `python -c 'import grpc'`. The heavy ones come from grpc itself: its
# __init__ imports logging (threading, traceback, textwrap, string, re) and typing;
# grpc._cython.cygrpc imports asyncio (ssl, socket, subprocess, concurrent.futures,
# inspect, ast, dis, tokenize); grpc.aio imports typing_extensions. None of it can be put
# off: the check's one job is a gRPC call. The first of these the path loads is sometimes
# another (threading by probes/grpc_health.py, re by dataclasses), at no extra cost.
GRPC_LIBRARY = {
    "grpc": _grpc(1394, "healthprobes.probes.grpc_health"),
    "grpc._common": _grpc(224, "grpc.aio._call"),
    "grpc._compression": _grpc(244, "grpc"),
    "grpc._cython": _grpc(82, "grpc._compression"),
    "grpc._cython.cygrpc": _grpc(5780, "grpc._compression"),
    "grpc._grpcio_metadata": _grpc(66, "grpc"),
    "grpc._observability": _grpc(291, "grpc._cython.cygrpc"),
    "grpc._runtime_protos": _grpc(157, "grpc"),
    "grpc._typing": _grpc(660, "grpc._observability"),
    "grpc.aio": _grpc(217, "grpc"),
    "grpc.aio._base_call": _grpc(372, "grpc.aio"),
    "grpc.aio._base_channel": _grpc(495, "grpc.aio"),
    "grpc.aio._base_server": _grpc(222, "grpc.aio"),
    "grpc.aio._call": _grpc(815, "grpc.aio"),
    "grpc.aio._channel": _grpc(566, "grpc.aio"),
    "grpc.aio._interceptor": _grpc(815, "grpc.aio._channel"),
    "grpc.aio._metadata": _grpc(307, "grpc.aio._base_call"),
    "grpc.aio._server": _grpc(218, "grpc.aio"),
    "grpc.aio._typing": _grpc(284, "grpc.aio._base_call"),
    "grpc.aio._utils": _grpc(85, "grpc.aio._interceptor"),
    # grpc's __init__ tries these to alias grpc.tools, grpc.health and grpc.reflection;
    # grpc_health is installed (grpcio-health-checking), the other two fail cheaply.
    "grpc_health": _grpc(108, "grpc"),
    "grpc_reflection": _grpc(39, "grpc"),
    "grpc_tools": _grpc(62, "grpc"),
    "typing_extensions": _grpc(1884, "grpc.aio._metadata", forbidden=True),
    "typing": _grpc(2755, "grpc", forbidden=True),
    "_typing": _grpc(166, "typing"),
    "logging": _grpc(1376, "grpc", forbidden=True),
    "atexit": _grpc(35, "logging"),
    "string": _grpc(448, "logging"),
    "_string": _grpc(31, "string"),
    "traceback": _grpc(461, "logging"),
    "textwrap": _grpc(737, "traceback", forbidden=True),
    "warnings": _grpc(197, "logging"),
    "weakref": _grpc(291, "logging"),
    "_weakrefset": _grpc(173, "weakref"),
    "threading": _grpc(669, "logging", forbidden=True),
    "re": _grpc(404, "logging", forbidden=True),
    "re._casefix": _grpc(88, "re._compiler", forbidden=True),
    "re._compiler": _grpc(367, "re", forbidden=True),
    "re._constants": _grpc(208, "re._parser", forbidden=True),
    "re._parser": _grpc(321, "re._compiler", forbidden=True),
    "_sre": _grpc(51, "re._compiler"),
    "copyreg": _grpc(107, "re"),
    "enum": _grpc(1078, "grpc"),
    "contextlib": _grpc(432, "grpc"),
    "collections": _grpc(1394, "contextlib"),
    "_collections": _grpc(54, "collections"),
    "collections.abc": _grpc(144, "traceback"),
    "functools": _grpc(561, "contextlib"),
    "_functools": _grpc(41, "functools"),
    "itertools": _grpc(134, "collections"),
    "keyword": _grpc(97, "collections"),
    "operator": _grpc(219, "collections"),
    "_operator": _grpc(54, "operator"),
    "reprlib": _grpc(131, "collections"),
    "types": _grpc(224, "functools"),
    "zlib": _grpc(303, "grpc._cython.cygrpc"),
    "pkgutil": _grpc(366, "grpc._cython.cygrpc"),
    "importlib": _grpc(131, "importlib.machinery"),
    "importlib._abc": _grpc(156, "importlib.util"),
    "importlib.machinery": _grpc(46, "inspect"),
    "importlib.util": _grpc(119, "pkgutil"),
    "asyncio": _grpc(300, "grpc._cython.cygrpc", forbidden=True),
    "asyncio.base_events": _grpc(782, "asyncio", forbidden=True),
    "asyncio.base_futures": _grpc(103, "_asyncio", forbidden=True),
    "asyncio.base_subprocess": _grpc(145, "asyncio.unix_events", forbidden=True),
    "asyncio.base_tasks": _grpc(92, "_asyncio", forbidden=True),
    "asyncio.constants": _grpc(211, "asyncio.base_events", forbidden=True),
    "asyncio.coroutines": _grpc(101, "asyncio.base_events", forbidden=True),
    "asyncio.events": _grpc(386, "asyncio.base_events", forbidden=True),
    "asyncio.exceptions": _grpc(135, "_asyncio", forbidden=True),
    "asyncio.format_helpers": _grpc(95, "asyncio.events", forbidden=True),
    "asyncio.futures": _grpc(158, "asyncio.base_events", forbidden=True),
    "asyncio.locks": _grpc(379, "asyncio.staggered", forbidden=True),
    "asyncio.log": _grpc(76, "asyncio.sslproto", forbidden=True),
    "asyncio.mixins": _grpc(70, "asyncio.locks", forbidden=True),
    "asyncio.protocols": _grpc(126, "asyncio.base_events", forbidden=True),
    "asyncio.queues": _grpc(171, "asyncio", forbidden=True),
    "asyncio.runners": _grpc(200, "asyncio", forbidden=True),
    "asyncio.selector_events": _grpc(391, "asyncio.unix_events", forbidden=True),
    "asyncio.sslproto": _grpc(884, "asyncio.base_events", forbidden=True),
    "asyncio.staggered": _grpc(262, "asyncio.base_events", forbidden=True),
    "asyncio.streams": _grpc(243, "asyncio", forbidden=True),
    "asyncio.subprocess": _grpc(245, "asyncio", forbidden=True),
    "asyncio.taskgroups": _grpc(101, "asyncio", forbidden=True),
    "asyncio.tasks": _grpc(324, "asyncio.locks", forbidden=True),
    "asyncio.threads": _grpc(69, "asyncio", forbidden=True),
    "asyncio.timeouts": _grpc(274, "asyncio", forbidden=True),
    "asyncio.transports": _grpc(184, "asyncio.sslproto", forbidden=True),
    "asyncio.trsock": _grpc(120, "asyncio.base_events", forbidden=True),
    "asyncio.unix_events": _grpc(505, "asyncio", forbidden=True),
    "_asyncio": _grpc(254, "asyncio.events"),
    "contextvars": _grpc(827, "asyncio.events"),
    "_contextvars": _grpc(110, "contextvars"),
    "heapq": _grpc(164, "asyncio.base_events"),
    "_heapq": _grpc(229, "heapq"),
    "concurrent": _grpc(104, "concurrent.futures"),
    "concurrent.futures": _grpc(178, "asyncio.base_events"),
    "concurrent.futures._base": _grpc(481, "concurrent.futures"),
    "ssl": _grpc(2148, "asyncio.base_events"),
    "_ssl": _grpc(2262, "ssl"),
    "base64": _grpc(303, "ssl"),
    "binascii": _grpc(139, "base64"),
    "struct": _grpc(101, "base64"),
    "_struct": _grpc(168, "struct"),
    "socket": _grpc(1282, "asyncio.base_events"),
    "_socket": _grpc(336, "socket"),
    "array": _grpc(208, "socket"),
    "errno": _grpc(56, "socket"),
    "selectors": _grpc(464, "socket"),
    "select": _grpc(135, "selectors"),
    "math": _grpc(171, "selectors"),
    "subprocess": _grpc(606, "asyncio.base_events", forbidden=True),
    "_posixsubprocess": _grpc(114, "subprocess"),
    "fcntl": _grpc(156, "subprocess"),
    "locale": _grpc(746, "subprocess"),
    "_locale": _grpc(64, "locale"),
    "msvcrt": _grpc(52, "subprocess"),
    "signal": _grpc(515, "subprocess"),
    "inspect": _grpc(1409, "asyncio.coroutines"),
    "ast": _grpc(973, "inspect"),
    "_ast": _grpc(817, "ast"),
    "dis": _grpc(664, "inspect"),
    "opcode": _grpc(243, "dis"),
    "_opcode": _grpc(160, "opcode"),
    "linecache": _grpc(108, "traceback"),
    "tokenize": _grpc(867, "linecache"),
    "token": _grpc(101, "tokenize"),
}

GRPC = RUNTIME | RANGES | GRPC_LIBRARY | EXPIRY | {
    "healthprobes.checks.grpc_health": Allowed(362, "check_grpc_health's executable"),
    "healthprobes.probes.grpc_health": Allowed(2031, "the health client; it imports grpc"),
    "healthprobes.probes.address": Allowed(136, "--addr checked up front (port range, "
                                           "brackets, label lengths)"),
    "healthprobes.probes.health_wire": Allowed(117, "the health messages in wire format, "
                                               "without protobuf (~24 ms)"),
    "healthprobes.probes.tls": Allowed(865, "TLS material checked before gRPC sees it; "
                                       "imported by probes/grpc_health.py at module level"),
    # Beyond what grpc loads, @dataclass on the value classes of probes/grpc_health.py
    # and probes/tls.py costs dataclasses and copy, about 0.8 ms; everything else
    # dataclasses imports (inspect, re ...) grpc loads anyway.
    "dataclasses": Allowed(587, "probes/grpc_health.py and probes/tls.py declare their "
                           "value classes with @dataclass; only on the gRPC path, where grpc "
                           "has loaded inspect and re already", overrides_forbidden=True),
    "copy": Allowed(154, "imported by dataclasses"),
    **_same_reason("copy's try of Jython's PyStringMap (a failed import)",
                   {"org": 53, "org.python": 19, "org.python.core": 12}),
    # Loaded when the first channel is made (grpc.insecure_channel, grpc.secure_channel).
    "grpc._channel": Allowed(2387, "grpc's channel implementation, imported at the first "
                             "channel"),
    "grpc.experimental": Allowed(315, "imported by grpc._channel"),
    "grpc._simple_stubs": Allowed(421, "imported by grpc.experimental"),
    "datetime": Allowed(873, "imported by grpc._simple_stubs"),
    "_datetime": Allowed(304, "imported by datetime"),
}

# --- check_metrics -----------------------------------------------------------------------

METRICS = RUNTIME | RANGES | HTTP | EXPIRY | {
    "healthprobes.checks.metrics": Allowed(260, "check_metrics's executable"),
    "healthprobes.checks.promql": Allowed(80, "the PromQL package (empty)"),
    "healthprobes.checks.promql.options": Allowed(137, "thresholds per expression, "
                                                  "history directory"),
    "healthprobes.checks.promql.judge": Allowed(126, "the expressions judged against a "
                                                "scrape"),
    "healthprobes.checks.promql.evaluator": Allowed(371, "the PromQL evaluator"),
    "healthprobes.checks.promql.functions": Allowed(108, "PromQL functions' arithmetic"),
    "healthprobes.checks.promql.store": Allowed(106, "the scrape and its history as one "
                                                "store of samples"),
    "bisect": Allowed(60, "store.py: samples found in a window by binary search"),
    "_bisect": Allowed(40, "imported by bisect"),
    "healthprobes.checks.promql.limits": Allowed(85, "expression size and depth bounded "
                                                 "before parsing"),
    "healthprobes.checks.promql.binary": Allowed(189, "binary operators and vector "
                                                 "matching"),
    "healthprobes.checks.promql.errors": Allowed(60, "QueryError, Unsupported"),
    "healthprobes.checks.promql.floats": Allowed(80, "Go's float arithmetic that never "
                                                 "raises"),
    # Needed only by range functions and rules, yet checks/metrics.py's run() takes the
    # Policy's default state directory from it on every run (it imports only os).
    "healthprobes.checks.promql.history": Allowed(280, "default_directory() for the "
                                                  "Policy, on every run"),
    "healthprobes.probes.exposition": Allowed(182, "fetching and reading the Prometheus "
                                              "text"),
    "promql_parser": Allowed(140, "PromQL parsed by promql-parser (Rust)"),
    "promql_parser.promql_parser": Allowed(1038, "promql-parser's extension module"),
    "math": Allowed(167, "the evaluator: NaN, infinities, fsum"),
    "itertools": Allowed(70, "functions.py: itertools.pairwise"),
    "zlib": Allowed(359, "exposition.py: the scrape asks for gzip and etcd answers with it"),
    "healthprobes.probes.content_coding": Allowed(190, "gzip and deflate bodies decoded "
                                                  "within max-bytes, every gzip member"),
}

# Per executable path. Keys are how the test names its cases.
ALLOWED: dict[str, dict[str, Allowed]] = {
    "check_etcd health": ETCD | RANGES | {
        "healthprobes.checks.etcd.health": Allowed(223, "the health subcommand"),
    },
    "check_etcd cluster": ETCD | {
        "healthprobes.checks.etcd.cluster": Allowed(279, "the cluster subcommand"),
        "healthprobes.probes.etcd_answers": Allowed(429, "the gateway's answers as objects "
                                                    "(status, member list, alarms)"),
    },
    "check_grpc_health": GRPC,
    "check_metrics": METRICS,
}

# What each --format adds to any path.
FORMATS: dict[str, dict[str, Allowed]] = {
    "nagios": {},
    "json": {"_json": Allowed(146, "render._json_text: json's C string encoder, without the "
                              "json package")},
}

# What importtime shows as the importer of a module no import was running for: the
# launcher's own imports, and imports inside a function called at run time.
TOP_LEVEL = "top level"


@dataclass(frozen=True)
class KnownOverrun:
    """A module a path loads today that it should not, imported by ``importer``."""

    module: str
    importer: str
    fix: str


# While a path loads a known overrun exactly as said here, its case is an expected
# failure (xfail, with the chain); any other stray module still fails it, and so does
# the overrun once it is gone (remove the entry then).
KNOWN_OVERRUNS: dict[str, list[KnownOverrun]] = {}
