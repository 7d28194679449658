"""The extraction half of a site profile, as typed, frozen, validated models.

The YAML schema is documented in ``crawler/sites/README.md``. ``crawler.config`` reads the
YAML; this module only says what a valid profile is.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SPEC_KINDS = ("css", "meta", "jsonld", "link", "const")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _check_specs(specs: tuple[str, ...]) -> tuple[str, ...]:
    for spec in specs:
        kind, sep, rest = spec.partition(":")
        if not sep or kind not in SPEC_KINDS or not rest:
            raise ValueError(
                f"value spec {spec!r} must be KIND:VALUE with KIND one of {', '.join(SPEC_KINDS)}"
            )
    return specs


def check_regexes(patterns: tuple[str, ...]) -> tuple[str, ...]:
    """``patterns`` unchanged when each compiles; a ValueError naming the first that does not."""
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"bad regular expression {pattern!r}: {exc}") from exc
    return patterns


class Generation(_Frozen):
    """One layout generation of a site: where each field is on the page."""

    id: str
    valid_until: date | None = None
    detect: str | None = None
    # true while no real page of this layout is among the fixtures (only a synthetic page made
    # from the rules): tests/test_generations.py fails a generation that has neither
    unverified: bool = False
    title: tuple[str, ...] = ("meta:og:title", "jsonld:headline", "css:h1")
    title_strip: tuple[str, ...] = ()
    published: tuple[str, ...] = (
        "jsonld:datePublished", "meta:article:published_time", "meta:pubdate",
    )
    updated: tuple[str, ...] = ("jsonld:dateModified", "meta:article:modified_time")
    authors: tuple[str, ...] = ("jsonld:author.name", "meta:author")
    authors_pattern: str | None = None
    authors_split: str | None = None
    section: tuple[str, ...] = ("meta:article:section", "jsonld:articleSection")
    tags: tuple[str, ...] = ("meta:keywords",)
    image: tuple[str, ...] = ("meta:og:image", "jsonld:image.url")
    canonical: tuple[str, ...] = ("link:canonical", "meta:og:url")
    body: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    drop_text: tuple[str, ...] = ()
    stop_text: tuple[str, ...] = ()
    # "site": a zone written in a meta:/jsonld: date is wrong; read its clock time in the
    # site's timezone (detik's pubdate ends in Z but holds Jakarta time). css: dates unaffected.
    dates_zone: Literal["as_given", "site"] = "as_given"
    # regexes: a tag that matches one is removed (site-wide filler in meta keywords)
    tags_drop: tuple[str, ...] = ()

    _specs = field_validator(
        "title", "published", "updated", "authors", "section", "tags", "image", "canonical",
        "body", "drop",
    )(_check_specs)
    _regexes = field_validator("title_strip", "drop_text", "stop_text")(check_regexes)
    _tags_drop_regexes = field_validator("tags_drop")(check_regexes)

    @field_validator("authors_pattern", "authors_split")
    @classmethod
    def _one_regex(cls, value: str | None) -> str | None:
        if value is not None:
            check_regexes((value,))
        return value


class Multipage(_Frozen):
    all_pages_query: dict[str, str] = Field(default_factory=dict)
    next: str | None = None
    max_pages: int = Field(default=20, ge=1, le=200)


class ExtractionProfile(_Frozen):
    """What the extractors need to know of a site."""

    id: str = Field(pattern=r"^[a-z0-9_-]+$")
    name: str = ""
    domains: tuple[str, ...] = ()
    language: str = "id"
    timezone: str = Field(default="+07:00", pattern=r"^[+-]\d{2}:\d{2}$")
    # host (or parent domain) -> BCP 47 language for subsites in another language
    languages: dict[str, str] = Field(default_factory=dict)
    multipage: Multipage = Field(default_factory=Multipage)
    generations: tuple[Generation, ...] = ()

    @model_validator(mode="after")
    def _generations_in_order(self) -> ExtractionProfile:
        dates = [g.valid_until for g in self.generations if g.valid_until is not None]
        if dates != sorted(dates):
            raise ValueError("generations must be listed oldest first (valid_until ascending)")
        return self
