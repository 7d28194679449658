"""Offline replay: WARC files → ``Page`` → the crawl's extraction → ``articles.jsonl``.

The output equals the crawl's ``articles.jsonl`` for the same captures (same records, order
aside) because replay makes the decisions the crawl pipeline makes, on the archived pages:

* a capture is read as an article page when its status is 2xx and its URL is an article URL
  of a known site (``Extractor.is_article_url``; ``--sites`` narrows the sites);
* the article is put together by ``crawler.assemble.Assembly``, the crawl's own step: it says
  which URL it wants next (the whole view, or the next page, canonical, of the same site, not
  had before, up to ``multipage.max_pages``) and replay feeds it the archived capture of that
  URL (following archived redirects), or nothing when the capture is not a 200; pages taken in
  as continuations are not articles of their own, as in the crawl (the frontier settles them
  with the first page); ``since`` drops articles published before it, as the crawl does;
* articles are de-duplicated by ``crawler.sink.dedup_key`` in capture order (WARC-Date, then file
  and offset; the crawl's writer lanes interleave files in time), keeping the first as the sink does;
* revisit records are read with the payload of their original (from any of the files).

Files are processed in parallel (one task per file, a process pool of ``workers``), each
streamed record by record. Continuations and revisit originals found in another file are
resolved afterwards by the parent, from the captures of every file as their CDXJ indexes list
them (the ``<file>.cdxj`` the crawl writes: ``crawler.warc.captures``), reading only the
records it needs by offset. A file whose index is missing, stale or damaged is read whole, as
before (cheaper than indexing it); with ``write_indexes`` it is indexed with the crawl's
indexer and the index written beside it for the next replay (read whole where it cannot be).
Damaged records are reported with file and offset and skipped (``strict`` stops at the first one).
"""

from __future__ import annotations

import heapq
import logging
import multiprocessing
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from functools import lru_cache, partial
from pathlib import Path
from typing import IO, TypeVar
from urllib.parse import urljoin

from crawler.assemble import Assembly, AssemblyRules
from crawler.errors import (
    ArchiveCorrupt,
    ArchiveError,
    CrawlerError,
    DecodeError,
    ExtractionError,
)
from crawler.models import Page
from crawler.sink import dedup_key
from crawler.warc.captures import IndexedOrigins, IndexEntry, built_entries, fresh_entries
from crawler.warc.http import HttpParseError, parse_http_response
from crawler.warc.naming import warc_paths
from crawler.warc.pages import (
    CAPTURE_TYPES,
    Capture,
    OriginIndex,
    headerless_revisit,
    load_original,
    original_status,
    page_from_record,
)
from crawler.warc.reader import Damage, WarcRecord, iter_records, read_record_at

__all__ = ["ReplayOptions", "ReplaySummary", "replay", "warc_paths"]

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

KNOWN_TYPES = frozenset({"warcinfo", "response", "resource", "request", "metadata", "revisit",
                         "conversion", "continuation"})
MAX_REDIRECT_HOPS = 5


@dataclass(frozen=True)
class ReplayOptions:
    """How to replay: caps, which sites, strictness, and the config the crawl used."""

    max_decoded_bytes: int = 50_000_000
    sites: frozenset[str] | None = None
    strict: bool = False
    config_path: str | None = None
    since: date | None = None  # --since: articles published before it are not written (as in the crawl)
    # --write-indexes: a file without a fresh CDXJ index gets one beside it (the crawl's indexer),
    # for the next replay; by default replay writes nothing into the archive and reads such a file whole.
    write_indexes: bool = False


@dataclass
class ReplaySummary:
    files: int = 0
    records: int = 0
    captures: int = 0
    articles: int = 0
    duplicates: int = 0
    damaged: int = 0
    unknown_types: int = 0
    failed: Counter[str] = field(default_factory=Counter)

    def describe(self) -> str:
        failed = ", ".join(f"{reason} {count}" for reason, count in sorted(self.failed.items()))
        return (f"replay: {self.files} files, {self.records} records, {self.captures} captures, "
                f"{self.articles} articles ({self.duplicates} duplicates dropped), {self.damaged} damaged"
                + (f", {self.unknown_types} of unknown type skipped" if self.unknown_types else "")
                + (f"; not extracted: {failed}" if failed else ""))


