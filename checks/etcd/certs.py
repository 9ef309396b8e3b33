"""check_etcd certs: a node's etcd certificates judged from the files, connecting nowhere.

kubeadm's layout (``/etc/kubernetes/pki/etcd``): ``ca``, ``server``, ``peer`` and
``healthcheck-client``, each a ``.crt`` and a ``.key``; the API server's client
certificate ``/etc/kubernetes/pki/apiserver-etcd-client.crt`` when given. For each
certificate: days left, not valid yet, its key matches it and is not readable by group
or others, it chains to the CA; the server and peer certificates name the member's
advertised addresses. kubeadm issues the leaves for one year and the CA for ten, hence
the defaults: leaves warn below 30 days and are critical below 7, the CA warns below
365 and is critical below 90.
"""

from __future__ import annotations

import os

from healthprobes.checks.etcd.connection import CONNECTION
from healthprobes.checks.runtime.expiry import expiry_options, judge, parse_days, soonest_text
from healthprobes.checks.runtime.options import APPEND, Command, Group, Option, UsageError
from healthprobes.checks.runtime.ranges import misordered
from healthprobes.checks.runtime.results import Findings, problem_lines
from healthprobes.checks.runtime.states import CRITICAL, OK, UNKNOWN, WARNING
from healthprobes.probes.errors import ProbeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cryptography.x509 import Certificate as X509
    from healthprobes.checks.runtime.options import Values
    from healthprobes.checks.runtime.results import Report
    from healthprobes.probes.deadline import Deadline

KUBEADM_FILES = ("server", "peer", "healthcheck-client")  # beside ca, in --pki-dir
SERVER_ROLES = {"server": "--advertise-client-urls", "peer": "--initial-advertise-peer-urls"}

EPILOG = """\
thresholds:
  Plain days mean "fewer days left than this alerts"; Nagios ranges are read as ranges.
  A certificate that has expired or is not valid yet is CRITICAL whatever the thresholds.
  CA certificates (basicConstraints CA:TRUE, bundled intermediates too) are held
  to the CA thresholds, the others to the leaf thresholds.

examples:
  check_etcd certs --pki-dir /etc/kubernetes/pki/etcd \\
      --apiserver-client-cert /etc/kubernetes/pki/apiserver-etcd-client.crt \\
      --manifest /etc/kubernetes/manifests/etcd.yaml
  check_etcd certs --cert-file /etc/etcd/server.pem --ca-file /etc/etcd/ca.pem \\
      --expect-san 10.0.0.1 --cert-expiry-warning 45
"""


def command() -> Command:
    files = Group("certificate files (read only; nothing is contacted)", [
        Option("--pki-dir", metavar="DIR",
               help="kubeadm's etcd PKI folder: ca, server, peer, healthcheck-client "
                    ".crt and .key (e.g. /etc/kubernetes/pki/etcd)"),
        Option("--apiserver-client-cert", metavar="FILE",
               help="the API server's etcd client certificate, its key beside it as .key "
                    "(kubeadm: /etc/kubernetes/pki/apiserver-etcd-client.crt)"),
        Option("--cert-file", action=APPEND, metavar="FILE",
               help="any other certificate (PEM, leaf first, intermediates after it); its "
                    "key is checked when FILE with .key for .crt/.pem exists; repeatable"),
        Option("--ca-file", metavar="FILE",
               help="the CA every certificate must chain to (default: ca.crt in --pki-dir)"),
        Option("--expect-san", action=APPEND, metavar="NAME",
               help="a DNS name or IP address the server and peer certificates must name; "
                    "repeatable"),
        Option("--manifest", metavar="FILE",
               help="etcd's static pod manifest: the server certificate must name the hosts "
                    "of --advertise-client-urls, the peer certificate those of "
                    "--initial-advertise-peer-urls (kubeadm: "
                    "/etc/kubernetes/manifests/etcd.yaml)"),
    ])
    thresholds = Group("expiry thresholds (days left)", [
        *expiry_options("30", "7", what="leaf certificate"),
        Option("--ca-expiry-warning", convert=parse_days, metavar="DAYS",
               default=parse_days("365"),
               help="WARNING when a CA certificate has fewer days left than this (default: "
                    "365)"),
        Option("--ca-expiry-critical", convert=parse_days, metavar="DAYS",
               default=parse_days("90"),
               help="CRITICAL when a CA certificate has fewer days left than this (default: "
                    "90)"),
    ])
    return Command("certs", "", [files, thresholds], leave_out=[CONNECTION],
                   description="Judge etcd's certificate files on this node without "
                               "connecting anywhere: days left, keys, chain to the CA, the "
                               "member's addresses in the server and peer certificates.",
                   epilog=EPILOG)


