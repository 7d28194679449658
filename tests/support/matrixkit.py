"""Helpers for the fault-matrix tests (``tests/test_matrix_*.py``): run the real crawl against
loopback servers and read back what it left (frontier rows, WARC records, articles, logs).

In-process crawls (``crawl_in_process``) use ``crawler.pipeline.Crawl`` in the test's event
loop next to a ``FaultServer``; subprocess crawls (``run_cli``/``start_cli``) run
``python -m crawler.cli crawl`` where exit codes and signals matter, against a thread-based
``PortalServer`` used as the crawler's HTTP proxy. Only the server's own address is allowed
among private addresses, so every other loopback address (the canary on 127.0.0.2) stays
refused.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import random
import re
import resource
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from warcio.archiveiterator import ArchiveIterator

from crawler.config import Config, parse_config
from crawler.frontier import Frontier, Row, Status
from crawler.pipeline import Crawl, CrawlOptions, CrawlSummary
from crawler.scope import Resolver, system_resolver
from tests.support.portalserver import PortalServer, Response

ROOT = Path(__file__).resolve().parents[2]

PROSE = (
    "Harga cabai rawit merah di Pasar Induk Kramat Jati turun menjadi Rp 38.000 per kilogram, kata "
    "pedagang pada Kamis pagi. Penurunan itu terjadi setelah pasokan dari sentra produksi di Jawa "
    "Tengah kembali normal, menurut para pedagang di pasar itu."
)


def article_html(title: str, day: str = "2016-02-23", paragraphs: Sequence[str] = (PROSE, PROSE),
                 extra_head: str = "") -> bytes:
    """An article page the ``v1`` generation of ``site_yaml`` reads (h1 + div.body)."""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f'<html><head><meta charset="utf-8"><meta property="article:published_time" '
        f'content="{day}T10:00:00+07:00"><title>{title}</title>{extra_head}</head>'
        f"<body><h1>{title}</h1><div class='body'>{body}</div></body></html>"
    ).encode()


def listing_html(urls: Iterable[str], next_url: str | None = None) -> bytes:
    items = "".join(f'<li><a class="item" href="{url}">x</a></li>' for url in urls)
    nxt = f'<a class="next" href="{next_url}">next</a>' if next_url else ""
    return f"<html><body><ul>{items}</ul>{nxt}</body></html>".encode()


def site_yaml(
    site_id: str,
    domains: Sequence[str],
    *,
    article_urls: Sequence[str] = (r"^https?://[^/]+/",),
    listings: Sequence[str] = (),
    feeds: Sequence[str] = (),
    sitemaps: Sequence[str] = (),
    generations: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """One site entry (id → settings) for ``config_text``."""
    return {
        site_id: {
            "enabled": True,
            "domains": list(domains),
            "article_urls": list(article_urls),
            "seeds": {"listings": list(listings), "feeds": list(feeds), "sitemaps": list(sitemaps)},
            "listing": {"links": "a.item", "next": "a.next"},
            "generations": list(generations) if generations is not None else [
                {"id": "v1", "title": ["css:h1"], "published": ["meta:article:published_time"],
                 "body": ["css:div.body"]},
            ],
        }
    }


def config_text(
    archive: Path,
    sites: Mapping[str, Any],
    *,
    allow: Sequence[str] = ("127.0.0.1/32",),
    proxy: str | None = None,
    **crawl: Any,
) -> str:
    """config.yaml text (JSON is YAML) with small, fast test settings; ``crawl`` overrides them."""
    settings: dict[str, Any] = {
        "interval_s": 0,
        "concurrency": 16,
        "max_concurrency_per_host": 8,
        "timeouts_s": {"connect": 1, "read": 0.5, "total": 1.5},
        "retry": {"attempts": 2, "backoff_base_s": 0.01, "backoff_max_s": 0.02, "retry_after_max_s": 5},
        "warc_writers": 1,
    }
    if proxy is not None:
        settings["proxy"] = proxy
    settings.update(crawl)
    document = {
        "crawl": settings,
        "network": {"allow_private_addresses": list(allow)},
        "archive": {"dir": str(archive), "rollover_bytes": 5_000_000, "gzip_level": 1},
        "sites": dict(sites),
    }
    return json.dumps(document, indent=1)


# ---------------------------------------------------------------- what a crawl left behind


@dataclass(frozen=True)
class Record:
    """One WARC record, read back with warcio (digests checked)."""

    type: str
    uri: str
    headers: dict[str, str]
    status: int | None
    http_headers: dict[str, str]
    payload: bytes
    warc: str

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


def warc_records(archive: Path) -> list[Record]:
    """Every record of every closed WARC file in ``archive``, in file order."""
    found = []
    for path in sorted(archive.glob("*.warc.gz")):
        with path.open("rb") as handle:
            for record in ArchiveIterator(handle, check_digests=True):
                http = record.http_headers
                status = int(http.get_statuscode()) if http is not None and record.rec_type in (
                    "response", "revisit") else None
                payload = record.raw_stream.read()  # as stored: still content-encoded
                found.append(Record(
                    type=record.rec_type,
                    uri=record.rec_headers.get_header("WARC-Target-URI") or "",
                    headers=dict(record.rec_headers.headers),
                    status=status,
                    http_headers=dict(http.headers) if http is not None else {},
                    payload=payload,
                    warc=path.name,
                ))
    return found


def captures(records: Iterable[Record], url: str) -> list[Record]:
    """The response and revisit records of ``url``."""
    return [r for r in records if r.uri == url and r.type in ("response", "revisit")]


def frontier_rows(archive: Path) -> dict[str, Row]:
    with Frontier.open(archive) as frontier:
        return {row.url: row for row in frontier.rows()}


def articles(archive: Path) -> list[dict[str, Any]]:
    path = archive / "articles.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def state(row: Row) -> str:
    """``done``, ``done:<reason>``, ``failed:<reason>``, ... as the fault matrix writes it."""
    return row.status.value + (f":{row.reason}" if row.reason else "")


class LogLines(logging.Handler):
    """Collects log messages of the ``crawler`` loggers while a crawl runs."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.levelname} {record.name}: {record.getMessage()}")

    @contextmanager
    def capture(self) -> Iterator[LogLines]:
        logger = logging.getLogger("crawler")
        before = logger.level
        logger.addHandler(self)
        logger.setLevel(logging.INFO)
        try:
            yield self
        finally:
            logger.removeHandler(self)
            logger.setLevel(before)


