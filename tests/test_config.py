"""Configuration: typed settings, and RELIABILITY rows J1 (invalid config) and J2 (dangerous settings)."""

from __future__ import annotations

from pathlib import Path

import pytest

from crawler.config import builtin_sites, load_config, parse_config
from crawler.errors import EXIT_INVALID_CONFIG, ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_config_enables_kompas_and_suara() -> None:
    config = load_config(ROOT / "config.yaml")
    assert [site.id for site in config.enabled_sites()] == ["kompas", "suara"]
    (warning,) = config.warnings()  # only the contact to set (README "Set up")
    assert "set-your-email@example.org" in warning


def test_every_builtin_site_is_listed_in_the_shipped_config() -> None:
    config = load_config(ROOT / "config.yaml")
    assert {site.id for site in builtin_sites()} <= {site.id for site in config.sites}


def test_override_keeps_builtin_values() -> None:
    config = parse_config("sites:\n  mysite:\n    domains: [example.org]\n    politeness: {interval_s: 3}\n")
    site = config.site("mysite")
    assert site.domains == ("example.org",)
    assert site.politeness.interval_s == 3


J1_CASES = [
    ("crawl:\n  concurency: 3\n", "config.yaml:2: crawl.concurency: unknown key"),
    ("crawl:\n  timeouts_s:\n    read: -1\n", "config.yaml:3: crawl.timeouts_s.read"),
    ("sites:\n  mysite:\n    article_urls: ['(']\n", "config.yaml:3: sites.mysite.article_urls"),
    ("crawl: [\n", "config.yaml:2: not valid YAML"),
    ("sites:\n  x:\n    listing: {links: 'div['}\n", "config.yaml:3: sites.x.listing.links"),
    ("sites:\n  x:\n    generations:\n      - id: a\n        body: ['css:div[']\n",
     "config.yaml:5: sites.x.generations.0.body"),
    ("sites:\n  x:\n    generations:\n      - {id: a, body: ['xpath://p']}\n", "must be KIND:VALUE"),
    ("sites:\n  x:\n    generations:\n      - {id: a, valid_until: 2020-01-01}\n"
     "      - {id: b, valid_until: 2019-01-01}\n", "oldest first"),
    # Site code is looked up by site id under crawler.sites; there is no key to point elsewhere.
    ("sites:\n  x:\n    python: os.system\n", "config.yaml:3: sites.x.python: unknown key"),
    ("sites: [kompas]\n", "config.yaml:1: sites: must be a mapping"),
]


@pytest.mark.parametrize(("text", "expected"), J1_CASES)
def test_J1_invalid_config_names_file_line_and_key(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert expected in str(caught.value)
    assert caught.value.exit_code == EXIT_INVALID_CONFIG


def test_J1_unreadable_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_config(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("crawl:\n  max_body_bytes: 0\n", "crawl.max_body_bytes"),
        ("crawl:\n  robots: {mode: ignore}\n", "needs a `justification:`"),
        ("network:\n  allow_private_addresses: [nope]\n", "not an IP network"),
    ],
)
def test_J2_dangerous_settings_are_refused(text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected.replace(".", r"\.")):
        parse_config(text)


def test_J2_allowed_but_dangerous_settings_warn() -> None:
    config = parse_config(
        "network:\n  allow_private_addresses: [127.0.0.1/32]\n"
        "crawl:\n  robots: {mode: ignore, justification: owner permission 2026-11-01}\n"
    )
    warnings = config.warnings()
    assert any("127.0.0.1/32" in w for w in warnings)
    assert any("owner permission" in w for w in warnings)
