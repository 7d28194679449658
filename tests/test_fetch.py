"""RELIABILITY groups A (transport and framing), B5/B6 (body caps) and D (redirects, scope, SSRF)
against the loopback fault server. robots.txt is switched off here to isolate one request; the
robots rows live in test_robots.py."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from crawler.config import RobotsPolicy
from crawler.errors import ConfigError
from crawler.fetch import FetchResult
from tests.support.faultserver import FaultServer
from tests.support.fetchkit import FakeClock, fetcher, self_signed_server_context, settings, site

NO_ROBOTS = RobotsPolicy(mode="ignore", justification="transport tests isolate a single request")


@pytest.fixture
async def server() -> AsyncIterator[FaultServer]:
    async with FaultServer() as running:
        yield running


@pytest.fixture
async def canary(server: FaultServer) -> AsyncIterator[FaultServer]:
    """127.0.0.2 on the fault server's port number: must never see a connection."""
    async with FaultServer(host="127.0.0.2", port=server.port) as running:
        yield running
        assert running.connections == 0, f"the canary was contacted: {running.hits}"


async def fetch_one(url: str, **overrides: object) -> FetchResult:
    async with fetcher(settings(robots=NO_ROBOTS, **overrides)) as f:
        return await f.fetch(url)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# ---------------------------------------------------------------- A. transport and framing


async def test_A1_connection_refused(server: FaultServer) -> None:
    clock = FakeClock()
    async with fetcher(settings(robots=NO_ROBOTS), clock=clock) as f:
        dead, alive = await asyncio.gather(
            f.fetch(f"http://127.0.0.1:{closed_port()}/x"), f.fetch(server.url("/page/a"))
        )
    assert dead.state == "failed:connect" and dead.exchanges == () and dead.final is None
    assert len(clock.slept) == 2  # attempts=3 → two backoff waits
    base = 0.05
    assert base <= clock.slept[0] <= 2 * base and 2 * base <= clock.slept[1] <= 3 * base
    assert alive.outcome == "ok" and alive.final is not None and alive.final.status == 200


async def test_A2_hang_times_out_and_retries(server: FaultServer) -> None:
    result = await fetch_one(server.url("/hang"), timeouts_s={"connect": 1, "read": 0.2, "total": 2})
    assert result.state == "failed:timeout"
    assert len(server.hits_for("/hang")) == 3


async def test_A3_slowloris_is_stopped_by_the_total_deadline(server: FaultServer) -> None:
    # a byte every 0.1 s never trips the 0.5 s read timeout; only the 0.6 s total deadline stops it
    result = await fetch_one(server.url("/slowloris?interval=0.1"),
                             timeouts_s={"connect": 1, "read": 0.5, "total": 0.6},
                             retry={"attempts": 2, "backoff_base_s": 0.05, "backoff_max_s": 0.1})
    assert result.state == "failed:timeout"
    assert "TimeoutError" in str(result.error) and "ReadTimeout" not in str(result.error)
    assert result.exchanges == ()  # chosen behaviour: a timed-out body is not archived
    hits = server.hits_for("/slowloris")
    assert len(hits) == 2
    assert FaultServer.gaps(hits)[0] >= 0.6


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/underrun", "protocol"),        # A4
        ("/broken_chunked", "protocol"),  # A6
        ("/reset", "connect"),            # A11
        ("/http09", "protocol"),          # A8, no status line: the server hung up without a response
    ],
    ids=["A4_underrun", "A6_broken_chunked", "A11_reset", "A8_http09"],
)
async def test_A_transient_breakage_is_retried_then_failed(
    server: FaultServer, path: str, reason: str
) -> None:
    result = await fetch_one(server.url(path))
    assert result.state == f"failed:{reason}"
    assert result.exchanges == () and result.final is None
    assert len(server.hits_for(path)) == 3


@pytest.mark.parametrize(
    "path",
    ["/illegal_chunk", "/garbage", "/header_bomb", "/many_headers", "/bad_cl/neg", "/bad_cl/abc",
     "/bad_cl/conflict", "/bad_cl/cl_chunked"],
    ids=["A7_illegal_chunk", "A8_garbage_status", "A9_header_bomb", "A9_many_headers", "A10_negative",
         "A10_not_a_number", "A10_conflicting", "A10_cl_and_chunked"],
)
async def test_A_malformed_http_fails_without_retry(
    server: FaultServer, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="crawler.fetch"):
        result = await fetch_one(server.url(path))
    assert result.state == "failed:protocol"
    assert result.exchanges == ()
    assert len(server.hits_for(path)) == 1
    assert any(server.url(path) in record.getMessage() for record in caplog.records)


async def test_A5_overrun_keeps_content_length_and_drops_the_connection(server: FaultServer) -> None:
    async with fetcher(settings(robots=NO_ROBOTS)) as f:
        overrun = await f.fetch(server.url("/overrun"))
        after = await f.fetch(server.url("/page/after"))
    assert overrun.final is not None and overrun.final.body == b"0123456789"
    assert after.outcome == "ok" and after.final is not None and after.final.status == 200
    first, second = server.hits_for("/overrun")[0], server.hits_for("/page/after")[0]
    assert first.connection != second.connection
    assert len(server.hits_for("/page/after")) == 1


