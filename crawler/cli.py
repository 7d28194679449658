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
    from crawler.urls import require_url

    page = Page.from_file_bytes(require_url("--url", args.url), body)
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
        frontier=args.frontier, crawl_name=args.crawl_name,
    )
    view = CrawlView(sys.stderr)
    with view:
        crawl = Crawl(config, options, progress=view.update, install_signal_handlers=True)
        summary = asyncio.run(crawl.run())
    view.print_summary(summary)
    return summary.exit_code


def _cmd_scaleout(args: argparse.Namespace) -> int:
    """status / stop / merge of a crawl on several machines (crawler/scaleout.py)."""
    from crawler import scaleout

    if args.verb == "merge":
        from pathlib import Path

        done = scaleout.merge(args.archives, Path(args.output))
        print(f"{done.written} articles from {done.read} lines in {len(done.files)} files "
              f"({done.duplicates} duplicates) -> {args.output}", file=sys.stderr)
    elif args.verb == "stop":
        print(scaleout.stop(args.frontier, args.crawl_name, args.config), file=sys.stderr)
    else:
        scaleout.render_status(args.frontier, args.crawl_name, args.config, sys.stdout)
    return errors.EXIT_OK


def _cmd_replay(args: argparse.Namespace) -> int:
    """WARC files → articles JSON Lines; damage on stderr; exit 7 if any record was damaged."""
    from crawler.replay import ReplayOptions, replay
    from crawler.replaycli import open_output, replay_options

    options: ReplayOptions = replay_options(args)
    with open_output(args.output) as out:
        summary = replay(args.paths, out, options, workers=args.workers,
                         on_damage=lambda message: print(message, file=sys.stderr))
    print(summary.describe(), file=sys.stderr)
    return errors.EXIT_ARCHIVE if summary.damaged else errors.EXIT_OK


def _cmd_verify(args: argparse.Namespace) -> int:
    """Check WARC/ARC files (members, lengths, digests, trailing bytes): exit 0 all good, 7 any bad."""
    from crawler.warccli import verify_command

    return verify_command(args.files)


def _cmd_recover(args: argparse.Namespace) -> int:
    """Close a ``.open`` WARC keeping every intact record (refused while its crawl runs, exit 9);
    or (--rebuild-frontier ARCHIVE) rebuild a damaged frontier from the archive."""
    if args.rebuild_frontier:
        from crawler.rebuild import rebuild_command

        print(rebuild_command(args.rebuild_frontier, _extract_config(args.config)))
        return errors.EXIT_OK
    if not args.file:
        raise errors.InputError("recover: pass a .open WARC file, or --rebuild-frontier ARCHIVE")
    from crawler.warccli import recover_command

    return recover_command(args.file)


def _cmd_index(args: argparse.Namespace) -> int:
    """One sorted CDXJ index of the WARC/ARC files (stdout, or -o FILE); exit 7 if any is damaged."""
    from crawler.warccli import index_command

    return index_command(args.files, args.output)


def _cmd_wacz(args: argparse.Namespace) -> int:
    """Package an archive as WACZ, its page list made of the archived articles."""
    from crawler.warccli import wacz_command

    return wacz_command(args.archive, args.output, articles=args.articles, title=args.title)


