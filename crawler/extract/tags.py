"""Tag names as lexbor's tag ids, for tree walks: ``node.tag_id`` is an int read from the node,
``node.tag`` builds a new string on every call (a fifth of a walk's time on news pages).

The ids of standard HTML tags are fixed by lexbor; a custom element's id is made per document,
so only standard names are accepted here (a name lexbor does not know raises ``ValueError``).
"""

from __future__ import annotations

from collections.abc import Iterable

from selectolax.lexbor import LexborHTMLParser

MAX_STANDARD_ID = 10_000  # lexbor numbers its own tags from 0; custom ids are far above


def _node_ids() -> dict[str, int]:
    """Text, comment and doctype nodes, which no element name can create."""
    tree = LexborHTMLParser("<!doctype html><p>x<!--c--></p>")
    document = tree.root.parent if tree.root is not None else None
    found = {node.tag: node.tag_id for node in document.traverse(include_text=True)} if document else {}
    ids = {name: found[name] for name in ("-text", "-comment", "-doctype")}
    ids["!doctype"] = ids["-doctype"]
    return ids


_SPECIAL = _node_ids()
TEXT = _SPECIAL["-text"]


def tag_id(name: str) -> int:
    if name in _SPECIAL:
        return _SPECIAL[name]
    created = LexborHTMLParser("").create_node(name).tag_id
    if created > MAX_STANDARD_ID:
        raise ValueError(f"<{name}> is not a standard HTML tag: its lexbor id differs between pages")
    return created


def ids(names: Iterable[str]) -> frozenset[int]:
    return frozenset(tag_id(name) for name in names)
