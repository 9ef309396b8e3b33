"""Which ?target= a module's patterns allow: matched whole, never across a label,
port or path segment, and never for an address that carries a user part, dot
segments, escapes or a second endpoint."""

import pytest
from healthprobes.checks.serve.modules import replace_option
from healthprobes.checks.serve.targets import TargetRefused, check_target, pattern_problem

ETCD = ["https://10.0.0.*:2379"]


@pytest.mark.parametrize("target", ["https://10.0.0.1:2379", "https://10.0.0.254:2379"])
def test_allowed(target):
    check_target(target, "endpoints", ETCD)


@pytest.mark.parametrize("target", [
    "https://10.0.0.1:2379@evil.example", "https://10.0.0.1:2379/../x",
    "https://10.0.0.1:2379/", "https://10.0.0.evil:2379", "https://10.0.0.evil.example:2379",
    "https://10.0.0.1:2379,https://evil.example:2379", "https://10.0.0.1:23790",
    "http://10.0.0.1:2379", "https://10.0.0.1:2379#x", "https://10.0.0.1:2379?x=1",
    "https://10.0.0.1:2379/%2e%2e/x", "https://user@10.0.0.1:2379", " https://10.0.0.1:2379",
    "https://10.0.0.1:2379\r\nX: y", "https://10.0.0.1.evil.example:2379", "",
])
def test_refused(target):
    with pytest.raises(TargetRefused):
        check_target(target, "endpoints", ETCD)


def test_paths_and_names():
    check_target("http://node-1.example:9100/metrics", "url", ["http://*.example:9100/metrics"])
    for target in ("http://a.b.example:9100/metrics", "http://x.example:9100/metrics/../y",
                   "http://x.example:9100/other"):
        with pytest.raises(TargetRefused):
            check_target(target, "url", ["http://*.example:9100/metrics"])
    check_target("10.1.2.3:50051", "addr", ["10.1.2.*:50051"])
    for target in ("10.1.2.3:50051/x", "unix:///tmp/s", "10.1.2.x:50051", "10.1.2.3:5005"):
        with pytest.raises(TargetRefused):
            check_target(target, "addr", ["10.1.2.*:50051"])
    with pytest.raises(TargetRefused, match="takes no target"):
        check_target("10.1.2.3:50051", "addr", [])


def test_pattern_problems():
    assert pattern_problem("https://10.0.0.*:2379") == ""
    assert pattern_problem("https://**") and pattern_problem("a b") and pattern_problem("a@b")


def test_the_target_option_is_replaced_in_every_spelling():
    spellings = {"--addr", "-addr"}
    assert replace_option(["--addr", "a:1", "-addr=b:2", "--service", "x"], spellings,
                          "t:3") == ["--service", "x", "--addr", "t:3"]
    assert replace_option(["health", "--endpoints", "a", "--", "z"], {"--endpoints"},
                          "t") == ["health", "--endpoints", "t", "--", "z"]


@pytest.mark.parametrize("dot", ["\u3002", "\uff0e", "\uff61"])
@pytest.mark.parametrize("kind, pattern, target", [
    ("endpoints", "http://etcd-*:2379", "http://etcd-a{dot}evil{dot}example:2379"),
    ("url", "http://metrics-*:9100/metrics", "http://metrics-a{dot}evil{dot}example:9100/metrics"),
    ("addr", "grpc-*:50051", "grpc-a{dot}evil{dot}example:50051"),
])
def test_dots_idna_would_make_are_refused(kind, pattern, target, dot):
    """IDNA maps these full stops to '.': the client would dial another host than the
    pattern matched. The host the URL parser sees is that other host indeed."""
    from healthprobes.probes.http import parse_url

    bent = target.format(dot=dot)
    if kind != "addr":
        assert parse_url(bent).host.endswith("evil.example")
    with pytest.raises(TargetRefused, match="ASCII"):
        check_target(bent, kind, [pattern])


def test_patterns_are_ascii():
    assert "ASCII" in pattern_problem("http://etcd-\u00e9*:2379")
    assert pattern_problem("http://xn--etcd-9ua*:2379") == ""
