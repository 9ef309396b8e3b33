"""The hand-written HTTP client held against requests, over a corpus of raw answers.

Each answer below is sent byte for byte by servers/raw_http.py and fetched by both
requests and probes/http.py. Three verdicts:

- SAME: requests accepts it, and both clients must agree on the status, the headers
  and the (decoded) body; on a kept-alive connection both must reuse it.
- REFUSE: ours refuses, as one line of the PROTOCOL kind, and ``why`` says why that
  is right (mostly: requests/urllib3/http.client are lenient where RFC 9112 draws a
  line, and a lenient reader is one a hostile server can steer). What requests does
  with it is recorded in the test's output, not held against it.
- BETTER: requests accepts it but gives the wrong answer; ``why`` says which rule it
  breaks, and ours must give the right one.
"""

from __future__ import annotations

import gzip
import zlib

import pytest
import requests
from healthprobes.probes.deadline import Deadline
from healthprobes.probes.errors import ProbeError
from healthprobes.probes.http import Connection, parse_url

from servers.raw_http import Reply, in_order, raw_http_server

SAME, REFUSE, BETTER = "same", "refuse", "better"


def answer(status_line: bytes, *fields: bytes, body: bytes = b"") -> bytes:
    return status_line + b"\r\n" + b"".join(field + b"\r\n" for field in fields) + b"\r\n" + body


def sized(body: bytes, *fields: bytes, status: bytes = b"HTTP/1.1 200 OK") -> bytes:
    return answer(status, *fields, b"Content-Length: %d" % len(body), body=body)


def chunked(*chunks: bytes, trailer: bytes = b"") -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks) + \
        b"0\r\n" + trailer + b"\r\n"


CHUNKED = b"Transfer-Encoding: chunked"
TEXT = b"Content-Type: text/plain"
GZ_A, GZ_B = gzip.compress(b"first_metric 1\n"), gzip.compress(b"second_metric 2\n")
LARGE = bytes(range(256)) * 8192  # 2 MiB, every byte value
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class Case:
    def __init__(self, name: str, replies: list[Reply | bytes], verdict: str = SAME,
                 why: str = "") -> None:
        self.name, self.replies, self.verdict, self.why = name, replies, verdict, why
        assert verdict == SAME or why, f"{name}: say why ours differs from requests"


def closing(raw: bytes) -> Reply:
    return Reply(raw, close=True)


