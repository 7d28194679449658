"""Article extraction: one ``Extractor`` for fixture files, live responses and WARC records.

A page goes through: charset (``charset.decode_html``) → size checks and lexbor parse
(``dom.parse``) → the site's layout generation (``engine.SiteRules.choose``) → fields by the
generation's specs, then page metadata, then the generic extractor (``engine``, ``metadata``,
``generic``) → body clean-up (``text``) → the site's code hook, if any.

Whether a page is an article: for a site with ``article_urls``, its URL must match one (else
``None``). A matching page where neither a body container of the rules nor the generic scorer
finds text raises ``ExtractionError`` with reason ``extract_empty`` (the rules no longer fit
the layout: a failure worth seeing); a rules container that is there but holds no text (a
photo story) gives an article with an empty body. For pages of
unknown sites (and sites without ``article_urls``) the evidence decides: article metadata or
enough prose in one container (``generic.looks_like_article``). Empty and binary payloads are
not articles: an empty one raises ``ExtractionError(reason="extract_empty")``, a binary one
(PDF, images, archives by magic bytes) gives ``None``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from crawler.errors import ExtractionError
from crawler.extract import dom, generic
from crawler.extract.charset import choose_encoding, decode_html
from crawler.extract.engine import CompiledGeneration, Hook, SiteRules, body_of, extract_fields
from crawler.models import Article, BuiltBy, Page
from crawler.sites_index import SiteIndex

if TYPE_CHECKING:  # crawler.config imports crawler.profile: no import cycle at run time
    from crawler.config import Site

__all__ = ["Continuation", "Extractor", "ParsedPage", "extract"]

log = logging.getLogger(__name__)

_BINARY_MAGIC = (
    b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"PK\x03\x04", b"\x1f\x8b", b"RIFF",
    b"\x00\x00\x00\x18ftyp", b"\x00\x00\x00\x20ftyp", b"ID3", b"OggS", b"\x7fELF", b"BZh", b"7z\xbc\xaf",
    b"wOFF", b"wOF2", b"\x00\x00\x01\x00",
)


@dataclass(frozen=True)
class Continuation:
    """What else to fetch for a whole multi-page article.

    ``instead``: a URL that shows the whole article on one page (fetch it instead of this one);
    ``also``: the following page(s) to fetch and join with ``Extractor.extract_joined``.
    Callers stop after the site's ``multipage.max_pages``.
    """

    instead: str | None = None
    also: tuple[str, ...] = ()


class ParsedPage:
    """A page with its parse, passed along by its one caller so that ``continuation``,
    ``generation`` and ``extract`` of the same page parse it once (``Extractor.parse``).

    The parse is made on first use; ``continuation`` and ``generation`` only read it,
    ``extract`` takes it (extraction modifies the tree) and a later reader parses again. It
    belongs to one caller at a time (a crawl hands it between threads, never shares it); the
    ``Extractor`` itself holds no per-page state and serves any number of threads.
    """

    __slots__ = ("_doc", "labels", "page")

    def __init__(self, page: Page) -> None:
        self.page = page
        self._doc: dom.Document | None = None
        self.labels: dict[str | None, str] = {}  # generation label by the ``site`` asked for

    def document(self) -> dom.Document:
        """The parse, to read (not to modify)."""
        if self._doc is None:
            self._doc = _parse(self.page)
        return self._doc

    def take_document(self) -> dom.Document:
        """The parse, to modify: it is not handed out again."""
        doc = self.document()
        self._doc = None
        return doc


PageInput = Page | ParsedPage


def _parsed(page: PageInput) -> ParsedPage:
    return page if isinstance(page, ParsedPage) else ParsedPage(page)


@dataclass(frozen=True)
class _Prepared:
    doc: dom.Document
    rules: SiteRules | None
    generation: CompiledGeneration | None


class Extractor:
    """Extracts articles with the rules of the given sites (default: every built-in site).

    Immutable once built: one Extractor serves every thread. ``continuation``, ``extract``
    and ``generation`` take a ``Page`` (parsed for that call) or a ``ParsedPage`` from
    ``parse`` (parsed once for all of them).
    """

    def __init__(self, sites: Sequence[Site] | None = None, *, site_rules: bool = True) -> None:
        from crawler.config import default_config

        if not site_rules:
            chosen: tuple[Site, ...] = ()
        else:
            chosen = default_config().sites if sites is None else tuple(sites)
        self._rules = tuple(SiteRules.build(site) for site in chosen)
        self._by_id = {rules.site.id: rules for rules in self._rules}
        # the longest domain wins, so a subsite profile wins over its parent's
        self._by_domain = SiteIndex((domain, rules) for rules in self._rules for domain in rules.site.domains)

    # ------------------------------------------------------------------ sites and URLs

    def site_for(self, url: str) -> Site | None:
        """The site whose domains include the URL's host (or a parent domain of it)."""
        rules = self._rules_for_url(url)
        return rules.site if rules else None

    def is_article_url(self, url: str) -> bool:
        """True when the URL matches its site's ``article_urls``; unknown hosts give False."""
        rules = self._rules_for_url(url)
        return bool(rules and any(p.search(url) for p in rules.article_urls))

    def _rules_for_url(self, url: str) -> SiteRules | None:
        return self._by_domain.for_url(url)

    def _rules_for(self, page: Page, site: str | None) -> SiteRules | None:
        if site is None:
            return self._rules_for_url(page.effective_url)
        if site == "generic":
            return None
        if site not in self._by_id:
            raise ExtractionError(
                f"{page.url}: unknown site {site!r}; known: {', '.join(self._by_id) or '(none)'}; "
                "pass one of those, or leave the site out to match the URL's host",
                reason="unknown_site",
            )
        return self._by_id[site]

    # ------------------------------------------------------------------ extraction

    def parse(self, page: Page) -> ParsedPage:
        """``page`` ready to be read by several calls with one parse (see ``ParsedPage``)."""
        return ParsedPage(page)

    def extract(self, page: PageInput, site: str | None = None) -> Article | None:
        """The article on ``page``, or None when the page is not an article.

        Raises ``DocumentTooLarge`` for pages over the DOM caps and ``ExtractionError``
        (reason ``extract_empty``) for empty pages and article pages without body text.
        """
        parsed = _parsed(page)
        prepared = self._prepare(parsed, site)
        if prepared is None:
            return None
        return self._article(parsed.page, prepared)

    def _prepare(self, parsed: ParsedPage, site: str | None) -> _Prepared | None:
        page = parsed.page
        rules = self._rules_for(page, site)
        if _is_empty(page.body):
            raise ExtractionError(
                f"{page.url}: the page is empty ({len(page.body)} bytes); nothing to extract",
                reason="extract_empty",
            )
        if _is_binary(page.body):
            log.debug("%s: binary payload, not an article", page.url)
            return None
        if rules is not None and rules.article_urls and not any(
            p.search(page.effective_url) or p.search(page.url) for p in rules.article_urls
        ):
            return None
        doc = parsed.take_document()
        generation = rules.choose(doc, page.fetched) if rules else None
        parsed.labels[site] = _label(rules, generation)
        return _Prepared(doc, rules, generation)

    def _article(self, page: Page, prepared: _Prepared) -> Article | None:
        doc, rules, generation = prepared.doc, prepared.rules, prepared.generation
        fields = extract_fields(doc, rules, generation, page.fetched)
        if rules is None or not rules.article_urls:
            if not generic.looks_like_article(doc, list(fields.body or ())):
                return None
        elif fields.body is None:
            gen = generation.spec.id if generation else "(no generation matched)"
            raise ExtractionError(
                f"{page.url}: no article text found with the {rules.site.id} rules (generation {gen}) "
                "nor by the generic extractor; the layout may have changed: add a generation to "
                f"crawler/sites/{rules.site.id}.yaml",
                reason="extract_empty",
            )
        site_id = rules.site.id if rules else "generic"
        article = Article(
            url=page.url,
            site=site_id,
            title=fields.title,
            body="\n\n".join(fields.body or ()),
            extractor=site_id,
            canonical_url=fields.canonical,
            authors=fields.authors,
            published=fields.published,
            updated=fields.updated,
            section=fields.section,
            tags=fields.tags,
            image=fields.image,
            language=fields.language,
            pages=1,
            source=page.source,
            built_by=BuiltBy(_label(rules, generation), fields.fallbacks),
        )
        if rules is not None and rules.hook is not None:
            article = _run_hook(rules.hook, rules.site.id, article, page, doc)
        return article

    def extract_joined(self, pages: Sequence[PageInput], site: str | None = None) -> Article | None:
        """The article of the first page with the bodies of the following pages appended in
        order (each read with the same site's rules); ``pages`` is how many were joined."""
        if not pages:
            return None
        first = self.extract(pages[0], site)
        if first is None or len(pages) == 1:
            return first
        bodies = [first.body]
        for page in pages[1:]:
            prepared = self._prepare_following(_parsed(page), site)
            if prepared is not None:
                following = body_of(prepared.doc, prepared.generation, first.title)
                bodies.extend(following or ())
        return replace(first, body="\n\n".join(b for b in bodies if b), pages=len(pages))

    def _prepare_following(self, parsed: ParsedPage, site: str | None) -> _Prepared | None:
        page = parsed.page
        rules = self._rules_for(page, site)
        if _is_empty(page.body) or _is_binary(page.body):
            return None
        doc = parsed.take_document()
        return _Prepared(doc, rules, rules.choose(doc, page.fetched) if rules else None)

    def continuation(self, page: PageInput, site: str | None = None) -> Continuation:
        """How to get the rest of a multi-page article (see ``Continuation``).

        With ``all_pages_query`` and a URL that lacks it: ``instead`` is the URL with it, when
        the page shows a next-page link (``multipage.next``), or always when the site names no
        next-page selector. Otherwise a next-page link gives ``also``.
        """
        parsed = _parsed(page)
        page = parsed.page
        rules = self._rules_for(page, site)
        if rules is None or _is_empty(page.body):
            return Continuation()
        multipage = rules.site.multipage
        if not multipage.all_pages_query and not multipage.next:
            return Continuation()
        url = page.effective_url
        next_url = self._next_page(parsed, multipage.next) if multipage.next else None
        if multipage.all_pages_query and not _has_query(url, multipage.all_pages_query):
            if next_url is not None or not multipage.next:
                return Continuation(instead=_with_query(url, multipage.all_pages_query))
            return Continuation()
        if multipage.all_pages_query:
            return Continuation()
        return Continuation(also=(next_url,)) if next_url else Continuation()

    def _next_page(self, parsed: ParsedPage, selector: str) -> str | None:
        page, doc = parsed.page, parsed.document()
        for node in doc.tree.css(selector):
            href = (node.attributes.get("href") or "").strip()
            if href and not href.startswith(("#", "javascript:")):
                absolute = doc.absolute(href)
                if absolute.split("#")[0] != page.effective_url.split("#")[0]:
                    return absolute
        return None

    def generation(self, page: PageInput, site: str | None = None) -> str:
        """``"<site>/<generation id>"`` for the rules this page is read with; ``"<site>/generic"``
        when no generation of a known site fits; ``"generic"`` for unknown sites."""
        parsed = _parsed(page)
        rules = self._rules_for(parsed.page, site)
        if rules is None:
            return "generic"
        if site in parsed.labels:
            return parsed.labels[site]
        try:
            doc = parsed.document()
        except ExtractionError:
            return f"{rules.site.id}/generic"
        label = _label(rules, rules.choose(doc, parsed.page.fetched))
        parsed.labels[site] = label
        return label


