"""The Extractor API and the rules engine, on small hand-written sites and pages."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import pytest

from crawler.config import Site
from crawler.errors import ExtractionError
from crawler.extract import Continuation, Extractor, extract
from crawler.extract.charset import decode_html
from crawler.models import Page, Source

PROSE = (
    "<p>Harga cabai rawit merah di Pasar Induk Kramat Jati turun menjadi Rp 38.000 per kilogram, kata "
    "pedagang, pada Kamis pagi.</p><p>Penurunan itu terjadi setelah pasokan dari sentra produksi di Jawa "
    "Tengah kembali normal, menurut pedagang di pasar itu.</p><p>Pedagang memperkirakan harga akan stabil "
    "hingga akhir bulan depan, meski cuaca masih belum menentu.</p>"
)


def _site(**overrides: Any) -> Site:
    data: dict[str, Any] = {
        "id": "contoh",
        "name": "Contoh News",
        "domains": ["contoh.co.id"],
        "article_urls": [r"^https?://(?:[a-z]+\.)*contoh\.co\.id/berita/\d+/"],
        "generations": [{"id": "2020", "title": ["css:h1.judul"], "body": ["css:div.isi"]}],
    }
    data.update(overrides)
    return Site.model_validate(data)


def _page(url: str, html: str, *, fetched: datetime | None = None, content_type: str | None = None) -> Page:
    return Page(
        url=url,
        body=html.encode(),
        fetched=fetched,
        headers=(("Content-Type", content_type),) if content_type else (),
        source=Source(warc="x.warc.gz", offset=42, record_id="<urn:uuid:1>", fetched="2024-05-30T00:00:00Z"),
    )


ARTICLE = "https://www.contoh.co.id/berita/1/harga-cabai"
TYPED = (
    "<html><head><meta property='og:type' content='article'><title>T</title></head>"
    f"<body><article>{PROSE}</article></body></html>"
)


# ------------------------------------------------------------------ sites and URLs


def test_site_for_matches_host_and_subdomains_longest_domain_first() -> None:
    parent = _site()
    sub = _site(id="contoh-en", domains=["en.contoh.co.id"])
    extractor = Extractor([parent, sub])
    assert extractor.site_for("https://www.contoh.co.id/x") == parent
    assert extractor.site_for("https://contoh.co.id/x") == parent
    assert extractor.site_for("https://en.contoh.co.id/x") == sub
    assert extractor.site_for("https://notcontoh.co.id/x") is None
    assert extractor.site_for("not a url") is None


def test_is_article_url_uses_the_site_patterns() -> None:
    extractor = Extractor([_site()])
    assert extractor.is_article_url(ARTICLE)
    assert not extractor.is_article_url("https://www.contoh.co.id/indeks")
    assert not extractor.is_article_url("https://elsewhere.example/berita/1/x")


def test_builtin_sites_are_the_default() -> None:
    extractor = Extractor()
    site = extractor.site_for("https://jogja.suarajogja.id/x")
    assert site is not None and site.id == "suara"
    assert Extractor(site_rules=False).site_for("https://www.suara.com/x") is None


# ------------------------------------------------------------------ the article record


def test_article_fields_and_source() -> None:
    html = (
        "<html><head><title>t</title><meta property='og:image' content='/img/a.jpg'>"
        "<link rel='canonical' href='/berita/1/harga-cabai'></head>"
        f"<body><h1 class='judul'>Harga Cabai Turun</h1><div class='isi'>{PROSE}</div></body></html>"
    )
    page = _page(ARTICLE + "?utm_source=x", html)
    article = Extractor([_site()]).extract(page)
    assert article is not None
    assert article.url == page.url
    assert article.site == article.extractor == "contoh"
    assert article.title == "Harga Cabai Turun"
    assert article.canonical_url == "https://www.contoh.co.id/berita/1/harga-cabai"
    assert article.image == "https://www.contoh.co.id/img/a.jpg"
    assert article.source == page.source
    assert article.body.count("\n\n") == 2
    assert article.pages == 1 and article.language == "id"


def test_unset_fields_fall_back_to_page_metadata_set_fields_do_not() -> None:
    html = (
        "<html><head><meta name='content_author' content='Dinda Rachmawati'>"
        "<meta property='article:published_time' content='2024-05-30T07:05:00Z'>"
        "<meta name='keywords' content='cabai, pasar'><meta property='og:image' content='https://x/i.jpg'>"
        f"</head><body><h1 class='judul'>Judul</h1><div class='isi'>{PROSE}</div></body></html>"
    )
    article = Extractor([_site()]).extract(_page(ARTICLE, html))
    assert article is not None
    assert article.authors == ("Dinda Rachmawati",)
    assert article.published == "2024-05-30T14:05:00+07:00"
    assert article.tags == ("cabai", "pasar")
    exhaustive = _site(generations=[{
        "id": "2020", "title": ["css:h1.judul"], "body": ["css:div.isi"], "authors": [], "image": [],
        "published": ["css:.tanggal"], "tags": ["css:.tag a"],
    }])
    article = Extractor([exhaustive]).extract(_page(ARTICLE, html))
    assert article is not None
    assert (article.authors, article.image, article.published, article.tags) == ((), None, None, ())


def test_authors_pattern_split_and_publisher_filtering() -> None:
    site = _site(generations=[{
        "id": "2020", "body": ["css:div.isi"], "authors": ["css:.kredit li"],
        "authors_pattern": r"Penulis\s*:\s*(?P<v>.+)", "authors_split": r"\s*(?:,|\bdan\b)\s*",
    }])
    html = (
        "<html><head><meta name='author' content='Contoh News'></head><body>"
        "<ul class='kredit'><li>Penulis: Ani, Budi dan Citra</li><li>Editor: Dedi</li></ul>"
        f"<div class='isi'>{PROSE}</div></body></html>"
    )
    article = Extractor([site]).extract(_page(ARTICLE, html))
    assert article is not None and article.authors == ("Ani", "Budi", "Citra")
    generic = Extractor([_site()]).extract(_page(ARTICLE, html))
    assert generic is not None and generic.authors == ()  # "Contoh News" is the publisher


def test_diperbarui_is_kept_apart_and_updated_equal_to_published_is_null() -> None:
    site = _site(generations=[{
        "id": "2020", "body": ["css:div.isi"], "published": ["css:.waktu"], "updated": ["css:.waktu"],
    }])
    html = (
        "<div class='waktu'>Kompas.com, 16 Februari 2016, 14:38 WIB | Diperbarui 16 Februari 2016, 15:10 WIB"
        f"</div><div class='isi'>{PROSE}</div>"
    )
    article = Extractor([site]).extract(_page(ARTICLE, html))
    assert article is not None
    assert (article.published, article.updated) == ("2016-02-16T14:38:00+07:00", "2016-02-16T15:10:00+07:00")
    html = f"<div class='waktu'>16/02/2016 14:38</div><div class='isi'>{PROSE}</div>"
    plain = Extractor([site]).extract(_page(ARTICLE, html))
    assert plain is not None and plain.updated is None


def test_dates_zone_site_and_languages_and_tags_drop() -> None:
    site = _site(
        languages={"en.contoh.co.id": "en"},
        generations=[{
            "id": "2020", "body": ["css:div.isi"], "published": ["meta:pubdate"], "dates_zone": "site",
            "tags": ["meta:keywords"], "tags_drop": [r"(?i)^berita "],
        }],
    )
    html = (
        "<meta name='pubdate' content='2015-11-05 T10:08:58Z'>"
        "<meta name='keywords' content='#cabai, Berita Terkini, pasar'>"
        f"<div class='isi'>{PROSE}</div>"
    )
    article = Extractor([site]).extract(_page("https://en.contoh.co.id/berita/1/x", html))
    assert article is not None
    assert article.published == "2015-11-05T10:08:58+07:00"
    assert article.language == "en"
    assert article.tags == ("cabai", "pasar")


def test_title_suffix_and_title_strip() -> None:
    site = _site(generations=[{"id": "2020", "body": ["css:div.isi"], "title_strip": [r"\s+Halaman\s+all$"]}])
    html = (
        "<meta property='og:title' content='Harga Cabai Halaman all - Contoh News'>"
        f"<div class='isi'>{PROSE}</div>"
    )
    article = Extractor([site]).extract(_page(ARTICLE, html))
    assert article is not None and article.title == "Harga Cabai"


# ------------------------------------------------------------------ generations


def _two_generations() -> Site:
    return _site(generations=[
        {"id": "old", "valid_until": "2019-01-01", "title": ["css:h1.lama"], "body": ["css:div.lama"]},
        {"id": "new", "title": ["css:h1.baru"], "body": ["css:div.baru"]},
    ])


BOTH = (
    f"<h1 class='lama'>Judul Lama</h1><div class='lama'>{PROSE}</div>"
    f"<h1 class='baru'>Judul Baru</h1><div class='baru'>{PROSE}</div>"
)


@pytest.mark.parametrize(
    ("fetched", "expected"),
    [
        (datetime(2018, 12, 31, tzinfo=UTC), "contoh/old"),
        (datetime(2019, 1, 1, tzinfo=UTC), "contoh/new"),
        (None, "contoh/old"),
    ],
)
def test_I7_generation_is_chosen_by_capture_date(fetched: datetime | None, expected: str) -> None:
    extractor = Extractor([_two_generations()])
    page = _page(ARTICLE, BOTH, fetched=fetched)
    assert extractor.generation(page) == expected
    article = extractor.extract(page)
    assert article is not None
    assert article.title == ("Judul Lama" if expected.endswith("old") else "Judul Baru")


def test_detect_picks_the_generation_that_fits_the_page() -> None:
    site = _site(generations=[
        {"id": "a", "detect": "div.a", "title": ["const:A"], "body": ["css:div.a"]},
        {"id": "b", "detect": "div.b", "title": ["const:B"], "body": ["css:div.b"]},
    ])
    extractor = Extractor([site])
    page = _page(ARTICLE, f"<div class='b'>{PROSE}</div>")
    assert extractor.generation(page) == "contoh/b"
    assert extractor.generation(_page(ARTICLE, f"<div class='c'>{PROSE}</div>")) == "contoh/generic"
    assert extractor.generation(_page("https://unknown.example/", "<p>x</p>")) == "generic"
    article = extractor.extract(page)
    assert article is not None and article.title == "B"


# ------------------------------------------------------------------ articles or not


def test_a_url_outside_article_urls_is_not_an_article() -> None:
    listing = _page("https://www.contoh.co.id/indeks", f"<div class='isi'>{PROSE}</div>")
    assert Extractor([_site()]).extract(listing) is None


def test_an_article_url_without_any_text_is_an_error_naming_the_url() -> None:
    with pytest.raises(ExtractionError) as caught:
        Extractor([_site()]).extract(_page(ARTICLE, "<html><body><nav>Menu</nav></body></html>"))
    assert caught.value.reason == "extract_empty"
    assert ARTICLE in str(caught.value) and "contoh.yaml" in str(caught.value)


def test_an_empty_rules_container_is_an_article_with_an_empty_body() -> None:
    page = _page(ARTICLE, "<h1 class='judul'>Foto</h1><div class='isi'> </div>")
    article = Extractor([_site()]).extract(page)
    assert article is not None and article.body == "" and article.title == "Foto"


def test_generic_pages_need_article_evidence() -> None:
    extractor = Extractor([])
    items = "".join(f"<li><a href='/b/{i}'>Judul berita nomor {i} hari ini</a></li>" for i in range(40))
    listing = _page("https://unknown.example/", f"<html><body><ul>{items}</ul></body></html>")
    assert extractor.extract(listing) is None
    article = extractor.extract(_page("https://unknown.example/a", TYPED))
    assert article is not None and article.extractor == "generic" and article.site == "generic"


def test_unknown_site_argument_and_generic_argument() -> None:
    extractor = Extractor([_site()])
    with pytest.raises(ExtractionError, match="unknown site 'nope'"):
        extractor.extract(_page(ARTICLE, PROSE), site="nope")
    forced = extractor.extract(_page(ARTICLE, TYPED), site="generic")
    assert forced is not None and forced.extractor == "generic"


def test_the_module_level_extract_uses_the_builtin_sites() -> None:
    page = Page.from_file_bytes("https://unknown.example/a", TYPED.encode())
    article = extract(page)
    assert article is not None and article.extractor == "generic"


# ------------------------------------------------------------------ multi-page


def _paged(**multipage: Any) -> Site:
    return _site(multipage=multipage)


def test_continuation_all_pages_query_when_the_page_is_paginated() -> None:
    extractor = Extractor([_paged(all_pages_query={"page": "all"}, next="a.next")])
    paged = f"<div class='isi'>{PROSE}</div><a class='next' href='?page=2'>Berikutnya</a>"
    wanted = Continuation(instead=ARTICLE + "?utm=1&page=all")
    assert extractor.continuation(_page(ARTICLE + "?utm=1", paged)) == wanted
    assert extractor.continuation(_page(ARTICLE, f"<div class='isi'>{PROSE}</div>")) == Continuation()
    assert extractor.continuation(_page(ARTICLE + "?page=all", paged)) == Continuation()


def test_continuation_always_asks_for_the_full_view_without_a_next_selector() -> None:
    extractor = Extractor([_paged(all_pages_query={"single": "1"})])
    assert extractor.continuation(_page(ARTICLE, PROSE)).instead == ARTICLE + "?single=1"


def test_continuation_follows_next_links() -> None:
    extractor = Extractor([_paged(next="link[rel=next], a.next")])
    html = f"<link rel='next' href='/berita/1/harga-cabai?page=2'><div class='isi'>{PROSE}</div>"
    page = _page(ARTICLE, html)
    assert extractor.continuation(page) == Continuation(also=(ARTICLE + "?page=2",))
    self_link = _page(ARTICLE, f"<a class='next' href='{ARTICLE}'>x</a>")
    assert extractor.continuation(self_link) == Continuation()
    assert Extractor([_site()]).continuation(page) == Continuation()


def test_extract_joined_appends_following_bodies_in_order() -> None:
    extractor = Extractor([_paged(next="a.next")])
    first = _page(ARTICLE, "<h1 class='judul'>Judul</h1><div class='isi'><p>Satu.</p><p>Dua.</p></div>")
    second = _page(ARTICLE + "?page=2", "<h1 class='judul'>Judul</h1><div class='isi'><p>Tiga.</p></div>")
    article = extractor.extract_joined([first, second])
    assert article is not None
    assert article.body == "Satu.\n\nDua.\n\nTiga."
    assert article.pages == 2
    assert extractor.extract_joined([]) is None
    single = extractor.extract_joined([first])
    assert single is not None and single.pages == 1


# ------------------------------------------------------------------ charset


@pytest.mark.parametrize(
    ("body", "content_type", "text", "source"),
    [
        (b"\xef\xbb\xbf<meta charset='iso-8859-1'>caf\xc3\xa9", "text/html; charset=cp1252", "café", "bom"),
        (b"<meta charset='utf-8'>caf\xe9", "text/html; charset=ISO-8859-1", "café", "header"),
        (b"<meta charset='windows-1252'>\x93kutip\x94", None, "\u201ckutip\u201d", "meta"),
        (b"<meta http-equiv='Content-Type' content='text/html; charset=latin1'>\x93", None, "\u201c", "meta"),
        (b"<meta charset='utf-16'>caf\xc3\xa9", None, "café", "meta"),
        (b"<p>caf\xc3\xa9</p>", "text/html; charset=nonsense", "café", "sniff"),
        (b"<p>caf\xc3\xa9 \x00nul</p>", None, "café nul", "sniff"),
        (b"<p>caf\xe9</p>", "text/html; charset=utf-8", "caf\ufffd", "header"),
    ],
)
def test_B8_charset_order_is_bom_header_meta_sniff(
    body: bytes, content_type: str | None, text: str, source: str
) -> None:
    decoded = decode_html(body, content_type)
    assert text in decoded.text
    assert decoded.source == source
    assert "\x00" not in decoded.text


def test_continuation_extract_generation_parse_a_page_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # crawler.extract the attribute is the extract() function; the module is in sys.modules
    extract_module = sys.modules["crawler.extract"]
    parses: list[str] = []
    original = extract_module.dom.parse

    def counting(content: str | bytes, url: str) -> Any:
        parses.append(url)
        return original(content, url)

    monkeypatch.setattr(extract_module.dom, "parse", counting)
    extractor = Extractor([_paged(next="a.next")])
    page = extractor.parse(_page(ARTICLE, f"<h1 class='judul'>Judul</h1><div class='isi'>{PROSE}</div>"))
    assert extractor.continuation(page) == Continuation()
    first = extractor.extract(page)
    assert extractor.generation(page) == "contoh/2020"
    assert len(parses) == 1
    # extraction modified that parse: extracting the page again parses it afresh, same result
    assert extractor.extract(page) == first
    assert len(parses) == 2
    # a plain Page is parsed for each call: the Extractor keeps nothing between calls
    other = _page(ARTICLE, f"<div class='isi'>{PROSE}</div>")
    assert extractor.generation(other) == "contoh/2020"
    assert extractor.extract(other) is not None
    assert len(parses) == 4


def test_a_failing_site_hook_is_an_extraction_error(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = sys.modules["crawler.extract.engine"]

    def broken(article: Any, page: Any, tree: Any) -> Any:
        raise KeyError("boom")

    monkeypatch.setattr(engine, "_load_hook", lambda site_id: broken)
    extractor = Extractor([_site()])
    with pytest.raises(ExtractionError) as caught:
        extractor.extract(_page(ARTICLE, f"<div class='isi'>{PROSE}</div>"))
    assert caught.value.reason == "site_hook"
    assert "crawler/sites/contoh.py" in str(caught.value)
