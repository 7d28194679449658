"""The output directory of a cluster replay: one shard per WARC file, their side outputs, the manifest.

Layout of ``DIR`` (every file written under a temporary name, fsynced and renamed, so a file
that exists is complete and a task that runs twice writes the same bytes)::

    manifest.json             inputs (path, size), shard names, options; checked on a rerun
    parts/<name>.part         phase 1: the file's articles, one per line: key, dedup key, JSON
    parts/<name>.side.json    phase 1: counts, damage, article keys, consumed captures, pending
                              continuations and the file's capture index (the cross-file step
                              reads these, never the article bodies); written last: the part is done
    parts/<name>.plan.json    phase 2: rows of the part that are dropped, articles completed here
    merge.json                phase 2 done: the whole job's counts
    shards/<name>.jsonl       phase 3: the shard, the one-machine replay's records of this file
    shards/<name>.parquet     (or Parquet: ``parquet_schema()``)

``<name>`` is the input's position (zero-padded) and its file name without ``.warc[.gz]``.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crawler.atomic import write_whole
from crawler.errors import ConfigError, InputError
from crawler.models import ARTICLE_KEYS
from crawler.replay import Consumed, FileIndex, FileResult, Key, PageRef, Pending, ReplayOptions
from crawler.warc.pages import Capture, OriginIndex

__all__ = [
    "FORMATS", "Layout", "Plan", "Side", "articles_table", "check_manifest", "parquet_schema", "read_shard",
    "shard_bytes", "write_atomic",
]

FORMATS = ("jsonl", "parquet")
MANIFEST_VERSION = 1


def write_atomic(path: Path, data: bytes) -> None:
    """``data`` at ``path`` (its directory made), whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_whole(path, data)


@dataclass(frozen=True)
class Layout:
    """Where everything of one job lives under ``root``."""

    root: Path
    names: tuple[str, ...]  # one shard name per input, in input order
    fmt: str = "jsonl"

    @classmethod
    def for_inputs(cls, root: Path, paths: Sequence[str], fmt: str) -> Layout:
        width = max(5, len(str(len(paths))))
        return cls(root, tuple(f"{index:0{width}d}-{_stem(path)}" for index, path in enumerate(paths)), fmt)

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def merged(self) -> Path:
        return self.root / "merge.json"

    def part(self, index: int) -> Path:
        return self.root / "parts" / f"{self.names[index]}.part"

    def side(self, index: int) -> Path:
        return self.root / "parts" / f"{self.names[index]}.side.json"

    def plan(self, index: int) -> Path:
        return self.root / "parts" / f"{self.names[index]}.plan.json"

    def shard(self, index: int) -> Path:
        return self.root / "shards" / f"{self.names[index]}.{self.fmt}"


