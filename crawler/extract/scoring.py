"""Reading the whole tree of a page without rules: which elements hold the article's text.

One walk over ``<body>`` (iterative, no recursion) builds a ``Block`` for every block-level
element with, for its whole subtree: characters outside links (``text``), inside links
(``linked``) and in prose runs (``prose``: runs of at least ``MIN_RUN_CHARS`` characters outside
links). Each prose run earns points (1, plus one per comma, plus one per 100 characters up to
three) for the element that holds its paragraph and, decaying, for up to ``len(CREDIT)``
ancestors above it, so a container whose paragraphs sit two to four wrappers deep still
collects their credit. A candidate's score is its points times (1 - link density), times a
factor for article-ish or furniture-ish class and id words (``generic.yaml``).

``containers`` turns a candidate into the elements to read: it climbs through wrappers that add
(almost) nothing, then joins the siblings that belong to the article (prose, few links, no
furniture words), the whole run between the first and the last of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml
from selectolax.lexbor import LexborNode

from crawler.extract import tags
from crawler.extract.text import BLOCK_TAGS, SKIP_TAGS

MIN_RUN_CHARS = 25
CREDIT = (1.0, 1 / 2, 1 / 3, 1 / 4, 1 / 5)
WRAPPER_GAIN = 1.15  # a parent with at most this much more text than its child is a wrapper
SIBLING_MAX_LINK_DENSITY = 0.3
NOISE_FACTOR = 0.3
GOOD_FACTOR = 1.25
CANDIDATES = 6

# Elements whose text is never an article's, skipped while scoring (still read, and cleaned,
# when they sit inside a chosen container). ``form`` is not among them: some sites wrap the
# whole page in one.
SCORE_SKIP = (SKIP_TAGS - {"form"}) | {"nav", "footer", "aside", "header", "select", "button"}
# Their text counts as link text (furniture) in the sizes of the blocks around them.
FURNITURE = frozenset({"nav", "footer", "aside", "header"})
# Paragraph-like holders pass their credit to their parent first (a ``<p>`` is never the
# container of an article; the element around the paragraphs is).
PARAGRAPH_TAGS = frozenset({"p", "li", "dd", "dt", "pre", "h2", "h3", "h4", "h5", "h6", "td", "th"})
HOLDER_TAGS = BLOCK_TAGS | {"td", "article", "section", "main", "body", "blockquote"}
_SKIP_IDS, _FURNITURE_IDS, _HOLDER_IDS = tags.ids(SCORE_SKIP), tags.ids(FURNITURE), tags.ids(HOLDER_TAGS)
_PARAGRAPH_IDS = tags.ids(PARAGRAPH_TAGS)
_TEXT, _BR, _A = tags.TEXT, tags.tag_id("br"), tags.tag_id("a")
_BLANK_LINE = re.compile(r"\n\s*\n")


class Block:
    """One block-level element and what its subtree holds."""

    __slots__ = ("children", "linked", "node", "parent", "pieces", "points", "prose", "tag", "text")

    def __init__(self, node: LexborNode, parent: Block | None, tag: int = 0) -> None:
        self.node = node
        self.parent = parent
        self.tag = tag  # lexbor's tag id (``tags``)
        self.text = 0
        self.linked = 0
        self.prose = 0
        self.points = 0.0
        self.pieces: list[str] = []
        self.children: list[Block] = []

    @property
    def link_density(self) -> float:
        total = self.text + self.linked
        return self.linked / total if total else 1.0

    @property
    def size(self) -> int:
        return self.text + self.linked


@dataclass(frozen=True)
class Markers:
    """The heuristics of ``generic.yaml``, ready to use."""

    noise_words: tuple[str, ...]
    noise_classes: frozenset[str]
    good_words: tuple[str, ...]
    edge_openers: re.Pattern[str]
    metadata_itemprops: tuple[str, ...]
    captions: tuple[re.Pattern[str], ...]

    def furniture(self, marker: str) -> bool:
        """Whether a class-and-id string names page furniture (plain substring tests: a
        regex alternation of the same words costs ten times more on long class lists)."""
        lowered = marker.lower()
        return any(word in lowered for word in self.noise_words) or not self.noise_classes.isdisjoint(
            lowered.split()
        )

    def is_caption(self, paragraph: str) -> bool:
        """Whether a paragraph is a caption or credit (one search per pattern: an alternation
        of them is tried at every position for every alternative, twice as slow here)."""
        return any(pattern.search(paragraph) for pattern in self.captions)

    def articleish(self, marker: str) -> bool:
        lowered = marker.lower()
        return any(word in lowered for word in self.good_words)


@lru_cache(maxsize=1)
def markers() -> Markers:
    data: dict[str, Any] = yaml.safe_load(
        resources.files("crawler.extract").joinpath("generic.yaml").read_text("utf-8")
    )
    openers = [phrase for phrases in data["edge_openers"].values() for phrase in phrases]
    return Markers(
        noise_words=tuple(word.lower() for word in data["noise_markers"]),
        noise_classes=frozenset(name.lower() for name in data["noise_classes"]),
        good_words=tuple(word.lower() for word in data["good_markers"]),
        edge_openers=re.compile(
            r"^(?:" + "|".join(openers) + r")\s*(?:[:\-–—|»›>.!…]+.*)?$", re.IGNORECASE
        ),
        metadata_itemprops=tuple(data["metadata_itemprops"]),
        captions=tuple(re.compile(pattern, re.IGNORECASE) for pattern in data["caption_patterns"]),
    )


def analyse(body: LexborNode) -> list[Block]:
    """Blocks of the subtree in document order (the first is ``body``'s own)."""
    root = Block(body, None, body.tag_id)
    blocks = [root]
    # where to go on after a subtree: (next sibling, block, linked) of the element descended into
    stack: list[tuple[LexborNode | None, Block, bool]] = []
    push = stack.append
    pop = stack.pop
    skip, holders, furniture = _SKIP_IDS, _HOLDER_IDS, _FURNITURE_IDS
    block, linked = root, False
    node = body.first_child
    while True:
        if node is None:
            if not stack:
                break
            node, outer, linked = pop()
            if outer is not block:
                _finish(block)
                block = outer
            continue
        tag = node.tag_id
        if tag == _TEXT:
            text = node.text_content
            if text:
                size = len(text.strip())
                if size:
                    if linked:
                        block.linked += size
                    else:
                        block.text += size
                        block.pieces.append(text)
            node = node.next
            continue
        if tag == _BR:
            block.pieces.append("\n\n")
            node = node.next
            continue
        if tag in skip:
            if tag in furniture:  # not read, but counted: a wrapper holding it is no wrapper
                block.linked += len(node.text(deep=True).strip())
            node = node.next
            continue
        child = node.first_child
        if tag in holders:
            inner = Block(node, block, tag)
            block.children.append(inner)
            blocks.append(inner)
            if child is None:
                _finish(inner)
                node = node.next
                continue
            push((node.next, block, linked))
            block = inner
        elif child is None:
            node = node.next
            continue
        else:
            push((node.next, block, linked))
            if tag == _A:
                linked = True
        node = child
    _finish(root)
    return blocks


def _finish(block: Block) -> None:
    """A block's subtree is read: score its own prose runs, add its totals to its parent."""
    if block.pieces:
        _score_runs(block)
    parent = block.parent
    if parent is not None:
        parent.text += block.text
        parent.linked += block.linked
        parent.prose += block.prose


def _score_runs(block: Block) -> None:
    """Points for the block's own prose runs, to it (or, for a paragraph, its parent) and the
    ancestors above."""
    points = 0.0
    joined = "".join(block.pieces)
    block.pieces = []
    # collapsing whitespace only shortens: a shorter text holds no prose run
    if len(joined) < MIN_RUN_CHARS:
        return
    runs = _BLANK_LINE.split(joined) if joined.count("\n") > 1 else (joined,)
    for piece in runs:
        run = " ".join(piece.split())
        if len(run) >= MIN_RUN_CHARS:
            block.prose += len(run)
            points += 1 + run.count(",") + min(len(run) / 100, 3)
    if not points:
        return
    target: Block | None = block
    if block.tag in _PARAGRAPH_IDS and block.parent is not None:
        target = block.parent
    for weight in CREDIT:
        if target is None:
            break
        target.points += points * weight
        target = target.parent


def marker_factor(node: LexborNode) -> float:
    attrs = node.attrs  # looked up one by one: ``attributes`` builds a dict of them all
    return _factor(f"{attrs.get('class') or ''} {attrs.get('id') or ''}")


@lru_cache(maxsize=4096)
def _factor(marker: str) -> float:
    """The factor of a class-and-id string (cached: the same wrappers recur on every page of a
    site and for every candidate below them)."""
    if not marker.strip():
        return 1.0
    found = markers()
    if found.furniture(marker):
        return NOISE_FACTOR
    if found.articleish(marker):
        return GOOD_FACTOR
    return 1.0


def is_noise(node: LexborNode) -> bool:
    return marker_factor(node) == NOISE_FACTOR


ANCESTORS_CHECKED = 3


def _surroundings(block: Block) -> float:
    """NOISE_FACTOR when one of the nearest ancestors carries a furniture word (a comment's
    text, a teaser in a sidebar), else 1."""
    parent = block.parent
    for _ in range(ANCESTORS_CHECKED):
        if parent is None or parent.parent is None:
            return 1.0
        if is_noise(parent.node):
            return NOISE_FACTOR
        parent = parent.parent
    return 1.0


def ranked(blocks: list[Block]) -> list[Block]:
    """The best candidate containers first."""
    scored = [(block.points * (1 - block.link_density), block) for block in blocks if block.points]
    scored.sort(key=lambda item: item[0], reverse=True)
    top = scored[: CANDIDATES * 3]
    final = [(score * marker_factor(block.node) * _surroundings(block), block) for score, block in top]
    final.sort(key=lambda item: item[0], reverse=True)
    return [block for _, block in final[:CANDIDATES]]


def containers(candidate: Block) -> list[Block]:
    """The elements to read for a candidate: wrappers climbed, article siblings joined."""
    block = candidate
    while block.parent is not None and block.parent.parent is not None and (
        block.parent.size <= candidate.size * WRAPPER_GAIN or _close_behind(block.parent, block)
    ):
        block = block.parent
    parent = block.parent
    if parent is None:
        return [block]
    siblings = parent.children
    here = siblings.index(block)
    first = _extend(siblings, here, -1)
    last = _extend(siblings, here, 1)
    return [s for s in siblings[first : last + 1] if s is block or not _foreign(s)]


PARENT_SCORE_SHARE = 0.85
PARENT_EXTRA_LINK_DENSITY = 0.05


def _score(block: Block) -> float:
    return block.points * (1 - block.link_density)


def _close_behind(parent: Block, block: Block) -> bool:
    """A parent that scores nearly as well as its child while adding prose, not links: the
    article spreads over the child's siblings (a lead paragraph outside the "read more" part)."""
    return (
        parent.prose > block.prose
        and _score(parent) >= PARENT_SCORE_SHARE * _score(block)
        and parent.link_density <= block.link_density + PARENT_EXTRA_LINK_DENSITY
        and not is_noise(parent.node)
    )


MAX_SIBLING_GAP = 3


def _extend(siblings: list[Block], here: int, step: int) -> int:
    """How far the article's run of siblings reaches from ``here`` in one direction: up to the
    last sibling that belongs, over gaps of at most ``MAX_SIBLING_GAP`` others."""
    reach, gap, i = here, 0, here + step
    while 0 <= i < len(siblings) and gap <= MAX_SIBLING_GAP:
        if _belongs(siblings[i], siblings[here]):
            reach, gap = i, 0
        else:
            gap += 1
        i += step
    return reach


def _belongs(sibling: Block, block: Block) -> bool:
    """A sibling that is part of the article: prose with few links, and a paragraph or an
    element made like the candidate (same tag and class: one wrapper per paragraph)."""
    if sibling.link_density > SIBLING_MAX_LINK_DENSITY or sibling.prose < MIN_RUN_CHARS:
        return False
    node = sibling.node
    if sibling.tag not in _PARAGRAPH_IDS and (sibling.tag != block.tag or not _same_kind(node, block.node)):
        return False
    return not is_noise(node)


def _same_kind(one: LexborNode, other: LexborNode) -> bool:
    """Elements of one kind: no class on either, or a class name in common."""
    ours, theirs = (one.attrs.get("class") or "").split(), (other.attrs.get("class") or "").split()
    return ours == theirs or not set(ours).isdisjoint(theirs)


def _foreign(sibling: Block) -> bool:
    """A sibling between article siblings that is furniture: links or furniture words."""
    return (sibling.size > 0 and sibling.link_density > 0.5) or is_noise(sibling.node)
