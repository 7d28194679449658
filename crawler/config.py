"""The only YAML reader: ``config.yaml`` and the built-in site profiles, as typed frozen settings.

Every error names the file, the line and the key, and says what is allowed.
"""

from __future__ import annotations

import copy
import difflib
import ipaddress
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from crawler.errors import ConfigError
from crawler.profile import ExtractionProfile, check_regexes

PLACEHOLDER_CONTACT = "set-your-email@example.org"
DEFAULT_USER_AGENT = f"crawler/0.1 (news corpus research; contact: {PLACEHOLDER_CONTACT})"
# enabled when no config.yaml is found (the same as the shipped config.yaml)
DEFAULT_ENABLED_SITES = ("kompas", "suara")
CONFIG_FILE = "config.yaml"
PROXY_SCHEMES = ("http", "https")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Timeouts(_Frozen):
    connect: float = Field(default=10.0, gt=0)
    read: float = Field(default=20.0, gt=0)
    total: float = Field(default=60.0, gt=0)


class RetryPolicy(_Frozen):
    attempts: int = Field(default=3, ge=1, le=20)
    backoff_base_s: float = Field(default=1.0, ge=0)
    backoff_max_s: float = Field(default=60.0, ge=0)
    retry_after_max_s: float = Field(default=600.0, ge=0)


class RobotsPolicy(_Frozen):
    mode: Literal["obey", "ignore"] = "obey"
    justification: str | None = None
    honor_crawl_delay: bool = True
    cache_ttl_s: float = Field(default=86400.0, gt=0)
    max_bytes: int = Field(default=512_000, gt=0)

    @model_validator(mode="after")
    def _ignore_needs_a_reason(self) -> RobotsPolicy:
        if self.mode == "ignore" and not (self.justification or "").strip():
            raise ValueError(
                "robots mode 'ignore' needs a `justification:` (e.g. the site owner's written "
                "permission); it is recorded in every WARC's warcinfo"
            )
        return self


class CrawlSettings(_Frozen):
    user_agent: str = DEFAULT_USER_AGENT
    concurrency: int = Field(default=16, ge=1, le=1024)
    interval_s: float = Field(default=1.0, ge=0)
    max_concurrency_per_host: int = Field(default=2, ge=1, le=64)
    timeouts_s: Timeouts = Field(default_factory=Timeouts)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    max_body_bytes: int = Field(default=20_000_000, gt=0)
    max_decoded_bytes: int = Field(default=50_000_000, gt=0)
    max_redirects: int = Field(default=5, ge=0, le=30)
    max_url_length: int = Field(default=2048, ge=64)
    max_listing_pages: int = Field(default=5, ge=1)
    max_sitemap_urls: int = Field(default=50_000, ge=1)  # per sitemap file, as sitemaps.org caps it
    max_sitemap_bytes: int = Field(default=52_428_800, gt=0)  # uncompressed, per sitemap file
    max_sitemap_depth: int = Field(default=3, ge=0)  # sitemap index → sitemap nesting
    # WARC files a process writes at once, each on a thread; with the group commit one is the
    # fastest (fewer threads to share the GIL; bench/RESULTS.md "Crawl")
    warc_writers: int = Field(default=1, ge=1, le=64)
    # crawl processes on this machine, hosts split between them (each host paced by one): one
    # process is bound to one core by the GIL, enough at polite rates, not for many hosts at speed
    processes: int = Field(default=1, ge=1, le=64)
    robots: RobotsPolicy = Field(default_factory=RobotsPolicy)
    proxy: str | None = None
    http2: bool = False
    # the crawl state: None = SQLite under the archive (one machine); redis://HOST:PORT/DB =
    # one Redis for every worker on every machine (crawler/frontier_redis.py)
    frontier: str | None = Field(default=None, pattern=r"^(redis|rediss|unix)://")
    name: str = Field(default="crawl", pattern=r"^[A-Za-z0-9._-]{1,64}$")  # prefixes every Redis key
    lease_s: float = Field(default=60.0, gt=0)  # how long a Redis claim holds before it is handed back

    @field_validator("proxy")
    @classmethod
    def _proxy_is_an_http_url(cls, proxy: str | None) -> str | None:
        if proxy is not None:
            problem = proxy_problem(proxy)
            if problem:
                raise ValueError(problem)
        return proxy


