"""The layers of DESIGN.md, checked on the import graph drawn from the code.

Every module under ``nlquery/`` and ``connectors/`` is parsed with :mod:`ast`; every
``import`` counts, at module level or inside a function (a lazy import is still a
dependency), ``if TYPE_CHECKING:`` ones included (a type-only import of a higher layer
is how a mixin cycle hides). ``from pkg import name`` is an edge to ``pkg.name`` when
that is a module, else to ``pkg``. The implicit import of a parent package
(``import nlquery.errors`` runs ``nlquery/__init__``) is not an edge: only what a module
names itself.

What is checked:

* no cycle among the modules of ``nlquery`` (or ``connectors``);
* ``connectors`` never imports ``nlquery``;
* layers descend: front-ends -> the package root and demo -> engine -> planner/catalog
  -> guard/semantic -> base helpers -> connectors (see ``LAYERS``); a module imports
  its own layer or lower ones only;
* front-ends (``nlquery/cli.py``, ``nlquery/commands/``, ``nlquery/service/``,
  ``nlquery/mcp*``) import other front-end modules and ``FRONT_END_MAY_IMPORT`` only,
  never ``nlquery.catalog``, ``nlquery.planner``, ``nlquery.guard``, ``nlquery.semantic``
  or ``connectors``;
* no front-end touches the Engine's private state or its catalog: no attribute
  ``x._name`` or ``x.catalog`` on anything but ``self``/``cls`` (nor through ``getattr``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("nlquery", "connectors")

FRONT_ENDS = ("nlquery.cli", "nlquery.commands", "nlquery.service", "nlquery.mcp")

# What a front-end may import besides other front-end modules, and why.
FRONT_END_MAY_IMPORT = {
    "nlquery": "the package's public names (Engine, validate_sql, NLQueryError)",
    "nlquery.engine": "the one door",
    "nlquery.errors": "the error classes front-ends catch and render (code, HTTP status)",
    "nlquery.principal": "who is asking: the value a front-end builds from a token and passes as tenant=; "
                         "scope names for `nlquery tokens`",
    "nlquery.audit": "the request's audit record (new_entry, current_entry, note): the front-end opens it, "
                     "the Engine fills it in",
    "nlquery.paths": "where NLQUERY_HOME is (doctor, the MCP server's defaults)",
    "nlquery.encoding": "rendering results the Engine returned as JSON, CSV and Arrow",
    "nlquery.streaming": "the type of the stream Engine.stream returns (annotations)",
    "nlquery.chart": "rendering an answer as a chart (SVG/PNG)",
    "nlquery.demo": "the demo shop, built through the Engine's public methods",
    "nlquery.names": "the shared 'did you mean' scorer for messages",
}

# Layer of each module, by longest matching prefix: a module imports its own layer or lower.
LAYERS = {
    "nlquery.cli": 6, "nlquery.commands": 6, "nlquery.service": 6, "nlquery.mcp": 6,
    "nlquery": 5, "nlquery.demo": 5,
    "nlquery.engine": 4, "nlquery.asking": 4, "nlquery.extraction": 4, "nlquery.breaker": 4,
    "nlquery.audit": 4,
    "nlquery.planner": 3, "nlquery.catalog": 3, "nlquery.streaming": 3,
    "nlquery.guard": 2, "nlquery.semantic": 2, "nlquery.principal": 2,
    "nlquery.errors": 1, "nlquery.names": 1, "nlquery.paths": 1, "nlquery.encoding": 1,
    "nlquery.chart": 1, "nlquery.shop": 1,
    "connectors": 0,
}
LAYER_NAMES = {6: "front-end", 5: "package root", 4: "engine", 3: "planner/catalog", 2: "guard/semantic",
               1: "base helpers", 0: "connectors"}


# -- drawing the graph ------------------------------------------------------------------------
def module_files(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the two packages."""
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports_of(module: str, source: str, *, is_package: bool, known: Iterable[str]) -> set[str]:
    """The modules ``source`` (the text of ``module``) imports, anywhere in it."""
    known = set(known)
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                full = f"{target}.{alias.name}"
                found.add(full if full in known else target)
    return found


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the modules of the two packages it imports."""
    files = module_files(root)
    graph = {}
    for module, path in files.items():
        targets = imports_of(module, path.read_text(encoding="utf-8"), is_package=path.name == "__init__.py",
                             known=files)
        graph[module] = {t for t in targets if t.split(".")[0] in PACKAGES and t != module}
    return graph


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """One import cycle (``[a, b, ..., a]``), or None."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start)
            if cycle:
                return cycle
    return None


