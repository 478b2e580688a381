"""The layout's arrows point one way: no module imports itself back, and the layers only look down.

The graph is read from the source (``ast``): every import, function-level ones included, since a
lazy import is still a dependency; imports under ``if TYPE_CHECKING:`` are left out (they are
annotations, never executed).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "yanex"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(REPO_ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _owner(name: str) -> str | None:
    """The yanex module ``name`` is, or is in (``yanex.store.reading.reading`` -> its module)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _run_time_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def _imports(module: str) -> set[str]:
    found: set[str] = set()
    for node in _run_time_nodes(ast.parse(MODULES[module].read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        found |= {owner for name in names if (owner := _owner(name)) not in (None, module)}
    return found


GRAPH = {module: _imports(module) for module in MODULES}


def _cycles() -> list[list[str]]:
    """The graph's strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in GRAPH[module]:
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    return cycles


def test_no_module_imports_itself_back() -> None:
    assert _cycles() == []


# Layers that must not import these (the arrows of docs/design.md point the other way).
BELOW = {
    "yanex.db": (
        "yanex.store",
        "yanex.supervisor",
        "yanex.runner",
        "yanex.executors",
        "yanex.cli",
        "yanex.sweep",
        "yanex.ui",
    ),
    "yanex.store": (
        "yanex.importers",
        "yanex.supervisor",
        "yanex.runner",
        "yanex.executors",
        "yanex.cli",
        "yanex.sweep",
        "yanex.ui",
    ),
    # Other trackers' readers sit on the store, which writes what they read and imports it.
    "yanex.importers": (
        "yanex.supervisor",
        "yanex.runner",
        "yanex.executors",
        "yanex.cli",
        "yanex.sweep",
        "yanex.ui",
    ),
    "yanex.supervisor": ("yanex.runner", "yanex.executors", "yanex.cli", "yanex.sweep", "yanex.ui"),
    "yanex.executors": ("yanex.runner", "yanex.cli", "yanex.ui"),
    "yanex.runner": ("yanex.cli", "yanex.ui"),
    # The web view sits beside the CLI at the top (the ui command imports it): it reads the store,
    # and expands a stored sweep's plan (yanex.sweep's pure modules), never running or resuming one.
    "yanex.ui": (
        "yanex.cli",
        "yanex.runner",
        "yanex.executors",
        "yanex.supervisor",
        "yanex.sweep.resume",
        "yanex.sweep.api",
    ),
}


@pytest.mark.parametrize("layer", sorted(BELOW))
def test_a_layer_imports_only_what_is_below_it(layer: str) -> None:
    wrong = sorted(
        f"{module} imports {imported}"
        for module, imported_modules in GRAPH.items()
        if module == layer or module.startswith(layer + ".")
        for imported in imported_modules
        if imported.startswith(BELOW[layer])
    )
    assert wrong == []


def test_only_the_cli_imports_the_package_facade() -> None:
    """``yanex/__init__.py`` loads the runner and the API lazily: a module below the CLI that
    imports it (as runner.environment did, for ``__version__``) closes a circle through it."""
    importers = [module for module, imported in GRAPH.items() if "yanex" in imported]
    assert sorted(module for module in importers if not module.startswith("yanex.cli")) == []


def test_only_the_ui_command_imports_the_web_view() -> None:
    """``yanex.ui`` loads only when ``yanex ui`` runs: no other command's start-up pays for it."""
    importers = sorted(
        module
        for module, imported in GRAPH.items()
        if not module.startswith("yanex.ui") and any(name.startswith("yanex.ui") for name in imported)
    )
    assert importers == ["yanex.cli.ui"]


def test_the_graph_sees_lazy_imports() -> None:
    """The walk is not blind to imports inside functions (most of yanex's are)."""
    assert "yanex.store.reconcile" in GRAPH["yanex.store.reading"]
