"""URL canonicalisation: one spelling per page, so the frontier's seen set works.

``canonicalize`` lower-cases the scheme and host (IDNA hosts become punycode), drops the
default port, the fragment and tracking parameters (``utm_*``, ``fbclid``, ``gclid``, ...),
percent-encodes what must be (w3lib), and optionally sorts the query. URLs longer than the
configured cap are refused before any regex sees them, which keeps pathological URLs cheap.

It is the one gate every URL passes (links, ``<base href>``, sitemap ``<loc>``, feed links,
seeds, redirect targets), so it refuses whatever later stages could not use: a host that
cannot be IDNA-encoded (an invalid A-label, an empty label, a label over 63 characters) or a
malformed authority (a broken IPv6 literal, a bad port). The refusal is a ``ScopeViolation``
(reason ``bad_url``), never a ``ValueError`` from deep inside a library.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit, urlunsplit

import idna
from w3lib.url import canonicalize_url, safe_url_string

from crawler.errors import ScopeViolation, UsageError

DEFAULT_MAX_URL_LENGTH = 2048

HTTP_SCHEMES = frozenset({"http", "https"})
_DEFAULT_PORTS = {"http": 80, "https": 443}

TRACKING_PARAMS = frozenset({
    "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid", "ttclid",
    "igshid", "mc_cid", "mc_eid", "_ga", "_gl", "_hsenc", "_hsmi", "mkt_tok", "li_fat_id",
    "oly_anon_id", "oly_enc_id", "vero_id", "vero_conv", "s_cid", "ncid", "cmpid",
})
TRACKING_PREFIXES = ("utm_",)

# grab-site style trap: the same path segment three times in a row (/a/a/a/...).
_REPEATED_SEGMENT = re.compile(r"(?:^|/)([^/]+)(?:/\1){2,}(?:/|$)")
MAX_PATH_SEGMENTS = 40
MAX_LABEL_LENGTH = 63  # RFC 1035 2.3.4
MAX_HOST_LENGTH = 253
# Letters, digits, hyphen, and the underscore that real hosts use although RFC 952 does not allow it.
_HOST_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?$")


def is_http_url(url: str) -> bool:
    """True for an absolute http(s) URL with a host."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return parts.scheme.lower() in HTTP_SCHEMES and bool(parts.hostname)


def is_url(text: str) -> bool:
    """Whether ``text`` parses as a URL at all (a broken IPv6 literal or port does not)."""
    try:
        parts = urlsplit(text.strip())
        parts.port  # noqa: B018 -- raises ValueError for a bad port
    except ValueError:
        return False
    return True


def is_tracking_param(name: str) -> bool:
    """Whether a query parameter name only carries campaign/click tracking."""
    key = unquote(name).lower()
    return key in TRACKING_PARAMS or key.startswith(TRACKING_PREFIXES)


def strip_tracking(query: str, *, sort: bool = False) -> str:
    """``query`` without tracking parameters; each kept piece keeps its exact spelling."""
    pieces = [piece for piece in query.split("&") if piece]
    kept = [piece for piece in pieces if not is_tracking_param(piece.partition("=")[0])]
    if sort:
        kept.sort()
    return "&".join(kept)


def canonicalize(url: str, *, sort_query: bool = False, max_length: int = DEFAULT_MAX_URL_LENGTH) -> str:
    """The canonical spelling of an http(s) URL.

    Raises ``ScopeViolation`` (reason ``scope``) for a non-http(s) or host-less URL and for a
    URL longer than ``max_length`` characters (before or after canonicalisation).
    """
    raw = url.strip()
    if len(raw) > max_length:
        raise ScopeViolation(
            f"{raw[:80]}...: URL is {len(raw)} characters, above max_url_length={max_length}"
        )
    if not is_http_url(raw):
        raise ScopeViolation(f"{raw[:200]!r}: not an absolute http(s) URL with a host",
                             reason="scope" if is_url(raw) else "bad_url")
    try:
        safe = canonicalize_url(raw, keep_fragments=False) if sort_query else safe_url_string(raw)
        parts = urlsplit(safe)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number in 0-65535
    except ValueError as exc:  # w3lib and urllib: a broken IPv6 literal, a bad port, an IDNA failure
        raise ScopeViolation(f"{raw[:200]!r}: not a valid URL: {exc}", reason="bad_url") from exc
    scheme = parts.scheme.lower()
    netloc = _netloc(parts.netloc, scheme)
    problem = host_problem(urlsplit(f"//{netloc}").hostname or "")
    if problem:
        raise ScopeViolation(f"{raw[:200]!r}: {problem}", reason="bad_url")
    path = parts.path or "/"
    query = strip_tracking(parts.query, sort=sort_query)
    result = urlunsplit((scheme, netloc, path, query, ""))
    if len(result) > max_length:
        raise ScopeViolation(
            f"{result[:80]}...: canonical URL is {len(result)} characters, above max_url_length={max_length}"
        )
    return result


