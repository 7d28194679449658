"""The rules engine: a site's compiled profile, the choice of layout generation, and the
fields of one page from its rules with page metadata and the generic extractor behind them."""

from __future__ import annotations

import importlib
import importlib.util
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from selectolax.lexbor import LexborHTMLParser

from crawler.extract import boilerplate, generic, metadata, specs
from crawler.extract.dom import Document
from crawler.extract.language import language_of
from crawler.extract.text import Cleaner, paragraphs, remove
from crawler.models import Article, Page
from crawler.profile import Generation
from crawler.sites_index import host_of, longest_domain, normal_domain

if TYPE_CHECKING:  # crawler.config imports crawler.profile: no import cycle at run time
    from crawler.config import Site

Hook = Callable[[Article, Page, LexborHTMLParser], Article]


@dataclass(frozen=True)
class CompiledGeneration:
    """One generation with its regexes compiled and its selectors split out."""

    spec: Generation
    cleaner: Cleaner
    title_strip: tuple[re.Pattern[str], ...]
    authors_pattern: re.Pattern[str] | None
    authors_split: re.Pattern[str] | None
    drop: tuple[str, ...]
    tags_drop: tuple[re.Pattern[str], ...]

    @classmethod
    def build(cls, spec: Generation) -> CompiledGeneration:
        return cls(
            spec=spec,
            cleaner=Cleaner.build(spec.drop_text, spec.stop_text),
            title_strip=tuple(re.compile(p) for p in spec.title_strip),
            authors_pattern=re.compile(spec.authors_pattern) if spec.authors_pattern else None,
            authors_split=re.compile(spec.authors_split) if spec.authors_split else None,
            drop=tuple(d[4:] for d in spec.drop if d.startswith("css:")),
            tags_drop=tuple(re.compile(p) for p in spec.tags_drop),
        )


@dataclass(frozen=True)
class SiteRules:
    """A site profile ready to run: compiled generations, URL patterns and the code hook."""

    site: Site
    generations: tuple[CompiledGeneration, ...]
    article_urls: tuple[re.Pattern[str], ...]
    hook: Hook | None

    @classmethod
    def build(cls, site: Site) -> SiteRules:
        return cls(
            site=site,
            generations=tuple(CompiledGeneration.build(g) for g in site.generations),
            article_urls=tuple(re.compile(p) for p in site.article_urls),
            hook=_load_hook(site.id),
        )

    def choose(self, doc: Document, fetched: datetime | None) -> CompiledGeneration | None:
        """The generation for this page (fundus rule): those still valid on the capture date
        come first, oldest first, then the expired ones, newest first; the first whose
        ``detect`` selector matches (or that has none) wins. Without a capture date every
        generation counts as valid."""
        day = fetched.astimezone(UTC).date() if fetched is not None else None
        valid = [g for g in self.generations if _valid_on(g.spec, day)]
        expired = [g for g in reversed(self.generations) if not _valid_on(g.spec, day)]
        for generation in (*valid, *expired):
            detect = generation.spec.detect
            if detect is None or specs.nodes(doc, detect, many=False):
                return generation
        return None


def _valid_on(spec: Generation, day: date | None) -> bool:
    return day is None or spec.valid_until is None or day < spec.valid_until


def _load_hook(site_id: str) -> Hook | None:
    """``crawler.sites.<id>.postprocess`` when that module exists."""
    name = f"crawler.sites.{site_id.replace('-', '_')}"
    try:
        if importlib.util.find_spec(name) is None:
            return None
    except (ImportError, ValueError):
        return None
    module = importlib.import_module(name)
    hook: Any = getattr(module, "postprocess", None)
    return hook if callable(hook) else None


@dataclass(frozen=True)
class Fields:
    """Everything found on one page, before it becomes an Article. ``body`` is None when no
    container was found at all (neither by the rules nor by the generic scorer)."""

    title: str
    body: tuple[str, ...] | None
    authors: tuple[str, ...]
    published: str | None
    updated: str | None
    section: str | None
    tags: tuple[str, ...]
    image: str | None
    canonical: str | None
    language: str
    fallbacks: tuple[str, ...] = ()


def extract_fields(
    doc: Document, rules: SiteRules | None, generation: CompiledGeneration | None, fetched: datetime | None
) -> Fields:
    """Fields by the generation's specs; a field the generation does not set is read from page
    metadata (``metadata.FALLBACK``); the body falls back to the generic extractor. Every field
    is read before the body, whose clean-up removes nodes."""
    spec = generation.spec if generation else None
    site = rules.site if rules else None
    names = metadata.site_names(doc, (site.id, site.name) if site else ())
    title = _title(doc, generation, names)
    language = _language(doc, site)
    tz = site.timezone if site else default_zone(language)
    dates = metadata.resolve_dates(
        doc,
        _specs(spec, "published"),
        _specs(spec, "updated"),
        tz,
        dates_zone=spec.dates_zone if spec else ("kept" if site is None else "as_given"),
        fetched=fetched,
    )
    published = dates.published
    if not _own(spec, "published") and (site is not None or published is None or "T" not in published):
        # the page's own dated metadata wins on a page without rules: its offset is explicit
        seen = generic.visible_date(doc, tz, fetched)
        published = generic.reconcile_dates(published, seen)
    updated = None if dates.updated == published else dates.updated
    authors = tuple(_authors(doc, generation, names))
    section = specs.first(doc, _specs(spec, "section"))
    tags = tuple(_tags(doc, generation))
    image = _url(doc, _specs(spec, "image"))
    canonical = _url(doc, _specs(spec, "canonical"))
    body, generic_body = _body(doc, generation, title)
    fallbacks = tuple(
        name
        for name, missing in (("title", not title), ("published", published is None), ("body", generic_body))
        if generation is not None and missing and (name == "body" or _own(spec, name))
    )
    return Fields(
        title=title,
        body=tuple(body) if body is not None else None,
        authors=authors,
        published=published,
        updated=updated,
        section=section,
        tags=tags,
        image=image,
        canonical=canonical,
        language=language,
        fallbacks=fallbacks,
    )


