"""Bytes of an HTML page to text.

The order that decides the encoding (the first that names a codec Python knows wins):

1. a byte-order mark (UTF-8, UTF-16 LE/BE, UTF-32 LE/BE);
2. the ``charset`` of the Content-Type header;
3. a ``<meta charset>`` / ``<meta http-equiv=Content-Type content="...; charset=...">`` in the
   first ``META_SCAN_BYTES`` bytes;
4. a sniff: strict UTF-8 when the bytes are valid UTF-8 (pure ASCII included), otherwise
   charset-normalizer's best guess, otherwise windows-1252.

As browsers do (WHATWG Encoding), ``iso-8859-1``, ``latin1`` and ``us-ascii`` labels decode as
windows-1252, and a UTF-16 label found in a ``<meta>`` means UTF-8 (a meta tag readable as
ASCII cannot be UTF-16). A declaration that does not match the bytes is still obeyed (the
bytes are the page as served); bytes invalid in the chosen encoding become U+FFFD. NUL
characters are removed from the text after decoding.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

import charset_normalizer

META_SCAN_BYTES = 8192
SNIFF_BYTES = 65536

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:+-]{1,40})", re.IGNORECASE)
_META_CHARSET = re.compile(
    rb"<meta[^>]{0,512}?charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:+-]{1,40})", re.IGNORECASE
)
_AS_WINDOWS_1252 = {"iso-8859-1", "iso8859-1", "latin-1", "latin1", "l1", "us-ascii", "ascii", "cp819"}


@dataclass(frozen=True)
class Decoded:
    """The page text, the codec used and which rule chose it (bom, header, meta, sniff)."""

    text: str
    encoding: str
    source: str



@dataclass(frozen=True)
class Choice:
    """The encoding the documented order picks, which rule picked it, and the BOM's length."""

    encoding: str
    source: str
    bom: int = 0


def choose_encoding(body: bytes, content_type: str | None = None) -> Choice:
    """The encoding of ``body`` by the documented order, without decoding it (except the
    strict UTF-8 test of a sniff)."""
    for mark, encoding in _BOMS:
        if body.startswith(mark):
            return Choice(encoding, "bom", len(mark))
    declared = _codec(_from_header(content_type), from_meta=False)
    if declared:
        return Choice(declared, "header")
    declared = _codec(_from_meta(body), from_meta=True)
    if declared:
        return Choice(declared, "meta")
    return Choice(_sniff(body), "sniff")


def decode_html(body: bytes, content_type: str | None = None) -> Decoded:
    """Decode ``body`` by the documented order; never raises on bad bytes."""
    choice = choose_encoding(body, content_type)
    return _decode(body[choice.bom :] if choice.bom else body, choice.encoding, choice.source)


def _from_header(content_type: str | None) -> str | None:
    if not content_type:
        return None
    match = _HEADER_CHARSET.search(content_type)
    return match.group(1) if match else None


def _from_meta(body: bytes) -> str | None:
    match = _META_CHARSET.search(body[:META_SCAN_BYTES])
    return match.group(1).decode("ascii", "replace") if match else None


def _codec(label: str | None, *, from_meta: bool) -> str | None:
    """The Python codec for a charset label, or None when Python does not know it."""
    if not label:
        return None
    label = label.strip().lower()
    if label in _AS_WINDOWS_1252:
        return "cp1252"
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    if from_meta and name.startswith(("utf-16", "utf-32")):
        return "utf-8"
    return name


def _sniff(body: bytes) -> str:
    try:
        body.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    best = charset_normalizer.from_bytes(body[:SNIFF_BYTES]).best()
    if best is not None and best.encoding:
        return _codec(best.encoding, from_meta=False) or "cp1252"
    return "cp1252"


def _decode(body: bytes, encoding: str, source: str) -> Decoded:
    text = body.decode(encoding, errors="replace")
    if "\x00" in text:
        text = text.replace("\x00", "")
    return Decoded(text, encoding, source)
