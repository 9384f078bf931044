"""The deep package's shape: leaf modules, no import cycle, torch only when used."""

import ast
import subprocess
import sys
from pathlib import Path

import microlab.deep

PACKAGE = Path(microlab.deep.__file__).parent


def deep_imports(path: Path) -> set[str]:
    """Modules of microlab.deep that ``path`` imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:  # from .x import y / from . import x
                names = [node.module] if node.module else [a.name for a in node.names]
            elif node.level == 0 and (node.module or "").startswith("microlab.deep."):
                names = [node.module.removeprefix("microlab.deep.")]
            else:
                names = []
        elif isinstance(node, ast.Import):
            names = [a.name.removeprefix("microlab.deep.") for a in node.names
                     if a.name.startswith("microlab.deep.")]
        else:
            continue
        found.update(name.split(".")[0] for name in names)
    return found


def import_graph() -> dict[str, set[str]]:
    return {path.stem: deep_imports(path) for path in PACKAGE.glob("*.py")
            if path.stem != "__init__"}


def test_deep_modules_import_each_other_without_a_cycle():
    graph = import_graph()
    done: list[str] = []
    visiting: list[str] = []

    def visit(name):
        assert name not in visiting, f"import cycle: {' -> '.join([*visiting, name])}"
        if name in done:
            return
        visiting.append(name)
        for other in sorted(graph[name]):
            visit(other)
        visiting.pop()
        done.append(name)

    for name in sorted(graph):
        visit(name)
    assert set(done) == set(graph)


def test_leaf_modules_and_pretraining_on_top():
    graph = import_graph()
    for leaf in ("runtime", "network", "module", "curves"):  # network.py travels alone
        assert graph[leaf] == set(), f"{leaf} should import no other deep module"
    assert not [name for name, uses in graph.items() if "pretrain" in uses]
    assert "unet" not in set().union(*(uses for name, uses in graph.items() if name != "pretrain"))


def test_importing_the_deep_tier_does_not_import_torch():
    code = ("import sys, microlab.deep, microlab.deep.unet, microlab.deep.weights, "
            "microlab.deep.pretrain; print(sorted(m for m in ('torch', 'lightning') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
