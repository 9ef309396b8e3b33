"""The hand-written JSON pieces held against the json package they stand in for.

probes/json_answer.py ``loads`` (json's C scanner without importing json) reads etcd's
answers; checks/runtime/render.py ``_json_text`` writes ``--format json``. hypothesis
generates the values and texts; json is the oracle. Where the two differ on purpose,
the test says which side is right and why.
"""

import json
import math
import sys

import pytest
from healthprobes.checks.runtime.render import _json_text
from healthprobes.probes.json_answer import JsonError, loads
from hypothesis import given, settings
from hypothesis import strategies as st

from servers.http_standin import standin
from tests.conftest import run_command

QUICK = settings(max_examples=150, deadline=None)
MIB = 1 << 20

# --- generated values ------------------------------------------------------------------

# Characters json treats specially, next to everything else: controls (escaped), the
# two characters JavaScript does not allow raw (U+2028/9), lone surrogates (json writes
# and reads them as \\udxxx escapes), astral characters (a surrogate pair escape).
SPECIAL_CHARACTERS = ["\x00", "\x08", "\x1f", "\x7f", '"', "\\", "/", "\u2028", "\u2029",
                      "\ud800", "\udbff", "\udc00", "\udfff", "\U0001f600", "\U0010ffff",
                      "\ufeff", "\u00e9"]
characters = st.one_of(st.characters(exclude_categories=()),  # () keeps surrogates in
                       st.sampled_from(SPECIAL_CHARACTERS))
texts = st.text(characters, max_size=20)
# Beyond 64 bits both ways, and the largest/smallest doubles, subnormals, negative zero.
EDGE_INTEGERS = [0, -1, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**100,
                 -(10**300)]
EDGE_FLOATS = [0.0, -0.0, 1e308, -1e308, sys.float_info.max, 5e-324, -5e-324,
               sys.float_info.min, 1e-12, 0.1, 1 / 3, 1e16, 123456789.0]
integers = st.one_of(st.integers(), st.sampled_from(EDGE_INTEGERS))
finite_floats = st.one_of(st.floats(allow_nan=False, allow_infinity=False),
                          st.sampled_from(EDGE_FLOATS))
scalars = st.one_of(st.none(), st.booleans(), integers, finite_floats, texts)


def containers(children):
    return st.one_of(st.lists(children, max_size=6),
                     st.dictionaries(texts, children, max_size=6))


values = st.recursive(scalars, containers, max_leaves=40)
NON_FINITE = [math.nan, math.inf, -math.inf]
values_with_non_finite = st.recursive(
    st.one_of(scalars, st.sampled_from(NON_FINITE), st.floats()), containers, max_leaves=20)


def canonical(value):
    """A form in which 1, 1.0 and True differ, -0.0 differs from 0.0, and NaN == NaN."""
    if isinstance(value, bool) or value is None:
        return (type(value).__name__, value)
    if isinstance(value, float):
        return ("float", "nan" if math.isnan(value) else repr(value))
    if isinstance(value, (int, str)):
        return (type(value).__name__, value)
    if isinstance(value, dict):
        return ("dict", tuple((key, canonical(item)) for key, item in value.items()))
    return ("list", tuple(canonical(item) for item in value))


def json_outcome(text):
    """What json.loads makes of the text: ("value", canonical) or ("refused", error)."""
    try:
        return "value", canonical(json.loads(text))
    except (ValueError, RecursionError) as error:  # json refuses with these two only
        return "refused", error


def assert_reads_as_json_does(text):
    outcome, expected = json_outcome(text)
    if outcome == "value":
        assert canonical(loads(text)) == expected
    else:
        with pytest.raises(JsonError):  # our own type, never another exception
            loads(text)


# --- the reader: texts json accepts ---------------------------------------------------

@QUICK
@given(value=values, ensure_ascii=st.booleans(), indent=st.sampled_from([None, 0, 2, "\t"]))
def test_reader_reads_every_json_text_as_json_does(value, ensure_ascii, indent):
    text = json.dumps(value, ensure_ascii=ensure_ascii, indent=indent)
    expected = canonical(json.loads(text))
    assert canonical(loads(text)) == expected
    if ensure_ascii or not any("\ud800" <= char <= "\udfff" for char in text):
        data = text.encode("utf-8")  # raw lone surrogates have no UTF-8 form: see below
        for body in (data, bytearray(data), memoryview(data)):
            assert canonical(loads(body)) == expected


@QUICK
@given(pairs=st.lists(st.tuples(st.sampled_from(["a", "b", "a\u0000", "\U0001f600"]),
                                st.one_of(scalars, st.lists(scalars, max_size=3))),
                      max_size=6))
