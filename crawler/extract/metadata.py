"""Article fields from page metadata, and the clean-up every field gets.

``FALLBACK`` lists, per field, the machine metadata tried after a site's own specs (and, for
unknown sites, instead of them): JSON-LD, OpenGraph, ``article:*``, portal meta tags such as
kompas' ``content_PublishedDate`` / ``content_author`` and detik's ``dtk:*``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from crawler.extract import specs
from crawler.extract.dates import ZoneMode, parse_dates
from crawler.extract.dom import Document
from crawler.extract.text import normalize

FALLBACK: dict[str, tuple[str, ...]] = {
    "title": (
        "meta:og:title", "jsonld:headline", "meta:twitter:title", "meta:title", "css:h1", "css:title",
    ),
    "published": (
        "jsonld:datePublished", "meta:article:published_time", "meta:datePublished",
        "meta:content_PublishedDate", "meta:publishdate", "meta:pubdate", "meta:dtk:publishdate",
        "meta:publish-date", "meta:publish_date", "meta:dc.date.issued", "meta:dc.date",
        "meta:og:published_time", "meta:date", "meta:dateCreated", "meta:dtk:createddate",
        "jsonld:dateCreated", "css:time[datetime]@datetime",
    ),
    "updated": (
        "jsonld:dateModified", "meta:article:modified_time", "meta:dateModified",
        "meta:og:updated_time", "meta:last-modified",
    ),
    "authors": (
        "jsonld:author.name", "meta:content_author", "meta:author", "meta:dc.creator",
        "meta:article:author", "css:[rel=author]", "css:[itemprop=author] [itemprop=name]",
    ),
    "section": (
        "meta:article:section", "jsonld:articleSection", "meta:content_category",
        "meta:dtk:kanal", "meta:section",
    ),
    "tags": (
        "meta:news_keywords", "meta:article:tag", "meta:content_tag", "jsonld:keywords",
        "meta:keywords",
    ),
    "image": ("meta:og:image", "jsonld:image.url", "meta:twitter:image", "meta:twitter:image:src"),
    "canonical": ("link:canonical", "meta:og:url"),
}

_TITLE_SEPARATORS = re.compile(r"\s+[-|–—:•]{1,2}\s+")
_AUTHOR_PREFIX = re.compile(
    r"^(?:oleh|penulis|reporter|pewarta|wartawan|kontributor|laporan(?:\s+wartawan)?|by|written by|"
    r"author)\b\s*[:\-]?\s*",
    re.IGNORECASE,
)
_DEFAULT_AUTHOR_SPLIT = re.compile(r"\s*(?:,|;|&|\||\bdan\b|\band\b)\s*", re.IGNORECASE)
_NOT_A_NAME = re.compile(r"https?://|www\.|@|\.com\b|\.co\.id\b", re.IGNORECASE)
_NOBODY = frozenset({"admin", "redaksi", "tim redaksi"})
# credits of photos and editing, not writers: "Dok. Humas", "Foto: X", "Editor: Y"
_CREDIT = re.compile(
    r"^(?:dok|dokumentasi|foto|fotografer|photo|image|gambar|ilustrasi|video|sumber|source|editor|"
    r"redaktur|penyunting|edited by|photographer)\b\s*[.:]?",
    re.IGNORECASE,
)
MAX_TAGS = 50
_TAG_SPLIT = re.compile(r"\s*[,;]\s*")


@dataclass(frozen=True)
class Dates:
    published: str | None
    updated: str | None


def site_names(doc: Document, extra: Sequence[str] = ()) -> tuple[str, ...]:
    """Lower-case names a page's publisher goes by (og:site_name, the domain's main label)."""
    names = [name.lower() for name in extra if name]
    site_name = doc.first_meta("og:site_name")
    if site_name:
        names.append(site_name.lower())
    stem = domain_stem(doc.url)
    if stem:
        names.append(stem)
    return tuple(dict.fromkeys(n for n in names if len(n) >= 3))


def domain_stem(url: str) -> str | None:
    """``kompas`` for ``https://regional.kompas.com/...``, ``republika`` for ``*.republika.co.id``."""
    host = (urlsplit(url).hostname or "").lower()
    labels = [label for label in host.split(".") if label]
    if len(labels) < 2:
        return labels[0] if labels else None
    second_level = {"co", "or", "ac", "go", "web", "my", "sch", "net", "com", "org", "gov", "edu"}
    if len(labels) >= 3 and labels[-2] in second_level:
        return labels[-3]
    return labels[-2]


