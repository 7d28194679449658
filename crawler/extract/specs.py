"""Value specs (``css:``, ``meta:``, ``jsonld:``, ``link:``, ``const:``) evaluated on a Document.

The schema is in ``crawler/sites/README.md``. Every function returns the values a spec gives,
in page order, whitespace collapsed, empty ones left out; callers try specs in order and take
the first that gives anything.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from selectolax.lexbor import LexborNode, SelectolaxError

from crawler.extract.dom import Document
from crawler.extract.text import normalize

log = logging.getLogger(__name__)

MAX_VALUES = 50


def values(doc: Document, spec: str, *, many: bool = False) -> list[str]:
    """What ``spec`` gives on ``doc``: one value, or every value when ``many``."""
    kind, _, rest = spec.partition(":")
    if kind == "css":
        found = _css(doc, rest, many)
    elif kind == "meta":
        found = [normalize(v) for v in doc.meta.get(rest.lower(), ())]
    elif kind == "jsonld":
        found = jsonld_values(doc.article_ld, rest)
    elif kind == "link":
        href = doc.links.get(rest.lower())
        found = [href.strip()] if href else []
    elif kind == "const":
        found = [rest]
    else:
        found = []
    found = [value for value in found if value]
    return found[:MAX_VALUES] if many else found[:1]


def first(doc: Document, specs: Sequence[str]) -> str | None:
    """The first value of the first spec that gives one."""
    for spec in specs:
        found = values(doc, spec)
        if found:
            return found[0]
    return None


def nodes(doc: Document, selector: str, *, many: bool = True) -> list[LexborNode]:
    """Elements matching a CSS selector; a selector lexbor rejects matches nothing."""
    try:
        if many:
            return list(doc.tree.css(selector))
        node = doc.tree.css_first(selector)
        return [node] if node is not None else []
    except (SelectolaxError, ValueError) as exc:
        log.warning("%s: CSS selector %r failed: %s", doc.url, selector, exc)
        return []


def _css(doc: Document, rest: str, many: bool) -> list[str]:
    selector, attribute = rest, None
    if "@" in rest:
        head, _, tail = rest.rpartition("@")
        if tail and "]" not in tail and " " not in tail:
            selector, attribute = head, tail
    found = []
    for node in nodes(doc, selector, many=many):
        if attribute is None:
            found.append(normalize(node.text(deep=True, separator=" ")))
        else:
            found.append(normalize(node.attributes.get(attribute) or ""))
    return found


def jsonld_values(obj: dict[str, Any] | None, path: str) -> list[str]:
    """Strings at a dotted path in a JSON-LD object; lists are walked, a string standing
    where an object was expected is the value itself (``author: "X"`` for ``author.name``)."""
    if obj is None:
        return []
    current: list[Any] = [obj]
    for key in path.split("."):
        following: list[Any] = []
        for item in current:
            for element in item if isinstance(item, list) else [item]:
                if isinstance(element, dict):
                    if key in element:
                        following.append(element[key])
                elif isinstance(element, str):
                    following.append(element)
        current = following
    out: list[str] = []
    for item in current:
        for element in item if isinstance(item, list) else [item]:
            if isinstance(element, str | int | float) and not isinstance(element, bool):
                text = normalize(str(element))
                if text:
                    out.append(text)
    return out
