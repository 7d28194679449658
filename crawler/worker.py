"""One claimed URL, from fetch to settled: the crawl loop's worker.

``PageWorker.process`` fetches the URL (``Fetcher``), archives every exchange (``WarcLanes``),
then reads the page: a listing, feed or sitemap is discovered and its links added
(``LinkPolicy``); an article is assembled from its pages (``Assembly``: continuation pages
fetched and archived here), its metadata record and article line written; then it waits for the
group commit and marks the URL done. A failure of the page fails the URL
(``failed:<reason>``); an unexpected exception fails it ``failed:internal`` (the last guard);
a failure of the disk, the archive or the frontier ends the run.

Threads: parsing and extraction stay off the event loop, so it keeps pacing on time. An article
page takes one hand-off to its WARC lane's thread, which archives its exchanges, decodes the
page, begins its assembly and, for a single-page article, writes the metadata record and the
article line: each hand-off wakes the event loop, and one per page instead of three is most of
a page's thread overhead. Listings, feeds, sitemaps and continuation pages are read on the CPU
thread.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ParamSpec, TypeVar

from crawler.assemble import Assembled, Assembly, AssemblyRules
from crawler.config import CrawlSettings, Site
from crawler.decode import page_from_exchange
from crawler.discover import Limits, discover
from crawler.durability import GroupCommit, WarcLanes, in_thread
from crawler.errors import ArchiveError, DecodeError, ExtractionError, FrontierError
from crawler.faults import FaultInjector
from crawler.fetch import Fetcher, FetchResult
from crawler.frontier import Claimed, Kind, NewUrl, Status
from crawler.frontier_protocol import FrontierStore
from crawler.linkpolicy import LinkPolicy
from crawler.models import Exchange, Page, Source
from crawler.outcomes import SiteProgress, is_challenge
from crawler.sink import JsonlSink
from crawler.warc.writer import WarcWriter

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class _Outcome:
    """How a fetched URL is settled: its ``done:<reason>`` and rows settled with it
    (the continuation pages of an article, recorded done when the article is)."""

    reason: str | None
    settled: tuple[NewUrl, ...] = ()



@dataclass(frozen=True)
class _Archived:
    """A fetched URL's exchanges as archived (where each response record is) and, for an
    article page, its assembly begun: ``done`` when it is a single page, then ``written``
    (whether its article line went to the sink)."""

    sources: list[Source]
    assembly: Assembly | None = None
    done: Assembled | None = None
    written: bool | None = None


_ARTICLE_KINDS = (Kind.ARTICLE, Kind.CONTINUATION)

# Failures of the run, not of one URL: the disk, the archive or the frontier. They end the crawl.
_RUN_FAILURES = (ArchiveError, FrontierError, OSError)


def _readable(final: Exchange) -> bool:
    """Whether a page's body is read (a challenge or a 3xx-5xx answer is settled as it is)."""
    return final.status < 300 and not is_challenge(final)


def _describe(exc: BaseException) -> str:
    """``Type: message (at file:line in function)``: the innermost frame, for the frontier row."""
    where = ""
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        last = frames[-1]
        where = f" (at {Path(last.filename).name}:{last.lineno} in {last.name})"
    return f"{type(exc).__name__}: {str(exc)[:500]}{where}"


