"""ganlens reads files from strangers: nothing it reads may run code.

Static checks walk the syntax tree of every module in ``ganlens/`` (comments and docstrings cannot fool
them, and ``import x as y`` aliases are followed):

* the one ``torch.load`` is in :func:`ganlens.checkpoints.read` and passes ``weights_only=True``;
* nothing else unpickles: no ``pickle.load(s)``/``Unpickler``, ``marshal``, ``shelve``, ``dill``,
  ``joblib``, ``torch.jit.load``, ``torch.hub.load``, ``yaml.load``;
* no ``eval``/``exec``/``compile``/``__import__`` (``arith --expr`` is parsed, not evaluated), no
  ``shell=True`` or ``os.system``, and ``importlib.import_module`` only on names from a fixed table,
  except in ``cli.user_model``: ``--model FILE.py:FUNC`` runs the user's own code on purpose (its help says
  so), and that is the only function that imports or executes a module named by a user;
* no ``np.load(..., allow_pickle=<anything but False>)`` (numpy's default is False, checked below).

A runtime check confirms every loader the commands use (model checkpoints, the detector, ``--resume``)
goes through ``checkpoints.read``. Code-running pickles are refused by every command in
``tests/test_bad_inputs.py::test_code_running_pickle_is_refused`` (a side-effect file proves the code
did not run) and by the loader in ``tests/test_checkpoints.py::test_code_running_pickle_is_refused``.
The annotator page escapes the label and user text:
``tests/test_annotate.py::test_page_embeds_the_samples_and_escapes_the_label`` and
``::test_preloaded_boxes_and_evil_label_in_the_browser``.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import ganlens
from ganlens.core import checkpoints

PACKAGE = Path(ganlens.__file__).parent
SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """``torch.load`` for ``torch.load`` / ``th.load`` (import torch as th) / ``load`` (from torch import load)."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(aliases.get(node.id, node.id))
    return ".".join(reversed(parts))


def calls(path: Path):
    """[(dotted name, call node, enclosing function name)] for every call in a module."""
    tree = ast.parse(path.read_text(), filename=str(path))
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    out = []

    def visit(node, func):
        for child in ast.iter_child_nodes(node):
            f = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else func
            if isinstance(child, ast.Call):
                out.append((dotted(child.func, aliases), child, f))
            visit(child, f)
    visit(tree, None)
    return out


ALL_CALLS = [(path, name, node, func) for path in SOURCES for name, node, func in calls(path)]


def where(path, node) -> str:
    return f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"


def test_sources_were_found():
    names = {p.name for p in SOURCES}
    assert {"checkpoints.py", "cli.py", "train.py", "detect.py", "arith.py", "annotate.py"} <= names
    assert len(ALL_CALLS) > 500


def test_the_scanner_sees_through_aliases(tmp_path):
    """The checks below would catch a planted unsafe load, however it is imported."""
    planted = tmp_path / "planted.py"
    planted.write_text("import torch as th\nimport numpy\nfrom pickle import loads as l\nfrom torch import load\n"
                       "def f(p, x):\n    th.load(p)\n    load(p, weights_only=False)\n    l(x)\n"
                       "    numpy.load(p, allow_pickle=True)\n    eval(x)\n    x.eval()\n")
    names = [(name, func) for name, _, func in calls(planted)]
    assert ("torch.load", "f") in names and names.count(("torch.load", "f")) == 2
    assert {("pickle.loads", "f"), ("numpy.load", "f"), ("eval", "f")} <= set(names)
    assert ("x.eval", "f") in names  # a method called eval is not the builtin


def test_the_one_torch_load_is_in_checkpoints_read_with_weights_only():
    loads = [(path, node, func) for path, name, node, func in ALL_CALLS if name == "torch.load"]
    assert [(p.name, f) for p, _, f in loads] == [("checkpoints.py", "read")], \
        [where(p, n) for p, n, _ in loads]
    node = loads[0][1]
    kw = {k.arg: k.value for k in node.keywords}
    assert isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True
    assert None not in kw  # no **kwargs that could override weights_only


UNSAFE = {
    "pickle.load", "pickle.loads", "pickle.Unpickler", "_pickle.load", "_pickle.loads", "cPickle.load",
    "marshal.load", "marshal.loads", "shelve.open", "dill.load", "dill.loads", "joblib.load",
    "torch.jit.load", "torch.hub.load", "torch.hub.load_state_dict_from_url", "torch.package.PackageImporter",
    "yaml.load", "yaml.unsafe_load", "yaml.full_load", "numpy.lib.format.read_array",
    "eval", "exec", "compile", "__import__", "os.system", "os.popen",
}


def test_nothing_else_unpickles_or_evaluates():
    bad = [f"{where(p, n)} {name}" for p, name, n, _ in ALL_CALLS if name in UNSAFE]
    assert bad == []


RUNS_MODULES = ("importlib.import_module", "importlib.__import__", "importlib.util.spec_from_file_location",
                "importlib.util.module_from_spec", "runpy.run_path", "runpy.run_module")


