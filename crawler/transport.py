"""The httpx transport the fetcher uses: pinned DNS, proxy routing, no cookie jar.

- ``PinnedTransport``: httpx's own transport whose connection pool connects through
  ``PinnedBackend``: each host name is resolved once by ``scope.PinnedResolver``, every
  address vetted, and the socket opened to a vetted address. TLS still verifies the
  certificate for the name and sends it as SNI (httpcore passes the name to ``start_tls``).
- ``Router``: sends a request direct (pinned) or through its proxy per ``ProxyRoutes`` (the
  ``proxy`` setting, else ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY`` minus ``NO_PROXY``).
  Proxied responses are marked, so the exchange does not claim the proxy's IP as the server's.
- ``CountingStream``: notices a server that sent more bytes than its ``Content-Length``
  (RELIABILITY A5); such a connection is never reused, or the surplus would be read as the
  next response's status line.
"""

from __future__ import annotations

import http.cookiejar
import ssl
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from crawler.scope import PinnedResolver

_HEAD_END = b"\r\n\r\n"
_MAX_TRACKED_HEAD = 1 << 20


class CountingStream(httpcore.AsyncNetworkStream):
    """A network stream that counts the bytes of each response, to catch a body overrun."""

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._received = 0
        self._head = b""
        self._head_length: int | None = None
        self.poisoned = False

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = await self._inner.read(max_bytes, timeout)
        if self._head_length is None and len(self._head) < _MAX_TRACKED_HEAD:
            self._head += data
            end = self._head.find(_HEAD_END)
            if end >= 0:
                self._head_length = end + len(_HEAD_END)
                self._head = b""
        self._received += len(data)
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._received, self._head, self._head_length = 0, b"", None
        await self._inner.write(buffer, timeout)

    def check_overrun(self, body_length: int) -> bool:
        """After a Content-Length body was read whole: True (and never reuse) if more came."""
        if self._head_length is not None and self._received > self._head_length + body_length:
            self.poisoned = True
        return self.poisoned

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        return CountingStream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable" and self.poisoned:
            return True  # httpcore then treats the idle connection as dead and drops it
        return self._inner.get_extra_info(info)


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects to vetted addresses only: resolve once, check, connect by IP."""

    def __init__(self, resolver: PinnedResolver) -> None:
        self._resolver = resolver
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self._resolver.vetted(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host!r}: {exc}") from exc
        failure: httpcore.ConnectError | None = None
        for address in addresses:
            try:
                stream = await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                failure = exc
                continue
            return CountingStream(stream)
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not used by the crawler")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


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
              http2: bool = False) -> Router:
        context = httpx.create_ssl_context()
        proxied: dict[str, httpx.AsyncBaseTransport] = {
            proxy: httpx.AsyncHTTPTransport(proxy=proxy, verify=context, limits=limits, http2=http2)
            for proxy in routes.proxies()
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


def no_cookies() -> http.cookiejar.CookieJar:
    """A jar that stores nothing: no cookie ever reaches a later request or another origin."""
    return http.cookiejar.CookieJar(policy=http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))


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
    return isinstance(stream, CountingStream) and stream.check_overrun(body_length)
