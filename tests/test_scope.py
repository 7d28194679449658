from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import pytest

from crawler.errors import ScopeViolation
from crawler.scope import AddressGuard, PinnedResolver, Scope, domain_matches, obfuscation
from tests.support.fetchkit import site

SITES = (site("kompas.com", site_id="kompas"), site("detik.com", site_id="detik", pace_by="domain"))


def scope(allow: Sequence[str] = ()) -> Scope:
    return Scope.build(SITES, allow)


def reason_of(url: str, allow: Sequence[str] = ()) -> str:
    with pytest.raises(ScopeViolation) as caught:
        scope(allow).check(url)
    return caught.value.reason


def test_site_for_domains_and_subdomains() -> None:
    s = scope()
    assert s.check("https://www.kompas.com/read/1").id == "kompas"
    assert s.check("https://news.detik.com/x").id == "detik"
    assert s.site_for("https://notkompas.com/") is None
    assert s.site_for("https://kompas.com.evil.net/") is None


def test_domain_matches() -> None:
    assert domain_matches("a.kompas.com", "Kompas.com.")
    assert not domain_matches("xkompas.com", "kompas.com")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://kompas.com/x", "data:text/html,hi",
                                 "javascript:alert(1)", "gopher://kompas.com/"])
def test_D2_non_http_schemes(url: str) -> None:
    assert reason_of(url) == "scope"


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/",
                                 "http://10.0.0.1/", "http://192.168.1.1/", "http://[::1]/",
                                 "http://100.100.100.200/", "http://224.0.0.1/"])
def test_D3_private_and_metadata_literals(url: str) -> None:
    assert reason_of(url, allow=("127.0.0.1/32",)) == "ssrf"


def test_D3_metadata_refused_even_when_its_range_is_allowlisted() -> None:
    assert reason_of("http://169.254.169.254/", allow=("169.254.0.0/16",)) == "ssrf"


def test_D4_other_loopback_refused_when_one_address_is_allowed() -> None:
    assert reason_of("http://127.0.0.2:8080/", allow=("127.0.0.1/32",)) == "ssrf"


@pytest.mark.parametrize("host", ["2130706433", "0x7f.1", "0177.0.0.1", "127.1", "0x7f000001",
                                  "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "0.0.0.0", "0.0.0.1",
                                  "[2002:7f00:1::]"])
def test_D5_obfuscated_ips(host: str) -> None:
    assert reason_of(f"http://{host}/", allow=("127.0.0.1/32",)) == "ssrf"


@pytest.mark.parametrize("host", ["kompas.com", "1.2.3.4", "a1.kompas.com", "kompas.com."])
def test_ordinary_hosts_are_not_obfuscated(host: str) -> None:
    assert obfuscation(host) is None


def test_D9_userinfo_refused() -> None:
    assert reason_of("http://u:p@kompas.com/") == "scope"
    assert reason_of("http://kompas.com@169.254.169.254/") == "scope"


def test_D9_idn_homograph_is_out_of_scope() -> None:
    # Cyrillic "о" in kompas: a different host (xn--...) that no site owns
    assert reason_of("https://k\u043empas.com/read/1") == "out_of_scope"


def test_D9_trap_and_long_url() -> None:
    assert reason_of("https://kompas.com/a/a/a/a/a") == "scope"
    assert reason_of("https://kompas.com/?" + "x" * 3000) == "scope"


def test_off_site_is_out_of_scope() -> None:
    assert reason_of("https://other.example/") == "out_of_scope"


def test_pace_key_by_host_or_domain() -> None:
    s = scope()
    assert s.pace_key("https://www.kompas.com:8443/x", SITES[0]) == "www.kompas.com:8443"
    assert s.pace_key("https://news.detik.com/x", SITES[1]) == "detik.com"
    assert s.pace_key("https://sport.detik.com/x", SITES[1]) == "detik.com"


def test_guard_unwraps_mapped_addresses() -> None:
    guard = AddressGuard(("127.0.0.1/32",))
    assert guard.allows(ipaddress.ip_address("::ffff:127.0.0.1"))
    assert not guard.allows(ipaddress.ip_address("::ffff:10.0.0.1"))
    assert guard.allows(ipaddress.ip_address("93.184.216.34"))


async def test_pinned_resolver_keeps_only_vetted_addresses() -> None:
    async def resolve(host: str, port: int) -> list[str]:
        return ["127.0.0.2", "127.0.0.1", "10.1.1.1"]

    pinned = PinnedResolver(AddressGuard(("127.0.0.1/32",)), resolve)
    assert await pinned.vetted("mixed.test", 80) == ["127.0.0.1"]


async def test_pinned_resolver_refuses_when_nothing_is_public() -> None:
    async def resolve(host: str, port: int) -> list[str]:
        return ["169.254.169.254"]

    pinned = PinnedResolver(AddressGuard(), resolve)
    with pytest.raises(ScopeViolation) as caught:
        await pinned.vetted("metadata.test", 80)
    assert caught.value.reason == "ssrf"