def test_duplicate_keys_keep_the_last_value_as_json_does(pairs):
    # RFC 8259 section 4 leaves duplicate names to the reader; json keeps the last.
    text = "{" + ",".join(f"{json.dumps(key)}: {json.dumps(item)}" for key, item in pairs) + "}"
    assert canonical(loads(text)) == canonical(json.loads(text))


@QUICK
@given(st.from_regex(r"\A-?(0|[1-9][0-9]{0,400})(\.[0-9]{1,30})?([eE][+-]?[0-9]{1,4})?\Z"))
def test_numbers_of_the_json_grammar(text):
    """Every number JSON's grammar allows, ints of hundreds of digits and exponents
    that overflow (1e400: json reads infinity, as float() does) or underflow to 0."""
    assert canonical(loads(text)) == canonical(json.loads(text))


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "[NaN, -Infinity, 1]"])
def test_nan_and_infinity_literals_read_as_json_reads_them(text):
    """Not JSON (RFC 8259 section 6 leaves them out), yet json reads them as floats
    by default, and so does ours: the reader is held to json, and no etcd answer
    carries them, so accepting them cannot misread an answer."""
    assert canonical(loads(text)) == canonical(json.loads(text))


@pytest.mark.parametrize("depth", [1, 64, 500])
def test_deep_nesting_json_reads(depth):
    half = depth // 2
    text = "[" * half + '{"k": ' * half + "1.5" + "}" * half + "]" * half
    assert loads(text) == json.loads(text)  # plain ==: canonical() would recurse too deep


def test_wide_containers_and_empty_ones():
    wide_list = json.dumps(list(range(100_000)))
    wide_object = json.dumps({f"k{index}": [index, {}, []] for index in range(20_000)})
    for text in (wide_list, wide_object, "[]", "{}", '""', "[[], {}, [{}]]", " \t\r\n[] \n"):
        assert canonical(loads(text)) == canonical(json.loads(text))


# --- the reader: texts json refuses, and texts that may be either ---------------------

NEAR_JSON_TOKENS = ['{', '}', '[', ']', ',', ':', '"', "'", '\\', '\\u', 'd800', 'DC00',
                    '\\ud83d\\ude00', '\\n', '\\x', 'true', 'tru', 'True', 'false', 'null',
                    'nul', 'None', 'undefined', 'NaN', 'nan', 'Infinity', '-Infinity',
                    '-', '+', '0', '01', '1', '.', 'e', 'E', '9' * 25, '1e400', ' ', '\t',
                    '\n', '\r', '\x00', '\x0b', '\x1f', '\ufeff', '\u00e9', '\U0001f600',
                    '//', '/*', '*/', 'a', '"k"']


@QUICK
@given(st.lists(st.sampled_from(NEAR_JSON_TOKENS), max_size=12).map("".join))
def test_near_json_token_soup(text):
    """Bare words, single quotes, bad escapes, raw controls in strings, leading zeros:
    whatever json decides, ours decides the same, refusing only with JsonError."""
    assert_reads_as_json_does(text)
    if not any("\ud800" <= char <= "\udfff" for char in text):
        body = text.encode("utf-8")
        # json guesses UTF-16/32 from NUL bytes up front: see the encodings below.
        if json.detect_encoding(body).startswith("utf-8"):
            assert_reads_as_json_does(body)


@st.composite
def damaged_json(draw):
    text = json.dumps(draw(values), ensure_ascii=draw(st.booleans()))
    cut = draw(st.integers(0, len(text)))
    how = draw(st.sampled_from(["truncate", "trailing", "insert", "drop", "single quotes"]))
    if how == "truncate":
        return text[:cut]
    if how == "trailing":
        return text + draw(st.sampled_from([" x", "}", "]", ",", " 1", "\x00", "//",
                                            " null", "{}"]))
    if how == "insert":
        return text[:cut] + draw(st.sampled_from(NEAR_JSON_TOKENS)) + text[cut:]
    if how == "drop":
        return text[:cut] + text[cut + 1:]
    return text.replace('"', "'")


@QUICK
@given(damaged_json())
def test_damaged_json(text):
    """Truncated, with trailing garbage, with a character more or less, in single
    quotes: what json accepts ours reads alike, what it refuses ours refuses."""
    assert_reads_as_json_does(text)


@pytest.mark.parametrize("text", ["", " ", "[", '{"a":', '{"a" 1}', "[1,]", '{"a":1,}',
                                  "'a'", '"\\x41"', '"\\ud8"', '"tab\there"', "01", "1.",
                                  ".5", "+1", "1e", "-", "tru", "nul", "[1] [2]", "1 2",
                                  "{'a': 1}", '"unterminated', "\ufeff{}"])
