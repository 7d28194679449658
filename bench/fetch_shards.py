"""How many connection pools the Fetcher should spread hosts over (not a test).

50 loopback hosts (ports) served by a separate process with 100 KB keep-alive pages; the
Fetcher fetches N pages with politeness off for several ``client_shards`` values, and a plain
``httpx.AsyncClient`` does the same as the baseline. Prints pages/s and client CPU ms per page.

    python bench/fetch_shards.py [--pages 3000] [--hosts 50] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import resource
import time
from collections.abc import Awaitable, Callable

import httpx

from crawler.config import CrawlSettings, NetworkSettings, RobotsPolicy, Site

PAGE = b"<html><body>" + b"x" * 100_000 + b"</body></html>"
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n" % len(PAGE)) + PAGE


class _Http(asyncio.Protocol):
    """Answers every request with the page; ``GET /__gaps?min=S`` reports pacing violations."""

    arrivals: dict[int, list[float]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.port = transport.get_extra_info("sockname")[1]
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            target = head.split(b" ", 2)[1]
            if target.startswith(b"/__gaps"):
                body = _violations(float(target.split(b"=")[1])).encode()
                self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                continue
            self.arrivals.setdefault(self.port, []).append(time.monotonic())
            self.transport.write(RESPONSE)


def _violations(min_gap: float) -> str:
    gaps = [b - a for times in _Http.arrivals.values() for a, b in zip(times, times[1:], strict=False)]
    bad = sum(1 for gap in gaps if gap < min_gap - 0.001)
    _Http.arrivals.clear()
    return f"{bad} {len(gaps)} {min(gaps, default=0):.4f}"


def _serve(hosts: int, ports: multiprocessing.SimpleQueue) -> None:  # type: ignore[type-arg]
    async def main() -> None:
        loop = asyncio.get_running_loop()
        servers = [await loop.create_server(_Http, "127.0.0.1", 0) for _ in range(hosts)]
        for server in servers:
            ports.put(server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    asyncio.run(main())


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _run(
    urls: list[str], concurrency: int, get: Callable[[str], Awaitable[int]]
) -> tuple[float, float]:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for url in urls:
        queue.put_nowait(url)

    async def worker() -> None:
        while not queue.empty():
            assert await get(queue.get_nowait()) == 200

    wall, cpu = time.perf_counter(), _cpu()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - wall, _cpu() - cpu


async def _fetcher(
    urls: list[str], concurrency: int, shards: int, interval: float = 0
) -> tuple[float, float]:
    from crawler.fetch import Fetcher

    settings = CrawlSettings(
        interval_s=interval, concurrency=concurrency, max_concurrency_per_host=8,
        robots=RobotsPolicy(mode="ignore", justification="benchmark on loopback"),
    )
    network = NetworkSettings(allow_private_addresses=("127.0.0.1/32",))
    async with Fetcher(settings, network, [Site(id="bench", domains=("127.0.0.1",))], client_shards=shards,
                       trust_env=False) as fetcher:
        async def get(url: str) -> int:
            result = await fetcher.fetch(url)
            assert result.final is not None, result.error
            return result.final.status

        if interval == 0:
            await _run(urls[:200], concurrency, get)  # warm-up: connections open
        return await _run(urls, concurrency, get)


async def _plain_httpx(urls: list[str], concurrency: int) -> tuple[float, float]:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, trust_env=False) as client:
        async def get(url: str) -> int:
            async with client.stream("GET", url) as response:
                async for _ in response.aiter_raw():
                    pass
                return response.status_code

        await _run(urls[:200], concurrency, get)
        return await _run(urls, concurrency, get)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=3000)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--shards", default="1,2,4,8,16")
    parser.add_argument("--interval", type=float, default=0.2, help="the paced run's per-host interval")
    args = parser.parse_args()
    ports: multiprocessing.SimpleQueue[int] = multiprocessing.SimpleQueue()
    server = multiprocessing.Process(target=_serve, args=(args.hosts, ports), daemon=True)
    server.start()
    try:
        origins = [f"http://127.0.0.1:{ports.get()}" for _ in range(args.hosts)]
        urls = [f"{origins[n % args.hosts]}/page/{n}" for n in range(args.pages)]
        rows = [("httpx.AsyncClient (1 pool)", asyncio.run(_plain_httpx(urls, args.concurrency)))]
        for shards in (int(s) for s in args.shards.split(",")):
            measured = asyncio.run(_fetcher(urls, args.concurrency, shards))
            rows.append((f"Fetcher client_shards={shards}", measured))
        print(f"{args.pages} pages of {len(PAGE) // 1000} KB from {args.hosts} loopback hosts, "
              f"concurrency {args.concurrency}")
        print(f"{'client':32} {'pages/s':>8} {'CPU ms/page':>12}")
        for name, (wall, cpu) in rows:
            print(f"{name:32} {args.pages / wall:8.0f} {1000 * cpu / args.pages:12.2f}")
        httpx.get(f"{origins[0]}/__gaps?min=0", trust_env=False)  # forget the unpaced runs
        wall, _ = asyncio.run(_fetcher(urls, args.concurrency, 8, args.interval))
        report = httpx.get(f"{origins[0]}/__gaps?min={args.interval}", trust_env=False)
        bad, gaps, smallest = report.text.split()
        allowed = args.hosts / args.interval
        print(f"paced at {args.interval} s per host: {args.pages / wall:.0f} pages/s = "
              f"{100 * args.pages / wall / allowed:.1f} % of the allowed {allowed:.0f}/s; "
              f"{bad} of {gaps} gaps below the interval (smallest {smallest} s)")
    finally:
        server.terminate()
        server.join()


if __name__ == "__main__":
    main()
