"""Helpers for the network tests: small, fast settings, a Fetcher on loopback, a fake clock."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from crawler.config import CrawlSettings, NetworkSettings, RetryPolicy, RobotsPolicy, Site, Timeouts
from crawler.fetch import Fetcher
from crawler.models import Exchange
from crawler.scope import Resolver, system_resolver

LOOPBACK_ONLY = NetworkSettings(allow_private_addresses=("127.0.0.1/32",))


def settings(**overrides: Any) -> CrawlSettings:
    """Crawl settings sized for tests: sub-second timeouts and backoff, no pacing unless asked."""
    values: dict[str, Any] = {
        "interval_s": 0.0,
        "timeouts_s": Timeouts(connect=1.0, read=0.5, total=1.5),
        "retry": RetryPolicy(attempts=3, backoff_base_s=0.05, backoff_max_s=0.2, retry_after_max_s=5.0),
        "max_body_bytes": 100_000,
        "max_concurrency_per_host": 4,
        "robots": RobotsPolicy(cache_ttl_s=3600.0),
    }
    values.update(overrides)
    return CrawlSettings(**values)


def site(*domains: str, site_id: str = "t", **politeness: Any) -> Site:
    return Site.model_validate({"id": site_id, "domains": list(domains or ("127.0.0.1",)),
                                "politeness": politeness})


class Archive:
    """An archive callback that keeps what it is given."""

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []

    async def __call__(self, exchange: Exchange) -> None:
        self.exchanges.append(exchange)


def fetcher(
    crawl: CrawlSettings | None = None,
    sites: Sequence[Site] | None = None,
    *,
    network: NetworkSettings = LOOPBACK_ONLY,
    archive: Archive | None = None,
    resolver: Resolver = system_resolver,
    **kwargs: Any,
) -> Fetcher:
    """A Fetcher for 127.0.0.1 servers, ignoring any proxy in the environment."""
    kwargs.setdefault("trust_env", False)
    return Fetcher(crawl or settings(), network, sites or [site()], archive=archive, resolver=resolver,
                   **kwargs)


class FakeClock:
    """A clock tests move by hand: ``sleep`` advances it instantly (and yields to the loop)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now - 1_600_000_000.0

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        self.now += seconds


def elapsed(start: float) -> float:
    return time.monotonic() - start


def self_signed_server_context(directory: Path) -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate for 127.0.0.1 (untrusted by design)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context
