"""Links from listing pages, RSS/Atom feeds and (news) sitemaps.

Pure functions of a ``Page``: the pipeline fetches, this module reads. Every link comes out
absolute, canonical (``crawler.urls.canonicalize``) and de-duplicated, with the date the
source gives for it when there is one (feed entry, sitemap ``lastmod`` or news
``publication_date``, else a ``/YYYY/MM/DD/`` in the URL) so ``--since`` can skip it unfetched.

XML is read with entity expansion, DTD loading and network access off and documents above
the size caps refused; gzip sitemaps are inflated with a byte cap.

One bad entry never costs the page: a link, ``<base href>``, ``<loc>`` or feed link that is
not a usable URL (``http://[::1/x``, a host that cannot be IDNA-encoded) and a date outside
years 1-9999 are dropped and counted in ``Discovered.malformed`` (with a few examples for the
log line that names the page); the rest of the page is read as if they were not there.
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
    dropped: int = 0  # links refused: not http(s), too long, malformed, over a count cap
    notes: tuple[str, ...] = field(default_factory=tuple)
    malformed: int = 0  # entries that are not usable URLs or dates (part of ``dropped`` for links)
    malformed_examples: tuple[str, ...] = ()  # the first few of them, for the log


MAX_MALFORMED_EXAMPLES = 3


@dataclass
class _Bad:
    """Malformed entries met while reading one document."""

    count: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, what: str) -> None:
        self.count += 1
        if len(self.examples) < MAX_MALFORMED_EXAMPLES:
            self.examples.append(what[:200])


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
    bad = _Bad()
    base = _base_url(tree, page.effective_url, bad)
    hrefs = [node.attributes.get("href") for node in tree.css(links_css or "a[href]")]
    links, dropped = _canonical_links(((base, href, None) for href in hrefs if href), limits, bad)
    next_page = None
    if next_css:
        node = tree.css_first(next_css)
        href = node.attributes.get("href") if node is not None else None
        if href:
            next_page = _canonical(base, href, limits, bad)
    return Discovered("html", links=links, next_page=next_page, dropped=dropped, **_malformed(bad))


def _base_url(tree: LexborHTMLParser, page_url: str, bad: _Bad) -> str:
    """The page's ``<base href>``, or the page URL when there is none or it is not a usable
    http(s) URL (as browsers fall back to the document's URL)."""
    node = tree.css_first("base[href]")
    href = node.attributes.get("href") if node is not None else None
    if not href:
        return page_url
    joined = _join(page_url, href)
    if joined is None or _canonical(page_url, href, Limits(), None) is None:
        bad.add(f"<base href={href[:200]!r}>")
        return page_url
    return joined


def _malformed(bad: _Bad) -> dict[str, Any]:
    return {"malformed": bad.count, "malformed_examples": tuple(bad.examples)}


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
    bad = _Bad()
    pairs = (
        (page.effective_url, str(entry.get("link", "")), _entry_date(entry, bad))
        for entry in parsed.entries
        if entry.get("link")
    )
    links, dropped = _canonical_links(pairs, limits, bad)
    return Discovered("feed", links=links, dropped=dropped, **_malformed(bad))


def _entry_date(entry: Any, bad: _Bad) -> date | None:
    """The entry's date in UTC; None (and counted) when it falls outside years 1-9999 there."""
    moment = entry.get("published_parsed") or entry.get("updated_parsed")
    if moment is None:
        return None
    try:
        return datetime.fromtimestamp(timegm(moment), tz=UTC).date()
    except (ValueError, OverflowError, OSError):
        bad.add(f"date {entry.get('published') or entry.get('updated')!r}")
        return None


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
    _refuse_entities(Page(url=page.url, body=body))
    pages: list[tuple[str, str, date | None]] = []
    children: list[tuple[str, str, date | None]] = []
    over = 0
    for tag, loc, when in _sitemap_entries(body, page.effective_url):
        if len(pages) + len(children) >= limits.max_sitemap_urls:
            over += 1
            continue
        (children if tag == "sitemap" else pages).append((page.effective_url, loc, when))
    bad = _Bad()
    links, dropped = _canonical_links(pages, limits, bad)
    child_links, child_dropped = _canonical_links(children, limits, bad)
    notes: tuple[str, ...] = ()
    if over:
        notes = (f"{over} entries above max_sitemap_urls={limits.max_sitemap_urls} ignored",)
        log.warning("%s: %s", page.effective_url, notes[0])
    return Discovered(
        "sitemap", links=links, sitemaps=tuple(link.url for link in child_links),
        dropped=dropped + child_dropped + over, notes=notes, **_malformed(bad),
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


def _join(base: str, href: str) -> str | None:
    """``href`` made absolute against ``base``; None when either does not parse as a URL."""
    try:
        return urljoin(base, href.strip())
    except ValueError:  # e.g. "Invalid IPv6 URL" for http://[::1/x
        return None


def _canonical(base: str, href: str, limits: Limits, bad: _Bad | None) -> str | None:
    """The canonical absolute URL of ``href``; None when it cannot be one (a malformed one is
    counted in ``bad``; an ordinary refusal such as ``mailto:`` or an over-long URL is not)."""
    joined = _join(base, href)
    try:
        if joined is None:
            raise ScopeViolation(f"{href[:200]!r}: not a URL", reason="bad_url")
        return canonicalize(joined, max_length=limits.max_url_length)
    except ScopeViolation as exc:
        if bad is not None and exc.reason == "bad_url":
            bad.add(repr(href))
        return None
    except ValueError:  # anything a library raises on a URL: malformed
        if bad is not None:
            bad.add(repr(href))
        return None


def _canonical_links(
    entries: Iterable[tuple[str, str, date | None]], limits: Limits, bad: _Bad
) -> tuple[tuple[Link, ...], int]:
    """(base, href, date) entries → unique canonical links, and how many were dropped."""
    seen: dict[str, Link] = {}
    dropped = 0
    for base, href, when in entries:
        url = _canonical(base, href, limits, bad)
        if url is None:
            dropped += 1
            continue
        if url not in seen:
            seen[url] = Link(url, when or date_from_url(url))
    return tuple(seen.values()), dropped
