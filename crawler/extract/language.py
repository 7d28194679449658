"""The language a page is written in, from what it declares, checked against its text.

Templates often ship a default ``<html lang="en">`` that no editor changes, while the same page
declares its real language elsewhere (``<meta http-equiv="Content-Language" content="id">``,
``og:locale``, JSON-LD ``inLanguage``). When the declarations agree, they are the answer; when
they disagree, the declared language whose common function words are most frequent in the
page's paragraphs wins: only declared languages compete, so a short or mixed text cannot make up
a language the page never claimed. A page that declares nothing is read by its text when it
has enough of it, else it gets the caller's default. The language matters beyond the record's own field: it
decides the zone of shown times without an offset (``crawler.extract.engine.default_zone``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from crawler.extract.dom import Document

# A dozen or so of the most frequent function words per language: enough to tell declared
# languages apart on a few paragraphs, not a language identifier.
FUNCTION_WORDS: dict[str, frozenset[str]] = {
    "id": frozenset("yang dan di ini itu dengan untuk dari tidak dalam akan pada juga ke karena "
                    "ada bahwa atau oleh sudah".split()),
    "en": frozenset("the and of to in is that for with was on it as are by this be from at".split()),
    "de": frozenset("der die und das ist nicht mit den von sich auch auf für ein eine dem".split()),
    "fr": frozenset("le la les et des est une pour dans que qui pas sur au du avec".split()),
    "es": frozenset("el la los las y que en del por con una para es se lo".split()),
    "pt": frozenset("o a os as e que do da em um uma para com não por se".split()),
    "it": frozenset("il di che e la per un una non con del della sono le si".split()),
    "nl": frozenset("de het een en van in is op dat niet met voor zijn te".split()),
}
_WORD = re.compile(r"[^\W\d_]+")
_PRIMARY = re.compile(r"[a-z]{2,3}")
MAX_PARAGRAPHS = 40
MIN_UNDECLARED_HITS = 10


def primary(raw: str | None) -> str | None:
    """The primary subtag of a BCP 47 tag or a locale (``id-ID``, ``id_ID``, ``EN``), else None."""
    head = (raw or "").strip().lower().replace("_", "-").split("-")[0]
    return head if _PRIMARY.fullmatch(head) else None


def declared(doc: Document) -> list[str]:
    """The page's declared languages, most specific declaration first, each once."""
    root = doc.tree.root
    found = [
        root.attributes.get("lang") if root is not None else None,
        doc.first_meta("content-language"),
        doc.first_meta("language"),
        doc.first_meta("og:locale"),
        _jsonld_language(doc),
    ]
    return list(dict.fromkeys(code for code in map(primary, found) if code))


def _jsonld_language(doc: Document) -> str | None:
    article = doc.article_ld
    value = article.get("inLanguage") if article else None
    return value if isinstance(value, str) else None


def language_of(doc: Document, default: str = "id") -> str:
    """The page's primary language (``id``, ``en``, …): its declarations, checked against its
    text when they disagree; ``default`` when it declares none."""
    candidates = declared(doc)
    if not candidates:  # undeclared: the text decides, given enough of it
        return _by_text(FUNCTION_WORDS, _paragraph_words(doc), at_least=MIN_UNDECLARED_HITS) or default
    if len(candidates) == 1:
        return candidates[0]
    return _by_text(candidates, _paragraph_words(doc)) or candidates[0]


def _paragraph_words(doc: Document) -> list[str]:
    words: list[str] = []
    for node in doc.tree.css("p")[:MAX_PARAGRAPHS]:
        words.extend(_WORD.findall(node.text(deep=True).lower()))
    return words


def _by_text(candidates: Iterable[str], words: list[str], *, at_least: int = 1) -> str | None:
    """The candidate whose function words are most frequent in ``words``; None when none has
    ``at_least`` hits."""
    best, best_hits = None, at_least - 1
    for code in candidates:
        vocabulary = FUNCTION_WORDS.get(code)
        if vocabulary is None:
            continue
        hits = sum(word in vocabulary for word in words)
        if hits > best_hits:
            best, best_hits = code, hits
    return best
