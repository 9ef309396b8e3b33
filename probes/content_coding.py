"""Undoing a Content-Encoding (RFC 9110 8.4) within a size limit, completely or not at all.

A scrape asks for gzip: a 30 MB exposition arrives as 2 MB. What arrives must decode
whole: a gzip stream may be several members one after another (RFC 1952 2.2; a
server that compresses piece by piece sends that), and every member counts, or a
metric in the second one silently vanishes. A stream that stops inside a member, or
is followed by bytes that are no member, is reported, never taken as the whole
answer. The limit holds for the decoded total across members, so a small "gzip
bomb" unfolds no further than ``max_bytes`` + 1 bytes.

zlib is imported only here, and this module only when an answer is encoded.
"""

from __future__ import annotations

from healthprobes.probes.errors import ProbeError

_GZIP_MAGIC = b"\x1f\x8b"


def decode(body: bytes, codings: str, max_bytes: int, target: str) -> bytes:
    """``body`` with the codings of a Content-Encoding value undone, last applied first."""
    for coding in reversed([part.strip().lower() for part in codings.split(",")]):
        if coding in ("", "identity"):
            continue
        if coding in ("gzip", "x-gzip"):
            body = _gunzip(body, max_bytes, target)
        elif coding == "deflate":
            body = _inflate(body, max_bytes, target)
        else:
            from healthprobes.probes.http_wire import server_text

            raise ProbeError(target, f"the answer is in a content coding that was not asked "
                             f"for ({server_text(coding, 40)!r})", ProbeError.PROTOCOL)
    return body


def _too_big(target: str, max_bytes: int, coding: str) -> ProbeError:
    return ProbeError(target, f"answer too large (more than {max_bytes} bytes after {coding} "
                      "decoding)", ProbeError.PROTOCOL)


def _corrupt(target: str, why: str) -> ProbeError:
    return ProbeError(target, f"the gzip answer is {why}", ProbeError.PROTOCOL)


def _gunzip(data: bytes, max_bytes: int, target: str) -> bytes:
    import zlib

    parts: list[bytes] = []
    room = max_bytes  # decoded bytes still allowed, across all members
    while True:
        decoder = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip header, CRC, size
        try:
            # max_length bounds what one member may unfold into: room + 1 shows "too big".
            piece = decoder.decompress(data, room + 1)
        except zlib.error as error:
            raise _corrupt(target, f"corrupt ({error})") from None
        if len(piece) > room or decoder.unconsumed_tail:
            raise _too_big(target, max_bytes, "gzip")
        if not decoder.eof:
            raise _corrupt(target, "truncated (the stream ends inside a member)")
        parts.append(piece)
        room -= len(piece)
        data = decoder.unused_data
        if not data.startswith(_GZIP_MAGIC):
            # Zero bytes after the last member are padding (gzip(1) and Python's gzip
            # module skip them); anything else is not part of the answer.
            if data.strip(b"\x00"):
                raise _corrupt(target, f"followed by {len(data)} bytes that are no gzip "
                               "member")
            return parts[0] if len(parts) == 1 else b"".join(parts)


def _inflate(data: bytes, max_bytes: int, target: str) -> bytes:
    """``deflate`` is a zlib stream (RFC 9110 8.4.1.2); some servers send raw deflate,
    which is read as well, as browsers and urllib3 do."""
    import zlib

    try:
        return _inflate_stream(data, zlib.MAX_WBITS, max_bytes, target)
    except zlib.error:
        pass
    try:
        return _inflate_stream(data, -zlib.MAX_WBITS, max_bytes, target)
    except zlib.error as error:
        raise ProbeError(target, f"the deflate answer is corrupt ({error})",
                         ProbeError.PROTOCOL) from None


def _inflate_stream(data: bytes, wbits: int, max_bytes: int, target: str) -> bytes:
    import zlib

    decoder = zlib.decompressobj(wbits=wbits)
    body = decoder.decompress(data, max_bytes + 1)
    if len(body) > max_bytes or decoder.unconsumed_tail:
        raise _too_big(target, max_bytes, "deflate")
    if not decoder.eof:
        raise ProbeError(target, "the deflate answer is truncated", ProbeError.PROTOCOL)
    if decoder.unused_data:
        raise ProbeError(target, f"the deflate answer is followed by "
                         f"{len(decoder.unused_data)} bytes that are not part of it",
                         ProbeError.PROTOCOL)
    return body
