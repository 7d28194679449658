"""Cleaning the containers the generic extractor chose, without modifying the tree.

Inside a container, these are left out (by ``mem_id``, so a later candidate can still be read
whole): the default drop selectors, furniture tags (``nav``, ``aside``, ``footer``, ``header``,
``form``, ``button``), elements whose class or id carries a furniture word (``generic.yaml``),
hidden elements, and blocks that are mostly link text. The element the scorer chose and
those around it are never left out, nor is one holding at least ``KEEP_SHARE`` of the
container's text for its tag, words or hiddenness: many pages ship the whole article in a
hidden or "paywall" element.

After the text is read, boxes at the edges go: a short paragraph that opens a box of links or
promotion ("Related", "Read more", "Baca juga", "Jangan lewatkan", newsletter and share bars)
is dropped, and when it sits after ``TAIL_SHARE`` of the text, it ends the article.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from selectolax.lexbor import LexborNode

from crawler.extract import boilerplate
from crawler.extract.scoring import NOISE_FACTOR, Block, _factor, markers
from crawler.extract.text import SKIP_TAGS

KEEP_SHARE = 0.8
MAX_BLOCK_LINK_DENSITY = 0.5
MAX_OPENER_CHARS = 80
TAIL_SHARE = 0.5
TAIL_PROSE_CHARS = 200
READ_SKIP = SKIP_TAGS - {"form"}
_HIDDEN = (
    "[hidden]", "[aria-hidden=true]", "[style*='display:none' i]", "[style*='display: none' i]",
    "[style*='visibility:hidden' i]",
)
_FURNITURE_TAGS = ("nav", "aside", "footer", "header", "form", "button")
_DROP = tuple(s for s in boilerplate.DROP_SELECTORS if s not in {"[hidden]", "[aria-hidden=true]"})
# one ``[itemprop]`` selector and a set lookup: a selector per name costs the CSS engine a test
# of every element for each of them
_METADATA = frozenset(markers().metadata_itemprops)
_SELECTOR = ", ".join((*_DROP, *_HIDDEN, *_FURNITURE_TAGS))


def left_out(container: Block, drop: Sequence[str] = (), candidate: Block | None = None) -> frozenset[int]:
    """``mem_id`` of every element inside the container that is not article text. The
    candidate the scorer chose, and the blocks between it and the container, always stay."""
    node = container.node
    keep_from = max(container.size, 1) * KEEP_SHARE
    protected = set()
    while candidate is not None and candidate is not container:
        protected.add(candidate.node.mem_id)
        candidate = candidate.parent
    ids: set[int] = set()
    sizes: dict[int, int] = {}
    stack = list(container.children)
    while stack:  # blocks: link lists and furniture words, checked from the top down
        block = stack.pop()
        key = block.node.mem_id
        sizes[key] = block.size
        if key in protected:
            stack.extend(block.children)
            continue
        if block.size and block.link_density > MAX_BLOCK_LINK_DENSITY:
            ids.add(key)
            continue
        if block.size < keep_from:
            attrs = block.node.attrs
            marker = f"{attrs.get('class') or ''} {attrs.get('id') or ''}"
            if len(marker) > 1 and _furniture(marker):
                ids.add(key)
                continue
        stack.extend(block.children)
    own = node.mem_id
    for found in _elements_left_out(node):
        key = found.mem_id
        if key == own or key in ids or key in protected:
            continue
        size = sizes[key] if key in sizes else len(found.text(deep=True).strip())
        if size < keep_from:
            ids.add(key)
    if drop:
        ids.update(found.mem_id for found in node.css(", ".join(drop)) if found.mem_id != own)
    return frozenset(ids)


def _elements_left_out(node: LexborNode) -> Iterator[LexborNode]:
    """Any element by tag, hidden-ness, drop list or metadata microdata (the same element may
    come twice)."""
    yield from node.css(_SELECTOR)
    for found in node.css("[itemprop]"):
        if found.attrs.get("itemprop") in _METADATA:
            yield found


def _furniture(marker: str) -> bool:
    return _factor(marker) == NOISE_FACTOR


def _under(container: Block) -> Iterable[Block]:
    stack = [container]
    while stack:
        block = stack.pop()
        yield block
        stack.extend(block.children)


def trim_edges(paragraphs: Sequence[str]) -> list[str]:
    """Box openers and photo captions dropped; an opener after ``TAIL_SHARE`` of the text,
    followed by no more article prose (``TAIL_PROSE_CHARS`` in one paragraph), ends it."""
    found = markers()
    total = sum(len(p) for p in paragraphs)
    seen = 0
    kept: list[str] = []
    for i, paragraph in enumerate(paragraphs):
        if len(paragraph) <= MAX_OPENER_CHARS and found.edge_openers.match(paragraph):
            rest = paragraphs[i + 1 :]
            if seen >= total * TAIL_SHARE and not any(len(p) >= TAIL_PROSE_CHARS for p in rest):
                break
            continue
        if found.is_caption(paragraph):
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
