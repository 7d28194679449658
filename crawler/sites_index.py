"""Which site owns a URL: the one whose domain is the longest match of the URL's host.

One answer for scope (``crawler.scope``), pacing (the pace key), extraction (``Extractor``)
and records (the ``site`` of an article), so a sub-site on ``news.example.co.id`` keeps its own
``interval_s`` and rules beside a site on ``example.co.id``. A domain covers itself and its
subdomains (``kompas.com`` covers ``nasional.kompas.com``, not ``notkompas.com``), compared
case-insensitively with any trailing dot ignored. Pure: no I/O, no imports beyond the
standard library.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, Protocol, TypeVar
from urllib.parse import urlsplit

__all__ = ["SiteIndex", "covers", "host_of", "longest_domain", "normal_domain"]


class HasDomains(Protocol):
    @property
    def domains(self) -> tuple[str, ...]: ...


S = TypeVar("S")
D = TypeVar("D", bound=HasDomains)


def normal_domain(domain: str) -> str:
    """A configured domain as compared: lower case, no leading or trailing dot."""
    return domain.strip().lower().strip(".")


def host_of(url: str) -> str:
    """The URL's host, lower case, without a trailing dot ('' when it has none or is not a URL)."""
    try:
        return (urlsplit(url).hostname or "").rstrip(".").lower()
    except ValueError:
        return ""


def covers(domain: str, host: str) -> bool:
    """Whether ``domain`` is ``host`` or a parent domain of it."""
    domain = normal_domain(domain)
    host = host.rstrip(".").lower()
    return bool(domain) and (host == domain or host.endswith("." + domain))


def longest_domain(host: str, domains: Iterable[str]) -> str | None:
    """The longest of ``domains`` that covers ``host`` (normalised), or None."""
    best: str | None = None
    for domain in domains:
        if covers(domain, host) and (best is None or len(normal_domain(domain)) > len(best)):
            best = normal_domain(domain)
    return best


class SiteIndex(Generic[S]):
    """Values (sites, or what is built from them) by domain; a URL gets the value of its
    longest matching domain. Two values on the same domain: the first one given wins."""

    def __init__(self, entries: Iterable[tuple[str, S]]) -> None:
        by_domain: dict[str, S] = {}
        for domain, value in entries:
            if normal_domain(domain):
                by_domain.setdefault(normal_domain(domain), value)
        self._by_domain = by_domain

    @classmethod
    def of(cls, sites: Iterable[D]) -> SiteIndex[D]:
        """An index of sites by their ``domains``."""
        return SiteIndex((domain, site) for site in sites for domain in site.domains)

    def for_host(self, host: str) -> S | None:
        """The value of the longest domain covering ``host`` (walks up its labels: a few dict
        look-ups, whatever the number of sites)."""
        host = host.rstrip(".").lower()
        while host:
            found = self._by_domain.get(host)
            if found is not None:
                return found
            host = host.partition(".")[2]
        return None

    def for_url(self, url: str) -> S | None:
        """The value of the longest domain covering the URL's host, or None."""
        return self.for_host(host_of(url))
