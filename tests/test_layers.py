"""The package's shape: each folder is one layer, imports point one way, and there are no cycles."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "videoae"
# Each layer imports only from the layers before it (shared modules sit at the top level).
LAYERS = ("shared", "data", "models", "evaluation", "reporting", "training", "cli")
ENTRY_POINTS = {"videoae", "videoae.__main__"}  # the package's front door may name any layer


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str) -> set[str]:
    """Every videoae module that ``path`` imports, at the top or inside functions."""
    found = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {module for module in found if module.split(".")[0] == "videoae"}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {name: {m for m in _imports(path, name) if m in modules and m != name} for name, path in modules.items()}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir()) else "shared"


def test_no_module_imports_itself_through_a_cycle(graph):
    visiting, done = set(), set()

    def visit(module: str, trail: list[str]) -> None:
        if module in done:
            return
        if module in visiting:
            cycle = trail[trail.index(module) :] + [module]
            pytest.fail(f"import cycle: {' -> '.join(cycle)}")
        visiting.add(module)
        for target in sorted(graph[module]):
            # importing a package runs its __init__, so a package's own modules do not count as a cycle
            if not module.startswith(target + "."):
                visit(target, trail + [module])
        visiting.discard(module)
        done.add(module)

    for module in sorted(graph):
        visit(module, [])


def test_every_layer_imports_only_from_the_layers_before_it(graph):
    wrong = []
    for module, targets in graph.items():
        if module in ENTRY_POINTS:
            continue
        rank = LAYERS.index(_layer(module))
        wrong += [f"{module} -> {target}" for target in targets if LAYERS.index(_layer(target)) > rank]
    assert not wrong, "imports against the layer order " + " < ".join(LAYERS) + ":\n" + "\n".join(sorted(wrong))


def test_only_the_command_line_prints():
    printing = []
    for path in PACKAGE.rglob("*.py"):
        if _layer(_module_name(path)) == "cli":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                printing.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not printing, f"print() outside cli/: {printing}"


def test_the_top_level_holds_at_most_seven_modules_beside_the_layer_folders():
    # the seventh is progress.py: the one progress helper, used from data/ (downloads) up to cli/
    modules = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(modules) <= 7, modules
    assert {path.name for path in PACKAGE.iterdir() if path.is_dir() and (path / "__init__.py").exists()} == set(LAYERS[1:])
