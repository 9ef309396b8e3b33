"""Asking etcd over HTTP: health endpoints and the v3 JSON gateway.

Returns plain facts (what a member said) and raises ProbeError when a member could
not be asked; nothing here judges. Facts about etcd's answers this relies on (see
docs/etcd.md): 64-bit numbers arrive as JSON strings; fields with zero
values are left out (no ``leader`` key means no leader, no ``alarms`` key means none);
``/livez`` and ``/readyz`` exist only from 3.4.29/3.5.11 and answer 404 before.
"""

from __future__ import annotations

import _thread
import time

from healthprobes.probes.errors import ProbeError
from healthprobes.probes.http import Connection, Response, Url, query_string
from healthprobes.probes.http_wire import server_text
from healthprobes.probes.json_answer import JsonError, loads

try:  # json's own C string encoder, without importing json
    from _json import encode_basestring_ascii as _json_string
except ImportError:
    from json.encoder import py_encode_basestring_ascii as _json_string

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable
    from typing import TypeVar

    T = TypeVar("T")

    from healthprobes.probes.deadline import Deadline
    from healthprobes.probes.etcd_answers import Alarm, Member, MemberStatus

class HealthAnswer:
    """What ``/health``, ``/livez`` or ``/readyz`` said."""

    __slots__ = ("checks", "endpoint", "healthy", "http_status", "path", "reason", "seconds")

    def __init__(self, endpoint: str, path: str, http_status: int, healthy: bool, reason: str,
                 seconds: float, checks: list[tuple[str, bool, str]] | None = None) -> None:
        self.endpoint, self.path, self.http_status = endpoint, path, http_status
        self.healthy, self.reason, self.seconds = healthy, reason, seconds
        self.checks = checks or []  # (name, passed, detail) from ?verbose


class Credentials:
    """etcd user and password, and the token they buy, shared by every member's session.

    The password is only ever sent in the authenticate call's body; it is never part
    of a message, a repr or verbose output.
    """

    def __init__(self, user: str, password: str,
                 on_token: Callable[[str], None] | None = None) -> None:
        self.user = user
        self._password = password
        self._token: str | None = None
        self._lock = _thread.allocate_lock()
        self._on_token = on_token  # the caller learns each token, to keep it out of output

    def __repr__(self) -> str:
        return f"Credentials(user={self.user!r})"

    def token(self, session: EtcdSession, stale: str | None = None) -> str:
        with self._lock:  # one authenticate call covers all members (tokens are cluster-wide)
            if self._token is None or self._token == stale:
                self._token = session.authenticate(self.user, self._password)
                if self._on_token is not None:
                    self._on_token(self._token)
            return self._token


class EtcdApiError(ProbeError):
    """The gateway answered with an error document: the member is up but said no."""

    def __init__(self, target: str, status: int, code: int, message: str) -> None:
        self.status, self.code, self.api_message = status, code, message
        super().__init__(target, f"etcd said: {message} (HTTP {status})", ProbeError.PROTOCOL)

    @property
    def needs_auth(self) -> bool:
        text = self.api_message.lower()
        return self.code == 16 or "user name is empty" in text or "invalid auth token" in text

    @property
    def permission_denied(self) -> bool:
        return self.code == 7 or "permission denied" in self.api_message.lower()


DIAL_TIMEOUT, COMMAND_TIMEOUT = 2.0, 5.0  # etcdctl's --dial-timeout and --command-timeout


