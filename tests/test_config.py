from __future__ import annotations

from pathlib import Path

import pytest

from crawler.config import load_config, parse_config
from crawler.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_config_enables_kompas_and_suara() -> None:
    config = load_config(ROOT / "config.yaml")
    assert [site.id for site in config.enabled_sites()] == ["kompas", "suara"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("crawl:\n  concurency: 3\n", "config.yaml:2: crawl.concurency: unknown key"),
        ("crawl:\n  timeouts_s:\n    read: -1\n", "config.yaml:3: crawl.timeouts_s.read"),
        ("sites:\n  mysite:\n    article_urls: ['(']\n", "config.yaml:3: sites.mysite.article_urls"),
        ("crawl: [\n", "config.yaml:2: not valid YAML"),
    ],
)
def test_config_errors_name_file_line_and_key(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert expected in str(caught.value)