def _stem(path: str) -> str:
    name = Path(path).name
    for suffix in (".warc.gz", ".warc", ".gz"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


# ---------------------------------------------------------------------- the manifest


def manifest_data(layout: Layout, paths: Sequence[str], options: ReplayOptions) -> dict[str, Any]:
    inputs = []
    for path, name in zip(paths, layout.names, strict=True):
        try:
            size = os.stat(path).st_size
        except OSError as exc:
            raise InputError(f"{path}: cannot read: {exc.strerror}; check the path") from exc
        inputs.append({"path": path, "size": size, "shard": f"shards/{name}.{layout.fmt}"})
    return {"version": MANIFEST_VERSION, "options": options_data(options, layout.fmt), "inputs": inputs}


def options_data(options: ReplayOptions, fmt: str) -> dict[str, Any]:
    return {"format": fmt, "sites": sorted(options.sites) if options.sites is not None else None,
            "strict": options.strict, "max_decoded_bytes": options.max_decoded_bytes,
            "config": os.path.abspath(options.config_path) if options.config_path else None}


def check_manifest(layout: Layout, wanted: Mapping[str, Any], *, force: bool) -> bool:
    """Write the manifest of a new job; on a rerun, True when it is the same job (finished work
    is kept), else refuse (``ConfigError``) unless ``force``, which starts over (returns False)."""
    if layout.manifest.exists():
        try:
            found = json.loads(layout.manifest.read_bytes())
        except ValueError as exc:
            raise InputError(f"{layout.manifest}: not JSON ({exc}); pass --force to start over") from exc
        if found == wanted:
            return True
        if not force:
            raise ConfigError(
                f"{layout.manifest}: {layout.root} holds a replay of other {_difference(found, wanted)}; "
                "pass --force to replace it, or choose another -o directory"
            )
        _clear(layout.root)
    elif layout.root.exists() and any(layout.root.iterdir()) and not force:
        raise ConfigError(f"{layout.root}: not empty and not a replay output (no manifest.json); "
                          "choose an empty or new -o directory, or pass --force")
    elif force and layout.root.exists():
        _clear(layout.root)
    write_atomic(layout.manifest, _json(wanted))
    return False


def _difference(found: Mapping[str, Any], wanted: Mapping[str, Any]) -> str:
    found_options, wanted_options = found.get("options") or {}, wanted.get("options") or {}
    changed = [f"{key} ({found_options.get(key)!r}, now {value!r})" for key, value in wanted_options.items()
               if found_options.get(key) != value]
    if found.get("inputs") != wanted.get("inputs"):
        changed.append(f"inputs ({len(found.get('inputs') or [])} files, now {len(wanted['inputs'])}, "
                       "or their paths or sizes differ)")
    return "options: " + "; ".join(changed) if changed else "kind (manifest version)"


def _clear(root: Path) -> None:
    for sub in ("parts", "shards"):
        for path in sorted((root / sub).glob("*")) if (root / sub).is_dir() else []:
            path.unlink()
    for path in (root / "merge.json", root / "manifest.json"):
        path.unlink(missing_ok=True)


def _json(data: Any) -> bytes:
    return (json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


# ---------------------------------------------------------------------- phase 1: part and side output


def part_bytes(result: FileResult) -> bytes:
    """The file's articles in key order: ``time file position digest JSON`` per line."""
    return "".join(f"{k[0]}\t{k[1]}\t{k[2]}\t{digest}\t{line}\n"
                   for k, digest, line in result.articles).encode("utf-8")


def read_part(path: Path) -> list[tuple[Key, str, str]]:
    rows = []
    for raw in path.read_bytes().decode("utf-8").splitlines():
        moment, file_index, position, digest, line = raw.split("\t", 4)
        rows.append(((int(moment), int(file_index), int(position)), digest, line))
    return rows


@dataclass
class Side:
    """What the cross-file step needs of one file, without its bodies."""

    index: int
    path: str
    records: int = 0
    captures: int = 0
    unknown_types: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    damages: list[str] = field(default_factory=list)
    keys: list[tuple[Key, str]] = field(default_factory=list)  # (key, dedup key) per part row
    consumed: list[Consumed] = field(default_factory=list)  # (article key, capture taken in)
    pending: list[Pending] = field(default_factory=list)
    origins: OriginIndex = field(default_factory=OriginIndex)
    by_url: dict[str, list[PageRef]] = field(default_factory=dict)

    @classmethod
    def of(cls, result: FileResult, index: FileIndex) -> Side:
        return cls(result.index, result.path, result.records, result.captures, result.unknown_types,
                   result.failed, list(result.damages), [(key, digest) for key, digest, _ in result.articles],
                   sorted(result.consumed), list(result.pending), index[0], index[1])

    @property
    def articles(self) -> int:
        return len(self.keys)

    def to_bytes(self) -> bytes:
        codec = _Codec(self.path)
        origins = {  # each capture once, in a table; the maps name it by its row
            "by_id": [[key, codec.capture_row(c)] for key, c in self.origins.by_id.items()],
            "by_uri_date": [[uri, date, codec.capture_row(c)]
                            for (uri, date), c in self.origins.by_uri_date.items()],
            "by_digest": [[key, codec.capture_row(c)] for key, c in self.origins.by_digest.items()],
        }
        return _json({
            "index": self.index, "path": self.path, "records": self.records, "captures": self.captures,
            "unknown_types": self.unknown_types, "failed": dict(sorted(self.failed.items())),
            "damages": self.damages, "keys": [[*key, digest] for key, digest in self.keys],
            "consumed": [[list(key), list(capture)] for key, capture in self.consumed],
            "pending": [codec.pending_out(p) for p in self.pending],
            "by_url": [[url, [codec.ref_out(ref, url) for ref in refs]] for url, refs in self.by_url.items()],
            "origins": origins, "capture_table": codec.table,
        })

    @classmethod
    def from_bytes(cls, data: bytes) -> Side:
        raw = json.loads(data)
        codec = _Codec(raw["path"], raw["capture_table"])
        origins = raw["origins"]
        index = OriginIndex(
            by_id={key: codec.capture_at(row) for key, row in origins["by_id"]},
            by_uri_date={(uri, date): codec.capture_at(row) for uri, date, row in origins["by_uri_date"]},
            by_digest={key: codec.capture_at(row) for key, row in origins["by_digest"]},
        )
        return cls(raw["index"], raw["path"], raw["records"], raw["captures"], raw["unknown_types"],
                   Counter(raw["failed"]), raw["damages"],
                   [((t, f, p), digest) for t, f, p, digest in raw["keys"]],
                   [((t, f, p), (path, offset, member))
                    for (t, f, p), (path, offset, member) in raw["consumed"]],
                   [codec.pending_in(p) for p in raw["pending"]], index,
                   {url: [codec.ref_in(r, url) for r in refs] for url, refs in raw["by_url"]})


class _Codec:
    """Captures and page references as JSON rows: the file's own path (``home``) and a
    reference's own URL are left out (null) and put back, so an index costs a few hundred
    bytes per capture."""

    def __init__(self, home: str, table: list[list[Any]] | None = None) -> None:
        self.home = home
        self.table: list[list[Any]] = table or []
        self._rows: dict[Capture, int] = {}
        self._captures = [self._capture_in(row) for row in self.table]

    def capture_row(self, capture: Capture) -> int:
        if capture not in self._rows:
            self._rows[capture] = len(self.table)
            path = None if capture.path == self.home else capture.path
            self.table.append([path, capture.offset, capture.member_index, capture.uri, capture.date,
                               capture.digest])
        return self._rows[capture]

    def capture_at(self, row: int) -> Capture:
        return self._captures[row]

    def _capture_in(self, row: list[Any]) -> Capture:
        path, offset, member_index, uri, date, digest = row
        return Capture(path if path is not None else self.home, offset, member_index, uri, date, digest)

    def ref_out(self, ref: PageRef, url: str | None = None) -> list[Any]:
        original = self.capture_row(ref.original) if ref.original else None
        return [None if ref.path == self.home else ref.path, ref.offset, None if ref.url == url else ref.url,
                ref.status, ref.location, original, ref.member_index, ref.date_us]

    def ref_in(self, raw: list[Any], url: str | None = None) -> PageRef:
        path, offset, own_url, status, location, original, member_index, date_us = raw
        return PageRef(path if path is not None else self.home, offset,
                       own_url if own_url is not None else url or "", status, location,
                       self.capture_at(original) if original is not None else None, member_index, date_us)

    def pending_out(self, state: Pending) -> list[Any]:
        return [list(state.key), self.ref_out(state.first), [self.ref_out(r) for r in state.pages],
                state.wanted]

    def pending_in(self, raw: list[Any]) -> Pending:
        key, first, pages, wanted = raw
        refs = tuple(self.ref_in(r) for r in pages)
        return Pending((key[0], key[1], key[2]), self.ref_in(first), refs, wanted)


# ---------------------------------------------------------------------- phase 2: a part's plan


@dataclass(frozen=True)
class Plan:
    """How a part becomes its shard: rows dropped (joined elsewhere, or duplicates), articles added."""

    dropped: tuple[int, ...] = ()
    added: tuple[tuple[Key, str], ...] = ()  # (key, JSON line) of articles completed from other files

    def to_bytes(self) -> bytes:
        return _json({"dropped": list(self.dropped), "added": [[*key, line] for key, line in self.added]})

    @classmethod
    def from_bytes(cls, data: bytes) -> Plan:
        raw = json.loads(data)
        return cls(tuple(raw["dropped"]), tuple(((t, f, p), line) for t, f, p, line in raw["added"]))


# ---------------------------------------------------------------------- phase 3: the shard


def shard_lines(part: Iterable[tuple[Key, str, str]], plan: Plan) -> list[str]:
    """The shard's JSON lines in key order: the part's rows not dropped, and the added articles."""
    dropped = set(plan.dropped)
    rows = [(key, line) for row, (key, _, line) in enumerate(part) if row not in dropped]
    return [line for _, line in sorted([*rows, *plan.added])]


def shard_bytes(lines: Sequence[str], fmt: str) -> bytes:
    if fmt == "jsonl":
        return "".join(line + "\n" for line in lines).encode("utf-8")
    import io

    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(articles_table([json.loads(line) for line in lines]), sink, compression="zstd")
    return sink.getvalue()


def _schema() -> Any:
    import pyarrow as pa

    text, texts = pa.string(), pa.list_(pa.string())
    source = pa.struct([("warc", text), ("offset", pa.int64()), ("record_id", text), ("fetched", text)])
    types = {"url": text, "canonical_url": text, "site": text, "title": text, "authors": texts,
             "published": text, "updated": text, "section": text, "tags": texts, "image": text,
             "language": text, "body": text, "pages": pa.int32(), "extractor": text, "source": source,
             "built_by": pa.struct([("rules", text), ("fallbacks", texts)])}
    required = {"url", "site", "title", "body", "extractor", "language", "pages", "authors", "tags", "source",
                "built_by"}
    return pa.schema([pa.field(key, types[key], nullable=key not in required) for key in ARTICLE_KEYS])


def parquet_schema() -> Any:
    """The Article record as Arrow columns (README, "Cluster replay"); pyarrow is imported here,
    so a JSONL replay does not need it."""
    return _schema()


def articles_table(rows: Sequence[Mapping[str, Any]]) -> Any:
    import pyarrow as pa

    return pa.Table.from_pylist(list(rows), schema=_schema())


def read_shard(path: Path) -> list[dict[str, Any]]:
    """The Article records of a JSONL or Parquet shard, as ``Article.to_dict`` gives them."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return [dict(row) for row in pq.read_table(path).to_pylist()]
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
