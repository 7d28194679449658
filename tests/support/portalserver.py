"""A loopback "internet" of news portals, reached as an HTTP proxy.

The crawler is configured with ``crawl.proxy: http://127.0.0.1:<port>``, so it runs exactly
its production code while every ``http://`` request lands here. The server answers from a
table of routes (absolute URL → response) built around the real fixture pages in
``tests/fixtures/sites/<site>/<slug>.html`` (each served at the URL its ``<slug>.json`` names):

* per site, a ``{page}`` listing (markup generated from the site's own ``listing.links``
  selector, checked to match it), an RSS feed and a gzip news sitemap behind a sitemap index,
  the fixture articles shared out among the three;
* per host, a ``robots.txt`` (with any ``Disallow`` a test asks for);
* named faults per URL: latency, N × 5xx then 200, 429 + Retry-After then 200, redirects.

Every request is logged with its monotonic time, host and URL, so tests can check pacing and
that nothing was fetched twice. ``https://`` pages (a plain proxy cannot serve them) are left
out and listed in ``Portal.unreachable``.

Runs in a background thread (``with PortalServer(...) as server``) or as a process:
``python -m tests.support.portalserver --bench-hosts 50`` prints its port.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from selectolax.lexbor import LexborHTMLParser

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sites"
PORTAL_PREFIX = "/_portal"
LINKS_PER_LISTING_PAGE = 2
_XML_TYPE = (("Content-Type", "application/xml"),)
_GZIP_TYPE = (("Content-Type", "application/x-gzip"),)
_TEXT_TYPE = (("Content-Type", "text/plain"),)


# ---------------------------------------------------------------- responses and faults


@dataclass(frozen=True)
class Response:
    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "text/html"),)
    early_hints: tuple[str, ...] = ()  # Link values sent first in an interim "103 Early Hints"


@dataclass(frozen=True)
class Fault:
    """A named misbehaviour of one URL.

    ``latency_s``: sleep before answering. ``fail_first``: answer the first N hits with
    ``fail_status`` (and ``Retry-After: retry_after`` when set), then the route.
    ``redirect_to``: always answer ``redirect_status`` to that location.
    """

    latency_s: float = 0.0
    fail_first: int = 0
    fail_status: int = 503
    retry_after: str | None = None
    redirect_to: str | None = None
    redirect_status: int = 302

    @classmethod
    def server_error_then_ok(cls, times: int = 1, status: int = 500) -> Fault:
        return cls(fail_first=times, fail_status=status)

    @classmethod
    def too_many_requests(cls, retry_after_s: int, times: int = 1) -> Fault:
        return cls(fail_first=times, fail_status=429, retry_after=str(retry_after_s))

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Fault:
        return cls(redirect_to=location, redirect_status=status)

    @classmethod
    def latency(cls, seconds: float) -> Fault:
        return cls(latency_s=seconds)


@dataclass(frozen=True)
class Hit:
    """One request as the server saw it."""

    at: float  # time.monotonic() when the request line was read
    host: str  # host[:port] as requested
    url: str
    status: int
    connection: int


REASONS = {
    200: "OK", 301: "Moved Permanently", 302: "Found", 404: "Not Found", 429: "Too Many Requests",
    500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
}


# ---------------------------------------------------------------- the server


class PortalServer:
    """An HTTP/1.1 server (keep-alive) on 127.0.0.1:0 that answers proxy-form requests."""

    def __init__(
        self,
        routes: Mapping[str, Response] | None = None,
        host: str = "127.0.0.1",
        *,
        dynamic: Callable[[str], Response | None] | None = None,
        listeners: int = 1,
    ) -> None:
        self.routes: dict[str, Response] = dict(routes or {})
        self.dynamic = dynamic
        self.faults: dict[str, Fault] = {}
        self.log: list[Hit] = []
        self.host = host
        self.port = 0
        self.ports: list[int] = []  # one per listener; ``port`` is the first
        self._listeners = listeners
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._ready = threading.Event()
        self._connections = 0

    # -------------------------------------------------- lifecycle

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> PortalServer:
        self._thread = threading.Thread(target=self._run, name="portalserver", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("portal server did not start")
        return self

    def stop(self) -> None:
        loop, stopping = self._loop, self._stopping
        if loop is None or stopping is None:
            return
        loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = None

    def __enter__(self) -> PortalServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        finally:
            loop.close()

    async def _main(self) -> None:
        self._stopping = asyncio.Event()
        servers = [await asyncio.start_server(self._serve, self.host, 0) for _ in range(self._listeners)]
        self.ports = [server.sockets[0].getsockname()[1] for server in servers]
        self.port = self.ports[0]
        self._ready.set()
        await self._stopping.wait()
        for server in servers:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for server in servers:
            await server.wait_closed()

    # -------------------------------------------------- routes and faults

    def fault(self, url: str, fault: Fault) -> None:
        self.faults[url] = fault

    def arrived(self) -> set[str]:
        """URLs requested so far, counted on arrival (``log`` records a hit when answered)."""
        with self._lock:
            return set(self._counts)

    def hits(self, url: str | None = None, host: str | None = None) -> list[Hit]:
        with self._lock:
            return [
                hit for hit in self.log
                if (url is None or hit.url == url) and (host is None or hit.host == host)
            ]

    # -------------------------------------------------- HTTP

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections += 1
        connection = self._connections
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                at = time.monotonic()
                method, url, headers = _parse_head(head)
                response = await self._answer(url, at, connection)
                keep = headers.get("connection", "").lower() != "close"
                writer.write(_render(response, include_body=method != "HEAD", keep_alive=keep))
                await writer.drain()
                if not keep:
                    return
        except ConnectionError:
            return
        finally:
            writer.close()
            if task is not None:
                self._tasks.discard(task)

    async def _answer(self, url: str, at: float, connection: int) -> Response:
        fault = self.faults.get(url)
        with self._lock:
            count = self._counts[url] = self._counts.get(url, 0) + 1
        if fault is not None and fault.latency_s:
            await asyncio.sleep(fault.latency_s)
        response = self._respond(url, fault, count)
        with self._lock:
            self.log.append(Hit(at, urlsplit(url).netloc, url, response.status, connection))
        return response

    def _respond(self, url: str, fault: Fault | None, count: int) -> Response:
        if fault is not None and fault.redirect_to is not None:
            return Response(fault.redirect_status, b"", (("Location", fault.redirect_to),))
        if fault is not None and count <= fault.fail_first:
            headers: tuple[tuple[str, str], ...] = (("Content-Type", "text/html"),)
            if fault.retry_after is not None:
                headers += (("Retry-After", fault.retry_after),)
            return Response(fault.fail_status, b"<h1>try again later</h1>", headers)
        found = self.routes.get(url)
        if found is None and self.dynamic is not None:
            found = self.dynamic(url)
        if found is not None:
            return found
        if url == CONTROL_LOG_URL:
            with self._lock:
                rows = [[hit.at, hit.host, hit.url, hit.status] for hit in self.log if hit.url != url]
            return Response(200, json.dumps(rows).encode(), (("Content-Type", "application/json"),))
        if urlsplit(url).path == "/robots.txt":
            return Response(404, b"", _TEXT_TYPE)
        return Response(404, b"<h1>not found</h1>")


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = (lines[0].split(" ") + ["", ""])[:3]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    if not target.startswith(("http://", "https://")):  # origin form: a direct request
        target = f"http://{headers.get('host', 'unknown')}{target}"
    return method, target, headers


def _render(response: Response, *, include_body: bool, keep_alive: bool) -> bytes:
    hints = "".join(f"Link: {link}\r\n" for link in response.early_hints)
    interim = f"HTTP/1.1 103 Early Hints\r\n{hints}\r\n".encode("latin-1") if hints else b""
    lines = [f"HTTP/1.1 {response.status} {REASONS.get(response.status, 'Status')}"]
    lines += [f"{name}: {value}" for name, value in response.headers]
    lines.append(f"Content-Length: {len(response.body)}")
    lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
    head = interim + ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + response.body if include_body else head


class Canary(PortalServer):
    """A server that must never be contacted: every route is a 200 that counts."""

    def __init__(self, host: str = "127.0.0.2") -> None:
        super().__init__(host=host)


# ---------------------------------------------------------------- fixture portals


@dataclass(frozen=True)
class FixturePage:
    site: str
    slug: str
    url: str
    html: Path
    article: Mapping[str, object] | None

    @property
    def body(self) -> bytes:
        return self.html.read_bytes()


def fixture_pages(root: Path = FIXTURES, sites: Iterable[str] | None = None) -> list[FixturePage]:
    """Every fixture page that has a ``<slug>.json`` with a URL, sorted by site and slug."""
    wanted = set(sites) if sites is not None else None
    found = []
    for meta in sorted(root.glob("*/*.json")):
        site = meta.parent.name
        if wanted is not None and site not in wanted:
            continue
        data = json.loads(meta.read_text(encoding="utf-8"))
        url = (data.get("page") or {}).get("url")
        html = meta.with_suffix(".html")
        if url and html.exists():
            found.append(FixturePage(site, meta.stem, url, html, data.get("article")))
    return found


@dataclass(frozen=True)
class SiteShape:
    """What the portal needs to know of a site to build pages its crawler profile can read."""

    id: str
    domains: tuple[str, ...]
    listing_links_css: str | None = None
    listing_next_css: str | None = None


@dataclass
class PortalSite:
    """The seeds the portal built for one site and where each article can be found."""

    id: str
    listing: str  # a {page} template
    feed: str
    sitemap_index: str
    found_via: dict[str, str] = field(default_factory=dict)  # article URL → listing/feed/sitemap


@dataclass
class Portal:
    routes: dict[str, Response]
    sites: dict[str, PortalSite]
    pages: list[FixturePage]
    unreachable: list[FixturePage]

    def articles(self) -> list[FixturePage]:
        """The fixture articles a crawl from the seeds can reach."""
        return [page for page in self.pages if page.article is not None]


def build_portal(
    shapes: Iterable[SiteShape],
    *,
    root: Path = FIXTURES,
    disallow: Mapping[str, Iterable[str]] | None = None,
    extra_listing_links: Mapping[str, Iterable[str]] | None = None,
) -> Portal:
    """Routes for the fixture pages of ``shapes`` plus listings, feeds, sitemaps and robots.txt.

    ``disallow``: host → paths its robots.txt disallows. ``extra_listing_links``: site → URLs
    added to its first listing page (e.g. a URL that redirects off-site).
    """
    routes: dict[str, Response] = {}
    sites: dict[str, PortalSite] = {}
    served: list[FixturePage] = []
    unreachable: list[FixturePage] = []
    disallow = disallow or {}
    extra_listing_links = extra_listing_links or {}
    for shape in shapes:
        pages = fixture_pages(root, [shape.id])
        plain = [page for page in pages if page.url.startswith("http://")]
        unreachable += [page for page in pages if not page.url.startswith("http://")]
        for page in plain:
            routes[page.url] = Response(200, page.body)
        served += plain
        sites[shape.id] = _site_routes(shape, plain, routes, list(extra_listing_links.get(shape.id, ())))
    hosts = {urlsplit(url).hostname or "" for url in routes}
    for host in sorted(hosts):
        lines = ["User-agent: *"] + [f"Disallow: {path}" for path in disallow.get(host, ())] + ["Allow: /"]
        routes[f"http://{host}/robots.txt"] = Response(200, ("\n".join(lines) + "\n").encode(), _TEXT_TYPE)
    return Portal(routes, sites, served, unreachable)


def _site_routes(
    shape: SiteShape, pages: list[FixturePage], routes: dict[str, Response], extra: list[str]
) -> PortalSite:
    home = f"http://www.{shape.domains[0]}"
    site = PortalSite(
        id=shape.id,
        listing=f"{home}{PORTAL_PREFIX}/indeks?page={{page}}",
        feed=f"{home}{PORTAL_PREFIX}/rss.xml",
        sitemap_index=f"{home}{PORTAL_PREFIX}/sitemap-index.xml",
    )
    articles = [page for page in pages if page.article is not None]
    channels: dict[str, list[FixturePage]] = {"listing": [], "feed": [], "sitemap": []}
    for index, page in enumerate(articles):
        channel = ("listing", "feed", "sitemap")[index % 3]
        channels[channel].append(page)
        site.found_via[page.url] = channel
    _listing_routes(shape, site, [page.url for page in channels["listing"]], extra, routes)
    routes[site.feed] = Response(200, _rss(shape, channels["feed"]), _XML_TYPE)
    news = f"{home}{PORTAL_PREFIX}/sitemap-news.xml.gz"
    routes[site.sitemap_index] = Response(200, _sitemap_index([news]), _XML_TYPE)
    routes[news] = Response(200, gzip.compress(_news_sitemap(channels["sitemap"]), mtime=0), _GZIP_TYPE)
    return site


def _listing_routes(
    shape: SiteShape, site: PortalSite, urls: list[str], extra: list[str], routes: dict[str, Response]
) -> None:
    links = extra + urls
    chunks = [links[i : i + LINKS_PER_LISTING_PAGE] for i in range(0, len(links), LINKS_PER_LISTING_PAGE)]
    chunks = chunks or [[]]
    for number, chunk in enumerate(chunks + [[]], start=1):  # one page past the end: no links
        url = site.listing.replace("{page}", str(number))
        next_url = site.listing.replace("{page}", str(number + 1)) if number <= len(chunks) else None
        routes[url] = Response(200, listing_html(shape, chunk, next_url))


def listing_html(shape: SiteShape, urls: list[str], next_url: str | None) -> bytes:
    """A listing page whose links ``shape.listing_links_css`` selects (checked)."""
    css = shape.listing_links_css or "a[href]"
    items = [markup_for(css, url, f"Berita {n}") for n, url in enumerate(urls, start=1)]
    if next_url and shape.listing_next_css:
        items.append(markup_for(shape.listing_next_css, next_url, "Selanjutnya"))
    html = (
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Indeks Berita</title></head>"
        "<body><h1>Indeks</h1>\n" + "\n".join(items) + "\n</body></html>\n"
    )
    tree = LexborHTMLParser(html)
    found = [node.attributes.get("href") for node in tree.css(css)]
    if found != urls:
        raise ValueError(f"listing markup for {shape.id} does not match its selector {css!r}: {found}")
    return html.encode("utf-8")


_COMPOUND = re.compile(r"^(?P<tag>[a-zA-Z][a-zA-Z0-9]*)?(?P<rest>(?:[.#][\w-]+|\[[^\]]+\])*)$")


def markup_for(selector: str, href: str, text: str) -> str:
    """HTML for one link that the first alternative of ``selector`` matches.

    Handles descendant/child chains of ``tag.class#id[attr=value]`` compounds, which is what
    listing selectors are; anything else raises ValueError.
    """
    first = selector.split(",")[0].strip()
    parts = [part for part in re.split(r"\s*>\s*|\s+", first) if part]
    opened: list[str] = []
    html = ""
    for index, part in enumerate(parts):
        match = _COMPOUND.match(part)
        if match is None:
            raise ValueError(f"cannot build markup for selector part {part!r} of {selector!r}")
        tag = match["tag"] or ("a" if index == len(parts) - 1 else "div")
        attributes = _attributes(match["rest"])
        if index == len(parts) - 1:
            attributes["href"] = href
        rendered = "".join(f' {name}="{_attr(value)}"' for name, value in attributes.items())
        html += f"<{tag}{rendered}>"
        opened.append(tag)
    html += escape(text)
    for tag in reversed(opened):
        html += f"</{tag}>"
    return html


def _attr(value: str) -> str:
    return escape(value, {'"': "&quot;"})


def _attributes(rest: str) -> dict[str, str]:
    attributes: dict[str, str] = {}
    classes = re.findall(r"\.([\w-]+)", rest)
    if classes:
        attributes["class"] = " ".join(classes)
    ident = re.search(r"#([\w-]+)", rest)
    if ident:
        attributes["id"] = ident[1]
    for name, value in re.findall(r"\[([\w-]+)(?:[~|^$*]?=['\"]?([^'\"\]]*)['\"]?)?\]", rest):
        attributes[name] = value or ""
    return attributes


def _published(page: FixturePage) -> datetime:
    published = page.article.get("published") if page.article else None
    if isinstance(published, str):
        return datetime.fromisoformat(published)
    return datetime(2016, 1, 1, tzinfo=UTC)


def _rss(shape: SiteShape, pages: list[FixturePage]) -> bytes:
    items = "".join(
        f"<item><title>{escape(str((page.article or {}).get('title', page.slug)))}</title>"
        f"<link>{escape(page.url)}</link><guid>{escape(page.url)}</guid>"
        f"<pubDate>{format_datetime(_published(page))}</pubDate></item>"
        for page in pages
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>{escape(shape.id)}</title><link>http://www.{shape.domains[0]}/</link>"
        f"<description>portal</description>{items}</channel></rss>"
    ).encode()


def _sitemap_index(children: list[str]) -> bytes:
    entries = "".join(f"<sitemap><loc>{escape(url)}</loc></sitemap>" for url in children)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</sitemapindex>'
    ).encode()


def _news_sitemap(pages: list[FixturePage]) -> bytes:
    entries = "".join(
        f"<url><loc>{escape(page.url)}</loc><news:news><news:publication>"
        "<news:name>portal</news:name><news:language>id</news:language></news:publication>"
        f"<news:publication_date>{_published(page).isoformat()}</news:publication_date>"
        f"<news:title>{escape(str((page.article or {}).get('title', page.slug)))}</news:title>"
        "</news:news></url>"
        for page in pages
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        f'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">{entries}</urlset>'
    ).encode()


# ---------------------------------------------------------------- pacing check


def interval_violations(log: Iterable[Hit], min_gap_s: float, *, tolerance_s: float = 0.01) -> list[str]:
    """Pairs of consecutive requests to one host closer than ``min_gap_s`` (minus a tolerance)."""
    last: dict[str, Hit] = {}
    problems = []
    for hit in sorted(log, key=lambda h: h.at):
        before = last.get(hit.host)
        if before is not None and hit.at - before.at < min_gap_s - tolerance_s:
            problems.append(f"{hit.host}: {before.url} then {hit.url} {hit.at - before.at:.3f}s apart")
        last[hit.host] = hit
    return problems


# ---------------------------------------------------------------- as a process (benchmarks)


CONTROL_LOG_URL = "http://portal.control/log"


@dataclass(frozen=True)
class BenchPortal:
    """Article pages of about ``page_bytes`` (a real kompas fixture article, padded, each page
    unique) on each of ``hosts`` (netlocs: names reached through the proxy, or
    ``127.0.0.1:<port>`` listeners reached directly), with a sitemap and robots.txt per host.

    Pages are made on request, so a 100,000-page portal costs no memory.
    """

    hosts: tuple[str, ...]
    pages_per_host: int
    page_bytes: int

    def base(self) -> bytes:
        """The largest single-page kompas fixture article not above ``page_bytes`` (else the smallest)."""
        from crawler.config import builtin_site
        from crawler.extract import Continuation, Extractor
        from crawler.models import Page

        extractor = Extractor([builtin_site("kompas")])
        single = sorted(
            (page.body for page in fixture_pages(FIXTURES, ["kompas"]) if page.article is not None
             and extractor.continuation(Page(url=page.url, body=page.body)) == Continuation()),
            key=len,
        )
        fitting = [body for body in single if len(body) <= self.page_bytes]
        return fitting[-1] if fitting else single[0]

    def article_urls(self) -> list[str]:
        return [self.article_url(host, n) for host in self.hosts for n in range(self.pages_per_host)]

    @staticmethod
    def article_url(host: str, number: int) -> str:
        return f"http://{host}/read/2016/02/23/{number:08d}/bench-{number}"

    def sitemaps(self) -> list[str]:
        return [f"http://{host}/sitemap.xml" for host in self.hosts]

    def responder(self) -> Callable[[str], Response | None]:
        base = self.base()
        pad = max(0, self.page_bytes - len(base) - 40)
        head, _, tail = base.partition(b"</body>")
        known = set(self.hosts)
        page = re.compile(r"^/read/2016/02/23/(\d{8})/bench-\d+$")

        def respond(url: str) -> Response | None:
            parts = urlsplit(url)
            if parts.netloc not in known:
                return None
            if parts.path == "/robots.txt":
                return Response(200, b"User-agent: *\nAllow: /\n", _TEXT_TYPE)
            if parts.path == "/sitemap.xml":
                urls = "".join(
                    f"<url><loc>{self.article_url(parts.netloc, n)}</loc></url>"
                    for n in range(self.pages_per_host)
                )
                xml = f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
                return Response(200, xml.encode(), _XML_TYPE)
            found = page.match(parts.path)
            if found is None or int(found[1]) >= self.pages_per_host:
                return None
            marker = f"<!-- {url} -->".encode()  # every page unique: no revisit records
            return Response(200, head + marker + b"<!--" + b"x" * pad + b"--></body>" + tail)

        return respond


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bench-hosts", type=int, default=50)
    parser.add_argument("--pages-per-host", type=int, default=40)
    parser.add_argument("--page-bytes", type=int, default=100_000)
    parser.add_argument("--direct", action="store_true",
                        help="one listener per host (127.0.0.1:<port>) instead of names behind the proxy")
    args = parser.parse_args()
    server = PortalServer(listeners=args.bench_hosts if args.direct else 1).start()
    if args.direct:
        hosts = tuple(f"127.0.0.1:{port}" for port in server.ports)
    else:
        hosts = tuple(f"portal{n:02d}.kompas.com" for n in range(args.bench_hosts))
    server.dynamic = BenchPortal(hosts, args.pages_per_host, args.page_bytes).responder()
    print(json.dumps({"port": server.port, "hosts": hosts}), flush=True)
    try:
        threading.Event().wait()
    finally:
        server.stop()


if __name__ == "__main__":
    main()


# ---------------------------------------------------------------- crawler config for a portal


def portal_config(
    portal: Portal,
    server: PortalServer,
    archive_dir: Path,
    *,
    interval_s: float = 0.2,
    concurrency: int = 8,
    site_ids: Iterable[str] | None = None,
    extra_crawl: Mapping[str, object] | None = None,
    rollover_bytes: int = 2_000_000,
) -> str:
    """config.yaml text for crawling ``portal`` through ``server`` as a proxy.

    Only the server's own address is allowed among private addresses; each site's seeds are
    the portal's listing, feed and sitemap index.
    """
    wanted = list(site_ids) if site_ids is not None else list(portal.sites)
    crawl: dict[str, object] = {
        "proxy": server.url,
        "interval_s": interval_s,
        "concurrency": concurrency,
        "max_concurrency_per_host": 2,
        "timeouts_s": {"connect": 5, "read": 5, "total": 10},
        "retry": {"attempts": 3, "backoff_base_s": 0.05, "backoff_max_s": 0.2, "retry_after_max_s": 30},
        **(extra_crawl or {}),
    }
    config = {
        "crawl": crawl,
        "network": {"allow_private_addresses": [f"{server.host}/32"]},
        "archive": {"dir": str(archive_dir), "rollover_bytes": rollover_bytes},
        "sites": {
            site_id: {
                "enabled": True,
                "seeds": {
                    "listings": [portal.sites[site_id].listing],
                    "feeds": [portal.sites[site_id].feed],
                    "sitemaps": [portal.sites[site_id].sitemap_index],
                },
            }
            for site_id in wanted
        },
    }
    return json.dumps(config, indent=1)  # JSON is YAML
