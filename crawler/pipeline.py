"""A crawl run: the crawl loop (``crawler.loop``) with the peer processes it needs.

``Crawl`` is what the CLI, the public API and the tests run: one ``CrawlLoop`` in this process
and, with ``crawl.processes`` > 1, the other processes of ``crawler.peers`` (each a loop over
its shard of the hosts). The loop knows the other processes only as a ``Coordinator``, so it
does not import process management; this module joins the two.
"""

from __future__ import annotations

from crawler.assemble import parse_since
from crawler.crawlrun import Coordinator, CrawlOptions, CrawlSummary, SiteProgress
from crawler.loop import CrawlLoop
from crawler.peers import Peers, peer_main


class Crawl(CrawlLoop):
    """One crawl run over an archive directory. Use ``await Crawl(...).run()``; see
    ``CrawlLoop`` for the arguments."""

    def _start_peers(self, count: int) -> Coordinator:
        return Peers(count, peer_main)


__all__ = ["Crawl", "CrawlOptions", "CrawlSummary", "SiteProgress", "parse_since"]