async def test_A12_untrusted_certificate(tmp_path: Path) -> None:
    clock = FakeClock()
    async with FaultServer(tls=self_signed_server_context(tmp_path)) as tls_server:
        async with fetcher(settings(robots=NO_ROBOTS), clock=clock) as f:
            result = await f.fetch(tls_server.url("/page/a"))
        assert result.state == "failed:tls"
        assert "verif" in str(result.error).lower()
        assert clock.slept == []  # not retried: a bad certificate does not heal
        assert tls_server.hits == []


async def test_A13_server_closes_keep_alive_between_requests(server: FaultServer) -> None:
    async with fetcher(settings(robots=NO_ROBOTS)) as f:
        results = [await f.fetch(server.url(f"/close_each/{n}")) for n in range(3)]
    assert [r.outcome for r in results] == ["ok", "ok", "ok"]
    assert len(server.page_hits()) == 3


async def test_exchange_holds_the_wire_facts(server: FaultServer) -> None:
    result = await fetch_one(server.url("/page/facts?size=500"))
    exchange = result.final
    assert exchange is not None and result.exchanges == (exchange,)
    assert (exchange.status, exchange.reason, exchange.http_version) == (200, "OK", "HTTP/1.1")
    assert exchange.ip_address == "127.0.0.1"
    assert len(exchange.body) == 500 and exchange.truncated is None
    assert ("Content-Length", "500") in exchange.response_headers  # as received, casing kept
    sent = dict(exchange.request_headers)
    assert sent["User-Agent"] == settings().user_agent
    assert server.hits[0].header("user-agent") == settings().user_agent


# ---------------------------------------------------------------- B5/B6. body caps


async def test_B5_declared_oversize_rejected_before_reading(server: FaultServer) -> None:
    result = await fetch_one(server.url("/declared_huge"))
    assert result.state == "skipped:too_large"
    assert result.exchanges == ()
    assert len(server.hits_for("/declared_huge")) == 1


async def test_B6_undeclared_oversize_cut_at_the_cap(server: FaultServer) -> None:
    result = await fetch_one(server.url("/infinite"), max_body_bytes=50_000)
    assert result.state == "failed:too_large"
    (exchange,) = result.exchanges
    assert exchange.truncated == "length" and len(exchange.body) == 50_000
    assert len(server.hits_for("/infinite")) == 1


# ---------------------------------------------------------------- D. redirects, scope, SSRF


async def test_D1_redirect_loop(server: FaultServer) -> None:
    result = await fetch_one(server.url("/loop"), max_redirects=3)
    assert result.state == "failed:too_many_redirects"
    assert len(result.exchanges) == 4 and {e.status for e in result.exchanges} == {302}
    assert len(server.hits_for("/loop")) == 4


async def test_redirect_chain_followed(server: FaultServer) -> None:
    result = await fetch_one(server.url("/chain/3"))
    assert result.outcome == "ok"
    assert [e.status for e in result.exchanges] == [302, 302, 302, 200]
    assert result.final is not None and result.final.url == server.url("/chain/0")


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://127.0.0.1/x", "data:text/html,hi",
                                    "javascript:alert(1)"])
async def test_D2_redirect_to_other_scheme(server: FaultServer, target: str) -> None:
    result = await fetch_one(server.url(f"/redirect?to={quote(target, safe='')}"))
    assert result.state == "failed:scope"
    assert [e.status for e in result.exchanges] == [302]
    assert len(server.page_hits()) == 1


