"""The extractor for pages no site rules know: find the body container by scoring the DOM.

Scoring (in the spirit of readability, on the lexbor tree, one pass without recursion): every
run of inline text of at least ``MIN_SEGMENT_CHARS`` characters outside links earns points
(one, plus one per comma, plus one per 100 characters up to three) for the element that holds
its paragraphs — the nearest block ancestor, or that ancestor's parent when the text sits in a
``<p>`` — and half as much for the grandparent. Link-heavy, navigation and comment areas earn
nothing. The best container is the highest score times (1 - its link density). Paragraphs of
it that are mostly link text, repeat the title or are a bare date line are dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from selectolax.lexbor import LexborNode

from crawler.extract import boilerplate
from crawler.extract.dates import parse_date, parse_dates
from crawler.extract.dom import Document
from crawler.extract.text import BLOCK_TAGS, SKIP_TAGS, Cleaner, Paragraph, paragraphs, remove

MIN_SEGMENT_CHARS = 25
MAX_PARAGRAPH_LINK_DENSITY = 0.5
MIN_ARTICLE_CHARS = 250
CANDIDATES_CHECKED = 5
_HOLDERS = frozenset({"div", "td", "article", "section", "main", "body", "blockquote"})
_NOISE = re.compile(
    r"comment|komentar|footer|sidebar|side-bar|widget|related|terkait|populer|popular|terpopuler|"
    r"recommend|rekomendasi|share|social|sosmed|breadcrumb|menu|navbar|nav-|banner|advert|iklan|"
    r"promo|newsletter|subscribe|trending|headline-list|indeks|tag-list|tags",
    re.IGNORECASE,
)
_GOOD = re.compile(r"article|content|detail|read|body|story|post|berita|isi|entry|text", re.IGNORECASE)
_SKIP_SUBTREES = SKIP_TAGS | {"nav", "footer", "aside", "form", "header", "ul", "ol", "select"}


@dataclass
class _Score:
    node: LexborNode
    points: float = 0.0


def best_container(doc: Document) -> LexborNode | None:
    """The element most likely to hold the article text, or None on a page without prose."""
    body = doc.tree.body
    if body is None:
        return None
    scores: dict[int, _Score] = {}
    for holder, text in _segments(body):
        points = 1 + text.count(",") + min(len(text) / 100, 3)
        container = holder.parent if holder.tag == "p" and holder.parent is not None else holder
        _add(scores, container, points)
        if container.parent is not None:
            _add(scores, container.parent, points / 2)
    ranked = sorted(scores.values(), key=lambda s: s.points, reverse=True)[:CANDIDATES_CHECKED]
    best, best_points = None, 0.0
    for score in ranked:
        adjusted = score.points * (1 - _link_density(score.node)) * _noise_factor(score.node)
        if adjusted > best_points:
            best, best_points = score.node, adjusted
    return best


def _add(scores: dict[int, _Score], node: LexborNode, points: float) -> None:
    key = node.mem_id
    if key not in scores:
        scores[key] = _Score(node)
    scores[key].points += points


def _segments(body: LexborNode) -> list[tuple[LexborNode, str]]:
    """(nearest block ancestor, text) for every run of inline text outside links."""
    found: list[tuple[LexborNode, str]] = []
    stack: list[tuple[LexborNode, LexborNode, bool]] = [(body, body, False)]
    runs: dict[int, tuple[LexborNode, list[str]]] = {}
    order: list[int] = []
    while stack:
        node, holder, linked = stack.pop()
        tag = node.tag
        if tag == "-text":
            if not linked:
                key = holder.mem_id
                if key not in runs:
                    runs[key] = (holder, [])
                    order.append(key)
                runs[key][1].append(node.text_content or "")
            continue
        if tag == "br":
            if holder.mem_id in runs:
                runs[holder.mem_id][1].append("\n\n")
            continue
        if tag in _SKIP_SUBTREES:
            continue
        if tag in BLOCK_TAGS or tag in _HOLDERS:
            holder = node
        child = node.last_child
        while child is not None:
            stack.append((child, holder, linked or tag == "a"))
            child = child.prev
    for key in order:
        holder, pieces = runs[key]
        for piece in re.split(r"\n\s*\n", "".join(pieces)):
            text = " ".join(piece.split())
            if len(text) >= MIN_SEGMENT_CHARS:
                found.append((holder, text))
    return found


def _link_density(node: LexborNode) -> float:
    total = len(node.text(deep=True, separator=" ").split())
    if not total:
        return 1.0
    linked = sum(len(a.text(deep=True, separator=" ").split()) for a in node.css("a"))
    return min(1.0, linked / total)


def _noise_factor(node: LexborNode) -> float:
    """Class and id names: an article-ish name helps, a widget-ish name hurts."""
    attrs = node.attributes
    marker = f"{attrs.get('class') or ''} {attrs.get('id') or ''}"
    if not marker.strip():
        return 1.0
    if _NOISE.search(marker):
        return 0.4
    if _GOOD.search(marker):
        return 1.25
    return 1.0


def body_paragraphs(
    doc: Document, container: LexborNode, cleaner: Cleaner, title: str | None
) -> list[str]:
    """Generic clean-up of a found container: defaults removed, link lists and repeats dropped."""
    remove(container, boilerplate.DROP_SELECTORS)
    kept = [p for p in paragraphs(container) if _is_prose(p, title)]
    return cleaner.keep(p.text for p in kept)


def _is_prose(paragraph: Paragraph, title: str | None) -> bool:
    if paragraph.link_density > MAX_PARAGRAPH_LINK_DENSITY:
        return False
    text = paragraph.text
    if title and text.lower() == title.lower():
        return False
    return not (len(text) < 60 and parse_date(text) is not None and any(c.isdigit() for c in text[-8:]))


_DATE_PLACES = (
    "time, [itemprop=datePublished], [class*=date], [class*=Date], [class*=time], [class*=tanggal], "
    "[class*=waktu], [class*=publish], [id*=date], [id*=time]"
)
MAX_DATE_TEXT_CHARS = 120
MAX_DATE_PLACES = 40


def visible_date(doc: Document, tz: str, fetched: datetime | None) -> str | None:
    """The first date with a time of day shown in a date-ish element (class or id naming a date
    or time, ``<time>``), in page order, outside links: what a reader sees as the dateline."""
    for node in doc.tree.css(_DATE_PLACES)[:MAX_DATE_PLACES]:
        text = node.text(deep=True, separator=" ")
        if not text or len(text) > MAX_DATE_TEXT_CHARS or _inside_link(node):
            continue
        published = parse_dates(text, tz, not_after=fetched).published
        if published and "T" in published:
            return published
    return None


def _inside_link(node: LexborNode) -> bool:
    parent = node.parent
    for _ in range(4):
        if parent is None:
            return False
        if parent.tag == "a":
            return True
        parent = parent.parent
    return False


def reconcile_dates(machine: str | None, visible: str | None) -> str | None:
    """Prefer what the reader sees when the machine date disagrees with it: the visible date
    wins unless it is more than a day away (then it is probably another article's date). When
    both say the same minute, the machine date is kept for its seconds."""
    if visible is None:
        return machine
    if machine is None or "T" not in machine:
        return visible if machine is None or machine == visible[:10] else machine
    seen, stated = datetime.fromisoformat(visible), datetime.fromisoformat(machine)
    if stated.utcoffset() == seen.utcoffset() and stated.replace(second=0) == seen.replace(second=0):
        return machine
    return visible if abs(stated - seen) <= timedelta(days=1) else machine


def visible_title(doc: Document, title: str) -> str:
    """The ``<h1>`` a reader sees when it says the same words as the machine title (often the
    headline without its punctuation), else the machine title."""
    wanted = _words(title)
    for node in doc.tree.css("h1")[:5]:
        shown = " ".join(node.text(deep=True, separator=" ").split())
        if shown != title and _words(shown) == wanted:
            return shown
    return title


def _words(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


_BYLINE_PLACES = (
    "[rel=author], [itemprop=author], [class*=author], [class*=Author], [class*=penulis], [class*=reporter], "
    "[class*=byline], [class*=writer], [class*=journalist], [class*=jurnalis], [id*=author], [id*=penulis]"
)
_BYLINE_LABEL = re.compile(
    r"^(?:oleh|penulis|reporter|pewarta|wartawan|jurnalis|kontributor|laporan(?:\s+wartawan)?|by|"
    r"written by|author)\b\s*[:\-]?\s*",
    re.IGNORECASE,
)
_NOT_WRITER = re.compile(
    r"^(?:editor|redaktur|penyunting|sumber|foto|fotografer|video|jurnalis|penulis|reporter|facebook|"
    r"twitter|instagram|whatsapp|line|share|bagikan|follow|ikuti)\b\s*:?\s*$|^(?:editor|redaktur|"
    r"penyunting|sumber|foto|fotografer)\b",
    re.IGNORECASE,
)
_NAME = re.compile(r"^[A-Z][\w.'’-]*(?:\s+[A-Za-z][\w.'’-]*){0,4}$")
MAX_BYLINE_CHARS = 120


def visible_authors(doc: Document) -> list[str]:
    """Writer names from the first byline-like element (class or id naming an author, writer or
    reporter): labels such as "Penulis:" removed, editors and a " - site" tail left out."""
    for node in doc.tree.css(_BYLINE_PLACES)[:20]:
        text = node.text(deep=True, separator=" ")
        if not text.strip() or len(text) > MAX_BYLINE_CHARS * 3:
            continue
        names = []
        for piece in re.split(r"\s*[|\n]\s*|\s{3,}", text.strip()):
            piece = " ".join(piece.split())
            if not piece or _NOT_WRITER.match(piece) or len(piece) > MAX_BYLINE_CHARS:
                continue
            piece = _BYLINE_LABEL.sub("", piece)
            piece = re.split(r"\s+[-–—]\s+|\s*,\s*(?=[a-z])", piece)[0].strip(" ,:;")
            if _NAME.match(piece) and not _NOT_WRITER.match(piece):
                names.append(piece)
        if names:
            return names
    return []


def looks_like_article(doc: Document, body: list[str]) -> bool:
    """Evidence that a page is one article: article metadata, or enough prose in one place."""
    chars = sum(len(p) for p in body)
    if chars < MIN_ARTICLE_CHARS // 2:
        return False
    og_type = (doc.first_meta("og:type") or "").lower()
    if og_type == "article" or doc.has_article_ld or doc.first_meta("article:published_time"):
        return True
    long_paragraphs = sum(1 for p in body if len(p) >= 100)
    return chars >= MIN_ARTICLE_CHARS and long_paragraphs >= 3