def _run_hook(hook: Hook, site_id: str, article: Article, page: Page, doc: dom.Document) -> Article:
    """The site's code hook; a failure in it becomes an ExtractionError naming the hook (a
    plug-in boundary: the page is reported, the run goes on)."""
    try:
        return hook(article, page, doc.tree)
    except Exception as exc:  # any bug in site code is reported with the page, not raised raw
        raise ExtractionError(
            f"{page.url}: crawler/sites/{site_id}.py postprocess failed: {exc!r}; fix the hook",
            reason="site_hook",
        ) from exc


def _label(rules: SiteRules | None, generation: CompiledGeneration | None) -> str:
    if rules is None:
        return "generic"
    return f"{rules.site.id}/{generation.spec.id}" if generation else f"{rules.site.id}/generic"


def _is_empty(body: bytes) -> bool:
    return not body or body.isspace()


def _is_binary(body: bytes) -> bool:
    """A payload that starts (after whitespace) like a PDF, image, archive or font."""
    return body[:1024].lstrip()[:16].startswith(_BINARY_MAGIC)


def _parse(page: Page) -> dom.Document:
    """UTF-8 pages without a BOM or NUL bytes go to the parser as bytes (lexbor reads UTF-8 and
    replaces invalid sequences as ``decode(errors="replace")`` does); the rest are decoded."""
    choice = choose_encoding(page.body, page.content_type)
    if choice.encoding == "utf-8" and not choice.bom and b"\x00" not in page.body:
        return dom.parse(page.body, page.effective_url)
    return dom.parse(decode_html(page.body, page.content_type).text, page.effective_url)


def _has_query(url: str, wanted: dict[str, str]) -> bool:
    present = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    return all(present.get(key) == value for key, value in wanted.items())


def _with_query(url: str, wanted: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in wanted]
    query.extend(wanted.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


@lru_cache(maxsize=1)
def _default_extractor() -> Extractor:
    return Extractor()


def extract(page: Page, site: str | None = None) -> Article | None:
    """Extract with a default ``Extractor`` (every built-in site, built once)."""
    return _default_extractor().extract(page, site)