# ---------------------------------------------------------------------- values passed between processes


Key = tuple[int, int, int]  # (capture time in µs, file index, position in the file): output order


@dataclass(frozen=True)
class PageRef:
    """An archived capture: where it is and, for a revisit, where its payload is."""

    path: str
    offset: int
    url: str
    status: int
    location: str | None = None
    original: Capture | None = None
    member_index: int = 0
    date_us: int = 0  # WARC-Date in µs since the epoch


@dataclass(frozen=True)
class Pending:
    """An article page whose continuation (or revisit original) is in another file."""

    key: Key  # of the first page: the order the crawl wrote in
    first: PageRef
    pages: tuple[PageRef, ...]  # the pages joined so far (the first included)
    wanted: str | None  # the URL still to find; None: the first page is not read yet


CaptureId = tuple[str, int, int]  # (path, offset, member index)
Consumed = tuple[Key, CaptureId]  # a capture taken in by the article whose first page has that key


@dataclass
class FileResult:
    index: int
    path: str
    articles: list[tuple[Key, str, str]] = field(default_factory=list)  # (key, dedup key hex, JSON line)
    consumed: list[Consumed] = field(default_factory=list)  # captures joined into an article, by its key
    pending: list[Pending] = field(default_factory=list)
    damages: list[str] = field(default_factory=list)
    records: int = 0
    captures: int = 0
    unknown_types: int = 0
    failed: Counter[str] = field(default_factory=Counter)


# ---------------------------------------------------------------------- the extraction context


@lru_cache(maxsize=4)
def _context(config_path: str | None, since: date | None = None) -> AssemblyRules:
    """The crawl's assembly rules: its config's sites and URL cap, ``--since`` (built once per process)."""
    from crawler.config import default_config, load_config
    from crawler.extract import Extractor

    config = load_config(config_path) if config_path else default_config()
    return AssemblyRules(Extractor(config.sites), config.crawl.max_url_length, since)


Lookup = Callable[[str, "PageRef"], "PageRef | None"]


