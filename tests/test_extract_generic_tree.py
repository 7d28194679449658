"""The generic extractor's mechanisms, one minimal synthetic page each (no site rules)."""

from __future__ import annotations

from crawler.extract import Extractor, dom, generic
from crawler.extract.metadata import clean_title
from crawler.models import Article, Page

EN = [
    "The city council voted on Tuesday to expand the bus network, adding six routes that will "
    "connect the northern suburbs with the central station by next spring.",
    "Supporters said the plan, which costs about 40 million dollars, would cut commuting times "
    "for thousands of residents who now drive to work every day.",
    "Opponents, including two members of the council, argued that the money should first go to "
    "repairing roads, many of which have not been resurfaced in a decade.",
    "The first of the new routes is expected to open in March, the transport department said in "
    "a statement released after the vote.",
]
ID = [
    "Harga cabai rawit merah di Pasar Induk Kramat Jati, Jakarta Timur, turun menjadi Rp 38.000 per "
    "kilogram pada Kamis pagi, kata pedagang.",
    "Penurunan itu terjadi setelah pasokan dari sentra produksi di Jawa Tengah dan Jawa Timur kembali "
    "normal, menurut para pedagang.",
    "Pedagang memperkirakan harga akan stabil hingga akhir bulan depan, meski cuaca di sentra produksi "
    "masih belum menentu.",
]
LINKS = "".join(f"<li><a href='/n/{i}'>Another story read today, number {i}</a></li>" for i in range(10))


def _extract(body: str, head: str = "", lang: str = "en") -> Article:
    html = f"<html lang='{lang}'><head><title>Buses - Example</title>{head}</head><body>{body}</body></html>"
    article = Extractor([]).extract(Page(url="https://unknown.example/news/buses", body=html.encode()))
    assert article is not None
    return article


def test_nested_paragraph_wrappers_credit_the_container_levels_up() -> None:
    wrapped = "".join(f"<div class='w'><div class='x'><div><p>{text}</p></div></div></div>" for text in EN)
    teaser = f"<div class='teaser'><p>{EN[0][:90]}, and a teaser of some other story.</p></div>"
    page = f"<nav><ul>{LINKS}</ul></nav><main><div class='c'>{wrapped}</div></main>{teaser}"
    assert _extract(page).body.split("\n\n") == EN


def test_hidden_container_holding_the_article_is_kept_and_small_hidden_bits_go() -> None:
    story = "".join(f"<p>{text}</p>" for text in EN)
    page = (
        f"<div class='paywall' hidden><span hidden>Subscribe to keep reading</span>{story}</div>"
        f"<aside><ul>{LINKS}</ul></aside>"
    )
    assert _extract(page).body.split("\n\n") == EN


def test_next_candidate_when_clean_up_empties_the_best() -> None:
    # the best scorer is a box of "Baca juga" lines (plain text, commas and all): the phrase
    # list empties it, and the story (scored lower) is read instead
    line = "<p>Baca juga: {}, lalu {}, dan lainnya, kata mereka.</p>"
    box = "".join(line.format(text[:60], text[60:110]) for text in ID * 3)
    story = "".join(f"<p>{text}</p>" for text in ID)
    page = f"<div class='story'>{story}</div><div>{box}</div>"
    html = f"<html lang='id'><body>{page}</body></html>"
    best = generic.best_container(dom.parse(html, "https://unknown.example/a"))
    assert best is not None and "story" not in (best.attributes.get("class") or "")
    assert _extract(page, lang="id").body.split("\n\n") == ID


def test_comment_thread_loses_to_the_story() -> None:
    comments = "".join(f"<p>{text} I disagree, completely, with this, and that.</p>" for text in EN + EN)
    story = "".join(f"<p>{text}</p>" for text in EN)
    page = f"<div class='story'>{story}</div><div class='comment-list'>{comments}</div>"
    assert _extract(page).body.split("\n\n") == EN


def test_list_article_keeps_its_items_subheadings_and_table() -> None:
    items = "".join(f"<li>{text}</li>" for text in EN[1:3])
    page = (
        f"<article><p>{EN[0]}</p><h2>What changes</h2><ul>{items}</ul>"
        "<table><tr><td>Route 12 runs every ten minutes from the station</td></tr></table>"
        f"<p>{EN[3]}</p></article><ul>{LINKS}</ul>"
    )
    assert _extract(page).body.split("\n\n") == [
        EN[0], "What changes", EN[1], EN[2], "Route 12 runs every ten minutes from the station", EN[3],
    ]


