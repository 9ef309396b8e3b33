"""check_grpc_health: judge a server's grpc.health.v1.Health answers.

A drop-in for grpc-health-probe (same flags, single-dash spellings accepted) that adds
Nagios states, several services in one run, per-status state mapping, Watch until
SERVING, List (gRFC A90), performance data and the collector output formats.
"""

from __future__ import annotations

import sys

from healthprobes.checks import __version__
from healthprobes.checks.runtime.executable import main as run_main
from healthprobes.checks.runtime.expiry import expiry_options
from healthprobes.checks.runtime.options import (
    APPEND,
    FLAG,
    HELP,
    UNSUPPORTED,
    VERSION,
    Group,
    Option,
    UsageError,
    Values,
    choice_list,
    parse_duration,
)
from healthprobes.checks.runtime.program import CheckProgram
from healthprobes.checks.runtime.ranges import parse_range
from healthprobes.checks.runtime.render import COLLECTOR_FORMATS
from healthprobes.checks.runtime.results import Findings, Report, Result
from healthprobes.checks.runtime.states import CRITICAL, OK, UNKNOWN, parse_state, state_name
from healthprobes.probes.errors import ProbeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthprobes.probes.deadline import Deadline

SERVER = "(server)"  # how the empty service name, the whole server, is shown
EXIT_CODES = ("nagios", "grpc-health-probe")
_HEADER_CHARS = frozenset("0123456789abcdefghijklmnopqrstuvwxyz_.-")

EPILOG = """\
states:
  SERVING is OK. NOT_SERVING, UNKNOWN and SERVICE_UNKNOWN are CRITICAL unless mapped
  with --state-not-serving, --state-unknown, --state-service-unknown. A service the
  server does not know (NOT_FOUND) and a server without the health service
  (UNIMPLEMENTED) are CRITICAL. A refused, unresolvable or silent target is CRITICAL,
  or --timeout-state. Several --service: each is judged and reported, the worst wins.

certificate expiry (with --tls):
  The days left on the server's certificates and on --tls-client-cert (perfdata
  cert_expiry_days, the minimum) are judged with --cert-expiry-warning and
  --cert-expiry-critical. Without them they are reported, not judged: with
  --tls-no-verify always (its handshake carries them), with verification, which
  needs one extra short handshake (gRPC does not show the server's certificates),
  only with -v or --format json, influx or prometheus. A --probe run without
  thresholds reads none. An expired certificate is CRITICAL with how long ago, also
  with --tls-no-verify; when verification refuses it, the message says how long ago.

exit codes:
  0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (also for invalid arguments).
  --probe: 0 for OK and WARNING, 1 otherwise. --format influx|prometheus: always 0.

examples:
  check_grpc_health --addr 127.0.0.1:50051
  check_grpc_health -addr=localhost:50051 -service=payments -service=orders
  check_grpc_health --addr api:443 --tls --tls-ca-cert ca.pem --tls-client-cert c.pem \\
      --tls-client-key c.key --probe
  check_grpc_health --addr unix:///run/app.sock --wait -t 30
"""


def _go(name: str, **kwargs: object) -> Option:
    """``--name``, also spelled ``-name`` as grpc-health-probe (Go's flag package) takes it."""
    return Option(f"--{name}", aliases=[f"-{name}"], **kwargs)  # type: ignore[arg-type]


