"""What the v3 JSON gateway's answers mean, as plain objects (nothing here judges).

Loaded only by the checks that ask the gateway: a health check needs none of it.
64-bit numbers arrive as JSON strings and fields with zero values are left out (no
``leader`` key means no leader, no ``alarms`` key means none): docs/etcd.md.
"""

ALARM_TYPES = {0: "NONE", 1: "NOSPACE", 2: "CORRUPT"}


def member_id(value: object) -> str:
    """etcd prints member IDs in hex (etcdctl, logs); the gateway sends decimal strings."""
    try:
        return format(int(str(value)), "x")
    except ValueError:
        return str(value)


def _hex_member_ids(text: str) -> str:
    """``memberID:10501334649042878790 alarm:NOSPACE`` (status errors spell the ID in
    decimal) with the ID in hex, as the alarm list and etcdctl show it."""
    marker = "memberID:"
    start = text.find(marker)
    if start < 0:
        return text
    digits_start = start + len(marker)
    end = digits_start
    while end < len(text) and text[end].isdigit():
        end += 1
    if end == digits_start:
        return text
    return text[:digits_start] + member_id(text[digits_start:end]) + _hex_member_ids(text[end:])


def _int(document: dict, key: str) -> int:
    try:
        return int(document.get(key) or 0)
    except (TypeError, ValueError):
        return 0


class MemberStatus:
    """``/v3/maintenance/status`` of one member."""

    def __init__(self, endpoint: str, document: dict) -> None:
        header = document.get("header") or {}
        self.endpoint = endpoint
        self.member_id = member_id(header.get("member_id", 0))
        self.cluster_id = member_id(header.get("cluster_id", 0))
        self.revision = _int(header, "revision")
        self.version = str(document.get("version") or "")
        self.db_size = _int(document, "dbSize")
        self.db_size_in_use = _int(document, "dbSizeInUse") or None  # 3.4+
        self.db_size_quota = _int(document, "dbSizeQuota") or None  # 3.6+
        leader = _int(document, "leader")
        self.leader = member_id(leader) if leader else None
        self.raft_index = _int(document, "raftIndex")
        self.raft_term = _int(document, "raftTerm")
        self.raft_applied_index = _int(document, "raftAppliedIndex")
        self.errors = [_hex_member_ids(str(error)) for error in document.get("errors") or []]
        self.is_learner = bool(document.get("isLearner"))

    @property
    def is_leader(self) -> bool:
        return self.leader is not None and self.leader == self.member_id

    @property
    def apply_lag(self) -> int:
        return max(0, self.raft_index - self.raft_applied_index)


class Member:
    """One entry of the member list."""

    def __init__(self, document: dict) -> None:
        self.id = member_id(document.get("ID", 0))
        self.name = str(document.get("name") or "")
        self.peer_urls = [str(url) for url in document.get("peerURLs") or []]
        self.client_urls = [str(url) for url in document.get("clientURLs") or []]
        self.is_learner = bool(document.get("isLearner"))

    @property
    def started(self) -> bool:
        """A member added but never started has no name and no client URLs yet."""
        return bool(self.name or self.client_urls)

    @property
    def label(self) -> str:
        return self.name or (self.peer_urls[0] if self.peer_urls else self.id)


class Alarm:
    def __init__(self, document: dict) -> None:
        self.member_id = member_id(document.get("memberID", 0))
        alarm = document.get("alarm", "NONE")
        self.alarm = ALARM_TYPES.get(alarm, str(alarm)) if isinstance(alarm, int) else str(alarm)
