"""etcd's words for a moment without a working leader, and what they mean.

During an election, live members answer ``/health`` with 503 and a reason such as
``RAFT NO LEADER`` or ``RANGE ERROR:etcdserver: leader changed``, and gateway calls fail
with ``etcdserver: no leader``, ``etcdserver: leader changed``, ``etcdserver: request
timed out`` or ``... possibly due to previous leader failure``. These pass once a new
leader stands (one to two election timeouts with etcd's defaults): asking again a moment
later is right, counting the member as down is not (docs/etcd.md, elections).
"""

# Lower-case fragments of the reasons and error messages etcd gives while raft has no
# leader it can reach, or cannot confirm its leadership in time.
TRANSIENT = (
    "no leader",  # RAFT NO LEADER, etcdserver: no leader
    "leader changed",
    "timed out waiting for read index",
    "request timed out",  # etcdserver: request timed out[, possibly due to ...]
    "previous leader failure",
    "raft proposal dropped",
    "not capable",  # etcdserver: not capable, while a new leader settles the cluster version
)


def is_transient(text: str) -> bool:
    """Whether etcd said it cannot answer only for now (an election, a lost leader)."""
    lowered = text.lower()
    return any(fragment in lowered for fragment in TRANSIENT)


def is_leaderless(text: str) -> bool:
    """Whether the words say the member sees no leader at all (rather than a slow one)."""
    lowered = text.lower()
    return "no leader" in lowered or "leader changed" in lowered