def test_modules_are_imported_by_fixed_names_only():
    """``importlib.import_module`` runs a module's code: only names from a fixed table may reach it.
    ``ganlens.paper.load_figures`` imports the paper figures the registry names (its ``paper="module:NAME"``
    fields, fixed strings in registry.py: ``ganlens.analyses.<name>.paper``), and the paper tool's runner
    (``tools/paper/runner.py: run_figure``) the command behind each figure of that table (--only is limited to
    its keys);
    ``ganlens.__getattr__`` imports the analyses of its ANALYSES table and ``_MovedFinder.create_module`` the
    modules of its MOVED table (old names of moved modules); the ``ganlens`` console script (``registry.main``)
    the commands of its COMMANDS table; ``cli._import_user`` is ``--model``."""
    uses = [(p.name, f) for p, name, _, f in ALL_CALLS if name in RUNS_MODULES]
    assert set(uses) <= {("paper.py", "load_figures"), ("runner.py", "run_figure"), ("__init__.py", "__getattr__"),
                         ("cli.py", "_import_user"), ("registry.py", "main"), ("__init__.py", "create_module")}, uses
    import ganlens
    assert all(target.startswith(("ganlens.core.", "ganlens.data.", "ganlens.analyses.")) for target in ganlens.MOVED.values())
    from ganlens import registry
    assert all(n.isidentifier() and c.module == f"ganlens.{n}" for n, c in registry.COMMANDS.items())
    execs = [(p.name, f) for p, name, _, f in ALL_CALLS if name and name.endswith(".exec_module")]
    assert set(execs) <= {("cli.py", "_import_user")}, execs
    from ganlens import paper
    assert all(fig.module.startswith("ganlens.") for fig in paper.FIGURES.values())
    assert all(re.fullmatch(r"ganlens\.analyses\.\w+\.paper:FIGURE", c.paper) for c in registry.ENTRIES if c.paper)
    assert all(name.isidentifier() for name in ganlens.ANALYSES)
    with pytest.raises(AttributeError):
        ganlens.os  # noqa: B018 - only ANALYSES names are imported on attribute access


def test_user_code_runs_only_through_model_flag(tmp_path):
    """--model runs the named file (on purpose) and nothing else: a checkpoint next to it is still read
    with weights_only=True, and a --model file that is not given is never imported."""
    from ganlens import cli
    marker = tmp_path / "ran.txt"
    f = tmp_path / "m.py"
    f.write_text("import pathlib, sys\nsys.path.insert(0, %r)\nfrom archs import mlp_gan\n"
                 "def build():\n    pathlib.Path(%r).write_text('yes')\n    return mlp_gan()\n"
                 % (str(Path(__file__).parent), str(marker)))
    gan = cli.user_model(f"{f}:build")
    assert marker.read_text() == "yes" and gan.source == f"--model {f}:build" and gan.nc == 1


def test_no_shell_true():
    bad = [where(p, n) for p, _, n, _ in ALL_CALLS
           for k in n.keywords
           if k.arg == "shell" and not (isinstance(k.value, ast.Constant) and k.value.value is False)]
    assert bad == []


def test_np_load_never_allows_pickles():
    np_loads = [(p, n) for p, name, n, _ in ALL_CALLS if name in ("numpy.load", "np.load")]
    assert np_loads, "the scan should see the package's np.load calls"
    for p, n in np_loads:
        kw = {k.arg: k.value for k in n.keywords}
        assert None not in kw, f"{where(p, n)}: **kwargs could pass allow_pickle=True"
        if "allow_pickle" in kw:
            assert isinstance(kw["allow_pickle"], ast.Constant) and kw["allow_pickle"].value is False, where(p, n)
    # where a call leaves allow_pickle out, numpy's default refuses pickled object arrays
    assert inspect.signature(np.load).parameters["allow_pickle"].default is False


def test_no_pickle_import_outside_checkpoints():
    """checkpoints.py imports pickle only to catch pickle.UnpicklingError."""
    for path in SOURCES:
        tree = ast.parse(path.read_text())
        names = [a.name for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                 for a in node.names] + [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
        if any(n and n.split(".")[0] in ("pickle", "_pickle", "dill", "marshal", "shelve", "joblib") for n in names):
            assert path.name == "checkpoints.py", path
            uses = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
                    and isinstance(n.value, ast.Name) and n.value.id == "pickle"}
            assert uses == {"UnpicklingError"}, uses


def test_every_loader_goes_through_read_with_weights_only(tmp_path, tiny_checkpoint, monkeypatch):
    """At run time: model checkpoints, the shipped model, the detector and a --resume all reach torch.load
    only through checkpoints.read, with weights_only=True."""
    seen = []
    real = torch.load

    def spy(*args, **kwargs):
        seen.append((inspect.stack()[1].function, kwargs.get("weights_only")))
        return real(*args, **kwargs)
    monkeypatch.setattr(torch, "load", spy)

    checkpoints.load(tiny_checkpoint)
    checkpoints.load("default")
    from ganlens.data import detect
    detect.load_detector()
    from ganlens import train
    run = tmp_path / "run"
    assert train.main(["--data", "rooms:n=8", "--image-size", "32", "--ngf", "8", "--ndf", "8", "--nz", "8",
                       "--batch-size", "8", "--iters", "1", "--device", "cpu", "--out", str(run)]) == 0
    assert train.main(["--resume", "--iters", "2", "--out", str(run), "--device", "cpu"]) == 0
    assert len(seen) >= 4
    assert set(seen) == {("read", True)}, seen


def test_expressions_are_parsed_not_evaluated():
    """``arith --expr`` reads arithmetic with its own parser: a Python expression is an error, not code."""
    from ganlens.arith import parse_expr
    from ganlens.core.errors import GanlensError
    for text in ("__import__('os').system('true')", "A.__class__", "open('x', 'w')", "A if B else C"):
        with pytest.raises(GanlensError, match="--expr"):
            parse_expr(text)


def test_functions_stay_short_and_commands_thin():
    """Library first: no function in ganlens/ over 80 lines, and every ``python -m ganlens.X`` main (parse,
    call, save, one line) at most 60."""
    long = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > 80 or (node.name == "main" and n > 60):
                    long.append(f"{path.name}:{node.name} {n} lines")
    assert long == []
