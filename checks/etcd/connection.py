"""What every check_etcd subcommand shares to reach etcd: connection options, sessions.

Flag names and environment variables are etcdctl's (``--endpoints``, ``--cacert``,
``ETCDCTL_ENDPOINTS`` ...), because those are what etcd operators already type and
already have set in their shells and pods.
"""

from __future__ import annotations

import os

from healthprobes.checks.runtime.expiry import expiry_options
from healthprobes.checks.runtime.options import (
    APPEND,
    FLAG,
    Group,
    Option,
    UsageError,
    Values,
    parse_duration,
)
from healthprobes.probes.errors import ProbeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthprobes.checks.runtime.results import Report
    from healthprobes.probes.deadline import Deadline
    from healthprobes.probes.etcd import Credentials, EtcdSession
    from healthprobes.probes.etcd_answers import Member
    from healthprobes.probes.http import Url

DEFAULT_ENDPOINT = "http://127.0.0.1:2379"
CONNECTION = "connection (etcdctl's flags and ETCDCTL_* variables)"


def connection_options() -> Group:
    return Group(CONNECTION, [
        Option("--endpoints", action=APPEND, env="ETCDCTL_ENDPOINTS", metavar="URLS",
               help=f"comma-separated client URLs; repeatable (default: {DEFAULT_ENDPOINT}; "
                    "host:port means http, or https when a TLS option is given)"),
        Option("--cluster", action=FLAG,
               help="ask every member: expand the endpoints to all members' client URLs "
                    "from the member list"),
        Option("--cacert", env="ETCDCTL_CACERT", metavar="FILE",
               help="CA certificates to verify the members with (default: the system's)"),
        Option("--cert", env="ETCDCTL_CERT", metavar="FILE",
               help="client certificate, for members started with --client-cert-auth"),
        Option("--key", env="ETCDCTL_KEY", metavar="FILE", help="the client certificate's key"),
        Option("--insecure-skip-tls-verify", action=FLAG,
               env="ETCDCTL_INSECURE_SKIP_TLS_VERIFY",
               help="do not verify the members' certificates (testing only)"),
        Option("--user", env="ETCDCTL_USER", metavar="NAME",
               help="etcd user, when auth is enabled; 'name:password' is accepted as etcdctl "
                    "does, but prefer --password-file or ETCDCTL_PASSWORD"),
        Option("--dial-timeout", convert=parse_duration, default=2.0,
               env="ETCDCTL_DIAL_TIMEOUT", metavar="DURATION",
               help="time to connect to a member, TLS included (default: 2s; capped by -t)"),
        Option("--command-timeout", convert=parse_duration, default=5.0,
               env="ETCDCTL_COMMAND_TIMEOUT", metavar="DURATION",
               help="time a member has to answer one question, asked again through an "
                    "election (default: 5s; capped by -t)"),
        Option("--password-file", metavar="FILE",
               help="file whose first line is the user's password (the password is never "
                    "printed)"),
        *expiry_options(what="certificate a member or --cert presents (https only)"),
    ])


def validate_connection(args: Values) -> None:
    """Endpoints parsed, TLS and auth options checked against each other, up front."""
    from healthprobes.probes.http import parse_url

    if bool(args.cert) != bool(args.key):
        raise UsageError("--cert and --key go together")
    uses_tls = bool(args.cacert or args.cert or args.insecure_skip_tls_verify)
    values = args.endpoints or [DEFAULT_ENDPOINT]  # control characters: refused on reading
    texts = [part.strip(" ") for value in values for part in value.split(",") if part.strip(" ")]
    if not texts:
        raise UsageError("--endpoints is empty")
    urls = []
    for text in texts:
        try:
            url = parse_url(text, "https" if uses_tls else "http")
        except ValueError as error:
            raise UsageError(f"--endpoints: {error}") from None
        # check_etcd puts its own paths (/health, /v3/..., /metrics) after the endpoint:
        # a path given here would be asked as /metrics/metrics, so it is refused.
        if url.path not in ("", "/") or url.query:
            raise UsageError(f"--endpoints: {text!r}: give the client URL without a path "
                             f"(scheme://host:port); check_etcd asks /health, /v3/... and "
                             f"/metrics itself")
        urls.append(url)
    args.urls = list({str(url): url for url in urls}.values())
    args.credentials = _credentials(args)


def _credentials(args: Values) -> Credentials | None:
    if not args.user:
        if args.password_file:
            raise UsageError("--password-file needs --user")
        return None
    from healthprobes.checks.runtime.secrets import read_first_line, remember

    user, colon, inline = args.user.partition(":")
    if not user:
        raise UsageError("--user: the user name is empty")
    password = inline if colon else None
    if args.password_file:
        password = read_first_line(args.password_file, "--password-file")
    elif password is None and os.environ.get("ETCDCTL_PASSWORD"):
        password = os.environ["ETCDCTL_PASSWORD"]
    if not password:
        raise UsageError(f"no password for user {user!r}: give --password-file FILE or set "
                         "ETCDCTL_PASSWORD")
    from healthprobes.probes.etcd import Credentials

    remember(args, password)
    return Credentials(user, password, on_token=lambda token: remember(args, token))


def target_text(args: Values) -> str:
    return ",".join(str(url) for url in args.urls)


