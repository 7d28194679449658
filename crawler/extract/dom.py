"""One parsed page: the lexbor tree plus its metadata (meta tags, links, JSON-LD), built once.

The HTML parser's cost grows with the square of nesting depth (200 000 nested ``<div>`` take
minutes; 10 000 take 0.15 s) and with the square of one tag's attribute count (20 000 take
0.7 s), so both are checked before parsing (``DocumentTooLarge``), cheaply: ``<`` and ``=``
are counted (in bytes when the page is UTF-8), and the exact scans run only when a count says
they could fail:

* more than ``MAX_HTML_TAGS`` tags;
* with more than ``DEPTH_SCAN_ABOVE_TAGS`` ``<``: elements nested deeper than
  ``MAX_NESTING_DEPTH`` (an upper estimate that matches end tags to open elements by name and
  scope as the parser does, so end tags that close nothing cannot hide a deep tree);
* in documents of ``ATTRIBUTE_SCAN_ABOVE_CHARS`` or more with over
  ``ATTRIBUTE_SCAN_ABOVE_EQUALS`` ``=``: one tag with more than ``MAX_TAG_ATTRIBUTES``
  attributes.

Below those thresholds the worst case parses in well under a second.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser, LexborNode

from crawler.errors import DocumentTooLarge

log = logging.getLogger(__name__)

MAX_HTML_TAGS = 200_000
MAX_NESTING_DEPTH = 3_000
MAX_TAG_ATTRIBUTES = 2_000
DEPTH_SCAN_ABOVE_TAGS = 8_000
ATTRIBUTE_SCAN_ABOVE_EQUALS = 10_000
ATTRIBUTE_SCAN_ABOVE_CHARS = 60_000  # below it, at most ~15 000 attributes: under half a second
MAX_JSONLD_CHARS = 2_000_000
ARTICLE_TYPES = frozenset({
    "newsarticle", "article", "reportagenewsarticle", "analysisnewsarticle", "opinionnewsarticle",
    "backgroundnewsarticle", "reviewnewsarticle", "blogposting", "liveblogposting", "scholarlyarticle",
    "techarticle", "report", "socialmediaposting",
})

_TAG_NAME = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9:-]*)")
# Tags that never deepen the tree: void elements, and those the parser closes by themselves
# when a sibling opens (``<p><p>``, ``<li><li>``: siblings, not nesting).
_FLAT_TAGS = frozenset({
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr", "p", "li", "dt", "dd", "option", "optgroup", "rt", "rp", "tbody", "thead",
    "tfoot", "colgroup", "caption",
})
# An end tag does not close an element outside the nearest of these (HTML "in scope").
_SCOPE = frozenset({
    "applet", "caption", "html", "table", "td", "th", "marquee", "object", "template",
    "foreignobject", "desc", "mi", "mo", "mn", "ms", "mtext", "annotation-xml",
})
_TABLE_SCOPE = frozenset({"html", "table", "template"})
_CELLS = frozenset({"td", "th", "tr"})
_ALL_BUT_LT_EQ = bytes(byte for byte in range(256) if byte not in b"<=")
_TAG_START = re.compile(r"<[a-zA-Z]")
_LONG_TAG = re.compile(r"<[a-zA-Z][^<>]{20000,}")
_ATTRIBUTE = re.compile(r"\s[^\s=<>\"'/]+\s*=")
_RAW_TEXT = re.compile(r"<(script|style|textarea|title|xmp)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)


@dataclass
class Document:
    """A parsed page and its metadata. Mutable on purpose: body cleaning removes nodes."""

    url: str
    tree: LexborHTMLParser
    meta: dict[str, list[str]] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    jsonld: list[dict[str, Any]] = field(default_factory=list)

    @property
    def article_ld(self) -> dict[str, Any] | None:
        """The first JSON-LD object of an article type, else the first with a headline."""
        fallback = None
        for obj in self.jsonld:
            if _types(obj) & ARTICLE_TYPES:
                return obj
            if fallback is None and "headline" in obj:
                fallback = obj
        return fallback

    @property
    def has_article_ld(self) -> bool:
        return any(_types(obj) & ARTICLE_TYPES for obj in self.jsonld)

    def first_meta(self, name: str) -> str | None:
        for value in self.meta.get(name.lower(), ()):
            if value.strip():
                return value.strip()
        return None

    def absolute(self, href: str) -> str:
        try:
            return urljoin(self.url, href.strip())
        except ValueError:
            return href.strip()


def check_size(content: str | bytes, where: str) -> None:
    """Raise DocumentTooLarge when parsing ``content`` would take too long (see the module doc).

    ``content`` is the text, or the UTF-8 / ASCII-compatible bytes of it: counting ``<`` and
    ``=`` in bytes is several times faster than in a non-ASCII str."""
    if isinstance(content, bytes):  # one pass keeping only "<" and "=", then two tiny counts
        kept = content.translate(None, _ALL_BUT_LT_EQ)
        brackets, equals = kept.count(b"<"), kept.count(b"=")
    else:
        brackets, equals = content.count("<"), content.count("=")
    if len(content) < ATTRIBUTE_SCAN_ABOVE_CHARS:
        equals = 0
    if brackets <= DEPTH_SCAN_ABOVE_TAGS and equals <= ATTRIBUTE_SCAN_ABOVE_EQUALS:
        return
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
    if brackets > MAX_HTML_TAGS:
        tags = sum(1 for _ in _TAG_START.finditer(text))
        if tags > MAX_HTML_TAGS:
            raise DocumentTooLarge(
                f"{where}: {tags} HTML tags, above the cap of {MAX_HTML_TAGS}; "
                "this is not a news article page (or it is a DOM bomb)"
            )
    if brackets > DEPTH_SCAN_ABOVE_TAGS:
        depth = _nesting_depth(text)
        if depth > MAX_NESTING_DEPTH:
            raise DocumentTooLarge(
                f"{where}: elements nested {depth} deep, above the cap of {MAX_NESTING_DEPTH}; "
                "the page is malformed or hostile"
            )
    if equals > ATTRIBUTE_SCAN_ABOVE_EQUALS:
        for tag in _LONG_TAG.finditer(text):
            count = sum(1 for _ in _ATTRIBUTE.finditer(tag.group()))
            if count > MAX_TAG_ATTRIBUTES:
                raise DocumentTooLarge(
                    f"{where}: a <{tag.group()[1:20].split()[0]}> tag with {count} attributes at "
                    f"character {tag.start()}, above the cap of {MAX_TAG_ATTRIBUTES}"
                )


def _nesting_depth(text: str) -> int:
    """The deepest element nesting the parser can build, estimated from above: an end tag
    closes only an element of its name that is open and in scope (as the HTML parser does),
    so end tags that match nothing (``<div></span>`` a hundred thousand times) close nothing.
    Table cells and rows close the cell or row before them; raw-text elements are skipped."""
    stack: list[str] = []
    open_count: dict[str, int] = {}
    deepest = 0
    for slash, raw in _TAG_NAME.findall(_RAW_TEXT.sub("", text)):
        name = raw.lower()
        if name in _FLAT_TAGS:
            continue
        if slash:
            if open_count.get(name):
                _close(stack, open_count, name)
            continue
        if name in _CELLS and not _open_cell(stack, open_count, name):
            continue
        stack.append(name)
        open_count[name] = open_count.get(name, 0) + 1
        if len(stack) > deepest:
            deepest = len(stack)
    return deepest


def _close(stack: list[str], open_count: dict[str, int], name: str) -> None:
    """Pop up to and including the nearest ``name``, unless a scope boundary comes first."""
    boundaries = _TABLE_SCOPE if name in _CELLS or name == "table" else _SCOPE
    for index in range(len(stack) - 1, -1, -1):
        if stack[index] == name:
            for popped in stack[index:]:
                open_count[popped] -= 1
            del stack[index:]
            return
        if stack[index] in boundaries:
            return


def _open_cell(stack: list[str], open_count: dict[str, int], name: str) -> bool:
    """Before a ``td``/``th``/``tr`` opens inside a table, close the open cell (and, for a row,
    the open row) of that table; outside a table the parser ignores it (False)."""
    if not open_count.get("table"):
        return False
    table = len(stack) - 1 - stack[::-1].index("table")
    closes = {"td", "th", "tr"} if name == "tr" else {"td", "th"}
    for index in range(table + 1, len(stack)):
        if stack[index] in closes:
            for popped in stack[index:]:
                open_count[popped] -= 1
            del stack[index:]
            break
    return True


def parse(content: str | bytes, url: str) -> Document:
    """Parse checked text (or UTF-8 bytes, which lexbor reads without a decode and re-encode)
    and collect meta tags, ``<link rel>`` and JSON-LD objects (in one selector pass)."""
    check_size(content, url)
    tree = LexborHTMLParser(content)
    doc = Document(url=url, tree=tree)
    for node in tree.css('meta[content], link[rel][href], script[type*="ld+json" i]'):
        tag = node.tag
        if tag == "meta":
            _add_meta(doc, node.attributes)
        elif tag == "link":
            _add_link(doc, node.attributes)
        else:
            _add_jsonld(doc, node)
    return doc


def _add_meta(doc: Document, attrs: dict[str, str | None]) -> None:
    content = attrs.get("content")
    if not content:
        return
    for key in ("name", "property", "itemprop", "http-equiv"):  # http-equiv: Content-Language
        name = attrs.get(key)
        if name:
            doc.meta.setdefault(name.strip().lower(), []).append(content)


def _add_link(doc: Document, attrs: dict[str, str | None]) -> None:
    href = attrs.get("href")
    for rel in (attrs.get("rel") or "").lower().split():
        if href and rel not in doc.links:
            doc.links[rel] = href


def _add_jsonld(doc: Document, node: LexborNode) -> None:
    raw = node.text(deep=True)
    if len(raw) > MAX_JSONLD_CHARS:
        log.debug("%s: JSON-LD block of %d characters skipped", doc.url, len(raw))
        return
    for data in _loads_tolerant(raw):
        doc.jsonld.extend(_objects(data))


_TRAILING_COMMA = re.compile(r",\s*([\]}])")
_WRAPPERS = re.compile(r"^\s*(?:<!--|<!\[CDATA\[|//\s*<!\[CDATA\[)|(?:-->|\]\]>|//\s*\]\]>)\s*$")


def _loads_tolerant(raw: str) -> list[Any]:
    """JSON values in a JSON-LD block: tolerates comments wrappers, trailing commas, control
    characters inside strings and several values in a row; gives [] for what it cannot read."""
    text = raw.strip()
    # the wrappers sit at the ends only: the substitution (a scan of every position) runs when
    # an end shows one
    if text.startswith(("<!--", "<![CDATA[", "//")) or text.endswith(("-->", "]]>")):
        text = _WRAPPERS.sub("", text)
    for attempt in (text, _TRAILING_COMMA.sub(r"\1", text)):
        values = _raw_decode_all(attempt)
        if values:
            return values
    log.debug("unreadable JSON-LD block skipped: %.80r", raw)
    return []


_DECODER = json.JSONDecoder(strict=False)  # stateless: safe to share


def _raw_decode_all(text: str) -> list[Any]:
    decoder = _DECODER
    values: list[Any] = []
    position = 0
    while position < len(text):
        while position < len(text) and text[position] in " \t\r\n;,":
            position += 1
        if position >= len(text):
            break
        try:
            value, position = decoder.raw_decode(text, position)
        except (ValueError, RecursionError):
            return values
        values.append(value)
    return values


def _objects(data: Any) -> Iterator[dict[str, Any]]:
    """Every dict in ``data`` (lists and ``@graph`` included), breadth first, without recursion."""
    queue = [data]
    seen = 0
    while queue and seen < 1000:
        item = queue.pop(0)
        seen += 1
        if isinstance(item, list):
            queue.extend(item)
        elif isinstance(item, dict):
            yield item
            graph = item.get("@graph")
            if isinstance(graph, list | dict):
                queue.append(graph)
            main = item.get("mainEntity")
            if isinstance(main, dict):
                queue.append(main)


def _types(obj: dict[str, Any]) -> set[str]:
    kind = obj.get("@type")
    if isinstance(kind, str):
        return {kind.lower()}
    if isinstance(kind, list):
        return {k.lower() for k in kind if isinstance(k, str)}
    return set()