class EtcdSession:
    """One member, one keep-alive connection, every question a check may ask it.

    Like etcdctl, each question has its own limits inside the run's deadline: the
    connection must stand within ``dial_timeout`` and the answer come within
    ``command_timeout``, so that one hung member cannot hold a check to its whole -t.
    And like etcd's own client, a question the member cannot answer only for now (no
    leader during an election: :mod:`healthprobes.probes.etcd_raft`) is asked again
    until the command timeout, instead of taking the first "leader changed" as final.
    """

    def __init__(self, url: Url, deadline: Deadline, tls: ssl.SSLContext | None = None,
                 credentials: Credentials | None = None, client_cert: bool = False,
                 dial_timeout: float = DIAL_TIMEOUT,
                 command_timeout: float = COMMAND_TIMEOUT) -> None:
        self.url, self.deadline, self.credentials = url, deadline, credentials
        self.connection = Connection(url, deadline, tls, client_cert=client_cert)
        self.dial_timeout, self.command_timeout = dial_timeout, command_timeout
        self._token: str | None = None
        self._question_end: float | None = None  # monotonic end of the question asked now
        self.transient = ""  # the last "for now" answer (no leader ...) this member gave
        # Asked before each new try of a question: whether waiting can still change the
        # verdict (a cluster check stops when too few members are left for a quorum).
        self.worth_waiting: Callable[[], bool] = lambda: True
        self.active = 0  # questions and requests under way (a run's thread still in one)

    def rebind(self, deadline: Deadline) -> None:
        """Ready a kept session for another run: that run's deadline, nothing carried
        over but the connection (reopened by the next request if the member closed it)
        and the auth token."""
        self.deadline = self.connection.deadline = deadline
        self.transient, self._question_end = "", None
        self.worth_waiting = lambda: True

    @property
    def target(self) -> str:
        return str(self.url)

    # --- limits and patience ----------------------------------------------------------

    def _request(self, method: str, path: str, body: bytes | None = None,
                 headers: dict[str, str] | None = None) -> Response:
        """One request: connected within the dial timeout, answered within the command
        timeout (or what is left of the question), both inside the run's deadline."""
        from healthprobes.probes.deadline import Deadline

        run = self.deadline
        self.active += 1
        try:
            if not self.connection.is_open:
                self.connection.deadline = Deadline(min(self.dial_timeout, run.remaining()))
                try:
                    self.connection.open()
                except ProbeError as error:
                    raise self._limit_error(error, self.dial_timeout, "--dial-timeout",
                                            "no connection") from None
            left = self.command_timeout
            if self._question_end is not None:
                left = max(0.0, self._question_end - time.monotonic())
            self.connection.deadline = Deadline(min(left, run.remaining()))
            try:
                return self.connection.request(method, path, body, headers)
            except ProbeError as error:
                raise self._limit_error(error, self.command_timeout, "--command-timeout",
                                        "no answer") from None
        finally:
            self.connection.deadline = run
            self.active -= 1

    def _limit_error(self, error: ProbeError, limit: float, option: str,
                     what: str) -> ProbeError:
        """A timeout that our own per-question limit caused says so (and how to change it);
        one at the run's deadline stays as it is."""
        if error.kind != ProbeError.TIMEOUT or self.deadline.remaining() <= 0.01:
            return error
        return ProbeError(self.target, f"{what} within {limit:g}s ({option})",
                          ProbeError.TIMEOUT)

    def patiently(self, question: Callable[[], T], for_now: Callable[[T], str]) -> T:
        """Ask, and ask again while the member says it cannot answer yet (``for_now``
        gives that reason of an answer, or "" for a real one; transient errors count too),
        until the command timeout is up, the run's deadline near, or waiting pointless."""
        if self._question_end is not None:  # inside a question already: it asks again
            answer = question()
            reason = for_now(answer)
            if reason:
                raise ProbeError(self.target, reason, ProbeError.PROTOCOL)
            return answer
        started = time.monotonic()
        self._question_end = started + min(self.command_timeout, self.deadline.remaining())
        pause = 0.1
        self.active += 1
        try:
            while True:
                failure: ProbeError | None = None
                answer: T | None = None
                try:
                    answer = question()
                    reason = for_now(answer)
                except ProbeError as error:
                    if error.kind != ProbeError.PROTOCOL or not _transient(error.message):
                        raise
                    failure, reason = error, error.message
                if not reason:
                    return answer  # type: ignore[return-value]
                self.transient = reason
                left = self._question_end - time.monotonic()
                # Another try needs the pause and a moment for the answer itself.
                if left < pause + 0.05 or not self.worth_waiting():
                    if failure is not None:
                        raise failure
                    return answer  # type: ignore[return-value]
                time.sleep(pause)
                pause = min(pause * 2, 0.4)
        finally:
            self._question_end = None
            self.active -= 1

    def close(self) -> None:
        self.connection.close()

    # --- health endpoints ---------------------------------------------------------

    def health(self, path: str = "/health", query: list[tuple[str, str]] | None = None
               ) -> HealthAnswer:
        """``/health`` (JSON), or ``/livez``/``/readyz`` (text, with ``?verbose``), asked
        again while the member is unhealthy only for now (an election)."""
        return self.patiently(lambda: self._health(path, query),
                              lambda answer: "" if answer.healthy or not _transient(
                                  answer.reason) else answer.reason)

    def _health(self, path: str, query: list[tuple[str, str]] | None) -> HealthAnswer:
        full = path + query_string(query or [])
        started = time.monotonic()
        response = self._request("GET", full)
        seconds = time.monotonic() - started
        if path == "/health" or path.startswith("/health?"):
            return self._health_json(full, response, seconds)
        return self._health_text(full, response, seconds)

    def _health_json(self, path: str, response: Response, seconds: float) -> HealthAnswer:
        self._refuse_redirect(response)
        try:
            document = loads(response.body)
        except JsonError:
            document = None
        if not isinstance(document, dict) or "health" not in document:
            raise ProbeError(self.target, f"not an etcd health answer (HTTP {response.status}"
                             f"{', ' + response.content_type if response.content_type else ''}"
                             f": {response.snippet()})", ProbeError.PROTOCOL)
        healthy = str(document.get("health")).lower() == "true" and response.status == 200
        reason = server_text(str(document.get("reason") or ""))
        return HealthAnswer(self.target, path, response.status, healthy, reason, seconds)

    def _health_text(self, path: str, response: Response, seconds: float) -> HealthAnswer:
        self._refuse_redirect(response)
        if response.status == 404:
            raise EndpointMissing(self.target, path.split("?")[0])
        text = response.body.decode("utf-8", "replace")
        checks = []
        for line in text.splitlines():
            line = line.strip()
            if line.startswith(("[+]", "[-]")):
                name, _, detail = line[3:].partition(" ")
                checks.append((name, line[1] == "+", detail.strip()))
        if response.status not in (200, 503, 500) or (
                not checks and text.strip() != "ok" and response.status == 200):
            raise ProbeError(self.target, f"not an etcd {path.split('?')[0]} answer (HTTP "
                             f"{response.status}: {response.snippet()})", ProbeError.PROTOCOL)
        failed = [f"{name} {detail}".strip() for name, passed, detail in checks if not passed]
        reason = server_text("; ".join(failed) if failed else (
            "" if response.status == 200 else text))
        return HealthAnswer(self.target, path, response.status, response.status == 200, reason,
                            seconds, checks)

    def _refuse_redirect(self, response: Response) -> None:
        if 300 <= response.status < 400:
            where = response.header_text("location", "nowhere said")
            raise ProbeError(self.target, f"redirected (HTTP {response.status}) to {where}; "
                             "etcd does not redirect: is this the etcd client URL?",
                             ProbeError.PROTOCOL)

    # --- the v3 JSON gateway --------------------------------------------------------

    def call(self, path: str, body: dict | None = None) -> dict:
        """POST to the gateway, authenticated when credentials were given.

        Authentication is up front, as etcdctl does it, so that a wrong password is
        reported even where the call itself would not need it.
        """
        return self.patiently(lambda: self._authenticated_call(path, body), lambda _: "")

    def _authenticated_call(self, path: str, body: dict | None) -> dict:
        if self.credentials is not None and self._token is None:
            self._token = self.credentials.token(self)
        try:
            return self._call(path, body)
        except EtcdApiError as error:
            if not error.needs_auth or self.credentials is None:
                if error.needs_auth:
                    raise ProbeError(self.target, f"etcd requires authentication "
                                     f"({error.api_message}): give --user and the password "
                                     "(--password-file or ETCDCTL_PASSWORD)",
                                     ProbeError.PROTOCOL) from None
                raise
            self._token = self.credentials.token(self, stale=self._token)
            return self._call(path, body)

    def _call(self, path: str, body: dict | None) -> dict:
        headers = {"Content-Type": "application/json"}
        if self._token:
            headers["Authorization"] = self._token  # raw token: "Bearer " only from 3.7.2
        response = self._request("POST", "/v3" + path, _json_body(body or {}), headers)
        self._refuse_redirect(response)
        try:
            document = loads(response.body)
        except JsonError as error:
            if response.status == 404:
                raise ProbeError(self.target, f"no etcd v3 gateway here (HTTP 404 for /v3{path}"
                                 "): is this an etcd 3.4+ client URL?",
                                 ProbeError.PROTOCOL) from None
            raise ProbeError(self.target, f"not an etcd gateway answer (HTTP "
                             f"{response.status}: {response.snippet()}; {error})",
                             ProbeError.PROTOCOL) from None
        if not isinstance(document, dict):
            raise ProbeError(self.target, f"not an etcd gateway answer (HTTP {response.status}"
                             f": {response.snippet()})", ProbeError.PROTOCOL)
        if response.status != 200 or ("error" in document and "header" not in document):
            message = server_text(str(document.get("message") or document.get("error") or
                                      f"HTTP {response.status}"))
            code = document.get("code")
            if response.status == 404 and not isinstance(code, int):
                raise ProbeError(self.target, f"no etcd v3 gateway here (HTTP 404 for /v3{path}"
                                 "): is this an etcd 3.4+ client URL?", ProbeError.PROTOCOL)
            raise EtcdApiError(self.target, response.status, code if isinstance(code, int)
                               else -1, message)
        return document

    def authenticate(self, user: str, password: str) -> str:
        try:
            document = self._call("/auth/authenticate", {"name": user, "password": password})
        except EtcdApiError as error:
            text = error.api_message.lower()
            if "authentication failed" in text or "invalid user" in text or error.code == 3:
                raise ProbeError(self.target, f"authentication failed for user {user!r} (wrong "
                                 "user or password)", ProbeError.PROTOCOL) from None
            if "not enabled" in text:
                raise ProbeError(self.target, "authentication is not enabled on this cluster; "
                                 "leave out --user", ProbeError.PROTOCOL) from None
            raise
        except ProbeError as error:
            if error.kind == ProbeError.TIMEOUT:
                raise ProbeError(self.target, "no answer to authentication in time (it goes "
                                 "through raft: has the cluster lost its quorum?)",
                                 ProbeError.TIMEOUT) from None
            raise
        token = document.get("token")
        if not isinstance(token, str) or not token:
            raise ProbeError(self.target, "authentication answered without a token",
                             ProbeError.PROTOCOL)
        return token

    def status(self) -> MemberStatus:
        """The member's status; asked again while it sees no leader (an election)."""
        from healthprobes.probes.etcd_answers import MemberStatus

        return self.patiently(
            lambda: MemberStatus(self.target, self.call("/maintenance/status")),
            lambda status: "" if status.leader or status.is_learner else "sees no leader")

    def alarms(self) -> list[Alarm]:
        from healthprobes.probes.etcd_answers import Alarm

        document = self.call("/maintenance/alarm", {"action": "GET"})
        return [Alarm(alarm) for alarm in document.get("alarms") or []]

    def members(self) -> list[Member]:
        from healthprobes.probes.etcd_answers import Member

        document = self.call("/cluster/member/list")
        return [Member(member) for member in document.get("members") or []]

    def metric(self, name: str) -> float | None:
        """One unlabelled sample from the member's ``/metrics`` (the quota, for status)."""
        response = self._request("GET", "/metrics")
        if response.status != 200:
            return None
        prefix = name.encode() + b" "
        for line in response.body.split(b"\n"):
            if line.startswith(prefix):
                try:
                    return float(line[len(prefix):].split()[0])
                except (ValueError, IndexError):
                    return None
        return None


class EndpointMissing(ProbeError):
    """The server has no such health endpoint: too old for /livez or /readyz."""

    def __init__(self, target: str, path: str) -> None:
        self.path = path
        super().__init__(target, f"this etcd has no {path} (it needs etcd 3.4.29+, 3.5.11+ or "
                         "3.6); use --endpoint-type health or a --preset, which fall back",
                         ProbeError.PROTOCOL)


def _transient(text: str) -> bool:
    """etcd_raft's judgement, imported only when a member has said something amiss."""
    from healthprobes.probes.etcd_raft import is_transient

    return is_transient(text)


def _json_body(body: dict) -> bytes:
    """The few request bodies etcd needs, without importing json's encoder."""
    parts = []
    for key, value in body.items():
        if isinstance(value, bool):
            encoded = "true" if value else "false"
        elif isinstance(value, str):
            encoded = _json_string(value)
        else:
            encoded = str(int(value))
        parts.append(f"{_json_string(key)}:{encoded}")
    return ("{" + ",".join(parts) + "}").encode("utf-8")