@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/"])
async def test_D3_metadata_redirect_blocked_before_connect(target: str) -> None:
    seen: list[str] = []

    def spy(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(302, headers={"Location": target})

    sites = [site("127.0.0.1", "169.254.169.254", "fd00:ec2::254")]
    async with fetcher(settings(robots=NO_ROBOTS), sites, transport=httpx.MockTransport(spy)) as f:
        result = await f.fetch("http://127.0.0.1/start")
    assert result.state == "failed:ssrf"
    assert seen == ["http://127.0.0.1/start"]


async def test_D3_metadata_hostname_blocked_at_connect(server: FaultServer) -> None:
    resolved: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        resolved.append(host)
        return ["169.254.169.254"]

    sites = [site("127.0.0.1", "metadata.test")]
    async with fetcher(settings(robots=NO_ROBOTS), sites, resolver=resolver) as f:
        result = await f.fetch(server.url(f"/redirect?to={quote('http://metadata.test/x', safe='')}"))
    assert result.state == "failed:ssrf" and resolved == ["metadata.test"]


async def test_D4_other_loopback_blocked(server: FaultServer, canary: FaultServer) -> None:
    sites = [site("127.0.0.1", "127.0.0.2", "canary.test")]

    async def resolver(host: str, port: int) -> list[str]:
        return ["127.0.0.2"]

    async with fetcher(settings(robots=NO_ROBOTS), sites, resolver=resolver) as f:
        literal = await f.fetch(server.url(f"/redirect?to={quote(canary.url('/'), safe='')}"))
        by_name = quote(f"http://canary.test:{canary.port}/", safe="")
        named = await f.fetch(server.url(f"/redirect?to={by_name}"))
        direct = await f.fetch(canary.url("/direct"))
    assert literal.state == named.state == direct.state == "failed:ssrf"


@pytest.mark.parametrize("host", ["2130706434", "0x7f.0.0.2", "0177.0.0.2", "127.2", "[::ffff:127.0.0.2]",
                                  "0.0.0.0", "0.0.0.1"])
async def test_D5_obfuscated_ips(server: FaultServer, canary: FaultServer, host: str) -> None:
    url = f"http://{host}:{canary.port}/x"
    async with fetcher(settings(robots=NO_ROBOTS), [site("127.0.0.1", host.strip("[]"))]) as f:
        direct = await f.fetch(url)
        redirected = await f.fetch(server.url(f"/redirect?to={quote(url, safe='')}"))
    assert direct.state == redirected.state == "failed:ssrf"


async def test_D6_dns_rebinding_is_pinned(server: FaultServer, canary: FaultServer) -> None:
    answers = iter(["127.0.0.1", "127.0.0.2", "127.0.0.2"])
    lookups: list[str] = []

    async def rebinding(host: str, port: int) -> list[str]:
        lookups.append(host)
        return [next(answers)]

    base = f"http://rebind.test:{server.port}"
    async with fetcher(settings(robots=NO_ROBOTS), [site("rebind.test")], resolver=rebinding) as f:
        first = await f.fetch(base + "/close_each/1")  # vetted 127.0.0.1, then the server hangs up
        second = await f.fetch(base + "/close_each/2")  # new connection: the lookup now says 127.0.0.2
    assert first.outcome == "ok" and first.final is not None and first.final.ip_address == "127.0.0.1"
    assert second.state == "failed:ssrf"
    assert lookups == ["rebind.test", "rebind.test"]  # one lookup per connection, used for the connect


async def test_D7_off_site_redirect(server: FaultServer) -> None:
    async def no_dns(host: str, port: int) -> list[str]:
        raise AssertionError(f"{host} must not even be resolved")

    async with fetcher(settings(robots=NO_ROBOTS), resolver=no_dns) as f:
        result = await f.fetch(server.url(f"/redirect?to={quote('https://other.example/', safe='')}"))
    assert result.state == "skipped:out_of_scope"
    assert [e.status for e in result.exchanges] == [302]
    assert "other.example" in str(result.error)


async def test_D8_no_cookie_or_credentials_cross_origins(server: FaultServer) -> None:
    async with FaultServer() as other, fetcher(settings(robots=NO_ROBOTS)) as f:
        cross = await f.fetch(server.url(f"/set_cookie?to={quote(other.url('/echo_headers'), safe='')}"))
        same = await f.fetch(server.url("/echo_headers"))
        echoed = [other.hits_for("/echo_headers")[0], server.hits_for("/echo_headers")[0]]
    assert cross.outcome == same.outcome == "ok"
    for hit in echoed:
        assert hit.header("cookie") is None and hit.header("authorization") is None


async def test_D9_userinfo_url_never_requested(server: FaultServer) -> None:
    result = await fetch_one(f"http://user:pw@127.0.0.1:{server.port}/page/a")
    assert result.state == "failed:scope"
    assert server.hits == []


async def test_out_of_scope_url_never_requested(server: FaultServer) -> None:
    async with fetcher(settings(robots=NO_ROBOTS), [site("kompas.com")]) as f:
        result = await f.fetch(server.url("/page/a"))
    assert result.state == "skipped:out_of_scope" and server.hits == []


async def test_redirect_location_is_made_a_valid_url(server: FaultServer) -> None:
    result = await fetch_one(server.url(f"/redirect?to={quote('/page/a b/ü#frag', safe='')}"))
    assert result.final is not None and result.final.url == server.url("/page/a%20b/%C3%BC")


def test_http2_without_h2_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(ConfigError, match="h2"):
        fetcher(settings(http2=True))


async def test_trusted_tls_and_large_bodies_stream_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = self_signed_server_context(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "cert.pem"))  # trust exactly this certificate
    async with FaultServer(tls=context) as tls_server:
        async with fetcher(settings(robots=NO_ROBOTS, max_body_bytes=5_000_000)) as f:
            big = await f.fetch(tls_server.url("/page/big?size=3000000"))
            small = await f.fetch(tls_server.url("/page/small"))
    assert big.outcome == small.outcome == "ok"
    assert big.final is not None and len(big.final.body) == 3_000_000 and big.final.body.endswith(b"</html>")
    assert tls_server.hits[0].connection == tls_server.hits[1].connection  # kept alive over TLS