def test_trailing_boxes_are_cut_in_both_languages() -> None:
    story = "".join(f"<p>{text}</p>" for text in ID)
    box = (
        "<p>Jangan Lewatkan:</p><p>Harga bawang merah naik</p><p>Read more</p>"
        "<p>Sign up for our newsletter</p><p>(ant/nor)</p>"
    )
    page = f"<div class='isi'>{story}{box}</div>"
    assert _extract(page, lang="id").body.split("\n\n") == ID


def test_title_loses_the_site_name_before_or_after_the_headline() -> None:
    names = ("portal",)
    assert clean_title("Portal.com: Harga Cabai Naik Lagi", (), names) == "Harga Cabai Naik Lagi"
    assert clean_title("Harga Cabai Naik Lagi | Portal.com", (), names) == "Harga Cabai Naik Lagi"
    assert clean_title("Menteri: Harga Cabai Naik Lagi", (), names) == "Menteri: Harga Cabai Naik Lagi"
    head = "<meta property='og:site_name' content='Portal.com'>"
    story = "".join(f"<p>{text}</p>" for text in ID)
    article = _extract(f"<h1>Portal.com: Harga Cabai Turun</h1><div>{story}</div>", head, "id")
    assert article.title == "Harga Cabai Turun"


def test_zone_precedence_explicit_offset_then_wib_for_indonesian_then_utc() -> None:
    story = "".join(f"<p>{text}</p>" for text in EN)
    shown = "<div class='date'>19 November 2019 10:15</div>"
    explicit = "<meta property='article:published_time' content='2019-11-19T10:15:00-05:00'>"
    assert _extract(shown + story, explicit).published == "2019-11-19T10:15:00-05:00"
    utc = "<meta property='article:published_time' content='2019-11-19T15:15:00Z'>"
    assert _extract(shown + story, utc).published == "2019-11-19T15:15:00+00:00"
    assert _extract(shown + story).published == "2019-11-19T10:15:00+00:00"
    story_id = "".join(f"<p>{text}</p>" for text in ID)
    assert _extract(shown + story_id, lang="id").published == "2019-11-19T10:15:00+07:00"


def test_photo_and_editor_credits_are_not_authors() -> None:
    from crawler.extract.metadata import clean_authors

    raw = ["Dok. Humas Pemkot", "Foto: Andi Wijaya", "Editor: Budi", "Rina Lestari", "Dokumentasi Polri"]
    assert clean_authors(raw, None, ()) == ["Rina Lestari"]
    story = "".join(f"<p>{text}</p>" for text in EN)
    head = "<meta name='author' content='Dok. Istimewa'>"
    page = f"<div class='author'>By Rina Lestari</div><div>{story}</div>"
    assert _extract(page, head).authors == ("Rina Lestari",)


def test_lead_paragraph_outside_the_read_more_part_is_kept() -> None:
    lead = f"<div class='para lead'><p>{EN[0]}</p></div>"
    rest = "".join(f"<div class='para'><p>{text}</p></div>" for text in EN[1:])
    page = f"<div class='container'>{lead}<div class='read-all'>{rest}</div></div><ul>{LINKS}</ul>"
    assert _extract(page).body.split("\n\n") == EN


def test_a_credit_table_names_the_writer_not_the_editor_nor_the_photo() -> None:
    """Label and value in cells of their own ("Penulis | : X"), a photo credit in an "author"
    class before it: the writer is the value after the writer's label."""
    story = "".join(f"<p>{text}</p>" for text in EN)
    page = (
        "<div class='photo'><img src='a.jpg'><span class='author'>Dok.Humas Pemkot</span></div>"
        f"<div class='story'>{story}</div>"
        "<table><tr><td>Penulis</td><td>: Rina Lestari</td></tr>"
        "<tr><td>Editor</td><td>: Budi Santoso</td></tr></table>"
    )
    assert _extract(page).authors == ("Rina Lestari",)


def test_a_writer_line_in_the_text_is_the_last_resort_for_authors() -> None:
    story = "".join(f"<p>{text}</p>" for text in EN)
    page = f"<div class='story'>{story}<p>Reporter: Andi Wijaya</p></div>"
    assert _extract(page).authors == ("Andi Wijaya",)


def test_credit_rows_and_a_desk_code_after_the_last_paragraph_are_cut() -> None:
    story = "".join(f"<p>{text}</p>" for text in EN)
    page = (
        f"<div class='story'>{story}<p><strong>(FHM)</strong></p>"
        "<table><tr><td>Penulis</td><td>: Rina Lestari</td></tr>"
        "<tr><td>Editor</td><td>: Budi Santoso</td></tr></table></div>"
    )
    assert _extract(page).body.split("\n\n") == EN