def test_refusals_are_json_errors(text):
    """Each refused by json (raw control characters in strings too: json is strict by
    default, as RFC 8259 section 7 requires); ours refuses each with its own error."""
    assert json_outcome(text)[0] == "refused"
    with pytest.raises(JsonError):
        loads(text)


def test_nesting_too_deep_for_the_stack():
    """json runs out of stack (RecursionError, not even a ValueError); ours refuses
    with JsonError, so the etcd probe reports "not an etcd answer" for a hostile
    body instead of an internal error."""
    text = "[" * 100_000 + "]" * 100_000
    with pytest.raises(RecursionError):
        json.loads(text)
    with pytest.raises(JsonError):
        loads(text)


def test_integers_longer_than_python_converts():
    """Python refuses to convert ints of more than sys.get_int_max_str_digits() digits
    (a denial-of-service guard): json refuses such a text, and so does ours."""
    limit = sys.get_int_max_str_digits()
    longest = "9" * limit
    assert canonical(loads(longest)) == canonical(json.loads(longest))
    assert json_outcome(longest + "9")[0] == "refused"
    with pytest.raises(JsonError):
        loads(longest + "9")


# --- the reader: bytes and their encodings ---------------------------------------------

def test_a_utf8_byte_order_mark_is_skipped_as_json_skips_it():
    """RFC 8259 section 8.1 lets a reader ignore the mark; json does, for bytes (and
    refuses a str that starts with U+FEFF: see the refusals above)."""
    body = b'\xef\xbb\xbf{"health":"true"}'
    assert loads(body) == json.loads(body) == {"health": "true"}
    assert loads(bytearray(body)) == {"health": "true"}


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32", "utf-32-be"])
def test_utf16_and_utf32_bodies_json_guesses_ours_refuses(encoding):
    """json.loads guesses UTF-16/32 from the NUL bytes up front (RFC 4627's rule).
    Ours reads UTF-8 only, where such a body is invalid or a text with NULs in it, and
    refuses it: right for an HTTP answer, since RFC 8259 section 8.1 says JSON
    exchanged between systems MUST be UTF-8 (and etcd writes UTF-8)."""
    body = '{"health": "true"}'.encode(encoding)
    assert json.loads(body) == {"health": "true"}
    with pytest.raises(JsonError):
        loads(body)


def test_surrogates_encoded_in_utf8_json_accepts_ours_refuses():
    """json decodes bytes with 'surrogatepass', so ED A0 80 reads as a lone surrogate.
    Those bytes are not UTF-8 (RFC 3629 section 3 forbids encoding U+D800..U+DFFF),
    so refusing them is right; a lone surrogate written as the escape \\ud800 is
    valid JSON and both read it."""
    body = b'"\xed\xa0\x80"'
    assert json.loads(body) == "\ud800"
    with pytest.raises(JsonError, match="not UTF-8"):
        loads(body)
    assert loads(b'"\\ud800"') == json.loads(b'"\\ud800"') == "\ud800"


def test_invalid_utf8_is_refused_by_both():
    for body in (b'"\xff"', b'"\xc3"', b'{"a": "\xe9t\xe9"}'):
        assert json_outcome(body)[0] == "refused"
        with pytest.raises(JsonError):
            loads(body)


# --- the reader: large bodies as the HTTP client hands them over ----------------------

def etcd_like_answer(size: int) -> bytes:
    """A gateway-style answer of at least ``size`` bytes: a member list of many members
    with non-ASCII names and escapes, as json writes it."""
    member = {"ID": "10276657743932975437", "name": "m\u00e9mbre \"quoted\" \U0001f600",
              "peerURLs": ["https://10.0.0.1:2380"], "clientURLs": ["https://10.0.0.1:2379"],
              "isLearner": False}
    one = len(json.dumps(member).encode())
    count = size // one + 1
    return json.dumps({"header": {"cluster_id": "14841639068965178418", "revision": "9"},
                       "members": [dict(member, ID=str(index)) for index in range(count)]}
                      ).encode()


@pytest.mark.parametrize("mebibytes", [1, 3, 8])
def test_large_bodies_of_every_type_the_http_client_returns(mebibytes):
    """bytes, bytearray (a body over 1 MiB is read into one buffer) and memoryview."""
    body = etcd_like_answer(mebibytes * MIB)
    expected = json.loads(body)  # no NaN inside: plain == compares types and values
    for typed in (body, bytearray(body), memoryview(body)):
        assert loads(typed) == expected