class _Reader:
    """Feeds archived captures to ``crawler.assemble`` as the crawl feeds fetched pages."""

    def __init__(self, options: ReplayOptions, result: FileResult) -> None:
        self.options = options
        self.rules = _context(options.config_path, options.since)
        self.extractor = self.rules.extractor
        self.result = result

    def wants(self, ref: PageRef) -> bool:
        if not 200 <= ref.status < 300 or not self.extractor.is_article_url(ref.url):
            return False
        if self.options.sites is None:
            return True
        site = self.extractor.site_for(ref.url)
        return site is not None and site.id in self.options.sites

    def page(self, ref: PageRef, origins: OriginIndex | None = None) -> Page:
        record = read_record_at(ref.path, ref.offset, member_index=ref.member_index)
        if (record.target_uri or "") != ref.url:  # a ref from a CDXJ index that does not fit the file
            raise ArchiveCorrupt(f"{record.where()}: holds {record.target_uri}, its CDXJ index says "
                                 f"{ref.url}; delete the index to have it built again")
        return self.page_of(record, ref, origins)

    def page_of(self, record: WarcRecord, ref: PageRef, origins: OriginIndex | None = None) -> Page:
        original = None
        if record.rec_type == "revisit":
            capture = ref.original or (origins.find(record) if origins else None)
            original = load_original(record, capture)
        return page_from_record(record, max_decoded_bytes=self.options.max_decoded_bytes, original=original)

    def begin(self, page: Page) -> Assembly:
        return Assembly(self.rules, page)

    def emit(self, key: Key, assembly: Assembly) -> None:
        """Extract the article (counting why not, as the crawl's frontier does)."""
        pages = assembly.pages
        try:
            done = assembly.finish()
        except (ExtractionError, DecodeError) as exc:
            self.result.failed[exc.reason] += 1
            log.info("%s: %s", pages[0].url, exc)
            return
        article = done.kept
        if article is None:
            self.result.failed[done.outcome.value] += 1
        elif self.options.sites is None or article.site in self.options.sites:
            digest = dedup_key(article.to_dict()).hex()  # computed here, in the worker, not in the parent
            self.result.articles.append((key, digest, article.to_json()))

    def failed(self, exc: CrawlerError, where: str) -> None:
        if isinstance(exc, ArchiveError):
            message = str(exc)
            self.result.damages.append(message if where in message else f"{where}: {message}")
            if self.options.strict:
                raise exc
            return
        self.result.failed[exc.reason] += 1
        log.info("%s: %s", where, exc)

    def complete(self, state: Pending, lookup: Lookup, origins: OriginIndex | None,
                 first_page: Page | None = None) -> Pending | None:
        """Feed ``state``'s article the captures it wants, found through ``lookup``; emit it
        when complete. The pages already had are fed again (assembly is deterministic), so a
        ``Pending`` carries only where they are.

        Returns the ``Pending`` still missing a URL, or None when done (emitted or failed).
        """
        try:
            assembly = self._rebuilt(state, origins, first_page)
            refs = list(state.pages)
            while assembly.wanted is not None:
                found = lookup(assembly.wanted, refs[-1])
                if found is None:
                    return Pending(state.key, state.first, tuple(refs), assembly.wanted)
                self.result.consumed.append((state.key, (found.path, found.offset, found.member_index)))
                if found.status != 200:
                    assembly.feed(None)  # the crawl's follow-up fetch gives up on it
                    break
                assembly.feed(self.page(found, origins))
                refs.append(found)
        except CrawlerError as exc:
            self.failed(exc, f"{state.first.path} offset {state.first.offset}")
            return None
        self.emit(state.key, assembly)
        return None

    def _rebuilt(self, state: Pending, origins: OriginIndex | None, first_page: Page | None) -> Assembly:
        assembly = self.begin(first_page or self.page(state.first, origins))
        for ref in state.pages[1:]:
            assembly.feed(self.page(ref, origins))
        return assembly

    def start(
        self, key: Key, ref: PageRef, lookup: Lookup, origins: OriginIndex | None
    ) -> Pending | None:
        """Read an article page: emit its article, or return what it waits for."""
        try:
            page = self.page(ref, origins)
        except CrawlerError as exc:
            self.failed(exc, f"{ref.path} offset {ref.offset}")
            return None
        return self.complete(Pending(key, ref, (ref,), None), lookup, origins, first_page=page)

    def give_up(self, state: Pending, origins: OriginIndex | None) -> None:
        """What the crawl does when a continuation cannot be had: the pages it has."""
        try:
            assembly = self._rebuilt(state, origins, None)
            if assembly.wanted is not None:
                assembly.feed(None)
        except CrawlerError as exc:
            self.failed(exc, f"{state.first.path} offset {state.first.offset}")
            return
        self.emit(state.key, assembly)


# ---------------------------------------------------------------------- one file (in a worker)


def capture_ref(record: WarcRecord, path: str, original: Capture | None = None) -> PageRef | None:
    """The ``PageRef`` of a response/revisit record, or None when it holds no HTTP response."""
    if record.block is None:
        return None
    try:
        head = None if headerless_revisit(record) else parse_http_response(record.block)
    except HttpParseError:
        return None
    url = record.target_uri or ""
    status = head.status if head else original_status(original)
    location = head.header("location") if head else None
    moment = record.date
    date_us = int(moment.timestamp() * 1_000_000) if moment else 0
    return PageRef(path, record.offset, url, status, location, original, record.member_index, date_us)


Locate = Callable[["PageRef"], "str | None"]


def lookup_capture(
    by_url: dict[str, list[PageRef]], url: str, after: PageRef, locate: Locate | None = None
) -> PageRef | None:
    """The capture of ``url`` (following archived redirects), preferring the first after ``after``.

    ``locate`` gives the Location of a redirect whose ref does not carry it (one from a CDXJ index)."""
    for _ in range(MAX_REDIRECT_HOPS + 1):
        refs = by_url.get(url)
        if not refs:
            return None
        here = (after.offset, after.member_index)
        later = [r for r in refs if r.path != after.path or (r.offset, r.member_index) > here]
        ref = later[0] if later else refs[-1]
        if 300 <= ref.status < 400:
            location = ref.location if ref.location or locate is None else locate(ref)
            if location:
                url = urljoin(url, location)
                continue
        return ref
    return None


