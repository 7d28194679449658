"""Proxies: the ``proxy`` setting and HTTP_PROXY/NO_PROXY from the environment.

The fault server answers absolute-form requests (``GET http://host/path``) like a forward proxy
would, so it doubles as one here."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from crawler.config import RobotsPolicy
from crawler.transport import ProxyRoutes, bypassed
from tests.support.faultserver import FaultServer
from tests.support.fetchkit import fetcher, settings, site

NO_ROBOTS = RobotsPolicy(mode="ignore", justification="proxy tests count page hits only")


@pytest.fixture
async def proxy() -> AsyncIterator[FaultServer]:
    async with FaultServer() as running:
        yield running


async def no_dns(host: str, port: int) -> list[str]:
    raise AssertionError(f"{host}: with a proxy, the proxy resolves names")


async def test_proxy_setting_routes_every_request(proxy: FaultServer) -> None:
    crawl = settings(robots=NO_ROBOTS, proxy=proxy.origin)
    async with fetcher(crawl, [site("portal.test")], resolver=no_dns) as f:
        result = await f.fetch("http://www.portal.test/page/a")
    assert result.outcome == "ok" and result.final is not None
    assert result.final.ip_address is None  # the proxy's address is not the server's
    (hit,) = proxy.hits
    assert hit.target == "http://www.portal.test/page/a" and hit.header("host") == "www.portal.test"


async def test_proxy_does_not_lift_the_literal_address_guard(proxy: FaultServer) -> None:
    crawl = settings(robots=NO_ROBOTS, proxy=proxy.origin)
    async with fetcher(crawl, [site("10.0.0.1")], resolver=no_dns) as f:
        result = await f.fetch("http://10.0.0.1/page/a")
    assert result.state == "failed:ssrf" and proxy.hits == []


async def test_environment_proxy_and_no_proxy(proxy: FaultServer, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy",
                 "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy.origin)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,.direct.test")
    async with FaultServer() as origin:
        sites = [site("127.0.0.1", "portal.test")]
        async with fetcher(settings(robots=NO_ROBOTS), sites, trust_env=True) as f:
            direct = await f.fetch(origin.url("/page/direct"))
            proxied = await f.fetch("http://portal.test/page/proxied")
        assert direct.outcome == proxied.outcome == "ok"
        assert [h.target for h in origin.hits] == ["/page/direct"]
        assert [h.target for h in proxy.hits] == ["http://portal.test/page/proxied"]


def test_trust_env_off_ignores_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    assert ProxyRoutes.build(None, trust_env=False).proxy_for(httpx.URL("http://a.test/")) is None
    assert ProxyRoutes.build(None, trust_env=True).proxy_for(httpx.URL("http://a.test/")) is not None
    assert ProxyRoutes.build("http://p:1", trust_env=True).proxy_for(httpx.URL("https://a.test/")) == "http://p:1"


@pytest.mark.parametrize(
    ("url", "no_proxy", "expected"),
    [("http://a.test/", "*", True), ("http://x.a.test/", "a.test", True),
     ("http://x.a.test/", ".a.test", True), ("http://ba.test/", "a.test", False),
     ("http://a.test:8080/", "a.test:8080", True), ("http://a.test:8081/", "a.test:8080", False),
     ("http://a.test/", "", False)],
)
def test_no_proxy_matching(url: str, no_proxy: str, expected: bool) -> None:
    assert bypassed(httpx.URL(url), no_proxy) is expected