class PageWorker:
    """Settles claimed URLs of one crawl process; shares its parts with the loop."""

    def __init__(
        self, *, settings: CrawlSettings, sites: tuple[Site, ...], progress: dict[str, SiteProgress],
        frontier: FrontierStore, fetcher: Fetcher, warcs: WarcLanes, commit: GroupCommit, sink: JsonlSink,
        faults: FaultInjector, links: LinkPolicy, assembly_rules: AssemblyRules, limits: Limits,
        cpu: ThreadPoolExecutor, report: Callable[[str, SiteProgress], None],
    ) -> None:
        self._settings = settings
        self._sites = sites
        self._progress = progress
        self._frontier = frontier
        self._fetcher = fetcher
        self._warcs = warcs
        self._commit = commit
        self._sink = sink
        self._faults = faults
        self._links = links
        self._assembly_rules = assembly_rules
        self._limits = limits
        self._cpu = cpu
        self._report = report

    async def process(self, claimed: Claimed) -> None:
        """One URL behind the last guard: an unexpected exception fails this URL
        (``failed:internal``, the exception kept in its frontier row), never the crawl, so a
        resume does not meet it again. Disk and frontier failures still end the run."""
        try:
            await self._process_url(claimed)
        except _RUN_FAILURES:
            raise
        except Exception as exc:  # the last guard: whatever a page or a bug raises, one URL pays
            self._fail_internal(claimed, exc)

    def _fail_internal(self, claimed: Claimed, exc: Exception) -> None:
        detail = _describe(exc)
        log.error("%s: unexpected error, URL failed:internal, the crawl goes on: %s", claimed.url, detail)
        if self._frontier.mark_internal_failure(claimed.id, detail):
            progress = self._progress.setdefault(claimed.site, SiteProgress())
            progress.settle(Status.FAILED, "internal", claimed.kind)
        else:
            log.error("%s: the error came after the URL was settled; its state is kept", claimed.url)

    async def _process_url(self, claimed: Claimed) -> None:
        progress = self._progress.setdefault(claimed.site, SiteProgress())
        site = self._site(claimed.site)
        assert site is not None, "claims are limited to the selected sites"
        result = await self._fetcher.fetch(claimed.url)
        progress.fetched += bool(result.exchanges)  # only what got an answer
        progress.bytes += sum(len(exchange.body) for exchange in result.exchanges)
        try:
            first = await self._archive(claimed, result)
            if result.final is None or not first.sources:
                self._finish_unfetched(claimed, result, progress)
                return
            outcome = await self._handle(claimed, site, result.final, first, progress)
        except (DecodeError, ExtractionError) as exc:
            log.warning("%s: %s", claimed.url, exc)
            progress.settle(Status.FAILED, exc.reason)
            self._frontier.mark_failed(claimed.id, exc.reason)
        else:
            await self._commit.durable()
            self._faults.hit("before_frontier_commit")
            last = first.sources[-1]
            self._frontier.mark_done(
                claimed.id, outcome.reason, warc=last.warc, offset=last.offset, settled=outcome.settled
            )
            progress.settle(Status.DONE, outcome.reason, claimed.kind)
        finally:
            self._report(claimed.site, progress)

    async def _archive(self, claimed: Claimed, result: FetchResult) -> _Archived:
        """Archive the fetched exchanges; an article page is read in the same hand-off to the
        lane's thread (decoded, its assembly begun, a single-page article recorded)."""
        if claimed.kind is Kind.ARTICLE and self._faults.reached("raise_in_process"):
            for exchange in result.exchanges:
                await self._warcs.write_exchange(claimed.id, exchange, sync=False)
            raise RuntimeError(f"CRAWLER_FAULT raise_in_process at {claimed.url} (stands in for a bug)")
        final = result.final
        reads = final is not None and claimed.kind in _ARTICLE_KINDS and _readable(final)
        return await self._warcs.run(claimed.id, self._archive_on_lane, result.exchanges, claimed.site, reads)

    def _archive_on_lane(
        self, writer: WarcWriter, exchanges: tuple[Exchange, ...], site_id: str, reads: bool
    ) -> _Archived:
        sources = [writer.write_exchange(exchange, sync=False) for exchange in exchanges]
        if not reads:
            return _Archived(sources)
        assembly, done = self._begin(exchanges[-1], sources[-1])
        written = None if done is None else self._record_article(writer, site_id, done)
        return _Archived(sources, assembly, done, written)

    def _finish_unfetched(self, claimed: Claimed, result: FetchResult, progress: SiteProgress) -> None:
        error = result.error
        reason = error.reason if error is not None else "no_response"
        message = str(error) if error is not None else None
        if result.retry_at is not None:
            progress.settle(Status.TODO, reason, due=result.retry_at, message=message)
            self._frontier.defer(claimed.id, result.retry_at, reason)
        elif result.skipped:
            progress.settle(Status.SKIPPED, reason)
            self._frontier.mark_skipped(claimed.id, reason)
        else:
            progress.settle(Status.FAILED, reason, message=message)
            self._frontier.mark_failed(claimed.id, reason)

    async def _handle(
        self, claimed: Claimed, site: Site, final: Exchange, first: _Archived, progress: SiteProgress
    ) -> _Outcome:
        """Read a fetched page: discover its links or extract its article."""
        if is_challenge(final):
            return _Outcome("challenge")
        if final.status >= 300:  # done:http_<status>: counted by crawler.outcomes
            return _Outcome(f"http_{final.status}")
        if first.assembly is not None:
            return await self._article(claimed, first.assembly, first.done, first.written, progress)
        max_decoded = self._settings.max_decoded_bytes
        page = await self._on_cpu(page_from_exchange, final, first.sources[-1], max_decoded)
        await self._discover(claimed, site, page)
        return _Outcome(None)

    # ------------------------------------------------------------ discovery

    async def _discover(self, claimed: Claimed, site: Site, page: Page) -> None:
        found = await self._on_cpu(
            discover, page, links_css=site.listing.links, next_css=site.listing.next, limits=self._limits
        )
        if found.malformed:
            log.warning("%s: %d malformed entries dropped (e.g. %s)", claimed.url, found.malformed,
                        ", ".join(found.malformed_examples))
        new: list[NewUrl] = []
        for link in found.links:
            queued = self._links.article_link(link, claimed)
            if queued is not None:
                new.append(queued)
        new += self._links.followers(claimed, site, found)
        added = self._frontier.add(new)
        log.info("%s: %s with %d links, %d new", claimed.url, found.kind, len(found.links), added)

    # ------------------------------------------------------------ articles

    def _begin(self, exchange: Exchange, source: Source) -> tuple[Assembly, Assembled | None]:
        """Decode an article page and start its assembly; a single-page article is finished in
        the same step (one hand-off to the CPU thread, not three)."""
        page = page_from_exchange(exchange, source, self._settings.max_decoded_bytes)
        assembly = Assembly(self._assembly_rules, page)
        return assembly, (assembly.finish() if assembly.wanted is None else None)

    async def _article(
        self, claimed: Claimed, assembly: Assembly, done: Assembled | None, written: bool | None,
        progress: SiteProgress,
    ) -> _Outcome:
        attempted: list[NewUrl] = []
        while done is None:
            url = assembly.wanted
            if url is None:
                done = await self._on_cpu(assembly.finish)
                break
            fetched = await self._fetch_follow_up(claimed, url, attempted)
            await self._on_cpu(assembly.feed, fetched)
        if written is None:
            written = await self._warcs.run(claimed.id, self._record_article, claimed.site, done)
        settled = tuple(attempted)
        if done.article is None:
            return _Outcome("non_article", settled)
        if done.kept is None:
            return _Outcome("before_since", settled)
        progress.articles += written
        return _Outcome(None, settled)

    def _record_article(self, writer: WarcWriter, site_id: str, done: Assembled) -> bool:
        """On a WARC lane's thread: the metadata record, then the article line (both fsynced
        by the group commit before the URL is marked done); whether the line was written."""
        pages = done.pages
        fields = {"site": site_id, "extractor": done.generation, "outcome": done.outcome.value}
        if len(pages) > 1:
            fields["pages"] = " ".join(p.url for p in pages)
        writer.write_metadata(pages[0].source, pages[0].url, fields, sync=False)
        return done.kept is not None and self._sink.write(done.kept, sync=False)

    async def _fetch_follow_up(self, claimed: Claimed, url: str, attempted: list[NewUrl]) -> Page | None:
        """Fetch and archive one continuation page (a canonical URL of the claimed URL's site,
        chosen by its ``Assembly``); None when it cannot be had."""
        site = self._site(claimed.site)
        assert site is not None, "claims are limited to the selected sites"
        result = await self._fetcher.fetch(url)
        sources = [await self._warcs.write_exchange(claimed.id, exchange, sync=False)
                   for exchange in result.exchanges]
        progress = self._progress.setdefault(claimed.site, SiteProgress())
        progress.fetched += bool(result.exchanges)
        row = self._links.new(url, site, Kind.CONTINUATION, depth=claimed.depth, found_on=claimed.url)
        if result.final is None or result.final.status != 200 or not sources:
            why = result.state or (f"http_{result.final.status}" if result.final else "no_response")
            log.info("%s: continuation %s not available (%s)", claimed.url, url, why)
            attempted.append(replace(row, status=Status.DONE, reason=f"continuation_unavailable:{why}"))
            return None
        attempted.append(replace(row, status=Status.DONE, reason="continuation"))
        max_decoded = self._settings.max_decoded_bytes
        return await self._on_cpu(page_from_exchange, result.final, sources[-1], max_decoded)

    async def _on_cpu(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Parsing and extraction off the event loop, so pacing timers fire on time."""
        return await in_thread(self._cpu, function, *args, **kwargs)

    def _site(self, site_id: str) -> Site | None:
        for site in self._sites:
            if site.id == site_id:
                return site
        return None


__all__ = ["PageWorker"]