def option_groups() -> list[Group]:
    states = [Option(f"--state-{status}", convert=parse_state, default=CRITICAL,
                     metavar="STATE",
                     help=f"state for {status.upper().replace('-', '_')} (default: critical)")
              for status in ("not-serving", "unknown", "service-unknown")]
    return [
        Group("target (grpc-health-probe's flags; -flag and -flag=value spellings work too)", [
            # Go's flag package, and so grpc-health-probe, also takes -help and -version.
            Option("-help", action=HELP), Option("-version", action=VERSION),
            # grpc-health-probe's flags for Google's ALTS and SPIFFE workload identities:
            # named and refused, so a manifest using them fails with a reason.
            _go("alts", action=UNSUPPORTED,
                help="healthprobes does not offer ALTS (Google Cloud's application-layer "
                     "transport security); use --tls with certificates"),
            _go("spiffe", action=UNSUPPORTED,
                help="healthprobes does not offer SPIFFE workload identities from the "
                     "Workload API; give the SVID files with --tls-client-cert and "
                     "--tls-client-key"),
            _go("addr", required=True, metavar="ADDRESS",
                help="host:port, [ipv6]:port, :port (this host) or unix:///path"),
            _go("service", action=APPEND, metavar="NAME",
                help="service to check; repeat for several (default: the whole server, the "
                     "empty name)"),
            _go("connect-timeout", convert=parse_duration, default=1.0, metavar="DURATION",
                help="time to connect, TLS included (default: 1s; capped by -t)"),
            _go("rpc-timeout", convert=parse_duration, default=1.0, metavar="DURATION",
                help="time for each call (default: 1s; capped by -t)"),
            _go("rpc-header", action=APPEND, metavar="'NAME: VALUE'",
                help="metadata sent with every call; repeatable"),
            _go("user-agent", default=f"check_grpc_health/{__version__}", metavar="TEXT",
                help=f"user agent (default: check_grpc_health/{__version__})"),
            _go("gzip", action=FLAG, help="gzip-compress the calls"),
        ]),
        Group("TLS", [
            _go("tls", action=FLAG, help="connect with TLS"),
            _go("tls-ca-cert", metavar="FILE",
                help="CA certificates to verify the server with (default: gRPC's roots)"),
            _go("tls-client-cert", metavar="FILE",
                help="client certificate for mutual TLS (with --tls-client-key)"),
            _go("tls-client-key", metavar="FILE", help="the client certificate's key"),
            _go("tls-server-name", metavar="NAME",
                help="name to verify the server's certificate against (and :authority)"),
            _go("tls-no-verify", action=FLAG,
                help="do not verify the server's certificate (testing only)"),
            *expiry_options(what="certificate the server or --tls-client-cert presents "
                                 "(with --tls; see 'certificate expiry' below)"),
        ]),
        Group("exit codes", [
            Option("--exit-codes", convert=choice_list(EXIT_CODES), default="nagios",
                   env="HEALTHPROBES_EXIT_CODES", metavar="KIND",
                   help="nagios (default: 0-3 as below) or grpc-health-probe: 0 SERVING, "
                        "1 invalid arguments, 2 connection failed, 3 call failed, 4 "
                        "answered but not SERVING, for scripts written against it"),
        ]),
        Group("what to ask", [
            Option("--wait", action=FLAG,
                   help="keep connecting and watching (Watch RPC) until every service is "
                        "SERVING or -t passes; for startup probes and init containers"),
            Option("--list", action=FLAG,
                   help="judge every service the server lists (List RPC, gRFC A90)"),
        ]),
        Group("judging", [
            *states,
            Option("-w", "--warning", convert=parse_range, metavar="RANGE",
                   help="warning range for each call's time in seconds (e.g. 0.5)"),
            Option("-c", "--critical", convert=parse_range, metavar="RANGE",
                   help="critical range for each call's time in seconds"),
        ]),
    ]


_SENSITIVE_HEADER_WORDS = ("auth", "cookie", "token", "key", "secret", "password", "session",
                           "credential", "signature")


def parse_header(text: str) -> tuple[str, str]:
    """``name: value``; messages quote the name only, since values are often secrets."""
    name, colon, value = text.partition(":")
    name = name.strip().lower()
    if not colon or not name:
        raise UsageError("--rpc-header: write 'name: value' (name of a-z, 0-9, -_.)")
    if not _HEADER_CHARS.issuperset(name):
        raise UsageError(f"--rpc-header {name[:40]!r}: a name is made of a-z, 0-9, -_.")
    if name.startswith("grpc-") or name in ("te", "content-type", "user-agent"):
        raise UsageError(f"--rpc-header {name!r} is reserved by gRPC")
    return name, value.strip()


def is_sensitive_header(name: str) -> bool:
    """Headers whose values are credentials (Authorization, cookies, API keys ...)."""
    return any(word in name for word in _SENSITIVE_HEADER_WORDS)