class _Locations:
    """The Location header of redirect records, read by offset once each (a CDXJ line lacks it)."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, int, int], str | None] = {}

    def __call__(self, ref: PageRef) -> str | None:
        place = (ref.path, ref.offset, ref.member_index)
        if place not in self._seen:
            try:
                record = read_record_at(ref.path, ref.offset, member_index=ref.member_index)
            except ArchiveError:
                self._seen[place] = None
            else:
                found = capture_ref(record, ref.path)
                self._seen[place] = found.location if found is not None else None
        return self._seen[place]


class _FileReplay:
    """Replays one file: articles found within it; what needs other files goes to ``pending``."""

    def __init__(self, path: str, index: int, options: ReplayOptions) -> None:
        self.path = path
        self.result = FileResult(index=index, path=path)
        self.reader = _Reader(options, self.result)
        self.origins = OriginIndex()
        self.by_url: dict[str, list[PageRef]] = {}
        self.article_pages: list[PageRef] = []

    def run(self) -> FileResult:
        on_damage = None if self.reader.options.strict else self._damaged
        try:
            for record in iter_records(self.path, on_damage=on_damage):
                self._record(record)
        except ArchiveError as exc:  # strict: the first damage ends the file
            self.result.damages.append(str(exc))
            raise
        # Continuations come after their first page: those articles are finished once the file is indexed.
        lookup = partial(lookup_capture, self.by_url)
        for ref in self.article_pages:
            left = self.reader.start(self._key(ref), ref, lookup, self.origins)
            if left is not None:
                self.result.pending.append(left)
        self.result.articles.sort(key=lambda item: item[0])
        return self.result

    def _damaged(self, damage: Damage) -> None:
        self.result.damages.append(str(damage))

    def _key(self, ref: PageRef) -> Key:
        # Records share an offset only inside a whole-file gzip; their order there is enough.
        return (ref.date_us, self.result.index, ref.offset + ref.member_index)

    def _record(self, record: WarcRecord) -> None:
        self.result.records += 1
        kind = record.rec_type
        if kind not in KNOWN_TYPES:
            self.result.unknown_types += 1
            return
        if kind not in CAPTURE_TYPES:
            return
        self.result.captures += 1
        self.origins.note(record, self.path)
        original = self.origins.find(record) if kind == "revisit" else None
        ref = capture_ref(record, self.path, original)
        if ref is None:
            problem = ArchiveCorrupt(f"{record.where()}: no HTTP response in the record")
            self.reader.failed(problem, record.where())
            return
        self.by_url.setdefault(ref.url, []).append(ref)
        if not self.reader.wants(ref):
            return
        if kind == "revisit" and original is None:
            self.result.pending.append(Pending(self._key(ref), ref, (ref,), None))
            return
        try:
            assembly = self.reader.begin(self.reader.page_of(record, ref, self.origins))
        except CrawlerError as exc:
            self.reader.failed(exc, f"{ref.path} offset {ref.offset}")
            return
        if assembly.wanted is not None:
            self.article_pages.append(ref)  # its other pages may come later in the file
        else:
            self.reader.emit(self._key(ref), assembly)


def replay_file(task: tuple[int, str, ReplayOptions]) -> FileResult:
    """Replay one file (a process-pool task)."""
    index, path, options = task
    return _FileReplay(path, index, options).run()


FileIndex = tuple[OriginIndex, dict[str, list[PageRef]]]  # a file's captures, as _index_file finds them


def replay_file_indexed(task: tuple[int, str, ReplayOptions]) -> tuple[FileResult, FileIndex]:
    """Replay one file and keep its capture index, so the cross-file step needs no second read
    of the file (a cluster shard's side output)."""
    index, path, options = task
    job = _FileReplay(path, index, options)
    result = job.run()
    by_url = {url: [replace(ref, original=None) for ref in refs] for url, refs in job.by_url.items()}
    return result, (job.origins, by_url)


# ---------------------------------------------------------------------- the parent


def replay(
    paths: Iterable[str | os.PathLike[str]],
    out: IO[str],
    options: ReplayOptions,
    *,
    workers: int | None = None,
    on_damage: Callable[[str], None] | None = None,
) -> ReplaySummary:
    """Replay the WARC files under ``paths`` into JSON Lines on ``out``; damage goes to ``on_damage``.

    Raises the first ``ArchiveError`` when ``options.strict``.
    """
    files = [str(p) for p in warc_paths(paths)]
    summary = ReplaySummary(files=len(files))
    _context(options.config_path, options.since)  # built once here; forked workers inherit it
    report = on_damage or (lambda message: log.warning("%s", message))
    consumed: list[Consumed] = []
    pending: list[Pending] = []
    with tempfile.TemporaryFile("w+b") as spool:
        for result in _run(files, options, workers):
            _merge(result.failed, result.damages, summary, report)
            summary.records += result.records
            summary.captures += result.captures
            summary.unknown_types += result.unknown_types
            consumed.extend(result.consumed)
            pending.extend(result.pending)
            for key, digest, line in result.articles:
                spool.write(f"{key[0]}\t{key[1]}\t{key[2]}\t{digest}\t{line}\n".encode())
        late = []
        if pending:
            late = _resolve_pending(files, pending, options, consumed, summary, report, workers)
        taken = taken_positions(files, consumed)
        _write_output(heapq.merge(_sorted_spool(spool), sorted(late)), out, taken, summary)
    return summary


def taken_positions(files: Sequence[str], consumed: Iterable[Consumed]) -> set[tuple[int, int]]:
    """The (file index, position) of every capture joined into another article (``_taken``)."""
    return _taken(list(consumed), {path: index for index, path in enumerate(files)})


def _run(files: list[str], options: ReplayOptions, workers: int | None) -> Iterator[FileResult]:
    tasks = [(index, path, options) for index, path in enumerate(files)]
    yield from _in_pool(replay_file, tasks, workers)


def _in_pool(function: Callable[[T], R], tasks: list[T], workers: int | None) -> Iterator[R]:
    """``function`` over ``tasks`` on up to ``workers`` processes (all cores by default), in order."""
    count = max(1, min(workers or os.cpu_count() or 1, len(tasks)))
    if count == 1:
        yield from map(function, tasks)
        return
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with context.Pool(count) as pool:
        yield from pool.imap(function, tasks, chunksize=1)


def _merge(
    failed: Counter[str], damages: list[str], summary: ReplaySummary, report: Callable[[str], None]
) -> None:
    summary.failed.update(failed)
    summary.damaged += len(damages)
    for message in damages:
        report(message)


def _taken(consumed: list[Consumed], index_of: dict[str, int]) -> set[tuple[int, int]]:
    """The captures joined into another article, as (file index, position): not articles of their own.

    Every article URL's capture starts an assembly, continuation pages too (replay cannot tell
    them apart), so a page 2 that links back to page 1 takes page 1 in. As in the crawl, where
    page 1 comes first and settles its continuations, assemblies count in capture order and
    one whose first page was taken in by an earlier one takes nothing."""
    taken: set[tuple[int, int]] = set()
    for key, (path, offset, member) in sorted(consumed):
        if (key[1], key[2]) not in taken:
            taken.add((index_of[path], offset + member))
    return taken


def _sorted_spool(spool: IO[bytes]) -> Iterator[tuple[Key, str, str]]:
    """The spooled articles in key order; only keys and line offsets are held in memory."""
    spool.seek(0)
    index: list[tuple[Key, int]] = []
    position = 0
    for line in spool:
        moment, file_index, offset, _ = line.split(b"\t", 3)  # then dedup key, JSON
        index.append(((int(moment), int(file_index), int(offset)), position))
        position += len(line)
    index.sort()
    for key, where in index:
        spool.seek(where)
        _, _, _, digest, text = spool.readline().decode("utf-8").rstrip("\n").split("\t", 4)
        yield key, digest, text


def _write_output(
    items: Iterable[tuple[Key, str, str]], out: IO[str], taken: set[tuple[int, int]], summary: ReplaySummary
) -> None:
    for _, _, line in kept_articles(items, taken, summary):
        out.write(line + "\n")


def kept_articles(
    items: Iterable[tuple[Key, str, T]], taken: set[tuple[int, int]], summary: ReplaySummary
) -> Iterator[tuple[Key, str, T]]:
    """The articles of ``items`` (in key order) that are output: not joined into another article,
    not a duplicate of an earlier one (counted in ``summary``)."""
    seen: set[str] = set()
    for item in items:
        (_, file_index, position), digest, _ = item
        if (file_index, position) in taken:
            continue  # a page joined into another article is not an article of its own (the crawl settles it)
        if digest in seen:
            summary.duplicates += 1
            continue
        seen.add(digest)
        summary.articles += 1
        yield item


def _index_all(files: list[str], workers: int | None, write_indexes: bool = False) -> FileIndex:
    """Every capture of ``files``, from the fresh CDXJ index beside each file
    (``crawler.warc.captures``); the other files are read whole, or with ``write_indexes``
    indexed and their index written beside them (in parallel). Merged in file order: the first
    capture of a payload or URL still wins."""
    parts: list[FileIndex | None] = []
    for path in files:
        entries = fresh_entries(Path(path))
        parts.append(None if entries is None else index_of_entries(path, entries))
    missing = [number for number, part in enumerate(parts) if part is None]
    task = _built_index if write_indexes else _index_file
    built = _in_pool(task, [files[number] for number in missing], workers)
    for number, part in zip(missing, built, strict=True):
        parts[number] = part
    origins = IndexedOrigins()
    by_url: dict[str, list[PageRef]] = {}
    for part_origins, part_by_url in (part for part in parts if part is not None):
        origins.merge(part_origins)
        for url, refs in part_by_url.items():
            by_url.setdefault(url, []).extend(refs)
    return origins, by_url


def index_of_entries(path: str, entries: Iterable[IndexEntry]) -> FileIndex:
    """The capture index of the file ``path`` from its CDXJ entries (in file order): what
    ``_index_file`` finds by reading it, but for the Location of redirects (``_Locations``)."""
    origins = IndexedOrigins()
    by_url: dict[str, list[PageRef]] = {}
    for entry in entries:
        kind = entry.rec_type
        if kind not in CAPTURE_TYPES:
            continue
        origins.note_entry(path, entry)
        status = entry.status if entry.status is not None else original_status(None)  # header-less revisit
        ref = PageRef(path, entry.offset, entry.url, status, date_us=entry.date_us)
        by_url.setdefault(entry.url, []).append(ref)
    return origins, by_url


def _built_index(path: str) -> FileIndex:
    """A file's capture index from the index built for it now, or read whole (a process-pool task)."""
    entries = built_entries(Path(path))
    return index_of_entries(path, entries) if entries is not None else _index_file(path)


def merge_indexes(parts: Iterable[FileIndex]) -> FileIndex:
    """One index of the files' indexes, given in file order (the first capture still wins)."""
    origins = OriginIndex()
    by_url: dict[str, list[PageRef]] = {}
    for part_origins, part_by_url in parts:
        origins.merge(part_origins)
        for url, refs in part_by_url.items():
            by_url.setdefault(url, []).extend(refs)
    return origins, by_url


def _index_file(path: str) -> FileIndex:
    """A file's capture index by reading every record (what has no usable CDXJ index)."""
    origins = OriginIndex()
    by_url: dict[str, list[PageRef]] = {}
    for record in iter_records(path, on_damage=lambda _damage: None):
        if record.rec_type in CAPTURE_TYPES:
            origins.note(record, path)
            ref = capture_ref(record, path)
            if ref is not None:
                by_url.setdefault(ref.url, []).append(ref)
    return origins, by_url


def _resolve_pending(
    files: list[str], pending: list[Pending], options: ReplayOptions, consumed: list[Consumed],
    summary: ReplaySummary, report: Callable[[str], None], workers: int | None,
) -> list[tuple[Key, str, str]]:
    """Finish articles whose continuation or revisit original is in another file (rare: rotation)."""
    result = resolve_pending(pending, options, _index_all(files, workers, options.write_indexes))
    consumed.extend(result.consumed)
    _merge(result.failed, result.damages, summary, report)
    return result.articles


def resolve_pending(pending: Iterable[Pending], options: ReplayOptions, index: FileIndex) -> FileResult:
    """The articles of ``pending`` completed from ``index`` (every file's captures), or with the
    pages the crawl would have had; what they consumed, failed on and found damaged."""
    origins, by_url = index
    result = FileResult(index=-1, path="")
    reader = _Reader(options, result)
    lookup = partial(lookup_capture, by_url, locate=_Locations())
    for state in pending:
        if state.wanted is None:
            left = reader.start(state.key, state.first, lookup, origins)
        else:
            left = reader.complete(state, lookup, origins)
        if left is not None:
            reader.give_up(left, origins)
    return result
