"""The two values every stage shares: a ``Page`` (what was fetched or replayed) and an
``Article`` (what was extracted from it).

A ``Page`` made from a live response, from a WARC record or from a fixture file is the same
kind of value; that is what lets one extractor serve the crawl, replay and the tests.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class Source:
    """Where a page's bytes are stored: WARC file name, member offset and record id."""

    warc: str | None = None
    offset: int | None = None
    record_id: str | None = None
    fetched: str | None = None  # ISO 8601 UTC, e.g. 2026-11-21T10:00:00Z


@dataclass(frozen=True)
class Page:
    """One HTTP response as the extractors see it.

    ``body`` is the payload with any Content-Encoding removed (bytes, charset not yet
    decoded); ``headers`` are the response headers in the order received.
    """

    url: str
    body: bytes
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    fetched: datetime | None = None
    source: Source = field(default_factory=Source)

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (case-insensitive), or None."""
        return find_header(self.headers, name)

    @property
    def effective_url(self) -> str:
        """The URL the body came from: ``url``, which for a fetched or replayed page is already
        the final URL after redirects (the fetcher follows them; replay follows archived ones)."""
        return self.url

    @property
    def content_type(self) -> str | None:
        return self.header("content-type")

    @classmethod
    def from_file_bytes(cls, url: str, body: bytes, fetched: datetime | None = None) -> Page:
        """A page read from disk (a fixture, or ``crawler extract FILE``)."""
        return cls(url=url, body=body, fetched=fetched)


def find_header(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    """The first of ``headers`` called ``name`` (case-insensitive), or None."""
    wanted = name.lower()
    for key, value in headers:
        if key.lower() == wanted:
            return value
    return None


def iso_utc(moment: datetime) -> str:
    """``moment`` as ISO 8601 UTC with a ``Z`` suffix, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


SOURCE_KEYS = ("warc", "offset", "record_id", "fetched")
ARTICLE_KEYS = (
    "url", "canonical_url", "site", "title", "authors", "published", "updated", "section",
    "tags", "image", "language", "body", "pages", "extractor", "source", "built_by",
)


@dataclass(frozen=True)
class BuiltBy:
    """Which rules built an article (the layout-drift signal, ``crawler.health``): ``rules`` is
    ``"<site>/<generation>"``, ``"<site>/generic"`` (a known site, no generation matched) or
    ``"generic"`` (no site rules); ``fallbacks`` names the fields the generation sets that its
    own specs did not find (``body`` read by the generic extractor, an empty ``title`` or
    ``published``)."""

    rules: str = "generic"
    fallbacks: tuple[str, ...] = ()


@dataclass(frozen=True)
class Article:
    """One extracted article; ``to_dict`` gives the JSON Lines record of DESIGN.md."""

    url: str
    site: str
    title: str
    body: str
    extractor: str
    canonical_url: str | None = None
    authors: tuple[str, ...] = ()
    published: str | None = None
    updated: str | None = None
    section: str | None = None
    tags: tuple[str, ...] = ()
    image: str | None = None
    language: str = "id"
    pages: int = 1
    source: Source = field(default_factory=Source)
    built_by: BuiltBy = field(default_factory=BuiltBy)

    def to_dict(self) -> dict[str, Any]:
        # by hand, not dataclasses.asdict: its deep copy cost as much as writing the line
        raw = {key: getattr(self, key) for key in ARTICLE_KEYS}
        raw["authors"] = list(self.authors)
        raw["tags"] = list(self.tags)
        raw["source"] = {key: getattr(self.source, key) for key in SOURCE_KEYS}
        raw["built_by"] = {"rules": self.built_by.rules, "fallbacks": list(self.built_by.fallbacks)}
        return raw

    def to_json(self) -> str:
        """One line of JSON, keys in the documented order, non-ASCII kept as is."""
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Article:
        values = dict(data)
        values["authors"] = tuple(values.get("authors") or ())
        values["tags"] = tuple(values.get("tags") or ())
        values["source"] = Source(**(values.get("source") or {}))
        built = values.get("built_by") or {}  # absent in records written before it existed
        values["built_by"] = BuiltBy(str(built.get("rules", "generic")), tuple(built.get("fallbacks") or ()))
        return cls(**values)


@dataclass(frozen=True)
class Exchange:
    """One HTTP request and its response as they crossed the wire: what the archive stores.

    ``body`` is the payload as received: still content-encoded, de-chunked. ``truncated`` is
    the WARC-Truncated reason ("length", "time", "disconnect") when a cap or fault cut it.
    """

    url: str
    status: int
    reason: str
    http_version: str  # "HTTP/1.1"
    response_headers: tuple[tuple[str, str], ...]
    body: bytes
    fetched: datetime
    method: str = "GET"
    request_headers: tuple[tuple[str, str], ...] = ()
    ip_address: str | None = None
    truncated: str | None = None

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.response_headers:
            if key.lower() == wanted:
                return value
        return None
