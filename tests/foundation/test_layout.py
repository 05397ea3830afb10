"""The layout stays honest: each package imports only the layers below it, no import cycle, no
oversized module, and the README's folder table names every top-level package."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "models": {"core"},
    "contracts": {"core"},
    "relayer": {"core", "models", "contracts"},
    "payments": {"core", "models"},
    "activities": {"core", "models", "contracts", "relayer", "payments"},
    "workflows": {"models"},
    "temporal": {"core", "models", "contracts", "relayer", "payments", "activities", "workflows"},
    "api": {"core", "models", "payments", "temporal"},
    "sandbox": {"core", "payments"},
    "cli": {
        "core",
        "models",
        "contracts",
        "relayer",
        "payments",
        "activities",
        "workflows",
        "temporal",
        "api",
        "sandbox",
        "ops",
    },
    "ops": {
        "core",
        "models",
        "contracts",
        "relayer",
        "payments",
        "activities",
        "workflows",
        "temporal",
        "api",
        "sandbox",
    },
}
MAX_LINES = 400
EXEMPT = ("core/migrations/",)


def _modules() -> dict[str, Path]:
    out = {}
    for package in ALLOWED:
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            if any(rel.startswith(e) for e in EXEMPT):
                continue
            name = rel.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
            out[name] = path
    return out


def _top_level_imports(path: Path) -> set[str]:
    """Module-level imports (not those inside functions or `if TYPE_CHECKING:`)."""
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in tree.body:
        nodes = node.body if isinstance(node, ast.With) else [node]  # workflows: imports_passed_through()
        for n in nodes:
            if isinstance(n, ast.Import):
                names |= {a.name for a in n.names}
            elif isinstance(n, ast.ImportFrom) and n.module and n.level == 0:
                names.add(n.module)
                names |= {f"{n.module}.{a.name}" for a in n.names}
    return names


def test_each_package_imports_only_the_layers_below_it():
    problems = []
    for name, path in _modules().items():
        package = name.split(".")[0]
        for imported in _top_level_imports(path):
            top = imported.split(".")[0]
            if top in ALLOWED and top != package and top not in ALLOWED[package]:
                problems.append(f"{name} imports {imported}")
    assert problems == []


def test_no_import_cycle_between_modules():
    modules = _modules()
    graph = {
        name: {
            m
            for m in (i if i in modules else i.rsplit(".", 1)[0] for i in _top_level_imports(path))
            if m in modules and m != name
        }
        for name, path in modules.items()
    }
    # A package __init__ that re-exports its own modules is not a cycle through them.
    for name in graph:
        graph[name] = {m for m in graph[name] if not (m.startswith(name + ".") or name.startswith(m + "."))}
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, stack: list[str]) -> bool:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle.extend([*stack[stack.index(nxt) :], node, nxt] if nxt in stack else [node, nxt])
                return True
            if state.get(nxt) is None and visit(nxt, [*stack, node]):
                return True
        state[node] = 2
        return False

    for node in sorted(graph):
        if state.get(node) is None and visit(node, []):
            break
    assert cycle == []


def test_no_module_over_the_size_limit():
    too_big = {name: n for name, path in _modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert too_big == {}


def test_readme_folder_table_names_every_top_level_package():
    text = (ROOT / "README.md").read_text()
    table = text[text.index("<!-- folder-table:start") : text.index("<!-- folder-table:end")]
    listed = set(re.findall(r"^\| `([a-z_]+)/` \|", table, flags=re.M))
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    assert listed == packages
