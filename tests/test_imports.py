"""No import cycles among nnd's modules.

Every `import` and `from ... import` statement counts, also one inside a
function: a lazy import still makes two modules depend on each other, and
it is one step from becoming a module-level cycle (the import order then
decides which of them sees the other half-initialized).
"""

import ast
import os
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _modules() -> dict[str, str]:
    """Module name -> file, for the packages pyproject.toml assembles `nnd` from."""
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        package_dirs = tomllib.load(f)["tool"]["setuptools"]["package-dir"]
    mods = {}
    for pkg, folder in package_dirs.items():
        for name in os.listdir(os.path.join(ROOT, folder)):
            if name.endswith(".py"):
                mod = pkg if name == "__init__.py" else f"{pkg}.{name[:-3]}"
                mods[mod] = os.path.join(ROOT, folder, name)
    return mods


def _imports(mod: str, path: str, mods: dict) -> dict[str, int]:
    """The nnd modules `mod` imports -> the line of the first such import."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    package = mod if path.endswith("__init__.py") else mod.rpartition(".")[0]
    out: dict[str, int] = {}
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in mods]
            # `from . import ast` imports a submodule; `from .x import y` imports x.
            targets = subs + ([base] if len(subs) < len(node.names) else [])
        for t in targets:
            if t in mods and t != mod:
                out.setdefault(t, node.lineno)
    return out


def _find_cycle(graph: dict) -> list[str] | None:
    state: dict[str, int] = {}   # 1 on the current path, 2 done
    path: list[str] = []

    def visit(m):
        state[m] = 1
        path.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return path[path.index(n):] + [n]
            if n not in state:
                found = visit(n)
                if found:
                    return found
        path.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def test_the_module_list_is_nnd():
    mods = _modules()
    assert {"nnd", "nnd.api", "nnd.elaborate", "nnd.layers", "nnd.passes", "nnd.runtime"} <= set(mods)
    # The relative imports resolve: elaborate imports its parts.
    assert {"nnd.statements", "nnd.expressions", "nnd.scope"} <= set(_imports("nnd.elaborate", mods["nnd.elaborate"], mods))


def test_no_import_cycles():
    mods = _modules()
    graph = {m: _imports(m, p, mods) for m, p in mods.items()}
    cycle = _find_cycle(graph)
    if cycle:
        steps = [f"{a} -> {b} ({os.path.relpath(mods[a], ROOT)}:{graph[a][b]})" for a, b in zip(cycle, cycle[1:])]
        raise AssertionError("import cycle:\n  " + "\n  ".join(steps))
