"""Dates as Indonesian portals print them (crawler.extract.dates); RELIABILITY row I6."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crawler.extract.dates import DatePair, parse_date, parse_dates

SHOWN = [
    # the forms of the brief and PORTALS.md
    ("Senin, 19 September 2016 23:40 WIB", "2016-09-19T23:40:00+07:00"),
    ("19/09/2016, 23:40 WIB", "2016-09-19T23:40:00+07:00"),
    ("Rabu (21/6/2017)", "2017-06-21"),
    ("Kompas.com - 03/12/2020, 07:19 WIB", "2020-12-03T07:19:00+07:00"),
    ("Senin, 12 Jan 2026 10:00 WIB", "2026-01-12T10:00:00+07:00"),
    ("Kamis, 05/11/2015 10:08 WIB", "2015-11-05T10:08:00+07:00"),
    ("Rabu, 4 November 2015 | 21:04 WIB", "2015-11-04T21:04:00+07:00"),
    ("Selasa, 23 Februari 2016 15:06 WIB | 998 Views", "2016-02-23T15:06:00+07:00"),
    ("Kamis, 05 November 2015, 15:07 WIB Komentar : 0", "2015-11-05T15:07:00+07:00"),
    ("08/1/2026 20:19", "2026-01-08T20:19:00+07:00"),
    ("on 16 Feb 2016 at 09:10 WIB", "2016-02-16T09:10:00+07:00"),
    ("Wednesday, 04 November, 2015 | 19:23 WIB", "2015-11-04T19:23:00+07:00"),
    ("September 19, 2016 10:00 pm", "2016-09-19T22:00:00+07:00"),
    ("Selasa, 23 Februari 2016 - 15.32 WIB", "2016-02-23T15:32:00+07:00"),
    # month abbreviations and spellings
    ("17 Agt 2019 08:00", "2019-08-17T08:00:00+07:00"),
    ("17 Agu 2019", "2019-08-17"),
    ("17 Agus 2019", "2019-08-17"),
    ("1 Sept 2019", "2019-09-01"),
    ("1 Okt 2019", "2019-10-01"),
    ("25 Des 2019", "2019-12-25"),
    ("3 Mei 2019", "2019-05-03"),
    ("10 Nopember 2019", "2019-11-10"),
    # zones
    ("Jumat, 5 Juli 2019 10:00 WITA", "2019-07-05T10:00:00+08:00"),
    ("Jumat, 5 Juli 2019 10:00 WIT", "2019-07-05T10:00:00+09:00"),
    ("5 Juli 2019 10:00", "2019-07-05T10:00:00+07:00"),
    # ISO and machine forms
    ("2016-02-16T14:38:23+07:00", "2016-02-16T14:38:23+07:00"),
    ("2016-02-16 14:38:23", "2016-02-16T14:38:23+07:00"),
    ("2016-02-16T04:13:59Z", "2016-02-16T11:13:59+07:00"),
    ("2015-11-05 T10:08:58Z", "2015-11-05T17:08:58+07:00"),
    ("2016-02-16T14:38:23.000+0800", "2016-02-16T14:38:23+08:00"),
    ("2016-02-16", "2016-02-16"),
    ("1447000000", "2015-11-08T23:26:40+07:00"),
    ("1447000000123", "2015-11-08T23:26:40+07:00"),
]


@pytest.mark.parametrize(("text", "expected"), SHOWN)
def test_I6_shown_dates(text: str, expected: str) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "   ", "garbage", "2 jam yang lalu", "Heute, 12:30 Uhr", "31/02/2016", "30 Februari 2016",
     "1 Januari 1970", "99999999999999", "2016-13-45", "25:61 WIB", "nan", "\x00\x00", "12/12/1899"],
)
def test_I6_unreadable_dates_give_none(text: str) -> None:
    assert parse_date(text) is None


def test_the_site_timezone_applies_to_times_without_a_zone() -> None:
    assert parse_date("5 Juli 2019 10:00", "+08:00") == "2019-07-05T10:00:00+08:00"
    assert parse_date("2019-07-05T02:00:00Z", "+09:00") == "2019-07-05T11:00:00+09:00"


def test_zone_site_reads_a_wrong_zone_as_site_time() -> None:
    assert parse_date("2015-11-05 T10:08:58Z", zone="site") == "2015-11-05T10:08:58+07:00"
    # epoch numbers are true instants whatever the mode
    assert parse_date("1447000000", zone="site") == "2015-11-08T23:26:40+07:00"


def test_diperbarui_is_kept_apart() -> None:
    text = "Kompas.com, 16 Februari 2016, 14:38 WIB | Diperbarui 16 Februari 2016, 15:10 WIB"
    assert parse_dates(text) == DatePair("2016-02-16T14:38:00+07:00", "2016-02-16T15:10:00+07:00")
    assert parse_dates("Kompas.com - 03/12/2020, 07:19 WIB") == DatePair("2020-12-03T07:19:00+07:00", None)
    assert parse_dates("Update: 03/12/2020, 10:00 WIB").updated == "2020-12-03T10:00:00+07:00"


def test_I6_future_dates_after_the_capture_are_dropped() -> None:
    fetched = datetime(2016, 1, 1, tzinfo=UTC)
    assert parse_date("5 Juli 2019 10:00", not_after=fetched) is None
    assert parse_date("5 Juli 2019", not_after=fetched) is None
    assert parse_date("1 Januari 2016 20:00 WIB", not_after=fetched) == "2016-01-01T20:00:00+07:00"


def test_I6_non_strings_and_huge_inputs_never_raise() -> None:
    assert parse_date(None) is None  # type: ignore[arg-type]
    assert parse_date("9" * 100_000) is None
    # only the first 2000 characters are read: a date buried after them is not found
    assert parse_date("Senin, " * 10_000 + "19 September 2016") is None
    assert parse_date("Senin, 19 September 2016" + " x" * 100_000) == "2016-09-19"
    assert parse_dates(123) == DatePair(None, None)  # type: ignore[arg-type]
