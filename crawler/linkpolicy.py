"""Which URLs a crawl adds to its frontier, and as what.

The seeds (the configured listings, feeds and sitemaps, or ``--seed`` URLs), the article links a
listing shows (``--since`` skips those dated before it), child sitemaps and the next listing page
within the depth and page caps, and the rows of continuation pages. Every URL gets its site by
the one site index (longest matching domain) and its pace key from the scope. No I/O: the crawl
loop adds what this returns.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import date
from typing import Any

from crawler.config import CrawlSettings, Site
from crawler.discover import Discovered, Link, listing_url, should_paginate
from crawler.errors import ConfigError, ScopeViolation, UsageError
from crawler.extract import Extractor
from crawler.frontier import Claimed, Kind, NewUrl, Status
from crawler.scope import Scope
from crawler.urls import canonicalize

log = logging.getLogger(__name__)


class LinkPolicy:
    """The frontier rows of one crawl's selected ``sites``."""

    def __init__(self, sites: tuple[Site, ...], extractor: Extractor, scope: Scope, settings: CrawlSettings,
                 *, seeds: tuple[str, ...] = (), since: date | None = None) -> None:
        self._sites = sites
        self._site_ids = {site.id for site in sites}
        self._extractor = extractor
        self._scope = scope
        self._settings = settings
        self._seeds = seeds
        self._since = since

    def seed_urls(self) -> list[NewUrl]:
        if self._seeds:
            return [self._command_line_seed(url) for url in self._seeds]
        seeds: list[NewUrl] = []
        for site in self._sites:
            for template in site.seeds.listings:
                extra = {"template": template, "page": 1} if "{page}" in template else None
                url = self._seed_url(listing_url(template, 1), site)
                seeds.append(self.new(url, site, Kind.LISTING, extra=extra))
            seeds += [self.new(self._seed_url(url, site), site, Kind.FEED) for url in site.seeds.feeds]
            seeds += [self.new(self._seed_url(url, site), site, Kind.SITEMAP) for url in site.seeds.sitemaps]
        return seeds

    def _seed_url(self, raw: str, site: Site) -> str:
        try:
            return canonicalize(raw, max_length=self._settings.max_url_length)
        except ScopeViolation as exc:
            raise ConfigError(f"sites.{site.id}.seeds: {exc}") from exc

    def _command_line_seed(self, raw: str) -> NewUrl:
        try:
            url = canonicalize(raw, max_length=self._settings.max_url_length)
        except ScopeViolation as exc:
            raise UsageError(f"--seed {raw}: {exc}") from exc
        site = self._extractor.site_for(url)
        if site is None or site.id not in self._site_ids:
            known = ", ".join(f"{s.id} ({', '.join(s.domains)})" for s in self._sites)
            raise UsageError(
                f"--seed {raw}: no selected site covers host {url.split('/')[2]!r}; selected: {known}. "
                "Add the site to config.yaml or pick it with --sites"
            )
        kind = Kind.ARTICLE if self._extractor.is_article_url(url) else Kind.SEED
        return self.new(url, site, kind)

    def new(
        self, url: str, site: Site, kind: Kind, *, depth: int = 0, found_on: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> NewUrl:
        return NewUrl(
            url=url, site=site.id, kind=kind, depth=depth, discovered_from=found_on,
            host=self._pace_key(url, site), extra=extra,
        )

    def _pace_key(self, url: str, site: Site) -> str:
        try:
            return self._scope.pace_key(url, site)
        except ScopeViolation:
            return url

    def article_link(self, link: Link, claimed: Claimed) -> NewUrl | None:
        if not self._extractor.is_article_url(link.url):
            return None
        site = self._extractor.site_for(link.url)
        if site is None or site.id not in self._site_ids:
            return None
        new = self.new(link.url, site, Kind.ARTICLE, depth=claimed.depth + 1, found_on=claimed.url)
        since = self._since
        if since is not None and link.published is not None and link.published < since:
            return replace(new, status=Status.SKIPPED, reason="before_since")
        return new

    def followers(self, claimed: Claimed, site: Site, found: Discovered) -> list[NewUrl]:
        """Child sitemaps and the next listing page, within the depth and page caps."""
        settings = self._settings
        depth = claimed.depth + 1
        new = [
            self.new(url, site, Kind.SITEMAP, depth=depth, found_on=claimed.url)
            for url in found.sitemaps
            if depth <= settings.max_sitemap_depth and self._in_site(url, site)
        ]
        if found.sitemaps and depth > settings.max_sitemap_depth:
            log.warning("%s: %d child sitemaps not followed: beyond max_sitemap_depth=%d", claimed.url,
                        len(found.sitemaps), settings.max_sitemap_depth)
        number = int(claimed.extra.get("page", 1))
        template = claimed.extra.get("template")
        if not should_paginate(found, number, settings.max_listing_pages, self._since):
            return new
        extra: dict[str, Any] = {"page": number + 1}
        if isinstance(template, str):
            extra["template"] = template
            next_url: str | None = listing_url(template, number + 1)
        else:
            next_url = found.next_page
        if next_url is not None and self._in_site(next_url, site):
            new.append(
                self.new(next_url, site, Kind.LISTING, depth=depth, found_on=claimed.url, extra=extra)
            )
        return new

    def _in_site(self, url: str, site: Site) -> bool:
        found = self._extractor.site_for(url)
        return found is not None and found.id == site.id


__all__ = ["LinkPolicy"]
