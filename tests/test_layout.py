"""The package's layout holds: every module imports, layers point one way (a lower subpackage never
imports a higher one, and two subpackages of one rank never import each other), there is no import
cycle, no import hides inside a function to dodge one, and no function is longer than a screen."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "diffusion"

# Bottom to top. Top-level modules (the thin command lines and the package's __init__) sit above all.
RANKS = {
    "common": 0,
    "model": 1,
    "data": 1,
    "prompts": 2,
    "sampling": 3,
    "training": 4,
    "evaluation": 5,
    "ui": 5,
}
TOP = max(RANKS.values()) + 1

# Imports that stay inside a function on purpose, none of them to dodge a cycle: the package's public
# name loads torch and diffusers only when asked for; CIFAR-10's reader loads torchvision only when used.
LAZY_IMPORTS = {
    ("diffusion", "diffusion.sampling.pipeline"),
    ("diffusion.data.datasets", "diffusion.data.cifar"),
}
MAX_FUNCTION_LINES = 80


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> str | None:
    """The subpackage a module belongs to; None for the top-level modules."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in RANKS else None


def rank(module: str) -> int:
    name = layer(module)
    return TOP if name is None else RANKS[name]


def imports(module: str, source: str, is_package: bool) -> list[tuple[str, bool]]:
    """(imported diffusion module, whether the import is inside a function) for every import."""
    here = module.split(".") if is_package else module.split(".")[:-1]
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.ImportFrom):
                base = here[: len(here) - child.level + 1] if child.level else []
                target = ".".join(base + ([child.module] if child.module else []))
                for alias in child.names:
                    # `from . import cifar` imports the module diffusion.data.cifar
                    whole = f"{target}.{alias.name}"
                    found.append((whole if whole in MODULES else target, in_function))
            elif isinstance(child, ast.Import):
                found.extend((alias.name, in_function) for alias in child.names)
            visit(child, nested)

    visit(ast.parse(source), False)
    return [(target, lazy) for target, lazy in found if target == "diffusion" or target.startswith("diffusion.")]


def layer_violations(module: str, targets: list[str]) -> list[str]:
    """The imports of `module` that point up, or sideways into another subpackage of the same rank. The
    top-level modules (the thin command lines) may import any layer."""
    if layer(module) is None:
        return []
    return [
        f"{module} imports {target}"
        for target in targets
        if layer(target) != layer(module) and rank(target) >= rank(module)
    ]


def module_imports() -> dict[str, list[tuple[str, bool]]]:
    return {name: imports(name, path.read_text(), path.name == "__init__.py") for name, path in MODULES.items()}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_imports(module):
    importlib.import_module(module)


def test_every_module_belongs_to_a_layer_or_is_a_thin_command_line():
    top_level = {name for name in MODULES if layer(name) is None}
    assert top_level == {"diffusion", "diffusion.train", "diffusion.distill", "diffusion.sample", "diffusion.evaluate"}
    for name in top_level - {"diffusion"}:
        tree = ast.parse(MODULES[name].read_text())
        functions = [node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
        assert not functions, f"{name} should only import its command's main from the layer that owns it"


def test_layers_point_one_way():
    bad = []
    for module, found in module_imports().items():
        bad += layer_violations(module, [target for target, _ in found])
    assert not bad, "imports against the layers:\n" + "\n".join(bad)


def test_the_layer_check_sees_an_upward_import():
    assert layer_violations("diffusion.model.unet", ["diffusion.sampling.pipeline"])
    assert layer_violations("diffusion.ui.state", ["diffusion.evaluation.run"])
    assert layer_violations("diffusion.prompts.grounding", ["diffusion"])
    assert not layer_violations("diffusion.sampling.pipeline", ["diffusion.model.unet", "diffusion.sampling.settings"])
    assert not layer_violations("diffusion.train", ["diffusion.training.train"])


def test_no_import_hides_inside_a_function():
    hidden = [
        f"{module} imports {target} inside a function"
        for module, found in module_imports().items()
        for target, lazy in found
        if lazy and (module, target) not in LAZY_IMPORTS
    ]
    assert not hidden, "\n".join(hidden)


def test_no_import_cycles():
    graph = {
        module: {target for target, lazy in found if not lazy and target in MODULES and target != module}
        for module, found in module_imports().items()
    }
    done, cycles = set(), []

    def walk(module: str, path: list[str]) -> None:
        if module in path:
            cycles.append(" -> ".join([*path[path.index(module) :], module]))
            return
        if module in done:
            return
        for target in sorted(graph[module]):
            walk(target, [*path, module])
        done.add(module)

    for module in sorted(graph):
        walk(module, [])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_no_function_is_longer_than_a_screen():
    long = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name}: {lines} lines")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(long)
