"""Boilerplate that never belongs in an article body, as data; applies to every site.

Collected from the portals' pages and public scrapers (``PORTALS.md`` "Common boilerplate
strings"). A site adds its own with ``drop`` / ``drop_text`` / ``stop_text``. Regexes are
matched case-insensitively against one paragraph's text with whitespace collapsed.
"""

from __future__ import annotations

# Elements whose text is never body text: skipped while a container's text is read.
DROP_TAGS: frozenset[str] = frozenset({
    "script", "style", "noscript", "template", "iframe", "object", "embed", "video", "audio",
    "canvas", "svg", "map", "form", "button", "input", "select", "textarea", "figure",
    "figcaption", "math",
})

# Elements removed from a body container before its text is read.
DROP_SELECTORS: tuple[str, ...] = (
    "ins.adsbygoogle", "[id^=div-gpt-ad]", "[class*=baca-juga]", "[class*=bacajuga]",
    "[class*=inject-baca]", "[class^=kompasidRec]", "table.linksisip", "[class*=link_sisip]",
    "[class^=sisip_]", "[class*=ads-on-body]", "[class*=ads-partner]", "[class*=share-box]",
    "[class*=social-share]", "[class*=newsletter]", "[hidden]", "[aria-hidden=true]",
)

# A paragraph whose start matches one of these is dropped (related-link inserts, promos,
# credits). Matched against the lower-cased paragraph (so written in lower case), anchored at
# its start (each is tried at position 0 only).
DROP_PARAGRAPHS: tuple[str, ...] = (
    r"\(?\s*(?:baca(?:\s+juga)?|lihat(?:\s+juga)?|simak(?:\s+juga)?|berita\s+terkait|artikel\s+terkait|"
    r"pilihan\s+editor|read\s+also|see\s+also)\s*:",
    r"(?:berita\s+terkait|artikel\s+terkait|baca\s+juga|terpopuler|terkini(?:\s+lainnya)?|pilihan|"
    r"video\s+rekomendasi|video\s+lainnya|tags?|topik|bagikan(?:\s+artikel\s+ini)?(?:\s+melalui)?|"
    r"advertisement|scroll\s+to\s+(?:continue|resume)(?:\s+with)?\s+content|close\s+ads)\s*:?$",
    r"download aplikasi\b",
    r"telusuri berita.{0,80}\blainnya",
    r"\[gambas:[^\]]*\]$",
    r"(?:saksikan|simak|tonton)\s+(?:juga\s+)?(?:tayangan\s+)?video\s+(?:menarik\s+)?(?:berikut|di\s+bawah)",
    r"artikel ini telah (?:tayang|terbit|dimuat) di\b",
    r"(?:editor|penyunting|redaktur|reporter|pewarta|penulis|fotografer|editing)\s*:.{0,120}$",
    r"\(\s*[a-z]{2,6}(?:\s*/\s*[a-z]{2,6})+\s*\)$",
    r"copyright\s*(?:©|\(c\))",
    r"login untuk memaksimalkan pengalaman",
    r"komentar di artikel lainnya",
)

# A paragraph that contains the literal (lower case) and, when one is given, matches the regex
# anywhere, is dropped: promo lines that sit after article-like text.
DROP_IF_CONTAINS: tuple[tuple[str, str | None], ...] = (
    ("simak breaking news dan berita pilihan kami", None),
    ("pilih saluran andalanmu", None),
    ("whatsapp", r"whatsapp(?:\.com/channel|\s+channel)"),
    ("tanpa iklan", r"kompascom\+\s*baca berita tanpa iklan"),
    ("tanpa iklan", r"baca berita tanpa iklan\.?\s*gabung kompas\.com\+"),
)

# Text removed from inside a paragraph (ad markers that sit inline with article text): the
# literal must be in the paragraph (as written) before the regex is tried.
STRIP_PHRASES: tuple[tuple[str, str], ...] = (
    ("ADVERTISEMENT", r"\bADVERTISEMENT\b"),
    ("SCROLL TO", r"\bSCROLL TO (?:CONTINUE|RESUME) (?:WITH )?CONTENT\b"),
    ("[", r"\[[Gg]ambas:[^\]]*\]"),
)

# Phrases whose presence in an output body counts as a leak (bench/extract.py).
LEAK_PHRASES: tuple[str, ...] = (
    "Baca juga", "Berita Terkait", "ADVERTISEMENT", "SCROLL TO RESUME CONTENT",
    "Simak breaking news", "WhatsApp Channel", "Kompascom+", "Download aplikasi",
    "Gabung Kompas.com+", "[Gambas:", "Saksikan tayangan video", "Pilihan Editor:",
    "Artikel ini telah tayang", "Video rekomendasi", "Terkini Lainnya", "Close Ads",
    "Bagikan artikel ini", "komentar di artikel lainnya",
)
