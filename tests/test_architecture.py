"""The shape of the package, read from its source: layers that import only downwards, no import cycle, no
import hidden inside a function, small files and functions (docs: ganlens/__init__.py's layout)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "ganlens"
MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 60
# Third-party imports that may wait inside a function: optional extras or platform modules (lmdb, fcntl) and
# dependencies whose import costs a second or more of every command's start-up (torchvision, sklearn, PIL).
LAZY_OK = {"lmdb", "fcntl", "torchvision", "sklearn", "PIL", "playwright"}
# Layers, bottom up: a module may import its own layer (without a cycle) and the layers below it.
LAYERS = ("ganlens.core", "ganlens.stats", "ganlens.data", "ganlens.analyses", "ganlens.tools")
TOP = len(LAYERS)  # the package itself, the commands (ganlens/<name>.py), cli and registry


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _target(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(module: str) -> list[tuple[str, bool, int]]:
    """(imported ganlens module, inside a function?, line) for every import statement of ``module``."""
    path = MODULES[module]
    found = []

    def visit(node, inside):
        for child in ast.iter_child_nodes(node):
            nested = inside or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.ImportFrom):
                base = _target(module, path, child)
                for a in child.names:
                    sub = f"{base}.{a.name}"
                    found.append((sub if sub in MODULES else base, inside, child.lineno))
            elif isinstance(child, ast.Import):
                found.extend((a.name, inside, child.lineno) for a in child.names)
            visit(child, nested)

    visit(ast.parse(path.read_text()), False)
    return found


def layer(module: str) -> int:
    for i, prefix in enumerate(LAYERS):
        if module == prefix or module.startswith(prefix + "."):
            return i
    return TOP


def graph() -> dict[str, set[str]]:
    return {m: {t for t, _, _ in imports(m) if t in MODULES and t != m} for m in MODULES}


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    for root in g:
        if root in index:
            continue
        work = [(root, iter(sorted(g[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(g[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle():
    assert cycles(graph()) == []


@pytest.mark.parametrize("module", list(MODULES))
def test_imports_only_its_own_layer_and_below(module):
    upward = [f"line {line}: {t}" for t, _, line in imports(module) if t in MODULES and layer(t) > layer(module)]
    assert upward == [], f"{module} ({(LAYERS + ('top',))[layer(module)]}) imports upward"


@pytest.mark.parametrize("module", list(MODULES))
def test_no_import_inside_a_function(module):
    inner = [f"line {line}: {t}" for t, inside, line in imports(module)
             if inside and t.split(".")[0] not in LAZY_OK]
    assert inner == []


@pytest.mark.parametrize("module", list(MODULES))
def test_files_and_functions_are_small(module):
    path = MODULES[module]
    text = path.read_text()
    assert len(text.splitlines()) <= MAX_FILE_LINES, f"{path.name}: {len(text.splitlines())} lines"
    long = [f"{n.name} ({n.end_lineno - n.lineno + 1} lines)" for n in ast.walk(ast.parse(text))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1
            > MAX_FUNCTION_LINES]
    assert long == []


def test_the_layout_is_what_the_package_docstring_says():
    """Every module lives in a layer folder, or is a top-level command / cli / registry / the package."""
    import ganlens
    from ganlens import registry
    top = {m.rpartition(".")[2] for m in MODULES if layer(m) == TOP and m != "ganlens"}
    assert top <= set(registry.COMMANDS) | {"cli", "registry", "__main__", "paper"}, sorted(top)
    for name in ganlens.ANALYSES.values():
        assert name in MODULES
