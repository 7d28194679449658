"""Layering: what importing each crawler module pulls in, and no import cycles.

Each module is imported in an interpreter of its own (a fresh ``python`` that forks a clean
child per module: nothing of the crawler is loaded before), and the modules it loaded are
checked against the layers:

* ``crawler.config`` (and the site profile schema) loads no extraction code and no HTML parser;
* ``crawler.warc`` loads nothing above it: only itself and the values below it;
* ``crawler.peers`` does not load the crawl loop (the loop starts the peers, not the reverse);
* the import graph of the package (module-level and function-level imports, not those under
  ``TYPE_CHECKING``) has no cycle, read from the source.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "crawler"
BELOW_WARC = {"crawler", "crawler.atomic", "crawler.errors", "crawler.models", "crawler.decode",
              "crawler.faults"}

_PROBE = """
import json, os, sys
names = json.loads(sys.argv[1])
result = {}
for name in names:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        __import__(name)
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("crawler", "selectolax", "httpx"))
        os.write(write, json.dumps(loaded).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        text = pipe.read()
    _, status = os.waitpid(pid, 0)
    result[name] = json.loads(text) if status == 0 and text else None
print(json.dumps(result))
"""


def _module_names() -> dict[str, Path]:
    names = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


MODULES = _module_names()


@pytest.fixture(scope="module")
def loaded() -> dict[str, list[str]]:
    """For every crawler module: the crawler, selectolax and httpx modules importing it loads."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(sorted(MODULES))],
        capture_output=True, text=True, check=True, cwd=REPO, timeout=300,
    )
    result: dict[str, list[str] | None] = json.loads(done.stdout)
    failed = sorted(name for name, mods in result.items() if mods is None)
    assert not failed, f"these modules fail to import on their own: {failed}"
    return {name: mods for name, mods in result.items() if mods is not None}


@pytest.mark.parametrize("name", ["crawler.config", "crawler.profile"])
def test_the_config_loads_no_extraction_and_no_parser(loaded: dict[str, list[str]], name: str) -> None:
    heavy = [m for m in loaded[name] if m.startswith(("crawler.extract", "selectolax", "httpx"))]
    assert not heavy, f"import {name} loads {heavy}: import them where they are used"


def test_the_warc_package_loads_nothing_above_it(loaded: dict[str, list[str]]) -> None:
    for name in (n for n in MODULES if n == "crawler.warc" or n.startswith("crawler.warc.")):
        above = [m for m in loaded[name]
                 if m.startswith("crawler") and not m.startswith("crawler.warc") and m not in BELOW_WARC]
        assert not above, f"import {name} loads {above}: crawler.warc may use only {sorted(BELOW_WARC)}"


def test_extraction_alone_loads_no_network_or_archive_code(loaded: dict[str, list[str]]) -> None:
    for name in ("crawler", "crawler.extract", "crawler.assemble"):
        heavy = [m for m in loaded[name] if m.startswith(("httpx", "crawler.warc", "crawler.pipeline"))]
        assert not heavy, f"import {name} loads {heavy}"


def test_process_management_depends_on_the_loop_never_the_reverse(loaded: dict[str, list[str]]) -> None:
    """``crawler.loop`` knows the peers only as a ``Coordinator``; ``crawler.peers`` runs loops;
    ``crawler.pipeline`` joins the two."""
    assert "crawler.peers" not in loaded["crawler.loop"] and "crawler.pipeline" not in loaded["crawler.loop"]
    assert "crawler.loop" in loaded["crawler.peers"] and "crawler.pipeline" not in loaded["crawler.peers"]


def test_the_loops_parts_do_not_load_the_loop(loaded: dict[str, list[str]]) -> None:
    parts = ("crawler.durability", "crawler.archivedir", "crawler.crawlrun", "crawler.frontier_protocol",
             "crawler.reporting", "crawler.interrupts", "crawler.worker", "crawler.linkpolicy")
    for part in parts:
        above = [m for m in loaded[part] if m in ("crawler.loop", "crawler.pipeline", "crawler.peers")]
        assert not above, f"import {part} loads {above}"
    assert "crawler.frontier_redis" not in loaded["crawler.frontier_protocol"]  # opened when asked for


def _imports(name: str, path: Path) -> set[str]:
    """The crawler modules ``name`` imports at run time (any depth, not under TYPE_CHECKING)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names if alias.name in MODULES)
            elif isinstance(child, ast.ImportFrom) and child.module and not child.level:
                for alias in child.names:
                    full = f"{child.module}.{alias.name}"
                    found.add(full if full in MODULES else child.module)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return {module for module in found if module in MODULES and module != name}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (as a path that ends where it starts), or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (found := walk(target)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := walk(start)) is not None:
            return found
    return None


def test_no_import_cycles_among_crawler_modules() -> None:
    graph = {name: _imports(name, path) for name, path in MODULES.items()}
    assert graph["crawler.pipeline"], "the import graph was read"
    cycle = _cycle(graph)
    assert cycle is None, f"import cycle: {' -> '.join(cycle or [])}"


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
