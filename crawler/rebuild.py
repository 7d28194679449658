"""A damaged frontier rebuilt from what the archive holds (``crawler recover --rebuild-frontier``).

The frontier (``state/frontier.sqlite``) only says what is done; the archive holds the proof:

* the CDXJ index of each WARC file (the one the crawl wrote; built when missing) lists every
  archived response with its status, redirects with their target;
* the ``metadata`` record the crawl writes for each article page says how it ended
  (``article``, ``non_article``, ``before_since``) and which continuation pages were joined;
* ``articles.jsonl`` holds the article lines.

A URL is done when it has an archived response (following archived redirects) that settles
it: a listing, feed or sitemap any response below 500; an article page a 4xx, or a 200 with
its line in ``articles.jsonl`` (or a metadata record saying it was not an article or was before
``--since``); the continuation pages joined into a done article. Everything else is left out,
so the next crawl finds it again: the rebuilt frontier ends a round, so the next run fetches
the seeds, listings and feeds again and queues every article not done. The damaged database
is moved aside, never deleted.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from crawler.config import Config
from crawler.errors import ArchiveError, CrawlerError, InputError
from crawler.extract import Extractor
from crawler.frontier import ArchiveLock, Frontier, Kind, NewUrl, Status
from crawler.scope import Scope
from crawler.sink import FILE_NAME as ARTICLES_FILE
from crawler.warc.http import HttpParseError, parse_http_response
from crawler.warc.index import INDEX_SUFFIX, index_file
from crawler.warc.naming import warc_paths
from crawler.warc.reader import iter_records, read_record_at

__all__ = ["RebuildReport", "rebuild_frontier"]

log = logging.getLogger(__name__)

MAX_REDIRECT_HOPS = 5


@dataclass(frozen=True)
class Capture:
    url: str
    status: int
    path: Path  # the WARC file
    offset: int

    def location(self) -> str | None:
        """A redirect's target, read from its record (the CDXJ lines do not hold it)."""
        try:
            record = read_record_at(self.path, self.offset)
            return parse_http_response(record.block or b"").header("location")
        except (CrawlerError, HttpParseError, OSError) as exc:
            log.warning("%s offset %d: redirect not readable (%s)", self.path, self.offset, exc)
            return None


@dataclass
class RebuildReport:
    """What a rebuild found and wrote."""

    files: int = 0
    indexed: list[str] = field(default_factory=list)  # WARC files whose missing index was built
    captures: int = 0
    done: dict[str, int] = field(default_factory=dict)  # kind → rows written done
    left: int = 0  # archived URLs left for the next crawl (an article without its line, 5xx...)

    def describe(self) -> str:
        kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(self.done.items())) or "none"
        built = f", {len(self.indexed)} indexes built" if self.indexed else ""
        return (f"frontier rebuilt from {self.files} WARC files ({self.captures} captures{built}): "
                f"done {kinds}; {self.left} archived URLs left to fetch again")


@dataclass(frozen=True)
class _PageOutcome:
    outcome: str
    pages: tuple[str, ...]


def rebuild_frontier(archive_dir: Path, config: Config) -> RebuildReport:
    """Move ``archive_dir``'s frontier aside and write one rebuilt from the archive."""
    report = RebuildReport()
    with ArchiveLock(archive_dir):
        warcs = warc_paths([archive_dir]) if archive_dir.is_dir() else []
        report.files = len(warcs)
        captures = _captures(warcs, report)
        outcomes = _page_outcomes(warcs)
        lines = _article_urls(archive_dir / ARTICLES_FILE)
        rows = list(_settled(captures, outcomes, lines, config, report))
        with Frontier.open(archive_dir, reset=True) as frontier:
            frontier.begin_run()
            frontier.add(rows)
            frontier.end_run(complete=True)  # the next run starts a round: seeds fetched again
    return report


def _captures(warcs: Iterable[Path], report: RebuildReport) -> dict[str, list[Capture]]:
    """Every archived response by URL, in file order, from the files' CDXJ indexes."""
    by_url: dict[str, list[Capture]] = {}
    for warc in warcs:
        index = warc.with_name(warc.name + INDEX_SUFFIX)
        if not index.is_file():
            index_file(warc)
            report.indexed.append(warc.name)
        for line in index.read_text(encoding="utf-8").splitlines():
            capture = _capture(line, warc)
            if capture is not None:
                report.captures += 1
                by_url.setdefault(capture.url, []).append(capture)
    return by_url


