"""Dates as Indonesian portals print them, to ISO 8601.

Rules (the whole contract; ``tests/test_dates.py`` pins each one):

* Output is ``YYYY-MM-DDTHH:MM:SS±HH:MM`` when the text shows a time of day (seconds are
  ``00`` when only minutes are shown), and ``YYYY-MM-DD`` (no time, no offset) when it shows
  only a date: a date-only text never gets an invented midnight.
* The offset is the zone the text names: ``WIB`` +07:00, ``WITA`` +08:00, ``WIT`` +09:00, or a
  numeric offset. A time shown without a zone is in the site's timezone (``tz``). A time in
  UTC (``Z``, ``+00:00``, ``UTC``, ``GMT``, epoch numbers) is converted to the site's
  timezone, because that is the time a reader of the portal sees. With ``zone="site"`` any
  zone in the text is ignored and the wall-clock time is read in the site's timezone (detik's
  ``pubdate`` meta ends in ``Z`` but holds Jakarta time). With ``zone="kept"`` (pages without
  rules) every zone in the text is kept as given, UTC included: the page's offset is the truth.
* Numeric dates are day first (``19/09/2016``, ``21/6/17``); when the second number cannot be
  a month and the first can, they are read month first. Two-digit years are 20YY.
* Indonesian and English day and month names and abbreviations are understood (``Senin``,
  ``19 Sept 2016``, ``Agt``, ``Des``, ``September 19, 2016``).
* ``Diperbarui ...`` / ``Update: ...`` / ``Updated ...`` in a text is the updated date and is
  kept apart from the published date before it (``parse_dates``).
* Epoch numbers (10 digits: seconds, 13 digits: milliseconds) are read as UTC instants.
* Anything else (garbage, relative phrases such as "2 jam lalu", impossible dates, years
  before 1990 or after 2100, or dates more than one day after ``not_after``, the capture
  time) gives ``None``. Nothing here raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Literal

MONTHS: dict[str, int] = {
    "januari": 1, "january": 1, "jan": 1,
    "februari": 2, "february": 2, "pebruari": 2, "feb": 2, "peb": 2,
    "maret": 3, "march": 3, "mar": 3,
    "april": 4, "apr": 4,
    "mei": 5, "may": 5,
    "juni": 6, "june": 6, "jun": 6,
    "juli": 7, "july": 7, "jul": 7,
    "agustus": 8, "august": 8, "agus": 8, "agu": 8, "agt": 8, "ags": 8, "aug": 8,
    "september": 9, "sept": 9, "sep": 9,
    "oktober": 10, "october": 10, "okt": 10, "oct": 10,
    "november": 11, "nopember": 11, "nov": 11, "nop": 11,
    "desember": 12, "december": 12, "des": 12, "dec": 12,
}
ZONES: dict[str, str] = {
    "wib": "+07:00", "wita": "+08:00", "wit": "+09:00",
    "z": "+00:00", "utc": "+00:00", "gmt": "+00:00",
}
UPDATE_MARKERS = r"diperbarui|diupdate|pembaruan|update[d]?|terakhir diubah|last updated"
MIN_YEAR, MAX_YEAR = 1990, 2100

_ZONE = r"(?P<zone>wita|wib|wit|utc|gmt|z|[+-]\d{2}:?\d{2})"
_ISO = re.compile(
    r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})"
    r"(?:\s*t?\s*(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,]\d+)?)?\s*" + _ZONE + r"?)?"
)
# Month names are matched as any word and looked up in MONTHS: an alternation of every name
# would be tried at every position of the text.
_NAMED_DMY = re.compile(
    r"(?<![a-z0-9])(?P<d>\d{1,2})(?:st|nd|rd|th)?[\s.\-/]*(?P<mon>[a-z]{3,9})\b\.?,?[\s\-/]*"
    r"(?P<y>\d{4})(?!\d)"
)
_NAMED_MDY = re.compile(r"\b(?P<mon>[a-z]{3,9})\.?\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<y>\d{4})(?!\d)")
_NUMERIC = re.compile(
    r"(?<![\d/.\-])(?P<a>\d{1,2})(?P<sep>[/.\-])(?P<b>\d{1,2})(?P=sep)(?P<y>\d{4}|\d{2})(?![\d/])"
)
_TIME = re.compile(
    r"(?<![\d/.\-])(?P<H>\d{1,2})[:.](?P<M>\d{2})(?:[:.](?P<S>\d{2}))?(?![\d/])"
    r"(?:\s*(?P<ampm>[ap]\.?m\.?)(?![a-z]))?(?:\s*" + _ZONE + r"(?![a-z]))?"
)
_EPOCH = re.compile(r"^\s*(?P<n>\d{10}|\d{13})\s*$")
_UPDATE_SPLIT = re.compile(r"\b(?:" + UPDATE_MARKERS + r")\b\s*:?", re.IGNORECASE)

ZoneMode = Literal["as_given", "site", "kept"]


@dataclass(frozen=True)
class DatePair:
    """A published date and, when the text says "Diperbarui ...", an updated date."""

    published: str | None
    updated: str | None


@dataclass(frozen=True)
class _Found:
    day: date
    clock: time | None
    offset: str | None  # "+07:00" as written, None when the text names no zone
    epoch: bool = False


def parse_dates(
    text: str, tz: str = "+07:00", *, zone: ZoneMode = "as_given", not_after: datetime | None = None
) -> DatePair:
    """Split ``text`` at an update marker: the date before it is published, after it updated."""
    if not isinstance(text, str):
        return DatePair(None, None)
    marker = _UPDATE_SPLIT.search(text)
    if marker is None:
        return DatePair(parse_date(text, tz, zone=zone, not_after=not_after), None)
    before, after = text[: marker.start()], text[marker.end() :]
    return DatePair(
        parse_date(before, tz, zone=zone, not_after=not_after),
        parse_date(after, tz, zone=zone, not_after=not_after),
    )


def parse_date(
    text: str, tz: str = "+07:00", *, zone: ZoneMode = "as_given", not_after: datetime | None = None
) -> str | None:
    """The first date in ``text`` as ISO 8601 (see the module rules), or None."""
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        found = _find(text[:2000].lower())
        if found is None or not MIN_YEAR <= found.day.year <= MAX_YEAR:
            return None
        return _render(found, tz, zone, not_after)
    except (ValueError, OverflowError, OSError):
        return None


def _find(text: str) -> _Found | None:
    epoch = _EPOCH.match(text)
    if epoch:
        number = int(epoch["n"])
        seconds = number / 1000 if len(epoch["n"]) == 13 else number
        moment = datetime.fromtimestamp(seconds, UTC)
        return _Found(moment.date(), moment.time().replace(microsecond=0), "+00:00", epoch=True)
    iso = _ISO.search(text)
    if iso:
        day = date(int(iso["y"]), int(iso["m"]), int(iso["d"]))
        clock = _clock(iso["H"], iso["M"], iso["S"], None) if iso["H"] else None
        if clock is None:
            clock, zone = _time_near(text, iso.start(), iso.end())
            return _Found(day, clock, zone)
        return _Found(day, clock, _zone(iso["zone"]))
    for found_day, start, end in _dates_in(text):
        clock, zone = _time_near(text, start, end)
        return _Found(found_day, clock, zone)
    return None


def _dates_in(text: str) -> list[tuple[date, int, int]]:
    """Every date the text shows, earliest position first, skipping impossible ones."""
    found: list[tuple[date, int, int]] = []
    for pattern in (_NAMED_DMY, _NAMED_MDY):
        for match in pattern.finditer(text):
            month = MONTHS.get(match["mon"])
            day = _safe_date(int(match["y"]), month, int(match["d"])) if month else None
            if day is not None:
                found.append((day, match.start(), match.end()))
    for match in _NUMERIC.finditer(text):
        first, second = int(match["a"]), int(match["b"])
        if second > 12 >= first:
            first, second = second, first
        year = int(match["y"]) + (2000 if len(match["y"]) == 2 else 0)
        day = _safe_date(year, second, first)
        if day is not None:
            found.append((day, match.start(), match.end()))
    return sorted(found, key=lambda item: item[1])


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _time_near(text: str, start: int, end: int) -> tuple[time | None, str | None]:
    """The time of day after the date (or else before it) and the zone named with it."""
    for match in (_TIME.search(text, end), _TIME.search(text[:start])):
        if match is None:
            continue
        clock = _clock(match["H"], match["M"], match["S"], match["ampm"])
        if clock is not None:
            return clock, _zone(match["zone"])
    return None, None


def _clock(hours: str, minutes: str, seconds: str | None, ampm: str | None) -> time | None:
    hour = int(hours)
    if ampm:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm.startswith("p") else 0)
    try:
        return time(hour, int(minutes), int(seconds or 0))
    except ValueError:
        return None


def _zone(raw: str | None) -> str | None:
    if not raw:
        return None
    if raw in ZONES:
        return ZONES[raw]
    digits = raw.replace(":", "")
    return f"{digits[:3]}:{digits[3:]}"


@lru_cache(maxsize=64)
def _offset(value: str) -> timezone:
    sign = -1 if value.startswith("-") else 1
    hours, minutes = int(value[1:3]), int(value[4:6])
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _render(found: _Found, tz: str, zone: ZoneMode, not_after: datetime | None) -> str | None:
    if found.clock is None:
        if not_after is not None and found.day > not_after.date() + timedelta(days=1):
            return None
        return found.day.isoformat()
    site = _offset(tz)
    given = found.offset if zone != "site" or found.epoch else None
    moment = datetime.combine(found.day, found.clock, _offset(given) if given else site)
    if given is not None and moment.utcoffset() == timedelta(0) and zone != "kept":
        moment = moment.astimezone(site)
    if not_after is not None:
        reference = not_after if not_after.tzinfo else not_after.replace(tzinfo=UTC)
        if moment > reference + timedelta(days=1):
            return None
    if not MIN_YEAR <= moment.year <= MAX_YEAR:
        return None
    return moment.isoformat(timespec="seconds")