CONNECTS = False  # reads files only: check_etcd takes no connection options for it


def target(args: Values) -> str:
    return args.pki_dir or ",".join([*args.cert_file, args.apiserver_client_cert or ""]).strip(",")


def validate(args: Values) -> None:
    if not (args.pki_dir or args.cert_file or args.apiserver_client_cert):
        raise UsageError("give --pki-dir, --cert-file or --apiserver-client-cert")
    for warning, critical in ((args.cert_expiry_warning, args.cert_expiry_critical),
                              (args.ca_expiry_warning, args.ca_expiry_critical)):
        problem = misordered(warning, critical)
        if problem:
            raise UsageError(problem)
    if (args.expect_san or args.manifest) and not args.pki_dir:
        raise UsageError("--expect-san and --manifest judge the server and peer certificates "
                         "of --pki-dir: give --pki-dir")


class _Entry:
    """One certificate file to judge: its label, where it and its key are."""

    __slots__ = ("cert_path", "key_path", "key_required", "label")

    def __init__(self, label: str, cert_path: str, key_path: str | None,
                 key_required: bool) -> None:
        self.label, self.cert_path, self.key_path = label, cert_path, key_path
        self.key_required = key_required


def _key_beside(path: str) -> str | None:
    stem, extension = os.path.splitext(path)
    if extension in (".crt", ".pem", ".cer"):
        candidate = stem + ".key"
        if os.path.exists(candidate):
            return candidate
    return None


def _label(path: str, taken: set[str]) -> str:
    base = os.path.splitext(os.path.basename(path))[0] or "cert"
    label, number = base, 2
    while label in taken:
        label, number = f"{base}_{number}", number + 1
    taken.add(label)
    return label


def _entries(args: Values) -> tuple[_Entry | None, list[_Entry]]:
    """The CA (or None) and the other certificates to judge, in a stable order."""
    taken: set[str] = set()
    ca = None
    ca_path = args.ca_file or (os.path.join(args.pki_dir, "ca.crt") if args.pki_dir else None)
    if ca_path:
        ca_key = os.path.splitext(ca_path)[0] + ".key"
        # A CA key kept off the node is good practice: check it only where it is.
        ca = _Entry(_label(ca_path, taken), ca_path,
                    ca_key if os.path.exists(ca_key) else None, False)
    entries = []
    if args.pki_dir:
        for name in KUBEADM_FILES:
            taken.add(name)
            entries.append(_Entry(name, os.path.join(args.pki_dir, f"{name}.crt"),
                                  os.path.join(args.pki_dir, f"{name}.key"), True))
    if args.apiserver_client_cert:
        entries.append(_Entry(_label(args.apiserver_client_cert, taken),
                              args.apiserver_client_cert,
                              os.path.splitext(args.apiserver_client_cert)[0] + ".key", True))
    for path in args.cert_file:
        entries.append(_Entry(_label(path, taken), path, _key_beside(path), False))
    return ca, entries


def _advertised_hosts(manifest: str) -> dict[str, list[str]]:
    """{"server": hosts, "peer": hosts} from a static pod manifest's etcd command."""
    from urllib.parse import urlsplit

    import yaml

    try:
        with open(manifest, encoding="utf-8") as handle:
            document = yaml.safe_load(handle)
    except OSError as error:
        raise ProbeError("", f"cannot read manifest {manifest}: {error.strerror}",
                         ProbeError.CONFIG) from None
    except yaml.YAMLError:
        raise ProbeError("", f"manifest {manifest} is not YAML", ProbeError.CONFIG) from None
    words: list[str] = []
    containers = ((document or {}).get("spec") or {}).get("containers") or []
    for container in containers:
        words += [str(word) for word in (container.get("command") or [])]
        words += [str(word) for word in (container.get("args") or [])]
    hosts: dict[str, list[str]] = {}
    for role, flag in SERVER_ROLES.items():
        for index, word in enumerate(words):
            name, equals, value = word.partition("=")
            if name != flag:
                continue
            if not equals:
                value = words[index + 1] if index + 1 < len(words) else ""
            for url in value.split(","):
                host = urlsplit(url.strip()).hostname
                if host and host not in hosts.setdefault(role, []):
                    hosts[role].append(host)
    if not hosts:
        raise ProbeError("", f"manifest {manifest} has no {' or '.join(SERVER_ROLES.values())}",
                         ProbeError.CONFIG)
    return hosts