WIB = "+07:00"
NO_ZONE = "+00:00"


def default_zone(language: str) -> str:
    """The zone of shown times without one on a page without rules: WIB for an Indonesian page
    (the portals this crawler is for), else UTC."""
    return WIB if language == "id" else NO_ZONE


def _own(spec: Generation | None, name: str) -> bool:
    """Whether the generation sets this field itself (an explicit ``[]`` included)."""
    return spec is not None and name in spec.model_fields_set


def _specs(spec: Generation | None, name: str) -> tuple[str, ...]:
    if _own(spec, name):
        own: tuple[str, ...] = getattr(spec, name)
        return own
    return metadata.FALLBACK[name]


def _language(doc: Document, site: Site | None) -> str:
    if site is None:
        return language_of(doc)
    languages = {normal_domain(domain): language for domain, language in site.languages.items()}
    domain = longest_domain(host_of(doc.url), languages)
    return languages[domain] if domain is not None else site.language


def _title(doc: Document, generation: CompiledGeneration | None, names: Sequence[str]) -> str:
    spec = generation.spec if generation else None
    strip = generation.title_strip if generation else ()
    for one in _specs(spec, "title"):
        for value in specs.values(doc, one):
            title = metadata.clean_title(value, strip, names)
            if title:
                return title if _own(spec, "title") else generic.visible_title(doc, title)
    return ""


def _authors(doc: Document, generation: CompiledGeneration | None, names: Sequence[str]) -> list[str]:
    if generation is None or not _own(generation.spec, "authors"):
        return _fallback_authors(doc, metadata.FALLBACK["authors"], names)
    for one in generation.spec.authors:
        raw = specs.values(doc, one, many=True)
        if generation.authors_pattern is not None:
            raw = [m["v"] for value in raw for m in generation.authors_pattern.finditer(value) if m["v"]]
        found = metadata.clean_authors(raw, generation.authors_split, ())
        if found:
            return found
    return []


def _fallback_authors(doc: Document, candidates: Sequence[str], names: Sequence[str]) -> list[str]:
    """Machine metadata often names the editor or the publisher: publishers are left out, the
    first candidate list whose names a reader can see on the page is preferred, then the names
    of a visible byline, then the first candidate list. Candidates are read in order, only as
    far as needed."""
    first: list[str] = []
    visible = _VisibleText(doc)
    for spec in candidates:
        found = metadata.clean_authors(specs.values(doc, spec, many=True), None, names)
        if not found:
            continue
        if all(visible.shows(name) for name in found):
            return found
        first = first or found
    shown = generic.visible_authors(doc) or generic.labelled_authors(doc)
    byline = metadata.clean_authors(shown, None, names)
    return byline or first


class _VisibleText:
    """Whether the body's text shows a name, case and runs of whitespace ignored. The text is
    read once, on the first question, and not collapsed: the name's words are matched with
    any whitespace between them (collapsing a whole page costs far more than a search). The
    name is looked for as written first; the text is lower-cased (which costs more than a
    search) only for a name not found so."""

    def __init__(self, doc: Document) -> None:
        self._doc = doc
        self._text: str | None = None
        self._lowered: str | None = None

    def shows(self, name: str) -> bool:
        words = name.split()
        if not words:
            return True
        if self._text is None:
            body = self._doc.tree.body
            self._text = body.text(deep=True, separator=" ") if body is not None else ""
        if _words_in(words, self._text):
            return True
        if self._lowered is None:
            self._lowered = self._text.lower()
        return _words_in([word.lower() for word in words], self._lowered)


def _words_in(words: Sequence[str], text: str) -> bool:
    return re.search(r"\s+".join(map(re.escape, words)), text) is not None


def _tags(doc: Document, generation: CompiledGeneration | None) -> list[str]:
    spec = generation.spec if generation else None
    for one in _specs(spec, "tags"):
        raw = specs.values(doc, one, many=True)
        found = metadata.split_tags(raw, generation.tags_drop if generation else ())
        if found:
            return found
    return []


def _url(doc: Document, candidates: Sequence[str]) -> str | None:
    value = specs.first(doc, candidates)
    if not value:
        return None
    if value.startswith(("http://", "https://")) and " " not in value:
        return value
    absolute = doc.absolute(value)
    return absolute if absolute[:8].lower().startswith(("http://", "https://")) else None


def body_of(doc: Document, generation: CompiledGeneration | None, title: str | None) -> list[str] | None:
    """The body paragraphs from the first of the generation's containers that is on the page
    (possibly none left after clean-up: a photo story), else from the generic extractor; None
    when there is no container at all."""
    return _body(doc, generation, title)[0]


def _body(
    doc: Document, generation: CompiledGeneration | None, title: str | None
) -> tuple[list[str] | None, bool]:
    """``body_of`` and whether the generic extractor read it."""
    cleaner = generation.cleaner if generation else Cleaner.build()
    if generation is not None:
        for one in generation.spec.body:
            if not one.startswith("css:"):
                continue
            for container in specs.nodes(doc, one[4:], many=False):
                remove(container, (*boilerplate.DROP_SELECTORS, *generation.drop))
                return cleaner.keep(p.text for p in paragraphs(container)), False
    found = generic.body(doc, cleaner, title, generation.drop if generation is not None else ())
    return found or None, True