def normalize_address(address: str) -> str:
    """grpc-health-probe's address forms, checked: ``host:port``, ``[v6]:port``, ``:port``
    (this host), ``unix:///path`` and gRPC's other resolver schemes."""
    address = address.strip()
    if address.startswith(("unix:", "unix-abstract:", "dns:", "ipv4:", "ipv6:", "vsock:")):
        return address
    scheme, colon_slashes, rest = address.partition("://")
    if colon_slashes:
        raise UsageError(f"--addr {address!r}: gRPC addresses have no {scheme}://; write "
                         f"{rest.split('/')[0] or 'host:port'}")
    if address.startswith(":") and address[1:].isdigit():  # Go dials ":port" on this host
        address = "localhost" + address
    from healthprobes.probes.address import split_host_port

    try:
        split_host_port(address)
    except ValueError as error:
        raise UsageError(f"--addr {error}") from None
    return address


def validate(args: Values) -> None:
    """Reject what cannot work before connecting, as grpc-health-probe does."""
    if not args.addr.strip():
        raise UsageError("--addr must not be empty")
    args.addr = normalize_address(args.addr)
    tls_flags = [flag for flag, value in (
        ("--tls-ca-cert", args.tls_ca_cert), ("--tls-client-cert", args.tls_client_cert),
        ("--tls-client-key", args.tls_client_key), ("--tls-server-name", args.tls_server_name),
        ("--tls-no-verify", args.tls_no_verify)) if value]
    if tls_flags and not args.tls:
        raise UsageError(f"{', '.join(tls_flags)} {'needs' if len(tls_flags) == 1 else 'need'} "
                         "--tls")
    if not args.tls and (args.cert_expiry_warning is not None
                         or args.cert_expiry_critical is not None):
        raise UsageError("--cert-expiry-warning and --cert-expiry-critical need --tls")
    if args.tls_no_verify and (args.tls_ca_cert or args.tls_server_name):
        raise UsageError("--tls-no-verify cannot go with --tls-ca-cert or --tls-server-name")
    if bool(args.tls_client_cert) != bool(args.tls_client_key):
        raise UsageError("--tls-client-cert and --tls-client-key go together")
    if args.tls_no_verify and args.addr.startswith(("unix:", "unix-abstract:", "dns:", "ipv")):
        raise UsageError("--tls-no-verify needs a host:port address")
    if args.list and (args.service or args.wait):
        raise UsageError("--list judges what the server lists: it cannot go with "
                         "--service or --wait")
    args.metadata = tuple(parse_header(header) for header in args.rpc_header)
    secrets = [value for name, value in args.metadata if is_sensitive_header(name) and value]
    if secrets:
        from healthprobes.checks.runtime.secrets import remember

        # The value, and its credential after a scheme word ("Bearer abc": abc too).
        remember(args, *secrets, *(value.split(None, 1)[-1] for value in secrets))
    args.services = list(dict.fromkeys(args.service or [""]))  # repeated names once


# Formats whose consumer stores numbers (a script's JSON, Telegraf, Categraf).
METRIC_FORMATS = ("json", *COLLECTOR_FORMATS)


def reads_certificates(args: Values) -> bool:
    """Whether this run reads the certificates (with --tls). Always when it judges them
    (thresholds given); never for a Kubernetes --probe without thresholds (parsing costs
    tens of milliseconds on every probe); otherwise whenever no extra connection is
    needed (--tls-no-verify's handshake carries them), and with verification, which
    costs an extra handshake, when the run shows them (-v) or hands metrics to a
    collector (json, influx, prometheus). docs/certificates.md has the measurements."""
    if not args.tls:
        return False
    if args.cert_expiry_warning is not None or args.cert_expiry_critical is not None:
        return True
    if args.probe:
        return False
    return args.tls_no_verify or bool(args.verbose) or args.format in METRIC_FORMATS