def _check_key(findings: Findings, entry: _Entry, leaf: X509) -> None:
    from healthprobes.probes.certificates import exposed_mode, key_matches

    key = entry.key_path
    if key is None:
        return
    if not os.path.exists(key):
        if entry.key_required:
            findings.add(CRITICAL, f"{entry.label} key {key} is missing",
                         name=f"key_{entry.label}")
        return
    mode = exposed_mode(key)
    if mode:
        who = " and ".join(part for bit, part in ((0o040, "its group"), (0o004, "everyone"))
                           if mode & bit)
        findings.add(WARNING, f"{entry.label} key {key} is readable by {who} (mode "
                              f"{os.stat(key).st_mode & 0o777:04o}; chmod 600 it)",
                     name=f"key_mode_{entry.label}")
    try:
        matches = key_matches(leaf, key)
    except ProbeError as error:
        findings.add(UNKNOWN, f"{entry.label}: {error.message}", name=f"key_{entry.label}")
        return
    if not matches:
        findings.add(CRITICAL, f"{entry.label} key {key} does not match its certificate "
                               f"{entry.cert_path}", name=f"key_{entry.label}")


def _check_names(findings: Findings, label: str, leaf: X509, expected: list[str]) -> None:
    from healthprobes.probes.certificates import names_missing, subject_names

    names = subject_names(leaf)
    missing = names_missing(names, expected)
    if missing:
        findings.add(CRITICAL, f"{label} certificate does not name {', '.join(missing)} "
                               f"(it names {', '.join(names) or 'nothing'})",
                     name=f"names_{label}")
    else:
        findings.add(OK, f"{label} certificate names {', '.join(expected)}",
                     name=f"names_{label}")


def run(args: Values, deadline: Deadline) -> Report:
    import datetime

    from healthprobes.probes.certificates import chain_problem, facts, read_pem

    now = datetime.datetime.now(datetime.UTC)
    findings = Findings()
    ca, entries = _entries(args)
    target = args.pki_dir or ",".join(entry.cert_path for entry in entries)
    expected = {role: list(args.expect_san) for role in SERVER_ROLES}
    if args.manifest:
        for role, hosts in _advertised_hosts(args.manifest).items():
            expected[role] += [host for host in hosts if host not in expected[role]]
    judged: list[tuple[str, object]] = []
    anchors: list[X509] = []
    for entry in ([ca] if ca else []) + entries:
        if not os.path.exists(entry.cert_path):
            findings.add(CRITICAL, f"{entry.label} certificate {entry.cert_path} is missing",
                         name=f"cert_{entry.label}")
            continue
        try:
            chain = read_pem(entry.cert_path)
        except ProbeError as error:
            findings.add(UNKNOWN, error.message, name=f"cert_{entry.label}")
            continue
        for position, certificate in enumerate(chain):
            label = entry.label if position == 0 else f"{entry.label}_chain{position}"
            judged.append((label, facts(certificate, entry.cert_path, position)))
        _check_key(findings, entry, chain[0])
        if entry is ca:
            anchors = chain
            continue
        if anchors:
            problem = chain_problem(chain, anchors)
            if problem:
                findings.add(CRITICAL, f"{entry.label} certificate does not chain to the CA "
                                       f"{ca.cert_path}: {problem}", name=f"chain_{entry.label}")
        if args.pki_dir and entry.label in expected and expected[entry.label]:
            _check_names(findings, entry.label, chain[0], expected[entry.label])
    details = judge(findings, judged, now, args.cert_expiry_warning, args.cert_expiry_critical,
                    args.ca_expiry_warning, args.ca_expiry_critical)
    ok = f"{len(judged)} certificates valid"
    if anchors:
        ok += ", chained to the CA"
    soonest = soonest_text(judged, now)
    if soonest:
        ok += f"; {soonest}"
    return findings.report("etcd_certs", target, ok,
                           problem_lines(findings.results, args.verbose) + details)
