"""Fails when a package imports one above it, or when modules import each other in a cycle.

The layers are docs/architecture.md's diagram in code: a package may import only packages of a lower
rank (and itself). Run it from anywhere: `python .ci/import_direction.py`; exit 0 clean, 1 violations.
Imports under `if TYPE_CHECKING:` count too (they are still a dependency a reader follows).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Lower rank = nearer the database. Same rank: independent siblings that never import each other.
RANKS: dict[str, int] = {
    "catalog": 0,
    "settings": 0,
    "logging_setup": 1,
    "contract": 1,
    "db": 2,
    "services": 3,
    "jobs": 4,
    "components": 4,
    "simulator": 4,
    "trainer": 4,
    "api": 5,
    "pages": 6,
    "app": 7,
    "cli": 8,
}
# Not product code: they may import anything, and nothing in the product imports them.
OUTSIDE = ("tests", "benchmarks", ".ci", ".venv", ".venv-trainer", "db/migrations")


def product_modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the ranked packages."""
    modules: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if relative.as_posix().startswith(OUTSIDE) or relative.parts[0] not in RANKS:
            continue
        parts = list(relative.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imported_names(path: Path, module: str) -> Iterator[tuple[str, int]]:
    """(dotted name, line) of every import in the file, relative ones resolved."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base, node.lineno
            for alias in node.names:  # `from pages.monitor import ids` imports the module pages.monitor.ids
                yield f"{base}.{alias.name}", node.lineno


def dependencies(modules: dict[str, Path]) -> dict[str, dict[str, int]]:
    """Module -> {product module it imports: first line}."""
    graph: dict[str, dict[str, int]] = {}
    for module, path in modules.items():
        edges: dict[str, int] = {}
        for name, line in imported_names(path, module):
            if name in modules and name != module:
                edges.setdefault(name, line)
        graph[module] = edges
    return graph


def upward_imports(
    graph: dict[str, dict[str, int]], modules: dict[str, Path], root: Path = ROOT
) -> list[str]:
    problems = []
    for module, edges in graph.items():
        source = module.split(".")[0]
        reported: set[tuple[str, int]] = set()
        for target, line in edges.items():
            destination = target.split(".")[0]
            if (destination, line) in reported:  # `from pkg import module` names pkg and pkg.module
                continue
            if destination != source and RANKS[destination] >= RANKS[source]:
                reported.add((destination, line))
                where = modules[module].relative_to(root)
                problems.append(
                    f"{where}:{line}: {source} (rank {RANKS[source]}) imports {target} "
                    f"(rank {RANKS[destination]}); only lower ranks may be imported"
                )
    return problems


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Every strongly connected set of two or more modules (Tarjan), each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, {}):
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
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def problems_in(root: Path = ROOT) -> tuple[list[str], dict[str, dict[str, int]]]:
    """Every upward import and import cycle under `root`, and the module graph they came from."""
    modules = product_modules(root)
    graph = dependencies(modules)
    problems = upward_imports(graph, modules, root)
    problems += [f"import cycle: {' <-> '.join(members)}" for members in cycles(graph)]
    return problems, graph


def main() -> int:
    problems, graph = problems_in()
    for problem in problems:
        print(problem)
    edges = sum(len(edges) for edges in graph.values())
    print(f"import direction: {len(graph)} modules, {edges} imports, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
