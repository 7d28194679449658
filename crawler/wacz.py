"""``crawler wacz ARCHIVE -o crawl.wacz``: an archive packaged as WACZ 1.1.1, for replay tools.

Written directly to the WACZ 1.1.1 layout (a ZIP file), with no dependency beyond the
standard library and this package's index:

* ``archive/<name>.warc.gz``: every closed WARC (and ARC) file of the archive, stored (not
  deflated), so a replay tool can seek into it;
* ``indexes/index.cdx``: one sorted CDXJ index of them (the same lines as ``crawler index``;
  damaged records are left out and reported);
* ``pages/pages.jsonl``: the page list replay tools show, made from the article records of
  ``articles.jsonl`` (``url``, ``title``, capture time ``ts``) whose capture is in the package.
  ``wacz create`` looks for pages by Referer headers and finds none in a crawl's WARCs; the
  articles are the pages a reader of a news crawl wants listed;
* ``datapackage.json`` (every file with its size and sha256) and ``datapackage-digest.json``
  (the sha256 of ``datapackage.json``).

The package is written under a temporary name and renamed when complete. ``wacz validate``
(the ``wacz`` package) accepts it and pywb replays it (``wb-manager add --unpack-wacz``):
``tests/test_wacz.py``.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from crawler.atomic import replacing
from crawler.errors import InputError
from crawler.warc.index import write_index
from crawler.warc.naming import warc_paths
from crawler.warc.reader import Damage

__all__ = ["WACZ_VERSION", "WaczSummary", "page_entries", "write_wacz"]

log = logging.getLogger(__name__)

WACZ_VERSION = "1.1.1"
ARTICLES_NAME = "articles.jsonl"
INDEX_PATH = "indexes/index.cdx"
PAGES_PATH = "pages/pages.jsonl"
_COPY_BYTES = 1024 * 1024


@dataclass
class WaczSummary:
    path: Path
    files: int = 0
    pages: int = 0
    index_lines: int = 0
    skipped_articles: int = 0  # articles whose capture is not in the package
    damaged: list[Damage] = field(default_factory=list)

    def __str__(self) -> str:
        text = (f"{self.path}: WACZ {WACZ_VERSION} with {self.files} WARC files, {self.index_lines} index "
                f"lines, {self.pages} pages")
        if self.skipped_articles:
            text += f" ({self.skipped_articles} articles left out: their WARC file is not in the package)"
        for damage in self.damaged:
            text += f"\n  {damage} (left out of the index)"
        return text


def write_wacz(archive: str | os.PathLike[str], output: str | os.PathLike[str], *,
               articles: str | os.PathLike[str] | None = None, title: str | None = None) -> WaczSummary:
    """Package the WARC files under ``archive`` as the WACZ file ``output`` (see the module)."""
    root = Path(archive)
    target = Path(output)
    files = warc_paths([root])
    _check_unique_names(files)
    articles_path = Path(articles) if articles else (root / ARTICLES_NAME if root.is_dir() else None)
    summary = WaczSummary(target, files=len(files))
    index = io.StringIO()
    summary.damaged = write_index(files, index)
    index_bytes = index.getvalue().encode("utf-8")
    summary.index_lines = index_bytes.count(b"\n")
    names = {path.name for path in files}
    pages, summary.skipped_articles = _pages(articles_path, names)
    summary.pages = len(pages) - 1
    try:
        with replacing(target) as partial, zipfile.ZipFile(partial, "x", allowZip64=True) as package:
            resources = [_add_file(package, path, f"archive/{path.name}") for path in files]
            resources.append(_add_bytes(package, INDEX_PATH, index_bytes))
            resources.append(_add_bytes(package, PAGES_PATH, "".join(pages).encode("utf-8")))
            datapackage = _datapackage(resources, title or _default_title(root))
            package.writestr(_info("datapackage.json", zipfile.ZIP_DEFLATED), datapackage)
            package.writestr(_info("datapackage-digest.json", zipfile.ZIP_DEFLATED), json.dumps(
                {"path": "datapackage.json", "hash": "sha256:" + hashlib.sha256(datapackage).hexdigest()},
                indent=2))
    except OSError as exc:
        raise InputError(f"{target}: cannot write the WACZ file: {exc.strerror or exc}") from exc
    return summary


def _check_unique_names(files: list[Path]) -> None:
    seen: dict[str, Path] = {}
    for path in files:
        if path.name in seen:
            raise InputError(f"{path} and {seen[path.name]}: two WARC files with one name cannot both go "
                             "into a WACZ's archive/ folder; package them separately")
        seen[path.name] = path


def _default_title(root: Path) -> str:
    return f"crawler archive {root.resolve().name}"


# ---------------------------------------------------------------------- pages


def page_entries(
    articles: Iterator[dict[str, Any]], warc_names: set[str]
) -> tuple[list[dict[str, str]], int]:
    """(the page list entries of ``articles`` whose capture is in ``warc_names``, how many were not)."""
    pages: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    skipped = 0
    for article in articles:
        source = article.get("source") or {}
        url, ts = article.get("url"), _iso_z(source.get("fetched"))
        if not isinstance(url, str) or ts is None or source.get("warc") not in warc_names:
            skipped += 1
            continue
        if (url, ts) in seen:
            continue
        seen.add((url, ts))
        page_id = hashlib.sha256(f"{ts} {url}".encode()).hexdigest()[:24]
        entry = {"id": page_id, "url": url, "ts": ts}
        if isinstance(article.get("title"), str) and article["title"]:
            entry["title"] = article["title"]
        pages.append(entry)
    return pages, skipped


def _pages(articles: Path | None, warc_names: set[str]) -> tuple[list[str], int]:
    header = {"format": "json-pages-1.0", "id": "pages", "title": "Articles"}
    lines = [json.dumps(header) + "\n"]
    if articles is None or not articles.is_file():
        log.warning("no %s: the WACZ's page list is empty", articles or ARTICLES_NAME)
        return lines, 0
    entries, skipped = page_entries(_read_articles(articles), warc_names)
    lines.extend(json.dumps(entry, ensure_ascii=False) + "\n" for entry in entries)
    return lines, skipped


def _read_articles(path: Path) -> Iterator[dict[str, Any]]:
    try:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except json.JSONDecodeError:
                    log.warning("%s:%d: not a JSON line (torn?); left out of the page list", path, number)
                    continue
                if isinstance(value, dict):
                    yield value
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc


def _iso_z(value: object) -> str | None:
    """A capture time as the page list wants it: ``2026-11-21T10:00:00Z``."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------- the ZIP file


