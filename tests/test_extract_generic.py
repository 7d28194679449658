"""The generic extractor (crawler.extract.generic) on hand-written pages of an unknown site."""

from __future__ import annotations

import pytest

from crawler.extract import Extractor, dom, generic
from crawler.models import Page

STORY = [
    "Harga cabai rawit merah di Pasar Induk Kramat Jati, Jakarta Timur, turun menjadi Rp 38.000 per "
    "kilogram pada Kamis pagi, kata pedagang.",
    "Penurunan itu terjadi setelah pasokan dari sentra produksi di Jawa Tengah dan Jawa Timur kembali "
    "normal, menurut para pedagang.",
    "Pedagang memperkirakan harga akan stabil hingga akhir bulan depan, meski cuaca di sentra produksi "
    "masih belum menentu.",
    "Pemerintah daerah, kata seorang pejabat dinas perdagangan, akan terus memantau harga kebutuhan "
    "pokok di pasar-pasar.",
]
SIDEBAR = "".join(
    f"<li><a href='/b/{i}'>Berita populer nomor {i} yang banyak dibaca orang</a></li>" for i in range(12)
)


def _page(body: str, head: str = "") -> Page:
    html = f"<html><head><title>Harga Cabai Turun - Contoh</title>{head}</head><body>{body}</body></html>"
    return Page(url="https://unknown.example/berita/harga-cabai", body=html.encode())


def _doc(page: Page) -> dom.Document:
    return dom.parse(page.body.decode(), page.url)


def test_the_scorer_picks_the_story_over_menus_sidebars_and_comments() -> None:
    paragraphs = "".join(f"<p>{text}</p>" for text in STORY)
    body = (
        "<nav><a href='/'>Home</a><a href='/news'>News</a></nav>"
        f"<div class='sidebar'><h3>Terpopuler</h3><ul>{SIDEBAR}</ul></div>"
        f"<div class='main'><h1>Harga Cabai Turun</h1><div class='date'>Kamis, 30 Mei 2024 14:05 WIB</div>"
        f"<div class='story'>{paragraphs}<p>Baca juga: <a href='/x'>Harga Bawang</a></p></div></div>"
        "<div class='comments'><p>Komentar pembaca yang panjang, tentang harga, cabai, dan pasar.</p></div>"
        "<footer>Copyright Contoh</footer>"
    )
    article = Extractor([]).extract(_page(body))
    assert article is not None
    assert article.body == "\n\n".join(STORY)
    assert article.published == "2024-05-30T14:05:00+07:00"
    assert article.title == "Harga Cabai Turun"


def test_br_separated_story_in_a_div() -> None:
    story = "<br><br>".join(STORY)
    article = Extractor([]).extract(_page(f"<div class='content'>{story}</div><ul>{SIDEBAR}</ul>"))
    assert article is not None
    assert article.body.split("\n\n") == STORY


def test_link_lists_are_not_articles() -> None:
    assert Extractor([]).extract(_page(f"<ul>{SIDEBAR}</ul><ul>{SIDEBAR}</ul>")) is None
    assert generic.best_container(_doc(_page("<p>short</p>"))) is None


@pytest.mark.parametrize(
    ("machine", "visible", "expected"),
    [
        (None, "2024-05-30T14:05:00+07:00", "2024-05-30T14:05:00+07:00"),
        ("2024-05-30T14:05:00+07:00", None, "2024-05-30T14:05:00+07:00"),
        # detik: the machine date claims UTC but is Jakarta time; the reader's date wins
        ("2015-11-05T17:08:58+07:00", "2015-11-05T10:08:00+07:00", "2015-11-05T10:08:00+07:00"),
        # the same minute: the machine keeps its seconds
        ("2016-02-23T14:49:30+07:00", "2016-02-23T14:49:00+07:00", "2016-02-23T14:49:30+07:00"),
        # a visible date days away is another article's
        ("2016-02-23T14:49:30+07:00", "2016-03-01T09:00:00+07:00", "2016-02-23T14:49:30+07:00"),
        ("2016-02-23", "2016-02-23T14:49:00+07:00", "2016-02-23T14:49:00+07:00"),
        ("2016-02-22", "2016-02-23T14:49:00+07:00", "2016-02-22"),
    ],
)
def test_reconcile_dates(machine: str | None, visible: str | None, expected: str) -> None:
    assert generic.reconcile_dates(machine, visible) == expected


def test_visible_date_skips_links_and_dates_without_a_time() -> None:
    body = (
        "<div class='related'><a href='/x'><span class='date'>Senin, 1 Jan 2024 08:00 WIB</span></a></div>"
        "<span class='date'>Kamis, 30 Mei 2024</span><time>Kamis, 30 Mei 2024 | 14:05 WIB</time>"
    )
    assert generic.visible_date(_doc(_page(body)), "+07:00", None) == "2024-05-30T14:05:00+07:00"


def test_visible_title_keeps_the_headline_punctuation() -> None:
    doc = _doc(_page("<h1>IHSG Hari Ini: Sempat Tembus 9.000?</h1>"))
    shown = "IHSG Hari Ini: Sempat Tembus 9.000?"
    assert generic.visible_title(doc, "IHSG Hari Ini Sempat Tembus 9.000") == shown
    assert generic.visible_title(doc, "Another Headline") == "Another Headline"


@pytest.mark.parametrize(
    ("byline", "names"),
    [
        ("<div class='author'>Penulis : Kristian Erdianto | Editor : Sabrina</div>", ["Kristian Erdianto"]),
        ("<div class='author'><strong>Fino Yurio Kristo</strong> - detikinet</div>", ["Fino Yurio Kristo"]),
        ("<span class='reporter'>Oleh: Dewi Kania</span>", ["Dewi Kania"]),
        ("<div class='author'>Jurnalis</div><div class='author'>Dewi Kania</div>", ["Dewi Kania"]),
        ("<div class='share-author'>Facebook</div>", []),
        ("<div class='content'>no byline here</div>", []),
    ],
)
def test_visible_authors(byline: str, names: list[str]) -> None:
    assert generic.visible_authors(_doc(_page(byline))) == names