CORPUS = [
    # --- well-formed: both must agree ------------------------------------------------
    Case("content-length", [sized(b"hello", TEXT)]),
    Case("empty content-length", [sized(b"")]),
    Case("chunked", [answer(b"HTTP/1.1 200 OK", TEXT, CHUNKED,
                            body=chunked(b"hel", b"lo ", b"world"))]),
    Case("chunk extensions", [answer(b"HTTP/1.1 200 OK", CHUNKED, body=(
        b"5;name=value;flag\r\nhello\r\n6;q=\"a;b\"\r\n world\r\n0;last\r\n\r\n"))]),
    Case("whitespace before a chunk extension", [answer(b"HTTP/1.1 200 OK", CHUNKED, body=(
        b"5 ;ext=1\r\nhello\r\n0\r\n\r\n"))]),
    Case("trailer fields", [answer(b"HTTP/1.1 200 OK", CHUNKED, b"Trailer: X-Checksum",
                                   body=chunked(b"body", trailer=b"X-Checksum: 1a2b\r\n"))]),
    Case("chunk sizes in capitals with leading zeros", [answer(
        b"HTTP/1.1 200 OK", CHUNKED, body=b"000A\r\n0123456789\r\n00\r\n\r\n")]),
    Case("a thousand 1-byte chunks", [answer(b"HTTP/1.1 200 OK", CHUNKED,
                                            body=chunked(*[b"x"] * 1000))]),
    Case("one 2 MiB chunk", [answer(b"HTTP/1.1 200 OK", CHUNKED, body=chunked(LARGE))]),
    Case("read until close", [closing(answer(b"HTTP/1.1 200 OK", TEXT, b"Connection: close",
                                             body=b"until the end"))]),
    Case("read until close without Connection: close", [closing(answer(
        b"HTTP/1.1 200 OK", TEXT, body=b"no framing at all"))]),
    Case("HTTP/1.0 with content-length", [closing(sized(b"ok", status=b"HTTP/1.0 200 OK"))]),
    Case("HTTP/1.0 until close", [closing(answer(b"HTTP/1.0 200 OK", body=b"old server"))]),
    Case("204 without body", [answer(b"HTTP/1.1 204 No Content", b"X-Id: 7")]),
    Case("204 with content-length 0", [answer(b"HTTP/1.1 204 No Content",
                                              b"Content-Length: 0")]),
    Case("304 announcing a length it does not send", [answer(
        b"HTTP/1.1 304 Not Modified", b"Content-Length: 100", b"ETag: \"v1\"")]),
    Case("100 continue before the answer", [CONTINUE + sized(b"after continue")]),
    Case("100 continue with fields", [b"HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n"
                                      + sized(b"final")]),
    Case("duplicate fields are joined", [sized(b"d", b"X-Dup: one", b"X-Dup: two",
                                               b"x-dup: three")]),
    Case("field names in any case", [answer(b"HTTP/1.1 200 OK", b"CONTENT-TYPE: text/plain",
                                            b"content-LENGTH: 2", body=b"ok")]),
    Case("equal content-length twice", [answer(b"HTTP/1.1 200 OK", b"Content-Length: 5",
                                               b"Content-Length: 5", body=b"equal")]),
    # RFC 9110 8.6 lets a list of equal values stand for one. The server closes after
    # it: http.client takes "4, 4" for no length and would read until close.
    Case("equal content-length as a list", [closing(answer(
        b"HTTP/1.1 200 OK", b"Content-Length: 4, 4", body=b"list"))]),
    Case("no space after the colon", [sized(b"v", b"X-Tight:value")]),
    Case("empty field value", [sized(b"e", b"X-Empty:", b"X-Also-Empty: ")]),
    Case("leading whitespace in a value", [sized(b"w", b"X-Spaced: \t  value")]),
    Case("latin-1 byte in a value", [sized(b"l", b"X-Name: caf\xe9")]),
    Case("status without reason", [answer(b"HTTP/1.1 200", b"Content-Length: 1", body=b"r")]),
    Case("status with an empty reason", [answer(b"HTTP/1.1 200 ", b"Content-Length: 1",
                                                body=b"r")]),
    Case("reason with spaces", [sized(b"gone", status=b"HTTP/1.1 404 Not Found Here")]),
    Case("server error with body", [sized(b"boom", TEXT,
                                          status=b"HTTP/1.1 500 Internal Server Error")]),
    Case("redirect", [sized(b"", b"Location: http://elsewhere.test/metrics",
                            status=b"HTTP/1.1 301 Moved Permanently")]),
    Case("gzip", [sized(GZ_A, TEXT, b"Content-Encoding: gzip")]),
    Case("gzip of two members", [sized(GZ_A + GZ_B, TEXT, b"Content-Encoding: gzip")]),
    Case("gzip, chunked", [answer(b"HTTP/1.1 200 OK", b"Content-Encoding: gzip", CHUNKED,
                                  body=chunked(GZ_A[:10], GZ_A[10:], GZ_B))]),
    Case("gzip with zero padding", [sized(GZ_A + b"\0" * 8, b"Content-Encoding: gzip")]),
    Case("x-gzip", [sized(GZ_A, b"Content-Encoding: x-gzip")]),
    Case("deflate", [sized(zlib.compress(b"deflated 1\n"), b"Content-Encoding: deflate")]),
    Case("2 MiB binary body", [sized(LARGE, b"Content-Type: application/octet-stream")]),
    Case("keep-alive: two content-length answers", [sized(b"first"), sized(b"second")]),
    Case("keep-alive: two chunked answers", [
        answer(b"HTTP/1.1 200 OK", CHUNKED, body=chunked(b"one")),
        answer(b"HTTP/1.1 200 OK", CHUNKED, body=chunked(b"two"))]),
    Case("keep-alive: 100 continue before each", [CONTINUE + sized(b"one"),
                                                  CONTINUE + sized(b"two")]),
    Case("keep-alive: 204 then 200", [answer(b"HTTP/1.1 204 No Content"), sized(b"after")]),
    Case("keep-alive: 2 MiB, then a small answer", [sized(LARGE), sized(b"small")]),
    Case("connection: close after a sized answer", [closing(sized(b"bye",
                                                                  b"Connection: close"))]),

    # --- requests answers, but wrongly ----------------------------------------------------
    Case("103 early hints before the answer", [
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
        + sized(b"the real answer")], BETTER,
        "RFC 9110 15.2: a client MUST parse one or more 1xx answers before the final one; "
        "http.client skips only 100, so requests returns the 103 as if final and leaves "
        "the real answer on the connection for the next request to read"),
    Case("102 processing, then 100, then the answer", [
        b"HTTP/1.1 102 Processing\r\n\r\n" + CONTINUE + sized(b"done")], BETTER,
        "RFC 9110 15.2 again: every 1xx but 101 is interim, not only 100"),

    # --- hostile or broken: ours refuses ------------------------------------------------
    Case("negative chunk size", [answer(b"HTTP/1.1 200 OK", CHUNKED, body=(
        b"-5\r\nhello\r\n0\r\n\r\n"))], REFUSE,
        "RFC 9112 7.1: chunk-size = 1*HEXDIG; int(x, 16) takes a sign, and a negative "
        "size subtracts from the count a size limit is kept with"),
    Case("chunk size with 0x", [answer(b"HTTP/1.1 200 OK", CHUNKED, body=(
        b"0x5\r\nhello\r\n0\r\n\r\n"))], REFUSE,
        "RFC 9112 7.1: hex digits only; '0x' is Python's syntax, not HTTP's"),
    Case("chunk size with a plus sign", [answer(b"HTTP/1.1 200 OK", CHUNKED, body=(
        b"+5\r\nhello\r\n0\r\n\r\n"))], REFUSE, "RFC 9112 7.1: hex digits only"),
    Case("chunk size with an underscore", [answer(b"HTTP/1.1 200 OK", CHUNKED, body=(
        b"1_0\r\n" + b"x" * 16 + b"\r\n0\r\n\r\n"))], REFUSE,
        "RFC 9112 7.1: hex digits only; '1_0' is 16 only to Python's int()"),
    Case("empty chunk size line", [answer(b"HTTP/1.1 200 OK", CHUNKED, body=(
        b"\r\nhello\r\n0\r\n\r\n"))], REFUSE, "RFC 9112 7.1: chunk-size is 1*HEXDIG"),
    Case("chunk size of 40 digits", [answer(b"HTTP/1.1 200 OK", CHUNKED, body=(
        b"0" * 39 + b"5\r\nhello\r\n0\r\n\r\n"))], REFUSE,
        "the size line is bounded (16 hex digits are 64 bits; h11 stops at 20): an "
        "unbounded number is a way to make a reader work for nothing"),
    Case("bytes after a chunk's data", [answer(b"HTTP/1.1 200 OK", CHUNKED, body=(
        b"5\r\nhelloXX\r\n0\r\n\r\n"))], REFUSE,
        "RFC 9112 7.1: chunk-data is followed by CRLF; http.client throws away whichever "
        "two bytes stand there unchecked (here it trips over the next line instead)"),
    Case("chunk data ended by a bare LF", [answer(b"HTTP/1.1 200 OK", CHUNKED, body=(
        b"5\r\nhello\n0\r\n\r\n"))], REFUSE, "RFC 9112 7.1 and 2.2: CRLF after chunk-data"),
    Case("bare LF line ends", [b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok"], REFUSE,
         "RFC 9112 2.2 lets a recipient accept a bare LF, and http.client does; two readers "
         "that disagree on where a line ends are how answers get smuggled, so this client "
         "takes CRLF only"),
    Case("a bare LF inside the head", [b"HTTP/1.1 200 OK\r\nX-A: 1\nContent-Length: 2\r\n"
                                       b"\r\nok"], REFUSE,
         "RFC 9112 2.2: one line terminator; read as LF-ended, this head has a different "
         "Content-Length than read as CRLF-ended"),
    Case("a bare CR in a value", [sized(b"cr", b"X-A: one\rtwo")], REFUSE,
         "RFC 9112 2.2: a recipient MUST consider a bare CR invalid or replace it"),
    Case("two different content-lengths", [answer(b"HTTP/1.1 200 OK", b"Content-Length: 2",
                                                  b"Content-Length: 5", body=b"hello")],
         REFUSE, "RFC 9112 6.3 item 5: the user agent MUST close the connection and discard "
         "the answer (urllib3 2 refuses it as well)"),
    Case("content-length that is no number", [answer(
        b"HTTP/1.1 200 OK", b"Content-Length: abc", body=b"whatever")], REFUSE,
        "RFC 9112 6.3 item 5: an answer with an invalid Content-Length is closed and "
        "discarded (urllib3 2 refuses it too)"),
    Case("content-length with a sign", [answer(b"HTTP/1.1 200 OK", b"Content-Length: +2",
                                               body=b"ok")], REFUSE,
         "RFC 9110 8.6: Content-Length = 1*DIGIT; '+2' is 2 only to int()"),
    Case("content-length and chunked", [answer(
        b"HTTP/1.1 200 OK", b"Content-Length: 3", CHUNKED, body=chunked(b"hello"))], REFUSE,
        "RFC 9112 6.3 item 3: chunked would win, but such an answer 'ought to be handled as "
        "an error' (request smuggling); requests silently takes the chunked reading"),
    Case("a transfer coding not asked for", [answer(
        b"HTTP/1.1 200 OK", b"Transfer-Encoding: gzip, chunked", body=chunked(GZ_A))],
        REFUSE, "RFC 9112 6.1: we send no TE header, so only chunked may be used; requests "
        "un-chunks it and hands over gzip bytes as the body"),
    Case("transfer-encoding in HTTP/1.0", [closing(answer(
        b"HTTP/1.0 200 OK", CHUNKED, body=chunked(b"old")))], REFUSE,
        "RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 message means its framing is faulty"),
    Case("a field line without a colon", [sized(b"x", b"NoColonHere")], REFUSE,
         "RFC 9112 5: field-line = field-name ':' OWS field-value OWS (requests refuses "
         "it too)"),
    Case("obs-fold", [sized(b"f", b"X-Folded: first", b"  second")], REFUSE,
         "RFC 9112 5.2: obs-fold is deprecated; a user agent may unfold it, this one refuses "
         "it rather than be a second parser that reads the head differently"),
    Case("whitespace before the colon", [answer(b"HTTP/1.1 200 OK", b"Content-Length : 2",
                                                body=b"ok")], REFUSE,
         "RFC 9112 5.1: no whitespace is allowed between the field name and the colon "
         "(requests refuses it too)"),
    Case("NUL in a value", [sized(b"n", b"X-A: a\x00b")], REFUSE,
         "RFC 9110 5.5: CR, LF and NUL in a field value are invalid and dangerous"),
    Case("150 header fields", [sized(b"h", *[b"X-F%d: v" % i for i in range(150)])], REFUSE,
         "at most 100 fields, as http.client (which refuses this too)"),
    Case("a 20 KiB header line", [sized(b"l", b"X-Long: " + b"a" * 20480)], REFUSE,
         "a field line is bounded at 16 KiB (nginx keeps 4-8 KiB for a whole head); "
         "http.client allows 64 KiB per line"),
    Case("not HTTP at all", [closing(b"SSH-2.0-OpenSSH_9.6\r\n")], REFUSE,
         "no status line (requests refuses it too)"),
    Case("a two-digit status", [sized(b"x", status=b"HTTP/1.1 20 OK")], REFUSE,
         "RFC 9112 4: status-code = 3DIGIT (requests refuses it too)"),
    Case("status 600", [sized(b"x", status=b"HTTP/1.1 600 Beyond")], REFUSE,
         "RFC 9110 15: values outside 100..599 are invalid; http.client takes up to 999"),
    Case("two spaces after the version", [sized(b"x", status=b"HTTP/1.1  200 OK")], REFUSE,
         "RFC 9112 4: HTTP-version SP status-code; h11 refuses it, http.client splits on "
         "any run of whitespace"),
    Case("101 switching protocols unasked", [
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"], REFUSE,
        "RFC 9110 15.2.2: a server switches only when the client asked (Upgrade); we never "
        "ask, and what follows is not HTTP"),
    Case("twenty interim answers", [CONTINUE * 20 + sized(b"late")], REFUSE,
         "more than 16 interim answers is a server in a loop (http.client would read "
         "100-continues for ever)"),
    Case("a sized body cut short", [closing(answer(b"HTTP/1.1 200 OK", b"Content-Length: 10",
                                                   body=b"short"))], REFUSE,
         "RFC 9112 8: an incomplete message (urllib3 2 refuses it too)"),
    Case("a chunked body cut short", [closing(answer(b"HTTP/1.1 200 OK", CHUNKED,
                                                     body=b"5\r\nhello\r\n"))], REFUSE,
         "RFC 9112 8: no last chunk, an incomplete message (requests refuses it too)"),
    Case("truncated gzip", [sized(GZ_A[:-6], b"Content-Encoding: gzip")], REFUSE,
         "a gzip member without its end (CRC, size) is not the whole answer; urllib3 "
         "returns the part it could inflate, and a metric silently goes missing"),
    Case("gzip followed by garbage", [sized(GZ_A + b"garbage", b"Content-Encoding: gzip")],
         REFUSE, "bytes after the last gzip member are not part of the answer (RFC 1952 2.2 "
         "has members only); urllib3 drops them without a word"),
    Case("gzip that is not gzip", [sized(b"plain text", b"Content-Encoding: gzip")], REFUSE,
         "not a gzip stream (requests refuses it too)"),
    Case("a content coding not asked for", [sized(b"xx", b"Content-Encoding: br")], REFUSE,
         "RFC 9110 12.5.3: we asked for gzip; brotli bytes are not the answer "
         "(requests hands them over as the body when brotli is not installed)"),
]


def test_the_corpus_is_large_and_varied():
    assert len(CORPUS) >= 30
    assert {case.verdict for case in CORPUS} == {SAME, REFUSE, BETTER}
    assert len({case.name for case in CORPUS}) == len(CORPUS)


def fetch_with_requests(url: str, count: int) -> list[requests.Response] | Exception:
    try:
        with requests.Session() as session:
            return [session.get(f"{url}/corpus/{index}", timeout=5, allow_redirects=False)
                    for index in range(count)]
    except Exception as error:  # any refusal, whatever its class
        return error


def fetch_with_ours(url: str, count: int):
    connection = Connection(parse_url(url), Deadline(5))
    try:
        return [connection.request("GET", f"/corpus/{index}",
                                   headers={"Accept-Encoding": "gzip, deflate"})
                for index in range(count)]
    finally:
        connection.close()


def comparable_headers(headers) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


@pytest.mark.parametrize("case", CORPUS, ids=[case.name for case in CORPUS])
def test_held_against_requests(case: Case):
    with raw_http_server(in_order(*case.replies)) as server:
        theirs = fetch_with_requests(server.url, len(case.replies))
        their_connections = server.connections
    with raw_http_server(in_order(*case.replies)) as server:
        try:
            ours = fetch_with_ours(server.url, len(case.replies))
        except ProbeError as error:
            ours = error
        our_connections = server.connections
        sent = [request.request_line for request in server.requests]

    if case.verdict == REFUSE:
        assert isinstance(ours, ProbeError), f"accepted: {case.why}"
        text = str(ours)
        assert ours.kind == ProbeError.PROTOCOL and "\n" not in text and len(text) < 300, text
        print(f"{case.name}: ours: {text} | requests: "
              f"{'refuses' if isinstance(theirs, Exception) else 'accepts'} | {case.why}")
        return
    assert not isinstance(ours, Exception), ours
    assert sent == [f"GET /corpus/{index} HTTP/1.1" for index in range(len(case.replies))]
    assert not isinstance(theirs, Exception), f"requests refuses what we accept: {theirs!r}"
    if case.verdict == BETTER:
        assert ours[-1].status == 200 and theirs[-1].status_code != 200, case.why
        assert ours[-1].body == case.replies[-1].split(b"\r\n\r\n")[-1]
        return
    for mine, requests_response in zip(ours, theirs, strict=True):
        assert mine.status == requests_response.status_code
        assert mine.reason == (requests_response.reason or "")
        assert comparable_headers(mine.headers) == comparable_headers(requests_response.headers)
        assert mine.body == requests_response.content
        assert type(mine.body) is bytes
    # One connection for a kept-alive exchange, one per answer where the server closes.
    assert our_connections == their_connections
