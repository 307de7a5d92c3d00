"""The layout: packages by layer, imports only downward, no import circle, small modules, heavy imports in their place.

The layer order is the one ``docs/architecture.md`` draws; every import in ``gradscope/`` is read from
the source (function-level and ``TYPE_CHECKING`` imports included) and held against it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gradscope"

#: The layers, bottom to top: a module may import its own layer and the ones before it.
LAYERS = (
    "i18n",
    "cells",
    "symbolic",
    "compile",
    "params",
    "engine",
    "analysis",
    "testing",
    "studies",
    "files",
    "figures",
    "gallery",
    "torch",
    "terminal",
    "notebook",
    "cli",
)
#: Modules at the top level: the shared base below every layer, and the faces above them all.
BASE = ("errors", "_version")
FACES = ("__init__", "__main__")
#: Generated code is exempt from the size limit.
GENERATED = {"compile/generated.py"}
MAX_LINES = 400

#: Which layers may import each heavy dependency (at any depth, lazily or not).
HEAVY = {
    "matplotlib": {"figures"},
    "sympy": {"cells", "symbolic", "compile"},
    "rich": {"terminal", "cli"},
    "typer": {"cli"},
    "torch": {"files", "testing", "torch"},
    "dask": {"studies"},
    "distributed": {"studies"},
}


def module_name(path: Path) -> str:
    """``gradscope.engine.products`` for ``gradscope/engine/products.py``; packages by their ``__init__``."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    """The layer index of a ``gradscope`` module: -1 for the base, ``len(LAYERS)`` for the faces."""
    parts = module.split(".")
    if len(parts) == 1:
        return len(LAYERS)  # the package itself: gradscope/__init__.py
    if parts[1] in BASE:
        return -1
    if parts[1] in FACES:
        return len(LAYERS)
    return LAYERS.index(parts[1])


def imports(path: Path, typing_only: bool = True) -> set[str]:
    """Every module ``path`` imports, absolute (relative imports resolved), at any depth of the file;
    without ``typing_only``, not those under ``if TYPE_CHECKING:`` (never run)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    if not typing_only:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
                node.body = []
    here = module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            # ``from gradscope.analysis import theory`` imports a submodule; other names come from the module itself.
            submodules = {f"{base}.{alias.name}" for alias in node.names if is_module(f"{base}.{alias.name}")}
            found |= submodules
            if len(submodules) < len(node.names):
                found.add(base)
    return found


def is_module(name: str) -> bool:
    """Whether ``name`` (``gradscope.x.y``) is a module or package of this source tree."""
    path = PACKAGE.parent / name.replace(".", "/")
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def sources() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def own_imports() -> dict[str, set[str]]:
    """The import graph of ``gradscope`` on its own modules (``gradscope.x.y`` names that are files or packages)."""
    modules = sources()
    graph = {}
    for name, path in modules.items():
        graph[name] = {target for target in imports(path) if target in modules and target != name}
    return graph


def test_the_top_level_holds_the_packages_and_nothing_else() -> None:
    files = {path.stem for path in PACKAGE.glob("*.py")}
    packages = {path.name for path in PACKAGE.iterdir() if path.is_dir() and (path / "__init__.py").exists()}
    assert files <= set(BASE) | set(FACES)
    assert packages == set(LAYERS)


def test_imports_only_run_downward() -> None:
    wrong = []
    for module, targets in own_imports().items():
        for target in targets:
            # A package's __init__ re-exports its own modules; anything else must not climb a layer.
            if layer_of(target) > layer_of(module):
                wrong.append(f"{module} -> {target}")
    assert not wrong, "imports against the layer order:\n" + "\n".join(sorted(wrong))


def test_no_import_circle() -> None:
    graph = own_imports()
    # A package imports its own modules through its __init__; the circle check follows modules only.
    graph = {m: {t for t in ts if not (m.startswith(t + ".") and t in graph)} for m, ts in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    assert not circles, f"import circles: {circles}"


def test_the_checks_can_fail() -> None:
    """The graph really is read: the engine imports the params layer, and the CLI the analysis."""
    graph = own_imports()
    assert "gradscope.params.layer" in graph["gradscope.engine.trajectory"]
    assert any(t.startswith("gradscope.analysis") for t in graph["gradscope.cli.profiles"])
    assert layer_of("gradscope.cli.app") > layer_of("gradscope.engine.products") > layer_of("gradscope.cells.spec")


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_stay_readable_in_one_sitting(path: Path) -> None:
    if str(path.relative_to(PACKAGE)) in GENERATED:
        return
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(PACKAGE)}: {lines} lines"


def test_heavy_dependencies_are_imported_only_in_their_layers() -> None:
    wrong = []
    for module, path in sources().items():
        layer = LAYERS[layer_of(module)] if 0 <= layer_of(module) < len(LAYERS) else None
        for target in imports(path, typing_only=False):
            top = target.split(".")[0]
            if top in HEAVY and layer not in HEAVY[top]:
                wrong.append(f"{module} imports {target}")
    assert not wrong, "\n".join(sorted(wrong))
