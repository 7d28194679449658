"""The ``crawler`` command: parse arguments, call the library, render, exit with a documented code.

Each verb has one ``_cmd_<verb>`` function and one ``_add_<verb>`` parser function; the work
lives in the library modules. Every verb finds its config the same way
(``crawler.config.resolve_config``). Exit codes are listed in ``crawler.errors`` and the README.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from crawler import __version__, errors

if TYPE_CHECKING:
    from crawler.config import Config

DESCRIPTION = """\
Crawl news portals politely into WARC archives and clean article records (JSON Lines),
and replay archives offline into the same records.

Every verb reads --config FILE when given, else ./config.yaml when present, else the
built-in sites (kompas and suara enabled)."""
EPILOG = """\
exit codes: 0 success, 2 usage, 3 some URLs failed or a site refused us or could not be
reached, 4 configuration, 5 unreadable input, 6 not an article, 7 damaged WARC, 8 disk full,
9 archive locked, 10 damaged frontier, 11 interrupted (run again to resume). See README.md."""
CONFIG_HELP = "config file (default: ./config.yaml when present, else the built-in sites)"


# ---------------------------------------------------------------- argument values


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: must be 1 or more")
    return value


def _since(text: str) -> date:
    from crawler.pipeline import parse_since

    try:
        return parse_since(text)
    except (errors.ConfigError, ValueError, OverflowError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _url(text: str) -> str:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        host = None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise argparse.ArgumentTypeError(f"{text!r} is not an http:// or https:// URL")
    return text


def _site_ids(text: str | None, config: Config, *, extra: Sequence[str] = ()) -> tuple[str, ...] | None:
    """``--sites a,b`` checked against the config's sites (a usage error names the closest)."""
    import difflib

    if not text:
        return None
    wanted = tuple(part.strip() for part in text.split(",") if part.strip())
    known = [site.id for site in config.sites] + list(extra)
    for site_id in wanted:
        if site_id not in known:
            close = difflib.get_close_matches(site_id, known, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise errors.UsageError(f"--sites: unknown site {site_id!r}; {hint}known: {', '.join(known)}")
    return wanted


def _config(args: argparse.Namespace) -> Config:
    """The config every verb uses (``resolve_config``), its warnings logged once."""
    from crawler.config import resolve_config

    config, path = resolve_config(args.config)
    where = str(path) if path is not None else "built-in sites (no ./config.yaml)"
    log = logging.getLogger(f"crawler.{args.verb}")
    log.info("config: %s", where)
    if args.verb == "crawl":
        for warning in config.warnings():
            log.warning("%s: %s", where, warning)
    args.config = str(path) if path is not None else None  # what worker processes load
    return config


def _cmd_extract(args: argparse.Namespace) -> int:
    """Print the article of one HTML file as JSON; not an article → exit 6, unreadable → 5."""
    import json

    from crawler.extract import Extractor
    from crawler.models import Page

    config = _config(args)
    if args.site is not None:
        _site_ids(args.site, config, extra=["generic"])  # a usage error naming the known sites
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


def _cmd_crawl(args: argparse.Namespace) -> int:
    import asyncio

    from crawler.pipeline import Crawl, CrawlOptions
    from crawler.progress import CrawlView, write_summary_json

    config = _config(args)
    _check_environment_proxies(config)
    options = CrawlOptions(
        archive_dir=Path(args.archive or config.archive.dir),
        sites=_site_ids(args.sites, config),
        seeds=tuple(args.seed),
        max_pages=args.max_pages,
        since=args.since,
        reset_frontier=args.reset_frontier,
        frontier=args.frontier, crawl_name=args.crawl_name,
    )
    view = CrawlView(sys.stderr)
    with view:
        crawl = Crawl(config, options, progress=view.update, install_signal_handlers=True)
        summary = asyncio.run(crawl.run())
    view.print_summary(summary)
    if args.summary_json:
        write_summary_json(Path(args.summary_json), summary)
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
        _config(args)  # resolves args.config as every verb does
        print(scaleout.stop(args.frontier, args.crawl_name, args.config), file=sys.stderr)
    else:
        _config(args)
        scaleout.render_status(args.frontier, args.crawl_name, args.config, sys.stdout)
    return errors.EXIT_OK


def _check_environment_proxies(config: Config) -> None:
    """HTTP(S)_PROXY / ALL_PROXY are used when crawl.proxy is not set: refuse what cannot work."""
    import urllib.request

    from crawler.config import proxy_problem

    if config.crawl.proxy is not None:
        return
    for scheme, value in sorted(urllib.request.getproxies_environment().items()):
        problem = proxy_problem(value) if value and scheme != "no" else None
        if problem:
            raise errors.ConfigError(f"environment variable {scheme}_proxy: {problem}")


def _cmd_replay(args: argparse.Namespace) -> int:
    """WARC files → articles JSON Lines; damage on stderr; exit 7 if any record was damaged,
    3 if records were replayed but no article came out."""
    from crawler.replay import ReplayOptions, replay
    from crawler.replaycli import open_output, replay_options

    config = _config(args)
    _site_ids(args.sites, config, extra=["generic"])
    options: ReplayOptions = replay_options(args)
    if args.cluster:
        from crawler import clusterview

        return clusterview.run(args, options, sys.stderr)
    with open_output(args.output) as out:
        summary = replay(args.paths, out, options, workers=args.workers,
                         on_damage=lambda message: print(message, file=sys.stderr))
    print(summary.describe(), file=sys.stderr)
    if summary.damaged:
        return errors.EXIT_ARCHIVE
    if summary.captures and not summary.articles:
        used = args.config or "the built-in sites"
        print(f"crawler replay: warning: {summary.captures} captures but no article extracted with "
              f"{used}; pass the crawl's config with --config, or check --sites", file=sys.stderr)
        return errors.EXIT_SOME_FAILED
    return errors.EXIT_OK


def _cmd_verify(args: argparse.Namespace) -> int:
    """Check WARC/ARC files (members, lengths, digests, trailing bytes): exit 0 all good, 7 any bad."""
    from crawler.warccli import verify_command

    return verify_command(args.files)


def _cmd_recover(args: argparse.Namespace) -> int:
    """Close a ``.open`` WARC keeping every intact record (refused while its crawl runs, exit 9);
    or (--rebuild-frontier ARCHIVE) rebuild a damaged frontier from the archive."""
    if args.rebuild_frontier:
        from crawler.rebuild import rebuild_command

        print(rebuild_command(args.rebuild_frontier, _config(args)))
        return errors.EXIT_OK
    if not args.file:
        raise errors.UsageError("recover: pass a .open WARC file, or --rebuild-frontier ARCHIVE")
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
    config = _config(args)
    print(f"config: {args.config or 'built-in sites (no ./config.yaml here)'}", file=sys.stderr)
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


# ---------------------------------------------------------------- the parser, one function per verb


def _verb(verbs: argparse._SubParsersAction[argparse.ArgumentParser], name: str, summary: str,
          handler: Callable[[argparse.Namespace], int], *, config: bool = False) -> argparse.ArgumentParser:
    """A verb's parser: ``-v`` works after the verb too; ``--config`` where the verb reads one."""
    parser = verbs.add_parser(name, help=summary, description=summary)
    parser.add_argument("-v", "--verbose", dest="verbose_after", action="count", default=0,
                        help="more log output (-vv for debug)")
    if config:
        parser.add_argument("--config", default=None, metavar="FILE", help=CONFIG_HELP)
    parser.set_defaults(handler=handler)
    return parser


def _add_crawl(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    crawl = _verb(verbs, "crawl", "crawl the configured sites into WARC files and articles.jsonl",
                  _cmd_crawl, config=True)
    crawl.add_argument("--sites", metavar="A,B",
                       help="comma-separated site ids (default: every enabled site)")
    crawl.add_argument("--seed", action="append", default=[], metavar="URL", type=_url,
                       help="crawl from this URL instead of the configured seeds (repeatable)")
    crawl.add_argument("--max-pages", type=_positive_int, default=None, metavar="N",
                       help="stop after N fetched pages (the next run continues)")
    crawl.add_argument("--since", type=_since, default=None, metavar="DATE",
                       help="skip articles published before DATE (YYYY-MM-DD, or an age: 1d, 6h, 2w)")
    crawl.add_argument("--archive", default=None, metavar="DIR",
                       help="archive directory (default: from config)")
    crawl.add_argument("--reset-frontier", action="store_true",
                       help="move a damaged crawl state aside and start afresh (done URLs are fetched again)")
    crawl.add_argument("--summary-json", default=None, metavar="FILE",
                       help="also write the end-of-run summary as JSON (schema in README), for monitoring")
    crawl.add_argument("--frontier", default=None, metavar="URL",
                       help="redis://HOST:PORT/DB: crawl as one worker of a crawl on several machines")
    crawl.add_argument("--crawl-name", default=None, help="the crawl's name in Redis (default: crawl.name)")


def _add_extract(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    extract = _verb(verbs, "extract", "extract one article from an HTML file", _cmd_extract, config=True)
    extract.add_argument("file", help="HTML file, or - for stdin")
    extract.add_argument("--url", required=True, help="the URL the page was served at")
    extract.add_argument("--site", help="site id to use instead of matching the URL's host")


def _add_replay(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    replay = _verb(verbs, "replay", "extract articles from WARC files, offline", _cmd_replay, config=True)
    replay.add_argument("paths", nargs="+", metavar="PATH", help="WARC files or directories of them")
    replay.add_argument("-o", "--output", default="-", metavar="FILE",
                        help="articles.jsonl to write (default: stdout)")
    replay.add_argument("--workers", type=_positive_int, default=None, metavar="N",
                        help="processes (default: one per core)")
    replay.add_argument("--sites", metavar="A,B", help="comma-separated site ids to keep")
    replay.add_argument("--strict", action="store_true", help="stop at the first damaged record")
    replay.add_argument("--write-indexes", action="store_true",
                        help="write a CDXJ index beside each WARC file lacking a fresh one (next replays)")
    replay.add_argument("--since", type=_since, default=None, metavar="DATE",
                        help="skip articles before DATE, as the crawl does (YYYY-MM-DD, or 1d, 6h)")
    replay.add_argument("--cluster", default=None, metavar="ADDRESS",
                        help="replay on Dask: tcp://SCHEDULER:8786, or local:N worker processes "
                             "(-o is then a directory of shards)")
    replay.add_argument("--format", default="jsonl", choices=["jsonl", "parquet"],
                        help="shard format (--cluster)")
    replay.add_argument("--force", action="store_true",
                        help="--cluster: replace an earlier replay in -o DIR of other inputs or options")


def _add_verify(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    verify = _verb(verbs, "verify", "check WARC files: gzip members, lengths, digests", _cmd_verify)
    verify.add_argument("files", nargs="+", metavar="PATH", help="WARC/ARC files or directories of them")


def _add_recover(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    recover = _verb(verbs, "recover", "close a .open WARC a killed crawl left, keeping every intact record "
                    "(damaged bytes moved aside); or rebuild a damaged frontier", _cmd_recover, config=True)
    recover.add_argument("file", nargs="?", metavar="FILE.open",
                         help="the .open WARC file a killed crawl left (refused while a crawl runs)")
    recover.add_argument("--rebuild-frontier", metavar="ARCHIVE", default=None,
                         help="rebuild ARCHIVE's damaged frontier from its WARC files and articles.jsonl")


def _add_index(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    index = _verb(verbs, "index", "write a CDXJ index of WARC files", _cmd_index)
    index.add_argument("files", nargs="+", metavar="PATH", help="WARC/ARC files or directories of them")
    index.add_argument("-o", "--output", default="-", metavar="FILE", help="CDXJ file (default: stdout)")


def _add_sites(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sites = _verb(verbs, "sites", "list the built-in and configured sites", _cmd_sites, config=True)
    sites.add_argument("--health", nargs="?", const="archive", default=None, metavar="ARCHIVE",
                       help="per site and generation, the share of articles built by the site's rules")
    sites.add_argument("--json", action="store_true", help="with --health: JSON for monitoring")
    sites.add_argument("--record", action="store_true",
                       help="with --health: record the articles written since the last recorded run as a "
                            "run (each crawl records its own; for a killed crawl's articles)")


def _add_wacz(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    wacz = _verb(verbs, "wacz", "package an archive as WACZ (pages: the archived articles)", _cmd_wacz)
    wacz.add_argument("archive", help="archive directory (its WARC files and articles.jsonl)")
    wacz.add_argument("-o", "--output", required=True, metavar="FILE", help="the .wacz file to write")
    wacz.add_argument("--articles", default=None, metavar="FILE",
                      help="articles JSON Lines for the page list (default: ARCHIVE/articles.jsonl)")
    wacz.add_argument("--title", default=None, help="the package's title (default: the archive's name)")


def _add_scaleout(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for verb, text in (("status", "todo / in flight / done / failed per site and the live workers"),
                       ("stop", "stop every worker of a crawl on Redis")):
        control = _verb(verbs, verb, text, _cmd_scaleout, config=True)
        control.add_argument("--frontier", default=None, metavar="URL", help="default: crawl.frontier")
        control.add_argument("--crawl-name", default=None, help="default: crawl.name")
    merge = _verb(verbs, "merge", "each article once across the workers' articles files", _cmd_scaleout)
    merge.add_argument("archives", nargs="+", help="worker archive directories (or articles JSONL files)")
    merge.add_argument("-o", "--output", required=True, metavar="FILE", help="the merged articles.jsonl")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crawler", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.add_argument("--version", action="version", version=f"crawler {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for add in (_add_crawl, _add_replay, _add_extract, _add_sites, _add_verify, _add_recover, _add_index,
                _add_wacz, _add_scaleout):
        add(verbs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    verbose = args.verbose + getattr(args, "verbose_after", 0)
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except errors.UsageError as exc:
        print(f"crawler {args.verb}: error: {exc} (see crawler {args.verb} -h)", file=sys.stderr)
        return exc.exit_code
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