@dataclass(frozen=True)
class CrawlOutcome:
    """A finished in-process crawl: summary, frontier rows, WARC records, articles, log lines."""

    archive: Path
    summary: CrawlSummary
    rows: dict[str, Row]
    records: list[Record]
    articles: list[dict[str, Any]]
    log: list[str]

    def state(self, url: str) -> str:
        assert url in self.rows, f"{url} has no frontier row; rows: {sorted(self.rows)}"
        return state(self.rows[url])

    def captures(self, url: str) -> list[Record]:
        return captures(self.records, url)

    def records_for(self, url: str) -> list[Record]:
        return [r for r in self.records if r.uri == url]

    def article(self, url: str) -> dict[str, Any] | None:
        found = [a for a in self.articles if a["url"] == url]
        assert len(found) <= 1, f"{url}: {len(found)} articles written"
        return found[0] if found else None


async def crawl_in_process(
    config: Config | str,
    archive: Path,
    seeds: Sequence[str] = (),
    *,
    resolver: Resolver = system_resolver,
    **options: Any,
) -> CrawlOutcome:
    """Run ``Crawl`` to its end in this event loop and read back everything it left."""
    if isinstance(config, str):
        config = parse_config(config)
    lines = LogLines()
    with lines.capture():
        summary = await Crawl(config, CrawlOptions(archive, seeds=tuple(seeds), **options),
                              resolver=resolver).run()
    return CrawlOutcome(archive, summary, frontier_rows(archive), warc_records(archive), articles(archive),
                        lines.messages)


# ---------------------------------------------------------------- subprocess crawls


def cli_env(fault: str | None = None) -> dict[str, str]:
    """The environment for a crawler subprocess: no proxy variables, the fault hook if asked."""
    env = {key: value for key, value in os.environ.items()
           if key != "CRAWLER_FAULT" and not key.lower().endswith("_proxy")}
    env["PYTHONPATH"] = str(ROOT)
    if fault:
        env["CRAWLER_FAULT"] = fault
    return env