def _cmd_sites(args: argparse.Namespace) -> int:
    """One line per site: id, enabled, domains, layout generations (oldest first)."""
    if args.health is not None:  # the layout-drift report of an archive (crawler.health)
        from crawler.health import render

        print(render(args.health, as_json=args.json, record=args.record))
        return errors.EXIT_OK
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
    crawl.add_argument("--frontier", default=None, metavar="URL",
                       help="redis://HOST:PORT/DB: crawl as one worker of a crawl on several machines")
    crawl.add_argument("--crawl-name", default=None, help="the crawl's name in Redis (default: crawl.name)")
    crawl.set_defaults(handler=_cmd_crawl)

    for verb, text in (("status", "todo / in flight / done / failed per site and the live workers"),
                       ("stop", "stop every worker of a crawl on Redis")):
        control = verbs.add_parser(verb, help=text)
        control.add_argument("--frontier", default=None, metavar="URL", help="default: crawl.frontier")
        control.add_argument("--crawl-name", default=None, help="default: crawl.name")
        control.add_argument("--config", default="config.yaml")
        control.set_defaults(handler=_cmd_scaleout)
    merge = verbs.add_parser("merge", help="each article once across the workers' articles files")
    merge.add_argument("archives", nargs="+", help="worker archive directories (or articles JSONL files)")
    merge.add_argument("-o", "--output", required=True, help="the merged articles.jsonl")
    merge.set_defaults(handler=_cmd_scaleout)

    replay = verbs.add_parser("replay", help="extract articles from WARC files, offline")
    replay.add_argument("paths", nargs="+", help="WARC files or directories of them")
    replay.add_argument("-o", "--output", default="-", help="articles.jsonl to write (default: stdout)")
    replay.add_argument("--workers", type=int, default=None, help="processes (default: one per core)")
    replay.add_argument("--sites", help="comma-separated site ids to keep")
    replay.add_argument("--strict", action="store_true", help="stop at the first damaged record")
    replay.add_argument("--config", default=None, help="config file (default: ./config.yaml if present)")
    replay.add_argument("--since", default=None, help="skip articles before DATE, as the crawl does")
    replay.set_defaults(handler=_cmd_replay)

    verify = verbs.add_parser("verify", help="check WARC files: gzip members, lengths, digests")
    verify.add_argument("files", nargs="+", help="WARC/ARC files or directories of them")
    verify.set_defaults(handler=_cmd_verify)

    recover = verbs.add_parser("recover", help="close a .open WARC a killed crawl left, keeping every intact "
                               "record (damaged bytes moved aside); or rebuild a damaged frontier")
    recover.add_argument("file", nargs="?", help="the <name>.warc.gz.open file (refused while a crawl runs)")
    recover.add_argument("--rebuild-frontier", metavar="ARCHIVE", default=None,
                         help="rebuild ARCHIVE's damaged frontier from its WARC files and articles.jsonl")
    recover.add_argument("--config", default=None, help="config file (default: ./config.yaml if present)")
    recover.set_defaults(handler=_cmd_recover)

    index = verbs.add_parser("index", help="write a CDXJ index of WARC files")
    index.add_argument("files", nargs="+", help="WARC/ARC files or directories of them")
    index.add_argument("-o", "--output", default="-", help="CDXJ file (default: stdout)")
    index.set_defaults(handler=_cmd_index)

    wacz = verbs.add_parser("wacz", help="package an archive as WACZ (pages: the archived articles)")
    wacz.add_argument("archive", help="archive directory (its WARC files and articles.jsonl)")
    wacz.add_argument("-o", "--output", required=True, help="the .wacz file to write")
    wacz.add_argument("--articles", default=None,
                      help="articles JSON Lines for the page list (default: ARCHIVE/articles.jsonl)")
    wacz.add_argument("--title", default=None, help="the package's title (default: the archive's name)")
    wacz.set_defaults(handler=_cmd_wacz)

    sites = verbs.add_parser("sites", help="list the built-in and configured sites")
    sites.add_argument("--config", default=None)
    sites.add_argument("--health", nargs="?", const="archive", default=None, metavar="ARCHIVE",
                       help="per site and generation, the share of articles built by the site's rules")
    sites.add_argument("--json", action="store_true", help="with --health: JSON for monitoring")
    sites.add_argument("--record", action="store_true", help="with --health: remember this run")
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
    except BrokenPipeError:
        return _output_closed()


def _output_closed() -> int:
    """The reader of stdout went away (``crawler index FILE | head -1``): end quietly, the
    standard way (Python's "Note on SIGPIPE"): point stdout at /dev/null so the flush at exit
    cannot fail again, and exit 128 + SIGPIPE as a tool killed by it would."""
    import os
    import signal

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
