"""No import circle inside llmdeck_nb.

Every module is read with :mod:`ast` (nothing is imported) and every import counts: module
level, inside functions, under ``if TYPE_CHECKING:``, relative, and ``from pkg import sub``
where ``sub`` is a submodule. A package's lazy exports (``lazy_getattr(__name__, _EXPORTS,
...)``, see llmdeck_nb/lazy.py) are edges from the package to the module that defines the
name; ``from pkg import Name`` of a lazy name is an edge to that module. A module's implicit
import of its parent packages is not an edge (the packages' ``__init__`` import nothing but
their lazy map), so a package is never a way back.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

PACKAGE = "llmdeck_nb"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE

def module_names(root: Path = ROOT, package: str = PACKAGE) -> dict[str, Path]:
    """Dotted name -> file, for every module and package of the tree at ``root``."""
    names: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    assert package in names
    return names


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _base(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The module a ``from ... import`` names, relative levels resolved."""
    if not node.level:
        return node.module or ""
    package = module.split(".") if _is_package(path) else module.split(".")[:-1]
    anchor = package[: len(package) - (node.level - 1)]
    return ".".join([*anchor, node.module] if node.module else anchor)


def lazy_exports(tree: ast.Module) -> dict[str, str]:
    """The ``name -> module`` map a package hands to ``lazy_getattr`` (empty if none)."""
    literals = {target.id: node.value for node in tree.body if isinstance(node, ast.Assign)
                for target in node.targets if isinstance(target, ast.Name)}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "lazy_getattr"):
            mapping = node.args[1]
            if isinstance(mapping, ast.Name):
                mapping = literals[mapping.id]
            exports = ast.literal_eval(mapping)
            assert isinstance(exports, dict), "lazy_getattr takes a literal name -> module map"
            return exports
    return {}


def imports_of(module: str, path: Path, modules: Mapping[str, Path]) -> Iterator[str]:
    """The package modules ``module`` imports, wherever in the file the import is."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    yield from lazy_exports(tree).values()
    lazy = {name: lazy_exports(ast.parse(modules[name].read_text(encoding="utf-8")))
            for name in modules if _is_package(modules[name])}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _base(module, path, node)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in modules:
                    yield sub
                else:
                    yield lazy.get(base, {}).get(alias.name, base)


def import_graph(modules: Mapping[str, Path]) -> dict[str, set[str]]:
    """Module -> the package modules it imports (itself and outside modules left out)."""
    return {name: {target for target in imports_of(name, path, modules)
                   if target in modules and target != name}
            for name, path in modules.items()}


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """One circle per strongly connected component of more than one module (Tarjan),
    written ``a -> b -> ... -> a`` along real edges."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_circle(graph, component) for component in components]


def _circle(graph: Mapping[str, set[str]], component: set[str]) -> list[str]:
    """A shortest path from the component's first module back to itself."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node] & component):
                if target == start:
                    return [*paths[node], start]
                if target not in paths:
                    paths[target] = [*paths[node], target]
                    following.append(target)
        frontier = following
    raise AssertionError(f"not a circle: {sorted(component)}")


def _describe(circles: list[list[str]]) -> str:
    return "\n".join(" -> ".join(circle) for circle in circles)


def test_no_module_of_the_package_imports_itself_back_through_others() -> None:
    found = cycles(import_graph(module_names()))
    assert not found, "import circles inside llmdeck_nb:\n" + _describe(found)


# --- the walker itself, on small trees written for each kind of import ------------------


def _tree(tmp_path: Path, files: Mapping[str, str]) -> dict[str, set[str]]:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return import_graph(module_names(tmp_path / "pkg", "pkg"))


@pytest.mark.parametrize("importer", [
    "import pkg.b\n",
    "from pkg import b\n",
    "from . import b\n",
    "from .b import thing\n",
    "def f():\n    from pkg.b import thing\n",
    "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import Thing\n",
])
def test_every_kind_of_import_is_an_edge(tmp_path: Path, importer: str) -> None:
    graph = _tree(tmp_path, {"pkg/__init__.py": "", "pkg/a.py": importer,
                             "pkg/b.py": "from pkg.a import x\n"})
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.a"]]


def test_a_relative_import_in_a_subpackage_resolves_from_that_package(tmp_path: Path) -> None:
    graph = _tree(tmp_path, {"pkg/__init__.py": "", "pkg/sub/__init__.py": "from .. import c\n",
                             "pkg/sub/a.py": "from ..c import thing\n", "pkg/c.py": ""})
    assert graph["pkg.sub.a"] == {"pkg.c"}
    assert graph["pkg.sub"] == {"pkg.c"}


def test_lazy_exports_are_edges_from_the_package_only(tmp_path: Path) -> None:
    package = ('from pkg.lazy import lazy_getattr\n_EXPORTS = {"Thing": "pkg.b"}\n'
               "__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())\n")
    graph = _tree(tmp_path, {"pkg/__init__.py": package, "pkg/lazy.py": "",
                             "pkg/a.py": "from pkg import Thing\n", "pkg/b.py": "import os\n"})
    assert graph["pkg"] == {"pkg.lazy", "pkg.b"}
    assert graph["pkg.a"] == {"pkg.b"}  # the lazy name leads to its module
    assert cycles(graph) == []


def test_a_name_defined_in_a_package_is_an_edge_to_the_package(tmp_path: Path) -> None:
    graph = _tree(tmp_path, {"pkg/__init__.py": "from pkg.b import x\n", "pkg/a.py": "",
                             "pkg/b.py": "from pkg import version\n"})
    assert cycles(graph) == [["pkg", "pkg.b", "pkg"]]
