"""The httpx transport the fetcher uses: pinned DNS, proxy routing, no cookie jar.

- ``PinnedTransport``: httpx's own transport whose connection pool connects through
  ``PinnedBackend``: each host name is resolved once by ``scope.PinnedResolver``, every
  address vetted, and the socket opened to a vetted address. TLS still verifies the
  certificate for the name and sends it as SNI (httpcore passes the name to ``start_tls``).
- ``Router``: sends a request direct (pinned) or through its proxy per ``ProxyRoutes`` (the
  ``proxy`` setting, else ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY`` minus ``NO_PROXY``).
  Proxied responses are marked, so the exchange does not claim the proxy's IP as the server's.
- ``AsyncioStream``: httpcore's network stream directly on asyncio (anyio's layer cost a
  third of the CPU per page on loopback), which also notices a server that sent more bytes
  than its ``Content-Length`` (RELIABILITY A5): such a connection is never reused, or the
  surplus would be read as the next response's status line.
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from crawler.scope import PinnedResolver, ip_literal, system_resolver

_HEAD_END = b"\r\n\r\n"
# An interim response's status line: 1xx except 101 (Switching Protocols ends the exchange).
_INTERIM_HEAD = re.compile(rb"HTTP/\d(?:\.\d)? +1(?!01)\d\d\b")
_MAX_TRACKED_HEAD = 1 << 20
_HIGH_WATER = 256 * 1024  # pause reading the socket above this many unread bytes
_LOW_WATER = 64 * 1024


class _Connection(asyncio.Protocol):
    """One socket's receive buffer with flow control; what ``AsyncioStream`` reads from."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.error: BaseException | None = None
        self._reading_paused = False
        self._writing_paused = False
        self._read_waiter: asyncio.Future[None] | None = None
        self._drain_waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > _HIGH_WATER and not self._reading_paused and self.transport is not None:
            self.transport.pause_reading()
            self._reading_paused = True
        self._wake("_read_waiter")

    def eof_received(self) -> bool:
        self.eof = True
        self._wake("_read_waiter")
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self._wake("_read_waiter")
        self._wake("_drain_waiter")

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._wake("_drain_waiter")

    def _wake(self, name: str) -> None:
        waiter: asyncio.Future[None] | None = getattr(self, name)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def read(self, max_bytes: int) -> bytes:
        while not self.buffer and not self.eof:
            self._read_waiter = asyncio.get_running_loop().create_future()
            try:
                await self._read_waiter
            finally:
                self._read_waiter = None
        if self.buffer:
            data = bytes(self.buffer[:max_bytes])
            del self.buffer[:max_bytes]
            if self._reading_paused and len(self.buffer) <= _LOW_WATER and self.transport is not None:
                self._reading_paused = False
                self.transport.resume_reading()
            return data
        if self.error is not None:
            raise self.error
        return b""

    async def drain(self) -> None:
        while self._writing_paused and self.error is None:
            self._drain_waiter = asyncio.get_running_loop().create_future()
            try:
                await self._drain_waiter
            finally:
                self._drain_waiter = None
        if self.error is not None:
            raise self.error


