"""The conventions of a command line (issue 11, items 3 to 5), through the real ``crawler``
process: usage errors exit 2 with a message, ``--version``, help for every argument, ``-v``
on either side of the verb, configuration refused with file, line and key (exit 4), one config
rule for every verb, a replay that yields nothing exits 3, the placeholder contact warned.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from crawler import __version__
from crawler.cli import _build_parser, main
from crawler.config import default_config, load_config
from tests.support import matrixkit as mk
from tests.support.warcfactory import exchange, write_warcs

ROOT = Path(__file__).resolve().parents[1]
ARTICLE_URL = "http://news.example/read/2016/02/23/0001/judul-1"


def crawler(*args: str, cwd: Path = ROOT,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crawler.cli", *args], cwd=cwd, env=env or mk.cli_env(),
                          capture_output=True, text=True, timeout=60, check=False)


def _news_config(directory: Path) -> Path:
    sites = mk.site_yaml("news", ["news.example"], article_urls=[r"^http://news\.example/read/"],
                         listings=["http://news.example/indeks"])
    path = directory / "config.yaml"
    path.write_text(mk.config_text(directory / "archive", sites))
    return path


# ---------------------------------------------------------------- usage


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("crawl", "--max-pages", "-5"), "--max-pages: -5: must be 1 or more"),
        (("crawl", "--since", "yesterday"), "expected YYYY-MM-DD or an age like 1d"),
        (("replay", "x.warc.gz", "--workers", "0"), "--workers: 0: must be 1 or more"),
        (("crawl", "--seed", "notaurl"), "'notaurl' is not an http:// or https:// URL"),
        (("crawl", "--sites", "nosuch"), "unknown site 'nosuch'"),
        (("crawl", "--sites", "kompass"), "did you mean 'kompas'?"),
        (("replay", "x.warc.gz", "--sites", "kompass"), "did you mean 'kompas'?"),
        (("frobnicate",), "invalid choice"),
    ],
)
def test_value_errors_are_usage_errors(args: tuple[str, ...], message: str, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)  # no config.yaml: the built-in sites
    try:
        code = main(list(args))
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    assert code == 2
    assert message in capsys.readouterr().err


def test_a_usage_error_through_the_real_process(tmp_path: Path) -> None:
    result = crawler("crawl", "--max-pages", "-5", cwd=tmp_path)
    assert result.returncode == 2 and "--max-pages: -5: must be 1 or more" in result.stderr
    mk.assert_no_traceback(result.stderr)


def test_a_seed_no_selected_site_covers_is_a_usage_error(tmp_path: Path) -> None:
    config = _news_config(tmp_path)
    result = crawler("crawl", "--config", str(config), "--seed", "http://elsewhere.example/x", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "no selected site covers host 'elsewhere.example'" in result.stderr


def test_version_and_a_description_for_users() -> None:
    version = crawler("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"crawler {__version__}"
    helped = crawler("-h")
    assert helped.returncode == 0
    assert "Crawl news portals politely" in helped.stdout and "exit codes:" in helped.stdout
    assert "_cmd_" not in helped.stdout and "parse arguments" not in helped.stdout


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no verbs")


def test_every_argument_of_every_verb_has_help() -> None:
    verbs = _subparsers(_build_parser())
    assert {"crawl", "replay", "extract", "sites", "verify", "recover", "index"} <= set(verbs)
    missing = [f"{name} {action.dest}" for name, verb in verbs.items() for action in verb._actions
               if not action.help]
    assert missing == []
    for name in ("crawl", "replay", "extract", "sites"):
        (config,) = [a for a in verbs[name]._actions if a.dest == "config"]
        assert "./config.yaml" in (config.help or "")


@pytest.mark.parametrize("args", [("-v", "sites"), ("sites", "-v")])
def test_verbose_before_or_after_the_verb(args: tuple[str, ...], tmp_path: Path) -> None:
    result = crawler(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "INFO crawler.sites: config: built-in sites" in result.stderr


# ---------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('crawl:\n  proxy: "not a url"\n',
         "config.yaml:2: crawl.proxy: Value error, 'not a url' is not a proxy URL"),
        ('crawl:\n  proxy: "socks5://127.0.0.1:1080"\n', "config.yaml:2: crawl.proxy: Value error, "
         "'socks5://127.0.0.1:1080': SOCKS proxies are not supported"),
        ("sites:\n  kompass: {enabled: true}\n", "config.yaml:2: sites.kompass: not a built-in site; "
         "did you mean 'kompas'?"),
        ("sites:\n  kompas: 5\n", "config.yaml:2: sites.kompas: must be a mapping of settings "
         "(e.g. `kompas: {enabled: true}`), not int 5"),
    ],
)
def test_bad_configuration_is_refused_with_file_line_and_key(text: str, message: str, tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(text)
    verbs = [("sites",)] + ([("crawl", "--archive", str(tmp_path / "archive"))] if "proxy" in text else [])
    for verb in verbs:
        result = crawler(*verb, cwd=tmp_path)
        assert result.returncode == 4, result.stderr
        assert message in result.stderr
        assert "{type(" not in result.stderr
        mk.assert_no_traceback(result.stderr)
    assert not (tmp_path / "archive").exists()


def test_a_new_site_with_domains_is_not_a_typo(tmp_path: Path) -> None:
    config = _news_config(tmp_path)
    assert load_config(config).site("news").domains == ("news.example",)


def test_a_socks_proxy_from_the_environment_is_refused(tmp_path: Path) -> None:
    config = _news_config(tmp_path)
    env = {**mk.cli_env(), "ALL_PROXY": "socks5://127.0.0.1:1080"}
    result = crawler("crawl", "--config", str(config), cwd=tmp_path, env=env)
    assert result.returncode == 4, result.stderr
    assert "environment variable all_proxy: 'socks5://127.0.0.1:1080': SOCKS proxies are not supported" \
        in result.stderr


def _sites_table(stdout: str) -> dict[str, str]:
    rows = [line.split() for line in stdout.splitlines()[1:] if line.strip()]
    return {row[0]: row[1] for row in rows}


def test_every_verb_reads_config_yaml_of_the_working_directory(tmp_path: Path) -> None:
    bare = crawler("sites", cwd=tmp_path)
    expected = {site.id: "yes" if site.enabled else "no" for site in default_config().sites}
    assert _sites_table(bare.stdout) == expected
    assert expected["kompas"] == expected["suara"] == "yes" and expected["detik"] == "no"  # as shipped
    _news_config(tmp_path)
    beside = crawler("sites", cwd=tmp_path)
    assert _sites_table(beside.stdout) == {"news": "yes"}
    assert "config: " + str(tmp_path / "config.yaml") in beside.stderr


def test_replay_beside_the_crawls_config_uses_it_and_zero_articles_exit_3(tmp_path: Path) -> None:
    warcs = tmp_path / "warcs"
    warcs.mkdir()
    write_warcs(warcs, [exchange(ARTICLE_URL, mk.article_html("Judul satu"))])
    _news_config(tmp_path)
    replayed = crawler("replay", "warcs", cwd=tmp_path)
    assert replayed.returncode == 0, replayed.stderr
    (article,) = [json.loads(line) for line in replayed.stdout.splitlines()]
    assert article["site"] == "news" and article["title"] == "Judul satu"

    listings = tmp_path / "listings"
    listings.mkdir()
    write_warcs(listings, [exchange("http://news.example/indeks", mk.listing_html([ARTICLE_URL]))])
    empty = crawler("replay", "listings", cwd=tmp_path)
    assert empty.returncode == 3, empty.stderr
    assert "1 captures but no article extracted with " in empty.stderr
    assert empty.stdout == ""


def test_extract_reads_config_yaml_of_the_working_directory(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_bytes(mk.article_html("Judul dua"))
    _news_config(tmp_path)
    result = crawler("extract", "page.html", "--url", ARTICLE_URL, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["site"] == "news"


# ---------------------------------------------------------------- politeness


def test_the_placeholder_contact_is_warned_at_start(tmp_path: Path) -> None:
    config = _news_config(tmp_path)  # the default user agent: the placeholder contact
    result = crawler("crawl", "--config", str(config), "--sites", "nosuch", cwd=tmp_path)  # stops there
    assert "crawl.user_agent still has the placeholder contact set-your-email@example.org" in result.stderr
    shipped = load_config(ROOT / "config.yaml")
    assert any("set-your-email@example.org" in warning for warning in shipped.warnings())
