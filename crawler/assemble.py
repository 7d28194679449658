"""One article from its pages, with no I/O: the step the crawl and replay share.

An ``Assembly`` starts from an article's first page and says which URL it wants next
(``wanted``); the caller gets that page from wherever its pages come from (the fetcher and the
archive in a crawl, the WARC files in replay) and ``feed``s it back, or feeds ``None`` when it
cannot be had. When nothing more is wanted, ``finish`` extracts the joined article and applies
``--since``. Every rule of the whole article lives here, so crawl and replay cannot disagree:

* ``Extractor.continuation`` of the first page: ``instead`` (a whole view replaces the page) or
  ``also`` (the next page, joined after it, then the next page's own ``also``, and so on);
* a continuation URL is canonicalised (``crawler.urls.canonicalize``) and followed only when it
  belongs to the first page's site and was not already had (the loop guard: a page 2 that
  links back to page 1 does not bring page 1 again), up to the site's ``multipage.max_pages``;
* ``since``: an article whose page says it was published before that day is not kept, whether
  the link it came from was dated or not.

The methods that read pages (the constructor, ``feed``, ``finish``) parse HTML: a crawl calls
them on its CPU thread. Each page is parsed once for its continuation, generation and
extraction (an ``extract.ParsedPage`` the assembly owns; the ``Extractor`` keeps no state), so
an ``Assembly`` is used by one caller at a time while the ``Extractor`` is shared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING

from crawler.errors import ScopeViolation, UsageError
from crawler.models import Article, Page
from crawler.urls import canonicalize

if TYPE_CHECKING:
    from crawler.extract import Extractor, ParsedPage

__all__ = ["Assembled", "Assembly", "AssemblyRules", "Outcome", "before_since", "parse_since"]


class Outcome(Enum):
    """What an assembled article page comes to."""

    ARTICLE = "article"  # an article to write
    NOT_ARTICLE = "non_article"  # the page is not an article
    BEFORE_SINCE = "before_since"  # an article published before ``--since``


@dataclass(frozen=True)
class AssemblyRules:
    """What assembly needs to know beyond the pages: the extractor (sites, rules), the URL
    length cap of canonicalisation and ``--since``."""

    extractor: Extractor
    max_url_length: int = 2048
    since: date | None = None


@dataclass(frozen=True)
class Assembled:
    """A finished assembly: the article (None when not an article), the rules generation it
    was read with, the pages joined, and what to do with it."""

    article: Article | None
    generation: str
    pages: tuple[Page, ...]
    outcome: Outcome

    @property
    def kept(self) -> Article | None:
        """The article to write, or None (not an article, or before ``--since``)."""
        return self.article if self.outcome is Outcome.ARTICLE else None


class Assembly:
    """One article being assembled from its first page (see the module docstring)."""

    def __init__(self, rules: AssemblyRules, first: Page) -> None:
        self._rules = rules
        self._pages: list[ParsedPage] = [rules.extractor.parse(first)]
        site = rules.extractor.site_for(first.url)
        self._site_id = site.id if site is not None else None
        self._max_pages = site.multipage.max_pages if site is not None else 1
        self._seen: set[str] = set()
        self._note(first)
        self._instead = False
        self._wanted: str | None = None
        found = rules.extractor.continuation(self._pages[0])
        if found.instead:
            self._instead = True
            self._wanted = self._follow(found.instead)
        else:
            self._want_next(found.also)

    @property
    def wanted(self) -> str | None:
        """The (canonical) URL of the page to feed next; None when the article is complete."""
        return self._wanted

    @property
    def pages(self) -> tuple[Page, ...]:
        return tuple(parsed.page for parsed in self._pages)

    def feed(self, page: Page | None) -> None:
        """The page fetched for ``wanted``, or None when it could not be had (the article is
        then what was had so far)."""
        if self._wanted is None:
            raise ValueError("nothing is wanted: the article is complete")
        self._seen.add(self._wanted)
        if page is None:
            self._wanted = None
            return
        self._note(page)
        parsed = self._rules.extractor.parse(page)
        if self._instead:
            self._pages = [parsed]
            self._wanted = None
            return
        self._pages.append(parsed)
        self._wanted = None
        self._want_next(self._rules.extractor.continuation(parsed).also)

    def finish(self) -> Assembled:
        """Extract the article of the pages had (raises ``ExtractionError``, ``DecodeError``)."""
        extractor = self._rules.extractor
        pages = self._pages
        article = extractor.extract(pages[0]) if len(pages) == 1 else extractor.extract_joined(pages)
        generation = extractor.generation(pages[0])
        if article is None:
            outcome = Outcome.NOT_ARTICLE
        elif before_since(article, self._rules.since):
            outcome = Outcome.BEFORE_SINCE
        else:
            outcome = Outcome.ARTICLE
        return Assembled(article, generation, self.pages, outcome)

    # ------------------------------------------------------------ the rules of following

    def _want_next(self, following: Sequence[str]) -> None:
        if following and len(self._pages) < self._max_pages:
            self._wanted = self._follow(following[0])

    def _follow(self, raw_url: str) -> str | None:
        """The URL to get for a continuation link, or None when it is not to be followed."""
        url = self._canonical(raw_url)
        if url is None or url in self._seen:
            return None
        site = self._rules.extractor.site_for(url)
        if site is None or site.id != self._site_id:
            return None
        return url

    def _note(self, page: Page) -> None:
        canonical = self._canonical(page.url)
        self._seen.add(canonical if canonical is not None else page.url)

    def _canonical(self, raw_url: str) -> str | None:
        try:
            return canonicalize(raw_url, max_length=self._rules.max_url_length)
        except ScopeViolation:
            return None


def before_since(article: Article, since: date | None) -> bool:
    """Whether the article says it was published before ``since`` (undated ones are kept)."""
    if since is None or not article.published:
        return False
    try:
        return datetime.fromisoformat(article.published).date() < since
    except ValueError:
        return False


def parse_since(text: str, now: datetime | None = None) -> date:
    """``--since``: a date (YYYY-MM-DD) or an age such as ``1d``, ``6h``, ``2w``."""
    value = text.strip().lower()
    units = {"h": "hours", "d": "days", "w": "weeks"}
    amount = value[:-1]
    if value[-1:] in units and amount.isascii() and amount.isdigit():  # "²".isdigit() is True
        try:
            moment = (now or datetime.now(UTC)) - timedelta(**{units[value[-1]]: int(amount)})
        except OverflowError as exc:
            raise UsageError(f"--since {text!r}: that age reaches before year 1; give a smaller age or a "
                             "date (YYYY-MM-DD)") from exc
        return moment.date()
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise UsageError(f"--since {text!r}: expected YYYY-MM-DD or an age like 1d, 6h, 2w") from exc
