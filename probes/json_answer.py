"""Decoding JSON answers without importing the json package.

``import json`` compiles json's regular expressions, and re with them: several
milliseconds of a run that should take about twenty. The C decoder that json itself
uses (``_json.make_scanner``) needs only an object holding json's decoding settings,
so it is used directly; json proper is the fallback where ``_json`` is missing and
the source of the error message when an answer is not JSON.
"""

from __future__ import annotations

_WHITESPACE = " \t\n\r"


class _Settings:
    """The attributes json's C scanner reads from its decoder (see json.decoder)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int

    @staticmethod
    def parse_constant(name: str) -> float:
        return {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}[name]


try:
    from _json import make_scanner as _make_scanner

    _scan = _make_scanner(_Settings())
except ImportError:  # an interpreter without the C accelerator
    _scan = None


class JsonError(ValueError):
    pass


def loads(data: bytes | bytearray | memoryview | str) -> object:
    """One JSON document; JsonError with json's own message when it is not one.

    ``data`` is text or any bytes-like body: the HTTP client answers a bytearray for
    a large body it read into one buffer, bytes otherwise. Bytes must be UTF-8 (RFC
    8259 section 8.1); a leading UTF-8 byte order mark is skipped, as json does.
    """
    if isinstance(data, str):
        text = data
    else:
        try:
            text = str(data, "utf-8")
        except UnicodeDecodeError:
            raise JsonError("not UTF-8 text") from None
        if text.startswith("\ufeff"):
            text = text[1:]
    start = len(text) - len(text.lstrip(_WHITESPACE))
    if _scan is not None:
        try:
            value, end = _scan(text, start)
            if not text[end:].strip(_WHITESPACE):
                return value
        except (StopIteration, ValueError, RecursionError):
            pass
    return _slow_loads(text)


def _slow_loads(text: str) -> object:
    import json

    try:
        return json.loads(text)
    except (ValueError, RecursionError) as error:
        raise JsonError(str(error) or "not JSON") from None