class Connector:
    """Builds one session per member, sharing TLS settings and credentials."""

    def __init__(self, args: Values, deadline: Deadline) -> None:
        self.args, self.deadline = args, deadline
        self._tls = None
        self._idle: dict[str, EtcdSession] = {}  # finished sessions, kept alive for reuse
        self._used: list[EtcdSession] = []  # every session this run asked through
        self.answered: EtcdSession | None = None  # whose member list was taken
        self.members: list[Member] = []  # the member list, once asked: names members
        # Every connection made for this run, whose handshakes add_certificates reads
        # once the subcommand has its report (a scrape adds its own).
        self.connections: list = []
        run_connectors = getattr(args, "connectors", None)  # this run's, set by program.run
        if run_connectors is not None:
            run_connectors.append(self)

    def tls(self):
        if self._tls is None:
            from healthprobes.probes.tls import client_context

            try:
                self._tls = client_context(self.args.cacert, self.args.cert, self.args.key,
                                           verify=not self.args.insecure_skip_tls_verify)
            except ProbeError:
                raise
            except Exception as error:  # ssl.SSLError on an unusable CA bundle
                raise ProbeError("", f"cannot use the TLS files ({error})",
                                 ProbeError.CONFIG) from None
        return self._tls

    def session(self, url: Url) -> EtcdSession:
        idle = self._idle.pop(str(url), None)
        if idle is not None:
            return idle
        kept = getattr(self.args, "kept", None)  # a resident caller's, between runs
        session = kept.take(("etcd", str(url))) if kept is not None else None
        if session is not None:
            session.rebind(self.deadline)
        else:
            from healthprobes.probes.etcd import EtcdSession

            tls = self.tls() if url.scheme == "https" else None
            session = EtcdSession(url, self.deadline, tls, self.args.credentials,
                                  bool(self.args.cert), self.args.dial_timeout,
                                  self.args.command_timeout)
        self.connections.append(session.connection)
        self._used.append(session)
        return session

    def finish(self) -> None:
        """The run is over: with a resident caller's Kept, give back each session that is
        open and no longer in use, close the rest. A session a thread may still be in
        (a member left behind at the deadline, or still answering after another member
        answered first) is never given back: two runs would share its connection."""
        kept = getattr(self.args, "kept", None)
        if kept is None:
            return
        reusable = self.deadline.remaining() > 0
        for session in dict.fromkeys(self._used):
            if reusable and session.active == 0 and session.connection.is_open:
                kept.give_back(("etcd", session.target), session)
            elif session.active == 0:
                session.close()

    def sessions(self) -> list[EtcdSession]:
        """Sessions for the endpoints given, or for every member with --cluster."""
        sessions = [self.session(url) for url in self.args.urls]
        if not self.args.cluster:
            return sessions
        members = self.member_list(sessions)
        return [self.session(url) for url in member_urls(members, self.args.urls[0].scheme)]

    def member_list(self, sessions: list[EtcdSession]) -> list[Member]:
        """The member list from whichever endpoint answers first.

        That endpoint's connection is open and idle now: the next session for the same
        URL reuses it instead of connecting (and, with TLS, shaking hands) again. The
        others may still be waiting on a slow member, so they are not reused.
        """
        members, winner = ask_first(sessions, lambda session: session.members(), self.deadline)
        self._idle[winner.target] = self.answered = winner
        self.members = members
        return members


def add_certificates(args: Values, report: Report) -> Report:
    """The certificates of every https connection the subcommand made, judged into its
    report (:func:`healthprobes.checks.runtime.expiry.add_to_report`): per member where
    several were asked, named by the member list where the run read one. Nothing is
    imported for plain http."""
    if not any(url.scheme == "https" for url in getattr(args, "urls", ())):
        return report
    presented: dict[str, list[bytes]] = {}
    names: dict[str, str] = {}
    for connector in getattr(args, "connectors", []):
        for member in connector.members:
            for url in member_urls([member], "https"):
                names[url.authority] = member.label
        for connection in connector.connections:
            if connection.peer_certificates:  # one handshake per member is enough
                presented.setdefault(connection.url.authority, connection.peer_certificates)
    from healthprobes.checks.runtime.expiry import add_to_report, connection_certificates

    several = len(presented) > 1
    labelled = connection_certificates(
        [(names.get(where, where) if several else "", blobs)
         for where, blobs in presented.items()], args.cert)
    return add_to_report(report, args, labelled)


def ask_any(sessions: list[EtcdSession], question, deadline: Deadline):
    """Ask every endpoint at once and take the first answer; raise the best error if none."""
    return ask_first(sessions, question, deadline)[0]


def ask_first(sessions: list[EtcdSession], question, deadline: Deadline):
    """The first answer to the question, and the session that gave it."""
    from healthprobes.probes.parallel import run_all

    answers = run_all([(session.target, lambda session=session: question(session))
                       for session in sessions], deadline,
                      enough=lambda answer: True)
    for session, answer in zip(sessions, answers, strict=True):
        if not isinstance(answer, BaseException):
            return answer, session
    raise most_telling(answers)  # type: ignore[arg-type]


def most_telling(errors: list[BaseException]) -> BaseException:
    """Of several failures, the one that says most: a member's own words over silence."""
    order = {ProbeError.CONFIG: 0, ProbeError.PROTOCOL: 1, ProbeError.TLS: 2,
             ProbeError.UNREACHABLE: 3, ProbeError.TIMEOUT: 4}
    probe_errors = [error for error in errors if isinstance(error, ProbeError)]
    if not probe_errors:
        return errors[0]
    return min(probe_errors, key=lambda error: order.get(error.kind, 5))


def member_urls(members: list[Member], scheme: str) -> list[Url]:
    """Each started member's first client URL in the scheme the user chose."""
    from healthprobes.probes.http import parse_url

    urls = []
    for member in members:
        for text in member.client_urls[:1]:
            try:
                urls.append(parse_url(text, scheme))
            except ValueError:
                continue
    return list({str(url): url for url in urls}.values())
