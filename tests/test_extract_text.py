"""Body clean-up (crawler.extract.text) on small hand-written containers."""

from __future__ import annotations

import pytest
from selectolax.lexbor import LexborHTMLParser

from crawler.extract import boilerplate
from crawler.extract.text import Cleaner, join_datelines, normalize, paragraphs, remove


def _body(html: str, *, drop: tuple[str, ...] = (), drop_text: tuple[str, ...] = (),
          stop_text: tuple[str, ...] = ()) -> list[str]:
    tree = LexborHTMLParser(f"<html><body><div id=c>{html}</div></body></html>")
    container = tree.css_first("#c")
    assert container is not None
    remove(container, (*boilerplate.DROP_SELECTORS, *drop))
    return Cleaner.build(drop_text, stop_text).keep(p.text for p in paragraphs(container))


def test_block_elements_are_paragraphs_in_order() -> None:
    assert _body("<p>One.</p><div>Two.</div><h2>Three</h2><ul><li>Four</li><li>Five</li></ul>") == [
        "One.", "Two.", "Three", "Four", "Five",
    ]


def test_br_separated_text_splits_into_paragraphs() -> None:
    html = "\n  First run.<br><br>\n<br>Second run.<br />\n<br />Third <b>bold</b> run.<br>Fourth."
    assert _body(html) == ["First run.", "Second run.", "Third bold run.", "Fourth."]


def test_breaks_inside_inline_elements_also_split() -> None:
    assert _body("<strong>Layanan 4G&nbsp;<br><br></strong>Menyusul kabar itu.") == [
        "Layanan 4G", "Menyusul kabar itu.",
    ]


def test_whitespace_nbsp_and_invisible_characters_collapse() -> None:
    assert _body("<p>  a\u00a0\u00a0b \n\t c\u200b d&nbsp;</p><p>&nbsp;</p><p> </p>") == ["a b c d"]
    assert normalize("\u3000x\u2009y\ufeff") == "x y"


def test_inline_markup_stays_inside_its_paragraph() -> None:
    assert _body("<p>A <a href='/x'>link</a>, <em>emphasis</em> and <span>span</span>.</p>") == [
        "A link, emphasis and span."
    ]


def test_captions_scripts_styles_and_ads_are_dropped() -> None:
    html = (
        "<p>Text one.</p><figure><img src=x><figcaption>A caption</figcaption></figure>"
        "<script>var x = 'script text';</script><style>.a{}</style><noscript>no js</noscript>"
        "<ins class='adsbygoogle'>ad</ins><div id='div-gpt-ad-1'>gpt ad</div>"
        "<iframe src='https://ads.example/'></iframe><p>Text two.</p>"
    )
    assert _body(html) == ["Text one.", "Text two."]


@pytest.mark.parametrize(
    "insert",
    [
        "<p>Baca juga: <a href='/x'>Other story</a></p>",
        "<p>Baca Juga : Other story</p>",
        "<p>(Baca: Other story)</p>",
        "<p><strong>Baca:</strong> Other story</p>",
        "<p>Berita Terkait</p>",
        "<div class='baca-juga'><a href='/x'>Other story</a></div>",
        "<span class='inject-baca-juga'>Other story</span>",
        "<table class='linksisip'><tr><td>Baca juga Other story</td></tr></table>",
        "<p>ADVERTISEMENT</p>",
        "<p>SCROLL TO RESUME CONTENT</p>",
        "<p>Simak breaking news dan berita pilihan kami langsung di ponselmu. Pilih saluran "
        "andalanmu akses berita Kompas.com WhatsApp Channel : https://www.whatsapp.com/channel/0029</p>",
        "<p>Kompascom+ baca berita tanpa iklan: https://kmp.im/plus6</p>",
        "<p>Download aplikasi: https://kmp.im/app6</p>",
        "<p>Follow WhatsApp Channel Okezone untuk update berita terbaru setiap hari</p>",
        "<p>Telusuri berita news lainnya dari Okezone</p>",
        "<p>[Gambas:Video CNN]</p>",
        "<p>Saksikan tayangan video menarik berikut ini:</p>",
        "<p>Pilihan Editor: Other story</p>",
        "<p>Artikel ini telah tayang di Kompas.com dengan judul Other story</p>",
        "<p>Editor: Sabrina Asril</p>",
        "<p>Pewarta: Ade Marboen</p>",
        "<p>(fyk/ash)</p>",
        "<p>Tags:</p>",
        "<div class='social-share'>Bagikan artikel ini</div>",
    ],
)
def test_boilerplate_inserts_are_dropped(insert: str) -> None:
    assert _body(f"<p>Before.</p>{insert}<p>After.</p>") == ["Before.", "After."]


def test_inline_ad_markers_are_cut_out_of_a_paragraph() -> None:
    assert _body("<p>Harga naik ADVERTISEMENT SCROLL TO RESUME CONTENT lagi.</p>") == ["Harga naik lagi."]


def test_site_drop_drop_text_and_stop_text() -> None:
    html = (
        "<p>Keep.</p><div class='promo'>Promo</div><p>Iklan: beli</p><p>Keep too.</p>"
        "<p>Sumber: X</p><p>After.</p>"
    )
    kept = _body(html, drop=(".promo",), drop_text=(r"^Iklan:",), stop_text=(r"^Sumber:",))
    assert kept == ["Keep.", "Keep too."]


def test_site_patterns_are_case_sensitive_as_written() -> None:
    html = "<p>DINI TEJA</p><p>Dini Teja wrote this.</p>"
    assert _body(html, drop_text=(r"^[A-Z ]+$",)) == ["Dini Teja wrote this."]
    assert _body("<p>note: x</p><p>Note: y</p>", drop_text=(r"^Note:",)) == ["note: x"]


def test_datelines_stay_and_a_lone_dateline_joins_the_next_paragraph() -> None:
    assert _body("<strong>Jakarta</strong> - <p>Galaxy S6 Edge adalah smartphone.</p>") == [
        "Jakarta - Galaxy S6 Edge adalah smartphone.",
    ]
    lead = "JAKARTA, KOMPAS.com - Menteri bertemu."
    assert _body(f"<p>{lead}</p>") == [lead]
    assert join_datelines(["Jakarta --", "Text."]) == ["Jakarta -- Text."]
    assert join_datelines(["A sentence that is long enough not to be a dateline at all, really -", "B"]) == [
        "A sentence that is long enough not to be a dateline at all, really -", "B",
    ]


def test_link_density_is_measured_per_paragraph() -> None:
    tree = LexborHTMLParser(
        "<div id=c><p><a href=/a>Teaser one</a></p><p>Text with <a href=/b>a link</a>.</p></div>"
    )
    container = tree.css_first("#c")
    assert container is not None
    found = paragraphs(container)
    assert [p.text for p in found] == ["Teaser one", "Text with a link."]
    assert found[0].link_density == 1.0
    assert 0 < found[1].link_density < 0.6


def test_deep_nesting_does_not_recurse() -> None:
    depth = 5000
    tree = LexborHTMLParser("<div id=c>" + "<span>" * depth + "deep text" + "</span>" * depth + "</div>")
    container = tree.css_first("#c")
    assert container is not None
    assert [p.text for p in paragraphs(container)] == ["deep text"]
