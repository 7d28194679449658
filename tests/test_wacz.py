"""``crawler wacz`` (issue 11, item 8): a loopback crawl packaged as WACZ 1.1.1, checked by the
real tools: ``wacz validate`` (the ``wacz`` package, in its own virtualenv ``.wacz-venv``), pywb
(``.pywb-venv``: ``wb-manager add --unpack-wacz``, then ``wayback``) and a headless Chromium
that opens a crawled article through pywb and finds its title in the rendered page.

Each tool is skipped locally when missing and required in CI (``CRAWLER_REQUIRE_WACZ``,
``CRAWLER_REQUIRE_PYWB``, ``CRAWLER_REQUIRE_CHROMIUM``; ``.ci/run`` installs them).
Chromium is kept on loopback: every host name but 127.0.0.1 resolves to nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import socket
import subprocess
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.matrixkit import NewsPortal, crawl_in_process
from tests.support.portalserver import PortalServer

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")


@dataclass(frozen=True)
class Packaged:
    archive: Path
    wacz: Path
    articles: list[dict[str, object]]


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Packaged:
    root = tmp_path_factory.mktemp("wacz")
    archive = root / "archive"
    portal = NewsPortal(articles=5)
    with PortalServer(portal.routes()) as server:
        outcome = asyncio.run(crawl_in_process(portal.config(server, archive), archive))
    assert len(outcome.articles) == 5
    wacz = root / "crawl.wacz"
    done = subprocess.run(["crawler", "wacz", str(archive), "-o", str(wacz)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 pages" in done.stdout
    return Packaged(archive, wacz, outcome.articles)


def _tool(venv: str, name: str, variable: str) -> Path:
    path = REPO / venv / "bin" / name
    if not path.exists():
        if os.environ.get(variable):  # CI installs it: missing there is a failure
            pytest.fail(f"{variable} is set but {path} is missing; see .ci/run")
        pytest.skip(f"{path} not installed (.ci/run makes {venv})")
    return path


def test_wacz_has_the_1_1_1_layout_with_hashes_and_the_articles_as_pages(packaged: Packaged) -> None:
    with zipfile.ZipFile(packaged.wacz) as package:
        names = package.namelist()
        warcs = sorted(path.name for path in packaged.archive.glob("*.warc.gz"))
        assert sorted(n for n in names if n.startswith("archive/")) == [f"archive/{w}" for w in warcs]
        assert all(package.getinfo(f"archive/{w}").compress_type == zipfile.ZIP_STORED for w in warcs)
        required = {"indexes/index.cdx", "pages/pages.jsonl", "datapackage.json", "datapackage-digest.json"}
        assert required <= set(names)
        datapackage = package.read("datapackage.json")
        meta = json.loads(datapackage)
        assert meta["wacz_version"] == "1.1.1" and meta["profile"] == "data-package"
        for resource in meta["resources"]:
            data = package.read(resource["path"])
            assert resource["hash"] == "sha256:" + hashlib.sha256(data).hexdigest()
            assert resource["bytes"] == len(data)
        digest = json.loads(package.read("datapackage-digest.json"))
        assert digest["hash"] == "sha256:" + hashlib.sha256(datapackage).hexdigest()
        lines = package.read("pages/pages.jsonl").decode("utf-8").splitlines()
    assert json.loads(lines[0])["format"] == "json-pages-1.0"
    pages = [json.loads(line) for line in lines[1:]]
    expected = sorted((a["url"], a["title"]) for a in packaged.articles)
    assert sorted((p["url"], p["title"]) for p in pages) == expected
    assert all(p["ts"].endswith("Z") and p["id"] for p in pages)


def test_wacz_validate_accepts_the_package(packaged: Packaged) -> None:
    wacz = _tool(".wacz-venv", "wacz", "CRAWLER_REQUIRE_WACZ")
    done = subprocess.run([str(wacz), "validate", "-f", str(packaged.wacz)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Validation succeeded" in done.stdout


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def pywb(packaged: Packaged, tmp_path_factory: pytest.TempPathFactory) -> str:
    """pywb serving the WACZ (added with ``wb-manager add --unpack-wacz``); yields its base URL."""
    manager = _tool(".pywb-venv", "wb-manager", "CRAWLER_REQUIRE_PYWB")
    root = tmp_path_factory.mktemp("pywb")
    # unframed: the page itself at /crawl/<ts>/<url>, so a browser's DOM is the article's
    (root / "config.yaml").write_text("framed_replay: false\n", encoding="utf-8")
    for command in (["init", "crawl"], ["add", "--unpack-wacz", "crawl", str(packaged.wacz)]):
        done = subprocess.run([str(manager), *command], cwd=root, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
    port = _free_port()
    process = subprocess.Popen([str(manager.parent / "wayback"), "-p", str(port), "-b", "127.0.0.1"],
                               cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"pywb exited with {process.returncode}"
            try:
                httpx.get(base + "/", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "pywb did not answer"
                time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


def _stamp(article: dict[str, object]) -> str:
    source = article["source"]
    assert isinstance(source, dict)
    return "".join(ch for ch in str(source["fetched"])[:19] if ch.isdigit())


def test_pywb_replays_the_articles_of_the_wacz(packaged: Packaged, pywb: str) -> None:
    with httpx.Client(timeout=30) as client:
        for article in packaged.articles:
            response = client.get(f"{pywb}/crawl/{_stamp(article)}id_/{article['url']}")
            assert response.status_code == 200, response.text[:300]
            assert f"<h1>{article['title']}</h1>" in response.text


def test_chromium_opens_a_crawled_article_through_pywb_and_shows_its_title(
    packaged: Packaged, pywb: str, tmp_path: Path
) -> None:
    if not CHROMIUM.exists():
        if os.environ.get("CRAWLER_REQUIRE_CHROMIUM"):
            pytest.fail("CRAWLER_REQUIRE_CHROMIUM is set but /usr/bin/chromium is missing (apt-get install "
                        "chromium)")
        pytest.skip("no /usr/bin/chromium (Debian's chromium package)")
    article = packaged.articles[0]
    url = f"{pywb}/crawl/{_stamp(article)}/{article['url']}"  # unframed replay (see the pywb fixture)
    profile = tmp_path / "profile"
    command = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking", "--disable-component-update",
               "--disable-sync",
               "--disable-dev-shm-usage", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
               f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom", url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    shutil.rmtree(profile, ignore_errors=True)
    assert done.returncode == 0, done.stderr[-2000:]
    title = str(article["title"])
    assert f"<h1>{title}</h1>" in done.stdout and f"<title>{title}</title>" in done.stdout, done.stdout[:2000]


def test_wacz_of_a_damaged_archive_leaves_the_damage_out_and_exits_7(tmp_path: Path) -> None:
    from tests.support import warcfactory as wf

    archive = tmp_path / "archive"
    archive.mkdir()
    shutil.copy(wf.WARC_FIXTURES / "flipped-byte.warc.gz", archive / "flipped-byte.warc.gz")
    page = wf.small_pages()[0]
    when = "2026-11-21T10:00:00Z"
    articles = [{"url": page.url, "title": "Harga",
                 "source": {"warc": "flipped-byte.warc.gz", "fetched": when}},
                {"url": "https://x.example/a", "title": "elsewhere",
                 "source": {"warc": "other.warc.gz", "fetched": when}}]
    (archive / "articles.jsonl").write_text("".join(json.dumps(a) + "\n" for a in articles), encoding="utf-8")
    out = tmp_path / "damaged.wacz"
    done = subprocess.run(["crawler", "wacz", str(archive), "-o", str(out)], capture_output=True, text=True)
    assert done.returncode == 7, done.stdout + done.stderr
    assert "flipped-byte.warc.gz: offset " in done.stdout and "left out of the index" in done.stdout
    assert "1 pages" in done.stdout and "1 articles left out" in done.stdout
    with zipfile.ZipFile(out) as package:
        pages = package.read("pages/pages.jsonl").decode("utf-8").splitlines()
        assert [json.loads(line)["url"] for line in pages[1:]] == [page.url]
        assert package.read("archive/flipped-byte.warc.gz") == (archive / "flipped-byte.warc.gz").read_bytes()
