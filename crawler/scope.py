"""What the crawler may request: per-site domain scope and the address guard (SSRF).

Checked on every URL and every redirect hop, in this order, each with its own reason:

1. ``scope``: the URL itself: http(s) only, no userinfo, a sane length, not a trap, and a
   host that is not an obfuscated IP (decimal ``2130706433``, hex ``0x7f.1``, octal
   ``0177.0.0.1``, short ``127.1``, IPv4-mapped IPv6 ``[::ffff:127.0.0.1]``);
2. ``ssrf``: an IP-literal host must be public (not private, loopback, link-local, cloud
   metadata, unspecified, multicast or reserved) unless inside
   ``network.allow_private_addresses``;
3. ``out_of_scope``: the host must be one of a site's ``domains`` or a subdomain of one.

Host names are checked at connect time by ``PinnedResolver``: the name is resolved once,
every address is vetted, and the connection goes to a vetted address (no second lookup, so
DNS rebinding cannot slip in). With a proxy the proxy resolves names, so only IP-literal
hosts can be checked (step 2); that is a documented limit of proxied crawling.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urlsplit

from crawler.config import Site
from crawler.errors import ScopeViolation
from crawler.sites_index import SiteIndex, covers, longest_domain
from crawler.urls import DEFAULT_MAX_URL_LENGTH, HTTP_SCHEMES, host_problem, is_url, trap_reason

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""``async (host, port) -> [ip, ...]``: how host names become addresses (injectable in tests)."""

# Always refused, even when a test allowlists a wider range: cloud metadata endpoints.
METADATA_NETWORKS = (
    ipaddress.ip_network("169.254.169.254/32"),
    ipaddress.ip_network("fd00:ec2::254/128"),
    ipaddress.ip_network("100.100.100.200/32"),  # Alibaba Cloud
)

_NUMERIC_LABEL = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)
_CANONICAL_OCTET = re.compile(r"^(?:0|[1-9][0-9]{0,2})$")


class AddressGuard:
    """Decides whether an IP address may be contacted."""

    def __init__(self, allow_private: Iterable[str] = ()) -> None:
        self._allowed = tuple(ipaddress.ip_network(cidr, strict=False) for cidr in allow_private)

    def allows(self, address: IPAddress) -> bool:
        """True when ``address`` is public, or private but explicitly allowlisted."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in net for net in METADATA_NETWORKS):
            return False
        if any(address.version == net.version and address in net for net in self._allowed):
            return True
        return address.is_global and not address.is_multicast

    def check(self, address: str, url: str) -> None:
        """Raise ``ScopeViolation(reason="ssrf")`` unless ``address`` may be contacted."""
        parsed = ip_literal(address.split("%", 1)[0])
        if parsed is None:
            raise ScopeViolation(f"{url}: {address!r} is not an IP address", reason="ssrf")
        if not self.allows(parsed):
            raise ScopeViolation(
                f"{url}: address {parsed} is private, loopback, link-local, metadata or reserved; "
                "refused (tests may allow it with network.allow_private_addresses)",
                reason="ssrf",
            )


@functools.lru_cache(maxsize=4096)  # every URL and hop asks again about the same few hosts
def ip_literal(host: str) -> IPAddress | None:
    """The address when ``host`` is a plain IP literal (dotted quad or bracket-less IPv6)."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def obfuscation(host: str) -> str | None:
    """Why ``host`` is a disguised IP address, or None for a name or a plain dotted quad.

    Follows the WHATWG rule: a host whose last label is numeric is parsed as IPv4, and
    only the canonical four-decimal-octet form is accepted.
    """
    labels = host.rstrip(".").split(".")
    if not labels or not _NUMERIC_LABEL.match(labels[-1]):
        return None
    if len(labels) == 4 and all(_CANONICAL_OCTET.match(label) and int(label) <= 255 for label in labels):
        return None
    return f"host {host!r} is a non-canonical IPv4 form (decimal, hex, octal or shortened)"


def _v6_obfuscation(host: str) -> str | None:
    address = ip_literal(host)
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None or address.sixtofour is not None or address.teredo is not None:
            return f"host {host!r} embeds an IPv4 address in IPv6"
    return None


