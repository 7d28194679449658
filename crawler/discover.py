"""Links from listing pages, RSS/Atom feeds and (news) sitemaps.

Pure functions of a ``Page``: the pipeline fetches, this module reads. Every link comes out
absolute, canonical (``crawler.urls.canonicalize``) and de-duplicated, with the date the
source gives for it when there is one (feed entry, sitemap ``lastmod`` or news
``publication_date``, else a ``/YYYY/MM/DD/`` in the URL) so ``--since`` can skip it unfetched.

XML is read with entity expansion, DTD loading and network access off and documents above
the size caps refused; gzip sitemaps are inflated with a byte cap.
"""

from __future__ import annotations

import io
import logging
import re
import zlib
from calendar import timegm
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal
from urllib.parse import urljoin

import feedparser
from lxml import etree
from selectolax.lexbor import LexborHTMLParser

from crawler.errors import DecodedTooLarge, DecodeError, ScopeViolation
from crawler.extract.dom import check_size
from crawler.models import Page
from crawler.urls import DEFAULT_MAX_URL_LENGTH, canonicalize

log = logging.getLogger(__name__)

DocumentKind = Literal["html", "feed", "sitemap"]

PAGE_PLACEHOLDER = "{page}"
DEFAULT_MAX_SITEMAP_URLS = 50_000  # the sitemaps.org cap per file
DEFAULT_MAX_SITEMAP_BYTES = 50 * 1024 * 1024  # the sitemaps.org cap per file, uncompressed
_GZIP_MAGIC = b"\x1f\x8b"
_URL_DATE = re.compile(r"/((?:19|20)\d{2})/(\d{1,2})/(\d{1,2})(?:/|$)")
_ENTITY_DECLARATION = re.compile(rb"<!ENTITY", re.IGNORECASE)


@dataclass(frozen=True)
class Link:
    """A discovered page: canonical URL, and its date when the source says."""

    url: str
    published: date | None = None


@dataclass(frozen=True)
class Discovered:
    """What one listing, feed or sitemap document yields."""

    kind: DocumentKind
    links: tuple[Link, ...] = ()
    sitemaps: tuple[str, ...] = ()  # children of a sitemap index
    next_page: str | None = None  # a listing's "next" link
    dropped: int = 0  # links refused: not http(s), too long, over a count cap
    notes: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Limits:
    """The caps discovery enforces (named settings in ``crawl:``)."""

    max_url_length: int = DEFAULT_MAX_URL_LENGTH
    max_sitemap_urls: int = DEFAULT_MAX_SITEMAP_URLS
    max_sitemap_bytes: int = DEFAULT_MAX_SITEMAP_BYTES


# ---------------------------------------------------------------- dispatch


def sniff(page: Page) -> DocumentKind:
    """Whether the body is a sitemap, a feed or (anything else) HTML."""
    if page.body[:2] == _GZIP_MAGIC:
        return "sitemap"
    head = _head(page.body)
    if b"<urlset" in head or b"<sitemapindex" in head:
        return "sitemap"
    if re.search(rb"<(?:rss|feed|rdf:RDF)[\s>]", head):
        return "feed"
    return "html"


def _head(body: bytes) -> bytes:
    return body[:2048].lstrip(b"\xef\xbb\xbf \t\r\n")


def discover(
    page: Page, *, links_css: str | None = None, next_css: str | None = None, limits: Limits = Limits()
) -> Discovered:
    """The links of ``page``, read as whatever it turns out to be (sitemap, feed, HTML)."""
    kind = sniff(page)
    if kind == "sitemap":
        return from_sitemap(page, limits)
    if kind == "feed":
        return from_feed(page, limits)
    return from_listing(page, links_css=links_css, next_css=next_css, limits=limits)


# ---------------------------------------------------------------- listing pages