class GrpcHealth:
    """Connects once and asks every service."""

    def __init__(self, args: Values, deadline: Deadline) -> None:
        self.args = args
        self.deadline = deadline
        # The server's certificates (DER, leaf first) when the run read them, or why
        # they could not be read.
        self.presented: list[bytes] | None = None
        self.unread = ""

    def _target(self):
        from healthprobes.probes.grpc_health import GrpcTarget, TlsOptions
        from healthprobes.probes.tls import load_material

        args = self.args
        tls = None
        if args.tls:
            material = load_material(args.tls_ca_cert, args.tls_client_cert, args.tls_client_key)
            tls = TlsOptions(material, args.tls_server_name, verify=not args.tls_no_verify)
        return GrpcTarget(args.addr, tls, args.metadata, args.user_agent, args.gzip,
                          args.connect_timeout, args.rpc_timeout)

    def probe(self) -> tuple[float, list]:
        """Connect once and ask: the connect time and every service's answer."""
        # Imported here: grpc is most of a run's start-up and --help needs none of it.
        from healthprobes.probes.grpc_health import HealthClient

        args = self.args
        target = self._target()
        kept = getattr(args, "kept", None)
        # The relay that skips verification lives for one run's deadline: never kept.
        if target.tls is not None and not target.tls.verify:
            kept = None
        client = kept.take(target) if kept is not None else None
        if client is None:
            client = HealthClient(target, self.deadline)
        else:
            client.deadline = self.deadline  # a kept channel, asked under this run's deadline
        answered = False  # the calls were made: the channel itself is sound
        # A kept channel whose last run was answered is asked at once (this run spends
        # no time connecting); if its connection broke meanwhile, the calls say
        # UNAVAILABLE and it connects and asks again, as a new channel would.
        warm = client.warm and not args.wait
        try:
            connect_time = 0.0 if warm else self._connect(client, target)
            answers = self._ask(client)
            if warm and any(answer.code == "UNAVAILABLE" for answer in answers):
                connect_time = self._connect(client, target)
                answers = self._ask(client)
            answered = True
            if reads_certificates(args):
                try:
                    self.presented = client.presented_certificates()
                except ProbeError as error:
                    self.unread = error.message
        finally:
            if kept is not None and answered:
                client.warm = True
                kept.give_back(target, client)
            else:
                client.close(wait=False)  # an exec run ends right after the verdict
        return connect_time, answers

    def _connect(self, client, target) -> float:
        try:
            return client.connect(wait=self.args.wait)
        except ProbeError as error:
            if error.kind == ProbeError.TLS and target.tls is not None and target.tls.verify:
                self._read_refused(target)
            raise

    def _ask(self, client) -> list:
        """Every service's answer (or List's, or Watch's) on the connected channel."""
        from healthprobes.probes.grpc_health import ServiceHealth

        args = self.args
        if args.list:
            answers, failure = client.list_services()
            if failure is not None:
                code, _, detail = failure.partition(": ")
                answers = [ServiceHealth("List", None, code, detail)]
            return answers
        if args.wait:
            return [client.watch(service) for service in args.services]
        return client.check(args.services)

    def _read_refused(self, target) -> None:
        """The certificates of a server whose certificate gRPC refused, read on one
        handshake that checks trust and name but not dates: only on this failure path,
        so that an expired certificate is reported with how long ago."""
        from healthprobes.probes.grpc_health import peek_server_chain

        try:
            self.presented = peek_server_chain(target, self.deadline)
        except ProbeError as error:
            self.unread = error.message


def certificates_into(report: Report, args: Values, health: GrpcHealth) -> Report:
    """The certificates the run read, judged into its report (the same words, perfdata
    and long output as check_etcd and check_metrics)."""
    from healthprobes.checks.runtime.expiry import add_to_report, connection_certificates

    presented = [("", health.presented)] if health.presented else []
    if health.unread:
        asked = args.cert_expiry_warning is not None or args.cert_expiry_critical is not None
        text = f"server certificate not read: {health.unread}"
        if asked:  # thresholds were given: what they judge is unknown
            report.results.append(Result(UNKNOWN, text, "cert_server"))
        report.details.append(f"{state_name(UNKNOWN) if asked else 'NOTE'}: {text}")
    return add_to_report(report, args, connection_certificates(presented,
                                                               args.tls_client_cert))


def refused_report(args: Values, health: GrpcHealth, error: ProbeError) -> Report:
    """A connection refused in the TLS handshake, with the certificates read on the
    failure path: the expiry perfdata stays (a dashboard's line does not vanish the day
    the certificate expires) and the status line says how long ago it expired."""
    from healthprobes.checks.runtime.evaluation import failed
    from healthprobes.checks.runtime.results import SUMMARY_LIMIT, clip, worst_first

    report = certificates_into(Report("grpc_health", args.addr, [Result(CRITICAL, str(error))],
                                      str(error)), args, health)
    dated = [result for result in worst_first(report.results[1:])
             if result.state == CRITICAL and result.name.startswith("cert_")]
    if dated:
        report.summary = clip(f"{error}; {dated[0].text}", SUMMARY_LIMIT)
    return failed(report, "probe")


