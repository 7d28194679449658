"""Small helpers the ``replay`` and ``index`` verbs share: options from arguments, output files.

Replay reads the config every other verb reads: ``--config FILE``, else ``./config.yaml`` when
present, else the built-in sites; the path found is handed to the workers."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from crawler.atomic import text_replacing
from crawler.errors import ConfigError, InputError
from crawler.replay import ReplayOptions

__all__ = ["open_output", "replay_options"]


def replay_options(args: argparse.Namespace) -> ReplayOptions:
    """``ReplayOptions`` from the ``replay`` verb's arguments (and the config's decode cap)."""
    from crawler.assemble import parse_since
    from crawler.config import default_config, load_config

    config_path = args.config or ("config.yaml" if Path("config.yaml").is_file() else None)
    config = load_config(config_path) if config_path else default_config()
    sites = None
    if args.sites:
        sites = frozenset(part.strip() for part in args.sites.split(",") if part.strip())
        known = {site.id for site in config.sites} | {"generic"}
        unknown = sorted(sites - known)
        if unknown:
            listed = ", ".join(sorted(known))
            raise ConfigError(f"--sites: unknown site(s) {', '.join(unknown)}; known: {listed}")
    if args.workers is not None and args.workers < 1:
        raise ConfigError("--workers must be 1 or more")
    since = getattr(args, "since", None)  # the CLI parses --since (a date); a library caller may pass text
    if isinstance(since, str):
        since = parse_since(since)
    return ReplayOptions(max_decoded_bytes=config.crawl.max_decoded_bytes, sites=sites, strict=args.strict,
                         config_path=str(Path(config_path).resolve()) if config_path else None, since=since,
                         write_indexes=bool(getattr(args, "write_indexes", False)))


@contextlib.contextmanager
def open_output(name: str) -> Iterator[TextIO]:
    """stdout for ``-``; else the file, written whole or not at all (``crawler.atomic``). A file
    that cannot be opened is an ``InputError``; a disk that fills while writing stays ``OSError``
    (exit 8)."""
    if name == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    target = Path(name)
    with contextlib.ExitStack() as stack:
        try:
            handle = stack.enter_context(text_replacing(target))
        except OSError as exc:
            raise InputError(f"{target}: cannot write: {exc.strerror or exc}") from exc
        yield handle