def clean_title(title: str, strip: Sequence[re.Pattern[str]], names: Sequence[str]) -> str:
    """Remove the site's ``title_strip`` patterns and the site's name where it stands before or
    after the headline ("Headline - Site Name", "Site.com: Headline", "Site | Headline"); the
    patterns run before and after the name goes, so they may assume either."""
    title = _strip_all(title, strip)
    parts = _TITLE_SEPARATORS.split(title)
    if len(parts) > 1 and _names_site(parts[-1], names):
        cut = list(_TITLE_SEPARATORS.finditer(title))[-1].start()
        title = _strip_all(title[:cut], strip)
    prefix = _TITLE_PREFIX.match(title)
    if prefix and _names_site(prefix["name"], names) and len(title) - prefix.end() >= MIN_TITLE_CHARS:
        title = _strip_all(title[prefix.end() :], strip)
    return title


_TITLE_PREFIX = re.compile(r"^(?P<name>[^:|–—•]{2,40}?)\s*(?::|\s[-|–—•]{1,2})\s+")
MIN_TITLE_CHARS = 10


def _names_site(segment: str, names: Sequence[str]) -> bool:
    squashed = re.sub(r"[\s.]", "", segment.lower())
    return any(re.sub(r"[\s.]", "", name) in squashed for name in names)


def _strip_all(title: str, strip: Sequence[re.Pattern[str]]) -> str:
    for pattern in strip:
        title = pattern.sub("", title)
    return normalize(title)


def clean_authors(
    raw: Sequence[str], split: re.Pattern[str] | None, names: Sequence[str]
) -> list[str]:
    """Names split, prefixes ("Oleh", "Penulis:") removed, publishers and URLs left out."""
    out: dict[str, str] = {}
    for value in raw:
        if _CREDIT.match(normalize(value)):
            continue
        for name in (split or _DEFAULT_AUTHOR_SPLIT).split(value):
            name = normalize(_AUTHOR_PREFIX.sub("", normalize(name))).strip(" ,.;:-|()")
            if not name or len(name) > 80 or not any(c.isalpha() for c in name):
                continue
            if _NOT_A_NAME.search(name) or _CREDIT.match(name) or name.lower() in _NOBODY:
                continue
            squashed = re.sub(r"[\s.]", "", name.lower())
            if any(re.sub(r"[\s.]", "", site) in squashed for site in names):
                continue
            out.setdefault(name.lower(), name)
    return list(out.values())


def split_tags(raw: Sequence[str], drop: Sequence[re.Pattern[str]] = ()) -> list[str]:
    """Tags split on commas and semicolons, a leading ``#`` removed, matches of ``drop`` left
    out, duplicates (ignoring case) once, at most ``MAX_TAGS``."""
    out: dict[str, str] = {}
    for value in raw:
        for tag in _TAG_SPLIT.split(value):
            tag = normalize(tag).lstrip("#").strip()
            if tag and len(tag) <= 100 and not any(p.search(tag) for p in drop):
                out.setdefault(tag.lower(), tag)
    return list(out.values())[:MAX_TAGS]


def resolve_dates(
    doc: Document,
    published_specs: Sequence[str],
    updated_specs: Sequence[str],
    tz: str,
    *,
    dates_zone: ZoneMode = "as_given",
    fetched: datetime | None = None,
) -> Dates:
    """Published: the first spec with a date. Updated: a "Diperbarui" part of any date text,
    else the first updated spec with a date; an updated equal to published is None."""
    published = updated = None
    for spec in published_specs:
        for text in specs.values(doc, spec):
            pair = parse_dates(text, tz, zone=_zone_for(spec, dates_zone), not_after=fetched)
            if pair.published:
                published, updated = pair.published, pair.updated
                break
        if published:
            break
    if updated is None:
        for spec in updated_specs:
            found = None
            for text in specs.values(doc, spec):
                pair = parse_dates(text, tz, zone=_zone_for(spec, dates_zone), not_after=fetched)
                found = pair.updated or pair.published
            if found:
                updated = found
                break
    return Dates(published, None if updated == published else updated)


def _zone_for(spec: str, dates_zone: ZoneMode) -> ZoneMode:
    return dates_zone if dates_zone == "kept" or spec.startswith(("meta:", "jsonld:")) else "as_given"