def test_the_http_client_bodies_read_through_loads():
    """Through the real HTTP client: an answer with a Content-Length over 1 MiB (it came
    back as a bytearray once, and was an internal error), a chunked one and a small one
    all come back as bytes, and read."""
    from healthprobes.probes.deadline import Deadline
    from healthprobes.probes.http import Connection, parse_url

    big, small = etcd_like_answer(3 * MIB), etcd_like_answer(64 * 1024)

    def chunked(path, query):
        # The stand-in writes each piece as a chunk; the empty last one ends the body.
        pieces = [big[start:start + 65536] for start in range(0, len(big), 65536)]
        return 200, {"Content-Type": "application/json"}, iter([*pieces, b""])

    routes = {"/big": lambda path, query: (200, {"Content-Type": "application/json"}, big),
              "/small": lambda path, query: (200, {"Content-Type": "application/json"}, small),
              "/chunked": chunked}
    with standin(routes) as (base, _):
        connection = Connection(parse_url(base), Deadline(10), max_body=8 * MIB)
        try:
            types = {}
            for path, sent in (("/big", big), ("/small", small), ("/chunked", big)):
                response = connection.request("GET", path)
                types[path] = type(response.body)
                assert loads(response.body) == json.loads(sent)
        finally:
            connection.close()
    assert types == {"/big": bytes, "/small": bytes, "/chunked": bytes}


def test_check_etcd_reads_a_member_list_of_several_mebibytes():
    """Stand-in: no etcd installable here lists enough members to answer 2.5 MiB.
    This answer used to end in "internal error: TypeError" (the bytearray)."""
    members = [{"ID": str(1000 + index), "name": f"member-{index}-" + "x" * 200,
                "peerURLs": [f"http://10.0.{index // 250}.{index % 250}:2380"],
                "clientURLs": [f"http://10.0.{index // 250}.{index % 250}:2379"]}
               for index in range(8000)]
    body = json.dumps({"header": {"cluster_id": "1", "member_id": "1000", "revision": "1",
                                  "raft_term": "2"}, "members": members}).encode()
    assert MIB < len(body) < 4 * MIB  # over the one-buffer threshold, under the limit
    routes = {"/v3/cluster/member/list": lambda path, query: (
        200, {"Content-Type": "application/json"}, body)}
    with standin(routes) as (url, _):
        run = run_command("check_etcd", "members", "--endpoints", url)
    assert "internal error" not in run.out, run.out
    assert run.code == 1 and "8000 voting members, an even number" in run.first_line, run.out


# --- the writer -------------------------------------------------------------------------

def without_non_finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: without_non_finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [without_non_finite(item) for item in value]
    return value


@QUICK
@given(value=values)
def test_writer_writes_byte_for_byte_what_json_writes(value):
    assert _json_text(value) == json.dumps(value)
    assert canonical(loads(_json_text(value))) == canonical(value)  # and reads back


@QUICK
@given(value=st.recursive(scalars, lambda children: st.lists(children, max_size=4).map(tuple),
                          max_leaves=10))
def test_tuples_are_written_as_json_writes_them_as_arrays(value):
    assert _json_text(value) == json.dumps(value)


@QUICK
@given(value=values_with_non_finite)
def test_non_finite_numbers_are_written_as_null(value):
    """json.dumps writes NaN, Infinity and -Infinity, which are not JSON (RFC 8259
    section 6; json itself refuses them with allow_nan=False), so a strict reader of
    the check's output would fail on them. Ours writes null, as render_json writes a
    missing number: the output stays JSON, and is otherwise json's byte for byte."""
    assert _json_text(value) == json.dumps(without_non_finite(value))
    json.loads(_json_text(value), parse_constant=lambda name: pytest.fail(name))


@pytest.mark.parametrize("value", NON_FINITE)
def test_json_itself_calls_non_finite_numbers_invalid(value):
    with pytest.raises(ValueError):
        json.dumps(value, allow_nan=False)
    assert json.dumps(value) in ("NaN", "Infinity", "-Infinity")
    assert _json_text([value]) == "[null]"


def test_int_and_float_subclasses_are_written_as_numbers():
    """As json (int.__repr__/float.__repr__): an IntEnum state or a float subclass is
    its number, not its repr."""
    import enum

    class State(enum.IntEnum):
        WARNING = 1

    class Seconds(float):
        def __repr__(self):
            return "Seconds()"

    value = {"state": State.WARNING, "took": Seconds(0.25), "flag": True}
    assert _json_text(value) == json.dumps(value) == '{"state": 1, "took": 0.25, "flag": true}'


def test_integers_longer_than_python_converts_fail_in_both_writers():
    too_long = 10 ** sys.get_int_max_str_digits()
    with pytest.raises(ValueError):
        json.dumps(too_long)
    with pytest.raises(ValueError):
        _json_text(too_long)
