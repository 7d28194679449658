"""The extractor for pages no site rules know: the body found by reading the whole tree.

``scoring`` ranks candidate containers (text and link density, credit carried to ancestors,
class and id words) and turns one into the elements to read (wrappers climbed, article
siblings joined); ``edges`` leaves furniture out of them and cuts the boxes at their edges.
The candidates are tried best first, and the first that still holds article text after the
clean-up gives the body. Paragraphs that are mostly link text, repeat the title or are a bare
date line are dropped.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from selectolax.lexbor import LexborNode

from crawler.extract import edges, scoring
from crawler.extract.dates import parse_date, parse_dates
from crawler.extract.dom import Document
from crawler.extract.text import Cleaner, Paragraph, paragraphs

MAX_PARAGRAPH_LINK_DENSITY = 0.5
MIN_ARTICLE_CHARS = 250
LONG_PARAGRAPH_CHARS = 300  # a listing's teasers are shorter
MIN_BODY_CHARS = 120  # a candidate left with less after clean-up gives way to the next


def best_container(doc: Document) -> LexborNode | None:
    """The element most likely to hold the article text, or None on a page without prose."""
    blocks = _blocks(doc)
    ranked = scoring.ranked(blocks) if blocks else []
    return ranked[0].node if ranked else None


def _blocks(doc: Document) -> list[scoring.Block]:
    body = doc.tree.body
    return scoring.analyse(body) if body is not None else []


def body(
    doc: Document, cleaner: Cleaner, title: str | None, drop: tuple[str, ...] = ()
) -> list[str] | None:
    """The article's paragraphs by the generic extractor; None on a page without prose. The
    next candidate is tried while one is left without article text by the clean-up."""
    blocks = _blocks(doc)
    candidates = scoring.ranked(blocks) if blocks else []
    if not candidates:
        return None
    fallback: list[str] = []
    for candidate in candidates:
        found = _read(candidate, cleaner, title, drop)
        if sum(len(p) for p in found) >= MIN_BODY_CHARS:
            return found
        fallback = fallback or found
    return fallback


def _read(candidate: scoring.Block, cleaner: Cleaner, title: str | None, drop: tuple[str, ...]) -> list[str]:
    kept: list[Paragraph] = []
    for container in scoring.containers(candidate):
        skip_ids = edges.left_out(container, drop, candidate)
        found = paragraphs(container.node, edges.READ_SKIP, skip_ids)
        kept.extend(p for p in found if _is_prose(p, title))
    return edges.trim_edges(edges.unique(cleaner.keep(p.text for p in kept)))


def _is_prose(paragraph: Paragraph, title: str | None) -> bool:
    if paragraph.link_density > MAX_PARAGRAPH_LINK_DENSITY:
        return False
    text = paragraph.text
    if title and text.lower() == title.lower():
        return False
    return not (len(text) < 60 and any(c.isdigit() for c in text[-8:]) and parse_date(text) is not None)


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
    reporter) that names one: labels such as "Penulis:" removed, editors, photo credits and a
    " - site" tail left out."""
    for node in doc.tree.css(_BYLINE_PLACES)[:20]:
        text = node.text(deep=True, separator=" ")
        if not text.strip() or len(text) > MAX_BYLINE_CHARS * 3:
            continue
        names = _byline_names(text)
        if names:
            return names
    return []


_ROLE_ONLY = re.compile(
    r"^(?P<role>editor|redaktur|penyunting|sumber|foto|fotografer|video|penulis|reporter|pewarta|"
    r"wartawan|jurnalis|kontributor)\s*:?\s*$",
    re.IGNORECASE,
)
_NOT_WRITER_ROLES = frozenset({"editor", "redaktur", "penyunting", "sumber", "foto", "fotografer", "video"})
# a photo's credit sits in the same "author" class as a byline on many templates ("Dok.Humas")
_PHOTO_CREDIT = re.compile(r"^(?:dok|dokumentasi|foto|fotografer|photo|ilustrasi)\b\s*[.:]?", re.IGNORECASE)


def _byline_names(text: str) -> list[str]:
    """Names in a byline's text. A credit table reads as label and value pieces ("Penulis",
    ": X", "Editor", ": Y"): the value after a non-writer label is skipped with it."""
    names = []
    skip_value = False
    for piece in re.split(r"\s*[|\n]\s*|\s{3,}", text.strip()):
        piece = " ".join(piece.split())
        if not piece:
            continue
        role = _ROLE_ONLY.match(piece)
        if role:
            skip_value = role["role"].lower() in _NOT_WRITER_ROLES
            continue
        if skip_value:
            skip_value = False
            continue
        if _NOT_WRITER.match(piece) or _PHOTO_CREDIT.match(piece) or len(piece) > MAX_BYLINE_CHARS:
            continue
        piece = _BYLINE_LABEL.sub("", piece.lstrip(" :"))
        piece = re.split(r"\s+[-–—]\s+|\s*,\s*(?=[a-z])", piece)[0].strip(" ,:;")
        if _NAME.match(piece) and not _NOT_WRITER.match(piece):
            names.append(piece)
    return names


_WRITER_LABELS = ("penulis", "reporter", "pewarta", "wartawan", "jurnalis", "kontributor", "oleh", "by",
                  "written by")
_WRITER_LINE = re.compile(
    r"^(?:" + "|".join(_WRITER_LABELS) + r")\b\s*(?::\s*)?(?P<v>.*)$",
    re.IGNORECASE,
)
MAX_CREDIT_LINES = 4000
_LABEL_INITIALS = frozenset(label[0] for label in _WRITER_LABELS)  # a cheap test before the match


def labelled_authors(doc: Document) -> list[str]:
    """Writer names from a credit line anywhere in the page's text ("Penulis : X", "Oleh X",
    "By X"), also when a credit table puts the label and the value in cells of their own.
    The fallback when neither metadata nor a byline-like element names anyone."""
    body = doc.tree.body
    if body is None:
        return []
    # whitespace is collapsed only in lines that start like a label (a page has thousands)
    lines = [line for line in map(str.strip, body.text(deep=True, separator="\n").splitlines()) if line]
    lines = lines[:MAX_CREDIT_LINES]
    for index, line in enumerate(lines):
        if line[0].lower() not in _LABEL_INITIALS:
            continue
        line = " ".join(line.split())
        found = _WRITER_LINE.match(line) if len(line) <= MAX_BYLINE_CHARS else None
        if found is None:
            continue
        value = found["v"] or (" ".join(lines[index + 1].split()) if index + 1 < len(lines) else "")
        names = _byline_names(value.lstrip(" :"))
        if names:
            return names
    return []


def looks_like_article(doc: Document, body: list[str]) -> bool:
    """Evidence that a page is one article: article metadata or an ``<article>`` element with
    some prose, or enough prose in one place."""
    chars = sum(len(p) for p in body)
    if chars < MIN_ARTICLE_CHARS // 2:
        return False
    og_type = (doc.first_meta("og:type") or "").lower()
    if og_type == "article" or doc.has_article_ld or doc.first_meta("article:published_time"):
        return True
    if doc.tree.css_first("article, [itemtype*=Article]") is not None:
        return True
    long_paragraphs = sum(1 for p in body if len(p) >= 100)
    if chars >= MIN_ARTICLE_CHARS and long_paragraphs >= 3:
        return True
    return chars >= 400 and max(len(p) for p in body) >= LONG_PARAGRAPH_CHARS  # a short news item