def _capture(line: str, warc: Path) -> Capture | None:
    try:
        entry = json.loads(line.split(" ", 2)[2])
        status, offset = int(entry.get("status", "")), int(entry.get("offset", ""))
    except (IndexError, ValueError):
        return None  # a revisit without a status, a record without HTTP
    url = entry.get("url")
    if not isinstance(url, str) or urlsplit(url).path == "/robots.txt":
        return None
    return Capture(url, status, warc, offset)


def _page_outcomes(warcs: Iterable[Path]) -> dict[str, _PageOutcome]:
    """The crawl's metadata records: article page URL → outcome and the pages joined."""
    found: dict[str, _PageOutcome] = {}
    for warc in warcs:
        try:
            for record in iter_records(str(warc), on_damage=lambda damage: log.warning("%s", damage)):
                if record.rec_type == "metadata" and record.target_uri and record.block is not None:
                    fields = _warc_fields(record.block)
                    if "outcome" in fields:
                        pages = tuple(fields.get("pages", record.target_uri).split())
                        found[record.target_uri] = _PageOutcome(fields["outcome"], pages)
        except ArchiveError as exc:
            log.warning("%s: metadata after the damage not read (%s)", warc, exc)
    return found


def _warc_fields(block: bytes) -> dict[str, str]:
    fields = {}
    for line in block.decode("utf-8", "replace").splitlines():
        name, colon, value = line.partition(":")
        if colon:
            fields[name.strip()] = value.strip()
    return fields


def _article_urls(path: Path) -> set[str]:
    urls: set[str] = set()
    if not path.is_file():
        return urls
    with open(path, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            try:
                url = json.loads(line).get("url")
            except (ValueError, AttributeError):
                continue  # a torn last line: that article is fetched again
            if isinstance(url, str):
                urls.add(url)
    return urls


def _settled(
    captures: dict[str, list[Capture]], outcomes: dict[str, _PageOutcome], lines: set[str], config: Config,
    report: RebuildReport,
) -> Iterator[NewUrl]:
    extractor = Extractor(config.sites)
    scope = Scope.build(config.sites, config.network.allow_private_addresses, config.crawl.max_url_length)
    joined: set[str] = set()
    rows: dict[str, NewUrl] = {}
    for url in captures:
        site = scope.site_for(url)
        final = _resolved(captures, url)
        if site is None or final is None or final.status >= 500 or final.status == 429:
            report.left += site is not None
            continue
        article = extractor.is_article_url(url)
        reason = _article_reason(final, outcomes, lines) if article else "rebuilt"
        if reason is None:
            report.left += 1
            continue
        if article and final.url in outcomes:
            joined.update(outcomes[final.url].pages[1:])
        kind = Kind.ARTICLE if article else Kind.LISTING
        rows[url] = _row(url, site.id, kind, scope.pace_key(url, site), reason)
    for url in sorted(joined - set(rows)):
        site = scope.site_for(url)
        if site is not None:
            rows[url] = _row(url, site.id, Kind.CONTINUATION, scope.pace_key(url, site), "continuation")
    for row in rows.values():
        report.done[row.kind.value] = report.done.get(row.kind.value, 0) + 1
        yield row


def _article_reason(final: Capture, outcomes: dict[str, _PageOutcome], lines: set[str]) -> str | None:
    """Why an article page is done, or None when it is to be fetched again."""
    if final.status in (404, 410):
        return "not_found"
    if final.status != 200:
        return f"http_{final.status}"
    outcome = outcomes.get(final.url)
    if final.url in lines and (outcome is None or outcome.outcome == "article"):
        return "rebuilt"
    if outcome is not None and outcome.outcome in ("non_article", "before_since"):
        return outcome.outcome
    return None


def _resolved(captures: dict[str, list[Capture]], url: str) -> Capture | None:
    """The last capture of ``url``, through archived redirects (None when a hop is missing)."""
    for _ in range(MAX_REDIRECT_HOPS + 1):
        found = captures.get(url)
        if not found:
            return None
        capture = found[-1]
        if not 300 <= capture.status < 400:
            return capture
        location = capture.location()
        if not location:
            return capture
        url = urljoin(url, location)
    return None


def _row(url: str, site: str, kind: Kind, host: str, reason: str) -> NewUrl:
    return NewUrl(url=url, site=site, kind=kind, host=host, status=Status.DONE, reason=reason)


def rebuild_command(archive: str, config: Config) -> str:
    """``crawler recover --rebuild-frontier ARCHIVE``: the report line (CrawlerError on failure)."""
    path = Path(archive)
    if not path.is_dir():
        raise InputError(f"{archive}: no such archive directory; pass the crawl's archive directory")
    return rebuild_frontier(path, config).describe()
