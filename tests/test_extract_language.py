"""The page's language: declarations first, the text when they disagree or are missing."""

from __future__ import annotations

from crawler.extract import Extractor
from crawler.extract.dom import parse
from crawler.extract.language import language_of
from crawler.models import Page

ID_TEXT = (
    "Pemerintah kota mengumumkan bahwa rute bus yang baru akan dibuka pada bulan depan dan "
    "warga diminta untuk memperhatikan jadwal yang ada di halte. Menurut dinas perhubungan, "
    "perubahan ini dilakukan karena jumlah penumpang terus bertambah dari tahun ke tahun."
)
EN_TEXT = (
    "The city council said that the new bus route would open next month and asked residents "
    "to check the timetable at the stops. According to the transport office, the change was "
    "made because the number of passengers is growing from year to year."
)


def _page(head: str, text: str, html_attrs: str = "") -> str:
    return f"<html {html_attrs}><head>{head}</head><body>" + f"<p>{text}</p>" * 3 + "</body></html>"


def test_agreeing_or_single_declarations_are_the_answer() -> None:
    assert language_of(parse(_page("", EN_TEXT, "lang='id-ID'"), "https://x.test/")) == "id"
    head = "<meta property='og:locale' content='en_GB'>"
    assert language_of(parse(_page(head, EN_TEXT, "lang='en'"), "https://x.test/")) == "en"


def test_a_template_default_lang_loses_to_a_content_language_the_text_confirms() -> None:
    head = "<meta http-equiv='Content-Language' content='id'>"
    page = _page(head, ID_TEXT, "lang='en'")
    assert language_of(parse(page, "https://x.test/")) == "id"
    # the same declarations over English text: the html lang stands
    assert language_of(parse(_page(head, EN_TEXT, "lang='en'"), "https://x.test/")) == "en"


def test_an_undeclared_page_is_read_by_its_text_or_gets_the_default() -> None:
    assert language_of(parse(_page("", EN_TEXT), "https://x.test/"), default="id") == "en"
    assert language_of(parse(_page("", ID_TEXT), "https://x.test/"), default="en") == "id"
    assert language_of(parse("<html><body><p>OK</p></body></html>", "https://x.test/"), default="id") == "id"


def test_a_shown_time_without_offset_gets_wib_on_a_page_whose_real_language_is_indonesian() -> None:
    """Zone precedence follows the language: lang='en' alone would have stamped UTC."""
    head = (
        "<meta http-equiv='Content-Language' content='id'><title>Rute bus baru</title>"
        "<script type='application/ld+json'>{\"@type\": \"NewsArticle\", \"headline\": \"Rute bus baru\","
        " \"datePublished\": \"2017-02-17 13:30:08\"}</script>"
    )
    page = _page(head, ID_TEXT, "lang='en'")
    article = Extractor(site_rules=False).extract(Page(url="https://berita.test/a/1", body=page.encode()))
    assert article is not None and article.language == "id"
    assert article.published == "2017-02-17T13:30:08+07:00"