def from_listing(
    page: Page, *, links_css: str | None = None, next_css: str | None = None, limits: Limits = Limits()
) -> Discovered:
    """Links of an HTML listing page: ``links_css`` (default every ``a[href]``) and the next page.
    Raises ``DocumentTooLarge`` for a page the parser would take too long on (a DOM bomb)."""
    check_size(page.body, page.effective_url)
    tree = LexborHTMLParser(page.body)
    base = _base_url(tree, page.effective_url)
    hrefs = [node.attributes.get("href") for node in tree.css(links_css or "a[href]")]
    links, dropped = _canonical_links(
        ((urljoin(base, href.strip()), None) for href in hrefs if href), limits
    )
    next_page = None
    if next_css:
        node = tree.css_first(next_css)
        href = node.attributes.get("href") if node is not None else None
        if href:
            next_page = _canonical(urljoin(base, href.strip()), limits)
    return Discovered("html", links=links, next_page=next_page, dropped=dropped)


def _base_url(tree: LexborHTMLParser, page_url: str) -> str:
    node = tree.css_first("base[href]")
    href = node.attributes.get("href") if node is not None else None
    return urljoin(page_url, href.strip()) if href else page_url


def listing_url(template: str, number: int) -> str:
    """Page ``number`` of a ``{page}`` listing template."""
    return template.replace(PAGE_PLACEHOLDER, str(number))


def should_paginate(found: Discovered, number: int, max_pages: int, since: date | None) -> bool:
    """Whether to fetch page ``number + 1`` of a ``{page}`` listing.

    Not past ``max_pages``; not when the page gave no article links; and with ``--since``, not
    when every dated link on the page is older than it (listings run newest first).
    """
    if number >= max_pages or not found.links:
        return False
    if since is None:
        return True
    dates = [link.published for link in found.links if link.published is not None]
    return not dates or max(dates) >= since


# ---------------------------------------------------------------- feeds


def from_feed(page: Page, limits: Limits = Limits()) -> Discovered:
    """Entry links of an RSS or Atom feed, with their published (or updated) dates."""
    _refuse_entities(page)
    headers = {"content-location": page.effective_url, "content-type": page.content_type or "application/xml"}
    parsed = feedparser.parse(
        page.body, response_headers=headers, resolve_relative_uris=False, sanitize_html=False
    )
    if not parsed.entries and not parsed.get("version"):
        raise DecodeError(
            f"{page.effective_url}: not a readable RSS/Atom feed ({parsed.get('bozo_exception')}); "
            "check the site's `seeds.feeds` URL",
            reason="bad_feed",
        )
    pairs = (
        (urljoin(page.effective_url, entry.get("link", "")), _entry_date(entry))
        for entry in parsed.entries
        if entry.get("link")
    )
    links, dropped = _canonical_links(pairs, limits)
    return Discovered("feed", links=links, dropped=dropped)


def _entry_date(entry: Any) -> date | None:
    moment = entry.get("published_parsed") or entry.get("updated_parsed")
    if moment is None:
        return None
    return datetime.fromtimestamp(timegm(moment), tz=UTC).date()


def _refuse_entities(page: Page) -> None:
    """No entity declarations at all: no billion laughs, no external entities (RELIABILITY I3)."""
    if _ENTITY_DECLARATION.search(page.body[:65536]):
        raise DecodeError(
            f"{page.effective_url}: the document declares XML entities, which the crawler never "
            "expands (billion-laughs and external-entity attacks); it was not read",
            reason="bad_feed",
        )


# ---------------------------------------------------------------- sitemaps


