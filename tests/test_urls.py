from __future__ import annotations

import time

import pytest

from crawler.errors import ScopeViolation
from crawler.urls import canonicalize, host_of, is_http_url, matches_any, strip_tracking, trap_reason


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTP://WWW.Kompas.COM/read/1", "http://www.kompas.com/read/1"),
        ("https://kompas.com", "https://kompas.com/"),
        ("http://kompas.com:80/a", "http://kompas.com/a"),
        ("https://kompas.com:443/a", "https://kompas.com/a"),
        ("https://kompas.com:8443/a", "https://kompas.com:8443/a"),
        ("https://kompas.com./a", "https://kompas.com/a"),
        ("https://kompas.com/a#section-2", "https://kompas.com/a"),
        ("https://kompas.com/a?utm_source=tw&id=3&fbclid=x&gclid=y", "https://kompas.com/a?id=3"),
        ("https://kompas.com/a?UTM_Medium=x", "https://kompas.com/a"),
        ("https://kompas.com/a b", "https://kompas.com/a%20b"),
        ("https://bücher.de/ä", "https://xn--bcher-kva.de/%C3%A4"),
        ("  https://kompas.com/x  ", "https://kompas.com/x"),
        ("https://kompas.com/a?b=2&a=1", "https://kompas.com/a?b=2&a=1"),
    ],
)
def test_canonicalize(raw: str, expected: str) -> None:
    assert canonicalize(raw) == expected


def test_canonicalize_sorted_query_is_optional() -> None:
    assert canonicalize("https://kompas.com/a?b=2&a=1&utm_x=1", sort_query=True) == "https://kompas.com/a?a=1&b=2"


def test_canonicalize_is_idempotent() -> None:
    once = canonicalize("HTTPS://Kompas.com:443/a b?utm_source=1&z=%7E#f")
    assert canonicalize(once) == once


def test_tracking_params_keep_the_spelling_of_the_rest() -> None:
    assert strip_tracking("q=a%2Fb&utm_campaign=c&page=2") == "q=a%2Fb&page=2"


@pytest.mark.parametrize("raw", ["ftp://kompas.com/", "javascript:alert(1)", "data:text/html,x", "/relative",
                                 "http://", "mailto:a@b.c"])
def test_canonicalize_refuses_non_http(raw: str) -> None:
    with pytest.raises(ScopeViolation) as caught:
        canonicalize(raw)
    assert caught.value.reason == "scope"


def test_D9_long_url_refused_by_length_cap() -> None:
    with pytest.raises(ScopeViolation, match="max_url_length=2048"):
        canonicalize("https://kompas.com/" + "a" * 10_000)


def test_is_http_url() -> None:
    assert is_http_url("https://a.b/")
    assert not is_http_url("file:///etc/passwd")
    assert not is_http_url("http://[::1")  # unbalanced bracket: ValueError inside urlsplit


def test_host_of() -> None:
    assert host_of("https://WWW.Kompas.com.:8080/x") == "www.kompas.com"


@pytest.mark.parametrize("path", ["/a/a/a/a", "/x/foo/foo/foo/", "/" + "d/" * 50])
def test_D9_traps_detected(path: str) -> None:
    assert trap_reason("https://kompas.com" + path) is not None


@pytest.mark.parametrize("path", ["/read/2024/01/01/123", "/a/b/a/b", "/news/news/x"])
def test_ordinary_paths_are_not_traps(path: str) -> None:
    assert trap_reason("https://kompas.com" + path) is None


def test_D9_pathological_url_vs_regexes_is_fast() -> None:
    patterns = [r"^https?://[a-z0-9.-]*\bkompas\.com/read/\d{4}/\d{2}/\d{2}/\d+", r"(a+)+$"]
    url = "https://kompas.com/" + "a" * 10_000 + "!"
    start = time.perf_counter()
    assert not matches_any(url, patterns)
    assert time.perf_counter() - start < 0.05
    assert matches_any("https://www.kompas.com/read/2024/01/02/123", patterns)