def _netloc(netloc: str, scheme: str) -> str:
    userinfo, at, hostport = netloc.rpartition("@")
    host, port = _split_port(hostport)
    host = host.lower().rstrip(".")
    if port is not None and port == str(_DEFAULT_PORTS.get(scheme)):
        port = None
    hostport = f"{host}:{port}" if port else host
    return f"{userinfo}{at}{hostport}"


def _split_port(hostport: str) -> tuple[str, str | None]:
    if hostport.startswith("["):  # IPv6 literal: [::1]:8080
        end = hostport.find("]")
        host, rest = hostport[: end + 1], hostport[end + 1 :]
        return host, rest[1:] if rest.startswith(":") and rest[1:] else None
    host, colon, port = hostport.partition(":")
    return host, port if colon and port else None


def require_url(option: str, value: str) -> str:
    """A URL given on the command line, unchanged; ``UsageError`` (exit 2) when it is no usable
    absolute http(s) URL (``--url 'http://[::1/x'``)."""
    try:
        canonicalize(value, max_length=max(DEFAULT_MAX_URL_LENGTH, len(value)))
    except ScopeViolation as exc:
        raise UsageError(f"{option} {value!r}: {exc}; pass the page's absolute http(s) URL") from exc
    return value


def host_problem(host: str) -> str | None:
    """Why ``host`` (lower-case, no brackets) cannot be asked for, or None when it can.

    IP literals are for the address guard; a name must be IDNA-encodable: at most 253
    characters, labels of 1-63 letters, digits, hyphens (or underscores), and every ``xn--``
    label a valid A-label.
    """
    if not host:
        return "URL has no host"
    if ":" in host:  # an IPv6 literal; urlsplit checked it already
        return None
    if len(host) > MAX_HOST_LENGTH:
        return f"host is {len(host)} characters, above {MAX_HOST_LENGTH}"
    for label in host.split("."):
        if not label:
            return f"host {host[:100]!r} has an empty label"
        if len(label) > MAX_LABEL_LENGTH:
            return f"host {host[:100]!r} has a label of {len(label)} characters, above {MAX_LABEL_LENGTH}"
        if not label.isascii():  # a U-label: it must encode to an A-label
            try:
                label = idna.encode(label, uts46=True).decode("ascii")
            except (idna.IDNAError, UnicodeError) as exc:
                return f"host {host[:100]!r}: {label[:70]!r} cannot be IDNA-encoded ({exc})"
        if not _HOST_LABEL.match(label):
            return f"host {host[:100]!r}: label {label[:70]!r} is not letters, digits and hyphens"
        if label.startswith("xn--"):
            try:
                idna.decode(label)
            except (idna.IDNAError, UnicodeError) as exc:
                return f"host {host[:100]!r}: {label!r} is not a valid IDNA A-label ({exc})"
    return None


def host_of(url: str) -> str:
    """The lower-case host of ``url`` without brackets or trailing dot ('' when none)."""
    try:
        return (urlsplit(url).hostname or "").rstrip(".")
    except ValueError:
        return ""


def trap_reason(url: str) -> str | None:
    """Why ``url`` looks like a crawler trap (repeated or very deep path), or None."""
    try:
        path = urlsplit(url).path
    except ValueError:
        return None
    if _REPEATED_SEGMENT.search(path):
        return "a path segment repeats three or more times in a row"
    if path.count("/") > MAX_PATH_SEGMENTS:
        return f"more than {MAX_PATH_SEGMENTS} path segments"
    return None


def matches_any(url: str, patterns: Iterable[str], *, max_length: int = DEFAULT_MAX_URL_LENGTH) -> bool:
    """Whether ``url`` matches one of the regexes (``re.search``); over-long URLs never match."""
    if len(url) > max_length:
        return False
    return any(re.search(pattern, url) for pattern in patterns)