def proxy_problem(proxy: str) -> str | None:
    """Why ``proxy`` cannot be used as the crawl's proxy, or None. SOCKS is refused: the
    fetcher speaks to HTTP(S) proxies only (put an HTTP proxy such as privoxy in front)."""
    try:
        parts = urlsplit(proxy.strip())
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        parts = urlsplit("")
    scheme = parts.scheme.lower()
    if scheme.startswith("socks"):
        return (f"{proxy!r}: SOCKS proxies are not supported; use an HTTP(S) proxy URL such as "
                "http://127.0.0.1:3128 (e.g. privoxy in front of the SOCKS proxy)")
    if scheme not in PROXY_SCHEMES or not parts.hostname:
        return f"{proxy!r} is not a proxy URL; expected http://HOST:PORT (or https://)"
    return None


class NetworkSettings(_Frozen):
    allow_private_addresses: tuple[str, ...] = ()

    @field_validator("allow_private_addresses")
    @classmethod
    def _cidrs_parse(cls, cidrs: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in cidrs:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError as exc:
                raise ValueError(f"{cidr!r} is not an IP network such as 127.0.0.1/32") from exc
        return cidrs


class ArchiveSettings(_Frozen):
    dir: str = "archive"
    prefix: str = "crawler"
    rollover_bytes: int = Field(default=1_000_000_000, gt=0)
    gzip_level: int = Field(default=2, ge=0, le=9)  # 1-3: ISA-L, 10x zlib 6 (crawler/warc/compress.py)


class Politeness(_Frozen):
    interval_s: float | None = Field(default=None, ge=0)
    pace_by: Literal["host", "domain"] = "host"
    max_concurrency: int | None = Field(default=None, ge=1)


class Seeds(_Frozen):
    listings: tuple[str, ...] = ()
    feeds: tuple[str, ...] = ()
    sitemaps: tuple[str, ...] = ()


class Listing(_Frozen):
    links: str | None = None
    next: str | None = None


class Site(ExtractionProfile):
    """A whole site profile: extraction rules plus what the crawl needs."""

    enabled: bool = True
    politeness: Politeness = Field(default_factory=Politeness)
    seeds: Seeds = Field(default_factory=Seeds)
    article_urls: tuple[str, ...] = ()
    listing: Listing = Field(default_factory=Listing)

    @model_validator(mode="after")
    def _selectors_parse(self) -> Site:
        for where, selector in self._css_selectors():
            _check_css(selector, where)
        return self

    def _css_selectors(self) -> Iterator[tuple[str, str]]:
        for name in ("links", "next"):
            selector = getattr(self.listing, name)
            if selector:
                yield f"listing.{name}", selector
        if self.multipage.next:
            yield "multipage.next", self.multipage.next
        for index, generation in enumerate(self.generations):
            if generation.detect:
                yield f"generations.{index}.detect", generation.detect
            for name, value in generation:
                specs = value if isinstance(value, tuple) else ()
                for spec in specs:
                    if isinstance(spec, str) and spec.startswith("css:"):
                        yield f"generations.{index}.{name}", spec[4:].rsplit("@", 1)[0]

    @field_validator("article_urls")
    @classmethod
    def _regexes_compile(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        return check_regexes(patterns)


class Config(_Frozen):
    crawl: CrawlSettings = Field(default_factory=CrawlSettings)
    network: NetworkSettings = Field(default_factory=NetworkSettings)
    archive: ArchiveSettings = Field(default_factory=ArchiveSettings)
    sites: tuple[Site, ...] = ()

    def warnings(self) -> list[str]:
        """Settings that are allowed but dangerous: log them and record them in warcinfo."""
        found = []
        if self.network.allow_private_addresses:
            found.append(
                "network.allow_private_addresses lets the crawler reach private addresses "
                f"{', '.join(self.network.allow_private_addresses)}: meant for tests only"
            )
        if self.crawl.robots.mode == "ignore":
            found.append(f"robots.txt is ignored: {self.crawl.robots.justification}")
        if PLACEHOLDER_CONTACT in self.crawl.user_agent:
            found.append(
                f"crawl.user_agent still has the placeholder contact {PLACEHOLDER_CONTACT}: put your "
                "e-mail or a web page in it, so site owners can reach you instead of blocking the crawler"
            )
        return found

    def enabled_sites(self) -> tuple[Site, ...]:
        return tuple(site for site in self.sites if site.enabled)

    def selected_sites(self, wanted: Iterable[str] | None) -> tuple[Site, ...]:
        """The sites a crawl runs: those named (``--sites``), else every enabled one."""
        if wanted is None:
            sites = self.enabled_sites()
            if not sites:
                raise ConfigError(
                    "no site is enabled in the config; set `enabled: true` on one or pass --sites"
                )
            return sites
        return tuple(self.site(site_id) for site_id in wanted)

    def site(self, site_id: str) -> Site:
        for site in self.sites:
            if site.id == site_id:
                return site
        known = ", ".join(s.id for s in self.sites)
        raise ConfigError(f"unknown site {site_id!r}; known sites: {known}")


def _check_css(selector: str, where: str) -> None:
    # checked by the parser that will run the selector; imported here, when a site is
    # validated, so that importing the config does not load the HTML parser
    from selectolax.lexbor import LexborHTMLParser, SelectolaxError

    try:
        LexborHTMLParser("<p></p>").css(selector)
    except SelectolaxError as exc:
        raise ValueError(f"{where}: {selector!r} is not a valid CSS selector") from exc


# ---------------------------------------------------------------- YAML with line numbers

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class _Located:
    """A parsed YAML document plus the line of every key path in it."""

    data: Any
    lines: Mapping[Path_, int]
    file: str


def _walk(node: yaml.Node, path: Path_) -> Iterator[tuple[Path_, int]]:
    yield path, node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            yield (*path, key), key_node.start_mark.line + 1
            for sub_path, line in _walk(value_node, (*path, key)):
                if sub_path != (*path, key):
                    yield sub_path, line
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _walk(item, (*path, index))


def _load_yaml(text: str, file: str) -> _Located:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{file}:{mark.line + 1}" if mark is not None else file
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: not valid YAML: {problem}") from exc
    lines = dict(_walk(node, ())) if node is not None else {}
    return _Located(data if data is not None else {}, lines, file)


def _line_of(located: _Located, path: Path_) -> int | None:
    for cut in range(len(path), -1, -1):
        if path[:cut] in located.lines:
            return located.lines[path[:cut]]
    return None


def _describe(
    error: ValidationError, sources: list[tuple[_Located, Path_]], shown: Path_ = ()
) -> str:
    """One line per problem: file:line: key: what is wrong.

    ``sources`` are the documents the data came from, each with the path prefix under which
    the validated data sits in it; the first that holds the exact key path names the line.
    """
    out = []
    for problem in error.errors():
        loc = tuple(problem["loc"])
        message = problem["msg"]
        inner = _INNER_PATH.match(message)
        if inner:  # a model-level check that names the key it is about
            loc = (*loc, *(int(p) if p.isdigit() else p for p in inner["path"].split(".")))
            message = "Value error, " + message[inner.end() :]
        key = ".".join(str(part) for part in (*shown, *loc)) or "(top level)"
        where = _where(loc, sources)
        if problem["type"] == "extra_forbidden":
            message = "unknown key (check the spelling; see README and crawler/sites/README.md)"
        out.append(f"{where}: {key}: {message}")
    return "\n".join(out)


_INNER_PATH = re.compile(r"^Value error, (?P<path>[a-z_]+(?:\.[a-z0-9_]+)+): ")


def _where(loc: Path_, sources: list[tuple[_Located, Path_]]) -> str:
    for located, prefix in sources:
        if (*prefix, *loc) in located.lines:
            return f"{located.file}:{located.lines[(*prefix, *loc)]}"
    located, prefix = sources[0]
    line = _line_of(located, (*prefix, *loc))
    return f"{located.file}:{line}" if line is not None else located.file


# ---------------------------------------------------------------- sites


def builtin_site_files() -> dict[str, tuple[str, str]]:
    """Built-in site id → (file name, YAML text)."""
    found: dict[str, tuple[str, str]] = {}
    for entry in resources.files("crawler.sites").iterdir():
        if entry.name.endswith(".yaml"):
            found[entry.name.removesuffix(".yaml")] = (
                f"crawler/sites/{entry.name}", entry.read_text(encoding="utf-8"),
            )
    return dict(sorted(found.items()))


def _merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        merged = copy.deepcopy(base)
        for key, value in override.items():
            merged[key] = _merge(merged.get(key), value)
        return merged
    return copy.deepcopy(override)


def _site_data(
    site_id: str, override: Any, config: _Located, builtins: dict[str, _Located]
) -> tuple[dict[str, Any], list[tuple[_Located, Path_]]]:
    prefix: Path_ = ("sites", site_id)
    if override is None:
        override = {}
    if not isinstance(override, dict):
        line = _line_of(config, prefix)
        raise ConfigError(
            f"{config.file}:{line}: sites.{site_id}: must be a mapping of settings "
            f"(e.g. `{site_id}: {{enabled: true}}`), not {type(override).__name__} {override!r}"
        )
    builtin = builtins.get(site_id)
    if builtin is None:
        data = {"id": site_id, **override}
        return data, [(config, prefix)]
    data = _merge(builtin.data, override)
    data["id"] = site_id
    return data, [(config, prefix), (builtin, ())]


def _check_new_site(site_id: str, override: dict[str, Any], config: _Located,
                    builtins: Mapping[str, _Located]) -> None:
    """A site that is not built in must define its `domains` (its seeds may come from --seed):
    otherwise it is a misspelt built-in id, which would silently crawl nothing."""
    if override.get("domains"):
        return
    line = _line_of(config, ("sites", site_id))
    close = difflib.get_close_matches(site_id, list(builtins), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise ConfigError(
        f"{config.file}:{line}: sites.{site_id}: not a built-in site; {hint}"
        f"built-in sites: {', '.join(builtins)}. A new site needs `domains:` (and `seeds:`) "
        "(crawler/sites/README.md)"
    )


def load_builtin_sites() -> dict[str, _Located]:
    return {
        site_id: _load_yaml(text, file) for site_id, (file, text) in builtin_site_files().items()
    }


def _build_site(data: dict[str, Any], sources: list[tuple[_Located, Path_]]) -> Site:
    try:
        return Site.model_validate(data)
    except ValidationError as exc:
        shown: Path_ = ("sites", data["id"])
        raise ConfigError(_describe(exc, sources, shown)) from exc


def builtin_site(site_id: str) -> Site:
    """A built-in site profile with its defaults, without any config.yaml."""
    builtins = load_builtin_sites()
    if site_id not in builtins:
        raise ConfigError(f"unknown site {site_id!r}; built-in sites: {', '.join(builtins)}")
    located = builtins[site_id]
    return _build_site({**located.data, "id": site_id}, [(located, ())])


def builtin_sites() -> tuple[Site, ...]:
    return tuple(builtin_site(site_id) for site_id in load_builtin_sites())


# ---------------------------------------------------------------- config.yaml


def _sites_section(config: _Located) -> dict[str, Any]:
    raw = config.data.get("sites", {}) if isinstance(config.data, dict) else {}
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        line = _line_of(config, ("sites",))
        raise ConfigError(
            f"{config.file}:{line}: sites: must be a mapping of site id to settings, e.g.\n"
            "  sites:\n    kompas: {enabled: true}"
        )
    return raw


def parse_config(text: str, file: str = "config.yaml") -> Config:
    """Validate config text; raises ConfigError naming file, line and key."""
    located = _load_yaml(text, file)
    if not isinstance(located.data, dict):
        raise ConfigError(f"{file}:1: the config must be a mapping with keys crawl, archive, sites")
    builtins = load_builtin_sites()
    sites = []
    for site_id, override in _sites_section(located).items():
        data, sources = _site_data(str(site_id), override, located, builtins)
        sites.append(_build_site(data, sources))
        if str(site_id) not in builtins:
            _check_new_site(str(site_id), override, located, builtins)
    rest = {key: value for key, value in located.data.items() if key != "sites"}
    try:
        return Config.model_validate({**rest, "sites": ()}).model_copy(
            update={"sites": tuple(sites)}
        )
    except ValidationError as exc:
        raise ConfigError(_describe(exc, [(located, ())])) from exc


def load_config(path: str | Path) -> Config:
    """Read and validate a config file."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"{file}: cannot read the config file: {exc.strerror}; "
            "pass --config FILE or run from the project directory"
        ) from exc
    return parse_config(text, str(file))


def default_config() -> Config:
    """Every built-in site with default settings, ``DEFAULT_ENABLED_SITES`` enabled (as in the
    shipped config.yaml): what every verb uses when no config file is found."""
    sites = tuple(site.model_copy(update={"enabled": site.id in DEFAULT_ENABLED_SITES})
                  for site in builtin_sites())
    return Config(sites=sites)


def config_path(explicit: str | Path | None, directory: Path | None = None) -> Path | None:
    """The config file every verb reads: ``--config FILE`` when given, else ``config.yaml`` in
    the working directory when present, else None (built-in sites, ``default_config``)."""
    if explicit is not None:
        return Path(explicit)
    found = (directory or Path.cwd()) / CONFIG_FILE
    return found if found.is_file() else None


def resolve_config(explicit: str | Path | None) -> tuple[Config, Path | None]:
    """The config of ``config_path`` (validated) and its path, or the built-in default."""
    path = config_path(explicit)
    return (load_config(path) if path is not None else default_config()), path