class AsyncioStream(httpcore.AsyncNetworkStream):
    """An httpcore network stream straight on asyncio (no anyio layer: less work per read).

    It also counts the bytes of each response to catch a body overrun: a server that sent
    more than its ``Content-Length`` (RELIABILITY A5). Such a connection reports itself
    readable when idle, which makes httpcore drop it instead of reading the surplus as the
    next response's status line.
    """

    def __init__(self, connection: _Connection, server_addr: tuple[str, int]) -> None:
        self._connection = connection
        self._server_addr = server_addr
        self._received = 0
        self._head = b""
        self._head_length: int | None = None
        self._interim = 0  # bytes of interim 1xx responses before the final one
        self.poisoned = False

    @property
    def _transport(self) -> asyncio.Transport:
        transport = self._connection.transport
        assert transport is not None
        return transport

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                data = await self._connection.read(max_bytes)
        except TimeoutError as exc:
            raise httpcore.ReadTimeout("timed out reading from the server") from exc
        except OSError as exc:
            raise httpcore.ReadError(str(exc) or type(exc).__name__) from exc
        self._count(data)
        return data

    def _count(self, data: bytes) -> None:
        """Track where the final response's head ends; interim 1xx heads (``103 Early Hints``,
        ``100 Continue``) before it are part of the head, not of the body."""
        self._received += len(data)
        if self._head_length is not None or len(self._head) >= _MAX_TRACKED_HEAD:
            return
        self._head += data
        while (end := self._head.find(_HEAD_END)) >= 0:
            length = end + len(_HEAD_END)
            if not _INTERIM_HEAD.match(self._head):
                self._head_length = self._interim + length
                self._head = b""
                return
            self._interim += length
            self._head = self._head[length:]

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        self._received, self._head, self._head_length, self._interim = 0, b"", None, 0
        try:
            async with asyncio.timeout(timeout):
                if self._connection.error is not None or self._transport.is_closing():
                    raise ConnectionResetError("connection closed by the server")
                self._transport.write(buffer)
                await self._connection.drain()
        except TimeoutError as exc:
            raise httpcore.WriteTimeout("timed out writing to the server") from exc
        except OSError as exc:
            raise httpcore.WriteError(str(exc) or type(exc).__name__) from exc

    def check_overrun(self, body_length: int) -> bool:
        """After a Content-Length body was read whole: True (and never reuse) if more came."""
        if self._head_length is not None and self._received > self._head_length + body_length:
            self.poisoned = True
        return self.poisoned

    async def aclose(self) -> None:
        self._transport.close()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(
                    self._transport, self._connection, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError as exc:
            self._transport.abort()
            raise httpcore.ConnectTimeout("timed out in the TLS handshake") from exc
        except (OSError, ssl.SSLError) as exc:
            self._transport.abort()
            raise httpcore.ConnectError(str(exc)) from exc
        assert transport is not None
        self._connection.transport = transport
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "server_addr":
            return self._server_addr
        if info == "is_readable":
            return self.poisoned or bool(self._connection.buffer) or self._connection.eof
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "socket":
            return self._transport.get_extra_info("socket")
        return None


async def open_stream(address: str, port: int, timeout: float | None, local_address: str | None,
                      socket_options: Iterable[httpcore.SOCKET_OPTION] | None) -> AsyncioStream:
    """A TCP connection to ``address`` (an IP), as an ``AsyncioStream``."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                for option in socket_options or ():
                    sock.setsockopt(*option)
                if local_address:
                    sock.bind((local_address, 0))
                await loop.sock_connect(sock, (address, port))
                _, connection = await loop.create_connection(_Connection, sock=sock)
            except BaseException:
                sock.close()
                raise
    except TimeoutError as exc:
        raise httpcore.ConnectTimeout(f"timed out connecting to {address}:{port}") from exc
    except OSError as exc:
        raise httpcore.ConnectError(f"{address}:{port}: {exc}") from exc
    return AsyncioStream(connection, (address, port))


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects to vetted addresses only: resolve once, check, connect by IP.

    Without a resolver (the connection to a configured proxy) names are resolved unvetted.
    """

    def __init__(self, resolver: PinnedResolver | None) -> None:
        self._resolver = resolver

    async def _addresses(self, host: str, port: int) -> Sequence[str]:
        if self._resolver is None:
            return [host] if ip_literal(host) is not None else await system_resolver(host, port)
        return await self._resolver.vetted(host, port)

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self._addresses(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host!r}: {exc}") from exc
        failure: httpcore.ConnectError | None = None
        for address in addresses:
            try:
                return await open_stream(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectTimeout:
                raise
            except httpcore.ConnectError as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not used by the crawler")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ProxyTransport(httpx.AsyncHTTPTransport):
    """httpx's transport through an HTTP(S) proxy, on the asyncio network stream."""

    def __init__(self, proxy: str, ssl_context: ssl.SSLContext, limits: httpx.Limits,
                 http2: bool = False) -> None:
        super().__init__(verify=ssl_context, limits=limits, http2=http2, proxy=proxy)
        url = httpx.URL(proxy)
        if url.scheme not in ("http", "https"):
            return  # socks: httpx's own pool
        self._pool = httpcore.AsyncHTTPProxy(
            proxy_url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port,
                                   target=url.raw_path),
            proxy_auth=(url.username, url.password) if url.username else None,
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http2=http2,
            network_backend=PinnedBackend(None),
        )


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with a connection pool that connects through ``PinnedBackend``."""

    def __init__(self, resolver: PinnedResolver, ssl_context: ssl.SSLContext, limits: httpx.Limits,
                 http2: bool = False) -> None:
        super().__init__(verify=ssl_context, limits=limits, http2=http2)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http2=http2,
            network_backend=PinnedBackend(resolver),
        )


@dataclass(frozen=True)
class ProxyRoutes:
    """Which proxy (if any) a URL goes through: the ``proxy`` setting, else the environment."""

    explicit: str | None
    environment: dict[str, str]

    @classmethod
    def build(cls, proxy: str | None, trust_env: bool) -> ProxyRoutes:
        env = urllib.request.getproxies_environment() if trust_env and proxy is None else {}
        return cls(proxy, {key: value for key, value in env.items() if value})

    def proxy_for(self, url: httpx.URL) -> str | None:
        if self.explicit:
            return self.explicit
        proxy = self.environment.get(url.scheme) or self.environment.get("all")
        if proxy is None or bypassed(url, self.environment.get("no", "")):
            return None
        return proxy

    def proxies(self) -> set[str]:
        if self.explicit:
            return {self.explicit}
        return {value for key, value in self.environment.items() if key != "no"}


def bypassed(url: httpx.URL, no_proxy: str) -> bool:
    """NO_PROXY as curl reads it: ``*``, or hosts/domains (leading dot optional), optional ``:port``."""
    host = url.host.lower()
    for entry in (item.strip().lower() for item in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        name, _, port = entry.lstrip(".").partition(":")
        if port and url.port is not None and port != str(url.port):
            continue
        if host == name or host.endswith("." + name):
            return True
    return False


class Router(httpx.AsyncBaseTransport):
    """Sends each request direct (pinned) or through its proxy; marks proxied responses."""

    def __init__(self, direct: httpx.AsyncBaseTransport, routes: ProxyRoutes,
                 proxied: dict[str, httpx.AsyncBaseTransport]) -> None:
        self._direct = direct
        self._routes = routes
        self._proxied = proxied

    @classmethod
    def build(cls, resolver: PinnedResolver, routes: ProxyRoutes, limits: httpx.Limits,
              context: ssl.SSLContext, http2: bool = False) -> Router:
        """A router whose pools share one TLS context (loading the CA store costs ~70 ms)."""
        proxied: dict[str, httpx.AsyncBaseTransport] = {
            proxy: ProxyTransport(proxy, context, limits, http2) for proxy in routes.proxies()
        }
        return cls(PinnedTransport(resolver, context, limits, http2), routes, proxied)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        proxy = self._routes.proxy_for(request.url)
        if proxy is None:
            return await self._direct.handle_async_request(request)
        response = await self._proxied[proxy].handle_async_request(request)
        response.extensions = {**response.extensions, "crawler_via_proxy": True}
        return response

    async def aclose(self) -> None:
        await self._direct.aclose()
        for transport in self._proxied.values():
            await transport.aclose()


def peer_address(response: httpx.Response) -> str | None:
    """The server's IP address, when connected directly (None through a proxy or a mock)."""
    if response.extensions.get("crawler_via_proxy"):
        return None
    stream = response.extensions.get("network_stream")
    if stream is None:
        return None
    address = stream.get_extra_info("server_addr")
    if isinstance(address, tuple) and address:
        return str(address[0])
    return None


def check_overrun(response: httpx.Response, body_length: int) -> bool:
    """True when the server sent more than its Content-Length (the connection is then dropped)."""
    stream = response.extensions.get("network_stream")
    return isinstance(stream, AsyncioStream) and stream.check_overrun(body_length)