def judge_answer(args: Values, name: str, answer) -> tuple[int, str]:
    """One service's answer, or why there was none, as a state and words."""
    status_states: dict[str, int] = {
        "SERVING": OK, "NOT_SERVING": args.state_not_serving, "UNKNOWN": args.state_unknown,
        "SERVICE_UNKNOWN": args.state_service_unknown}
    if answer.status is not None:
        text = f"{name}: {answer.status}"
        if len(answer.changes) > 1:
            text += f" (watched: {' -> '.join(answer.changes)})"
        if args.wait and answer.status != "SERVING":
            text += f", still not SERVING after {answer.seconds:.1f}s"
        return status_states.get(answer.status, CRITICAL), text
    detail = f": {answer.detail}" if answer.detail else ""
    if answer.code == "NOT_FOUND":
        return CRITICAL, f"{name}: not registered with the health service (NOT_FOUND)"
    if answer.code == "UNIMPLEMENTED":
        if name == "List":
            return UNKNOWN, ("the server does not implement List (gRFC A90); "
                             "name the services with --service instead")
        return CRITICAL, "the server does not implement grpc.health.v1.Health (UNIMPLEMENTED)"
    if answer.code == "DEADLINE_EXCEEDED":
        return args.timeout_state, f"{name}: no answer in time (DEADLINE_EXCEEDED)"
    if answer.code == "UNAVAILABLE":
        return args.timeout_state, f"{name}: server unavailable (UNAVAILABLE{detail})"
    return CRITICAL, f"{name}: call failed with {answer.code}{detail}"


def details(args: Values, health: list[Result], answers: list, connect_time: float
            ) -> list[str]:
    lines = []
    if len(health) > 1 or args.verbose:
        for result, answer in zip(health, answers, strict=True):
            timing = f" in {answer.seconds * 1000:.1f} ms" if answer.status else ""
            lines.append(f"{state_name(result.state)}: {result}{timing}")
    if args.verbose:
        security = ("TLS, server not verified" if args.tls_no_verify
                    else "TLS" if args.tls else "plaintext")
        lines.append(f"connected to {args.addr} ({security}) in {connect_time * 1000:.1f} ms")
    return lines


def run(args: Values, deadline: Deadline) -> Report:
    health_probe = GrpcHealth(args, deadline)
    try:
        connect_time, answers = health_probe.probe()
    except ProbeError as error:
        if health_probe.presented:
            return refused_report(args, health_probe, error)
        raise
    findings = Findings()
    connect_time = round(connect_time, 6)
    findings.record("connect_time", connect_time, "s", min=0)
    health = [findings.add(*judge_answer(args, answer.service or SERVER, answer),
                           name=answer.service or SERVER) for answer in answers]
    # One List call answers for every service: its time is reported once.
    per_service_time = len(answers) > 1 and not args.list
    for answer in answers if per_service_time else answers[:1]:
        if answer.status is not None:
            label = f"rpc_time_{answer.service or 'server'}" if per_service_time else "rpc_time"
            findings.measure(label, round(answer.seconds, 6), "s", args.warning, args.critical,
                             min=0)
    ok = (f"{args.addr} {health[0]}" if len(health) == 1
          else f"{args.addr}: all {len(health)} services SERVING")
    report = findings.report("grpc_health", args.addr, ok,
                             details(args, health, answers, connect_time),
                             prefix=f"{args.addr} ")
    report.exit_codes["grpc-health-probe"] = grpc_health_probe_code(answers)
    if health_probe.presented is not None or health_probe.unread:
        report = certificates_into(report, args, health_probe)
    return report


def grpc_health_probe_code(answers: list) -> int:
    """grpc-health-probe's exit code for answers of a server that was reached: 3 when a
    call failed, 4 when one answered other than SERVING, 0 when all are SERVING."""
    if any(answer.status is None for answer in answers):
        return 3
    return 4 if any(answer.status != "SERVING" for answer in answers) else 0


PROGRAM = CheckProgram(
    name="grpc_health",
    prog="check_grpc_health",
    description="Check a gRPC server's standard health service (grpc.health.v1.Health).",
    groups=option_groups(),
    validate=validate,
    run=run,
    target=lambda args: args.addr,
    epilog=EPILOG,
)


def main(argv: list[str] | None = None) -> None:
    run_main(PROGRAM, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
