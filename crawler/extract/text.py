"""Body text from a body container: paragraphs in order, boilerplate out.

* Only the container's own content is read; unwanted elements are removed first (the default
  ``boilerplate.DROP_SELECTORS`` plus the site's ``drop``) and ``boilerplate.DROP_TAGS``
  (scripts, styles, figures and captions, forms, embeds) are skipped.
* Block elements (``p``, ``div``, headings, list items, quotes, table rows, ...) and ``<br>``
  (one or more) end a paragraph, so ``text<br><br>text`` pages split as readers see them.
* Whitespace is collapsed (non-breaking and zero-width spaces included); empty paragraphs
  vanish; paragraphs are joined by a blank line.
* A paragraph matching a drop pattern (default ``boilerplate.DROP_PARAGRAPHS`` plus the site's
  ``drop_text``) is dropped; one matching a ``stop_text`` ends the body (it and all after it
  are dropped). Inline ad markers (``boilerplate.STRIP_PHRASES``) are cut out of paragraphs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from selectolax.lexbor import LexborNode

from crawler.extract import boilerplate, tags

BLOCK_TAGS = frozenset({
    "p", "div", "section", "article", "main", "header", "footer", "aside", "nav", "h1", "h2", "h3",
    "h4", "h5", "h6", "ul", "ol", "li", "dl", "dt", "dd", "blockquote", "pre", "table", "thead",
    "tbody", "tfoot", "tr", "td", "th", "caption", "hr", "address", "center", "details", "summary",
    "fieldset", "figure", "figcaption", "body", "html",
})
SKIP_TAGS = boilerplate.DROP_TAGS | {"head", "title", "meta", "link", "-comment", "!doctype"}
_INVISIBLE = re.compile(r"[\u200b-\u200d\u2060\ufeff\u00ad]")


def normalize(text: str) -> str:
    """Collapse every kind of whitespace to one space and drop invisible characters."""
    if not text.isascii() and _INVISIBLE.search(text):  # all of them are outside ASCII
        text = _INVISIBLE.sub("", text)
    return " ".join(text.split())


@dataclass(frozen=True)
class Cleaner:
    """Compiled paragraph filters: the defaults plus one site generation's own. (The default
    unanchored patterns sit behind a literal test: an unanchored ``re`` search costs
    microseconds per paragraph, ``in`` a fraction of that.)"""

    drop: tuple[re.Pattern[str], ...]  # the site's; the defaults run on the lower-cased text
    stop: tuple[re.Pattern[str], ...]
    strip: tuple[tuple[str, re.Pattern[str]], ...]

    @classmethod
    def build(cls, drop_text: Iterable[str] = (), stop_text: Iterable[str] = ()) -> Cleaner:
        """The default patterns ignore case; a site's are used as written (``(?i)`` to ignore)."""
        return cls(
            drop=tuple(re.compile(p) for p in drop_text),
            stop=tuple(re.compile(p) for p in stop_text),
            strip=_DEFAULT_STRIP,
        )

    def keep(self, paragraphs: Iterable[str]) -> list[str]:
        """Paragraphs without boilerplate, up to the first stop paragraph; a dateline standing
        alone ("Jakarta -") is joined to the paragraph after it."""
        kept = []
        for paragraph in join_datelines(paragraphs):
            for literal, pattern in self.strip:
                if literal in paragraph and pattern.search(paragraph):
                    paragraph = normalize(pattern.sub(" ", paragraph))
            if not paragraph:
                continue
            if any(pattern.search(paragraph) for pattern in self.stop):
                break
            if _is_boilerplate(paragraph.lower()):
                continue
            if not any(pattern.search(paragraph) for pattern in self.drop):
                kept.append(paragraph)
        return kept


def _is_boilerplate(lowered: str) -> bool:
    """The default drop rules of ``boilerplate`` on a lower-cased paragraph."""
    if _DEFAULT_DROP.match(lowered):
        return True
    for literal, pattern in _DEFAULT_DROP_IF_CONTAINS:
        if literal in lowered and (pattern is None or pattern.search(lowered)):
            return True
    return False


_DEFAULT_DROP = re.compile("|".join(f"(?:{p})" for p in boilerplate.DROP_PARAGRAPHS))
_DEFAULT_DROP_IF_CONTAINS = tuple(
    (literal, re.compile(p) if p else None) for literal, p in boilerplate.DROP_IF_CONTAINS
)
_DEFAULT_STRIP = tuple((literal, re.compile(p)) for literal, p in boilerplate.STRIP_PHRASES)


_DATELINE = re.compile(r"\s(?:-{1,2}|–|—)$")
MAX_DATELINE_CHARS = 60


def join_datelines(paragraphs: Iterable[str]) -> list[str]:
    """Join a short paragraph that ends in a dash ("Jakarta -") with the one after it."""
    out: list[str] = []
    pending = ""
    for paragraph in paragraphs:
        if pending:
            paragraph = f"{pending} {paragraph}"
            pending = ""
        if len(paragraph) <= MAX_DATELINE_CHARS and _DATELINE.search(paragraph):
            pending = paragraph
        else:
            out.append(paragraph)
    if pending:
        out.append(pending)
    return out


def remove(container: LexborNode, selectors: Sequence[str]) -> None:
    """Remove every element matching one of ``selectors`` from the container."""
    for node in container.css(", ".join(selectors)) if selectors else ():
        node.decompose()


@dataclass(frozen=True)
class Paragraph:
    """One paragraph's text and how many of its characters sit inside links."""

    text: str
    linked: int

    @property
    def link_density(self) -> float:
        return self.linked / len(self.text) if self.text else 0.0


_BLOCK_END = 0
_LINK_END = 1
_BLOCK_IDS = tags.ids(BLOCK_TAGS)
_TEXT, _BR, _HR, _A = tags.TEXT, tags.tag_id("br"), tags.tag_id("hr"), tags.tag_id("a")


@lru_cache(maxsize=16)
def _skip_ids(names: frozenset[str]) -> frozenset[int]:
    return tags.ids(names)


def paragraphs(
    container: LexborNode, skip: frozenset[str] = SKIP_TAGS, skip_ids: frozenset[int] = frozenset()
) -> list[Paragraph]:
    """The container's text split at block elements and ``<br>``, whitespace collapsed;
    elements with a tag in ``skip`` or a ``mem_id`` in ``skip_ids`` are left out."""
    found: list[Paragraph] = []
    current: list[str] = []
    linked = 0
    in_link = 0

    def flush() -> None:
        nonlocal linked
        if current:
            text = normalize("".join(current))
            current.clear()
            if text:
                found.append(Paragraph(text, min(linked, len(text))))
        linked = 0

    skip_tags = _skip_ids(skip)
    stack: list[LexborNode | int] = [container]
    while stack:
        node = stack.pop()
        if isinstance(node, int):
            if node == _LINK_END:
                in_link -= 1
            else:
                flush()
            continue
        tag = node.tag_id
        if tag == _TEXT:
            piece = node.text_content or ""
            current.append(piece)
            if in_link:
                linked += len(piece.strip())
        elif tag == _BR or tag == _HR:
            flush()
        elif tag not in skip_tags and not (skip_ids and node.mem_id in skip_ids):
            if tag in _BLOCK_IDS:
                flush()
                stack.append(_BLOCK_END)
            elif tag == _A:
                in_link += 1
                stack.append(_LINK_END)
            child = node.last_child
            while child is not None:
                stack.append(child)
                child = child.prev
    flush()
    return found


def join(paragraph_list: Sequence[str]) -> str:
    """Paragraphs as one body string, separated by a blank line."""
    return "\n\n".join(paragraph_list)
