"""One crawl on several machines: ``crawler status``, ``crawler stop`` (a Redis frontier) and
``crawler merge`` (each worker's articles file → one set of articles).

Each worker of a Redis crawl writes its own archive directory and ``articles.jsonl``; a URL a
dead worker held is fetched again by another, so one article can be in two files. ``merge``
keeps each article once: keyed by its canonical URL (``canonical_url``, else ``url``), the
earliest capture (``source.fetched``) wins, ties to the first file given.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from crawler.atomic import text_replacing
from crawler.errors import ConfigError, InputError
from crawler.frontier import Status
from crawler.sink import FILE_NAME


@dataclass(frozen=True)
class MergeSummary:
    read: int
    written: int
    duplicates: int
    files: tuple[Path, ...]


def articles_files(paths: Sequence[str | Path]) -> list[Path]:
    """Each path's ``articles.jsonl`` (an archive directory) or the file itself."""
    files = []
    for raw in paths:
        path = Path(raw)
        found = path / FILE_NAME if path.is_dir() else path
        if not found.is_file():
            raise InputError(f"{raw}: no {FILE_NAME} there; pass worker archive directories or JSONL files")
        files.append(found)
    return files


def _lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{number}: not a JSON line ({exc.msg}); "
                                 "a torn last line is set aside by the next crawl of that archive") from exc


def article_key(data: dict[str, Any]) -> str:
    return str(data.get("canonical_url") or data.get("url") or "")


def merge(paths: Sequence[str | Path], output: Path) -> MergeSummary:
    """Write each article once to ``output`` (written under a temporary name, then renamed)."""
    files = articles_files(paths)
    best: dict[str, tuple[str, int, dict[str, Any]]] = {}
    read = 0
    for order, path in enumerate(files):
        for _, data in _lines(path):
            read += 1
            key = article_key(data)
            fetched = str((data.get("source") or {}).get("fetched") or "")
            held = best.get(key)
            if held is None or (fetched, order) < (held[0], held[1]):
                best[key] = (fetched, order, data)
    with text_replacing(output) as out:
        for _, _, data in sorted(best.values(), key=lambda held: (held[0], held[1])):
            out.write(json.dumps(data, ensure_ascii=False) + "\n")
    return MergeSummary(read=read, written=len(best), duplicates=read - len(best), files=tuple(files))


def _redis_url(url: str | None, config_path: str | None) -> tuple[str, str]:
    from crawler.config import load_config

    name = "crawl"
    if config_path is not None and Path(config_path).is_file():
        settings = load_config(config_path).crawl
        url, name = url or settings.frontier, settings.name
    if url is None:
        raise ConfigError("no Redis frontier: pass --frontier redis://HOST:PORT/DB or set crawl.frontier")
    return url, name


def stop(url: str | None, crawl: str | None, config_path: str | None) -> str:
    from crawler.frontier_redis import request_stop

    found, name = _redis_url(url, config_path)
    request_stop(found, crawl or name)
    return f"asked every worker of crawl {crawl or name!r} on {found} to stop (in-flight pages finish)"


def render_status(url: str | None, crawl: str | None, config_path: str | None, out: TextIO) -> None:
    from rich.console import Console
    from rich.table import Table

    from crawler.frontier_redis import status

    found, name = _redis_url(url, config_path)
    counts, workers = status(found, crawl or name)
    table = Table(title=f"crawl {crawl or name!r} on {found}")
    columns = [Status.TODO, Status.IN_PROGRESS, Status.DONE, Status.FAILED, Status.SKIPPED]
    table.add_column("site")
    for column in columns:
        table.add_column(column.value.replace("_", " "), justify="right")
    for site in sorted({site for site, _ in counts}):
        table.add_row(site, *(str(counts.get((site, column), 0)) for column in columns))
    console = Console(file=out)
    console.print(table)
    console.print(f"live workers: {len(workers)}")
    for number, what in workers.items():
        console.print(f"  worker {number}: {what}")