@dataclass(frozen=True)
class Scope:
    """Per-site domain scope plus the address guard for literal IPs."""

    sites: tuple[Site, ...]
    guard: AddressGuard
    max_url_length: int = DEFAULT_MAX_URL_LENGTH
    index: SiteIndex[Site] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", SiteIndex.of(self.sites))

    @classmethod
    def build(
        cls,
        sites: Iterable[Site],
        allow_private: Iterable[str] = (),
        max_url_length: int = DEFAULT_MAX_URL_LENGTH,
    ) -> Scope:
        return cls(tuple(sites), AddressGuard(allow_private), max_url_length)

    def site_for(self, url: str) -> Site | None:
        """The site whose domain is the longest match of the URL's host, or None."""
        return self.index.for_url(url)

    def check_url(self, url: str) -> None:
        """Steps 1 and 2: URL syntax and literal addresses (no DNS). Raises ScopeViolation."""
        if len(url) > self.max_url_length:
            raise ScopeViolation(
                f"{url[:80]}...: URL is {len(url)} characters, above max_url_length={self.max_url_length}"
            )
        parts = _split(url)
        if parts.scheme.lower() not in HTTP_SCHEMES:
            raise ScopeViolation(f"{url[:200]}: scheme {parts.scheme!r} is not http or https")
        if "@" in parts.netloc:
            raise ScopeViolation(f"{url[:200]}: URLs with user:password@ are refused")
        host = _host(url)
        if not host:
            reason = "scope" if is_url(url) else "bad_url"
            raise ScopeViolation(f"{url[:200]}: URL has no host", reason=reason)
        problem = host_problem(host)
        if problem:
            raise ScopeViolation(f"{url[:200]}: {problem}", reason="bad_url")
        disguised = obfuscation(host) or _v6_obfuscation(host)
        if disguised:
            raise ScopeViolation(f"{url[:200]}: {disguised}; refused", reason="ssrf")
        address = ip_literal(host)
        if address is not None:
            self.guard.check(str(address), url)
        trap = trap_reason(url)
        if trap:
            raise ScopeViolation(f"{url[:200]}: looks like a crawler trap: {trap}")

    def check(self, url: str) -> Site:
        """All three steps; the site the URL belongs to. Raises ScopeViolation."""
        self.check_url(url)
        site = self.site_for(url)
        if site is None:
            raise ScopeViolation(
                f"{url[:200]}: host {_host(url)!r} is not in any configured site's domains",
                reason="out_of_scope",
            )
        return site

    def pace_key(self, url: str, site: Site | None) -> str:
        """Politeness key: ``host[:port]``, or the site domain that matched for ``pace_by: domain``."""
        parts = _split(url)
        if site is not None and site.politeness.pace_by == "domain":
            domain = longest_domain(_host(url), site.domains)
            if domain is not None:
                return domain
        return parts.netloc.rpartition("@")[2].lower()


def domain_matches(host: str, domain: str) -> bool:
    """``host`` is ``domain`` or one of its subdomains (case-insensitive, trailing dot ignored)."""
    return covers(domain, host)


def _split(url: str) -> SplitResult:
    try:
        return urlsplit(url)
    except ValueError as exc:
        raise ScopeViolation(f"{url[:200]!r}: not a valid URL: {exc}", reason="bad_url") from exc


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").rstrip(".").lower()
    except ValueError:
        return ""


async def system_resolver(host: str, port: int) -> Sequence[str]:
    """Resolve ``host`` with the OS resolver (getaddrinfo), addresses in the OS's order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: dict[str, None] = {}
    for info in infos:
        seen.setdefault(str(info[4][0]), None)
    return list(seen)


class PinnedResolver:
    """Resolve once, vet every address, hand back only vetted ones (the connect target)."""

    def __init__(self, guard: AddressGuard, resolver: Resolver = system_resolver) -> None:
        self._guard = guard
        self._resolver = resolver

    async def vetted(self, host: str, port: int) -> list[str]:
        """Addresses of ``host`` that may be contacted; ScopeViolation(ssrf) when none may."""
        literal = ip_literal(host)
        if literal is not None:
            self._guard.check(str(literal), host)
            return [str(literal)]
        addresses = await self._resolver(host, port)  # OSError (gaierror) propagates
        allowed = [a for a in addresses if self._guard.allows(ipaddress.ip_address(a.split("%", 1)[0]))]
        if not allowed:
            raise ScopeViolation(
                f"{host}: resolves to {', '.join(addresses) or 'nothing'}: no public address; refused",
                reason="ssrf",
            )
        return allowed
