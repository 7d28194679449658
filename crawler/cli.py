"""The ``crawler`` command: parse arguments, call the library, render, exit with a documented code.

Each verb has one ``_cmd_<verb>`` function; the work lives in the library modules.
Exit codes are listed in ``crawler.errors`` and the README.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from crawler import errors

if TYPE_CHECKING:
    from crawler.config import Config


def _cmd_extract(args: argparse.Namespace) -> int:
    """Print the article of one HTML file as JSON; not an article → exit 6, unreadable → 5."""
    import json
    from pathlib import Path

    from crawler.extract import Extractor
    from crawler.models import Page

    config = _extract_config(args.config)
    if args.site is not None and args.site != "generic":
        config.site(args.site)  # ConfigError naming the known sites
    try:
        body = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as exc:
        raise errors.InputError(
            f"{args.file}: cannot read the HTML file: {exc.strerror}; check the path (or pass - for stdin)"
        ) from exc
    page = Page.from_file_bytes(args.url, body)
    article = Extractor(config.sites).extract(page, site=args.site)
    if article is None:
        where = "stdin" if args.file == "-" else args.file
        raise errors.NotAnArticle(
            f"{where}: no article at {args.url} (a listing, binary or non-article page, or a URL "
            "outside the site's article_urls); pass the article's own URL with --url"
        )
    print(json.dumps(article.to_dict(), indent=2, ensure_ascii=False))
    return errors.EXIT_OK


def _extract_config(path: str | None) -> Config:
    """--config FILE, else ./config.yaml when present, else every built-in site."""
    from pathlib import Path

    from crawler.config import default_config, load_config

    if path is not None:
        return load_config(path)
    if Path("config.yaml").is_file():
        return load_config("config.yaml")
    return default_config()


def _cmd_crawl(args: argparse.Namespace) -> int:
    import asyncio
    from pathlib import Path

    from crawler.config import load_config
    from crawler.pipeline import Crawl, CrawlOptions, parse_since
    from crawler.progress import CrawlView

    config = load_config(args.config)
    if args.max_pages is not None and args.max_pages < 1:
        raise errors.ConfigError(f"--max-pages {args.max_pages}: must be 1 or more")
    for warning in config.warnings():
        logging.getLogger("crawler.crawl").warning("%s: %s", args.config, warning)
    options = CrawlOptions(
        archive_dir=Path(args.archive or config.archive.dir),
        sites=tuple(s.strip() for s in args.sites.split(",") if s.strip()) if args.sites else None,
        seeds=tuple(args.seed),
        max_pages=args.max_pages,
        since=parse_since(args.since) if args.since else None,
        reset_frontier=args.reset_frontier,
    )
    view = CrawlView(sys.stderr)
    with view:
        crawl = Crawl(config, options, progress=view.update, install_signal_handlers=True)
        summary = asyncio.run(crawl.run())
    view.print_summary(summary)
    return summary.exit_code


def _cmd_replay(args: argparse.Namespace) -> int:
    """WARC files → articles JSON Lines; damage on stderr; exit 7 if any record was damaged."""
    from crawler.replay import ReplayOptions, replay
    from crawler.warc.replaycli import open_output, replay_options

    options: ReplayOptions = replay_options(args)
    if args.cluster:
        from crawler import clusterview

        return clusterview.run(args, options, sys.stderr)
    with open_output(args.output) as out:
        summary = replay(args.paths, out, options, workers=args.workers,
                         on_damage=lambda message: print(message, file=sys.stderr))
    print(summary.describe(), file=sys.stderr)
    return errors.EXIT_ARCHIVE if summary.damaged else errors.EXIT_OK


def _cmd_verify(args: argparse.Namespace) -> int:
    """Check WARC files (members, lengths, digests, trailing bytes): exit 0 all good, 7 any bad."""
    from crawler.warc.naming import warc_paths
    from crawler.warc.verify import verify_file

    bad = 0
    for path in warc_paths(args.files):
        report = verify_file(path)
        print("\n".join(report.lines()))
        bad += not report.ok
    return errors.EXIT_ARCHIVE if bad else errors.EXIT_OK


def _cmd_recover(args: argparse.Namespace) -> int:
    """Trim a torn ``.open`` WARC to its last complete record, close it, say what was dropped."""
    from crawler.warc.recover import recover_file

    print(recover_file(args.file))
    return errors.EXIT_OK


def _cmd_index(args: argparse.Namespace) -> int:
    """One sorted CDXJ index of the WARC files (stdout, or -o FILE)."""
    from crawler.warc.index import write_index
    from crawler.warc.naming import warc_paths
    from crawler.warc.replaycli import open_output

    with open_output(args.output) as out:
        write_index(warc_paths(args.files), out)
    return errors.EXIT_OK


def _cmd_sites(args: argparse.Namespace) -> int:
    """One line per site: id, enabled, domains, layout generations (oldest first)."""
    config = _extract_config(args.config)
    rows = [("site", "enabled", "domains", "generations")]
    for site in config.sites:
        more = f" (+{len(site.domains) - 4})" if len(site.domains) > 4 else ""
        domains = ", ".join(site.domains[:4]) + more
        generations = ", ".join(
            g.id + (f" (until {g.valid_until})" if g.valid_until else "") for g in site.generations
        )
        rows.append((site.id, "yes" if site.enabled else "no", domains or "-", generations or "-"))
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)]
        print("  ".join([*cells, row[3]]))
    return errors.EXIT_OK


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crawler", description=__doc__)
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    verbs = parser.add_subparsers(dest="verb", required=True)

    extract = verbs.add_parser("extract", help="extract one article from an HTML file")
    extract.add_argument("file", help="HTML file, or - for stdin")
    extract.add_argument("--url", required=True, help="the URL the page was served at")
    extract.add_argument("--site", help="site id to use instead of matching the URL's host")
    extract.add_argument("--config", default=None, help="config file (default: ./config.yaml if present)")
    extract.set_defaults(handler=_cmd_extract)

    crawl = verbs.add_parser("crawl", help="crawl the configured sites into WARC + JSONL")
    crawl.add_argument("--config", default="config.yaml")
    crawl.add_argument("--sites", help="comma-separated site ids (default: all enabled)")
    crawl.add_argument("--seed", action="append", default=[], metavar="URL",
                       help="crawl from this URL instead of the configured seeds (repeatable)")
    crawl.add_argument("--max-pages", type=int, default=None, help="stop after N fetched pages")
    crawl.add_argument("--since", default=None, help="skip articles before DATE (YYYY-MM-DD, or 1d, 6h)")
    crawl.add_argument("--archive", default=None, help="archive directory (default: from config)")
    crawl.add_argument("--reset-frontier", action="store_true",
                       help="move a damaged crawl state aside and start afresh (done URLs are fetched again)")
    crawl.set_defaults(handler=_cmd_crawl)

    replay = verbs.add_parser("replay", help="extract articles from WARC files, offline")
    replay.add_argument("paths", nargs="+", help="WARC files or directories of them")
    replay.add_argument("-o", "--output", default="-", help="articles.jsonl to write (default: stdout)")
    replay.add_argument("--workers", type=int, default=None, help="processes (default: one per core)")
    replay.add_argument("--sites", help="comma-separated site ids to keep")
    replay.add_argument("--strict", action="store_true", help="stop at the first damaged record")
    replay.add_argument("--config", default=None)
    replay.add_argument("--cluster", default=None, metavar="ADDRESS",
                        help="replay on Dask: tcp://SCHEDULER:8786, or local:N worker processes "
                             "(-o is then a directory of shards)")
    replay.add_argument("--format", default="jsonl", choices=["jsonl", "parquet"],
                        help="shard format (--cluster)")
    replay.add_argument("--force", action="store_true",
                        help="--cluster: replace an earlier replay in -o DIR of other inputs or options")
    replay.set_defaults(handler=_cmd_replay)

    verify = verbs.add_parser("verify", help="check WARC files: gzip members, lengths, digests")
    verify.add_argument("files", nargs="+")
    verify.set_defaults(handler=_cmd_verify)

    recover = verbs.add_parser("recover", help="trim a torn .open WARC to its last complete record")
    recover.add_argument("file")
    recover.set_defaults(handler=_cmd_recover)

    index = verbs.add_parser("index", help="write a CDXJ index of WARC files")
    index.add_argument("files", nargs="+")
    index.add_argument("-o", "--output", default="-", help="CDXJ file (default: stdout)")
    index.set_defaults(handler=_cmd_index)

    sites = verbs.add_parser("sites", help="list the built-in and configured sites")
    sites.add_argument("--config", default=None)
    sites.set_defaults(handler=_cmd_sites)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except errors.CrawlerError as exc:
        print(f"crawler {args.verb}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"crawler {args.verb}: interrupted", file=sys.stderr)
        return errors.EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
