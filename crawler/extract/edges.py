"""Cleaning the containers the generic extractor chose, without modifying the tree.

Inside a container, these are left out (by ``mem_id``, so a later candidate can still be read
whole): the default drop selectors, furniture tags (``nav``, ``aside``, ``footer``, ``header``,
``form``, ``button``), elements whose class or id carries a furniture word (``generic.yaml``),
hidden elements, and blocks that are mostly link text. An element holding at least
``KEEP_SHARE`` of the container's text is never left out for its tag, words or hiddenness:
many pages ship the whole article in a hidden or "paywall" element.

After the text is read, boxes at the edges go: a short paragraph that opens a box of links or
promotion ("Related", "Read more", "Baca juga", "Jangan lewatkan", newsletter and share bars)
is dropped, and when it sits after ``TAIL_SHARE`` of the text, it ends the article.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from selectolax.lexbor import LexborNode

from crawler.extract import boilerplate
from crawler.extract.scoring import Block, markers
from crawler.extract.text import SKIP_TAGS

KEEP_SHARE = 0.5
MAX_BLOCK_LINK_DENSITY = 0.5
MAX_OPENER_CHARS = 80
TAIL_SHARE = 0.5
READ_SKIP = SKIP_TAGS - {"form"}
_HIDDEN = (
    "[hidden]", "[aria-hidden=true]", "[style*='display:none' i]", "[style*='display: none' i]",
    "[style*='visibility:hidden' i]",
)
_FURNITURE_TAGS = ("nav", "aside", "footer", "header", "form", "button")
_DROP = tuple(s for s in boilerplate.DROP_SELECTORS if s not in {"[hidden]", "[aria-hidden=true]"})
_METADATA = tuple(f"[itemprop={name}]" for name in markers().metadata_itemprops)
_SELECTOR = ", ".join((*_DROP, *_HIDDEN, *_METADATA, *_FURNITURE_TAGS, "[class]", "[id]"))
_DROP_OR_HIDDEN = ", ".join((*_DROP, *_HIDDEN, *_METADATA))


def left_out(container: Block, drop: Sequence[str] = ()) -> frozenset[int]:
    """``mem_id`` of every element inside the container that is not article text."""
    node = container.node
    by_id = {block.node.mem_id: block for block in _under(container)}
    total = max(container.size, 1)
    own = node.mem_id
    ids: set[int] = set()
    for block in by_id.values():
        if block.size and block.link_density > MAX_BLOCK_LINK_DENSITY and block is not container:
            ids.add(block.node.mem_id)
    for found in node.css(_SELECTOR):
        key = found.mem_id
        if key == own or key in ids or not _unwanted(found):
            continue
        size = by_id[key].size if key in by_id else len(found.text(deep=True).strip())
        if size < total * KEEP_SHARE:
            ids.add(key)
    if drop:
        ids.update(found.mem_id for found in node.css(", ".join(drop)) if found.mem_id != own)
    return frozenset(ids)


def _under(container: Block) -> Iterable[Block]:
    stack = [container]
    while stack:
        block = stack.pop()
        yield block
        stack.extend(block.children)


def _unwanted(node: LexborNode) -> bool:
    if node.tag in _FURNITURE_TAGS:
        return True
    attrs = node.attributes
    marker = f"{attrs.get('class') or ''} {attrs.get('id') or ''}"
    if marker.strip() and markers().noise.search(marker):
        return True
    return bool(attrs) and node.css_matches(_DROP_OR_HIDDEN)


def trim_edges(paragraphs: Sequence[str]) -> list[str]:
    """Box openers dropped; one after ``TAIL_SHARE`` of the text ends the article."""
    opener = markers().edge_openers
    total = sum(len(p) for p in paragraphs)
    seen = 0
    kept: list[str] = []
    for paragraph in paragraphs:
        if len(paragraph) <= MAX_OPENER_CHARS and opener.match(paragraph):
            if seen >= total * TAIL_SHARE:
                break
            continue
        kept.append(paragraph)
        seen += len(paragraph)
    return kept


MIN_REPEAT_CHARS = 30


def unique(paragraphs: Sequence[str]) -> list[str]:
    """A paragraph of ``MIN_REPEAT_CHARS`` or more said again (a page that ships the article
    twice, a pull quote) is kept once."""
    seen: set[str] = set()
    kept = []
    for paragraph in paragraphs:
        if len(paragraph) >= MIN_REPEAT_CHARS:
            if paragraph in seen:
                continue
            seen.add(paragraph)
        kept.append(paragraph)
    return kept