def in_package(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def layer_of(module: str) -> int | None:
    matches = [p for p in LAYERS if in_package(module, p)]
    return LAYERS[max(matches, key=len)] if matches else None


def is_front_end(module: str) -> bool:
    return any(in_package(module, p) or (p == "nlquery.mcp" and module.startswith("nlquery.mcp"))
               for p in FRONT_ENDS)


def private_reach(source: str) -> list[str]:
    """``x._private`` / ``x.catalog`` on anything but ``self``/``cls``, and ``getattr(x, "_...")``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute):
            private = node.attr.startswith("_") and not (node.attr.startswith("__") and node.attr.endswith("__"))
            if (private or node.attr == "catalog") and not (
                    isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in ("getattr", "setattr", "hasattr") and len(node.args) >= 2
              and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)
              and (node.args[1].value.startswith("_") or node.args[1].value == "catalog")):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return sorted(found, key=lambda line: int(line.split(":")[0].split()[1]))


GRAPH = import_graph()
FILES = module_files()


# -- the checker can fail -----------------------------------------------------------------------
def test_the_checker_sees_function_level_relative_and_type_only_imports():
    source = ("from typing import TYPE_CHECKING\n"
              "if TYPE_CHECKING:\n    from nlquery.engine import Engine\n"
              "def later():\n    import nlquery.catalog\n    from . import guard\n"
              "from .planner import linking\n")
    known = {"nlquery.engine", "nlquery.catalog", "nlquery.guard", "nlquery.planner", "nlquery.planner.linking"}
    assert imports_of("nlquery.asking", source, is_package=False, known=known) == {
        "typing", "nlquery.engine", "nlquery.catalog", "nlquery.guard", "nlquery.planner.linking"}


def test_the_checker_finds_a_cycle_and_private_reach():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert private_reach("engine._lookup('x')\nself._ok\ne.catalog.get_source('x')\ngetattr(e, '_pool')\n") == [
        "line 1: engine._lookup", "line 3: e.catalog", "line 4: getattr(e, '_pool')"]


def test_the_graph_is_drawn_from_the_code():
    assert "nlquery.engine" in GRAPH["nlquery.commands.common"]
    assert "connectors.errors" in GRAPH["nlquery.errors"]
    assert len(GRAPH) > 50


# -- the rules ----------------------------------------------------------------------------------
def test_no_import_cycle():
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_connectors_never_import_nlquery():
    bad = {m: sorted(t for t in targets if in_package(t, "nlquery"))
           for m, targets in GRAPH.items() if in_package(m, "connectors")}
    assert {m: t for m, t in bad.items() if t} == {}


def test_every_module_has_a_layer():
    assert [m for m in GRAPH if layer_of(m) is None] == [], "place new modules in LAYERS"


def test_layers_descend():
    upward = []
    for module, targets in sorted(GRAPH.items()):
        mine = layer_of(module)
        for target in sorted(targets):
            theirs = layer_of(target)
            if mine is not None and theirs is not None and theirs > mine:
                upward.append(f"{module} ({LAYER_NAMES[mine]}) imports {target} ({LAYER_NAMES[theirs]})")
    assert upward == []


def test_front_ends_import_only_the_engine_and_shared_helpers():
    front_ends = [m for m in GRAPH if is_front_end(m)]
    assert {"nlquery.cli", "nlquery.mcp", "nlquery.service.app", "nlquery.commands.sources"} <= set(front_ends)
    bad = []
    for module in sorted(front_ends):
        for target in sorted(GRAPH[module]):
            if not (is_front_end(target) or target in FRONT_END_MAY_IMPORT):
                bad.append(f"{module} imports {target}")
    assert bad == []


@pytest.mark.parametrize("module", sorted(m for m in FILES if is_front_end(m)))
def test_front_ends_never_touch_private_state_or_the_catalog(module):
    assert private_reach(FILES[module].read_text(encoding="utf-8")) == []


def test_asking_is_composed_not_mixed_in_and_the_catalog_is_private(tmp_path):
    from nlquery import Engine
    from nlquery.asking import Questions

    assert Questions not in Engine.__mro__
    assert not hasattr(Engine, "catalog")
    with Engine(home=tmp_path) as engine:
        assert isinstance(engine.questions, Questions)
        assert not hasattr(engine, "catalog")
        assert engine.list_sources() == []


def test_connector_modules_are_named_after_their_type_names():
    from connectors.registry import BUILTIN, connector_class

    for type_name, target in BUILTIN.items():
        assert target.partition(":")[0] == f"connectors.{type_name}"
        assert connector_class(type_name).type_name == type_name
