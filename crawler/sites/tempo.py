"""Tempo.co: what its rules cannot say.

* Tempo English (en.tempo.co) is a domain of the site whose articles are in English, while the
  site's ``language`` is ``id``: the language follows the host.
* The 2015 "Topik" list writes tags as hashtags (``#Info Kesehatan``); the tag is the name.

Both are requests for the rules engine (/work/notes/engine-requests.md, items 4 and 5); this
hook can go once the engine says them.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser

from crawler.models import Article, Page

ENGLISH_HOSTS = ("en.tempo.co",)


def _is_english(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return any(host == name or host.endswith("." + name) for name in ENGLISH_HOSTS)


def _tag_name(tag: str) -> str:
    return tag.strip().lstrip("#").strip()


def postprocess(article: Article, page: Page, tree: LexborHTMLParser) -> Article:
    """Set ``language`` from the host and strip the hashtag sign from tags."""
    language = "en" if _is_english(page.effective_url) else article.language
    tags = tuple(name for name in map(_tag_name, article.tags) if name)
    return replace(article, language=language, tags=tags)
