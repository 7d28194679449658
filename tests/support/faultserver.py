"""A raw HTTP/1.1 server on loopback whose paths misbehave on purpose (RELIABILITY groups A, C, D, E).

Every path writes exact bytes (``asyncio.start_server``, no framework in the way), so a test
sees what a broken or hostile server really sends. Each request is logged with a monotonic
timestamp (``hits``), so tests assert hit counts and the gaps between them from the server's
side. A ``FaultServer(host="127.0.0.2")`` is the canary: it must receive zero connections.

Named faults (``/page/...`` etc. take ``?size=N``):

====================  ===========================================================
``/page/<any>``       200 HTML page, keep-alive (``size`` bytes)
``/empty``            200 with ``Content-Length: 0``
``/status/<code>``    that status every time (``?retry_after=V`` adds Retry-After)
``/once/<code>/<x>``  that status on the first hit of the exact path, 200 after
``/hang``             reads the request, never answers
``/slowloris``        valid headers, then 1 byte every ``?interval=0.2`` s
``/underrun``         ``Content-Length: 100``, 50 bytes, close
``/overrun``          ``Content-Length: 10``, 20 bytes
``/broken_chunked``   one chunk, then close without the ``0`` chunk
``/illegal_chunk``    chunk size line ``zz``
``/garbage``          ``garbage`` instead of a status line
``/http09``           a body with no status line at all
``/header_bomb``      one 200 KB header
``/many_headers``     10 000 headers
``/bad_cl/<kind>``    Content-Length ``neg`` (-5), ``abc``, ``conflict`` (10 and 20), ``cl_chunked``
``/reset``            half the body, then RST (``SO_LINGER 0``)
``/close_each/<x>``   200, then close the connection without ``Connection: close``
``/declared_huge``    ``Content-Length: 10000000000``, no body
``/infinite``         endless chunked stream
``/echo_headers``     the request headers as the body
``/set_cookie``       sets a cookie and redirects to ``?to=``
``/redirect``         ``?to=URL`` (``&status=302``)
``/loop``             redirects to itself
``/chain/<n>``        redirects ``n`` times then 200
``/slow/<x>``         200 after ``?delay=0.3`` s (``max_in_flight`` counts overlap)
``/robots.txt``       404 unless a test installs a route (``robots``, ``respond``, ``hang``)
====================  ===========================================================
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

MAX_HEAD_BYTES = 65_536


@dataclass(frozen=True)
class Hit:
    """One request as the server received it."""

    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    t: float  # time.monotonic() when the request head arrived
    connection: int

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


@dataclass
class Request:
    """What a handler sees: the hit, its query and how many times this exact target was hit."""

    hit: Hit
    query: dict[str, str]
    count: int
    server: FaultServer

    @property
    def path(self) -> str:
        return self.hit.path


Handler = Callable[[Request, asyncio.StreamWriter], Awaitable[bool]]
"""Writes the response; returns True to keep the connection open for another request."""


def response(status: int, body: bytes = b"", headers: tuple[tuple[str, str], ...] = (),
             reason: str = "", length: bool = True) -> bytes:
    """An HTTP/1.1 response head + body; ``Content-Length`` added unless ``length`` is False."""
    reason = reason or _REASONS.get(status, "Whatever")
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{key}: {value}" for key, value in headers]
    if length and not any(key.lower() == "content-length" for key, _ in headers):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


_REASONS = {200: "OK", 301: "Moved Permanently", 302: "Found", 404: "Not Found", 410: "Gone",
            408: "Request Timeout", 429: "Too Many Requests", 500: "Internal Server Error",
            503: "Service Unavailable"}


def page_body(target: str, size: int = 200) -> bytes:
    head = f"<html><head><title>{target}</title></head><body><p>page {target}</p>".encode()
    return head + b"x" * max(0, size - len(head) - 14) + b"</body></html>"


def respond(status: int, body: bytes = b"", headers: tuple[tuple[str, str], ...] = ()) -> Handler:
    """A handler that always answers the same bytes."""

    async def handler(request: Request, writer: asyncio.StreamWriter) -> bool:
        writer.write(response(status, body, headers))
        return True

    return handler


def robots(text: str | bytes, status: int = 200) -> Handler:
    """A robots.txt handler."""
    body = text.encode() if isinstance(text, str) else text
    return respond(status, body, (("Content-Type", "text/plain"),))


def redirect(location: str, status: int = 302) -> Handler:
    return respond(status, b"", (("Location", location),))


async def hang(request: Request, writer: asyncio.StreamWriter) -> bool:
    await asyncio.Event().wait()
    return False


def _rst(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


# ---------------------------------------------------------------- the named faults


async def _page(request: Request, writer: asyncio.StreamWriter) -> bool:
    size = int(request.query.get("size", "200"))
    writer.write(response(200, page_body(request.hit.target, size), (("Content-Type", "text/html"),)))
    return True


async def _status(request: Request, writer: asyncio.StreamWriter) -> bool:
    code = int(request.path.split("/")[2])
    headers: tuple[tuple[str, str], ...] = ()
    if "retry_after" in request.query:
        headers = (("Retry-After", request.query["retry_after"]),)
    writer.write(response(code, f"status {code}\n".encode(), headers))
    return True


async def _once(request: Request, writer: asyncio.StreamWriter) -> bool:
    if request.count > 1:
        return await _page(request, writer)
    return await _status(request, writer)


async def _empty(request: Request, writer: asyncio.StreamWriter) -> bool:
    writer.write(response(200, b"", (("Content-Type", "text/html"),)))
    return True


async def _slowloris(request: Request, writer: asyncio.StreamWriter) -> bool:
    interval = float(request.query.get("interval", "0.2"))
    writer.write(response(200, b"", (("Content-Length", "1000"),)))
    for _ in range(1000):
        await writer.drain()
        await asyncio.sleep(interval)
        writer.write(b"x")
    return False


async def _underrun(request: Request, writer: asyncio.StreamWriter) -> bool:
    writer.write(response(200, b"u" * 50, (("Content-Length", "100"),)))
    return False


async def _overrun(request: Request, writer: asyncio.StreamWriter) -> bool:
    writer.write(response(200, b"0123456789ABCDEFGHIJ", (("Content-Length", "10"),)))
    return True


async def _broken_chunked(request: Request, writer: asyncio.StreamWriter) -> bool:
    writer.write(response(200, b"5\r\nhello\r\n", (("Transfer-Encoding", "chunked"),), length=False))
    return False


async def _illegal_chunk(request: Request, writer: asyncio.StreamWriter) -> bool:
    body = b"zz\r\nhello\r\n0\r\n\r\n"
    writer.write(response(200, body, (("Transfer-Encoding", "chunked"),), length=False))
    return False


async def _garbage(request: Request, writer: asyncio.StreamWriter) -> bool:
    writer.write(b"garbage\r\n\r\n")
    return False


async def _http09(request: Request, writer: asyncio.StreamWriter) -> bool:
    writer.write(b"<html><body>no status line</body></html>\n")
    return False


async def _header_bomb(request: Request, writer: asyncio.StreamWriter) -> bool:
    writer.write(response(200, b"ok", (("X-Bomb", "b" * 200_000),)))
    return False


async def _many_headers(request: Request, writer: asyncio.StreamWriter) -> bool:
    writer.write(response(200, b"ok", tuple((f"X-H{i}", "v") for i in range(10_000))))
    return False


_BAD_LENGTHS: dict[str, tuple[tuple[str, str], ...]] = {
    "neg": (("Content-Length", "-5"),),
    "abc": (("Content-Length", "abc"),),
    "conflict": (("Content-Length", "10"), ("Content-Length", "20")),
    "cl_chunked": (("Content-Length", "3"), ("Transfer-Encoding", "chunked")),
}


async def _bad_cl(request: Request, writer: asyncio.StreamWriter) -> bool:
    headers = _BAD_LENGTHS[request.path.split("/")[2]]
    body = b"5\r\nhello\r\n0\r\n\r\n" if "chunked" in request.path else b"0123456789" * 2
    writer.write(response(200, body, headers, length=False))
    return False


async def _reset(request: Request, writer: asyncio.StreamWriter) -> bool:
    writer.write(response(200, b"r" * 5000, (("Content-Length", "10000"),)))
    await writer.drain()
    await asyncio.sleep(0.05)
    _rst(writer)
    return False


async def _close_each(request: Request, writer: asyncio.StreamWriter) -> bool:
    writer.write(response(200, page_body(request.hit.target)))
    return False


async def _declared_huge(request: Request, writer: asyncio.StreamWriter) -> bool:
    writer.write(response(200, b"", (("Content-Length", "10000000000"),)))
    await writer.drain()
    await asyncio.sleep(30)
    return False


async def _infinite(request: Request, writer: asyncio.StreamWriter) -> bool:
    writer.write(response(200, b"", (("Transfer-Encoding", "chunked"),), length=False))
    chunk = b"x" * 16_384
    while True:
        writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        await writer.drain()


async def _echo_headers(request: Request, writer: asyncio.StreamWriter) -> bool:
    body = "".join(f"{k}: {v}\n" for k, v in request.hit.headers).encode()
    writer.write(response(200, body, (("Content-Type", "text/plain"),)))
    return True


async def _set_cookie(request: Request, writer: asyncio.StreamWriter) -> bool:
    headers = (("Set-Cookie", "session=secret; Path=/"), ("Location", request.query.get("to", "/")))
    writer.write(response(302, b"", headers))
    return True


async def _redirect(request: Request, writer: asyncio.StreamWriter) -> bool:
    status = int(request.query.get("status", "302"))
    writer.write(response(status, b"", (("Location", request.query.get("to", "/")),)))
    return True


async def _loop(request: Request, writer: asyncio.StreamWriter) -> bool:
    writer.write(response(302, b"", (("Location", "/loop"),)))
    return True


async def _chain(request: Request, writer: asyncio.StreamWriter) -> bool:
    left = int(request.path.split("/")[2])
    if left <= 0:
        return await _page(request, writer)
    writer.write(response(302, b"", (("Location", f"/chain/{left - 1}"),)))
    return True


async def _slow(request: Request, writer: asyncio.StreamWriter) -> bool:
    await asyncio.sleep(float(request.query.get("delay", "0.3")))
    return await _page(request, writer)


async def _not_found(request: Request, writer: asyncio.StreamWriter) -> bool:
    writer.write(response(404, b"not found\n"))
    return True


NAMED_FAULTS: dict[str, Handler] = {
    "/page/*": _page, "/empty": _empty, "/status/*": _status, "/once/*": _once, "/hang": hang,
    "/slowloris": _slowloris, "/underrun": _underrun, "/overrun": _overrun,
    "/broken_chunked": _broken_chunked, "/illegal_chunk": _illegal_chunk, "/garbage": _garbage,
    "/http09": _http09, "/header_bomb": _header_bomb, "/many_headers": _many_headers,
    "/bad_cl/*": _bad_cl, "/reset": _reset, "/close_each/*": _close_each,
    "/declared_huge": _declared_huge, "/infinite": _infinite, "/echo_headers": _echo_headers,
    "/set_cookie": _set_cookie, "/redirect": _redirect, "/loop": _loop, "/chain/*": _chain,
    "/slow/*": _slow,
}


# ---------------------------------------------------------------- the server


@dataclass
class FaultServer:
    """The server; ``async with FaultServer() as server`` starts it on ``host:<free port>``."""

    host: str = "127.0.0.1"
    port: int = 0
    hits: list[Hit] = field(default_factory=list)
    connections: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    routes: dict[str, Handler] = field(default_factory=lambda: dict(NAMED_FAULTS))
    tls: ssl.SSLContext | None = None
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _counts: dict[str, int] = field(default_factory=dict)

    async def __aenter__(self) -> FaultServer:
        self._server = await asyncio.start_server(
            self._accept, self.host, self.port, limit=MAX_HEAD_BYTES, ssl=self.tls
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    @property
    def origin(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.origin + path

    def route(self, path: str, handler: Handler) -> None:
        """Serve ``path`` (exact, or a prefix ending in ``*``) with ``handler``."""
        self.routes[path] = handler

    def hits_for(self, path: str) -> list[Hit]:
        """Hits whose path is ``path`` (or starts with it when it ends in ``*``)."""
        if path.endswith("*"):
            return [h for h in self.hits if h.path.startswith(path[:-1])]
        return [h for h in self.hits if h.path == path]

    def page_hits(self) -> list[Hit]:
        """Every hit except robots.txt."""
        return [h for h in self.hits if h.path != "/robots.txt"]

    @staticmethod
    def gaps(hits: list[Hit]) -> list[float]:
        """Seconds between consecutive hits."""
        times = sorted(h.t for h in hits)
        return [b - a for a, b in zip(times, times[1:], strict=False)]

    def _handler(self, path: str) -> Handler:
        if path in self.routes:
            return self.routes[path]
        for pattern, handler in self.routes.items():
            if pattern.endswith("*") and path.startswith(pattern[:-1]):
                return handler
        return _not_found

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        connection = self.connections
        try:
            await self._serve(reader, writer, connection)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            self._tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     connection: int) -> None:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            hit = _parse_head(head, connection)
            self.hits.append(hit)
            self._counts[hit.target] = self._counts.get(hit.target, 0) + 1
            query = {k: v[0] for k, v in parse_qs(urlsplit(hit.target).query).items()}
            request = Request(hit, query, self._counts[hit.target], self)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                keep = await self._handler(hit.path)(request, writer)
                await writer.drain()
            finally:
                self.in_flight -= 1
            if not keep or writer.transport.is_closing():
                return


def _parse_head(head: bytes, connection: int) -> Hit:
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = []
    for line in lines[1:]:
        if ":" in line:
            key, _, value = line.partition(":")
            headers.append((key.strip(), value.strip()))
    return Hit(method, target, tuple(headers), time.monotonic(), connection)