def from_sitemap(page: Page, limits: Limits = Limits()) -> Discovered:
    """Page links of a urlset (incl. news sitemaps) or child sitemaps of a sitemap index.

    gzip is inflated up to ``max_sitemap_bytes``; at most ``max_sitemap_urls`` entries are read.
    """
    body = _gunzip_bounded(page, limits.max_sitemap_bytes) if page.body[:2] == _GZIP_MAGIC else page.body
    if len(body) > limits.max_sitemap_bytes:
        raise DecodedTooLarge(
            f"{page.effective_url}: sitemap of {len(body)} bytes is above max_sitemap_bytes="
            f"{limits.max_sitemap_bytes}"
        )
    _refuse_entities(Page(url=page.url, body=body, final_url=page.final_url))
    pages: list[tuple[str, date | None]] = []
    children: list[tuple[str, date | None]] = []
    over = 0
    for tag, loc, when in _sitemap_entries(body, page.effective_url):
        if len(pages) + len(children) >= limits.max_sitemap_urls:
            over += 1
            continue
        (children if tag == "sitemap" else pages).append((urljoin(page.effective_url, loc), when))
    links, dropped = _canonical_links(pages, limits)
    child_links, child_dropped = _canonical_links(children, limits)
    notes: tuple[str, ...] = ()
    if over:
        notes = (f"{over} entries above max_sitemap_urls={limits.max_sitemap_urls} ignored",)
        log.warning("%s: %s", page.effective_url, notes[0])
    return Discovered(
        "sitemap", links=links, sitemaps=tuple(link.url for link in child_links),
        dropped=dropped + child_dropped + over, notes=notes,
    )


def _gunzip_bounded(page: Page, cap: int) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(page.body, cap + 1)
    except zlib.error as exc:
        raise DecodeError(f"{page.effective_url}: broken gzip sitemap ({exc})", reason="bad_sitemap") from exc
    if len(out) > cap or inflater.unconsumed_tail:
        raise DecodedTooLarge(
            f"{page.effective_url}: gzip sitemap inflates past {cap} bytes; refused (gzip bomb?)"
        )
    return out


def _sitemap_entries(body: bytes, where: str) -> Iterator[tuple[str, str, date | None]]:
    """(tag, loc, date) for each ``<url>`` and ``<sitemap>`` element, streamed."""
    events = etree.iterparse(
        io.BytesIO(body), events=("end",), resolve_entities=False, no_network=True,
        huge_tree=False, load_dtd=False, recover=False,
    )
    try:
        for _, element in events:
            tag = etree.QName(element).localname
            if tag not in ("url", "sitemap"):
                continue
            loc, when = _loc_and_date(element)
            element.clear()
            if loc:
                yield tag, loc, when
    except etree.XMLSyntaxError as exc:
        raise DecodeError(f"{where}: not a readable sitemap ({exc})", reason="bad_sitemap") from exc


def _loc_and_date(element: Any) -> tuple[str | None, date | None]:
    loc = None
    dated: date | None = None
    for child in element.iter():
        name = etree.QName(child).localname if isinstance(child.tag, str) else ""
        text = (child.text or "").strip()
        if name == "loc" and child.getparent() is element:
            loc = text
        elif name == "publication_date" or (name == "lastmod" and dated is None):
            dated = _parse_date(text) or dated
    return loc, dated


def _parse_date(text: str) -> date | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        try:
            return date.fromisoformat(text[:10])
        except ValueError:
            return None


# ---------------------------------------------------------------- shared


def date_from_url(url: str) -> date | None:
    """A ``/YYYY/MM/DD/`` date in the URL path, as news portals put in article URLs."""
    found = _URL_DATE.search(url)
    if found is None:
        return None
    try:
        return date(int(found[1]), int(found[2]), int(found[3]))
    except ValueError:
        return None


def _canonical(url: str, limits: Limits) -> str | None:
    try:
        return canonicalize(url, max_length=limits.max_url_length)
    except (ScopeViolation, ValueError):
        return None


def _canonical_links(
    pairs: Iterable[tuple[str, date | None]], limits: Limits
) -> tuple[tuple[Link, ...], int]:
    seen: dict[str, Link] = {}
    dropped = 0
    for raw, when in pairs:
        url = _canonical(raw, limits)
        if url is None:
            dropped += 1
            continue
        if url not in seen:
            seen[url] = Link(url, when or date_from_url(url))
    return tuple(seen.values()), dropped