def crawl_command(config: Path, archive: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "crawler.cli", "crawl", "--config", str(config), "--archive", str(archive),
            *extra]


def run_cli(command: Sequence[str], *, fault: str | None = None, timeout: float = 60,
            max_file_bytes: int | None = None) -> subprocess.CompletedProcess[str]:
    """Run a crawler command; ``max_file_bytes`` caps every file it writes (RLIMIT_FSIZE: writes
    past it fail with EFBIG, as on a full disk; Python ignores SIGXFSZ)."""

    def limit() -> None:
        if max_file_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))

    return subprocess.run(list(command), env=cli_env(fault), cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, check=False, preexec_fn=limit if max_file_bytes else None)


def run_all(
    commands: Sequence[Sequence[str]], *, timeout: float = 60
) -> list[subprocess.CompletedProcess[str]]:
    """Run independent crawler commands at the same time (they use separate archives)."""
    processes = [start_cli(command) for command in commands]
    results = []
    for command, process in zip(commands, processes, strict=True):
        stdout, stderr = process.communicate(timeout=timeout)
        results.append(subprocess.CompletedProcess(list(command), process.returncode, stdout, stderr))
    return results


def start_cli(command: Sequence[str], *, fault: str | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(list(command), env=cli_env(fault), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def assert_no_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr, f"unhandled traceback:\n{stderr[-4000:]}"


# ---------------------------------------------------------------- a small news portal


@dataclass(frozen=True)
class NewsPortal:
    """``articles`` article pages on ``host`` behind a ``{page}`` listing, served by a
    ``PortalServer`` reached as the crawler's proxy. ``padding`` adds that many bytes of
    incompressible text to each article (in a comment, so the article itself stays small)."""

    articles: int
    host: str = "news.example"
    site_id: str = "news"
    per_listing_page: int = 4
    padding: int = 0

    def article_urls(self) -> list[str]:
        return [f"http://{self.host}/read/2016/02/23/{n:04d}/judul-{n}" for n in range(self.articles)]

    def listing_template(self) -> str:
        return f"http://{self.host}/indeks?page={{page}}"

    def _article(self, number: int) -> bytes:
        filler = ""
        if self.padding:
            noise = random.Random(f"{self.host}/{number}").randbytes(self.padding * 3 // 4)
            filler = f"<!-- {base64.b64encode(noise).decode()} -->"
        return article_html(f"Judul {number}", paragraphs=(PROSE, f"Berita nomor {number}."),
                            extra_head=filler)

    def routes(self) -> dict[str, Response]:
        urls = self.article_urls()
        routes = {url: Response(200, self._article(n)) for n, url in enumerate(urls)}
        chunks = [urls[i : i + self.per_listing_page] for i in range(0, len(urls), self.per_listing_page)]
        for number, chunk in enumerate([*chunks, []], start=1):
            page = self.listing_template().replace("{page}", str(number))
            routes[page] = Response(200, listing_html(chunk))
        routes[f"http://{self.host}/robots.txt"] = Response(200, b"User-agent: *\nAllow: /\n",
                                                            (("Content-Type", "text/plain"),))
        return routes

    def site(self, **changes: Any) -> dict[str, Any]:
        """This portal's site entry; ``changes`` replace its settings (e.g. other ``domains``)."""
        site = site_yaml(self.site_id, [self.host], article_urls=[rf"^http://{re.escape(self.host)}/read/"],
                         listings=[self.listing_template()])
        site[self.site_id].update(changes)
        return site

    def config(self, server: PortalServer, archive: Path, *, sites: Mapping[str, Any] | None = None,
               **crawl: Any) -> str:
        crawl.setdefault("max_listing_pages", 100)
        crawl.setdefault("timeouts_s", {"connect": 5, "read": 5, "total": 10})
        return config_text(archive, sites if sites is not None else self.site(),
                           allow=(f"{server.host}/32",), proxy=server.url, **crawl)


def done_urls(archive: Path) -> set[str]:
    return {url for url, row in frontier_rows(archive).items() if row.status is Status.DONE}