def _info(name: str, compression: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, datetime.now(UTC).timetuple()[:6])
    info.compress_type = compression
    return info


def _resource(path: str, digest: Any, size: int) -> dict[str, object]:
    return {"name": os.path.basename(path).lower(), "path": path, "hash": "sha256:" + digest.hexdigest(),
            "bytes": size}


def _add_file(package: zipfile.ZipFile, source: Path, name: str) -> dict[str, object]:
    """``source`` stored (not deflated: replay tools seek into WARCs) as ``name``, hashed as copied."""
    digest = hashlib.sha256()
    size = 0
    stored = _info(name, zipfile.ZIP_STORED)
    with open(source, "rb") as raw, package.open(stored, "w", force_zip64=True) as out:
        for piece in _pieces(raw):
            digest.update(piece)
            out.write(piece)
            size += len(piece)
    return _resource(name, digest, size)


def _pieces(raw: IO[bytes]) -> Iterator[bytes]:
    while piece := raw.read(_COPY_BYTES):
        yield piece


def _add_bytes(package: zipfile.ZipFile, name: str, data: bytes) -> dict[str, object]:
    package.writestr(_info(name, zipfile.ZIP_DEFLATED), data)
    return _resource(name, hashlib.sha256(data), len(data))


def _datapackage(resources: list[dict[str, object]], title: str) -> bytes:
    from crawler import __version__

    package = {
        "profile": "data-package",
        "resources": resources,
        "title": title,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "wacz_version": WACZ_VERSION,
        "software": f"crawler {__version__}",
    }
    return json.dumps(package, indent=2).encode("utf-8")
